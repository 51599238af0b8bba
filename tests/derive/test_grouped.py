"""The polynomial zero test (derive/grouped.py): it takes derivatives as SymPy does, and it
never calls something zero that is not."""

import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from derive.atoms import Exp, Sqrt
from derive.grouped import Field, Unsupported, equal_entries, evaluated, vanishing

from .test_properties import _POINTS, _combine, _leaves, _x, _y

_f = sp.Function("f")
# The zero test's random expressions, with logarithms (of positive arguments, and of products).
expressions = st.recursive(
    _leaves,
    lambda children: st.one_of(_combine(children), children.map(lambda a: sp.log(1 + a**2)),
                               st.tuples(children, children).map(lambda ab: sp.log((1 + ab[0] ** 2) * Exp(ab[1])))),
    max_leaves=6,
)


@given(expressions, st.sampled_from([(_x,), (_y,), (_x, _y), (_x, _x)]))
def test_derivatives_agree_with_sympy(a: sp.Expr, variables) -> None:
    """Taken on polynomials, d/dx (and second derivatives) equal SymPy's, which is then proved."""
    assert vanishing([sp.Derivative(a, *variables) - sp.diff(a, *variables)]) == [True]


@given(expressions, expressions)
def test_a_derivative_is_never_called_equal_to_something_else(a: sp.Expr, b: sp.Expr) -> None:
    """Whenever the test says da/dx = b, the two agree at random points (soundness)."""
    if vanishing([sp.Derivative(a, _x) - b]) == [True]:
        for point in _POINTS:
            assert abs(sp.N((sp.diff(a, _x) - b).xreplace(point), 30)) < sp.Float("1e-20")


@given(expressions)
def test_a_changed_derivative_is_not_zero(a: sp.Expr) -> None:
    derivative = sp.diff(a, _x)
    assert vanishing([sp.Derivative(a, _x) - derivative - 1]) == [False]
    if abs(sp.N(derivative.xreplace(_POINTS[0]), 30)) > 1e-10:
        assert vanishing([sp.Derivative(a, _x) - 2 * derivative]) == [False]


def test_softmax_rows_over_their_own_denominators() -> None:
    e = [Exp(v) for v in sp.symbols("s1:4", real=True)]
    p = [v / sum(e) for v in e]
    assert vanishing([sum(p) - 1, p[0] * sum(e) - e[0], sp.Derivative(p[0], sp.Symbol("s1", real=True)) - p[0] * (1 - p[0])]) == [True] * 3
    assert vanishing([p[0] - p[1], p[0] * (1 - p[0]) - p[0]]) == [False, False]


def test_arbitrary_functions_and_their_derivatives() -> None:
    """bp's claims hold for any activation f: f'(u) however SymPy writes it is one generator."""
    w, x, u = sp.symbols("w x u", real=True)
    inner = _f(w * x)
    chained = sp.Derivative(_f(w * inner), w)
    assert vanishing([chained - sp.diff(_f(w * inner), w)]) == [True]
    f_prime = sp.diff(_f(u), u).subs(u, w * inner)  # Subs(Derivative(f(u), u), u, w f(w x))
    assert vanishing([chained - f_prime * (inner + w * x * sp.diff(_f(u), u).subs(u, w * x))]) == [True]
    assert vanishing([chained - f_prime * inner]) == [False]
    assert vanishing([sp.Derivative(_f(w * x), w, w) - x**2 * sp.diff(_f(u), u, 2).subs(u, w * x)]) == [True]


def test_constants_and_roots() -> None:
    x = sp.Symbol("x", real=True)
    assert vanishing([sp.Derivative(Exp(x / sp.sqrt(2)), x) - Exp(x / sp.sqrt(2)) / sp.sqrt(2)]) == [True]
    assert vanishing([sp.Derivative(Sqrt(1 + x**2), x) - x / Sqrt(1 + x**2)]) == [True]
    assert vanishing([Exp(2 * x) * Exp(-x) - Exp(x)]) == [True]
    assert vanishing([sp.Heaviside(x) - sp.Heaviside(x), sp.Abs(x) - x]) == [True, False]


def test_logarithms_split_only_where_their_arguments_are_positive() -> None:
    x, y = sp.symbols("x y", positive=True)
    a, b = sp.symbols("a b", real=True)
    assert vanishing([sp.log(x * y) - sp.log(x) - sp.log(y), sp.log(a * b) - sp.log(a) - sp.log(b)]) == [True, False]
    e = [Exp(v) for v in (a, b)]
    cross_entropy = -sp.log(e[0] / (e[0] + e[1]))
    assert vanishing([sp.Derivative(cross_entropy, a) - (e[0] / (e[0] + e[1]) - 1)]) == [True]
    assert vanishing([sp.Derivative(cross_entropy, a) - e[0] / (e[0] + e[1])]) == [False]


def test_outside_the_model_it_declines_without_judging() -> None:
    x = sp.Symbol("x", real=True)
    assert vanishing([sp.Float(0.5) * x - x / 3, sp.nan * x]) == [False, False]
    try:
        Field([sp.sin(x)])
    except Unsupported:
        pass
    else:
        raise AssertionError("sin is the expression route's")


def test_evaluated_takes_derivatives_only() -> None:
    x, i = sp.symbols("x i")
    total = sp.Sum(x * i, (i, 1, 3))
    assert evaluated(sp.Derivative(x**2, x) + total) == 2 * x + total
    assert evaluated(sp.diff(_f(x), x)) == sp.diff(_f(x), x)


def test_infinity_is_never_a_ring_element() -> None:
    """g y + g z = g (y + z) is false at g = oo: a masked -oo goes to the expression route."""
    x, y, z = sp.symbols("x y z", real=True)
    derived = sp.Derivative(-sp.oo * x * y, x) + sp.Derivative(-sp.oo * x * z, x)
    assert equal_entries([derived], [-sp.oo * (y + z)]) == [False]
    a, b = sp.symbols("a b")
    shifted = Exp(a - sp.oo) / (Exp(a - sp.oo) + Exp(b - sp.oo))
    assert equal_entries([shifted], [1 / (1 + Exp(b - a))]) == [False]


def test_what_does_not_commute_is_not_a_ring_element() -> None:
    A, B = sp.symbols("A B", commutative=False)
    M, N = sp.MatrixSymbol("M", 2, 2), sp.MatrixSymbol("N", 2, 2)
    assert vanishing([A * B - B * A]) == [False]
    assert equal_entries([M * N], [N * M]) == [False]


def test_symbolic_derivative_orders_and_unscanned_expressions_are_declined() -> None:
    x, y, n = sp.Symbol("x"), sp.Symbol("y"), sp.Symbol("n", integer=True, positive=True)
    assert equal_entries([sp.Derivative(_f(x), (x, n))], [sp.S.Zero]) == [False]
    assert equal_entries([sp.Derivative(x * _f(x), (x, n))], [sp.S.Zero]) == [False]
    try:
        Field([x]).vanishes(x + y)
    except Unsupported:
        pass
    else:
        raise AssertionError("y was never scanned")
