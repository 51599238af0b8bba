"""The fast zero test: rational functions over opaque atoms, kept as sums over denominators.

``zero.py``'s expression route expands the whole gradient difference as a SymPy tree, and
``sympy.diff`` builds the gradient itself as a tree first: together about all of the time
``gradproof derive`` takes. This module does the same arithmetic on sparse polynomials
(``sympy.polys.rings``) instead:

- every opaque building block is one generator: a symbol, ``exp``/``Exp`` of one term of its
  expanded argument (integer multiples of it as powers, so ``e^{-x} e^{x} = 1``), a ``Sqrt``,
  a ``Sum``, any other function;
- a value is a dict ``{denominator: numerator}``, a denominator a product of powers of
  *bases* (monic polynomials, or single generators). Adding values never multiplies their
  denominators together, which is what keeps attention's one-softmax-per-row sums small;
- ``sp.Derivative`` (``spec.grad`` leaves gradients unevaluated) is taken here by the
  quotient and chain rules on the polynomials, so the gradient is never built as a tree.

Everything here is sound: generators are independent indeterminates, so a numerator that is
the zero polynomial proves the identity wherever both sides are defined. What this module
cannot prove it does not judge: the caller goes on with the expression route.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.polys.rings import PolyElement, PolyRing

from .atoms import Exp, Sqrt

__all__ = ["Field", "Unsupported", "equal_entries", "evaluated", "exponential_terms", "vanishing"]

Key = tuple[tuple[int, int], ...]  # (base id, exponent) pairs, sorted: the denominator
Value = dict[Key, PolyElement]  # denominator -> numerator; zero numerators are never stored

# The expression route rewrites angle sums first; this module leaves trigonometry to it.
_REWRITTEN = (sp.sin, sp.cos, sp.tan)


class Unsupported(Exception):
    """The expression is outside what this module models; the expression route decides."""


class Field:
    """One polynomial ring for a set of expressions, and their values in it.

    Expressions compared together share it, so a subexpression met again (the loss that
    every entry of a gradient differentiates) is converted once.

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> s = 1 / (1 + Exp(-x))
    >>> field = Field([sp.Derivative(s, x) - s * (1 - s), sp.Derivative(s, x) - s])
    >>> field.vanishes(sp.Derivative(s, x) - s * (1 - s)), field.vanishes(sp.Derivative(s, x) - s)
    (True, False)
    """

    def __init__(self, exprs: Iterable[sp.Expr]) -> None:
        self._generators: dict[tuple, int] = {}
        self._kinds: list[str] = []
        self._keys: list[Any] = []
        self._arguments: list[sp.Expr | None] = []  # what a derivative chains through
        self._free: list[set] = []
        self._levels: list[int] = []  # how many derivatives deep each generator was found
        self._seen: set[sp.Basic] = set()
        self._variables: set[sp.Symbol] = set()
        self._order = 0  # the most derivatives any one Derivative takes
        for expr in exprs:
            self._scan(sp.sympify(expr), 0)
        self._derivative_exprs: dict[tuple[int, sp.Symbol], sp.Expr] = {}
        self._close_under_derivatives()
        count = max(len(self._kinds), 1)
        # Plain numbered names: rings are cached by their symbols, so equal sizes share one.
        self.ring = PolyRing(sp.symbols(f"g0:{count}"), sp.QQ)
        self._gens: Sequence[PolyElement] = self.ring.gens
        self._bases: list[PolyElement] = []
        self._base_ids: dict[frozenset, int] = {}
        self._values: dict[sp.Basic, Value] = {}
        self._generator_derivatives: dict[tuple[int, sp.Symbol], Value] = {}
        self._base_derivatives: dict[tuple[int, sp.Symbol], Value] = {}
        self._depends: dict[sp.Symbol, list[int]] = {}

    # -- scanning: every generator must be known before the ring exists --------------------

    def _generator(self, kind: str, key: Any, argument: sp.Expr | None, free: set, level: int) -> int:
        tagged = (kind, key)
        if tagged not in self._generators:
            self._generators[tagged] = len(self._kinds)
            self._kinds.append(kind)
            self._keys.append(key)
            self._arguments.append(argument)
            self._free.append(free)
            self._levels.append(level)
        return self._generators[tagged]

    def _scan(self, root: sp.Basic, level: int) -> None:
        stack = [root]
        while stack:
            e = stack.pop()
            if e in self._seen:
                continue
            self._seen.add(e)
            if not e.is_commutative:  # matrices, non-commuting symbols: a polynomial ring commutes
                raise Unsupported(f"{e} does not commute")
            if e.is_Number:
                # Floats are not exact; oo is no number a ring may hold (g y + g z = g (y + z) is
                # false at g = oo); nan and zoo are not numbers at all.
                if not e.is_Rational:
                    raise Unsupported(f"number {e}")
            elif isinstance(e, sp.log) and (split := _split_log(e)) is not e:
                stack.append(split)
            elif e.is_Add or e.is_Mul:
                stack.extend(e.args)
            elif e.is_Pow and e.exp.is_Integer:
                stack.append(e.base)
            elif isinstance(e, (sp.exp, Exp)):
                for _, rest in exponential_terms(e.args[0]):
                    self._generator("exp", rest, rest, rest.free_symbols, level)
                    stack.append(rest)
            elif isinstance(e, sp.Derivative) and not _unevaluable(e):
                variables = [v for v, _ in e.variable_count]
                if not all(v.is_Symbol for v in variables) or not all(c.is_Integer for _, c in e.variable_count):
                    raise Unsupported(f"derivative {e.variable_count}")
                self._variables.update(variables)
                self._order = max(self._order, sum(count for _, count in e.variable_count))
                stack.append(e.expr)
            elif isinstance(e, _REWRITTEN):
                raise Unsupported(f"{e.func} is rewritten by the expression route")
            elif isinstance(e, sp.Expr):
                kind, key, argument = _single(e)
                free = argument.free_symbols if argument is not None else e.free_symbols
                self._generator(kind, key, argument, free, level)
                if argument is not None:
                    stack.append(argument)
            else:
                raise Unsupported(f"not an expression: {type(e).__name__}")

    def _close_under_derivatives(self) -> None:
        """Each generator's derivative must be written in generators too: ``f'(a)`` for ``f(a)``,
        SymPy's derivative of anything opaque. Found as many derivatives deep as any
        ``Derivative`` goes (``f'``, ``f''``, ... of an arbitrary ``f`` would go on for ever)."""
        done = 0
        while done < len(self._kinds):
            kind, level, depends = self._kinds[done], self._levels[done], self._variables & self._free[done]
            if level < self._order and depends:
                if kind == "apply":
                    function, order, argument = self._keys[done]
                    self._generator(kind, (function, order + 1, argument), argument, self._free[done], level + 1)
                elif kind == "opaque":
                    for variable in depends:
                        derivative = sp.diff(self._keys[done], variable)
                        self._derivative_exprs[(done, variable)] = derivative
                        self._scan(derivative, level + 1)
            done += 1

    # -- values -----------------------------------------------------------------------------

    def value(self, e: sp.Expr) -> Value:
        """``e`` as ``{denominator: numerator}``."""
        known = self._values.get(e)
        if known is not None:
            return known
        result = self._compute(e)
        self._values[e] = result
        return result

    def _compute(self, e: sp.Expr) -> Value:
        if e.is_Rational:
            return self._constant(e)
        if isinstance(e, sp.log) and (split := _split_log(e)) is not e:
            return self.value(split)
        if e.is_Add:
            # Summed as dicts in one pass: adding term after term to a growing polynomial would
            # copy it each time (quadratic in a loss with thousands of terms).
            parts: dict[Key, list[PolyElement]] = {}
            plain: dict[tuple[int, ...], Any] = {}
            for term in e.args:
                monomial = self._monomial(term)
                if monomial is not None:
                    _add_into(plain, *monomial)
                    continue
                for key, numerator in self.value(term).items():
                    parts.setdefault(key, []).append(numerator)
            if plain:
                parts.setdefault((), []).append(self.ring.dtype(plain))
            total: Value = {}
            for key, numerators in parts.items():
                _add_into(total, key, self._sum(numerators))
            return total
        if e.is_Mul:
            monomial = self._monomial(e)
            if monomial is not None:
                return {(): self.ring.dtype({monomial[0]: monomial[1]})}
            product = self._constant(sp.S.One)
            for factor in e.args:
                product = self._multiply(product, self.value(factor))
            return product
        if e.is_Pow and e.exp.is_Integer:
            return self._power(self.value(e.base), int(e.exp))
        if isinstance(e, (sp.exp, Exp)):
            product = self._constant(sp.S.One)
            for power, rest in exponential_terms(e.args[0]):
                product = self._multiply(product, self._power(self._generator_value("exp", rest), power))
            return product
        if isinstance(e, sp.Derivative) and not _unevaluable(e):
            result = self.value(e.expr)
            for variable, count in e.variable_count:
                for _ in range(count):
                    result = self.derivative(result, variable)
            return result
        kind, key, _ = _single(e)
        return self._generator_value(kind, key)

    def _generator_value(self, kind: str, key: Any) -> Value:
        index = self._generators.get((kind, key))
        if index is None:  # an expression this field was not given
            raise Unsupported(f"{kind} {key} was not scanned")
        return {(): self._gens[index]}

    def _monomial(self, e: sp.Expr) -> tuple[tuple[int, ...], Any] | None:
        """``3 x^2 y`` as its exponents and coefficient, when ``e`` is that simple (most terms of
        a loss are); None otherwise."""
        factors = e.args if e.is_Mul else (e,)
        exponents = [0] * self.ring.ngens
        coefficient = self.ring.domain.one
        for factor in factors:
            if factor.is_Symbol and ("symbol", factor) in self._generators:
                exponents[self._generators[("symbol", factor)]] += 1
            elif factor.is_Rational:
                coefficient *= self.ring.domain.from_sympy(factor)
            elif (factor.is_Pow and factor.base.is_Symbol and factor.exp.is_Integer and int(factor.exp) > 0
                  and ("symbol", factor.base) in self._generators):
                exponents[self._generators[("symbol", factor.base)]] += int(factor.exp)
            else:
                return None
        return (tuple(exponents), coefficient) if coefficient else None

    def _sum(self, polynomials: list[PolyElement]) -> PolyElement:
        if len(polynomials) == 1:
            return polynomials[0]
        terms: dict[tuple[int, ...], Any] = {}
        for polynomial in polynomials:
            for monomial, coefficient in polynomial.items():
                _add_into(terms, monomial, coefficient)
        return self.ring.dtype(terms)

    def _constant(self, number: sp.Expr) -> Value:
        return {(): self.ring(self.ring.domain.from_sympy(number))} if number != 0 else {}

    def _multiply(self, a: Value, b: Value) -> Value:
        product: Value = {}
        for key_a, numerator_a in a.items():
            for key_b, numerator_b in b.items():
                _add_into(product, _merge(key_a, key_b), numerator_a * numerator_b)
        return product

    def _power(self, value: Value, exponent: int) -> Value:
        if exponent < 0:
            value, exponent = self._inverse(value), -exponent
        if len(value) == 1:
            ((key, numerator),) = value.items()
            return {tuple((b, e * exponent) for b, e in key): numerator**exponent}
        result = self._constant(sp.S.One)
        while exponent:
            if exponent & 1:
                result = self._multiply(result, value)
            exponent >>= 1
            if exponent:
                value = self._multiply(value, value)
        return result

    def _inverse(self, value: Value) -> Value:
        key, numerator = self.common_denominator(value)
        if not numerator:
            raise Unsupported("division by zero")
        content, bases = self._factor(numerator)
        return {bases: self._denominator_poly(key) * self.ring.domain.revert(content)}

    def _factor(self, p: PolyElement) -> tuple[Any, Key]:
        """``p = content * prod(base^exponent)``: a monomial splits into its generators, the
        rest is made monic (``2a + 2b`` and ``a + b`` are one base)."""
        if p.is_ground:
            return p.LC, ()
        smallest = [min(exponents) for exponents in zip(*p.itermonoms())]
        key: list[tuple[int, int]] = []
        for index, exponent in enumerate(smallest):
            if exponent:
                key.append((self._base_id(self._gens[index]), exponent))
        if any(smallest):
            p = p.quo_term((tuple(smallest), self.ring.domain.one))
        content = p.LC
        if not p.is_ground:
            key.append((self._base_id(p.monic()), 1))
        return content, _merge((), tuple(key))

    def _base_id(self, monic: PolyElement) -> int:
        canonical = frozenset(monic.items())
        if canonical not in self._base_ids:
            self._base_ids[canonical] = len(self._bases)
            self._bases.append(monic)
        return self._base_ids[canonical]

    def _denominator_poly(self, key: Key) -> PolyElement:
        product = self.ring.one
        for base, exponent in key:
            product *= self._bases[base] ** exponent
        return product

    # -- derivatives ------------------------------------------------------------------------

    def derivative(self, value: Value, variable: sp.Symbol) -> Value:
        """d/d(variable) by the quotient rule on each ``numerator / prod(base^e)``."""
        result: Value = {}
        for key, numerator in value.items():
            for derivative_key, derivative in self._polynomial_derivative(numerator, variable).items():
                _add_into(result, _merge(key, derivative_key), derivative)
            for base, exponent in key:
                base_derivative = self._base_derivative(base, variable)
                if not base_derivative:
                    continue
                raised = _merge(key, ((base, 1),))
                for derivative_key, derivative in base_derivative.items():
                    _add_into(result, _merge(raised, derivative_key), -exponent * numerator * derivative)
        return result

    def _polynomial_derivative(self, p: PolyElement, variable: sp.Symbol) -> Value:
        result: Value = {}
        for index in self._dependent(variable):
            partial = p.diff(self._gens[index])
            if partial:
                for key, numerator in self._generator_derivative(index, variable).items():
                    _add_into(result, key, partial * numerator)
        return result

    def _dependent(self, variable: sp.Symbol) -> list[int]:
        if variable not in self._depends:
            self._depends[variable] = [index for index, free in enumerate(self._free) if variable in free]
        return self._depends[variable]

    def _generator_derivative(self, index: int, variable: sp.Symbol) -> Value:
        cached = self._generator_derivatives.get((index, variable))
        if cached is None:
            cached = self._chain_rule(index, variable)
            self._generator_derivatives[(index, variable)] = cached
        return cached

    def _chain_rule(self, index: int, variable: sp.Symbol) -> Value:
        kind, key, argument = self._kinds[index], self._keys[index], self._arguments[index]
        if kind == "symbol":
            return self._constant(sp.S.One) if key == variable else {}
        if kind == "opaque":
            if (index, variable) not in self._derivative_exprs:  # deeper than the scan went
                raise Unsupported(f"no derivative of {key} by {variable}")
            return self.value(self._derivative_exprs[(index, variable)])
        inner = self.derivative(self.value(argument), variable)
        if kind == "exp":  # exp(u)' = exp(u) u'
            return self._multiply({(): self._gens[index]}, inner)
        if kind == "log":  # log(u)' = u' / u
            return self._multiply(self._inverse(self.value(argument)), inner)
        if kind == "sqrt":  # sqrt(u)' = u' / (2 sqrt(u))
            half = self.ring.domain.convert(sp.Rational(1, 2))
            return self._multiply({((self._base_id(self._gens[index]), 1),): self.ring(half)}, inner)
        function, order, _ = key  # f^(k)(u)' = f^(k+1)(u) u'
        if ("apply", (function, order + 1, argument)) not in self._generators:
            raise Unsupported(f"no derivative of {function} of order {order + 1}")
        return self._multiply(self._generator_value("apply", (function, order + 1, argument)), inner)

    def _base_derivative(self, base: int, variable: sp.Symbol) -> Value:
        cached = self._base_derivatives.get((base, variable))
        if cached is None:
            cached = self._polynomial_derivative(self._bases[base], variable)
            self._base_derivatives[(base, variable)] = cached
        return cached

    # -- the test ---------------------------------------------------------------------------

    def common_denominator(self, value: Value) -> tuple[Key, PolyElement]:
        """All terms over one denominator: each base at its highest power."""
        highest: dict[int, int] = {}
        for key in value:
            for base, exponent in key:
                highest[base] = max(highest.get(base, 0), exponent)
        numerator = self.ring.zero
        for key, part in value.items():
            own = dict(key)
            for base, exponent in highest.items():
                missing = exponent - own.get(base, 0)
                if missing:
                    part = part * self._bases[base] ** missing
            numerator += part
        return tuple(sorted(highest.items())), numerator

    def vanishes(self, expr: sp.Expr, minus: sp.Expr = sp.S.Zero) -> bool:
        """True when ``expr - minus`` is the zero rational function of the generators.

        Terms are first grouped by the bases of their denominators and each group put over its
        own denominator; numerators of different groups are never added (``p - p/q`` is not 0).
        Only when a group does not vanish are all terms put over one denominator.
        """
        value = dict(self.value(sp.sympify(expr)))
        for key, numerator in self.value(sp.sympify(minus)).items():
            _add_into(value, key, -numerator)
        groups: dict[frozenset[int], Value] = {}
        for key, numerator in value.items():
            groups.setdefault(frozenset(b for b, _ in key), {})[key] = numerator
        if all(not self.common_denominator(group)[1] for group in groups.values()):
            return True
        return not self.common_denominator(value)[1]


def vanishing(exprs: Sequence[sp.Expr]) -> list[bool]:
    """For each expression, whether the fast test proves it zero; all False where it cannot model them.

    >>> import sympy as sp
    >>> x, y = sp.symbols("x y", real=True)
    >>> vanishing([sp.Derivative(x**2 * y, x) - 2 * x * y, x / (x + y) + y / (x + y) - 1, x - y])
    [True, True, False]
    """
    return equal_entries(exprs, [sp.S.Zero] * len(exprs))


def equal_entries(left: Sequence[sp.Expr], right: Sequence[sp.Expr]) -> list[bool]:
    """For each pair, whether the fast test proves ``left[i] == right[i]``, in one field
    (without building the differences as expressions).

    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> equal_entries([sp.Derivative(x**3, x), x], [3 * x**2, 2 * x])
    [True, False]
    """
    try:
        field = Field([*left, *right])
        return [field.vanishes(a, b) for a, b in zip(left, right)]
    except Unsupported:
        return [False] * len(left)


def evaluated(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every ``Derivative`` taken by SymPy (and nothing else evaluated: sums stay).

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> evaluated(sp.Derivative(x**3, x) + sp.Sum(x, (sp.Symbol("i"), 1, 2)))
    3*x**2 + Sum(x, (i, 1, 2))
    """
    if not isinstance(expr, sp.Basic) or not expr.has(sp.Derivative):
        return expr
    return expr.replace(
        lambda e: isinstance(e, sp.Derivative) and not _unevaluable(e), lambda e: e.doit(deep=False)
    )


def _unevaluable(derivative: sp.Derivative) -> bool:
    """``f'(x)`` of an arbitrary function ``f``, by one of its own arguments: SymPy cannot
    evaluate it either, so it is an atom. (``d f(w x) / dw`` is not: the chain rule applies.)"""
    expr = derivative.expr
    return isinstance(expr, AppliedUndef) and any(v in expr.args for v, _ in derivative.variable_count)


def _single(e: sp.Expr) -> tuple[str, Any, sp.Expr | None]:
    """One generator's kind, key, and the argument its derivative chains through (if any).

    An arbitrary function of one argument and its derivatives, however SymPy writes them
    (``f(u)``, ``Derivative(f(x), x)``, ``Subs(Derivative(f(t), t), t, u)``), are ``f^(k)(u)``.
    """
    if e.is_Symbol:
        return "symbol", e, None
    if isinstance(e, Sqrt):
        argument = sp.expand(e.args[0])
        return "sqrt", argument, argument
    if isinstance(e, sp.log):
        return "log", e.args[0], e.args[0]
    if isinstance(e, AppliedUndef) and len(e.args) == 1:
        return "apply", (e.func, 0, e.args[0]), e.args[0]
    if isinstance(e, sp.Derivative) and (found := _function_derivative(e)):
        return "apply", found, found[2]
    if isinstance(e, sp.Subs) and (found := _function_derivative(e.expr)) and e.variables == (found[2],):
        function, order, _ = found
        return "apply", (function, order, e.point[0]), e.point[0]
    return "opaque", e, None


def _split_log(e: sp.log) -> sp.Expr:
    """``log(x y) = log x + log y`` where SymPy knows the factors are positive (``expand_log``);
    ``e`` itself otherwise."""
    split = sp.expand_log(e)
    return e if split == e else split


def _function_derivative(e: sp.Basic) -> tuple[Any, int, sp.Symbol] | None:
    """``Derivative(f(t), (t, k))`` as ``(f, k, t)``; None for anything else."""
    if not (isinstance(e, sp.Derivative) and isinstance(e.expr, AppliedUndef) and len(e.expr.args) == 1):
        return None
    (variable, order), = e.variable_count if len(e.variable_count) == 1 else ((None, 0),)
    if variable is None or variable != e.expr.args[0] or not order.is_Integer:
        return None
    return e.expr.func, int(order), variable


def exponential_terms(argument: sp.Expr) -> list[tuple[int, sp.Expr]]:
    """The factors of ``exp(argument)``, one per term: integer multiples become powers.

    >>> a, b, c = sp.symbols("a b c")
    >>> exponential_terms(2 * a - b + c / 2)  # exp(2a - b + c/2) = exp(c/2) exp(b)^-1 exp(a)^2
    [(1, c/2), (-1, b), (2, a)]
    """
    terms = []
    for term in sp.Add.make_args(sp.expand(argument)):
        coefficient, rest = term.as_coeff_Mul()
        terms.append((int(coefficient), rest) if coefficient.is_Integer else (1, term))
    return terms


def _merge(a: Key, b: Key) -> Key:
    if not b:
        return a
    if not a:
        return b
    exponents = dict(a)
    for base, exponent in b:
        exponents[base] = exponents.get(base, 0) + exponent
    return tuple(sorted(exponents.items()))


def _add_into(total: dict, key: Any, numerator: Any) -> None:
    """``total[key] += numerator`` for sparse dicts (a value's numerators, a polynomial's
    coefficients): a zero is never stored."""
    if not numerator:
        return
    known = total.get(key)
    if known is None:
        total[key] = numerator
        return
    summed = known + numerator
    if summed:
        total[key] = summed
    else:
        del total[key]
