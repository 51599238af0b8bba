"""The Kronecker-delta collapse and the index-form zero test, on known cases and bad ones."""

import pytest
import sympy as sp

from derive.indexcalc import canonical_sums, collapse_deltas, index_zero

n = sp.Symbol("n", integer=True, positive=True)
i, j, k = sp.symbols("i j k", integer=True)
x, y, w = sp.IndexedBase("x", real=True), sp.IndexedBase("y", real=True), sp.IndexedBase("w", real=True)


def test_delta_collapses_inside_a_sum() -> None:
    assert collapse_deltas(sp.Sum(x[i] * y[i] * sp.KroneckerDelta(j, i), (i, 1, n))) == x[j] * y[j]


def test_constants_leave_the_sum() -> None:
    out = collapse_deltas(sp.Sum(3 * w[j] * x[i], (i, 1, n)))
    assert out == 3 * w[j] * sp.Sum(x[i], (i, 1, n))


def test_sum_of_a_constant_is_a_count() -> None:
    assert collapse_deltas(sp.Sum(w[j], (i, 1, n))) == n * w[j]


def test_bound_names_do_not_matter() -> None:
    assert canonical_sums(sp.Sum(x[i] ** 2, (i, 1, n))) == canonical_sums(sp.Sum(x[k] ** 2, (k, 1, n)))
    assert canonical_sums(sp.Sum(x[i], (i, 1, n))) != canonical_sums(sp.Sum(y[i], (i, 1, n)))


@pytest.mark.parametrize(
    "derived, claimed",
    [
        (sp.diff(sp.Sum(w[i] * x[i], (i, 1, n)), w[j]), x[j]),
        (sp.diff(sp.Sum(x[i] ** 2, (i, 1, n)) / 2, x[j]), x[j]),
        (sp.diff(sp.log(sp.Sum(sp.exp(x[i]), (i, 1, n))), x[j]), sp.exp(x[j]) / sp.Sum(sp.exp(x[k]), (k, 1, n))),
    ],
)
def test_true_index_identities_reduce_to_zero(derived, claimed) -> None:
    assert index_zero(derived - claimed) == 0


@pytest.mark.parametrize(
    "derived, claimed",
    [
        (sp.diff(sp.Sum(w[i] * x[i], (i, 1, n)), w[j]), -x[j]),
        (sp.diff(sp.Sum(w[i] * x[i], (i, 1, n)), w[j]), w[j]),
        (sp.diff(sp.Sum(x[i] ** 2, (i, 1, n)), x[j]), x[j]),
        (sp.Sum(x[i], (i, 1, n)), sp.Sum(y[i], (i, 1, n))),
        (sp.Sum(x[i], (i, 1, n)), x[j]),
    ],
)
def test_false_index_identities_do_not(derived, claimed) -> None:
    assert index_zero(derived - claimed) != 0


def test_stated_assumption_is_needed_and_used() -> None:
    total = sp.Sum(y[i], (i, 1, n))
    general = sp.exp(x[j]) / sp.Sum(sp.exp(x[k]), (k, 1, n)) * total
    assert index_zero(general - sp.exp(x[j]) / sp.Sum(sp.exp(x[k]), (k, 1, n))) != 0
    one = lambda e: e.xreplace({canonical_sums(total): 1})
    assert index_zero(general - sp.exp(x[j]) / sp.Sum(sp.exp(x[k]), (k, 1, n)), one) == 0


m = sp.Symbol("m", integer=True, positive=True)


@pytest.mark.parametrize(
    "expr",
    [
        # the delta's partner is the upper limit itself: the true sum is 0
        sp.Sum(x[i] * sp.KroneckerDelta(i, n), (i, 0, n - 1)) - x[n],
        # both indices bound, ranges differ: the true value is min(n, m)
        sp.Sum(sp.KroneckerDelta(i, k), (i, 0, n - 1), (k, 0, m - 1)) - m,
        # substituting i -> j under an inner sum over j would capture it (true value: a row sum)
        sp.Sum(sp.KroneckerDelta(i, j) * sp.Sum(w[i, j], (j, 0, n - 1)), (i, 0, n - 1)) - sp.Sum(w[k, k], (k, 0, n - 1)),
        # a triangular sum against a rectangular one with a free i
        sp.Sum(w[i, k], (k, 0, i), (i, 0, n - 1)) - sp.Sum(w[j, k], (k, 0, i), (j, 0, n - 1)),
    ],
    ids=["delta-at-limit", "two-bound", "capture", "triangular"],
)
def test_false_identities_found_in_review_are_not_proved(expr) -> None:
    assert index_zero(expr) != 0


def test_differentiating_against_a_bound_index_is_refused() -> None:
    """SymPy's diff of Sum(exp(z[k]), k) against z[k] returns the sum itself (a capture)."""
    from derive.errors import GradproofError
    from derive.indexcalc import index_diff

    with pytest.raises(GradproofError, match="summation index"):
        index_diff(sp.Sum(sp.exp(x[k]), (k, 1, n)), x[k])
    assert index_zero(index_diff(sp.Sum(sp.exp(x[k]), (k, 1, n)), x[j]) - sp.exp(x[j])) == 0
