"""Operations on explicit SymPy matrices at concrete sizes, shared by the topic modules.

Each is written the way the lecture defines it (softmax as ``e^{z_i} / sum_j e^{z_j}``, not a
stabilised variant: stability is a numeric concern, and these are exact).
"""

from __future__ import annotations

import sympy as sp

from .atoms import Exp

__all__ = ["softmax", "softmax_rows", "total", "hadamard", "row_sums", "on_simplex", "causal_mask"]


def total(m: sp.Matrix) -> sp.Expr:
    """Sum of all entries.

    >>> total(sp.Matrix([[1, 2], [3, 4]]))
    10
    """
    return sp.Add(*list(m))


def hadamard(a: sp.Matrix, b: sp.Matrix) -> sp.Matrix:
    """Elementwise product of two matrices of one shape.

    >>> hadamard(sp.Matrix([1, 2]), sp.Matrix([3, 4])).T
    Matrix([[3, 8]])
    """
    if a.shape != b.shape:
        raise ValueError(f"hadamard of shapes {a.shape} and {b.shape}")
    return a.multiply_elementwise(b)


def row_sums(m: sp.Matrix) -> sp.Matrix:
    """The column of row sums (``m 1``).

    >>> row_sums(sp.Matrix([[1, 2], [3, 4]])).T
    Matrix([[3, 7]])
    """
    return sp.Matrix(m.rows, 1, lambda i, _: total(m.row(i)))


def softmax(z: sp.Matrix) -> sp.Matrix:
    """``p_i = e^{z_i} / sum_j e^{z_j}`` for a column ``z``.

    >>> import sympy as sp
    >>> p = softmax(sp.Matrix(sp.symbols("z1 z2", real=True)))
    >>> sp.cancel(sum(p))
    1
    """
    exps = z.applyfunc(Exp)
    denominator = total(exps)
    return exps / denominator


def causal_mask(rows: int, cols: int) -> sp.Matrix:
    """1 where query ``i`` may attend to key ``j`` (``j <= i``), else 0.

    >>> causal_mask(2, 2)
    Matrix([
    [1, 0],
    [1, 1]])
    """
    return sp.Matrix(rows, cols, lambda i, j: 1 if j <= i else 0)


def softmax_rows(scores: sp.Matrix, mask: sp.Matrix | None = None) -> sp.Matrix:
    """Row-wise softmax; masked entries (mask 0) get weight exactly 0, as ``-inf`` scores would.

    >>> import sympy as sp
    >>> a = softmax_rows(sp.Matrix([[0, 0], [0, 0]]), causal_mask(2, 2))
    >>> a.applyfunc(sp.nsimplify)
    Matrix([
    [  1,   0],
    [1/2, 1/2]])
    """
    mask = mask if mask is not None else sp.ones(*scores.shape)
    exps = sp.Matrix(*scores.shape, lambda i, j: Exp(scores[i, j]) if mask[i, j] else sp.S.Zero)
    out = sp.zeros(*scores.shape)
    for i in range(scores.rows):
        denominator = total(exps.row(i))
        for j in range(scores.cols):
            out[i, j] = exps[i, j] / denominator
    return out


def on_simplex(v: sp.Matrix) -> sp.Matrix:
    """``v`` with its last entry replaced by ``1 - (the others)``: the assumption ``sum(v) = 1``.

    >>> import sympy as sp
    >>> on_simplex(sp.Matrix(sp.symbols("y1 y2 y3"))).T
    Matrix([[y1, y2, -y1 - y2 + 1]])
    """
    out = sp.Matrix(v)
    out[len(out) - 1] = 1 - total(sp.Matrix(list(v)[:-1])) if len(out) > 1 else sp.S.One
    return out
