"""Non-smooth answers split into smooth pieces: the regions where every max, ismax and piecewise
choice is fixed.

An answer may compare values (``max(0, z_i - 100)``, ``ismax(z_i, 60)``, ``max(q_i, 0.05)``),
and max pooling's key is a piecewise column with one row per argmax region. Between the places
where a comparison switches, each is one of its branches, so a difference is a smooth expression
there, which derive's zero test decides. When every switch compares an input with a number or
with another input (``z_i - 100``, ``x_1 - x_3``) the regions are the orderings of those inputs
and numbers: all of them are listed here, each with points strictly inside it. Other switches
(``ismax(p_i, 0.5)`` with ``p`` a softmax) are not listed: :func:`regions` answers None and the
caller decides otherwise.

>>> import sympy as sp
>>> z = sp.Symbol("z", real=True)
>>> found = regions(switches([sp.Max(0, z - 100)]), Domain())
>>> sorted((select(sp.Max(0, z - 100), r.point(random.Random(0))) for r in found), key=str)  # either side of 100
[0, z - 100]
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import sympy as sp

from derive.atoms import Exp, to_sympy_functions

__all__ = ["Domain", "Region", "branch", "crossings", "descended", "interiors", "regions", "select", "switches"]

_ORDERS = 5040  # orderings listed per group of compared inputs at most (7 inputs, or 4 with 3 numbers)
_REGIONS = 512  # regions in all at most; beyond that the caller samples instead


@dataclass(frozen=True)
class Domain:
    """Where the inputs live: positive symbols are > 0; the free entries of a probability vector
    of length n (the last is 1 - the others) are in (0, 1) and sum to less than 1."""

    positive: frozenset[sp.Symbol] = frozenset()
    simplex: Mapping[sp.Symbol, int] = field(default_factory=dict)
    binary: frozenset[sp.Symbol] = frozenset()  # 0 or 1 only: a ReLU's pattern

    def draw(self, s: sp.Symbol, rng: random.Random, spread: float) -> float:
        """A random value of ``s`` in its domain, within ``spread`` of 0 where it is free.

        >>> b = sp.Symbol("b")
        >>> Domain(binary=frozenset({b})).draw(b, random.Random(0), 50.0) in (0.0, 1.0)
        True
        """
        if s in self.binary:
            return float(rng.randint(0, 1))
        if s in self.simplex:
            return rng.uniform(0.01, 1.0 / self.simplex[s])
        if s in self.positive or s.is_positive:
            return rng.uniform(0.1, max(2.0, spread))
        return rng.uniform(-max(2.0, spread), max(2.0, spread))

    def reduced(self, e: sp.Expr) -> sp.Expr:
        """``e`` with every power of a 0/1 input taken down to the input itself (``s^2 = s`` there),
        after expanding: equal on the domain exactly when the reduced forms are equal.

        >>> b = sp.Symbol("b")
        >>> Domain(binary=frozenset({b})).reduced(b * (2 - b))
        b
        """
        if not self.binary or not (e.free_symbols & self.binary):
            return e
        return sp.expand(e).replace(lambda a: a.is_Pow and a.base in self.binary and a.exp.is_Integer and a.exp > 0,
                                    lambda a: a.base)

    def fitted(self, point: dict[sp.Symbol, sp.Rational], pinned: Iterable[sp.Symbol]) -> dict[sp.Symbol, sp.Rational]:
        """``point`` with each probability vector's entries other than the ``pinned`` ones shrunk,
        where needed, so that the free entries sum to less than 1 (a point that puts y_1 just above
        0.9999 stays inside the domain). Unchanged when the pinned entries alone reach 1.

        >>> y1, y2 = sp.symbols("y_1 y_2")
        >>> Domain(simplex={y1: 3, y2: 3}).fitted({y1: sp.Rational(9, 10), y2: sp.Rational(1, 3)}, {y1})[y2]
        1/20
        """
        pinned = set(pinned)
        out = dict(point)
        for n in set(self.simplex.values()):
            entries = [s for s, m in self.simplex.items() if m == n and s in out]
            held = sum((out[s] for s in entries if s in pinned), sp.S.Zero)
            loose = sum((out[s] for s in entries if s not in pinned), sp.S.Zero)
            if held + loose >= 1 and held < 1 and loose > 0:
                scale = (1 - held) / (2 * loose)
                for s in entries:
                    if s not in pinned:
                        out[s] = out[s] * scale
        return out

    def admits(self, point: Mapping[sp.Symbol, sp.Rational]) -> bool:
        """Whether ``point`` respects the assumptions (every vector's free entries by its length).

        >>> y1, y2 = sp.symbols("y_1 y_2")
        >>> d = Domain(simplex={y1: 3, y2: 3})
        >>> d.admits({y1: sp.Rational(1, 2), y2: sp.Rational(1, 3)}), d.admits({y1: sp.Rational(2, 3), y2: sp.Rational(1, 2)})
        (True, False)
        """
        if any(point[s] <= 0 for s in self.positive if s in point):
            return False
        if any(point[s] not in (0, 1) for s in self.binary if s in point):
            return False
        totals: dict[int, sp.Rational] = {}
        for s, n in self.simplex.items():
            if s in point:
                if not 0 < point[s] < 1:
                    return False
                totals[n] = totals.get(n, 0) + point[s]
        return all(total < 1 for total in totals.values())


def switches(exprs: Iterable[sp.Basic]) -> set[sp.Expr]:
    """The functions whose sign picks a branch: ``a - b`` for each pair of a max's (or min's)
    arguments, ``lhs - rhs`` of each condition of a piecewise; sign-normalised, expanded.

    >>> x, y = sp.symbols("x y", real=True)
    >>> sorted(switches([sp.Max(x, 3) + sp.Piecewise((1, y >= x), (0, True))]), key=str)
    [x - 3, x - y]
    """
    found: set[sp.Expr] = set()
    for expr in exprs:
        found |= _switches(expr)
    return found


@functools.lru_cache(maxsize=4096)
def _switches(expr: sp.Basic) -> frozenset[sp.Expr]:
    """One expression's switches (a key's are found once per process)."""
    found: set[sp.Expr] = set()
    if not expr.has(sp.Max, sp.Min, sp.Piecewise):
        return frozenset()
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Max, sp.Min)):
            found.update(_normal(a - b) for a, b in itertools.combinations(node.args, 2))
        elif isinstance(node, sp.Piecewise):
            for _, condition in node.args:
                if isinstance(condition, sp.Basic):
                    found.update(_normal(r.lhs - r.rhs) for r in condition.atoms(sp.core.relational.Relational))
    found.discard(sp.S.Zero)
    return frozenset(found)


def _normal(e: sp.Expr) -> sp.Expr:
    e = sp.expand(e)
    return -e if e.could_extract_minus_sign() else e


def _as_comparison(s: sp.Expr) -> tuple[sp.Symbol, sp.Basic] | None:
    """``k (x - y)`` as (x, y) and ``k x + c`` as (x, -c/k): the switch compares x with y or with a
    number; None for anything else."""
    coefficients = s.as_coefficients_dict()
    constant = coefficients.pop(sp.S.One, sp.S.Zero)
    if not all(t.is_Symbol for t in coefficients) or not constant.is_Rational:
        return None
    if len(coefficients) == 1:
        ((x, k),) = coefficients.items()
        return (x, -constant / k) if k.is_Rational else None
    if len(coefficients) == 2 and constant == 0:
        (x, k), (y, m) = coefficients.items()
        return (x, y) if k.is_Rational and k == -m else None
    return None


@dataclass(frozen=True)
class Region:
    """One region: per group of compared inputs, an ordering of them and the numbers they meet
    (ascending). Points inside it are drawn by :meth:`point`."""

    orders: tuple[tuple[sp.Basic, ...], ...] = ()

    def point(self, rng: random.Random, spread: float = 1.0) -> dict[sp.Symbol, sp.Rational]:
        """A point strictly inside the region for the ordered inputs (others are left out):
        inputs between two numbers fall between them; beyond the ends, gaps scale with ``spread``."""
        values: dict[sp.Symbol, sp.Rational] = {}
        for order in self.orders:
            numbers = [k for k, item in enumerate(order) if not item.is_Symbol]
            if not numbers:
                start = _rational(rng.uniform(-spread, spread))
                for item in order:
                    start += _rational(rng.uniform(0.1, 1.0) * spread)
                    values[item] = start
                continue
            first, last = numbers[0], numbers[-1]
            below = order[first]
            for item in reversed(order[:first]):  # descending from the smallest number
                below -= _rational(rng.uniform(0.1, 1.0) * spread)
                values[item] = below
            above = order[last]
            for item in order[last + 1:]:
                above += _rational(rng.uniform(0.1, 1.0) * spread)
                values[item] = above
            for a, b in itertools.pairwise(numbers):  # strictly between two numbers, in order
                run = order[a + 1:b]
                low, high = order[a], order[b]
                cuts = sorted(rng.random() for _ in run)
                for k, item in enumerate(run):
                    share = (k + 0.25 + 0.5 * cuts[k]) / len(run)
                    values[item] = low + (high - low) * _rational(share)
        return values


def crossings(switch: sp.Expr, base: Mapping[sp.Symbol, sp.Rational], offsets: Iterable[float] = (0.0,),
              domain: Domain | None = None, tick: Callable[[], None] | None = None,
              extrema: bool = False) -> list[dict[sp.Symbol, sp.Rational]]:
    """Points where ``switch`` is 0 along each of its inputs in turn (two at most), the others at
    ``base``, then stepped off by each offset (scaled by the crossing's size): where a comparison
    flips, or where ``exp(z_i - 1000)`` stops being negligible. A linear switch's crossing is exact;
    any other's is bracketed on a grid from 1e-12 to 1e16 either side of 0 (and at the other
    inputs' values: ``exp(-10^6 (z_1 - z_2)^2)``) and bisected (``max(0, z_i^2 - 90000)`` flips at
    300, past where random points go). With a ``domain``, the other entries of a probability vector
    make room for the moved one (``Domain.fitted``). ``tick`` is called before each evaluation (a
    deadline raises there). With ``extrema``, also where the switch turns along the input (its
    derivative crosses 0): ``max(0, -(z_i - 7)(z_i - 7.001))`` and ``exp(-10^4 (z_i - 7)^2)`` are
    non-zero only between close roots, or around a peak, that no grid brackets.

    >>> x, y = sp.symbols("x y", real=True)
    >>> [p[x] for p in crossings(x - 1000, {x: sp.Integer(0), y: sp.Integer(1)}, (0.0, 0.5))]
    [1000, 1500]
    >>> sorted(round(float(p[x])) for p in crossings(x**2 - 90000, {x: sp.Integer(0), y: sp.Integer(1)}))
    [-300, 300]
    """
    inputs = sorted((t for t in switch.free_symbols if t in base), key=str)[:2]
    out = []
    for x in inputs:
        rest = switch.xreplace({t: v for t, v in base.items() if t != x})
        if tick is not None:
            tick()
        k = rest.diff(x)  # linear with a rational slope: the crossing is exact (no expansion of rest)
        if k.is_Rational and k != 0:
            at_zero = rest.xreplace({x: sp.S.Zero})
            roots = [-at_zero / k] if at_zero.is_Rational else _bracketed(rest, x, [], tick)
        else:
            roots = _bracketed(rest, x, [float(v) for t, v in base.items() if t != x], tick)
        if extrema:
            slope = rest.diff(x)
            if slope.has(x):
                roots += _bracketed(slope, x, [float(v) for t, v in base.items() if t != x], tick)
        for root in roots:
            for offset in offsets:
                point = {**base, x: sp.Rational(root) + _rational(offset * max(1.0, abs(float(root))))}
                out.append(domain.fitted(point, {x}) if domain is not None else point)
    return out


def descended(switch: sp.Expr, base: Mapping[sp.Symbol, sp.Rational], domain: Domain | None = None,
              tick: Callable[[], None] | None = None) -> list[dict[sp.Symbol, sp.Rational]]:
    """For a switch of several inputs, a point reached by moving each input in turn to a turning
    point of the switch (the one that pushes it furthest from its sign at ``base``): the middle of a
    narrow ball such as ``1 - 10^12 (z_1^2 + z_2^2 + z_3^2)``, which no one-input move reaches.

    >>> x, y = sp.symbols("x y", real=True)
    >>> [(round(float(p[x]), 6), round(float(p[y]), 6)) for p in descended(1 - 10**12 * ((x - 3)**2 + y**2), {x: sp.Integer(0), y: sp.Integer(1)})]
    [(3.0, 0.0)]
    """
    inputs = sorted((t for t in switch.free_symbols if t in base), key=str)
    if len(inputs) < 2:
        return []
    point = dict(base)
    start = _value_at(switch, point)
    if start is None:
        return []
    for x in inputs:
        rest = switch.xreplace({t: v for t, v in point.items() if t != x})
        slope = rest.diff(x)
        if not slope.has(x):
            continue
        candidates = [r for r in _bracketed(slope, x, [float(point[x])], tick)]
        scored = [(value, r) for r in candidates if (value := _value_at(rest, {x: r})) is not None]
        if scored:
            point[x] = (max if start <= 0 else min)(scored, key=lambda item: item[0])[1]
    if domain is not None:
        point = domain.fitted(point, set(inputs))
    return [point]


_BOX = 1000  # how far an input may go in the linear programs below


def interiors(expr: sp.Basic, base: Mapping[sp.Symbol, sp.Rational], domain: Domain | None = None,
              tick: Callable[[], None] | None = None) -> list[dict[sp.Symbol, sp.Rational]]:
    """A point deep inside each piece of ``expr`` whose conditions are linear in the inputs: each
    argument of a max or min being the largest (smallest), each piecewise condition holding. Found
    by a linear program (maximise the least slack); the other inputs stay at ``base``. A thin tube
    such as ``ismax(0.5, z_1 - z_2, z_2 - z_3, z_3 - z_1, z_2 + 5)`` (1 only where z_1, z_2, z_3 are
    within 0.5 of each other and z_2 < -4.5) is met this way, which random points never do.

    >>> x, y = sp.symbols("x y", real=True)
    >>> found = interiors(sp.Piecewise((1, sp.And(x - y >= 0, y + 5 <= 0, y - x >= -sp.Rational(1, 2))), (0, True)), {x: 0, y: 0})
    >>> [bool(p[y] < -5 and 0 <= p[x] - p[y] <= sp.Rational(1, 2)) for p in found]
    [True]
    """
    pieces: list[list[sp.Expr]] = []  # each: expressions that must all be >= 0
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Max, sp.Min)) and len(node.args) <= 8:
            sign = 1 if isinstance(node, sp.Max) else -1
            pieces += [[sign * (a - b) for b in node.args if b is not a] for a in node.args]
        elif isinstance(node, sp.Piecewise):
            for _, condition in node.args[:8]:
                relations = condition.args if isinstance(condition, sp.And) else (condition,)
                if all(isinstance(r, (sp.GreaterThan, sp.StrictGreaterThan, sp.LessThan, sp.StrictLessThan))
                       for r in relations):
                    pieces.append([r.lhs - r.rhs if isinstance(r, (sp.GreaterThan, sp.StrictGreaterThan))
                                   else r.rhs - r.lhs for r in relations])
    out = []
    for piece in pieces[:16]:
        if tick is not None:
            tick()
        point = _deepest(piece, base, domain)
        if point is not None:
            out.append(point)
    return out


def _deepest(piece: list[sp.Expr], base: Mapping[sp.Symbol, sp.Rational],
             domain: Domain | None) -> dict[sp.Symbol, sp.Rational] | None:
    """The point (inputs within ``_BOX``, in the domain) where the least of the linear ``piece``
    is largest, when that is above 0: one exact linear program (SymPy's simplex, from matrices)."""
    from sympy.solvers.simplex import linprog

    inputs = sorted(set().union(*[e.free_symbols for e in piece]) & set(base), key=str)
    fixed = {t: v for t, v in base.items() if t not in inputs}
    rows = [sp.expand(e.xreplace(fixed)) for e in piece]
    if not inputs or any(not r.is_polynomial(*inputs) or sp.Poly(r, *inputs).total_degree() > 1 for r in rows):
        return None
    lower = [r for r in inputs if domain is not None and (r in domain.positive or r in domain.simplex or r.is_positive)]
    rows += lower  # a positive input, or a probability, above the slack too
    a, b = [], []
    for r in rows:  # r(x) >= slack  as  -r's slopes . x + slack <= r's constant
        a.append([-r.coeff(x) for x in inputs] + [1])
        b.append(r.xreplace({x: 0 for x in inputs}))
    free = [x for x in inputs if domain is not None and x in domain.simplex]
    if free:  # the free entries and the fixed ones of a probability vector sum to at most 1 - slack
        a.append([1 if x in free else 0 for x in inputs] + [1])
        b.append(1 - sum(v for t, v in fixed.items() if domain is not None and t in domain.simplex))
    # SymPy's linprog reports feasible problems with negative bounds as empty (1.14), so every
    # variable is shifted to be non-negative: x = u - _BOX with u <= 2 _BOX, slack = s - _BOX
    n = len(inputs)
    b = [k + _BOX * (sum(row[:n]) + 1) for row, k in zip(a, b)]
    a = [*a, *([int(i == j) for j in range(n + 1)] for i in range(n + 1))]
    b = [*b, *([2 * _BOX] * n), 1 + _BOX]
    try:
        value, solution = linprog([0] * n + [-1], sp.Matrix(a), sp.Matrix(b))
    except Exception:  # noqa: BLE001 - infeasible or unbounded: no interior here
        return None
    if not -value - _BOX > 0:
        return None
    return {**base, **{x: sp.Rational(v) - _BOX for x, v in zip(inputs, solution)}}


def _value_at(f: sp.Expr, point: Mapping[sp.Symbol, sp.Rational]) -> float | None:
    try:
        value = complex(sp.N(to_sympy_functions(f).xreplace(dict(point)), 20))
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return value.real if value.imag == 0 and math.isfinite(value.real) else None


_GRID = sorted({sign * 10.0**k for sign in (-1, 1) for k in range(-12, 17)} | {0.0})
_ROOTS = 4  # crossings kept per input
# how far the grid goes, by how deeply exponentials nest: exp(exp(exp(exp(2)))) has about 10^700
# digits, and evaluating it does not finish
_REACH = (1e16, 1e4, 10.0, 3.0, 1.0)


def _exp_depth(e: sp.Basic) -> int:
    """How deeply exponentials nest in ``e`` (``exp(x)^2`` is 1, ``exp(exp(x))`` 2).

    >>> x = sp.Symbol("x")
    >>> _exp_depth(x**2), _exp_depth(sp.exp(x) + sp.exp(sp.exp(x) * 3))
    (0, 2)
    """
    inner = max((_exp_depth(a) for a in e.args), default=0)
    return inner + 1 if e.func in (sp.exp, Exp) else inner


def _bracketed(f: sp.Expr, x: sp.Symbol, others: Iterable[float] = (),
               tick: Callable[[], None] | None = None) -> list[sp.Rational]:
    """Where the one-input ``f`` changes sign on ``_GRID`` and the ``others`` values, each bisected
    to 12 digits (30-digit evaluation; a place where it is undefined or not real is skipped)."""

    import mpmath

    try:  # compiled once per crossing (builder symbols only, renamed by dummify): 50x faster than sp.N
        function = sp.lambdify([x], to_sympy_functions(f), modules="mpmath", dummify=True)
    except (TypeError, ValueError, KeyError, NameError, SyntaxError):
        return []

    def sign(v: float) -> int | None:
        if tick is not None:
            tick()
        try:
            with mpmath.workdps(30):
                value = function(mpmath.mpf(v))
                if isinstance(value, mpmath.mpc):
                    if value.imag != 0:
                        return None
                    value = value.real
                value = mpmath.mpf(value)
        except (ZeroDivisionError, TypeError, ValueError, OverflowError, ArithmeticError, NameError):
            return None
        if not mpmath.isfinite(value):
            return None
        return 1 if value > 0 else -1 if value < 0 else 0

    reach = _REACH[min(_exp_depth(f), len(_REACH) - 1)]
    signs = [(v, sign(v)) for v in sorted({*_GRID, *others}) if abs(v) <= reach]
    roots = [sp.Rational(v) for v, s in signs if s == 0]  # the grid met a crossing itself
    for (low, s_low), (high, s_high) in itertools.pairwise(signs):
        if s_low is None or s_high is None or s_low * s_high >= 0:
            continue
        for _ in range(80):
            middle = (low + high) / 2
            s_middle = sign(middle)
            if not s_middle or high - low <= 1e-12 * max(1.0, abs(middle)):
                break
            low, high, s_low = (middle, high, s_middle) if s_middle == s_low else (low, middle, s_low)
        roots.append(sp.Rational((low + high) / 2).limit_denominator(10**12))
    return roots[:_ROOTS]


def _rational(x: float) -> sp.Rational:
    return sp.Rational(round(x * 10**12), 10**12)


def regions(found: set[sp.Expr], domain: Domain) -> list[Region] | None:
    """Every region the switches cut the domain into (as far as orderings show: a region a
    probability vector's sum excludes may be listed too, which costs time, never soundness);
    None when a switch is no comparison of inputs and numbers, or when there are too many.

    >>> x, y = sp.symbols("x y", real=True)
    >>> len(regions({x - y, x - 3}, Domain())), regions({x * y - 1}, Domain())
    (4, None)
    """
    comparisons = []
    for s in found:
        pair = _as_comparison(s)
        if pair is None:
            return None
        comparisons.append(pair)
    groups: dict[sp.Symbol, set[sp.Symbol]] = {}  # each input -> its group (inputs compared with each other)
    for x, y in comparisons:
        group = groups.setdefault(x, {x})
        other = groups.setdefault(y, {y}) if y.is_Symbol else group
        if other is not group:
            merged = group | other
            for member in merged:
                groups[member] = merged
    options: list[list[tuple[sp.Basic, ...]]] = []
    for group in {id(g): g for g in groups.values()}.values():
        listed = _orders(group, [c for c in comparisons if c[0] in group], domain)
        if listed is None:
            return None
        options.append(listed)
    if math.prod(len(o) for o in options) > _REGIONS:
        return None
    return [Region(tuple(choice)) for choice in itertools.product(*options)]


def _orders(group: set[sp.Symbol], comparisons: list[tuple[sp.Symbol, sp.Basic]],
            domain: Domain) -> list[tuple[sp.Basic, ...]] | None:
    """One ordering of the group's inputs and numbers per distinct sign pattern of its switches."""
    numbers = {y for _, y in comparisons if not y.is_Symbol}
    if group & (domain.positive | set(domain.simplex)):
        numbers.add(sp.S.Zero)  # positivity is a comparison with 0
    if group & set(domain.simplex):
        numbers.add(sp.S.One)
    numbers_sorted = sorted(numbers)
    symbols = sorted(group, key=str)
    m, k = len(symbols), len(numbers_sorted)
    if math.factorial(m + k) // math.factorial(k) > _ORDERS:
        return None
    seen: dict[tuple[int, ...], tuple[sp.Basic, ...]] = {}
    for permutation in itertools.permutations(symbols):
        for places in itertools.combinations(range(m + k), k):
            order: list[sp.Basic] = []
            remaining_symbols, remaining_numbers = iter(permutation), iter(numbers_sorted)
            for position in range(m + k):
                order.append(next(remaining_numbers) if position in places else next(remaining_symbols))
            rank = {item: position for position, item in enumerate(order)}
            if any(rank[s] < rank[sp.S.Zero] for s in group if s in domain.positive or s in domain.simplex):
                continue
            if any(rank[s] > rank[sp.S.One] for s in group if s in domain.simplex):
                continue
            signature = tuple(rank[x] > rank[y] for x, y in comparisons)
            seen.setdefault(signature, tuple(order))
    return list(seen.values())


@functools.lru_cache(maxsize=8192)
def branch(expr: sp.Basic, region: Region) -> sp.Basic:
    """``expr`` as it is throughout ``region`` (cached: a key's pieces are picked once per region
    and process). Inputs the region does not order cancel from every switch; they are set to 0.

    >>> x, w = sp.symbols("x w", real=True)
    >>> sorted((branch(sp.Max(x + w, 3 + w), r) for r in regions({x - 3}, Domain())), key=str)
    [w + 3, w + x]
    """
    if not region.orders or not expr.has(sp.Max, sp.Min, sp.Piecewise):
        return expr
    return select(expr, {**{s: sp.S.Zero for s in expr.free_symbols}, **region.point(random.Random(0))})


def select(expr: sp.Basic, point: Mapping[sp.Symbol, sp.Basic]) -> sp.Basic:
    """``expr`` with each max, min and piecewise replaced by its branch at ``point`` (which must
    lie strictly inside a region, so that the branch is that of the whole region).

    >>> x = sp.Symbol("x", real=True)
    >>> select(sp.Piecewise((1, x >= 60), (0, True)) + sp.Max(x, 2), {x: sp.Integer(61)})
    x + 1
    """
    memo: dict[sp.Basic, sp.Basic] = {}

    def value(e: sp.Basic) -> sp.Basic:
        v = e.xreplace(dict(point))
        if not v.is_comparable:
            raise ValueError(f"cannot compare {e} at the point")
        return v

    def visit(e: sp.Basic) -> sp.Basic:
        if e in memo:
            return memo[e]
        if not e.args or not e.has(sp.Max, sp.Min, sp.Piecewise):
            out = e
        elif isinstance(e, (sp.Max, sp.Min)):
            args = [visit(a) for a in e.args]
            values = [value(a) for a in args]
            best = max(values) if isinstance(e, sp.Max) else min(values)
            out = args[values.index(best)]
        elif isinstance(e, sp.Piecewise):
            out = sp.nan
            for branch, condition in e.args:
                if bool(condition.xreplace(dict(point))) if isinstance(condition, sp.Basic) else condition:
                    out = visit(branch)
                    break
        else:
            out = e.func(*[visit(a) for a in e.args])
        memo[e] = out
        return out

    return visit(expr)
