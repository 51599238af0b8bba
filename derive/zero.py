"""The one zero test every proof ends in: a rational-function identity over opaque atoms.

``rational_residual(expr)`` replaces every non-rational building block by a fresh positive
symbol (``exp``/``Exp`` of the same argument by the same symbol, with integer multiples of an
argument as powers, so ``e^{-x}`` and ``e^{x}`` stay related; ``sqrt``/``Sqrt`` and sums that
are not linear by symbols of their own), puts the result over one denominator and expands the
numerator. A numerator that expands to ``0`` proves the expression is ``0`` wherever it is
defined. Anything else is returned as the residual: not a disproof, just not a proof.
"""

from __future__ import annotations

import sympy as sp

from .atoms import Exp, Sqrt

__all__ = ["rational_residual"]


class _Atoms:
    def __init__(self) -> None:
        self.symbols: dict[sp.Basic, sp.Dummy] = {}

    def symbol(self, key: sp.Basic) -> sp.Dummy:
        if key not in self.symbols:
            self.symbols[key] = sp.Dummy(f"a{len(self.symbols)}", positive=True)
        return self.symbols[key]

    def exponential(self, argument: sp.Expr) -> sp.Expr:
        factors = []
        for term in sp.Add.make_args(sp.expand(argument)):
            coefficient, rest = term.as_coeff_Mul()
            if coefficient.is_Integer:
                factors.append(self.symbol(rest) ** coefficient)
            else:
                factors.append(self.symbol(term))
        return sp.Mul(*factors)


def rational_residual(expr: sp.Expr) -> sp.Expr:
    """Zero exactly when the rational test proves ``expr == 0``.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> s = 1 / (1 + sp.exp(-x))
    >>> rational_residual(sp.diff(s, x) - s * (1 - s))
    0
    >>> rational_residual(sp.exp(x) * sp.exp(-x) - 1)
    0
    >>> rational_residual(sp.diff(s, x) - s) == 0
    False
    """
    if expr == 0:
        return sp.S.Zero
    atoms = _Atoms()
    if expr.has(sp.log):
        expr = sp.expand_log(expr, force=True)
    # Sums first (their summands may hold exponentials), then the exponentials and roots.
    expr = expr.replace(lambda e: isinstance(e, (sp.Sum, sp.Product)), atoms.symbol)
    expr = expr.replace(lambda e: isinstance(e, (sp.exp, Exp)), lambda e: atoms.exponential(e.args[0]))
    expr = expr.replace(lambda e: isinstance(e, Sqrt), atoms.symbol)
    numerator, _ = sp.fraction(sp.together(expr))
    return sp.expand(numerator)
