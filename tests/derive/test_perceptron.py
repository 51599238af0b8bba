"""Exact perceptron training traces."""

import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from derive.topics.perceptron import DATASETS, hardlim, novikoff_bound, train


def test_and_trace_ends_with_a_separating_line() -> None:
    trace = train("AND", *DATASETS["AND"])
    assert trace.converged
    last = trace.rows[-1]
    for x, t in zip(*DATASETS["AND"]):
        d = sum(wi * xi for wi, xi in zip(last.w, x)) + last.b
        assert hardlim(d) == t


def test_last_epoch_is_error_free_and_earlier_ones_are_not() -> None:
    trace = train("OR", *DATASETS["OR"])
    last_epoch = [r for r in trace.rows if r.epoch == trace.epochs]
    assert all(r.error == 0 for r in last_epoch)
    assert any(r.error != 0 for r in trace.rows if r.epoch < trace.epochs)


def test_lecture_set_is_exact_rationals() -> None:
    trace = train("lecture2d", *DATASETS["lecture2d"])
    assert trace.converged
    assert all(isinstance(v, sp.Rational) for r in trace.rows for v in r.w)
    assert str(trace.rows[0].x[0]) == "-1/2"


def test_xor_cycles_and_so_never_converges() -> None:
    trace = train("XOR", *DATASETS["XOR"], max_epochs=50)
    assert not trace.converged and trace.cycle is not None
    first, again = trace.cycle
    start = lambda epoch: next((r.w, r.b) for r in trace.rows if r.epoch == epoch - 1 and r.sample == 4)
    assert start(first) == start(again)


def test_a_separable_set_never_reports_a_cycle() -> None:
    assert train("AND", *DATASETS["AND"]).cycle is None


@given(st.lists(st.tuples(st.integers(-3, 3), st.integers(-3, 3)), min_size=1, max_size=6), st.integers(1, 3))
def test_every_row_follows_the_rule(points, eta) -> None:
    samples = [tuple(sp.Integer(v) for v in p) for p in points]
    targets = [1 if a + 2 * b > 0 else 0 for a, b in points]  # separable by construction
    trace = train("random", samples, targets, eta=sp.Integer(eta), max_epochs=200)
    w, b = [sp.Integer(0), sp.Integer(0)], sp.Integer(0)
    for row in trace.rows:
        assert row.y == hardlim(sum(wi * xi for wi, xi in zip(w, row.x)) + b)
        w = [wi + eta * (row.t - row.y) * xi for wi, xi in zip(w, row.x)]
        b = b + eta * (row.t - row.y)
        assert list(row.w) == w and row.b == b
    assert trace.converged


def test_novikoff_bound_holds_on_separable_sets() -> None:
    for name in ("AND", "OR", "lecture2d"):
        bound, gamma = novikoff_bound(name)
        assert gamma > 0
        assert train(name, *DATASETS[name]).mistakes <= bound
