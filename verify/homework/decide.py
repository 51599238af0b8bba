"""Deciding an answer against its key by proof: ``equal``, ``different`` (with a witness point), or
``unknown`` (left to sampling, which then says ``numeric``).

Answer and key are matrices in the problem's independent inputs. In each region where every
comparison is fixed (regions.py; one region when there are none) each entry pair is smooth and
goes to derive's zero test (derive/grouped.py: rational functions of the inputs and of exp, log
and sqrt as indeterminates). A zero numerator proves the entries equal there. A non-zero one
proves nothing by itself, since the indeterminates need not be independent (``sqrt(x)^2 = x``),
so a difference is only claimed at a witness: a rational point inside the region and the domain
where answer and key, evaluated in interval arithmetic with 60 (then 320) significant digits and
rounded outward, give intervals that do not overlap: there they differ, so the answer is wrong
(however small the gap, and whatever cancels inside either side).

Everything is bounded: a difference whose numerator could have more than ``TERMS`` terms is not
converted (``(z_1 + ... + y_2)^64`` would be about 800,000), and a deadline is checked between
pieces of work.

>>> import sympy as sp
>>> z = sp.Symbol("z", real=True)
>>> decide(sp.Matrix([z * (1 - z)]), sp.Matrix([z - z**2]), Domain()).verdict
'equal'
>>> d = decide(sp.Matrix([z + sp.Max(0, z - 100)]), sp.Matrix([z]), Domain())
>>> d.verdict, d.point[z] > 100
('different', True)
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mpmath
import sympy as sp

from derive.atoms import Exp, Sqrt
from derive.grouped import Field, Unsupported

from .regions import Domain, Region, branch, crossings, descended, interiors, regions, switches

__all__ = ["TERMS", "Decision", "Domain", "OutOfTime", "canonical", "decide", "equal", "gap", "terms_bound"]

TERMS = 20_000  # the most numerator terms a difference may have to go to the zero test
_SPREADS = (1e-9, 1.0, 50.0, 300.0)  # where witnesses are looked for: next to the numbers, near them, then far out
_PRECISIONS = (60, 320)  # significant digits of the intervals a witness is evaluated with


class OutOfTime(Exception):
    """The grading deadline passed."""


def check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise OutOfTime


@dataclass
class Decision:
    verdict: str  # "equal" | "different" | "unknown"
    entry: int = -1  # the entry (row by row) a witness shows
    point: dict[sp.Symbol, sp.Rational] | None = None
    yours: complex = 0j  # the answer's and the key's values there
    expected: complex = 0j
    reason: str = ""


@lru_cache(maxsize=4096)
def canonical(e: sp.Basic) -> sp.Basic:
    """SymPy's ``u**(k/2)`` as derive's ``Sqrt(u)**k``, so that an answer's sqrt and the key's are
    one indeterminate of the zero test.

    >>> x = sp.Symbol("x", positive=True)
    >>> canonical(1 / sp.sqrt(x + 1)) == Sqrt(x + 1) ** -1
    True
    """
    return e.replace(lambda a: a.is_Pow and a.exp.is_Rational and not a.exp.is_Integer and a.exp.q == 2,
                     lambda a: Sqrt(a.base) ** a.exp.p)


def _power_terms(t: float, k: int) -> float:
    """At most C(t+k-1, k) terms in a power of a sum of t terms (every product of k of them)."""
    return 1.0 if t <= 1 or k == 0 else min(1e300, float(math.comb(int(min(t, 1e6)) + min(k, 10**4) - 1, min(k, 10**4))))


_Bound = tuple[float, dict[sp.Basic, tuple[int, float]]]  # numerator terms; denominator base -> (exponent, its terms)


def _bound(e: sp.Basic) -> _Bound:
    if e.is_Add:
        parts = [_bound(a) for a in e.args]
        common: dict[sp.Basic, tuple[int, float]] = {}
        for _, den in parts:
            for base, (k, t) in den.items():
                common[base] = (max(k, common.get(base, (0, t))[0]), t)
        numerator = sum(n * math.prod(_power_terms(t, k - den.get(base, (0, t))[0]) for base, (k, t) in common.items())
                        for n, den in parts)
        return min(1e300, numerator), common
    if e.is_Mul:
        parts = [_bound(a) for a in e.args]
        merged: dict[sp.Basic, tuple[int, float]] = {}
        for _, den in parts:
            for base, (k, t) in den.items():
                merged[base] = (merged.get(base, (0, t))[0] + k, t)
        return min(1e300, math.prod(n for n, _ in parts)), merged
    if e.is_Pow and e.exp.is_Integer:
        n, den = _bound(e.base)
        k = abs(int(e.exp))
        if e.exp > 0:
            return _power_terms(n, k), {base: (j * k, t) for base, (j, t) in den.items()}
        # 1/b^k: b's denominators go up, b itself goes down as one base
        return _power_terms(_terms(den), k), {e.base: (k, n)}
    return 1.0, {}


def _terms(den: dict[sp.Basic, tuple[int, float]]) -> float:
    return min(1e300, math.prod(_power_terms(t, k) for k, t in den.values()))


def terms_bound(e: sp.Basic) -> tuple[float, float]:
    """Upper bounds on the terms of the numerator and the denominator of ``e`` over one common
    denominator: products multiply, a sum brings each term to the common denominator (each
    distinct base at its highest power, as the zero test does), ``(t terms)^k`` has at most
    C(t+k-1, k) terms; exp, log, sqrt and symbols are one term.

    >>> z = sp.symbols("z1:6")
    >>> terms_bound(1 / sp.Add(*z) ** 64)[1] > TERMS > terms_bound(1 / sp.Add(*z) ** 3)[1]
    True
    >>> terms_bound(sum(z[k] / (z[0] + z[1]) for k in range(5)))  # one denominator, not five
    (5.0, 2.0)
    """
    n, den = _bound(e)
    return n, _terms(den)


def _small(a: sp.Basic, b: sp.Basic) -> bool:
    n, d = terms_bound(a - b)
    return n <= TERMS and d <= TERMS


def _vanishes(f: Field, a: sp.Basic, b: sp.Basic) -> bool:
    return f.vanishes(a, b)


def equal(pairs: Sequence[tuple[sp.Basic, sp.Basic]], deadline: float | None = None) -> list[bool | None]:
    """For each smooth pair, True when the zero test proves it equal; False when its numerator is
    not zero (no proof of difference yet); None when it cannot be modelled or is too large.

    >>> x = sp.Symbol("x", real=True)
    >>> equal([(sp.exp(x) / (1 + sp.exp(x)), 1 - 1 / (1 + sp.exp(x))), (x, 2 * x), (sp.sin(x), x)])
    [True, False, None]
    """
    out: list[bool | None] = [None] * len(pairs)
    todo = [k for k, (a, b) in enumerate(pairs) if _small(a, b)]
    try:
        f = Field([e for k in todo for e in pairs[k]])
        for k in todo:
            check(deadline)
            out[k] = _vanishes(f, *pairs[k])
        return out
    except Unsupported:
        pass
    for k in todo:  # one pair the field cannot model must not cost the others their proof
        check(deadline)
        try:
            out[k] = _vanishes(Field(pairs[k]), *pairs[k])
        except Unsupported:
            out[k] = None
    return out


class _Undecided(Exception):
    """An interval too wide to say which branch a comparison takes."""


def _number(e: sp.Basic, point: Mapping[sp.Symbol, sp.Basic], digits: int) -> Any:
    """``e`` at the rational ``point`` as an mpmath interval at ``digits`` digits (rounded outward:
    the true value lies inside); None where undefined, not real, or a comparison is too close."""
    iv = mpmath.iv
    saved, iv.dps = iv.dps, digits
    try:
        value = _evaluate(e, {s: iv.mpf(int(v.p)) / int(v.q) for s, v in point.items()}, {})
        return value if mpmath.isfinite(value.a) and mpmath.isfinite(value.b) else None
    except (_Undecided, ValueError, ZeroDivisionError, TypeError, ArithmeticError, KeyError):
        return None
    finally:
        iv.dps = saved


def _tanh(x: Any) -> Any:
    e = mpmath.iv.exp(2 * x)
    return 1 - 2 / (e + 1)


_FUNCTIONS: dict[Any, Callable[[Any], Any]] = {
    sp.exp: mpmath.iv.exp, Exp: mpmath.iv.exp, sp.log: mpmath.iv.log, Sqrt: mpmath.iv.sqrt, sp.tanh: _tanh, sp.Abs: abs,
}


def _above(a: Any, b: Any) -> bool:
    """a > b for intervals, decided only when they do not overlap."""
    if a.a > b.b:
        return True
    if a.b < b.a:
        return False
    raise _Undecided


_RELATIONS: dict[Any, Callable[[Any, Any], bool]] = {
    sp.GreaterThan: _above, sp.StrictGreaterThan: _above,
    sp.LessThan: lambda a, b: _above(b, a), sp.StrictLessThan: lambda a, b: _above(b, a),
}


def _evaluate(e: sp.Basic, at: Mapping[sp.Symbol, Any], memo: dict[sp.Basic, Any]) -> Any:
    """Interval arithmetic over the tree (no code generation: a witness is evaluated once or twice)."""
    iv = mpmath.iv
    if e in memo:
        return memo[e]
    if e.is_Symbol:
        value = at[e]
    elif e.is_Rational:
        value = iv.mpf(int(e.p)) / int(e.q)
    elif e is sp.E:
        value = iv.e
    elif e.is_Add:
        value = iv.fsum([_evaluate(a, at, memo) for a in e.args])
    elif e.is_Mul:
        value = iv.mpf(1)
        for a in e.args:
            value = value * _evaluate(a, at, memo)
    elif e.is_Pow:
        base, exponent = _evaluate(e.base, at, memo), e.exp
        value = base ** int(exponent) if exponent.is_Integer else iv.exp(_evaluate(exponent, at, memo) * iv.log(base))
    elif e.func in _FUNCTIONS:
        value = _FUNCTIONS[e.func](_evaluate(e.args[0], at, memo))
    elif isinstance(e, (sp.Max, sp.Min)):
        values = [_evaluate(a, at, memo) for a in e.args]
        value = values[0]
        for other in values[1:]:
            if _above(other, value) == isinstance(e, sp.Max):
                value = other
    elif isinstance(e, sp.Piecewise):
        value = iv.mpf(mpmath.nan)
        for branch, condition in e.args:
            if _evaluate(condition, at, memo):
                value = _evaluate(branch, at, memo)
                break
    elif e.func in _RELATIONS:
        value = _RELATIONS[e.func](_evaluate(e.lhs, at, memo), _evaluate(e.rhs, at, memo))
    elif isinstance(e, sp.And):
        value = all(_evaluate(a, at, memo) for a in e.args)
    elif isinstance(e, sp.Or):
        value = any(_evaluate(a, at, memo) for a in e.args)
    elif isinstance(e, sp.Not):
        value = not _evaluate(e.args[0], at, memo)
    elif e in (sp.true, sp.false):
        value = bool(e)
    else:  # an atom this walk does not know: no certified value
        raise _Undecided
    memo[e] = value
    return value


def gap(a: sp.Basic, b: sp.Basic, point: Mapping[sp.Symbol, sp.Basic]) -> tuple[bool, complex, complex] | None:
    """Whether ``a`` and ``b`` certainly differ at the rational ``point``. Rational functions are
    evaluated exactly; anything else as intervals with 60, then 320 digits (more where the
    expressions hold long numbers: ``1/999999999999^30`` is seen only past 360), rounded outward, that
    must not overlap. Returns that and the values (the intervals' midpoints); None where either is
    undefined or not real there.

    >>> x = sp.Symbol("x", real=True)
    >>> gap(x + sp.exp(x - 200), x, {x: sp.Integer(1)})[0], gap((x + 1)**2, x**2 + 2*x + 1, {x: sp.Integer(3)})[0]
    (True, False)
    >>> gap(sp.exp(x) * (1 + x) - sp.exp(x), x * sp.exp(x), {x: sp.Integer(300)})[0]  # cancellation is no gap
    False
    >>> gap(x + sp.Rational(1, 10**400), x, {x: sp.Integer(3)})[0], gap(sp.exp(x) + sp.Rational(1, 10**400), sp.exp(x), {x: sp.Integer(3)})[0]
    (True, True)
    """
    exact = _exactly(a, point), _exactly(b, point)
    if exact[0] is not None and exact[1] is not None:
        return exact[0] != exact[1], complex(float(exact[0])), complex(float(exact[1]))
    for digits in (*_PRECISIONS, _digits_needed(a, b)):
        va, vb = _number(a, point, digits), _number(b, point, digits)
        if va is None or vb is None:
            return None
        if va.a > vb.b or va.b < vb.a:
            return True, complex(float(va.mid)), complex(float(vb.mid))
    return False, complex(float(va.mid)), complex(float(vb.mid))


_LONGEST = 5000  # digits at most for one interval evaluation (the parser bounds an answer's numbers far below)


def _digits_needed(a: sp.Basic, b: sp.Basic) -> int:
    """Enough digits to see a term as small as the numbers written in the expressions allow: their
    numerators' and denominators' digits added up, past the usual 320."""
    written = sum((abs(int(r.p)).bit_length() + int(r.q).bit_length()) * 0.302 for e in (a, b) for r in e.atoms(sp.Rational))
    return min(_LONGEST, max(_PRECISIONS[-1], 60 + int(2 * written)))


def _exactly(e: sp.Basic, point: Mapping[sp.Symbol, sp.Basic]) -> sp.Rational | None:
    """A rational function's (with max, min and piecewise choices) exact value at a rational point;
    None for anything with exp, log, roots, or where it is undefined."""
    if any(not isinstance(f, (sp.Max, sp.Min, sp.Piecewise)) for f in e.atoms(sp.Function)) \
            or any(not p.exp.is_Integer for p in e.atoms(sp.Pow)) or e.has(sp.E, sp.Float):
        return None
    try:
        value = e.xreplace(dict(point))
    except (ZeroDivisionError, TypeError, ValueError):
        return None
    return value if value.is_Rational else None


@dataclass
class _Search:
    """Witness points for one entry: inside a region, across the domain, near and far."""

    domain: Domain
    rng: random.Random
    symbols: list[sp.Symbol]
    tries: int = 2
    found: list[dict[sp.Symbol, sp.Rational]] = field(default_factory=list)

    def points(self, region: Region | None) -> list[dict[sp.Symbol, sp.Rational]]:
        out = []
        for spread in _SPREADS:
            for _ in range(self.tries):
                point = region.point(self.rng, spread) if region is not None else {}
                pinned = set(point)
                for s in self.symbols:
                    if s not in point:
                        point[s] = self._free(s, spread)
                point = self.domain.fitted(point, pinned)
                if self.domain.admits(point):
                    out.append(point)
        return out

    def anchored(self, answer: sp.Basic, key: sp.Basic, deadline: float | None = None) -> list[dict[sp.Symbol, sp.Rational]]:
        """Points where one of the answer's comparisons flips (either side, closely) and where an
        exponential's (or tanh's) argument is 0 or 1 either way: a term such as ``exp(z_i - 1000)``
        or ``exp(-10^6 q_i)`` is below any precision except around z_i = 1000 or q_i = 1e-6, and
        shows plainly there. Only the answer's own exponentials and comparisons: the key's (attention's
        softmax) are no place where the answer hides a term, and costly to bracket."""
        base = {s: self._free(s, 2.0) for s in self.symbols}

        def tick() -> None:
            check(deadline)

        own = answer.atoms(sp.exp, Exp, sp.tanh) - key.atoms(sp.exp, Exp, sp.tanh)
        arguments = {e.args[0] + shift for e in own if not e.args[0].is_Symbol for shift in (0, 1, -1)}
        out = [point for argument in sorted(arguments, key=sp.default_sort_key)[:12]
               for point in crossings(argument, base, (0.0, 0.5), self.domain, tick, extrema=True)]
        kinks = (switches([answer]) - switches([key])) | {e.args[0] for e in answer.atoms(sp.Abs) - key.atoms(sp.Abs)}
        out += [point for switch in sorted(kinks, key=sp.default_sort_key)[:6]
                for point in crossings(switch, base, (0.5, -0.5, 0.0, 1e-6, -1e-6, 1e-12, -1e-12), self.domain, tick,
                                       extrema=True)]
        out += [point for switch in sorted(kinks | arguments, key=sp.default_sort_key)[:6]
                for point in descended(switch, base, self.domain, tick)]
        out += interiors(answer, base, self.domain, tick)
        return [point for point in out if self.domain.admits(point)]

    def _free(self, s: sp.Symbol, spread: float) -> sp.Rational:
        return sp.Rational(round(self.domain.draw(s, self.rng, spread) * 10**6), 10**6)


def decide(student: sp.Matrix, key: sp.Matrix, domain: Domain, deadline: float | None = None,
           seed: int = 0) -> Decision:
    """Prove ``student == key`` entry by entry in every region, or find a witness where they differ."""
    rng = random.Random(seed)
    answer = [canonical(sp.sympify(a)) for a in student]
    wanted = [canonical(sp.sympify(b)) for b in key]
    symbols = sorted(set().union(*[e.free_symbols for e in answer + wanted]), key=str)
    search = _Search(domain, rng, symbols)
    cut = regions(switches(answer + wanted), domain)
    if cut is None:  # comparisons that are no ordering of inputs: no proof of equality, witnesses still
        for entry, (a, b) in enumerate(zip(answer, wanted)):
            check(deadline)
            if a != b:
                found = _witness(a, b, entry, _then(search.points(None), lambda a=a, b=b: search.anchored(a, b, deadline)), deadline)
                if found is not None:
                    return found
        return Decision("unknown", reason="the answer compares values in a way the regions do not list")
    pending: dict[tuple[sp.Basic, sp.Basic], tuple[Region, int]] = {}
    for region in cut:
        check(deadline)
        for entry, (a, b) in enumerate(zip(answer, wanted)):
            pair = (domain.reduced(branch(a, region)), domain.reduced(branch(b, region)))
            if pair[0] != pair[1]:
                pending.setdefault(pair, (region, entry))
    proved = equal(list(pending), deadline)
    if all(proved):
        return Decision("equal")
    independent = all(known is False and _independent(*pair) for pair, known in zip(pending, proved) if not known)
    for (_pair, (region, entry)), known in zip(pending.items(), proved):
        if not known:
            check(deadline)
            found = _witness(answer[entry], wanted[entry], entry, _then(
                search.points(region), lambda entry=entry: search.anchored(answer[entry], wanted[entry], deadline)), deadline)
            if found is not None:
                return found
    if independent:  # a non-zero polynomial in independent indeterminates is a non-zero function
        entry = next(entry for (pair, (_, entry)), known in zip(pending.items(), proved) if not known)
        return Decision("different", entry, reason="the difference is not zero as a function of the inputs (exact "
                        "zero test), though it is too small to show at every point tried")
    return Decision("unknown", reason="not proved equal, and no point shows a difference")


def _independent(a: sp.Basic, b: sp.Basic) -> bool:
    """Whether the zero test's indeterminates for ``a - b`` are algebraically independent functions:
    inputs and exponentials only (roots and logarithms have relations the test does not know,
    sqrt(x)^2 = x, log(x y) = log x + log y), so a non-zero numerator proves a difference.

    >>> x = sp.Symbol("x", real=True)
    >>> _independent(sp.exp(-10**4 * (x - 7)**2), sp.S.Zero), _independent(Sqrt(x)**2, x)
    (True, False)
    """
    return not any(any(not p.exp.is_Integer for p in e.atoms(sp.Pow))
                   or any(f.func not in (sp.exp, Exp) for f in e.atoms(sp.Function)) for e in (a, b))


def _then(first: list[dict[sp.Symbol, sp.Rational]],
          later: Callable[[], list[dict[sp.Symbol, sp.Rational]]]) -> Iterator[dict[sp.Symbol, sp.Rational]]:
    """``first``, then ``later()``, computed only if the caller gets that far."""
    yield from first
    yield from later()


def _witness(a: sp.Basic, b: sp.Basic, entry: int, points: Iterable[dict[sp.Symbol, sp.Rational]],
             deadline: float | None) -> Decision | None:
    """The first point where ``a`` and ``b`` certainly differ by a visible amount (else the first
    where they differ at all: a difference of 1e-300 is a proof, but a poor thing to show)."""
    first = None
    for point in points:
        check(deadline)
        shown = gap(a, b, point)
        if shown is not None and shown[0]:
            found = Decision("different", entry, point, yours=shown[1], expected=shown[2])
            if abs(shown[1] - shown[2]) > 1e-6 * max(1.0, abs(shown[2])):
                return found
            first = first or found
    return first
