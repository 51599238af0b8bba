"""The perceptron (LECTURE.md section 1): its update rule as gradient descent, and exact training traces.

The output ``y = hardlim(d)`` is a step function of the weights: its derivative is 0 wherever
it is defined. So on each side of the decision boundary ``y`` is a constant, and the
perceptron criterion ``J = (y - t) d`` (0 when the sample is classified correctly, ``|d|``
otherwise) has the gradient ``(y - t) x``; one gradient step of size eta is the lecture's rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from ..atoms import scalar, vector
from ..indexcalc import index_diff
from ..notation import index, indexed, size
from ..spec import Claim, IndexForm, Topic, grad, grid
from ..theorems import Certificate, Inequality, Term, inequality_step
from ..types import Sizes, Status, Step, SymbolSpec

__all__ = ["TOPIC", "DATASETS", "train", "TraceRow", "Trace", "hardlim"]


def hardlim(d: sp.Rational) -> int:
    """The lecture's step activation: 1 when ``d >= 0``, else 0 (MATLAB's ``hardlim``).

    >>> hardlim(sp.Integer(0)), hardlim(sp.Rational(-1, 2))
    (1, 0)
    """
    return 1 if d >= 0 else 0


@dataclass(frozen=True)
class TraceRow:
    """The weights after one presentation of one sample."""

    epoch: int
    sample: int
    x: tuple[sp.Rational, ...]
    t: int
    d: sp.Rational
    y: int
    error: int
    w: tuple[sp.Rational, ...]
    b: sp.Rational


@dataclass(frozen=True)
class Trace:
    """A whole training run: the rows, whether an epoch passed with no error, and the mistakes."""

    dataset: str
    rows: tuple[TraceRow, ...]
    converged: bool
    epochs: int
    mistakes: int
    # (earlier epoch, later epoch) that started from the same weights: the run is periodic from
    # there on and can never converge. None if no repeat was seen.
    cycle: tuple[int, int] | None = None

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "converged": self.converged,
            "cycle": list(self.cycle) if self.cycle else None,
            "epochs": self.epochs,
            "mistakes": self.mistakes,
            "rows": [
                {
                    "epoch": r.epoch, "sample": r.sample, "x": [str(v) for v in r.x], "t": r.t,
                    "d": str(r.d), "y": r.y, "error": r.error,
                    "w": [str(v) for v in r.w], "b": str(r.b),
                }
                for r in self.rows
            ],
        }


def _rationals(values: Sequence[object]) -> tuple[sp.Rational, ...]:
    return tuple(sp.Rational(str(v)) for v in values)


DATASETS: dict[str, tuple[tuple[tuple[sp.Rational, ...], ...], tuple[int, ...]]] = {
    "AND": (tuple(_rationals(x) for x in [(0, 0), (0, 1), (1, 0), (1, 1)]), (0, 0, 0, 1)),
    "OR": (tuple(_rationals(x) for x in [(0, 0), (0, 1), (1, 0), (1, 1)]), (0, 1, 1, 1)),
    # A 2-D set in the style of the lecture's worked exercise (and of MATLAB's nnd4 demo).
    "lecture2d": (
        tuple(_rationals(x) for x in [(-0.5, -0.5), (-0.5, 0.5), (0.3, -0.5), (-0.1, 1.0)]),
        (1, 1, 0, 0),
    ),
    "XOR": (tuple(_rationals(x) for x in [(0, 0), (0, 1), (1, 0), (1, 1)]), (0, 1, 1, 0)),
}

# A separating hyperplane for each separable set, for Novikoff's bound (any separator will do).
SEPARATORS: dict[str, tuple[tuple[int, ...], int]] = {
    "AND": ((2, 2), -3),
    "OR": ((2, 2), -1),
    "lecture2d": ((-2, -1), 0),
}


def train(
    name: str,
    samples: Sequence[Sequence[sp.Rational]],
    targets: Sequence[int],
    eta: sp.Rational = sp.S.One,
    max_epochs: int = 100,
) -> Trace:
    """Train from ``W = 0, b = 0`` with ``w <- w + eta (t - y) x``, exactly, until an error-free epoch.

    >>> trace = train("AND", *DATASETS["AND"])
    >>> trace.converged, [str(v) for v in trace.rows[-1].w], str(trace.rows[-1].b)
    (True, ['2', '1'], '-3')
    >>> xor = train("XOR", *DATASETS["XOR"], max_epochs=20)
    >>> xor.converged, xor.cycle
    (False, (3, 4))
    """
    w = [sp.Integer(0)] * len(samples[0])
    b = sp.Integer(0)
    rows: list[TraceRow] = []
    mistakes = 0
    starts: dict[tuple, int] = {}
    for epoch in range(1, max_epochs + 1):
        state = (tuple(w), b)
        if state in starts:
            # The rule is deterministic: the same weights at an epoch start repeat forever.
            return Trace(name, tuple(rows), False, epoch - 1, mistakes, (starts[state], epoch))
        starts[state] = epoch
        errors = 0
        for number, (x, t) in enumerate(zip(samples, targets), start=1):
            d = sum((wi * xi for wi, xi in zip(w, x)), sp.Integer(0)) + b
            y = hardlim(d)
            error = t - y
            if error:
                errors += 1
                w = [wi + eta * error * xi for wi, xi in zip(w, x)]
                b = b + eta * error
            rows.append(TraceRow(epoch, number, tuple(x), t, d, y, error, tuple(w), b))
        mistakes += errors
        if errors == 0:
            return Trace(name, tuple(rows), True, epoch, mistakes)
    return Trace(name, tuple(rows), False, max_epochs, mistakes)


def novikoff_bound(name: str) -> tuple[sp.Expr, sp.Expr]:
    """``(R / gamma)^2`` for a data set and its separator, exactly, with R and gamma on (x, 1).

    >>> str(novikoff_bound("AND")[0])
    '51'
    """
    samples, targets = DATASETS[name]
    weights, bias = SEPARATORS[name]
    u = sp.Matrix([*weights, bias])
    augmented = [sp.Matrix([*x, 1]) for x in samples]
    signs = [1 if t else -1 for t in targets]
    gamma = min(s * (u.T * x)[0] for s, x in zip(signs, augmented)) / u.norm()
    radius_sq = max((x.T * x)[0] for x in augmented)
    return sp.nsimplify(radius_sq / gamma**2), gamma


def traces() -> dict[str, Trace]:
    """The training trace of every built-in data set."""
    return {name: train(name, *data) for name, data in DATASETS.items()}


def _facts() -> list[Step]:
    steps = [novikoff_step()]
    for name, trace in traces().items():
        if name in SEPARATORS:
            bound, gamma = novikoff_bound(name)
            holds = gamma > 0 and trace.converged and trace.mistakes <= bound
            steps.append(
                Step(
                    claim=f"{name}: training stops after {trace.epochs} epochs and {trace.mistakes} "
                    f"mistakes, within Novikoff's bound (R/gamma)^2 = {bound}",
                    expr=sp.Le(sp.Integer(trace.mistakes), bound, evaluate=False),
                    reason="exact rational training trace from W = [0, 0], b = 0 (table); "
                    f"separator {SEPARATORS[name]} gives the margin gamma on (x, 1)",
                    status=Status("proved" if holds else "failed", (), "exact arithmetic on this data set"),
                    key=f"trace_{name}",
                )
            )
        else:
            proved = trace.cycle is not None and not trace.converged
            where = f"epochs {trace.cycle[0]} and {trace.cycle[1]}" if trace.cycle else "no epoch"
            steps.append(
                Step(
                    claim=f"{name}: never converges: {where} start from the same weights, so "
                    f"training cycles ({trace.mistakes} mistakes until the repeat); "
                    "hence XOR is not linearly separable",
                    expr=sp.Eq(sp.Symbol("converged"), sp.false, evaluate=False),
                    reason="exact rational training trace; the rule is deterministic, so a repeated "
                    "epoch start repeats forever; Novikoff's theorem says separable data converge, "
                    "so by contraposition the data are not separable",
                    status=Status("proved" if proved else "failed", (), "exact arithmetic; cycle detected"
                                  if proved else "no cycle found within the epoch bound"),
                    key=f"trace_{name}",
                )
            )
    return steps


# Novikoff's theorem at a symbolic margin gamma and radius R (issue 19). Labels y = 2t - 1 in {-1, 1}; the
# bias is folded in as x <- (x, 1). A separator w* with ||w*|| = 1 and y w*.x >= gamma > 0 for every
# sample, ||x||^2 <= R^2, and w_0 = 0. On the k-th mistake (y w_{k-1}.x <= 0), w_k = w_{k-1} + y x.
# Each inequality is stated in the dot products, with a nonnegative slack h per hypothesis; the vector
# algebra they rest on is the claim norm_expansion (index form, every dimension).
_gamma, _R, _k = sp.Symbol("gamma", positive=True), sp.Symbol("R", positive=True), sp.Symbol("k", positive=True)
_a_prev, _a_now, _b_prev, _b_now = sp.symbols("a_{k-1} a_k b_{k-1} b_k", real=True)
_s, _c, _r, _q = sp.symbols("s c r q", real=True)  # y x.w*, y w_{k-1}.x, ||x||^2, ||w*||^2
_h = sp.symbols("h1:8", nonnegative=True)
_NOVIKOFF_SETUP = (
    "a_k = w_k.w*, b_k = ||w_k||^2; on a mistake on (x, y): w_k = w_{k-1} + y x, so a_k = a_{k-1} + y x.w* and "
    "b_k = b_{k-1} + 2 y w_{k-1}.x + y^2 ||x||^2 with y^2 = 1 (claim norm_expansion)",
    "base case: w_0 = 0 gives a_0 = 0 >= 0 gamma and b_0 = 0 <= 0 R^2; induction on the number of mistakes k",
)


def _rand(rng, low: int, high: int) -> sp.Rational:
    return sp.Rational(rng.randint(low, high), 10)


def _margin_points(sizes: Sizes, rng) -> list[dict]:
    points = []
    for tight in [True] * 3 + [False] * 12:  # every slack 0 first: where the bound is attained
        gamma, k, h1, h2 = _rand(rng, 1, 20), rng.randint(1, 30), _rand(rng, 0, 20), _rand(rng, 0, 20)
        h1, h2 = (0, 0) if tight else (h1, h2)
        a_prev, s = (k - 1) * gamma + h1, gamma + h2
        points.append({_gamma: gamma, _k: k, _h[0]: h1, _h[1]: h2, _a_prev: a_prev, _s: s, _a_now: a_prev + s})
    return points


def _norm_points(sizes: Sizes, rng) -> list[dict]:
    points = []
    for tight in [True] * 3 + [False] * 12:
        R, k, h3, h4, h5 = _rand(rng, 1, 30), rng.randint(1, 30), _rand(rng, 0, 20), _rand(rng, 0, 20), _rand(rng, 0, 20)
        h3, h4, h5 = (0, 0, 0) if tight else (h3, h4, h5)
        b_prev, c, r = (k - 1) * R**2 - h3, -h4, R**2 - h5
        points.append({_R: R, _k: k, _h[2]: h3, _h[3]: h4, _h[4]: h5, _b_prev: b_prev, _c: c, _r: r,
                       _b_now: b_prev + 2 * c + r})
    return points


def _bound_points(sizes: Sizes, rng) -> list[dict]:
    points = []
    for tight in [True] * 3 + [False] * 12:
        gamma, k = _rand(rng, 1, 20), rng.randint(1, 30)
        h1, h3, h6 = (0, 0, 0) if tight else (_rand(rng, 0, 10), _rand(rng, 0, 10), _rand(rng, 0, 10))
        a = k * gamma + h1
        b = a**2 + h6
        # R from b_k = k R^2 - h3; R^2 is what the gap reads, so R = sqrt(R^2) exactly.
        points.append({_gamma: gamma, _k: k, _h[0]: h1, _h[2]: h3, _h[5]: h6, _a_now: a, _b_now: b,
                       _R: sp.sqrt((b + h3) / k)})
    return points


_NOVIKOFF_NAMES = {"w_k.w*": _a_now, "||w_k||^2": _b_now}


def _novikoff_theorem(key: str, statement: str, sides: tuple[sp.Expr, sp.Expr], terms: tuple[Term, ...],
                      assumptions: dict, multipliers: dict, points, reason: str, relation: str = "<=") -> Inequality:
    """``sides`` = (greater, lesser); the certificate's gap is their difference (checked by prove_inequality)."""
    certificate = Certificate(sides[0] - sides[1], terms, multipliers)
    return Inequality(
        key=key, statement=statement, reason=reason,
        sides=lambda sizes: sides, relation=relation, names=_NOVIKOFF_NAMES,
        assumptions=lambda sizes: assumptions, certificate=lambda sizes: certificate, points=points,
        sizes=({},), symbolic=lambda: certificate, rests_on=_NOVIKOFF_SETUP,
    )


