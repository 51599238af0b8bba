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
    steps = []
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
        "forward": criterion,
    }


_n = size("n")
_i, _j = index("i"), index("j")
_w, _x = indexed("w"), indexed("x")
_b, _t, _y, _eta = sp.symbols("b t y eta", real=True)
_J = (_y - _t) * (sp.Sum(_w[_i] * _x[_i], (_i, 1, _n)) + _b)


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
        reason="the general rule with eta = 1 and these t, y: the Hebb-style rule of the lecture",
        display=lambda: sp.Eq(sp.Symbol("w'"), sp.Symbol("w") + sign * sp.Symbol("x"), evaluate=False),
        derived=lambda e: sp.Matrix.vstack(e["w_step"], e["b_step"]).subs({e["eta"]: 1, e["t"]: t, e["y"]: y}),
        claimed=lambda e: sp.Matrix.vstack(e["w"] + sign * e["x"], e["b"] + sp.Matrix([sign])),
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
    ),
    tables=lambda: {"traces": {name: trace.to_json() for name, trace in traces().items()}},
    facts=_facts,
)
