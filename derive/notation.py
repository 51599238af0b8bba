"""Display-only SymPy objects for the lecture's notation: partial derivatives, diag, row sums.

These print (``sympy.latex``, ``str``, ``srepr``); they are never differentiated. Each knows
its shape where it is a matrix, so the closed forms built from them are well-formed matrix
expressions that graphs/ can reuse.
"""

from __future__ import annotations

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr

__all__ = ["Partial", "Diag", "RowSum", "Softmax", "Indicator", "EntryOf", "integer_indices", "indexed", "size", "index"]


def _pretty_call(printer, name: str, argument: sp.Basic):
    """``name(argument)`` for the 2-D pretty printer, with the argument pretty-printed too."""
    from sympy.printing.pretty.stringpict import prettyForm

    form = printer._print(argument)
    form = prettyForm(*form.parens())
    return prettyForm(*form.left(name))


class EntryOf(sp.Function):
    """Entry ``(i, j)`` of a matrix expression, left unevaluated until both indices are integers.

    SymPy expands a product's entry as a sum over a symbolic index before it substitutes
    integers; entries that index Python lists (a softmax row) wait for the integers.

    >>> X = sp.MatrixSymbol("X", 1, 2)
    >>> k = sp.Symbol("k", integer=True)
    >>> e = EntryOf(Softmax(X), 0, k)
    >>> e.subs(k, 1) == Softmax(X)._entry(0, 1)
    True
    """

    @classmethod
    def eval(cls, matrix: sp.Basic, i: sp.Expr, j: sp.Expr) -> sp.Expr | None:
        if i.is_Integer and j.is_Integer:
            return matrix._entry(int(i), int(j))
        return None


def integer_indices(entry):
    """``_entry`` with integer indices only; other indices give an :class:`EntryOf` that waits."""

    def wrapped(self, i, j, **kwargs):
        if isinstance(i, (int, sp.Integer)) and isinstance(j, (int, sp.Integer)):
            return entry(self, int(i), int(j), **kwargs)
        return EntryOf(self, i, j)

    wrapped.__doc__ = entry.__doc__
    return wrapped


def _row_entries(matrix: MatrixExpr, i) -> list[sp.Expr]:
    """The entries of row ``i``; the width must be concrete (explicit entries are for concrete sizes)."""
    cols = matrix.shape[1]
    if not isinstance(cols, (int, sp.Integer)):
        raise ValueError(f"entries of {matrix} need a concrete width, not {cols}")
    return [matrix[i, k] for k in range(int(cols))]


def size(name: str) -> sp.Symbol:
    """A symbolic size (a positive integer), e.g. ``size("d_k")``.

    >>> size("n").is_integer
    True
    """
    return sp.Symbol(name, integer=True, positive=True)


def index(name: str) -> sp.Symbol:
    """An integer index symbol (``i``, ``j``, ``k``)."""
    return sp.Symbol(name, integer=True)


def indexed(name: str, **assumptions: bool) -> sp.IndexedBase:
    """An ``IndexedBase`` for index-form claims, real unless told otherwise."""
    return sp.IndexedBase(name, **(assumptions or {"real": True}))


class Partial(sp.Expr):
    """``∂f/∂x`` for display: ``Partial("L", "z_j")``.

    >>> import sympy as sp
    >>> sp.latex(Partial("L", "z_j"))
    '\\\\frac{\\\\partial L}{\\\\partial z_j}'
    >>> str(Partial("L", "z_j"))
    'dL/dz_j'
    """

    def __new__(cls, numerator: str, denominator: str, order: int = 1) -> Partial:
        return super().__new__(cls, sp.Symbol(numerator), sp.Symbol(denominator), sp.Integer(order))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        num, den, order = self.args
        if order == 1:
            return r"\frac{\partial %s}{\partial %s}" % (num.name, den.name)
        return r"\frac{\partial^{%s} %s}{\partial %s^{%s}}" % (order, num.name, den.name, order)

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        num, den, order = self.args
        return f"d{num.name}/d{den.name}" if order == 1 else f"d^{order}{num.name}/d{den.name}^{order}"

    def _pretty(self, printer):
        from sympy.printing.pretty.stringpict import prettyForm

        num, den, order = self.args
        power = "" if order == 1 else str(order)
        top = prettyForm(f"∂{power}{num.name}")
        bottom = prettyForm(f"∂{den.name}" + (f"^{order}" if power else ""))
        return prettyForm(*top.below("─" * max(top.width(), bottom.width()), bottom))