NOVIKOFF_MARGIN = _novikoff_theorem(
    "novikoff_margin", "w_k.w* >= k gamma after k mistakes", (_a_now, _k * _gamma),
    (Term(_h[0]), Term(_h[1])),
    {"update": _a_now - _a_prev - _s, "induction": _a_prev - (_k - 1) * _gamma - _h[0], "margin": _s - _gamma - _h[1]},
    {"update": 1, "induction": 1, "margin": 1}, _margin_points,
    "a_k - k gamma = (a_{k-1} - (k - 1) gamma) + (y x.w* - gamma): the induction hypothesis plus the margin", ">=",
)
NOVIKOFF_NORM = _novikoff_theorem(
    "novikoff_norm", "||w_k||^2 <= k R^2 after k mistakes", (_k * _R**2, _b_now),
    (Term(_h[2]), Term(_h[4]), Term(2 * _h[3])),
    {"update": _b_now - _b_prev - 2 * _c - _r, "induction": (_k - 1) * _R**2 - _b_prev - _h[2],
     "mistake": _c + _h[3], "radius": _R**2 - _r - _h[4]},
    {"update": -1, "induction": 1, "mistake": -2, "radius": 1}, _norm_points,
    "k R^2 - b_k = ((k - 1) R^2 - b_{k-1}) + (R^2 - ||x||^2) - 2 y w_{k-1}.x: the induction hypothesis, the "
    "radius, and the mistake (y w_{k-1}.x <= 0)",
)
NOVIKOFF_CAUCHY_SCHWARZ = _novikoff_theorem(
    "novikoff_cauchy_schwarz", "(w_k.w*)^2 <= ||w_k||^2 for ||w*|| = 1 (Cauchy-Schwarz)", (_b_now, _a_now**2),
    (Term(_h[6]),),
    {"expansion": _h[6] - (_b_now - 2 * _a_now * _a_now + _a_now**2 * _q), "unit": _q - 1},
    {"expansion": -1, "unit": -_a_now**2}, lambda sizes, rng: [],
    "b_k - a_k^2 = ||w_k - a_k w*||^2 >= 0 (norm_expansion with t = -a_k, and ||w*||^2 = 1)",
)
NOVIKOFF_BOUND = _novikoff_theorem(
    "novikoff", "Novikoff: the perceptron makes at most (R / gamma)^2 mistakes on data separable with margin gamma",
    (_R**2 / _gamma**2, _k),
    (Term(_h[2] / (_k * _gamma**2)), Term(_h[5] / (_k * _gamma**2)),
     Term(_h[0] * (_h[0] + 2 * _k * _gamma) / (_k * _gamma**2))),
    {"margin bound": _a_now - _k * _gamma - _h[0], "norm bound": _k * _R**2 - _b_now - _h[2],
     "Cauchy-Schwarz": _b_now - _a_now**2 - _h[5]},
    {"margin bound": (_a_now + _k * _gamma + _h[0]) / (_k * _gamma**2), "norm bound": 1 / (_k * _gamma**2),
     "Cauchy-Schwarz": 1 / (_k * _gamma**2)}, _bound_points,
    "(k gamma)^2 <= (w_k.w*)^2 <= ||w_k||^2 <= k R^2, so k <= R^2 / gamma^2: R^2/gamma^2 - k = "
    "[(k R^2 - b_k) + (b_k - a_k^2) + (a_k - k gamma)(a_k + k gamma)] / (k gamma^2), each part >= 0",
)
NOVIKOFF_PARTS = (NOVIKOFF_MARGIN, NOVIKOFF_NORM, NOVIKOFF_CAUCHY_SCHWARZ)


