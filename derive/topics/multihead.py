"""Multi-head self-attention with projections W_Q, W_K, W_V, W_O (LECTURE.md section 5).

Head h: ``Q_h = X W_Q^h``, ``K_h = X W_K^h``, ``V_h = X W_V^h`` (each ``n x d_k``),
``A_h = softmax(Q_h K_h^T / sqrt(d_k))``, ``H_h = A_h V_h``; ``C = [H_1 ... H_heads]`` and
``O = C W_O``; ``L = sum(G * O)``. Per head, the attention adjoints are those of the
``attention`` entry with ``dH_h = G (W_O^h)^T``, where ``W_O^h`` is head h's block of rows.
Entrywise cost grows fast here (X reaches L through every head's Q, K and V), so the sizes
stop at 2 for d_model, heads and d_k; the matrix route (graphs/) covers any size.
"""

from __future__ import annotations

import sympy as sp

from ..atoms import matrix
from ..concrete import hadamard, softmax_rows, total
from ..notation import size
from ..spec import Claim, Lazy, Topic, grad, grid, pair_claim
from ..types import Sizes, SymbolSpec
from .attention import _softmax_backward


def build(sizes: Sizes) -> dict:
    n, dm, heads, dk = sizes["n"], sizes["d_model"], sizes["heads"], sizes["d_k"]
    X, G = matrix("X", n, dm), matrix("G", n, dm)
    WQ = [matrix(f"WQ{h + 1}_", dm, dk) for h in range(heads)]
    WK = [matrix(f"WK{h + 1}_", dm, dk) for h in range(heads)]
    WV = [matrix(f"WV{h + 1}_", dm, dk) for h in range(heads)]
    WO = matrix("WO", heads * dk, dm)
    scale = 1 / sp.sqrt(dk)
    Q = [X * W for W in WQ]
    K = [X * W for W in WK]
    V = [X * W for W in WV]
    A = [softmax_rows(Q[h] * K[h].T * scale) for h in range(heads)]
    C = sp.Matrix.hstack(*[A[h] * V[h] for h in range(heads)])
    L = total(hadamard(G, C * WO))
    dC = G * WO.T
    dH = [dC[:, h * dk:(h + 1) * dk] for h in range(heads)]
    dS = [_softmax_backward(A[h], dH[h] * V[h].T) for h in range(heads)]
    dQ = [dS[h] * K[h] * scale for h in range(heads)]
    dK = [dS[h].T * Q[h] * scale for h in range(heads)]
    dV = [A[h].T * dH[h] for h in range(heads)]

    def stacked(weights: list[sp.Matrix], claimed: list[sp.Matrix]) -> tuple[sp.Matrix, sp.Matrix]:
        return (sp.Matrix.vstack(*[grad(L, W) for W in weights]), sp.Matrix.vstack(*claimed))

    dX = sum((dQ[h] * WQ[h].T + dK[h] * WK[h].T + dV[h] * WV[h].T for h in range(heads)), sp.zeros(n, dm))
    return {
        "X": X, "G": G, "L": L, "forward": L,
        "dWO": Lazy(lambda: (grad(L, WO), C.T * G)),
        "dWV": Lazy(lambda: stacked(WV, [X.T * dV[h] for h in range(heads)])),
        "dWQ": Lazy(lambda: stacked(WQ, [X.T * dQ[h] for h in range(heads)])),
        "dWK": Lazy(lambda: stacked(WK, [X.T * dK[h] for h in range(heads)])),
        "dX": Lazy(lambda: (grad(L, X), dX)),
    }


_n, _dm, _dk = size("n"), size("d_model"), size("d_k")
_X, _G = sp.MatrixSymbol("X", _n, _dm), sp.MatrixSymbol("G", _n, _dm)
_C = sp.MatrixSymbol("C", _n, size("h") * _dk)
_dQh, _dKh, _dVh = (sp.MatrixSymbol(name, _n, _dk) for name in ("dQ_h", "dK_h", "dV_h"))
_WQh, _WKh, _WVh = (sp.MatrixSymbol(name, _dm, _dk) for name in ("W_Q^h", "W_K^h", "W_V^h"))

