"""The building blocks of every forward computation: entries as SymPy symbols, and opaque functions.

Entrywise proofs end in a zero test: derived gradient minus claimed closed form must reduce
to ``0``. That test is fast and predictable when both sides are rational functions of a few
atoms. So ``exp`` and ``sqrt`` are kept as opaque functions here (:class:`Exp`, :class:`Sqrt`)
that know exactly one fact each, their derivative (``Exp' = Exp``, ``Sqrt'(x) = 1/(2 Sqrt(x))``).
SymPy's chain rule does the rest. SymPy's own ``exp`` would merge ``exp(a)*exp(b)`` into
``exp(a + b)`` and ``sqrt(v)*sqrt(v)`` into ``v``, so the same quantity would show up in
several shapes and the zero test would need ``simplify``, which is slow and unbounded
(PITFALLS.md). Identities that *need* ``exp(a + b) = exp(a) exp(b)`` are out of reach of the
rational test; they fall back to a numeric check and are labelled ``numeric``, never ``proved``.

Both functions evaluate numerically (``evalf``) and print as the usual ``e^{x}`` and ``\\sqrt{x}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

__all__ = [
    "Exp", "Sqrt", "Relu", "Step", "MaxOf", "IsMax", "sigmoid", "matrix", "vector", "scalar", "to_sympy_functions",
]


class Exp(sp.Function):
    """``exp`` as an opaque atom whose derivative is itself.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> sp.diff(Exp(2 * x), x) == 2 * Exp(2 * x)
    True
    """

    @classmethod
    def eval(cls, argument: sp.Expr) -> sp.Expr | None:
        # A masked score is -inf; its weight in a softmax is exactly 0.
        return sp.S.Zero if argument is sp.S.NegativeInfinity else None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return self

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return sp.exp(self.args[0])._eval_evalf(prec)

    def _eval_is_positive(self) -> bool | None:
        return True if self.args[0].is_extended_real else None

    def _latex(self, printer: sp.printing.latex.LatexPrinter, exp: str | None = None) -> str:
        tex = r"e^{%s}" % printer._print(self.args[0])
        return r"\left(%s\right)^{%s}" % (tex, exp) if exp else tex

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return "exp(%s)" % printer._print(self.args[0])

    def _pretty(self, printer):
        return printer._print(sp.exp(self.args[0], evaluate=False))


class Sqrt(sp.Function):
    """``sqrt`` as an opaque atom with ``d/dx Sqrt(x) = 1 / (2 Sqrt(x))``.

    >>> import sympy as sp
    >>> v = sp.Symbol("v", positive=True)
    >>> sp.diff(Sqrt(v), v) == 1 / (2 * Sqrt(v))
    True
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return 1 / (2 * self)

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return sp.sqrt(self.args[0])._eval_evalf(prec)

    def _eval_is_positive(self) -> bool | None:
        return True if self.args[0].is_positive else None

    def _latex(self, printer: sp.printing.latex.LatexPrinter, exp: str | None = None) -> str:
        tex = r"\sqrt{%s}" % printer._print(self.args[0])
        return r"\left(%s\right)^{%s}" % (tex, exp) if exp else tex

    def _sympystr(self, printer: sp.printing.str.StrPrinter) -> str:
        return "sqrt(%s)" % printer._print(self.args[0])

    def _pretty(self, printer):
        return printer._print(sp.sqrt(self.args[0], evaluate=False))


class Step(sp.Function):
    """``1[x > 0]``, opaque: the derivative of :class:`Relu` by convention (0 at the kink, as PyTorch).

    >>> import sympy as sp
    >>> Step(sp.Symbol("x")).diff(sp.Symbol("x"))
    0
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero  # constant off the kink; the kink itself is a convention

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        value = self.args[0].evalf(prec)
        return (sp.S.One if value > 0 else sp.S.Zero) if value.is_number and value.is_real else None

    def _latex(self, printer: sp.printing.latex.LatexPrinter, exp: str | None = None) -> str:
        tex = r"\mathbb{1}\left[%s > 0\right]" % printer._print(self.args[0])
        return r"%s^{%s}" % (tex, exp) if exp else tex


class Relu(sp.Function):
    """``max(0, x)``, opaque, with ``Relu' = Step``.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> sp.diff(Relu(2 * x), x)
    2*Step(2*x)
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return Step(self.args[0])

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        value = self.args[0].evalf(prec)
        return sp.Max(0, value) if value.is_number and value.is_real else None

    def _latex(self, printer: sp.printing.latex.LatexPrinter, exp: str | None = None) -> str:
        tex = r"\operatorname{relu}\left(%s\right)" % printer._print(self.args[0])
        return r"%s^{%s}" % (tex, exp) if exp else tex