def novikoff_step() -> Step:
    """Novikoff's theorem as one step: its status is the weakest of the bound and the three lemmas."""
    step = inequality_step(NOVIKOFF_BOUND, *NOVIKOFF_PARTS)
    proof = step.proof + tuple(f"{t.statement}: {t.reason}" for t in NOVIKOFF_PARTS)
    return Step(step.claim, step.expr, step.reason, step.status,
                step.key, kind="inequality", proof=proof)


def build(sizes: Sizes) -> dict:
    n = sizes["n"]
    w, x = vector("w", n), vector("x", n)
    b, t, y = scalar("b"), scalar("t"), scalar("y")
    eta = scalar("eta", positive=True)
    d = (w.T * x)[0] + b
    criterion = (y - t) * d
    bias = sp.Matrix([b])
    return {
        "w": w, "x": x, "b": bias, "t": t, "y": y, "eta": eta, "d": d, "J": criterion,
        "w_step": w - eta * grad(criterion, w), "b_step": bias - eta * grad(criterion, bias),
        "expansion": (sp.Matrix([((w + _t_scalar * x).T * (w + _t_scalar * x))[0]]),
                      sp.Matrix([(w.T * w)[0] + 2 * _t_scalar * (w.T * x)[0] + _t_scalar**2 * (x.T * x)[0]])),
        "forward": criterion,
    }


