"""Max and average pooling (LECTURE.md section 3): where the gradient goes.

``k x k`` windows with stride ``s`` over an ``h x w`` map, ``L = sum(G * P)``. Average pooling
is linear: each window's gradient is spread evenly, ``G / k^2``. Max pooling is linear on each
region where every window's maximum is strict: there ``max = X[argmax]``. The proof enumerates
every choice of argmax for every window (all regions) and differentiates on each, so overlapping
windows, whose gradients add up, are covered too. At a tie max is not differentiable; the
convention (PyTorch's CPU kernel, and ours) routes the gradient to the first maximal entry in
row-major order.
"""

from __future__ import annotations

import itertools

import sympy as sp

from ..atoms import matrix
from ..concrete import hadamard, total
from ..notation import size
from ..spec import Lazy, Topic, grad, pair_claim
from ..types import Sizes, SymbolSpec


def windows(h: int, w: int, k: int, s: int) -> list[list[tuple[int, int]]]:
    """The positions of every pooling window, row by row.

    >>> [len(win) for win in windows(3, 3, 2, 1)]
    [4, 4, 4, 4]
    """
    return [
        [(i * s + a, j * s + b) for a in range(k) for b in range(k)]
        for i in range((h - k) // s + 1)
        for j in range((w - k) // s + 1)
    ]


def _output_shape(h: int, w: int, k: int, s: int) -> tuple[int, int]:
    return (h - k) // s + 1, (w - k) // s + 1


def build(sizes: Sizes) -> dict:
    h, w, k, s = sizes["h"], sizes["w"], sizes["k"], sizes["s"]
    X = matrix("X", h, w)
    rows, cols = _output_shape(h, w, k, s)
    G = matrix("G", rows, cols)
    wins = windows(h, w, k, s)
    g = list(G)  # row-major, the same order as the windows

    average = sp.Matrix(rows, cols, lambda i, j: sp.Add(*[X[p] for p in wins[i * cols + j]]) / k**2)
    L_avg = total(hadamard(G, average))
    spread = sp.zeros(h, w)
    for gradient, win in zip(g, wins):
        for p in win:
            spread[p] += gradient / k**2

    def max_regions() -> tuple[sp.Matrix, sp.Matrix]:
        derived, claimed = [], []
        for choice in itertools.product(*wins):  # one argmax per window: one region
            L_region = sp.Add(*[gradient * X[p] for gradient, p in zip(g, choice)])
            routed = sp.zeros(h, w)
            for gradient, p in zip(g, choice):
                routed[p] += gradient
            derived.append(grad(L_region, X).reshape(1, h * w))
            claimed.append(routed.reshape(1, h * w))
        return sp.Matrix.vstack(*derived), sp.Matrix.vstack(*claimed)

    return {
        "X": X, "G": G, "forward": L_avg,
        "avg": Lazy(lambda: (grad(L_avg, X), spread)),
        "max": Lazy(max_regions),
    }


_MAX_REGIONS = 4096


def size_rule(sizes) -> str | None:
    """The window must fit, and every argmax region is enumerated: keep their number bounded."""
    h, w, k, s = sizes["h"], sizes["w"], sizes["k"], sizes["s"]
    if k > h or k > w:
        return f"the {k} x {k} window does not fit in a {h} x {w} map; use k <= h and k <= w"
    regions = (k * k) ** len(windows(h, w, k, s))
    if regions > _MAX_REGIONS:
        return (f"{regions} argmax regions to enumerate at h={h}, w={w}, k={k}, s={s}; "
                f"choose sizes with at most {_MAX_REGIONS} (e.g. a larger stride)")
    return None


# (h, w, k, s): non-overlapping and overlapping windows, small enough to enumerate every region
_SIZES = tuple(
    {"h": h, "w": w, "k": k, "s": s}
    for h, w, k, s in [(1, 1, 1, 1), (2, 2, 2, 2), (2, 3, 2, 1), (3, 3, 3, 3), (4, 2, 2, 2), (3, 3, 2, 1), (4, 4, 2, 2)]
)
_i, _j, _p, _q = (sp.Symbol(name, integer=True) for name in ("i", "j", "p", "q"))
_dX, _G, _X = sp.IndexedBase("dX"), sp.IndexedBase("G"), sp.IndexedBase("X")
_k, _s = size("k"), size("s")


# 1 when (p, q) is the (first) maximal entry of window (i, j), else 0; display only.
_IS_ARGMAX = sp.Function(r"\mathbb{1}_{\mathrm{argmax}}")


def _in_window(p: sp.Expr, q: sp.Expr) -> sp.Expr:
    return sp.And(_i * _s <= p, p < _i * _s + _k, _j * _s <= q, q < _j * _s + _k)


TOPIC = Topic(
    name="pooling",
    title="Max and average pooling",
    section="3. Convolutional networks (pooling)",
    symbols=(
        SymbolSpec("X", ("h", "w"), "real", "input feature map"),
        SymbolSpec("P", ("(h-k)/s+1", "(w-k)/s+1"), "real", "pooled map: max or mean of each k x k window"),
        SymbolSpec("G", ("(h-k)/s+1", "(w-k)/s+1"), "real", "upstream gradient dL/dP; L = sum(G * P)"),
    ),
    assumptions=(
        "max pooling: the formulas hold exactly where each window has a strict maximum; at a tie "
        "the gradient goes to the first maximal entry in row-major order (PyTorch's CPU convention)",
    ),
    default_sizes={"h": 4, "w": 4, "k": 2, "s": 2},
    grid=_SIZES,
    size_limits={"h": (1, 4), "w": (1, 4), "k": (1, 3), "s": (1, 3)},
    size_rule=size_rule,
    build=build,
    claims=(
        pair_claim(
            "max",
            key="grad_max",
            target="dX (max pooling)",
            wrt="X",
            statement="max pooling: dL/dX[p, q] = sum of G[i, j] over the windows (i, j) whose argmax is (p, q)",
            reason="conditional on the region: where every window's maximum is strict, max = X[argmax] "
            "(taken as given, not derived); every region (every choice of argmax per window) is "
            "differentiated; at ties the routing is a convention",
            display=lambda: sp.Eq(
                _dX[_p, _q],
                sp.Sum(_G[_i, _j] * _IS_ARGMAX(_p, _q, _i, _j),
                       (_i, 0, sp.Symbol("h_out") - 1), (_j, 0, sp.Symbol("w_out") - 1)),
                evaluate=False,
            ),
        ),
        pair_claim(
            "avg",
            key="grad_avg",
            target="dX (average pooling)",
            wrt="X",
            statement="average pooling: dL/dX[p, q] = sum of G[i, j] / k^2 over the windows (i, j) that hold (p, q)",
            reason="the mean of a window is linear: each entry gets 1/k^2 of every window it is in",
            display=lambda: sp.Eq(
                _dX[_p, _q],
                sp.Sum(_G[_i, _j] * sp.Piecewise((1, _in_window(_p, _q)), (0, True)) / _k**2,
                       (_i, 0, sp.Symbol("h_out") - 1), (_j, 0, sp.Symbol("w_out") - 1)),
                evaluate=False,
            ),
        ),
    ),
)
