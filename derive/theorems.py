"""The lecture's theorems that are not gradients: inequalities and expectations, proved so they cannot be faked.

An equality goes through the zero test like every other claim (``spec.Claim``). An inequality
``gap >= 0`` needs a *certificate*: an identity

    gap = sum_k w_k f_k(a_k) + sum_j c_j h_j

where every ``h_j`` is 0 by a stated assumption (``sum_i p_i - 1``), every weight ``w_k`` is
nonnegative by SymPy's assumptions on the symbols (a positive entry, a declared nonnegative slack),
and every ``f_k`` is a :class:`Lemma`, a function of one variable proved nonnegative on an
interval that holds ``a_k``. The identity is decided by the project's zero test (entrywise at
concrete sizes, or :func:`derive.indexcalc.index_zero` at symbolic size); a lemma by calculus in
SymPy (the critical points of ``f`` on the interval, and its limits at the ends). Before any of
that, the gap is evaluated at the theorem's points (the equality cases, and random points): a
negative value is a counterexample and the theorem is ``failed``. A certificate that does not
check, with no counterexample found, is only ``numeric``.

An expectation is reduced by linearity to moments that are stated (``E[q_i] = 0``,
``E[q_i q_j] = delta_ij``), and the result is compared with the claimed value by the zero test.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import sympy as sp

from .indexcalc import index_zero
from .proof import compare_matrices
from .types import Status, Step

__all__ = [
    "Lemma", "LemmaProof", "Term", "Certificate", "Inequality", "prove_lemma", "check_certificate",
    "counterexample", "prove_inequality", "shown", "is_zero", "check_equality", "inequality_step", "expectation", "Expectation", "prove_expectation",
    "expectation_step", "square_of_sum", "index_expectation", "PHI", "ONE_MINUS_EXP",
]

_DIGITS = 30
_SLACK = sp.Float("1e-25")


@dataclass(frozen=True)
class Lemma:
    """``function(variable) >= 0`` on ``domain``: the nonnegative pieces certificates are made of.

    >>> PHI.name
    't - 1 - log t >= 0 for t > 0'
    """

    name: str
    variable: sp.Symbol
    function: sp.Expr
    domain: sp.Interval

    def __call__(self, argument: sp.Expr) -> sp.Expr:
        return self.function.xreplace({self.variable: argument})


@dataclass(frozen=True)
class LemmaProof:
    """The outcome of :func:`prove_lemma`: the least value, where it is 0, and the argument in words."""

    ok: bool
    minimum: sp.Expr
    zeros: tuple[sp.Expr, ...]
    text: str


_t = sp.Symbol("t", positive=True)
_u = sp.Symbol("u", real=True)
PHI = Lemma("t - 1 - log t >= 0 for t > 0", _t, _t - 1 - sp.log(_t), sp.Interval.open(0, sp.oo))
ONE_MINUS_EXP = Lemma("1 - e^u >= 0 for u <= 0", _u, 1 - sp.exp(_u), sp.Interval(-sp.oo, 0))


@cache
def prove_lemma(lemma: Lemma) -> LemmaProof:
    """A continuously differentiable function on an interval takes its least value at a critical point inside,
    or at (or as a limit towards) an end. SymPy finds the critical points (``solveset`` of the
    derivative, which must be a finite set) and the values there; the lemma holds when none is negative.

    >>> proof = prove_lemma(PHI)
    >>> proof.ok, proof.minimum, proof.zeros
    (True, 0, (1,))
    >>> prove_lemma(Lemma("log t >= 0 for t > 0", _t, sp.log(_t), sp.Interval.open(0, sp.oo))).ok
    False
    """
    from sympy.calculus.util import continuous_domain

    x, f, domain = lemma.variable, lemma.function, lemma.domain
    derivative = sp.diff(f, x)
    # The argument needs f differentiable on the whole interval: a pole inside (2 - 1/u^2 on (-1, 1))
    # would hide values below every critical value.
    for g, what in ((f, "f"), (derivative, "f'")):
        if continuous_domain(g, x, domain) != domain:
            return LemmaProof(False, sp.nan, (), f"{what} = {g} is not continuous on all of {domain}")
    critical = sp.solveset(derivative, x, domain.interior)
    if critical.is_empty:
        critical = []
    elif not isinstance(critical, sp.FiniteSet):
        return LemmaProof(False, sp.nan, (), f"critical points of {f} on {domain} not a finite set: {critical}")
    candidates: list[tuple[sp.Expr, sp.Expr, bool]] = [(c, sp.simplify(f.subs(x, c)), True) for c in critical]
    for end, is_open, direction in ((domain.start, domain.left_open, "+"), (domain.end, domain.right_open, "-")):
        if end.is_infinite or is_open:
            candidates.append((end, sp.limit(f, x, end, direction), False))  # approached, never attained
        else:
            candidates.append((end, sp.simplify(f.subs(x, end)), True))
    values = [value for _, value, _ in candidates]
    if not all(v.is_extended_real for v in values):
        return LemmaProof(False, sp.nan, (), f"values {values} are not all real")
    minimum = sp.Min(*values)
    ok = bool(minimum >= 0)
    zeros = tuple(point for point, value, attained in candidates if attained and value == 0)
    shown = ", ".join(f"f({point}) = {value}" if attained else f"f -> {value} at {point}"
                      for point, value, attained in candidates)
    points = ", ".join(f"{x} = {c}" for c in sorted(critical, key=str)) or "no point"
    text = (f"f = {f}, f' = {derivative} vanishes on {interval_text(domain)} only at {points}; "
            f"{shown}; so f >= {minimum} there")
    return LemmaProof(ok, minimum, zeros, text)


def interval_text(domain: sp.Interval) -> str:
    """An interval as a lecture writes it.

    >>> interval_text(sp.Interval.open(0, sp.oo)), interval_text(sp.Interval(-sp.oo, 0))
    ('(0, ∞)', '(-∞, 0]')
    """
    def end(value: sp.Expr) -> str:
        return "∞" if value is sp.oo else "-∞" if value is -sp.oo else str(value)

    left = "(" if domain.left_open or domain.start.is_infinite else "["
    right = ")" if domain.right_open or domain.end.is_infinite else "]"
    return f"{left}{end(domain.start)}, {end(domain.end)}{right}"


@dataclass(frozen=True)
class Term:
    """``weight * lemma(argument)``, or ``weight`` alone when ``lemma`` is None; summed over
    ``limits`` (``(i, 1, n)``) at symbolic size."""

    weight: sp.Expr
    lemma: Lemma | None = None
    argument: sp.Expr = sp.S.Zero
    limits: tuple = ()

    def value(self) -> sp.Expr:
        inner = self.weight * (self.lemma(self.argument) if self.lemma else sp.S.One)
        return sp.Sum(inner, self.limits) if self.limits else inner


@dataclass(frozen=True)
class Certificate:
    """``gap = sum(term values) + sum(c_j * h_j)``, with ``h_j`` the theorem's assumptions (0 by assumption)."""

    gap: sp.Expr
    terms: tuple[Term, ...]
    multipliers: Mapping[str, sp.Expr] = field(default_factory=dict)  # assumption name -> c_j


