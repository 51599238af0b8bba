"""Catalog claims lifted to every size through the graph route, and only where the formulas are proved equal."""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from derive.catalog import derive
from derive.notation import RowSum, size
from derive.types import Derivation
from graphs.lift import every_size_step_counts, lift, lift_claims
from graphs.prove_index import IndexProof, index_proof

ATTENTION = ("grad_V", "grad_A", "grad_S", "grad_Q", "grad_K")
CAUSAL = tuple(f"causal_{key}" for key in ATTENTION)

_n, _d = size("n"), size("d_k")
Q, K, V, G = (sp.MatrixSymbol(name, _n, _d) for name in ("Q", "K", "V", "G"))
A, dA, dS = (sp.MatrixSymbol(name, _n, _n) for name in ("A", "dA", "dS"))


@pytest.fixture(scope="module")
def attention() -> Derivation:
    return derive("attention")


def _with_closed(d: Derivation, key: str, closed: sp.Basic) -> Derivation:
    """``d`` with claim ``key``'s closed form replaced (its entrywise proof left as it was)."""
    results = tuple(dataclasses.replace(r, closed=closed) if r.key == key else r for r in d.results)
    return dataclasses.replace(d, results=results)


def _status(d: Derivation, key: str):
    return next(s for s in d.steps if s.key == key).status


def test_attention_and_causal_claims_are_proved_at_every_size(attention: Derivation) -> None:
    assert {_status(attention, key).label for key in ATTENTION + CAUSAL} == {"proved n<=3, d_k<=3"}
    lifted = lift(attention)
    for key in ATTENTION + CAUSAL:
        status = _status(lifted, key)
        assert (status.kind, status.label) == ("proved", "proved"), key
        model = "causal_attention" if key.startswith("causal_") else "attention"
        assert f"of model {model} is reverse mode" in status.detail
        assert "each proved at every size in index form (" in status.detail
        assert "entry by entry in index form at symbolic sizes" in status.detail
        # the entrywise proof stays, as corroboration, with its sizes
        assert status.detail.endswith("corroborated entrywise: proved n<=3, d_k<=3") or \
            "corroborated entrywise: proved n<=3, d_k<=3 (" in status.detail
        assert next(r for r in lifted.results if r.key == key).status == status
    # the causal claims are matched with the causal model only, under the mask's stated facts
    assert "assuming M is a 0/1 mask" in _status(lifted, "causal_grad_Q").detail
    assert "assuming" not in _status(lifted, "grad_Q").detail
    # the original is untouched, and steps that were not lifted (proved by their own index form) are the same objects
    assert _status(attention, "grad_Q").kind == "proved_sizes"
    unlifted = next(s for s in lifted.steps if s.key == "permutation_equivariance")
    assert unlifted is next(s for s in attention.steps if s.key == "permutation_equivariance")
    assert unlifted.status.label == "proved" and "lifted" not in unlifted.status.detail


