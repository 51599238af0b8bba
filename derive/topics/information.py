"""Information theory for losses (LECTURE.md section 4): self-information, entropy, KL."""

from __future__ import annotations

import sympy as sp

from ..atoms import vector
from ..concrete import on_simplex, softmax, total
from ..indexcalc import index_diff
from ..notation import Partial, index, indexed, size
from ..spec import Claim, IndexForm, Topic, grad, grid
from ..theorems import ONE_MINUS_EXP, PHI, Certificate, Inequality, Term, inequality_step
from ..types import Sizes, Step, SymbolSpec


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
    facts=lambda: _facts(),
)


# The lecture's inequalities (issue 19), each proved by a certificate (derive/theorems.py): the gap
# is rewritten as weights >= 0 times lemmas >= 0, plus multiples of stated assumptions.
_THEOREM_SIZES = tuple({"n": n} for n in range(1, 6))


def _simplex_point(symbols: list[sp.Symbol], rng) -> list[sp.Rational]:
    weights = [rng.randint(1, 20) for _ in symbols]
    return [sp.Rational(w, sum(weights)) for w in weights]


def _pq(sizes: Sizes) -> tuple[list[sp.Symbol], list[sp.Symbol]]:
    n = sizes["n"]
    return list(vector("p", n, positive=True)), list(vector("q", n, positive=True))


def _pq_points(sizes: Sizes, rng) -> list[dict]:
    p, q = _pq(sizes)
    n = len(p)
    uniform = [sp.Rational(1, n)] * n
    points = [dict(zip(p + q, uniform + uniform))]  # the equality cases: p = q, and p uniform
    for _ in range(8):
        a = _simplex_point(p, rng)
        points.append(dict(zip(p + q, a + _simplex_point(q, rng))))
        points.append(dict(zip(p + q, a + a)))
        points.append(dict(zip(p + q, uniform + a)))
    return points


def _sums_are_one(sizes: Sizes | None) -> dict[str, sp.Expr]:
    if sizes is None:
        return {"sum p = 1": _sum(_p[_i]) - 1, "sum q = 1": _sum(_q[_i]) - 1}
    p, q = _pq(sizes)
    return {"sum p = 1": sp.Add(*p) - 1, "sum q = 1": sp.Add(*q) - 1}


def _gibbs(sizes: Sizes) -> Certificate:
    p, q = _pq(sizes)
    return Certificate(
        gap=sp.Add(*[pi * sp.log(pi / qi) for pi, qi in zip(p, q)]),
        terms=tuple(Term(pi, PHI, qi / pi) for pi, qi in zip(p, q)),
        multipliers={"sum p = 1": sp.S.One, "sum q = 1": -sp.S.One},
    )


GIBBS = Inequality(
    key="gibbs",
    statement="Gibbs' inequality: D_KL(p||q) >= 0 for distributions p, q",
    reason="with t_i = q_i / p_i and sum_i p_i = sum_i q_i = 1, D_KL(p||q) = sum_i p_i (t_i - 1 - log t_i), "
    "a sum of p_i > 0 times t - 1 - log t >= 0 (the lemma, proved by the sign of its derivative)",
    sides=lambda sizes: (_KL, sp.S.Zero) if sizes is None else (_kl(*map(sp.Matrix, _pq(sizes))), sp.S.Zero),
    names={"D_KL(p||q)": _KL},
    assumptions=_sums_are_one,
    certificate=_gibbs,
    points=_pq_points,
    sizes=_THEOREM_SIZES,
    symbolic=lambda: Certificate(
        gap=_KL, terms=(Term(_p[_i], PHI, _q[_i] / _p[_i], (_i, 1, _n)),),
        multipliers={"sum p = 1": sp.S.One, "sum q = 1": -sp.S.One},
    ),
    rests_on=("p_i > 0, q_i > 0 and sum_i p_i = sum_i q_i = 1 (stated)",),
    equality="D_KL(p||q) = 0 if and only if p = q: every weight p_i is > 0 and t - 1 - log t = 0 only at t = 1, "
    "so every q_i / p_i = 1",
    equality_case=lambda sizes: dict(zip(*reversed(_pq(sizes)))),  # q_i = p_i
)


def _entropy_bound(sizes: Sizes) -> Certificate:
    p, _ = _pq(sizes)
    n = len(p)
    return Certificate(
        gap=sp.log(n) + sp.Add(*[pi * sp.log(pi) for pi in p]),
        terms=tuple(Term(pi, PHI, 1 / (n * pi)) for pi in p),
        multipliers={"sum p = 1": 1 - sp.log(n)},
    )


