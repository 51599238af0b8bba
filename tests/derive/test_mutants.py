"""A checker that cannot fail is worthless: wrong closed forms must be reported ``failed``.

Generic mutants (sign flipped, a factor dropped, a term dropped, entries swapped, an offset)
run against every claim of every catalog entry; a table of lecture-style mistakes follows.
"""

import dataclasses
from functools import cache

import pytest
import sympy as sp

from derive import NAMES, topic
from derive.proof import index_status
from derive.spec import Claim, EnvCache, prove_claim


def _drop_factor(entry: sp.Expr) -> sp.Expr:
    factors = [f for f in sp.Mul.make_args(entry) if not f.is_number]
    return entry / factors[-1] if len(factors) >= 2 else entry


def _drop_term(entry: sp.Expr) -> sp.Expr:
    terms = sp.Add.make_args(entry)
    return entry - terms[-1] if len(terms) >= 2 else entry


def _swap(m: sp.Matrix) -> sp.Matrix:
    if m.rows == m.cols and m.rows > 1 and m != m.T:
        return m.T
    flat = list(m)
    return sp.Matrix(m.rows, m.cols, flat[1:] + flat[:1])


GENERIC = {
    "sign flipped": lambda m: -m,
    "factor dropped": lambda m: m.applyfunc(_drop_factor),
    "term dropped": lambda m: m.applyfunc(_drop_term),
    "entries swapped": _swap,
    "off by one": lambda m: m + sp.ones(*m.shape),
}

CLAIMS = [(name, claim) for name in NAMES for claim in topic(name).claims]


@cache
def _envs(name: str) -> EnvCache:
    """One environment cache per entry for the whole module: building entries is the slow part."""
    return EnvCache(topic(name).build)


def _mutant(claim: Claim, mutate) -> Claim:
    return dataclasses.replace(claim, claimed=lambda e: mutate(claim.claimed(e)), index=None)


@pytest.mark.parametrize("mutation", list(GENERIC))
@pytest.mark.parametrize("name, claim", CLAIMS, ids=[f"{n}:{c.key}" for n, c in CLAIMS])
def test_generic_mutants_fail(name: str, claim: Claim, mutation: str) -> None:
    t = topic(name)
    mutate = GENERIC[mutation]
    envs = _envs(name)
    # The first size at which the mutant differs from the claim (a sign flip of 0 is no mutant).
    differing = [s for s in (claim.sizes or t.grid) if mutate(claim.claimed(envs(s))) != claim.claimed(envs(s))]
    if not differing:
        pytest.skip(f"{mutation} leaves {claim.key} unchanged at every size")
    mutant = dataclasses.replace(_mutant(claim, mutate), sizes=(differing[0],))
    status = prove_claim(t, mutant, envs)
    assert status.kind == "failed", (name, claim.key, mutation, status.label)
    assert "entry" in status.detail and "claimed" in status.detail


INDEX_CLAIMS = [(n, c) for n, c in CLAIMS if c.index is not None]


@pytest.mark.parametrize("name, claim", INDEX_CLAIMS, ids=[f"{n}:{c.key}" for n, c in INDEX_CLAIMS])
def test_index_form_mutants_are_not_proved(name: str, claim: Claim) -> None:
    index = claim.index
    assert index_status(index.derived(), index.claimed(), index.assume)
    for wrong in (-index.claimed(), 2 * index.claimed()):
        if wrong == index.claimed():
            continue
        assert not index_status(index.derived(), wrong, index.assume), (name, claim.key)


ASSUMING = [(n, c) for n, c in INDEX_CLAIMS if c.index.assume is not None]


@pytest.mark.parametrize("name, claim", ASSUMING, ids=[f"{n}:{c.key}" for n, c in ASSUMING])
def test_a_stated_assumption_is_needed_where_it_is_used(name: str, claim: Claim) -> None:
    """An index form that substitutes an assumption (sum y = 1, sin^2 + cos^2 = 1) is not proved without
    it: the assumption its reason states is one the proof rests on, not decoration."""
    index = claim.index
    assert not index_status(index.derived(), index.claimed(), None), (name, claim.key)


# Lecture-style mistakes: (entry, claim key, what is wrong, the wrong closed form from the env).
LECTURE_MISTAKES = [
    ("softmax_ce", "grad_z", "y - p instead of p - y", lambda e: e["y1"] - e["p"]),
    ("softmax_ce", "grad_z_general", "p - y without the assumption sum(y) = 1", lambda e: e["p"] - e["y"]),
    ("softmax_ce", "hessian", "diag(p) + p p^T", lambda e: sp.diag(*e["p"]) + e["p"] * e["p"].T),
    ("attention", "grad_Q", "1/sqrt(d_k) dropped", lambda e: e["dS_closed"] * e["K"]),
    ("attention", "grad_K", "dS Q instead of dS^T Q", lambda e: e["dS_closed"] * e["Q"] / sp.sqrt(e["Q"].cols)),
    ("attention", "grad_V", "A G instead of A^T G", lambda e: e["A"] * e["G"]),
    ("attention", "grad_S", "softmax backward without the row sum",
     lambda e: e["A_of_S"].multiply_elementwise(e["G"] * e["V"].T)),
    ("attention", "causal_grad_Q", "the unmasked attention used under a causal mask",
     lambda e: e["dS_closed"] * e["K"] / sp.sqrt(e["Q"].cols)),
    ("bp", "delta_output_sigmoid", "O (1 - O) dropped", lambda e: e["T"] - e["O_sigmoid_of_net_k"]),
    ("bp", "update_w_output", "the sign of delta confused: w_kj - alpha delta_k H_j",
     lambda e: e["Wo"] - e["alpha"] * e["delta_k"] * e["H"].T),
    ("bp", "update_w_hidden", "H_j (1 - H_j) dropped from delta_j",
     lambda e: e["Wh"] + e["alpha"] * (e["Wo"].T * e["delta_k"]) * e["I"].T),
    ("information", "grad_p", "log(p/q) without the + 1",
     lambda e: sp.Matrix([sp.log(p / q) for p, q in zip(e["p"], e["q"])])),
    ("information", "grad_q", "+p/q instead of -p/q", lambda e: sp.Matrix([p / q for p, q in zip(e["p"], e["q"])])),
]


@pytest.mark.parametrize(
    "name, key, mistake, wrong", LECTURE_MISTAKES, ids=[f"{n}.{k}: {m}" for n, k, m, _ in LECTURE_MISTAKES]
)
def test_lecture_mistakes_fail(name: str, key: str, mistake: str, wrong) -> None:
    t = topic(name)
    claim = next(c for c in t.claims if c.key == key)
    status = prove_claim(t, dataclasses.replace(claim, claimed=wrong, index=None), _envs(name))
    assert status.kind == "failed", (name, key, mistake, status.label)


def test_a_wrong_index_form_is_neither_proved_nor_shown() -> None:
    from derive.spec import IndexForm, derive_topic

    t = topic("information")
    claim = next(c for c in t.claims if c.key == "grad_q")
    wrong = dataclasses.replace(claim, index=IndexForm(claim.index.derived, lambda: -claim.index.claimed()))
    result = derive_topic(dataclasses.replace(t, claims=(wrong,))).results[0]
    assert result.status.kind == "proved_sizes"  # the entrywise proofs still hold
    assert "did not reduce" in result.status.detail
    assert result.index is None
