"""Property tests: the closed forms agree with the derived gradients at sizes 1..4, and the
zero test never calls something zero that is not."""

from functools import cache

import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from derive import NAMES, topic
from derive.atoms import Exp, Sqrt
from derive.grouped import evaluated
from derive.proof import compare_matrices, concrete_functions
from derive.spec import EnvCache
from derive.zero import rational_residual

# Sizes 1..4 for every entry, within what an entrywise proof can afford per example.
CHEAP_LIMIT = {"attention": 2, "multihead_attention": 2, "bp": 3, "layernorm": 4}


@cache
def _envs(name: str) -> EnvCache:
    return EnvCache(topic(name).build)


@st.composite
def claim_and_sizes(draw):
    name = draw(st.sampled_from(NAMES))
    t = topic(name)
    claim = draw(st.sampled_from(t.claims))
    grid = claim.sizes or t.grid
    limit = CHEAP_LIMIT.get(name, 4)
    candidates = [s for s in grid if max(s.values()) <= limit] or list(grid[:1])
    return name, claim, draw(st.sampled_from(candidates))


def _value(draw, symbol: sp.Symbol) -> sp.Rational:
    low = 1 if symbol.is_positive else -30
    value = draw(st.integers(low, 30).filter(lambda v: v != 0))
    return sp.Rational(value, 10)


@given(st.data())
def test_closed_form_agrees_with_derived_numerically(data) -> None:
    """Independent of the zero test: evaluate both sides at a random rational point."""
    name, claim, sizes = data.draw(claim_and_sizes())
    env = _envs(name)(sizes)
    derived, claimed = claim.derived(env), claim.claimed(env)
    assert derived.shape == claimed.shape
    # An identity for any activation f must hold for one: evaluate with f = tanh(u) + u/3.
    # The derived side's derivatives are taken by SymPy here, not by the zero test's polynomials.
    derived = derived.applyfunc(lambda e: concrete_functions(evaluated(e)))
    claimed = claimed.applyfunc(concrete_functions)
    symbols = sorted(derived.free_symbols | claimed.free_symbols, key=lambda s: s.name)
    point = {s: _value(data.draw, s) for s in symbols}
    for d, c in zip(derived, claimed):
        d_value, c_value = sp.N(d.xreplace(point), 30), sp.N(c.xreplace(point), 30)
        assert abs(d_value - c_value) <= sp.Float("1e-20") * (1 + abs(d_value)), (name, claim.key, sizes, point)


@given(claim_and_sizes())
def test_closed_form_is_proved_at_drawn_sizes(case) -> None:
    name, claim, sizes = case
    env = _envs(name)(sizes)
    assert compare_matrices(claim.derived(env), claim.claimed(env)).kind == "proved", (name, claim.key, sizes)


# Random rational expressions over a few atoms, to test the zero test's soundness.
_x, _y = sp.symbols("x y", real=True)
_p = sp.Symbol("p", positive=True)
_leaves = st.sampled_from([_x, _y, _p, sp.Integer(1), sp.Integer(2), sp.Rational(1, 3)])


def _combine(children):
    return st.one_of(
        st.tuples(children, children).map(lambda ab: ab[0] + ab[1]),
        st.tuples(children, children).map(lambda ab: ab[0] * ab[1]),
        st.tuples(children, children).map(lambda ab: ab[0] - ab[1]),
        children.map(lambda a: 1 / (1 + a**2)),
        children.map(Exp),
        children.map(lambda a: Sqrt(1 + a**2)),
    )


expressions = st.recursive(_leaves, _combine, max_leaves=6)


_POINTS = ({_x: sp.Rational(3, 7), _y: -sp.Rational(5, 3), _p: sp.Rational(2, 5)},
           {_x: -2, _y: sp.Rational(1, 9), _p: 3})


@given(expressions, expressions)
def test_zero_test_is_sound(a: sp.Expr, b: sp.Expr) -> None:
    """Whenever the zero test says a - b = 0, a and b agree at random points."""
    if rational_residual(a - b) == 0:
        for point in _POINTS:
            assert abs(sp.N((a - b).xreplace(point), 30)) < sp.Float("1e-20")


@given(expressions, st.sampled_from([sp.together, sp.expand, sp.factor_terms, lambda e: e * (_x**2 + 1) / (_x**2 + 1)]))
def test_zero_test_sees_rewritten_forms_as_equal(a: sp.Expr, rewrite) -> None:
    """The same expression in another shape reduces to 0 (what makes proofs go through)."""
    assert rational_residual(a - rewrite(a)) == 0


@given(expressions)
def test_zero_test_sees_a_changed_expression(a: sp.Expr) -> None:
    """a and a + 1 are never called equal; nor a and 2a unless a is 0."""
    assert rational_residual(a - (a + 1)) != 0
    point = {_x: sp.Rational(3, 7), _y: -sp.Rational(5, 3), _p: sp.Rational(2, 5)}
    if abs(sp.N(a.xreplace(point), 30)) > 1e-10:
        assert rational_residual(a - 2 * a) != 0
