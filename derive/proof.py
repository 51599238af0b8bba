"""Checking one claim: reduce ``derived - claimed`` to zero, or find where it is not zero.

The zero test is deliberately narrow (see PITFALLS.md): opaque atoms (``Exp``, ``Sqrt``) are
treated as independent unknowns, logs are split only where their arguments are positive, and
a rational function whose numerator is the zero polynomial is a proof; no ``simplify``, no
timeouts to tune. A matrix goes first through ``grouped.py`` (sparse polynomials, derivatives
taken there), and entries it does not prove through ``zero.py`` (SymPy's ``diff``, ``together``
and ``expand``). When neither proves an entry, the difference is evaluated at random points
with 30 significant digits: a clear non-zero value is a counterexample (``failed``), agreement
everywhere is only ``numeric``."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import sympy as sp

from .grouped import equal_entries, evaluated
from .indexcalc import index_zero
from .types import Status
from .zero import expression_residual, rational_residual

__all__ = ["Comparison", "combine", "compare_matrices", "compare_numerically", "index_status", "reduce_entry"]

_NUMERIC_POINTS = 3
_DIGITS = 30
_RELATIVE_GAP = sp.Float("1e-15")


def reduce_entry(expr: sp.Expr) -> sp.Expr:
    """Reduce one entrywise difference; a return value of ``0`` proves the entry.

    >>> import sympy as sp
    >>> from derive.atoms import Exp
    >>> x = sp.Symbol("x", real=True)
    >>> s = 1 / (1 + Exp(-x))
    >>> reduce_entry(sp.diff(s, x) - s * (1 - s))
    0
    >>> reduce_entry(sp.diff(s, x) + s * (1 - s)) == 0
    False
    """
    return rational_residual(expr)


def _sample(symbol: sp.Symbol, rng: random.Random) -> sp.Rational:
    low, high = (1, 20) if symbol.is_positive else (-20, 20)
    value = rng.randint(low, high)
    if not symbol.is_positive and value == 0:
        value = 7
    return sp.Rational(value, 10)


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two matrices entry by entry at one size."""

    kind: str  # "proved", "numeric" or "failed"
    detail: str = ""


def compare_matrices(
    derived: sp.Matrix, claimed: sp.Matrix, seed: int = 0, where: str = ""
) -> Comparison:
    """Prove ``derived == claimed`` entry by entry, or show an entry and a point where they differ.

    >>> import sympy as sp
    >>> x, y = sp.symbols("x y", real=True)
    >>> f = x**2 * y
    >>> grad = sp.Matrix([sp.diff(f, x), sp.diff(f, y)])
    >>> compare_matrices(grad, sp.Matrix([2 * x * y, x**2])).kind
    'proved'
    >>> compare_matrices(grad, sp.Matrix([2 * x * y, -x**2])).kind
    'failed'
    """
    if derived.shape != claimed.shape:
        return Comparison("failed", f"{where}shape {claimed.shape} claimed, {derived.shape} derived")
    rng = random.Random(seed)
    numeric = False
    # One field for the whole matrix: the scalar every entry differentiates is converted once.
    proved = equal_entries(list(derived), list(claimed))  # row by row, as the indices below
    for index in range(derived.rows * derived.cols):
        row, col = divmod(index, derived.cols)
        if proved[index] or expression_residual(derived[row, col] - claimed[row, col]) == 0:
            continue
        gap = _numeric_gap(derived[row, col], claimed[row, col], rng)
        if gap is not None:
            return Comparison("failed", f"{where}entry ({row + 1},{col + 1}): {gap}")
        numeric = True
    return Comparison("numeric" if numeric else "proved")


def compare_numerically(derived: sp.Matrix, claimed: sp.Matrix, seed: int = 0, where: str = "") -> Comparison:
    """Only the numeric half of :func:`compare_matrices`: ``numeric`` at best, never ``proved``.

    For expressions too large for the zero test; a gap at 30 digits is still a disproof.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> compare_numerically(sp.Matrix([2 * x]), sp.Matrix([x + x])).kind
    'numeric'
    >>> compare_numerically(sp.Matrix([2 * x]), sp.Matrix([3 * x])).kind
    'failed'
    """
    if derived.shape != claimed.shape:
        return Comparison("failed", f"{where}shape {claimed.shape} claimed, {derived.shape} derived")
    rng = random.Random(seed)
    for index in range(derived.rows * derived.cols):
        row, col = divmod(index, derived.cols)
        gap = _numeric_gap(derived[row, col], claimed[row, col], rng)
        if gap is not None:
            return Comparison("failed", f"{where}entry ({row + 1},{col + 1}): {gap}")
    return Comparison("numeric")