WRONG = {
    "grad_Q without 1/sqrt(d_k)": ("grad_Q", dS * K),
    "grad_Q with dS transposed": ("grad_Q", dS.T * K / sp.sqrt(_d)),
    "grad_K without its transpose": ("grad_K", dS * Q / sp.sqrt(_d)),
    "grad_V with A not transposed": ("grad_V", A * G),
    "grad_A with a sign flipped": ("grad_A", -G * V.T),
    "grad_S without the row sum": ("grad_S", sp.HadamardProduct(A, dA)),
    "causal_grad_Q with sqrt(d_k) multiplied": ("causal_grad_Q", dS * K * sp.sqrt(_d)),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_a_wrong_closed_form_is_not_lifted(attention: Derivation, case: str) -> None:
    key, closed = WRONG[case]
    wrong = _with_closed(attention, key, closed)
    how = lift_claims(wrong)[key]
    assert not how.proved and "the index forms differ by" in how.detail
    assert _status(lift(wrong), key).label == "proved n<=3, d_k<=3"


def test_a_wrong_intermediate_stops_the_claims_that_name_it(attention: Derivation) -> None:
    # dQ = dS K / sqrt(d_k) is right as written, but the dS it names is wrong: dQ and dK are not lifted.
    wrong = _with_closed(attention, "grad_S", sp.HadamardProduct(A, dA + RowSum(sp.HadamardProduct(A, dA))))
    lifts = lift_claims(wrong)
    assert [key for key in ("grad_S", "grad_Q", "grad_K", "grad_V") if lifts[key].proved] == ["grad_V"]


@given(key=st.sampled_from(ATTENTION), factor=st.sampled_from([2, -1, sp.Rational(1, 2), sp.sqrt(_d), _n]))
def test_a_scaled_closed_form_is_never_lifted(attention: Derivation, key: str, factor: sp.Expr) -> None:
    closed = next(r.closed for r in attention.results if r.key == key)
    assert not lift_claims(_with_closed(attention, key, factor * closed))[key].proved


def test_claims_without_a_graph_counterpart_keep_their_labels() -> None:
    d = derive("multihead_attention")
    lifts = lift_claims(d)
    assert lifts["grad_WV"].detail == "no graph-route gradient of the same input"
    # the model has 2 heads, the claim any number: the shapes do not match, so no proof at every size
    assert "not all in model multihead_attention with matching shapes" in lifts["grad_WO"].detail
    assert not any(how.proved for how in lifts.values())
    assert lift(d) is d


def test_a_size_the_model_fixes_is_not_every_size() -> None:
    # The model has 2 heads: C is n x 2 d_k there. A claim with C: n x h matches it only at h = 2 d_k.
    d = derive("multihead_attention")
    n, h = size("n"), size("h")
    C, G_ = sp.MatrixSymbol("C", n, h), sp.MatrixSymbol("G", n, size("d_model"))
    how = lift_claims(_with_closed(d, "grad_WO", C.T * G_))["grad_WO"]
    assert not how.proved and "not all in model multihead_attention with matching shapes" in how.detail
    # two sizes of the claim onto one of the model (A: n x m onto the model's n x n) are refused too
    a = derive("attention")
    wide = sp.MatrixSymbol("A", n, size("m")).T * G
    assert "matching shapes" in lift_claims(_with_closed(a, "grad_V", wide))["grad_V"].detail


def test_a_model_on_a_rule_not_proved_at_every_size_lifts_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                  attention: Derivation) -> None:
    import graphs.route as route

    monkeypatch.setattr(route, "index_proof", lambda op: IndexProof(op, "unavailable", "", "a test") if op == "softmax"
                        else index_proof(op))
    lifts = lift_claims(attention)
    assert not any(lifts[key].proved for key in ATTENTION + CAUSAL)
    assert "rests on rules not proved at every size: softmax (shapes" in lifts["grad_Q"].detail


def test_vectors_are_matched_with_the_graphs_rows() -> None:
    # derive writes db_2 = G^T 1 (a column), the graph route 1^T G (a row): proved entry by entry
    lifted = lift(derive("ffn"))
    status = _status(lifted, "grad_b2")
    assert status.label == "proved" and "equals its transpose (a column where the graph has a row)" in status.detail
    assert "corroborated entrywise: proved n<=3, d<=3, h<=3" in status.detail


def test_counts_rise() -> None:
    counts = every_size_step_counts(("attention", "ffn", "information"))
    entries = counts["entries"]
    assert entries["attention"]["after"] - entries["attention"]["before"] == 10
    assert entries["ffn"] == {"steps": 5, "before": 0, "after": 5}
    assert entries["information"]["after"] == entries["information"]["before"]
    assert counts["after"] == sum(e["after"] for e in entries.values()) > counts["before"]
    assert counts["steps"] == sum(e["steps"] for e in entries.values())


def test_derive_json_marks_lifted_steps() -> None:
    """A script tells a claim proved at every size by the graph route from one proved by its own derivation."""
    from derive.catalog import derive
    from gradproof.render import derivation_json
    from graphs.lift import lift

    steps = {s["key"]: s for s in derivation_json(lift(derive("attention")))["steps"]}
    assert steps["grad_Q"]["lifted"] is True and steps["grad_Q"]["status"] == "proved"
    assert steps["permutation_equivariance"]["lifted"] is False