def _in_domain(argument: sp.Expr, domain: sp.Interval) -> bool:
    low = (argument - domain.start).is_positive if domain.left_open else (argument - domain.start).is_nonnegative
    high = (domain.end - argument).is_positive if domain.right_open else (domain.end - argument).is_nonnegative
    return bool((domain.start.is_infinite or low) and (domain.end.is_infinite or high))


def check_certificate(certificate: Certificate, assumptions: Mapping[str, sp.Expr], symbolic: bool) -> str | None:
    """None when the certificate proves ``gap >= 0``; else what is wrong with it.

    >>> x = sp.Symbol("x", positive=True)
    >>> check_certificate(Certificate(x - 1 - sp.log(x), (Term(sp.S.One, PHI, x),)), {}, False) is None
    True
    >>> check_certificate(Certificate(1 + sp.log(x) - x, (Term(sp.S.One, PHI, x),)), {}, False)
    'the identity gap = certificate does not reduce to 0'
    """
    unknown = set(certificate.multipliers) - set(assumptions)
    if unknown:
        return f"multipliers for assumptions not stated: {sorted(unknown)}"
    total = sp.Add(*[term.value() for term in certificate.terms])
    total += sp.Add(*[c * assumptions[name] for name, c in certificate.multipliers.items()])
    if symbolic:
        same = index_zero(certificate.gap - total) == 0
    else:
        same = compare_matrices(sp.Matrix([certificate.gap]), sp.Matrix([total])).kind == "proved"
    if not same:
        return "the identity gap = certificate does not reduce to 0"
    for term in certificate.terms:
        if not term.weight.is_nonnegative:
            return f"weight {term.weight} is not known to be >= 0"
        if term.lemma is None:
            continue
        if not prove_lemma(term.lemma).ok:
            return f"lemma {term.lemma.name!r} is not proved: {prove_lemma(term.lemma).text}"
        if not _in_domain(term.argument, term.lemma.domain):
            return f"{term.argument} is not known to lie in {term.lemma.domain}"
    return None