def concrete_functions(expr: sp.Expr) -> sp.Expr:
    """Undefined functions (an arbitrary activation ``f``) replaced by one smooth function, so
    that an identity claimed for every ``f`` can be evaluated: a gap for this ``f`` disproves it.

    >>> import sympy as sp
    >>> f, x = sp.Function("f"), sp.Symbol("x")
    >>> concrete_functions(sp.diff(f(2 * x), x))
    8/3 - 2*tanh(2*x)**2
    """
    from sympy.core.function import AppliedUndef

    functions = {a.func for a in expr.atoms(AppliedUndef)}
    if not functions:
        return expr
    u = sp.Dummy("u")
    for function in functions:
        expr = expr.subs(function, sp.Lambda(u, sp.tanh(u) + u / 3))
    return expr.doit()


def _numeric_gap(derived: sp.Expr, claimed: sp.Expr, rng: random.Random) -> str | None:
    derived, claimed = concrete_functions(evaluated(derived)), concrete_functions(evaluated(claimed))
    symbols = sorted(derived.free_symbols | claimed.free_symbols, key=lambda s: s.name)
    for _ in range(_NUMERIC_POINTS):
        point = {s: _sample(s, rng) for s in symbols}
        d_value = sp.N(derived.xreplace(point), _DIGITS)
        c_value = sp.N(claimed.xreplace(point), _DIGITS)
        if not (d_value.is_number and c_value.is_number):
            return f"could not evaluate at {point}"
        if not (d_value.is_finite and c_value.is_finite):
            return f"not a finite number (derived {d_value}, claimed {c_value}) at {point}"
        scale = 1 + abs(d_value) + abs(c_value)
        if abs(d_value - c_value) > _RELATIVE_GAP * scale:
            shown = ", ".join(f"{s}={v}" for s, v in point.items())
            return (
                f"derived {sp.N(d_value, 8)} but claimed {sp.N(c_value, 8)} at {shown or 'any point'}"
            )
    return None


def index_status(derived: sp.Basic, claimed: sp.Basic, assume: Callable[[sp.Expr], sp.Expr] | None) -> bool:
    """True when the index-form difference reduces to 0 (after the stated assumption, if any).

    Both sides may be matrices (a claim about a pair of entries); then every entry must reduce.

    >>> import sympy as sp
    >>> n = sp.Symbol("n", integer=True, positive=True)
    >>> i, j = sp.symbols("i j", integer=True)
    >>> w, x = sp.IndexedBase("w"), sp.IndexedBase("x")
    >>> index_status(sp.diff(sp.Sum(w[i] * x[i], (i, 0, n - 1)), w[j]), x[j], None)
    True
    """
    if isinstance(derived, sp.MatrixBase) or isinstance(claimed, sp.MatrixBase):
        difference = sp.Matrix(derived) - sp.Matrix(claimed)
        return all(index_zero(entry, assume) == 0 for entry in difference)
    return index_zero(derived - claimed, assume) == 0


def combine(
    per_size: Iterable[tuple[Mapping[str, int], Comparison]], index_proved: bool | None
) -> Status:
    """One status from the per-size comparisons and the index-form proof (if there is one).

    >>> combine([({"n": 1}, Comparison("proved")), ({"n": 2}, Comparison("proved"))], None).label
    'proved n<=2'
    >>> combine([({"n": 1}, Comparison("proved"))], True).label
    'proved'
    """
    grid: list[Mapping[str, int]] = []
    numeric = False
    for sizes, comparison in per_size:
        grid.append(sizes)
        if comparison.kind == "failed":
            shown = ", ".join(f"{k}={v}" for k, v in sizes.items())
            return Status("failed", tuple(grid), f"at {shown}: {comparison.detail}")
        numeric = numeric or comparison.kind == "numeric"
    if index_proved:
        return Status("proved", tuple(grid), "index form at symbolic sizes; entrywise too")
    unreduced = "; the index form did not reduce to 0 at symbolic size" if index_proved is False else ""
    if numeric:
        return Status("numeric", tuple(grid), "no symbolic reduction; agreed at random points" + unreduced)
    return Status("proved_sizes", tuple(grid), "entrywise at every listed size" + unreduced)
