"""The one zero test every proof ends in: a rational-function identity over opaque atoms.

``rational_residual(expr)`` replaces every non-rational building block by a fresh symbol (``exp``/``Exp`` of the same argument by the same symbol, with integer multiples of an
argument as powers, so ``e^{-x}`` and ``e^{x}`` stay related; ``sqrt``/``Sqrt`` and sums that
are not linear by symbols of their own), puts the result over one denominator and expands the
numerator. A numerator that expands to ``0`` proves the expression is ``0`` wherever it is
defined. Anything else is returned as the residual: not a disproof, just not a proof.
"""

from __future__ import annotations

import sympy as sp

from .atoms import Exp, Sqrt
from .grouped import evaluated, exponential_terms, vanishing

__all__ = ["expression_residual", "rational_residual"]


class _Atoms:
    def __init__(self) -> None:
        self.symbols: dict[tuple[str, sp.Basic], sp.Dummy] = {}

    def symbol(self, key: sp.Basic, kind: str = "atom") -> sp.Dummy:
        # The kind keeps namespaces apart: exp(s) and s itself must not share a symbol.
        tagged = (kind, key)
        if tagged not in self.symbols:
            # No assumptions: a positive symbol would let SymPy drop Abs, Heaviside or Max around it.
            self.symbols[tagged] = sp.Dummy(f"a{len(self.symbols)}")
        return self.symbols[tagged]

    def exponential(self, argument: sp.Expr) -> sp.Expr:
        return sp.Mul(*[self.symbol(rest, "exp") ** power for power, rest in exponential_terms(argument)])


def rational_residual(expr: sp.Expr) -> sp.Expr:
    """Zero exactly when the rational test proves ``expr == 0``.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> s = 1 / (1 + sp.exp(-x))
    >>> rational_residual(sp.diff(s, x) - s * (1 - s))
    0
    >>> rational_residual(sp.exp(x) * sp.exp(-x) - 1)
    0
    >>> rational_residual(x - x / (1 + x)) == 0
    False
    >>> rational_residual(Exp(Sqrt(x**2 + 1)) - Sqrt(x**2 + 1)) == 0
    False
    >>> n, i = sp.Symbol("n", integer=True), sp.Symbol("i", integer=True)
    >>> total = sp.Sum(sp.IndexedBase("v")[i], (i, 1, n))  # any sign: no positivity assumed
    >>> rational_residual(sp.Heaviside(total) - 1) == 0, rational_residual(sp.Abs(total) - total) == 0
    (False, False)
    >>> y = sp.Symbol("y", real=True)
    >>> rational_residual(sp.log(x * y) - sp.log(x) - sp.log(y)) == 0  # false at x = y = -1
    False
    >>> rational_residual(sp.diff(s, x) - s) == 0
    False
    >>> rational_residual(sp.sin(x + 1) ** 2 + sp.cos(x + 1) ** 2 - 1)
    0
    """
    if expr == 0 or vanishing([expr])[0]:
        return sp.S.Zero
    return expression_residual(expr)


def expression_residual(expr: sp.Expr) -> sp.Expr:
    """The expression route alone: SymPy's ``expand`` and ``together`` on the whole tree.

    Slower than ``grouped.py``'s polynomials, but it also rewrites logarithms and angle sums;
    a non-zero return value is the residual numerator.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> expression_residual(sp.Derivative(x**2, x) - 2 * x), expression_residual(x - 1)
    (0, x - 1)
    """
    expr = evaluated(expr)
    if expr == 0:
        return sp.S.Zero
    atoms = _Atoms()
    if expr.has(sp.log):
        # Only where SymPy knows the arguments are positive: log(xy) = log x + log y is false
        # for x = y = -1, so symbols that need it are declared positive by their topic.
        expr = sp.expand_log(expr)
    if expr.has(sp.sin, sp.cos):
        expr = _trig_polynomial(expr)
    # Sums first (their summands may hold exponentials), then the exponentials and roots.
    expr = expr.replace(lambda e: isinstance(e, (sp.Sum, sp.Product)), lambda e: atoms.symbol(e, "sum"))
    expr = expr.replace(lambda e: isinstance(e, (sp.exp, Exp)), lambda e: atoms.exponential(e.args[0]))
    # A root's argument is keyed in expanded form: sqrt((x+y)^2 + 1) is sqrt(x^2 + 2xy + y^2 + 1).
    expr = expr.replace(lambda e: isinstance(e, Sqrt), lambda e: atoms.symbol(sp.expand(e.args[0]), "sqrt"))
    if not any(_is_reciprocal(e) for e in sp.preorder_traversal(expr)):
        return sp.expand(expr)  # a polynomial in the atoms: expansion alone decides
    if not _nested_fraction(expr) and _groups_vanish(expr):
        return sp.S.Zero
    numerator, _ = sp.fraction(sp.together(expr))
    return sp.expand(numerator)


def _base_key(factor: sp.Expr) -> sp.Expr:
    """A denominator factor up to its power and a constant: ``2a + 2b`` and ``(a + b)^2`` key as ``a + b``."""
    base = factor.as_base_exp()[0]
    primitive = base.as_content_primitive()[1]
    return -primitive if primitive.could_extract_minus_sign() else primitive


def _trig_polynomial(expr: sp.Expr) -> sp.Expr:
    """Angle sums split (``sin(a + b) -> sin a cos b + cos a sin b``) and ``cos^2 -> 1 - sin^2``,
    so that trigonometric identities become polynomial identities in sines and cosines."""
    expr = sp.expand(sp.expand_trig(sp.expand(expr)))
    expr = expr.replace(
        lambda e: e.is_Pow and isinstance(e.base, sp.cos) and e.exp.is_Integer and e.exp >= 2,
        lambda e: (1 - sp.sin(e.base.args[0]) ** 2) ** (e.exp // 2) * e.base ** (e.exp % 2),
    )
    return sp.expand(expr)


def _is_reciprocal(e: sp.Basic) -> bool:
    return e.is_Pow and e.exp.is_negative


def _nested_fraction(expr: sp.Expr) -> bool:
    """A denominator that itself holds a fraction (a sigmoid of a sigmoid): expanding those
    term by term explodes, while one ``together`` stays small."""
    return any(
        any(_is_reciprocal(inner) for inner in sp.preorder_traversal(e.base) if inner is not e.base)
        for e in sp.preorder_traversal(expr)
        if _is_reciprocal(e)
    )


def _groups_vanish(expr: sp.Expr) -> bool:
    """Terms grouped by the factors of their denominators, each group over its own denominator.

    A sum like attention's gradient has one softmax denominator per row; putting every row over
    one common denominator multiplies them together and the numerator explodes. When each
    group vanishes on its own, the whole does (a sufficient test; ``together`` is the fallback).
    Numerators of different groups must never be added up: ``p - p/q`` is not zero.
    """
    groups: dict[frozenset, list[sp.Expr]] = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        _, denominator = sp.fraction(term)
        bases = frozenset(_base_key(f) for f in sp.Mul.make_args(denominator) if not f.is_number)
        groups.setdefault(bases, []).append(term)
    for terms in groups.values():
        numerator, _ = sp.fraction(sp.together(sp.Add(*terms)))
        if sp.expand(numerator) != 0:
            return False
    return True