def counterexample(gap: sp.Expr, points: Sequence[Mapping[sp.Symbol, sp.Expr]]) -> str | None:
    """The first point where ``gap < 0`` (evaluated with 30 digits), in words; None if there is none.

    >>> x = sp.Symbol("x", real=True)
    >>> counterexample(x**2 - 1, [{x: 2}, {x: sp.Rational(1, 2)}])
    'gap = -0.75000000 < 0 at x=1/2'
    """
    for point in points:
        value = sp.N(gap.xreplace(dict(point)), _DIGITS)
        if value.is_number and value < -_SLACK:
            shown = ", ".join(f"{s}={v}" for s, v in point.items())
            return f"gap = {sp.N(value, 8)} < 0 at {shown}"
    return None


Sides = Callable[[Mapping[str, int] | None], tuple[sp.Expr, sp.Expr]]


@dataclass(frozen=True)
class Inequality:
    """A theorem ``greater >= lesser`` at the sizes in ``sizes`` (each with its certificate and points) and,
    when ``symbolic`` is given, at symbolic size (its certificate with sums over an index).

    ``sides(sizes)`` (``sides(None)`` at symbolic size) gives the two sides as expressions built from the
    definitions; every certificate's gap must be ``greater - lesser`` by the zero test, so the claim that
    is shown (:func:`shown`, made from the same sides) is the claim that is proved. ``names`` maps a pretty
    name to the expression it stands for, for printing only. ``abbreviations`` are symbols a certificate
    uses for an expression (``sigma`` for a sum): they are replaced by it before the gap is compared.
    ``equality_case(sizes)`` is the equality case as data: a substitution under which the gap is 0 (and only
    then), or None where the inequality is strict at that size; checked against the lemmas' zeros. Without
    it an ``equality`` sentence is shown as not proved. A ``display`` given by hand must be the relation of
    the sides (names unfolded), or the theorem fails."""

    key: str
    statement: str
    reason: str
    sides: Sides
    assumptions: Callable[[Mapping[str, int] | None], Mapping[str, sp.Expr]]
    certificate: Callable[[Mapping[str, int]], Certificate]
    points: Callable[[Mapping[str, int], random.Random], Sequence[Mapping[sp.Symbol, sp.Expr]]]
    sizes: tuple[Mapping[str, int], ...]
    symbolic: Callable[[], Certificate] | None = None
    rests_on: tuple[str, ...] = ()
    equality: str = ""
    equality_case: Callable[[Mapping[str, int]], Mapping[sp.Symbol, sp.Expr] | None] | None = None
    names: Mapping[str, sp.Expr] = field(default_factory=dict)
    relation: str = ">="  # how it is printed: ">=" (greater >= lesser) or "<=" (lesser <= greater)
    abbreviations: Callable[[Mapping[str, int] | None], Mapping[sp.Symbol, sp.Expr]] = lambda sizes: {}
    display: sp.Basic | None = None


def _normalised(expr: sp.Expr) -> sp.Expr:
    """Identities only: e^(a+b) = e^a e^b, common factors taken out (of a sum inside a log too), and the log of
    a product of positive factors split. log(e^m + e^(m-u)) = m + log(1 + e^-u) is then plain to the zero test."""
    return sp.expand_log(sp.factor_terms(sp.expand(expr, power_exp=True, mul=False, log=False, multinomial=False,
                                                   power_base=False, deep=True)))