_n = size("n")
_i, _j = index("i"), index("j")
_w, _x = indexed("w"), indexed("x")
_b, _t, _y, _eta = sp.symbols("b t y eta", real=True)
_J = (_y - _t) * (sp.Sum(_w[_i] * _x[_i], (_i, 1, _n)) + _b)
_t_scalar = sp.Symbol("tau", real=True)


# (key, what happened, t, y, sign of the change): the lecture's Hebb-style cases.
_HEBB_CASES = (
    ("hebb_positive", "a positive sample classified 0", 1, 0, 1),
    ("hebb_negative", "a negative sample classified 1", 0, 1, -1),
    ("hebb_correct", "a correctly classified sample", 1, 1, 0),
)


def _hebb(key: str, case: str, t: int, y: int, sign: int) -> Claim:
    change = {1: "w <- w + x, b <- b + 1", -1: "w <- w - x, b <- b - 1", 0: "w and b unchanged"}[sign]
    return Claim(
        key=key,
        statement=f"eta = 1, {case} (t = {t}, y = {y}): {change}",
        reason="the general rule with eta = 1 and these t, y: the Hebb-style rule of the lecture; at symbolic n, "
        "the index form's gradient step w_j - eta dJ/dw_j and b - eta dJ/db with the same values",
        display=lambda: sp.Eq(sp.Symbol("w'"), sp.Symbol("w") + sign * sp.Symbol("x"), evaluate=False),
        derived=lambda e: sp.Matrix.vstack(e["w_step"], e["b_step"]).subs({e["eta"]: 1, e["t"]: t, e["y"]: y}),
        claimed=lambda e: sp.Matrix.vstack(e["w"] + sign * e["x"], e["b"] + sp.Matrix([sign])),
        index=IndexForm(
            derived=lambda: sp.Matrix([_w[_j] - _eta * index_diff(_J, _w[_j]), _b - _eta * index_diff(_J, _b)]).subs(
                {_eta: 1, _t: t, _y: y}),
            claimed=lambda: sp.Matrix([_w[_j] + sign * _x[_j], _b + sign]),
        ),
    )


