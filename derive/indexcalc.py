"""Index calculus at symbolic sizes: collapse Kronecker deltas inside sums and test for zero.

``sympy.diff`` of a sum over ``Indexed`` entries leaves ``KroneckerDelta`` factors inside
``Sum``; ``simplify`` on those crashes and ``doit`` wraps the answer in ``Piecewise`` (see
PITFALLS.md). The rules here are the small, predictable alternative:

* ``Sum(f(i) * KroneckerDelta(i, j), (i, a, b)) -> f(j)``, valid when ``a <= j <= b``; every
  free index that is differentiated against is assumed to lie in range, and callers say so.
* factors that do not depend on the summation index move out of the sum, and a sum of terms
  becomes a sum of sums, so equal sums meet and cancel;
* bound indices are renamed canonically, so ``Sum(y[i], i)`` and ``Sum(y[k], k)`` are equal.

What is *not* handled (left uncollapsed, so never proved by mistake): deltas whose argument is
a non-trivial function of the bound index (``KroneckerDelta(i + a, c)``), deltas against an
index bound by an enclosing sum or appearing in the limits, and expressions in which one name
is both bound and free.

``collapse_in_ranges`` is the variant that assumes nothing: a delta whose argument is
``index + offset`` collapses to ``f(value) * Between(value, lower, upper)``, an explicit
indicator that the value lies in the summation range, and an indicator is dropped only where the
stated ranges of the free indices prove it equal to 1 (VJP rules at symbolic shapes, with
offsets: convolution, concatenation).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .zero import rational_residual

__all__ = ["Between", "collapse_deltas", "collapse_in_ranges", "canonical_sums", "index_zero", "index_diff",
           "sum_over_permutation"]


def index_diff(expr: sp.Expr, entry: sp.Indexed | sp.Symbol) -> sp.Expr:
    """``sympy.diff(expr, entry)``, refused when an index of ``entry`` is also bound in ``expr``:
    SymPy then returns the sum itself (``d/dz[k] Sum(e^{z[k]}, k)`` comes back as the sum).

    >>> import sympy as sp
    >>> n, k, j = sp.Symbol("n", integer=True), sp.Symbol("k", integer=True), sp.Symbol("j", integer=True)
    >>> z = sp.IndexedBase("z")
    >>> index_diff(sp.Sum(z[k] ** 2, (k, 1, n)), z[j]).has(sp.KroneckerDelta)
    True
    >>> index_diff(sp.Sum(z[k] ** 2, (k, 1, n)), z[k])
    Traceback (most recent call last):
    ...
    derive.errors.GradproofError: cannot differentiate against z[k]: k is also a summation index
    """
    from .errors import GradproofError

    clash = set(getattr(entry, "indices", (entry,))) & _bound_symbols(expr)
    if clash:
        names = ", ".join(sorted(str(s) for s in clash))
        raise GradproofError(f"cannot differentiate against {entry}: {names} is also a summation index")
    return sp.diff(expr, entry)


def sum_over_permutation(expr: sp.Expr, permutation: sp.FunctionClass, lower: sp.Expr, upper: sp.Expr) -> sp.Expr:
    """Each sum over the whole range ``lower..upper`` whose index k appears only as ``permutation(k)``, summed
    over k instead: a permutation of the range only reorders the terms of such a sum (the lemma an
    equivariance proof rests on). A sum over another range, or with k also outside ``permutation(k)``, is
    left as it is.

    >>> import sympy as sp
    >>> n, k, i = sp.Symbol("n", integer=True, positive=True), sp.Symbol("k", integer=True), sp.Symbol("i", integer=True)
    >>> x, pi = sp.IndexedBase("x"), sp.Function("pi")
    >>> sum_over_permutation(sp.Sum(x[pi(k)] ** 2, (k, 1, n)), pi, 1, n)
    Sum(x[k]**2, (k, 1, n))
    >>> sum_over_permutation(sp.Sum(x[pi(k)] * k, (k, 1, n)), pi, 1, n)  # k outside pi(k): not a reordering
    Sum(k*x[pi(k)], (k, 1, n))
    >>> sum_over_permutation(sp.Sum(x[pi(k)], (k, 1, i)), pi, 1, n)  # not the whole range
    Sum(x[pi(k)], (k, 1, i))
    >>> inner = sp.Sum(x[pi(k)], (k, 1, i))  # binds k again, over 1..i: no reordering of it
    >>> sum_over_permutation(sp.Sum(x[pi(k)] * inner, (k, 1, n)), pi, 1, n) == sp.Sum(x[pi(k)] * inner, (k, 1, n))
    True
    """
    def reordered(e: sp.Basic) -> bool:
        if not isinstance(e, sp.Sum) or len(e.limits) != 1:
            return False
        index, low, high = e.limits[0]
        if (low, high) != (lower, upper) or not e.function.has(permutation(index)) or index in _bound_symbols(e.function):
            return False  # an inner sum binding the same letter: renaming would reach into it
        return index not in e.function.xreplace({permutation(index): sp.Dummy()}).free_symbols

    return expr.replace(reordered, lambda e: sp.Sum(e.function.xreplace({permutation(e.limits[0][0]): e.limits[0][0]}),
                                                    e.limits[0]))


def _bound_symbols(expr: sp.Basic) -> set[sp.Symbol]:
    return {limit[0] for e in sp.preorder_traversal(expr) if isinstance(e, sp.Sum) for limit in e.limits}


def _fresh_bound(expr: sp.Basic) -> sp.Basic:
    """Every index bound inside ``expr`` renamed to a fresh symbol, so a substitution cannot be
    captured by an inner sum (``i -> j`` under ``Sum(..., (j, ...))``)."""
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    if isinstance(expr, sp.Sum):
        function, limits = expr.function, []
        renames: dict[sp.Symbol, sp.Symbol] = {}
        for index, lower, upper in expr.limits:
            fresh = sp.Dummy(index.name, integer=True)
            renames[index] = fresh
            limits.append((fresh, lower.xreplace(renames), upper.xreplace(renames)))
        return sp.Sum(_fresh_bound(function.xreplace(renames)), *limits)
    return expr.func(*[_fresh_bound(a) for a in expr.args])


def _split_sum(
    summand: sp.Expr, index: sp.Symbol, lower: sp.Expr, upper: sp.Expr, enclosing: frozenset
) -> sp.Expr:
    """One sum, after its summand has been collapsed: deltas resolved, constants pulled out.

    ``KroneckerDelta(index, j)`` collapses only when ``j`` is a free index: not bound by an
    enclosing sum (its range could differ) and not a symbol of this sum's limits
    (``KroneckerDelta(i, n)`` over ``i < n`` is 0, not ``f(n)``). A free ``j`` is assumed to lie
    in ``[lower, upper]``: it is the index a derivative was taken against.
    """
    total = sp.S.Zero
    blocked = enclosing | lower.free_symbols | upper.free_symbols
    for term in sp.Add.make_args(sp.expand(sp.expand_log(summand))):
        factors = sp.Mul.make_args(term)
        delta = next(
            (f for f in factors if isinstance(f, sp.KroneckerDelta) and index in f.free_symbols),
            None,
        )
        if delta is not None:
            a, b = delta.args
            other = b if a == index else a
            if (a == index or b == index) and other.is_Symbol and other != index and other not in blocked:
                total += _fresh_bound(term / delta).subs(index, other)
                continue
        constant = sp.Mul(*[f for f in factors if index not in f.free_symbols])
        varying = sp.Mul(*[f for f in factors if index in f.free_symbols])
        if varying == 1:
            total += constant * (upper - lower + 1)
        else:
            total += constant * sp.Sum(varying, (index, lower, upper))
    return total


def collapse_deltas(expr: sp.Expr, enclosing: frozenset = frozenset()) -> sp.Expr:
    """Resolve ``KroneckerDelta`` factors against the sums that bind them.

    >>> import sympy as sp
    >>> n = sp.Symbol("n", integer=True, positive=True)
    >>> i, j = sp.symbols("i j", integer=True)
    >>> x = sp.IndexedBase("x")
    >>> collapse_deltas(sp.Sum(x[i] * sp.KroneckerDelta(i, j), (i, 0, n - 1)))
    x[j]
    >>> collapse_deltas(sp.Sum(x[i] * sp.KroneckerDelta(i, n), (i, 0, n - 1))) == x[n]
    False
    """
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    if isinstance(expr, sp.Sum):
        own = frozenset(limit[0] for limit in expr.limits)
        summand = collapse_deltas(expr.function, enclosing | own)
        result = summand
        # Innermost limit first: Sum(f, (i, ..), (k, ..)) sums over i innermost; the outer
        # limits' indices are still bound while the inner ones are resolved.
        for position, (index, lower, upper) in enumerate(expr.limits):
            still_bound = frozenset(limit[0] for limit in expr.limits[position + 1:])
            result = _split_sum(result, index, lower, upper, enclosing | still_bound)
        return result
    return expr.func(*[collapse_deltas(a, enclosing) for a in expr.args])


def canonical_sums(expr: sp.Expr, depth: int = 0) -> sp.Expr:
    """Rename every bound index by nesting depth, so that equal sums compare equal.

    >>> import sympy as sp
    >>> n = sp.Symbol("n", integer=True, positive=True)
    >>> i, k = sp.symbols("i k", integer=True)
    >>> y = sp.IndexedBase("y")
    >>> canonical_sums(sp.Sum(y[i], (i, 0, n - 1))) == canonical_sums(sp.Sum(y[k], (k, 0, n - 1)))
    True

    Indices already named as another level's canonical name are renamed all at once, never merged:

    >>> b0, b1 = sp.Symbol("_bound0", integer=True), sp.Symbol("_bound1", integer=True)
    >>> canonical_sums(sp.Sum(y[b0, b1], (b1, 0, 2), (b0, 0, 3)))
    Sum(y[_bound1, _bound0], (_bound0, 0, 2), (_bound1, 0, 3))
    """
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    if isinstance(expr, sp.Sum):
        function = expr.function
        limits = []
        renames: dict[sp.Symbol, sp.Symbol] = {}
        for level, (index, lower, upper) in enumerate(expr.limits):
            # Bounds may depend on outer-listed indices (a triangular sum): rename there too.
            lower, upper = lower.xreplace(renames), upper.xreplace(renames)
            fresh = sp.Symbol(f"_bound{depth + level}", integer=True)
            renames[index] = fresh
            limits.append((fresh, lower, upper))
        # One simultaneous replacement: renaming one index after another would capture an index
        # already called by the next one's new name (_bound1 -> _bound0, then _bound0 -> _bound1).
        function = function.xreplace(renames)
        inner = canonical_sums(function, depth + len(limits))
        return sp.Sum(inner, *limits)
    return expr.func(*[canonical_sums(a, depth) for a in expr.args])


def _linear_parts(expr: sp.Expr) -> tuple[sp.Expr, dict[tuple, sp.Expr]]:
    """Split ``expr`` into ``rest + sum_g Sum(F_g, limits_g)``: terms linear in one sum go to F_g."""
    rest = sp.S.Zero
    groups: dict[tuple, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(expr, power_exp=False, log=False)):
        factors = sp.Mul.make_args(term)
        sums = [f for f in factors if isinstance(f, sp.Sum)]
        if len(sums) != 1:
            rest += term
            continue
        (total,) = sums
        coefficient = sp.Mul(*[f for f in factors if f is not total])
        bound = {limit[0] for limit in total.limits}
        if coefficient.free_symbols & bound:
            rest += term
            continue
        groups[total.limits] = groups.get(total.limits, sp.S.Zero) + coefficient * total.function
    return rest, groups


def index_zero(expr: sp.Expr, assume: Callable[[sp.Expr], sp.Expr] | None = None) -> sp.Expr:
    """Reduce an index-form difference; the proof holds only when this returns ``0``.

    After the deltas are collapsed and bound indices renamed, sums over the same range are
    merged into one sum of the difference of their summands, and each part must pass the
    rational zero test (``derive.zero``) on its own: a sufficient condition for zero.
    ``assume`` rewrites the canonical form first (e.g. ``Sum(y) -> 1`` for a stated assumption).

    >>> import sympy as sp
    >>> n = sp.Symbol("n", integer=True, positive=True)
    >>> i, j, k = sp.symbols("i j k", integer=True)
    >>> z = sp.IndexedBase("z", real=True)
    >>> L = sp.log(sp.Sum(sp.exp(z[k]), (k, 0, n - 1)))
    >>> softmax_j = sp.exp(z[j]) / sp.Sum(sp.exp(z[i]), (i, 0, n - 1))
    >>> index_zero(sp.diff(L, z[j]) - softmax_j)
    0
    """
    if _bound_symbols(expr) & expr.free_symbols:
        # A name both bound and free (SymPy's diff(Sum(f(k), k), x[k]) captures k): refuse.
        return expr
    reduced = canonical_sums(collapse_deltas(sp.expand_log(expr)))
    if assume is not None:
        reduced = assume(reduced)
    return _zero_by_parts(reduced)


def _zero_by_parts(expr: sp.Expr) -> sp.Expr:
    rest, groups = _linear_parts(expr)
    residual = rational_residual(rest)
    for limits, summand in groups.items():
        part = _zero_by_parts(summand)
        if part != 0:
            residual += sp.Sum(part, *limits)
    return residual


class Between(sp.Function):
    """``1`` when the integer ``x`` lies in ``[lower, upper]``, else ``0``; opaque while symbolic.

    >>> import sympy as sp
    >>> Between(2, 0, 3), Between(4, 0, 3)
    (1, 0)
    >>> Between(sp.Symbol("p", integer=True), 0, 3).is_number
    False
    """

    @classmethod
    def eval(cls, x: sp.Expr, lower: sp.Expr, upper: sp.Expr) -> sp.Expr | None:
        below, above = sp.sympify(x - lower), sp.sympify(upper - x)
        if below.is_negative or above.is_negative:
            return sp.S.Zero
        if below.is_number and above.is_number:
            return sp.S.One
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero  # integer-valued in integer arguments: no derivative against entries

    def _latex(self, printer, exp: str | None = None) -> str:
        x, lower, upper = (printer._print(a) for a in self.args)
        tex = r"\mathbb{1}\left[%s \le %s \le %s\right]" % (lower, x, upper)
        return r"%s^{%s}" % (tex, exp) if exp else tex


Ranges = dict[sp.Symbol, tuple[sp.Expr, sp.Expr]]


def _unit_solution(delta: sp.KroneckerDelta, index: sp.Symbol) -> sp.Expr | None:
    """The value of ``index`` that makes ``delta`` 1, when its argument is ``±index + rest``."""
    difference = sp.expand(delta.args[0] - delta.args[1])
    slope = difference.diff(index)
    rest = sp.expand(difference - slope * index)
    if slope not in (1, -1) or index in rest.free_symbols:
        return None
    return -rest / slope


def _proved_nonnegative(value: sp.Expr, ranges: Ranges) -> bool:
    """``value >= 0`` for every free index in its stated range: the worst case of a linear value
    (each index at the end of its range that lowers it) must be non-negative for every size."""
    value = sp.expand(value)
    worst = value
    for symbol, (lower, upper) in ranges.items():
        slope = value.diff(symbol)
        if slope == 0:
            continue
        if not slope.is_number or value.diff(symbol, 2) != 0:
            return False
        worst = worst.subs(symbol, lower if slope > 0 else upper)
    worst = sp.expand(worst)
    return bool(worst.is_nonnegative) and not (worst.free_symbols & set(ranges))


def _discharge(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """Every ``Between`` that the free indices' ranges prove true replaced by 1."""
    def holds(e: sp.Basic) -> bool:
        x, lower, upper = e.args
        return _proved_nonnegative(x - lower, ranges) and _proved_nonnegative(upper - x, ranges)

    return expr.replace(lambda e: isinstance(e, Between) and holds(e), lambda e: sp.S.One)