def is_zero(expr: sp.Expr, symbolic: bool) -> bool:
    """The project's zero test, the one certificates use: entrywise at a concrete size, index form at symbolic
    size; tried on ``expr`` and then on :func:`_normalised` ``expr`` (the same value).

    >>> x = sp.Symbol("x", real=True)
    >>> is_zero(sp.log(sp.exp(x) + sp.exp(x - 1)) - x - sp.log(1 + sp.exp(-1)), False)
    True
    >>> is_zero(sp.log(1 + x**2) - 1, False)
    False
    """
    for candidate in (expr, None):
        if candidate is None:
            try:
                candidate = _normalised(expr)
            except (TypeError, ValueError, NotImplementedError):
                return False
        if symbolic:
            if index_zero(candidate) == 0:
                return True
        elif compare_matrices(sp.Matrix([candidate]), sp.Matrix([0])).kind == "proved":
            return True
    return False


def _name_map(theorem: Inequality) -> dict[sp.Expr, sp.Symbol]:
    return {definition: sp.Symbol(name) for name, definition in theorem.names.items()}


def _unname(expr: sp.Basic, theorem: Inequality) -> sp.Basic:
    return sp.sympify(expr).xreplace({sp.Symbol(name): definition for name, definition in theorem.names.items()})


def shown(theorem: Inequality) -> sp.Basic:
    """The displayed claim, made from ``sides(None)`` with the pretty names put in for printing.

    >>> from derive.topics.information import GIBBS, ENTROPY_BOUND
    >>> shown(GIBBS), shown(ENTROPY_BOUND)
    (D_KL(p||q) >= 0, H(p) <= log(n))
    """
    greater, lesser = theorem.sides(None)
    names = _name_map(theorem)
    big, small = sp.sympify(greater).xreplace(names), sp.sympify(lesser).xreplace(names)
    if theorem.relation == "<=":
        return sp.LessThan(small, big, evaluate=False)
    return sp.GreaterThan(big, small, evaluate=False)


def _display_problem(theorem: Inequality) -> str | None:
    """None when the displayed relation (given by hand, or :func:`shown`) unfolds to ``greater >= lesser``."""
    display = theorem.display if theorem.display is not None else shown(theorem)
    if isinstance(display, sp.GreaterThan):
        big, small = display.lhs, display.rhs
    elif isinstance(display, sp.LessThan):
        big, small = display.rhs, display.lhs
    else:
        return f"the displayed claim {display} is not an inequality >= or <="
    greater, lesser = theorem.sides(None)
    big, small = _unname(big, theorem), _unname(small, theorem)
    if not (is_zero(big - greater, True) and is_zero(small - lesser, True)):
        return f"the displayed claim {display} is not the claim the sides state ({greater} >= {lesser})"
    return None


def _gap_problem(theorem: Inequality, certificate: Certificate, sizes: Mapping[str, int] | None) -> str | None:
    """None when the certificate's gap is ``greater - lesser`` (abbreviations replaced) by the zero test."""
    greater, lesser = theorem.sides(sizes)
    gap = certificate.gap.xreplace(dict(theorem.abbreviations(sizes)))
    if is_zero(gap - (greater - lesser), sizes is None):
        return None
    return f"the certificate's gap {certificate.gap} is not greater - lesser = {greater} - ({lesser})"