ENTROPY_BOUND = Inequality(
    key="entropy_bound",
    statement="H(p) <= log n for a distribution p on n outcomes",
    reason="log n - H(p) = D_KL(p||u) with u_i = 1/n: sum_i p_i (t_i - 1 - log t_i) with t_i = 1 / (n p_i), "
    "after sum_i p_i = 1; each term is p_i > 0 times t - 1 - log t >= 0",
    sides=lambda sizes: (sp.log(_n), _H) if sizes is None else (
        sp.log(sizes["n"]), _entropy(sp.Matrix(_pq(sizes)[0]))),
    names={"H(p)": _H},
    relation="<=",
    assumptions=_sums_are_one,
    certificate=_entropy_bound,
    points=_pq_points,
    sizes=_THEOREM_SIZES,
    symbolic=lambda: Certificate(
        gap=sp.log(_n) - _H, terms=(Term(_p[_i], PHI, 1 / (_n * _p[_i]), (_i, 1, _n)),),
        multipliers={"sum p = 1": 1 - sp.log(_n)},
    ),
    rests_on=("p_i > 0 and sum_i p_i = 1 (stated)",),
    equality="H(p) = log n if and only if p is uniform (every 1 / (n p_i) = 1)",
    equality_case=lambda sizes: dict.fromkeys(_pq(sizes)[0], sp.Rational(1, sizes["n"])),
)


# log-sum-exp: LSE(z) = log sum_i e^{z_i}. LSE is symmetric in the z_i, so say z_1 = m is the largest
# and write z_i = m - u_i with u_i >= 0; e^{z_i} = e^m e^{-u_i}, so LSE(z) = log(e^m s) with s = 1 + sum_{i>1} e^{-u_i}.
_m = sp.Symbol("m", real=True)
_n_value = sp.Symbol("N", positive=True)  # n as a positive number; the assumption N = n ties it to the size
_u = sp.IndexedBase("u", nonnegative=True)
_sigma = sp.Symbol("sigma", nonnegative=True)  # sum_{i>1} e^{-u_i}, a sum of positive terms
_sum_e = sp.Sum(sp.exp(-_u[_i]), (_i, 2, _n))


def _lse_parts(sizes: Sizes) -> tuple[list[sp.Symbol], sp.Expr, sp.Expr]:
    u = [sp.Symbol(f"u_{i}", nonnegative=True) for i in range(2, sizes["n"] + 1)]
    s = 1 + sp.Add(*[sp.exp(-ui) for ui in u])
    return u, s, sp.log(sp.exp(_m) * s)


def _lse_assumptions(sizes: Sizes | None) -> dict[str, sp.Expr]:
    if sizes is None:
        return {"n = size": _n_value - _n, "sigma = sum": _sigma - _sum_e}
    return {"n = size": _n_value - sizes["n"]}


def _lse_lower_symbolic() -> Certificate:
    s = 1 + _sigma
    return Certificate(
        gap=sp.log(sp.exp(_m) * s) - _m,
        terms=(Term(sp.S.One, PHI, 1 / s), Term(sp.exp(-_u[_i]) / s, limits=(_i, 2, _n))),
        multipliers={"sigma = sum": 1 / s},
    )


def _lse_upper_symbolic() -> Certificate:
    s = 1 + _sigma
    return Certificate(
        gap=_m + sp.log(_n_value) - sp.log(sp.exp(_m) * s),
        terms=(Term(sp.S.One, PHI, s / _n_value), Term(1 / _n_value, ONE_MINUS_EXP, -_u[_i], (_i, 2, _n))),
        multipliers={"n = size": 1 / _n_value, "sigma = sum": -1 / _n_value},
    )


def _lse_points(sizes: Sizes, rng) -> list[dict]:
    u, _, _ = _lse_parts(sizes)
    points = [{_m: sp.Rational(rng.randint(-30, 30), 10), _n_value: sizes["n"], **dict.fromkeys(u, sp.S.Zero)}]
    for _ in range(12):
        points.append({_m: sp.Rational(rng.randint(-30, 30), 10), _n_value: sizes["n"],
                       **{ui: sp.Rational(rng.randint(0, 40), 10) for ui in u}})
    return points


