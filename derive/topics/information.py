"""Information theory for losses (LECTURE.md section 4): self-information, entropy, KL."""

from __future__ import annotations

import sympy as sp

from ..atoms import vector
from ..concrete import on_simplex, softmax, total
from ..indexcalc import index_diff
from ..notation import Partial, index, indexed, size
from ..spec import Claim, IndexForm, Topic, grad, grid
from ..types import Sizes, SymbolSpec


def _entropy(p: sp.Matrix) -> sp.Expr:
    return -sp.Add(*[pi * sp.log(pi) for pi in p])


def _cross_entropy(p: sp.Matrix, q: sp.Matrix) -> sp.Expr:
    return -sp.Add(*[pi * sp.log(qi) for pi, qi in zip(p, q)])


def _kl(p: sp.Matrix, q: sp.Matrix) -> sp.Expr:
    return sp.Add(*[pi * sp.log(pi / qi) for pi, qi in zip(p, q)])


def build(sizes: Sizes) -> dict:
    n = sizes["n"]
    p, q, z = vector("p", n, positive=True), vector("q", n, positive=True), vector("z", n)
    q_z = softmax(z)
    p1 = on_simplex(p)
    return {
        "p": p, "q": q, "z": z, "q_z": q_z, "p1": p1,
        "self_information": p.applyfunc(lambda pi: -sp.log(pi)),
        "H": _entropy(p), "H_pq": _cross_entropy(p, q), "KL": _kl(p, q),
        "KL_z": _kl(p, q_z), "KL1_z": _kl(p1, q_z),
        "forward": _kl(p, q),
    }


_n = size("n")
_i, _j, _k = index("i"), index("j"), index("k")
_p, _q, _z = indexed("p", positive=True), indexed("q", positive=True), indexed("z")


def _sum(term: sp.Expr) -> sp.Expr:
    return sp.Sum(term, (_i, 1, _n))


def _softmax_q(a: sp.Symbol) -> sp.Expr:
    return sp.exp(_z[a]) / sp.Sum(sp.exp(_z[_k]), (_k, 1, _n))


def _sum_p_is_one(residual: sp.Expr) -> sp.Expr:
    from ..indexcalc import canonical_sums

    return residual.xreplace({canonical_sums(_sum(_p[_i])): sp.S.One})


_KL = _sum(_p[_i] * sp.log(_p[_i] / _q[_i]))
_H = -_sum(_p[_i] * sp.log(_p[_i]))
_H_pq = -_sum(_p[_i] * sp.log(_q[_i]))
_KL_z = _sum(_p[_i] * sp.log(_p[_i] / _softmax_q(_i)))


def _one(value: sp.Expr) -> sp.Matrix:
    return sp.Matrix([value])


