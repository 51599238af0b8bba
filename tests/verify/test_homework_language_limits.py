"""The answer language's limits and sum bounds (issue 14): each limit accepts an answer just under it
and refuses one just over it with a message naming the construct; explicit sum bounds are honoured,
partial sums grade wrong, out-of-range bounds are refused with the reason; hostile nestings of signs,
brackets, powers and functions are refused quickly, never with a RecursionError or a huge number."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verify.homework.language import LIMITS, InvalidAnswer, Limits, Vocabulary, parse
from verify.homework.problems import grade

CE = Vocabulary(indexed={"p": 1, "y": 1, "z": 1}, indices={"i": "n", "j": "n", "k": "n"})
BP = Vocabulary(indexed={"O": 1, "T": 1, "H": 1, "w": 2, "delta": 1}, indices={"k": "n_O", "j": "n_H"})
GENERAL = "softmax_ce:grad_z_general"  # dL/dz_i = p_i sum_k y_k - y_i: y is not assumed to sum to 1
n = sp.Symbol("n", integer=True, positive=True)
k = sp.Symbol("k", integer=True, positive=True)
y = sp.IndexedBase("y", real=True)


class _TooSlow(Exception):
    pass


def _timed(read: Callable[[], object], limit: float = 10.0) -> tuple[object, float]:
    """What ``read`` returned (or the InvalidAnswer it raised) and the seconds it took; a call still
    running after ``limit`` seconds is stopped (SIGALRM) so that a hang fails the test instead of
    holding up the run."""
    def stop(signum: int, frame: object) -> None:
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    start = time.perf_counter()
    try:
        result: object = read()
    except InvalidAnswer as error:
        result = error
    except _TooSlow:
        result = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return result, time.perf_counter() - start


# limit -> (the answer with the measured quantity at n, a phrase the refusal must contain)
AT: dict[str, tuple[Callable[[int], str], str]] = {
    "characters": (lambda m: "p_i" + " " * (m - 3), "characters long"),
    "tokens": (lambda m: "+".join(["1"] * m), "symbols and numbers"),
    "depth": (lambda m: "(" * m + "p_i" + ")" * m, "brackets nest"),
    "nesting": (lambda m: "sqrt " * m + "p_i", "nest more than"),
    "exponentials": (lambda m: "exp " * m + "z_i", "exponentials nest"),
    "signs": (lambda m: "-" * m + "p_i", "minus signs"),
    "digits": (lambda m: "1" * m, "digits"),
    "number": (lambda m: f"10^{{{m - 1}}}", "number of about"),  # 10^(m-1) has m digits
    "exponent": (lambda m: f"1^{{{m}}} p_i", "exponent"),
    "degree": (lambda m: " ".join(["p_i"] * m), "degree"),
    "terms": (lambda m: "(z_1+z_2+z_3+y_1+y_2)^" + {1001: "10", 715: "9"}[m], "terms"),
    "definitions": (lambda m: "p_i where " + ", ".join(f"{c}_i = y_i" for c in "abcdfhqrs"[:m]), "where clause defines"),
}


def test_every_limit_is_tested() -> None:
    assert set(AT) == {f for f in Limits.__dataclass_fields__}


@pytest.mark.parametrize("limit", sorted(AT))
def test_just_under_a_limit_is_read_and_just_over_is_refused_naming_it(limit: str) -> None:
    write, phrase = AT[limit]
    bound = LIMITS[limit]
    under, over = (715, 1001) if limit == "terms" else (bound, bound + 1)  # (5 terms)^9 and ^10 multiply out to these
    assert under <= bound < over
    read, seconds = _timed(lambda: parse(write(under), CE))
    assert not isinstance(read, InvalidAnswer), read
    assert seconds < 2.0
    refused, seconds = _timed(lambda: parse(write(over), CE))
    assert isinstance(refused, InvalidAnswer), f"{limit}: {write(over)[:40]!r} was read"
    assert phrase in str(refused) and str(bound) in str(refused), str(refused)
    assert seconds < 2.0 and len(str(refused)) < 200


@pytest.mark.parametrize(("text", "construct"), [
    ("-" * 1000 + "p_i", "minus signs"),
    ("((((9^64)^64)^64)^64)", "9^64 is a number"),
    (" ".join(["p_i"] * 60), "has degree 33"),
    ("1/(z_1+z_2+z_3+y_1+y_2)^64", "(z_1+z_2+z_3+y_1+y_2)^64 multiplies out to about 814385 terms"),
    ("exp(exp(exp(exp(exp(z_i)))))", "exponentials nest"),
    ("e^(e^(e^(e^(e^z_i))))", "exponentials nest"),
    ("9^9^9^9", "too large"),
    ("(" * 60 + "p_i" + ")" * 60, "brackets nest"),
])
def test_the_issues_hostile_answers_are_refused_quickly_by_the_grader(text: str, construct: str) -> None:
    """Before: RecursionError, 30 s building 9^64^64, or a grade that did not return in minutes."""
    graded, seconds = _timed(lambda: grade(GENERAL, text))
    assert graded.verdict == "invalid" and construct in graded.feedback, graded.feedback
    assert seconds < 2.0


@pytest.mark.parametrize("text", [
    "-" * LIMITS.signs + "p_i", " ".join(["p_i"] * LIMITS.degree), "1/(z_1+z_2+z_3+y_1+y_2)^9",
    "exp(exp(exp(exp(z_i))))", "(z_1+y_1)(z_2+y_2)(z_3+y_3)(p_1+y_1)(p_2+y_2)(p_3+y_3)(z_1+p_1)(z_2+p_2)(z_3+p_3)",
])
def test_answers_just_under_the_limits_are_graded_quickly(text: str) -> None:
    graded, seconds = _timed(lambda: grade(GENERAL, text))
    assert graded is not None, f"grade() did not return in 10 s for {text!r}"
    assert graded.verdict == "incorrect", graded.feedback
    assert seconds < 2.0


@pytest.mark.parametrize("text", ["-p_i/q_i", "- p_i / q_i", "−p_i/q_i", r"-\frac{p_i}{q_i}", "-(p_i/q_i)", "+-p_i/q_i"])
def test_an_answer_may_begin_with_a_minus_sign(text: str) -> None:
    assert grade("information:grad_q", text).verdict == "correct"


def test_zero_to_a_power_of_the_inputs_is_refused() -> None:
    """log(0^p_i) reached the grader as log(0) at its inputs and crashed it (found by the test below)."""
    graded = grade(GENERAL, "log(0^p_i)")
    assert graded.verdict == "invalid" and "0 to a power" in graded.feedback
    assert parse("0^2 + p_i", CE) == parse("p_i", CE)


def test_the_limits_are_one_table() -> None:
    assert LIMITS == Limits() and LIMITS["depth"] == LIMITS.depth
    with pytest.raises(AttributeError):
        LIMITS.depth = 1_000  # type: ignore[misc]


# --- sum bounds ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    r"p_i \sum_{k=1}^{n} y_k - y_i", r"p_i sum_{k=1}^n y_k - y_i", r"p_i \sum_{k=1}^{N} y_k - y_i",
    r"p_i \sum_k y_k - y_i", r"p_i \sum\limits_{k = 1}^{n} y_k - y_i", r"p_i \sum_{k}^{n} y_k - y_i",
    r"p_i \sum_{k \neq i} y_k + p_i y_i - y_i", r"p_i ∑_{k≠i} y_k + p_i y_i - y_i",
    r"p_i (\sum_{k=1}^{i} y_k + \sum_{k=i+1}^{n} y_k) - y_i",
])
def test_the_full_range_grades_correct(text: str) -> None:
    graded = grade(GENERAL, text)
    assert graded.verdict == "correct", graded.feedback


@pytest.mark.parametrize("text", [
    r"p_i \sum_{k=2}^{n} y_k - y_i", r"p_i \sum_{k=1}^{n-1} y_k - y_i", r"p_i sum_{k=1}^2 y_k - y_i",
    r"p_i \sum_{k \neq i} y_k - y_i", r"p_i \sum_{k=1}^{i} y_k - y_i", r"p_i \sum_{k=2} y_k - y_i",
])
def test_a_partial_sum_is_not_correct(text: str) -> None:
    """These graded correct before: the bounds were dropped."""
    graded = grade(GENERAL, text)
    assert graded.verdict == "incorrect", graded.feedback


def test_bounds_are_a_sum_in_the_size_symbols_that_a_grader_substitutes() -> None:
    assert parse(r"\sum_{k=1}^{n} y_k", CE) == parse("sum_k y_k", CE) == sp.Sum(y[k], (k, 1, n))
    partial = parse(r"\sum_{k=2}^{n-1} y_k", CE)
    assert partial == sp.Sum(y[k], (k, 2, n - 1))
    assert partial.xreplace({n: sp.Integer(4)}).doit() == y[2] + y[3]
    assert parse(r"\sum_{k=1}^{K} \delta_k w_{kj}", BP) == parse(r"sum_k delta_k w_kj", BP)  # K: k's size


@pytest.mark.parametrize(("text", "words", "reason"), [
    (r"\sum_{k=0}^{n} y_k", CE, "the sum over k runs from 0, but k counts from 1 to n"),
    (r"\sum_{k=1}^{n+1} y_k", CE, "the sum over k runs to n+1, but k counts from 1 to n"),
    (r"\sum_{k=n+1}^{n+1} y_k", CE, "runs from n+1"),
    (r"\sum_{k=3}^{1} y_k", CE, "runs from 3 down to 1"),
    (r"\sum_{k=1}^{n_H} delta_k", BP, "the sum over k runs to n_H, but k counts from 1 to n_O"),
    (r"\sum_{k=1}^{j} delta_k", BP, "runs to j, but k counts from 1 to n_O"),
    (r"\sum_{k=1}^{m} y_k", CE, "unknown 'm' in the bounds"),
    (r"\sum_{k=1}^{n/2} y_k", CE, "cannot read the bound"),
    (r"\sum_{k<3} y_k", CE, "cannot read the sum's subscript"),
    (r"\sum_{p=1}^{n} p_i", CE, "cannot sum over 'p'"),
    (r"\sum_{k \neq k} y_k", CE, "except k"),
    (r"\sum_{k \neq j} delta_k", BP, "needs another index that counts like k"),
    (r"\sum_{k \neq i}^{n-1} y_k", CE, "over the whole range"),
])
def test_bounds_outside_the_range_are_refused_with_the_reason(text: str, words: Vocabulary, reason: str) -> None:
    with pytest.raises(InvalidAnswer, match=reason.replace("+", r"\+")):
        parse(text, words)


def test_a_bound_outside_the_range_is_invalid_when_graded() -> None:
    graded = grade(GENERAL, r"p_i \sum_{k=0}^{n} y_k - y_i")
    assert graded.verdict == "invalid" and "runs from 0" in graded.feedback


# --- hostile nestings -------------------------------------------------------------------------

_LEAVES = st.sampled_from(["p_i", "z_1", "y_k", "2", "9", "0", "1.5", "e", "n", "1e-3", "2.5E+4", "9e9", "2e"])
_NESTED = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.builds("-{}".format, inner), st.builds("({})".format, inner), st.builds("{{{}}}".format, inner),
    st.builds("{}^{}".format, inner, inner), st.builds("{}^{{{}}}".format, inner, inner),
    st.builds("{}^-{}".format, inner, inner), st.builds("{} {}".format, inner, inner),
    st.builds("{}/{}".format, inner, inner), st.builds("{}+{}".format, inner, inner),
    st.builds("exp({})".format, inner), st.builds("sqrt {}".format, inner), st.builds("log({})".format, inner),
    st.builds("|{}|".format, inner), st.builds("{}'".format, inner), st.builds("{}{}".format, inner, inner),
    st.builds(r"\frac{{{}}}{{{}}}".format, inner, inner), st.builds("sum_k {}".format, inner),
    st.builds(lambda x, m: "-" * m + x, inner, st.integers(1, 12)),
    st.builds(lambda x, m: "(" * m + x + ")" * m, inner, st.integers(1, 45)),
), max_leaves=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_NESTED)
def test_random_nestings_are_read_or_refused_never_crash(text: str) -> None:
    read, seconds = _timed(lambda: parse(text, CE))
    assert isinstance(read, (sp.Basic, InvalidAnswer))  # anything else was raised, and fails the test
    assert seconds < 2.0, (text, seconds)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_NESTED)
def test_random_nestings_are_graded_without_a_crash(text: str) -> None:
    graded, seconds = _timed(lambda: grade(GENERAL, text))
    assert graded is not None, f"grade() did not return in 10 s for {text!r}"
    assert graded.verdict in ("correct", "incorrect", "invalid")
    # grade() turns what SymPy raised into "cannot evaluate the answer: ..."; the language refuses first, saying why
    assert "cannot evaluate" not in graded.feedback and "recursion" not in graded.feedback.lower(), graded.feedback
    assert seconds < 4.0, (text, seconds)