class IsMax(sp.Function):
    """``IsMax(a, x_0, ..., x_m)``: 1 when ``x_a`` is the (first) maximum of the ``x``, else 0; opaque.

    >>> import sympy as sp
    >>> IsMax(0, *sp.symbols("x y")).diff(sp.Symbol("x"))
    0
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero  # locally constant wherever the maximum is strict

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        values = [a.evalf(prec) for a in self.args[1:]]
        if not all(v.is_number and v.is_real for v in values):
            return None
        first = max(range(len(values)), key=lambda k: (values[k], -k))  # the first maximum
        return sp.S.One if first == int(self.args[0]) else sp.S.Zero


class MaxOf(sp.Function):
    """The maximum of its arguments, opaque: ``d max / d x_a = IsMax(a, x...)`` (first maximum at ties).

    >>> import sympy as sp
    >>> x, y = sp.symbols("x y", real=True)
    >>> sp.diff(MaxOf(x, y), y)
    IsMax(1, x, y)
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return IsMax(argindex - 1, *self.args)

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        values = [a.evalf(prec) for a in self.args]
        return sp.Max(*values) if all(v.is_number and v.is_real for v in values) else None


def to_sympy_functions(expr: sp.Basic) -> sp.Basic:
    """Replace the opaque atoms by SymPy's ``exp`` and ``sqrt`` (for printing code or evaluating).

    >>> import sympy as sp
    >>> to_sympy_functions(Exp(sp.Symbol("x")))
    exp(x)
    """
    return expr.replace(Exp, sp.exp).replace(Sqrt, sp.sqrt)


def sigmoid(x: sp.Expr) -> sp.Expr:
    """The logistic function ``1 / (1 + e^{-x})`` written with :class:`Exp`.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> s = sigmoid(x)
    >>> sp.cancel(sp.diff(s, x) - s * (1 - s))
    0
    """
    return 1 / (1 + Exp(-x))


def _entry_name(name: str, indices: Sequence[int]) -> str:
    """``W_12`` for row 1, column 2 (1-based); ``W_{10,2}`` once an index has two digits."""
    numbers = [str(i + 1) for i in indices]
    if all(len(number) == 1 for number in numbers):
        return f"{name}_{''.join(numbers)}"
    return f"{name}_{{{','.join(numbers)}}}"


def matrix(name: str, rows: int, cols: int, **assumptions: bool) -> sp.Matrix:
    """A ``rows x cols`` matrix of fresh symbols ``name_ij`` (1-based, as the lecture writes them).

    >>> matrix("W", 2, 2)
    Matrix([
    [W_11, W_12],
    [W_21, W_22]])
    """
    assumptions = assumptions or {"real": True}
    return sp.Matrix(
        rows,
        cols,
        lambda i, j: sp.Symbol(_entry_name(name, (i, j)), **assumptions),
    )


def vector(name: str, size: int, **assumptions: bool) -> sp.Matrix:
    """A column of fresh symbols ``name_i`` (1-based).

    >>> vector("z", 3).T
    Matrix([[z_1, z_2, z_3]])
    """
    assumptions = assumptions or {"real": True}
    return sp.Matrix(size, 1, lambda i, _: sp.Symbol(_entry_name(name, (i,)), **assumptions))


def scalar(name: str, **assumptions: bool) -> sp.Symbol:
    """One fresh symbol (real unless told otherwise).

    >>> scalar("eta", positive=True).is_positive
    True
    """
    assumptions = assumptions or {"real": True}
    return sp.Symbol(name, **assumptions)