class Diag(MatrixExpr):
    """``diag(v)`` of a column vector ``v`` (n x 1), an n x n matrix.

    >>> import sympy as sp
    >>> p = sp.MatrixSymbol("p", 3, 1)
    >>> sp.latex(Diag(p) - p * p.T)
    '\\\\operatorname{diag}\\\\left(p\\\\right) - p p^{T}'
    """

    def __new__(cls, vector: MatrixExpr) -> Diag:
        return super().__new__(cls, vector)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        rows = self.args[0].shape[0]
        return (rows, rows)

    def _entry(self, i, j, **kwargs):
        return sp.KroneckerDelta(i, j) * self.args[0][i, 0]

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\operatorname{diag}\left(%s\right)" % printer._print(self.args[0])

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return "diag(%s)" % printer._print(self.args[0])

    def _pretty(self, printer):
        return _pretty_call(printer, "diag", self.args[0])


class RowSum(MatrixExpr):
    """``rowsum(X)``: each row's sum, broadcast along the row (``X 1 1^T``, the shape of ``X``).

    >>> import sympy as sp
    >>> X = sp.MatrixSymbol("X", 2, 3)
    >>> RowSum(X).shape
    (2, 3)
    """

    def __new__(cls, matrix: MatrixExpr) -> RowSum:
        return super().__new__(cls, matrix)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        return sp.Add(*_row_entries(self.args[0], i))

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\operatorname{rowsum}\left(%s\right)" % printer._print(self.args[0])

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return "rowsum(%s)" % printer._print(self.args[0])

    def _pretty(self, printer):
        return _pretty_call(printer, "rowsum", self.args[0])


class Softmax(MatrixExpr):
    """Row-wise ``softmax(X)`` (same shape as ``X``).

    >>> import sympy as sp
    >>> sp.latex(Softmax(sp.MatrixSymbol("S", 2, 2)))
    '\\\\operatorname{softmax}\\\\left(S\\\\right)'
    """

    def __new__(cls, matrix: MatrixExpr) -> Softmax:
        return super().__new__(cls, matrix)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    @integer_indices
    def _entry(self, i, j, **kwargs):
        from .atoms import Exp

        exps = [Exp(x) for x in _row_entries(self.args[0], i)]  # Exp(-oo) is 0: a masked score
        return exps[j] / sp.Add(*exps)

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\operatorname{softmax}\left(%s\right)" % printer._print(self.args[0])

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return "softmax(%s)" % printer._print(self.args[0])

    def _pretty(self, printer):
        return _pretty_call(printer, "softmax", self.args[0])


class Indicator(MatrixExpr):
    """``1[X > 0]``: the 0/1 matrix of positive entries (the ReLU derivative, 0 chosen at the kink).

    >>> import sympy as sp
    >>> sp.latex(Indicator(sp.MatrixSymbol("H", 2, 2)))
    '\\\\mathbb{1}\\\\left[H > 0\\\\right]'
    """

    def __new__(cls, matrix: MatrixExpr) -> Indicator:
        return super().__new__(cls, matrix)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        from .atoms import Step

        return Step(self.args[0][i, j])

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\mathbb{1}\left[%s > 0\right]" % printer._print(self.args[0])

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return "1[%s > 0]" % printer._print(self.args[0])

    def _pretty(self, printer):
        from sympy.printing.pretty.stringpict import prettyForm

        form = printer._print(self.args[0])
        form = prettyForm(*form.right(" > 0"))
        form = prettyForm(*form.parens("[", "]"))
        return prettyForm(*form.left("1"))