def check_equality(certificate: Certificate, case: Mapping[sp.Symbol, sp.Expr] | None) -> str | None:
    """None when ``case`` is exactly where the certificate's gap is 0 (assumptions holding), by the lemmas' zeros.

    Every term is >= 0, so gap = 0 if and only if every term is 0. ``case`` None says the gap is never 0: a
    term with no lemma has a weight known > 0. Otherwise each term must vanish under ``case`` (a weight 0, or
    the lemma's argument at one of its zeros: *if*), and each substituted variable must be forced by one term
    whose weight is known > 0 and whose lemma has a single zero (solving argument = zero gives it: *only if*).

    >>> p, q = sp.symbols("p_1 q_1", positive=True)
    >>> c = Certificate(p * sp.log(p / q), (Term(p, PHI, q / p),))
    >>> check_equality(c, {q: p}) is None
    True
    >>> check_equality(c, {q: 2 * p})
    'at the equality case, PHI argument q_1/p_1 = 2 is not a zero of the lemma (zeros (1,))'
    """
    if case is None:
        if any(term.lemma is None and not term.limits and term.weight.is_positive for term in certificate.terms):
            return None
        return "the gap is claimed never 0, but no term is known to be > 0"
    case = dict(case)
    for term in certificate.terms:
        weight = term.weight.xreplace(case)
        if is_zero(weight, False):
            continue
        if term.lemma is None:
            return f"at the equality case, the term {term.weight} = {weight} is not 0"
        zeros = prove_lemma(term.lemma).zeros
        argument = term.argument.xreplace(case)
        if not any(is_zero(argument - zero, False) for zero in zeros):
            name = "PHI" if term.lemma == PHI else term.lemma.name
            return (f"at the equality case, {name} argument {term.argument} = {argument} "
                    f"is not a zero of the lemma (zeros {zeros})")
    for variable, value in case.items():
        forced = False
        for term in certificate.terms:
            if term.lemma is None or not term.weight.is_positive or variable not in term.argument.free_symbols:
                continue
            zeros = prove_lemma(term.lemma).zeros
            if len(zeros) != 1:
                continue
            solutions = sp.solve(sp.Eq(term.argument, zeros[0]), variable)
            if len(solutions) == 1 and is_zero(solutions[0] - value, False):
                forced = True
                break
        if not forced:
            return f"no term with a weight > 0 forces {variable} = {value}: the 'only if' is not shown"
    return None


def prove_inequality(theorem: Inequality, seed: int = 0) -> Status:
    """Check the displayed claim against the sides, search for a counterexample at every size, check that each
    certificate's gap is the sides' difference, then check the certificates and the equality case.

    >>> from derive.topics.information import GIBBS
    >>> prove_inequality(GIBBS).label
    'proved'
    """
    rng = random.Random(seed)
    done: list[Mapping[str, int]] = []
    problems: list[str] = []
    shown_problem = _display_problem(theorem)
    if shown_problem:
        return Status("failed", (), shown_problem)
    for sizes in theorem.sizes:
        done.append(sizes)
        certificate = theorem.certificate(sizes)
        shown_at = ", ".join(f"{k}={v}" for k, v in sizes.items())
        greater, lesser = theorem.sides(sizes)
        bad = counterexample(greater - lesser, theorem.points(sizes, rng))
        if bad:
            return Status("failed", tuple(done), f"at {shown_at}: counterexample: {bad}")
        gap_problem = _gap_problem(theorem, certificate, sizes)
        if gap_problem:
            return Status("failed", tuple(done), f"at {shown_at}: {gap_problem}")
        bad = counterexample(certificate.gap, theorem.points(sizes, rng))
        if bad:
            return Status("failed", tuple(done), f"at {shown_at}: counterexample: {bad}")
        problem = check_certificate(certificate, theorem.assumptions(sizes), symbolic=False)
        if problem:
            problems.append(f"at {shown_at}: {problem}")
        elif theorem.equality_case is not None:
            abbreviated = dataclasses.replace(certificate, terms=tuple(
                dataclasses.replace(term, weight=term.weight.xreplace(dict(theorem.abbreviations(sizes))),
                                    argument=sp.sympify(term.argument).xreplace(dict(theorem.abbreviations(sizes))))
                for term in certificate.terms))
            wrong = check_equality(abbreviated, theorem.equality_case(sizes))
            if wrong:
                return Status("failed", tuple(done), f"at {shown_at}: the stated equality case: {wrong}")
    if problems:
        return Status("numeric", tuple(done), "no counterexample at the sampled points, but the certificate "
                      "does not check: " + "; ".join(problems))
    # The equality case's check is said in the step's claim (inequality_step), not in the detail, whose parts
    # are translated one by one from a fixed table.
    if theorem.symbolic is not None:
        certificate = theorem.symbolic()
        gap_problem = _gap_problem(theorem, certificate, None)
        if gap_problem:
            return Status("failed", tuple(done), f"at symbolic size: {gap_problem}")
        problem = check_certificate(certificate, theorem.assumptions(None), symbolic=True)
        if problem is None:
            also = "; entrywise at every listed size too" if any(done) else ""
            return Status("proved", tuple(done), "certificate at symbolic size" + also)
        return Status("proved_sizes", tuple(done),
                      f"certificate at every listed size; at symbolic size: {problem}")
    return Status("proved_sizes", tuple(done), "certificate at every listed size")


