"""Notation the answer language reads as written, or refuses saying why, never reading it as something else:
scientific numbers (1e-3 was 1 times Euler's e minus 3), absolute value bars (|z_i| was unreadable) and the
prime as a matrix transpose (A' G, as MATLAB writes it; on anything else a prime means a derivative)."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
import sympy as sp

from verify.homework.language import (
    LIMITS,
    InvalidAnswer,
    Vocabulary,
    _parser,
    normalise,
    parse,
)
from verify.homework.problems import grade

CE = Vocabulary(indexed={"p": 1, "y": 1, "z": 1}, indices={"i": "n", "j": "n", "k": "n"})
A, G = sp.MatrixSymbol("A", 4, 4), sp.MatrixSymbol("G", 4, 3)
ATT = Vocabulary(matrices={"A": A, "G": G}, scalars={"d_k": sp.Symbol("d_k", positive=True)})
i = sp.Symbol("i", integer=True, positive=True)
z = sp.IndexedBase("z", real=True)


def _refused(text: str, words: Vocabulary = CE) -> str:
    with pytest.raises(InvalidAnswer) as caught:
        parse(text, words)
    message = str(caught.value)
    assert len(message) < 200 and "\n" not in message
    return message


# --- scientific notation ----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("1e-3", Fraction(1, 1000)), ("2.5E+4", Fraction(25000)), ("3e2", Fraction(300)), ("2e-1", Fraction(1, 5)),
    ("1e6", Fraction(10**6)), ("1e0", Fraction(1)), ("1e-0", Fraction(1)), ("1E3", Fraction(1000)),
    ("0.5e1", Fraction(5)), ("1e29", Fraction(10**29)), ("1e-29", Fraction(1, 10**29)),
    ("999999999999e-18", Fraction(999999999999, 10**18)),
])
def test_a_number_with_an_exponent_against_it_is_that_number(text: str, value: Fraction) -> None:
    assert parse(text, CE) == sp.Rational(value.numerator, value.denominator)


def test_scientific_notation_is_one_token_of_the_grammar_not_a_rewrite() -> None:
    assert normalise("(p_i - y_i)/2e-1*0.2") == "(p_i - y_i)/2e-1*0.2"
    tokens = [(t.type, str(t)) for t in _parser().lex("2.5E+4 1e-3")]
    assert tokens == [("NUMBER", "2.5E+4"), ("NUMBER", "1e-3")]


@pytest.mark.parametrize("text", [
    "(p_i - y_i)/2e-1*0.2", "p_i - y_i + 0*1e-3", "p_i - y_i + 0*1e6", "1e0 p_i - 1e-0 y_i", "2.5E+4 (p_i - y_i)/25000",
    "3e2 (p_i - y_i) / 300", "p_i - y_i + 2 e - 2*e", "p_i - y_i + 2e^{z_i} - 2 e^{z_i}", "p_i - y_i + e-1 - (e - 1)",
])
def test_the_issues_answers_with_numbers_grade_correct(text: str) -> None:
    """Before: 2e-1 was 2 e - 1 (graded incorrect) and 0*1e-3 was (0 e) - 3; 1e6 was refused."""
    graded = grade("softmax_ce:grad_z", text)
    assert graded.verdict == "correct", graded.feedback


def test_e_elsewhere_is_eulers_number() -> None:
    assert parse("2 e", CE) == 2 * sp.E
    assert parse("2*e-1", CE) == 2 * sp.E - 1
    assert parse("2e^{z_i}", CE) == 2 * sp.exp(z[i])
    assert parse("2e^z_i", CE) == parse("2 e^{z_i}", CE)


@pytest.mark.parametrize("text", ["2e", "2e - 1", "1e -3", "1e- 3", "2e*p_i", "p_i + 1.5e", "2E", "(2e)", "2e-p_i"])
def test_a_number_with_a_bare_e_against_it_is_refused_as_ambiguous(text: str) -> None:
    message = _refused(text)
    assert "ambiguous" in message and "*e" in message, message


@pytest.mark.parametrize(("text", "phrase"), [
    ("1e30", "31 digits"), ("1e-30", "31 digits"), ("2.5e30", "31 digits"), ("1e99999999999", "more than 30 digits"),
    ("1e-99999999999999", "more than 30 digits"), ("1" * 13 + "e-5", "12 digits"), ("1." + "0" * 12 + "e3", "12 digits"),
])
def test_a_number_over_the_limits_is_refused_quickly(text: str, phrase: str) -> None:
    start = time.perf_counter()
    message = _refused(f"p_i + {text}")
    limit = LIMITS.digits if phrase == "12 digits" else LIMITS.number
    assert phrase in message and (f"limit is {limit}" in message or f"limited to {limit}" in message), message
    assert time.perf_counter() - start < 1.0


def test_a_scientific_number_after_a_factor_is_refused_like_any_number() -> None:
    assert "reads ambiguously" in _refused("p_i 1e-3")


# --- absolute values --------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["|z_i|", r"\left| z_i \right|", r"\lvert z_i \rvert", r"\left\lvert z_i \right\rvert",
                                  r"\vert z_i \vert", "abs(z_i)", "| z_i |"])
def test_bars_are_the_absolute_value(text: str) -> None:
    assert parse(text, CE) == sp.Abs(z[i])


@pytest.mark.parametrize(("text", "expected"), [
    ("||z_i| - 1|", lambda: sp.Abs(sp.Abs(z[i]) - 1)),
    ("|z_1| + |z_2|", lambda: sp.Abs(z[1]) + sp.Abs(z[2])),
    ("2|z_i|", lambda: 2 * sp.Abs(z[i])),
    ("p_i |z_i|^2", lambda: sp.IndexedBase("p", real=True)[i] * sp.Abs(z[i]) ** 2),
    ("|z_1 - |z_2||", lambda: sp.Abs(z[1] - sp.Abs(z[2]))),
    ("|z_1 * |z_2| * z_3|", lambda: sp.Abs(z[1] * sp.Abs(z[2]) * z[3])),
    ("|z_1| * |z_2|", lambda: sp.Abs(z[1]) * sp.Abs(z[2])),
    ("|z_1|*z_2*|z_3|", lambda: sp.Abs(z[1]) * z[2] * sp.Abs(z[3])),
    ("|sum_k z_k| z_i", lambda: sp.Abs(sp.Sum(z[sp.Symbol("k", integer=True, positive=True)],
                                                (sp.Symbol("k", integer=True, positive=True), 1, sp.Symbol("n", integer=True, positive=True)))) * z[i]),
    ("|ln z_i|", lambda: sp.Abs(sp.log(z[i]))),
])
def test_bars_nest_and_multiply(text: str, expected) -> None:
    assert parse(text, CE) == expected()


@pytest.mark.parametrize("text", [
    "|z_1| z_2 |z_3|", "|z_1|z_2|z_3|", "|z_1 |z_2| z_3|", "|z_1| (z_2 |z_3|)",
    "|z_1| |z_2|",  # one reading only, but refused with the rest: a bar after a factor, with a bar before it
])
def test_bars_that_read_two_ways_are_refused(text: str) -> None:
    message = _refused(text)
    assert "read two ways" in message and "write *" in message, message


@pytest.mark.parametrize(("text", "phrase"), [
    ("|A| G", "of a matrix"), ("||", "cannot read"), ("|z_i", "cannot read"), ("z_i|", "cannot read"),
    ("abs(z_1, z_2)", "one argument"), ("|" * 33 + "z_i" + "|" * 33, "nest more than 32"),
    ("|-" * 600 + "z_i" + "|" * 600, "nest more than 32"),
])
def test_bars_that_cannot_be_read_are_refused_quickly(text: str, phrase: str) -> None:
    start = time.perf_counter()
    message = _refused(text, ATT if "A" in text else CE)
    assert phrase in message, message
    assert time.perf_counter() - start < 2.0


def test_bars_grade() -> None:
    assert grade("softmax_ce:grad_z", "p_i - y_i + |z_i| - abs(z_i)").verdict == "correct"
    assert grade("softmax_ce:grad_z", "p_i - y_i + 0*||z_i| - 1|").verdict == "correct"
    assert grade("softmax_ce:grad_z", "|p_i - y_i|").verdict == "incorrect"
    assert grade("softmax_ce:grad_z", "|z_1| z_2 |z_3|").verdict == "invalid"


# --- transposes and primes --------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "A' G", "A'G", "A' * G", "A' @ G", r"A^{\mathsf T} G", r"A^{\mathsf{T}} G", r"A^\intercal G", r"A^{\intercal} G",
    r"A^{\top} G", r"A^{ \top } G", r"A^\mathsf{T} G", r"A^{\mathrm{T}} G", "A^{ T } G", r"A^{\prime} G", "A′ G",
])
def test_a_matrix_transpose_however_written(text: str) -> None:
    assert parse(text, ATT) == A.T * G


@pytest.mark.parametrize("text", ["A' G", r"A^{\mathsf T} G", r"A^\intercal G", r"A^{\top} G"])
def test_a_primed_matrix_grades_as_its_transpose(text: str) -> None:
    graded = grade("attention:grad_V", text)
    assert graded.verdict == "correct", graded.feedback
    assert grade("attention:grad_V", "G' A").verdict == "incorrect"


@pytest.mark.parametrize(("problem", "text"), [
    ("bp:delta_output_sigmoid", "(T_k - O_k) O_k'"), ("bp:delta_output_sigmoid", "(T_k - O_k) sigma'"),
    ("softmax_ce:grad_z", "p_i' - y_i"), ("softmax_ce:grad_z", "(p_i - y_i)'"), ("attention:grad_V", "A'' G"),
    ("attention:grad_V", "(A G)' G"),
])
def test_a_prime_on_anything_but_a_matrix_is_refused_as_a_derivative(problem: str, text: str) -> None:
    graded = grade(problem, text)
    assert graded.verdict == "invalid", graded.feedback
    assert "derivative" in graded.feedback and "A' B" in graded.feedback, graded.feedback


@pytest.mark.parametrize("text", ["getattr(p_i, 'func')", "open('/etc/passwd').read()", "'p_i'", "p_i'''"])
def test_quotes_are_still_refused(text: str) -> None:
    _refused(text)