TOPIC = Topic(
    name="perceptron",
    title="The perceptron learning rule",
    section="1. Perceptron",
    symbols=(
        SymbolSpec("x", ("n",), "real", "input sample"),
        SymbolSpec("w", ("n",), "real", "weights"),
        SymbolSpec("b", (), "real", "bias"),
        SymbolSpec("d", (), "real", "net input d(x) = sum_i w_i x_i + b"),
        SymbolSpec("y", (), "{0, 1}", "output y = hardlim(d): 1 if d >= 0 else 0"),
        SymbolSpec("t", (), "{0, 1}", "target"),
        SymbolSpec("eta", (), "positive", "learning rate"),
        SymbolSpec("J", (), "real, >= 0", "perceptron criterion J = (y - t) d"),
    ),
    assumptions=(
        "y = hardlim(d) is held constant while differentiating: it is piecewise constant in w and b, "
        "with derivative 0 off the decision boundary d = 0",
    ),
    default_sizes={"n": 2},
    grid=grid(n=range(1, 6)),
    build=build,
    claims=(
        Claim(
            key="update_w",
            target="w <- w - eta dJ/dw",
            wrt="w",
            statement="w - eta dJ/dw = w + eta (t - y) x",
            reason="dJ/dw_i = (y - t) x_i since y is constant off the boundary; one gradient step",
            display=lambda: sp.Eq(sp.Symbol("w'"), sp.Symbol("w") + _eta * (_t - _y) * sp.Symbol("x"), evaluate=False),
            derived=lambda e: e["w_step"],
            claimed=lambda e: e["w"] + e["eta"] * (e["t"] - e["y"]) * e["x"],
            index=IndexForm(
                derived=lambda: _w[_j] - _eta * index_diff(_J, _w[_j]),
                claimed=lambda: _w[_j] + _eta * (_t - _y) * _x[_j],
            ),
        ),
        Claim(
            key="update_b",
            target="b <- b - eta dJ/db",
            wrt="b",
            statement="b - eta dJ/db = b + eta (t - y)",
            reason="dJ/db = y - t",
            display=lambda: sp.Eq(sp.Symbol("b'"), _b + _eta * (_t - _y), evaluate=False),
            derived=lambda e: e["b_step"],
            claimed=lambda e: e["b"] + sp.Matrix([e["eta"] * (e["t"] - e["y"])]),
            index=IndexForm(derived=lambda: _b - _eta * index_diff(_J, _b), claimed=lambda: _b + _eta * (_t - _y)),
        ),
        *(_hebb(*case) for case in _HEBB_CASES),
        Claim(
            key="norm_expansion",
            statement="||u + tau v||^2 = ||u||^2 + 2 tau u.v + tau^2 ||v||^2 (the vector algebra of Novikoff's proof)",
            reason="expand the square entry by entry and sum; at symbolic dimension n in index form",
            display=lambda: sp.Eq(sp.Symbol("||u + tau v||^2"),
                                  sp.Symbol("||u||^2") + 2 * _t_scalar * sp.Symbol("u.v") + _t_scalar**2 * sp.Symbol("||v||^2"),
                                  evaluate=False),
            derived=lambda e: e["expansion"][0],
            claimed=lambda e: e["expansion"][1],
            index=IndexForm(
                derived=lambda: sp.Sum((_w[_i] + _t_scalar * _x[_i]) ** 2, (_i, 1, _n)),
                claimed=lambda: sp.Sum(_w[_i] ** 2, (_i, 1, _n)) + 2 * _t_scalar * sp.Sum(_w[_i] * _x[_i], (_i, 1, _n))
                + _t_scalar**2 * sp.Sum(_x[_i] ** 2, (_i, 1, _n)),
            ),
        ),
    ),
    tables=lambda: {"traces": {name: trace.to_json() for name, trace in traces().items()}},
    facts=_facts,
)