def _split_ranged(summand: sp.Expr, index: sp.Symbol, lower: sp.Expr, upper: sp.Expr) -> sp.Expr:
    """One sum of a collapsed summand: ``Sum(f(i) delta(i + c, e))`` becomes ``f(e - c)`` times
    ``Between(e - c, lower, upper)``; constants move out, the rest stays summed."""
    total = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(sp.expand_log(summand))):
        factors = sp.Mul.make_args(term)
        for delta in (f for f in factors if isinstance(f, sp.KroneckerDelta) and index in f.free_symbols):
            value = _unit_solution(delta, index)
            if value is not None:
                total += _fresh_bound(term / delta).subs(index, value) * Between(value, lower, upper)
                break
        else:
            constant = sp.Mul(*[f for f in factors if index not in f.free_symbols])
            varying = sp.Mul(*[f for f in factors if index in f.free_symbols])
            total += constant * (upper - lower + 1) if varying == 1 else constant * sp.Sum(varying, (index, lower, upper))
    return total


def collapse_in_ranges(expr: sp.Expr, ranges: Ranges) -> sp.Expr:
    """Resolve ``KroneckerDelta`` factors with explicit range indicators, then drop those that
    ``ranges`` (each free index's ``(lower, upper)``) prove; nothing is assumed.

    >>> import sympy as sp
    >>> n, k = sp.Symbol("n", integer=True, positive=True), sp.Symbol("k", integer=True, positive=True)
    >>> i, j, a = sp.symbols("i j a", integer=True)
    >>> x = sp.IndexedBase("x")
    >>> collapse_in_ranges(sp.Sum(x[i] * sp.KroneckerDelta(i, j), (i, 0, n - 1)), {j: (0, n - 1)})
    x[j]
    >>> collapse_in_ranges(sp.Sum(x[i] * sp.KroneckerDelta(i, j), (i, 0, n - 1)), {j: (0, n)})
    Between(j, 0, n - 1)*x[j]
    >>> collapse_in_ranges(sp.Sum(x[i] * sp.KroneckerDelta(i + k, j), (i, 0, n - 1)), {j: (0, n + k - 1)})
    Between(j - k, 0, n - 1)*x[j - k]
    """
    return _discharge(_collapse_ranged(expr), ranges)


def _collapse_ranged(expr: sp.Expr) -> sp.Expr:
    if not isinstance(expr, sp.Basic) or not expr.args:
        return expr
    if isinstance(expr, sp.Sum):
        result = _collapse_ranged(expr.function)
        for index, lower, upper in expr.limits:  # innermost first
            result = _split_ranged(result, index, lower, upper)
        return result
    return expr.func(*[_collapse_ranged(a) for a in expr.args])