def _lse_lower(sizes: Sizes) -> Certificate:
    u, s, lse = _lse_parts(sizes)
    return Certificate(gap=lse - _m, terms=(Term(sp.S.One, PHI, 1 / s), *(Term(sp.exp(-ui) / s) for ui in u)))


def _lse_upper(sizes: Sizes) -> Certificate:
    u, s, lse = _lse_parts(sizes)
    return Certificate(
        gap=_m + sp.log(_n_value) - lse,
        terms=(Term(sp.S.One, PHI, s / _n_value), *(Term(1 / _n_value, ONE_MINUS_EXP, -ui) for ui in u)),
        multipliers={"n = size": 1 / _n_value},
    )


def _lse_sides(sizes: Sizes | None) -> tuple[sp.Expr, sp.Expr]:
    """(LSE(z), max_i z_i) from their definitions, at z_1 = m and z_i = m - u_i (u_i >= 0)."""
    if sizes is None:
        return sp.log(sp.exp(_m) + sp.Sum(sp.exp(_m - _u[_i]), (_i, 2, _n))), _m
    u, _, _ = _lse_parts(sizes)
    z = [_m, *(_m - ui for ui in u)]
    return sp.log(sp.Add(*[sp.exp(zi) for zi in z])), sp.Max(*z)


def _lse_abbreviations(sizes: Sizes | None) -> dict[sp.Symbol, sp.Expr]:
    if sizes is None:
        return {_n_value: _n, _sigma: _sum_e}
    return {_n_value: sp.Integer(sizes["n"])}


_LSE_NAMES = {"LSE(z)": _lse_sides(None)[0], "max_i z_i": _m}
_LSE_SIZES = tuple({"n": n} for n in range(1, 7))
_LSE_SETUP = ("LSE is symmetric in its entries, so z_1 = m = max_i z_i without loss of generality; "
              "z_i = m - u_i with u_i >= 0, and e^{z_i} = e^m e^{-u_i} takes e^m out of the sum")
_LSE_SYMBOLIC = ("at symbolic n, sigma = sum_{i=2}^{n} e^{-u_i} is >= 0 as a sum of positive terms (0 when n = 1), "
                 "and s = 1 + sigma")

LSE_LOWER = Inequality(
    key="lse_lower",
    statement="max_i z_i <= LSE(z) = log sum_i e^{z_i}",
    reason="LSE(z) - m = log s with s = 1 + sum_{i>1} e^{-u_i} >= 1: log s = (1/s - 1 - log(1/s)) + "
    "sum_{i>1} e^{-u_i} / s, a lemma term and positive terms",
    sides=_lse_sides,
    names=_LSE_NAMES,
    relation="<=",
    abbreviations=_lse_abbreviations,
    assumptions=_lse_assumptions,
    certificate=_lse_lower,
    points=_lse_points,
    sizes=_LSE_SIZES,
    symbolic=_lse_lower_symbolic,
    rests_on=(_LSE_SETUP, _LSE_SYMBOLIC),
    equality="equality only for n = 1 (for n >= 2, s > 1)",
    equality_case=lambda sizes: {} if sizes["n"] == 1 else None,
)

LSE_UPPER = Inequality(
    key="lse_upper",
    statement="LSE(z) <= max_i z_i + log n",
    reason="m + log n - LSE(z) = -log(s/n) = (s/n - 1 - log(s/n)) + sum_{i>1} (1/n)(1 - e^{-u_i}), "
    "lemma terms with s/n > 0 and -u_i <= 0",
    sides=lambda sizes: ((_m + sp.log(_n), _lse_sides(None)[0]) if sizes is None else
                         (_lse_sides(sizes)[1] + sp.log(sizes["n"]), _lse_sides(sizes)[0])),
    names=_LSE_NAMES,
    relation="<=",
    abbreviations=_lse_abbreviations,
    assumptions=_lse_assumptions,
    certificate=_lse_upper,
    points=_lse_points,
    sizes=_LSE_SIZES,
    symbolic=_lse_upper_symbolic,
    rests_on=(_LSE_SETUP, _LSE_SYMBOLIC),
    equality="equality if and only if every z_i equals the maximum (every u_i = 0)",
    equality_case=lambda sizes: dict.fromkeys(_lse_parts(sizes)[0], sp.S.Zero),
)

THEOREMS = (GIBBS, ENTROPY_BOUND, LSE_LOWER, LSE_UPPER)


def _facts() -> list[Step]:
    return [inequality_step(theorem) for theorem in THEOREMS]