_STRENGTH = {"failed": 0, "numeric": 1, "proved_sizes": 2, "proved": 3}


def inequality_step(theorem: Inequality, *parts: Inequality) -> Step:
    """The theorem as a derivation step of kind ``inequality``, with what its proof rests on.

    With ``parts``, the step claims them all (e.g. the bound for each kind of entry) and its status
    is the weakest of theirs.
    """
    statuses = [prove_inequality(t) for t in (theorem, *parts)]
    status = min(statuses, key=lambda s: _STRENGTH[s.kind])
    lemmas = [lemma for t in (theorem, *parts) for lemma in _lemmas(t)]
    proof = tuple(f"lemma: {prove_lemma(lemma).text}" for lemma in dict.fromkeys(lemmas)) + theorem.rests_on
    claim = theorem.statement
    if theorem.equality:
        checked = theorem.equality_case is not None and status.kind != "failed"
        claim += (f"; {theorem.equality} (the equality case checked against the lemmas' zeros at every listed size)"
                  if checked else f"; not proved: {theorem.equality}")
    return Step(claim, shown(theorem), theorem.reason, status, theorem.key, kind="inequality", proof=proof)


def _lemmas(theorem: Inequality) -> list[Lemma]:
    found: list[Lemma] = []
    for term in theorem.certificate(theorem.sizes[0]).terms:
        if term.lemma is not None and term.lemma not in found:
            found.append(term.lemma)
    return found


def expectation(polynomial: sp.Expr, variables: Sequence[sp.Symbol], moments: Mapping[int, sp.Expr]) -> sp.Expr:
    """``E[polynomial]`` for independent ``variables`` that share the moments ``E[x^k] = moments[k]``,
    by linearity: each monomial's expectation is the product of its variables' moments.

    A moment that is needed and not stated raises ``KeyError``: nothing is assumed silently.

    >>> q1, q2 = sp.symbols("q1 q2", real=True)
    >>> expectation((q1 + q2) ** 2, [q1, q2], {1: 0, 2: 1})
    2
    >>> expectation(q1**4, [q1], {1: 0, 2: 1})
    Traceback (most recent call last):
    ...
    KeyError: 'the moment E[x^4] is needed and not stated'
    """
    poly = sp.Poly(sp.expand(polynomial), *variables)
    total = sp.S.Zero
    for powers, coefficient in poly.terms():
        value = coefficient
        for power in powers:
            if power == 0:
                continue
            if power not in moments:
                raise KeyError(f"the moment E[x^{power}] is needed and not stated")
            value *= moments[power]
        total += value
    return sp.expand(total)


def square_of_sum(total: sp.Expr, fresh: sp.Symbol) -> sp.Expr:
    """``(c * Sum(f(a), (a, lo, hi)))^2`` as ``c^2 * Sum(Sum(f(a) f(b), (b, lo, hi)), (a, lo, hi))``, with
    ``fresh`` as ``b``: the square written out as a double sum, an identity.

    >>> a, b, d = sp.symbols("a b d", integer=True)
    >>> x = sp.IndexedBase("x")
    >>> square_of_sum(sp.Sum(x[a], (a, 1, d)) / 2, b)
    Sum(x[a]*x[b], (b, 1, d), (a, 1, d))/4
    """
    coefficient, sums = sp.S.One, []
    for factor in sp.Mul.make_args(total):
        if isinstance(factor, sp.Sum):
            sums.append(factor)
        else:
            coefficient *= factor
    if len(sums) != 1 or len(sums[0].limits) != 1:
        raise ValueError(f"{total} is not a constant times one single sum")
    inner, (a, low, high) = sums[0].function, sums[0].limits[0]
    return coefficient**2 * sp.Sum(inner * inner.xreplace({a: fresh}), (fresh, low, high), (a, low, high))


