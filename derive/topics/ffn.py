"""The Transformer's position-wise feed-forward network ``FFN(X) = max(0, X W1 + b1) W2 + b2``.

ReLU has a kink at 0. Off the kinks (every point where no entry of ``H = X W1 + b1`` is 0)
the activation pattern ``S = 1[H > 0]`` is locally constant and ``max(0, H) = S * H``; the
entries ``s_ij`` are kept as symbols, so one proof covers every pattern. At a kink we take
the derivative 0, as PyTorch does (``relu``'s backward uses ``H > 0``).
"""

from __future__ import annotations

import sympy as sp

from ..atoms import matrix, vector
from ..concrete import hadamard, total
from ..notation import Indicator, size
from ..spec import Claim, Lazy, Topic, grad, grid, pair_claim
from ..types import Sizes, SymbolSpec


def _broadcast(row: sp.Matrix, n: int) -> sp.Matrix:
    return sp.ones(n, 1) * row.T


def build(sizes: Sizes) -> dict:
    n, d, h = sizes["n"], sizes["d"], sizes["h"]
    X, G = matrix("X", n, d), matrix("G", n, d)
    W1, b1 = matrix("W1_", d, h), vector("b1_", h)
    W2, b2 = matrix("W2_", h, d), vector("b2_", d)
    S = matrix("s", n, h)  # the activation pattern, 0 or 1, constant off the kinks
    H = X * W1 + _broadcast(b1, n)
    R = hadamard(S, H)
    Y = R * W2 + _broadcast(b2, n)
    L = total(hadamard(G, Y))
    dH = hadamard(G * W2.T, S)
    col_sums = lambda M: sp.Matrix([total(M.col(j)) for j in range(M.cols)])
    return {
        "X": X, "G": G, "L": L, "forward": L,
        "dW2": Lazy(lambda: (grad(L, W2), R.T * G)),
        "db2": Lazy(lambda: (grad(L, b2), col_sums(G))),
        "dW1": Lazy(lambda: (grad(L, W1), X.T * dH)),
        "db1": Lazy(lambda: (grad(L, b1), col_sums(dH))),
        "dX": Lazy(lambda: (grad(L, X), dH * W1.T)),
    }


_n, _d, _h = size("n"), size("d"), size("h")
_X, _G = sp.MatrixSymbol("X", _n, _d), sp.MatrixSymbol("G", _n, _d)
_W1, _W2 = sp.MatrixSymbol("W_1", _d, _h), sp.MatrixSymbol("W_2", _h, _d)
_H, _R = sp.MatrixSymbol("H", _n, _h), sp.MatrixSymbol("R", _n, _h)
# The ReLU derivative is 1[H > 0]: dH = (G W2^T) * 1[H > 0].
_dH = sp.HadamardProduct(_G * _W2.T, Indicator(_H))
_ones = sp.MatrixSymbol("1", _n, 1)
_GRID = grid(n=range(1, 4), d=range(1, 4), h=range(1, 4))

# key, target, statement, reason, lecture form
_FORMS = (
    ("dW2", "dW_2", "dL/dW2 = R^T G with R = max(0, H)", "Y = R W2 + b2 is linear in W2", lambda: _R.T * _G),
    ("db2", "db_2", "dL/db2 = sum over rows of G", "b2 is added to every row", lambda: _G.T * _ones),
    ("dW1", "dW_1", "dL/dW1 = X^T dH with dH = (G W2^T) * 1[H > 0]",
     "ReLU passes the gradient where H > 0 and blocks it elsewhere (0 at the kink, as PyTorch)",
     lambda: _X.T * _dH),
    ("db1", "db_1", "dL/db1 = sum over rows of dH", "b1 is added to every row of H", lambda: _dH.T * _ones),
    ("dX", "dX", "dL/dX = dH W1^T", "H = X W1 + b1 is linear in X", lambda: _dH * _W1.T),
)


def _claim(key: str, target: str, statement: str, reason: str, form) -> Claim:
    return pair_claim(
        key, key=f"grad_{key[1:]}", target=target, wrt=key[1:], statement=statement,
        reason=reason + "; proved for every activation pattern at once (s_ij symbolic), conditional on "
        "s_ij = 1[H_ij > 0] being constant near the point, i.e. off the kinks", form=form, sizes=_GRID,
    )


TOPIC = Topic(
    name="ffn",
    title="Position-wise feed-forward network (ReLU)",
    section="5. Transformer (FFN)",
    symbols=(
        SymbolSpec("X", ("n", "d"), "real", "input rows"),
        SymbolSpec("W1, b1", ("d, h", "h"), "real", "first layer"),
        SymbolSpec("H", ("n", "h"), "real", "pre-activation H = X W1 + b1"),
        SymbolSpec("R", ("n", "h"), ">= 0", "R = max(0, H)"),
        SymbolSpec("W2, b2", ("h, d", "d"), "real", "second layer; Y = R W2 + b2"),
        SymbolSpec("G", ("n", "d"), "real", "upstream gradient dL/dY; L = sum(G * Y)"),
        SymbolSpec("dH", ("n", "h"), "real", "dH = (G W2^T) * 1[H > 0]"),
    ),
    assumptions=(
        "kink choice: relu'(0) = 0 (PyTorch's choice); the formulas hold exactly wherever no entry of H is 0",
    ),
    default_sizes={"n": 2, "d": 2, "h": 3},
    grid=_GRID,
    size_limits={"n": (1, 4), "d": (1, 4), "h": (1, 4)},
    build=build,
    claims=tuple(_claim(*form) for form in _FORMS),
)