# key, target, statement, reason, lecture form
_FORMS = (
    ("dWO", "dW_O", "dL/dW_O = C^T G, C = [H_1 ... H_h] the concatenated heads", "O = C W_O is linear in W_O",
     lambda: _C.T * _G),
    ("dWV", "dW_V^h", "dL/dW_V^h = X^T dV_h with dV_h = A_h^T dH_h, dH_h = G (W_O^h)^T",
     "V_h = X W_V^h; dV_h is attention's dV with upstream gradient dH_h", lambda: _X.T * _dVh),
    ("dWQ", "dW_Q^h", "dL/dW_Q^h = X^T dQ_h with dQ_h = dS_h K_h / sqrt(d_k)",
     "Q_h = X W_Q^h; dQ_h is attention's dQ for head h", lambda: _X.T * _dQh),
    ("dWK", "dW_K^h", "dL/dW_K^h = X^T dK_h with dK_h = dS_h^T Q_h / sqrt(d_k)",
     "K_h = X W_K^h; dK_h is attention's dK for head h", lambda: _X.T * _dKh),
    ("dX", "dX", "dL/dX = sum_h (dQ_h (W_Q^h)^T + dK_h (W_K^h)^T + dV_h (W_V^h)^T)",
     "X reaches L through Q, K and V of every head: the adjoints add",
     lambda: sp.Sum(sp.MatAdd(_dQh * _WQh.T, _dKh * _WKh.T, _dVh * _WVh.T), (sp.Symbol("h"), 1, size("heads")))),
)
_GRID = grid(n=range(1, 4), d_model=range(1, 3), heads=range(1, 3), d_k=range(1, 3))
# Through the softmax, X and the Q, K projections cost about 10x more per size: n stops at 2.
_SMALL_GRID = grid(n=range(1, 3), d_model=range(1, 3), heads=range(1, 3), d_k=range(1, 3))
_THROUGH_SOFTMAX = {"dWQ", "dWK", "dX"}


def _claim(key: str, target: str, statement: str, reason: str, form) -> Claim:
    small = key in _THROUGH_SOFTMAX
    return pair_claim(
        key, key=f"grad_{key[1:]}", target=target, wrt=key[1:], statement=statement,
        reason=reason + "; L = sum(G * O) is differentiated exactly, entry by entry"
        + ("; sizes stop at n = 2 here (the gradient passes through every head's softmax)" if small else ""),
        form=form, sizes=_SMALL_GRID if small else _GRID,
    )


TOPIC = Topic(
    name="multihead_attention",
    title="Multi-head self-attention with projections",
    section="5. Transformer (multi-head attention)",
    symbols=(
        SymbolSpec("X", ("n", "d_model"), "real", "input rows (self-attention: Q, K, V all come from X)"),
        SymbolSpec("W_Q^h, W_K^h, W_V^h", ("d_model", "d_k"), "real", "projections of head h"),
        SymbolSpec("W_O", ("heads * d_k", "d_model"), "real", "output projection; W_O^h is head h's block of rows"),
        SymbolSpec("A_h", ("n", "n"), "rows on the simplex", "softmax(Q_h K_h^T / sqrt(d_k))"),
        SymbolSpec("C", ("n", "heads * d_k"), "real", "concatenated heads [A_1 V_1 ... A_h V_h]"),
        SymbolSpec("G", ("n", "d_model"), "real", "upstream gradient dL/dO; L = sum(G * O)"),
    ),
    assumptions=("no biases in the projections (they would add column sums of the adjoints)",),
    default_sizes={"n": 2, "d_model": 2, "heads": 2, "d_k": 1},
    grid=_GRID,
    size_limits={"n": (1, 3), "d_model": (1, 2), "heads": (1, 2), "d_k": (1, 2)},
    build=build,
    claims=tuple(_claim(*form) for form in _FORMS),
)