TOPIC = Topic(
    name="information",
    title="Entropy, cross-entropy and KL divergence",
    section="4. Information theory for losses",
    symbols=(
        SymbolSpec("p", ("n",), "positive; simplex where stated", "the data distribution P(x_i)"),
        SymbolSpec("q", ("n",), "positive", "the model distribution"),
        SymbolSpec("z", ("n",), "real", "logits with q = softmax(z)"),
        SymbolSpec("I", ("n",), "real", "self-information I(x_i) = -log p_i"),
        SymbolSpec("H", (), "real", "entropy H(p) = -sum_i p_i log p_i"),
        SymbolSpec("H(p,q)", (), "real", "cross-entropy -sum_i p_i log q_i"),
        SymbolSpec("KL", (), "real", "D_KL(p||q) = sum_i p_i log(p_i / q_i)"),
    ),
    assumptions=(
        "p_i > 0 and q_i > 0 (logs are defined; 0 log 0 = 0 is a limit, not covered here)",
        "sum_i p_i = 1 where stated, substituted as p_n = 1 - (p_1 + ... + p_{n-1})",
    ),
    default_sizes={"n": 3},
    grid=grid(n=range(1, 6)),
    build=build,
    claims=(
        Claim(
            key="entropy_is_expected_information",
            statement="H(p) = sum_i p_i I(x_i): entropy is the expected self-information",
            reason="substitute I(x_i) = -log p_i",
            display=lambda: sp.Eq(sp.Symbol("H(p)"), _sum(_p[_i] * -sp.log(_p[_i])), evaluate=False),
            derived=lambda e: _one(e["H"]),
            claimed=lambda e: _one(sp.Add(*[pi * ii for pi, ii in zip(e["p"], e["self_information"])])),
            index=IndexForm(derived=lambda: _H, claimed=lambda: _sum(_p[_i] * -sp.log(_p[_i]))),
        ),
        Claim(
            key="kl_identity",
            statement="KL(p||q) = H(p,q) - H(p)",
            reason="log(p_i / q_i) = log p_i - log q_i (p, q > 0), then split the sum",
            display=lambda: sp.Eq(sp.Symbol("D_KL(p||q)"), sp.Symbol("H(p,q)") - sp.Symbol("H(p)"), evaluate=False),
            derived=lambda e: _one(e["KL"]),
            claimed=lambda e: _one(e["H_pq"] - e["H"]),
            index=IndexForm(derived=lambda: _KL, claimed=lambda: _H_pq - _H),
        ),
        Claim(
            key="grad_entropy",
            target="dH/dp",
            wrt="p",
            statement="dH/dp_i = -(log p_i + 1)",
            reason="product rule on -p_i log p_i; the other terms do not depend on p_i",
            display=lambda: sp.Eq(Partial("H", "p_i"), -(sp.log(_p[_i]) + 1), evaluate=False),
            derived=lambda e: grad(e["H"], e["p"]),
            claimed=lambda e: e["p"].applyfunc(lambda pi: -(sp.log(pi) + 1)),
            index=IndexForm(derived=lambda: index_diff(_H, _p[_j]), claimed=lambda: -(sp.log(_p[_j]) + 1)),
        ),
        Claim(
            key="grad_ce_q",
            statement="dH(p,q)/dq_i = -p_i / q_i",
            reason="d log q_i / dq_i = 1 / q_i",
            display=lambda: sp.Eq(Partial("H(p,q)", "q_i"), -_p[_i] / _q[_i], evaluate=False),
            derived=lambda e: grad(e["H_pq"], e["q"]),
            claimed=lambda e: -e["p"].multiply_elementwise(e["q"].applyfunc(lambda qi: 1 / qi)),
            index=IndexForm(derived=lambda: index_diff(_H_pq, _q[_j]), claimed=lambda: -_p[_j] / _q[_j]),
        ),
        Claim(
            key="grad_q",
            target="dKL/dq",
            wrt="q",
            statement="dKL/dq_i = -p_i / q_i (the same as the cross-entropy's: H(p) does not depend on q)",
            reason="KL = H(p,q) - H(p) and H(p) is constant in q; so minimising KL over q is "
            "minimising cross-entropy",
            display=lambda: sp.Eq(Partial("D_{KL}", "q_i"), -_p[_i] / _q[_i], evaluate=False),
            derived=lambda e: grad(e["KL"], e["q"]),
            claimed=lambda e: -e["p"].multiply_elementwise(e["q"].applyfunc(lambda qi: 1 / qi)),
            index=IndexForm(derived=lambda: index_diff(_KL, _q[_j]), claimed=lambda: -_p[_j] / _q[_j]),
        ),
        Claim(
            key="grad_p",
            target="dKL/dp",
            wrt="p",
            statement="dKL/dp_i = log(p_i / q_i) + 1",
            reason="product rule on p_i log(p_i / q_i)",
            display=lambda: sp.Eq(Partial("D_{KL}", "p_i"), sp.log(_p[_i] / _q[_i]) + 1, evaluate=False),
            derived=lambda e: grad(e["KL"], e["p"]),
            claimed=lambda e: sp.Matrix([sp.log(pi / qi) + 1 for pi, qi in zip(e["p"], e["q"])]),
            index=IndexForm(derived=lambda: index_diff(_KL, _p[_j]), claimed=lambda: sp.log(_p[_j] / _q[_j]) + 1),
        ),
        Claim(
            key="grad_z_general",
            statement="with q = softmax(z): dKL/dz_j = q_j sum_i p_i - p_j",
            reason="chain rule through the softmax Jacobian; without sum(p) = 1",
            display=lambda: sp.Eq(Partial("D_{KL}", "z_j"), indexed("q")[_j] * _sum(_p[_i]) - _p[_j], evaluate=False),
            derived=lambda e: grad(e["KL_z"], e["z"]),
            claimed=lambda e: e["q_z"] * total(e["p"]) - e["p"],
            index=IndexForm(
                derived=lambda: index_diff(_KL_z, _z[_j]),
                claimed=lambda: _softmax_q(_j) * _sum(_p[_i]) - _p[_j],
            ),
        ),
        Claim(
            key="grad_z",
            target="dKL/dz",
            wrt="z",
            statement="with q = softmax(z) and sum_i p_i = 1: dKL/dz = q - p",
            reason="the general form with sum_i p_i = 1 substituted (p_n = 1 - the other entries)",
            display=lambda: sp.Eq(
                Partial("D_{KL}", "z"), sp.MatrixSymbol("q", _n, 1) - sp.MatrixSymbol("p", _n, 1), evaluate=False
            ),
            derived=lambda e: grad(e["KL1_z"], e["z"]),
            claimed=lambda e: e["q_z"] - e["p1"],
            index=IndexForm(
                derived=lambda: index_diff(_KL_z, _z[_j]),
                claimed=lambda: _softmax_q(_j) - _p[_j],
                assume=_sum_p_is_one,
            ),
        ),
    ),
)