def index_expectation(total: sp.Expr, moments: Mapping[sp.IndexedBase, Mapping[int, Callable[..., sp.Expr]]]) -> sp.Expr:
    """``E[total]`` for a constant times nested sums of monomials in indexed variables, by linearity: the
    expectation goes inside the sums and the products; variables of different bases are independent, so a
    monomial's expectation is the product over bases of the stated joint moment of that base's factors
    (``moments[base][k](*indices)`` for k factors: ``E[q_a] = 0``, ``E[q_a q_b] = delta_ab``). The deltas are then
    collapsed and the sums done. A moment that is needed and not stated raises ``KeyError``.

    >>> a, b, d = sp.symbols("a b d", integer=True, positive=True)
    >>> q = sp.IndexedBase("q")
    >>> unit = {1: lambda i: sp.S.Zero, 2: sp.KroneckerDelta}
    >>> index_expectation(sp.Sum(q[a] * q[b], (b, 1, d), (a, 1, d)), {q: unit})
    d
    """
    from .indexcalc import collapse_deltas

    coefficient, body = sp.S.One, sp.S.Zero
    for factor in sp.Mul.make_args(total):
        if isinstance(factor, sp.Sum):
            body = factor
        else:
            coefficient *= factor
    if not isinstance(body, sp.Sum):
        raise ValueError(f"{total} is not a constant times a sum")
    summand, limits = body.function, list(body.limits)

    def moment(monomial: sp.Expr) -> sp.Expr:
        value, factors = sp.S.One, {}
        for factor in sp.Mul.make_args(monomial):
            base, power = factor.as_base_exp()
            if isinstance(base, sp.Indexed) and base.base in moments and power.is_Integer and power > 0:
                factors.setdefault(base.base, []).extend([base.indices[0]] * int(power))
            else:
                value *= factor
        for base, indices in factors.items():
            if len(indices) not in moments[base]:
                raise KeyError(f"the moment of {len(indices)} factors of {base} is needed and not stated")
            value *= moments[base][len(indices)](*indices)
        return value

    reduced = sp.Add(*[moment(term) for term in sp.Add.make_args(sp.expand(summand))])
    for limit in limits:  # innermost first: collapse its deltas, then do the sum
        reduced = collapse_deltas(sp.Sum(sp.expand(reduced.replace(
            lambda e: e.is_Pow and isinstance(e.base, sp.KroneckerDelta), lambda e: e.base)), limit)).doit()
    return sp.simplify(coefficient * reduced)


@dataclass(frozen=True)
class Expectation:
    """A theorem ``E[quantity] = claimed``: at each size in ``sizes`` by :func:`expectation` on the
    polynomial, and at symbolic size by ``symbolic()`` (the reduction by linearity to the stated moments)."""

    key: str
    statement: str
    reason: str
    display: sp.Basic
    value: Callable[[Mapping[str, int]], sp.Expr]
    claimed: Callable[[Mapping[str, int] | None], sp.Expr]
    sizes: tuple[Mapping[str, int], ...]
    symbolic: Callable[[], sp.Expr] | None = None
    rests_on: tuple[str, ...] = ()


def prove_expectation(theorem: Expectation) -> Status:
    """Compare the expectation with the claim at every size (exactly), then at symbolic size.

    >>> from derive.topics.attention import SCORE_VARIANCE
    >>> prove_expectation(SCORE_VARIANCE).label
    'proved'
    """
    from .zero import rational_residual

    done: list[Mapping[str, int]] = []
    for sizes in theorem.sizes:
        done.append(sizes)
        value, claimed = theorem.value(sizes), theorem.claimed(sizes)
        if rational_residual(value - claimed) != 0:
            shown = ", ".join(f"{k}={v}" for k, v in sizes.items())
            return Status("failed", tuple(done), f"at {shown}: the expectation is {value}, not {claimed}")
    if theorem.symbolic is not None:
        reduced = theorem.symbolic()
        if rational_residual(reduced - theorem.claimed(None)) == 0:
            return Status("proved", tuple(done), "by linearity at symbolic size; exactly at every listed size too")
        return Status("proved_sizes", tuple(done), f"exactly at every listed size; at symbolic size it reduced to {reduced}")
    return Status("proved_sizes", tuple(done), "exactly at every listed size")


def expectation_step(theorem: Expectation) -> Step:
    """The theorem as a derivation step of kind ``expectation``."""
    status = prove_expectation(theorem)
    return Step(theorem.statement, theorem.display, theorem.reason, status, theorem.key, kind="expectation",
                proof=theorem.rests_on)
