"""Numeric exercises: keys from derive, checked exactly row by row, the first wrong row named."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.topics.perceptron import DATASETS, hardlim
from gradproof.cli import main
from verify.homework.exercises import EXERCISES, _key, read_rows
from verify.homework.language import InvalidAnswer
from verify.homework.problems import grade


def _table(exercise: str) -> list[str]:
    return [", ".join(str(v) for v in values) for _, values in _key(exercise)]


def test_the_perceptron_key_is_a_real_training_run() -> None:
    """Replaying the rule on the key's own rows: each row follows from the one before."""
    samples, targets = DATASETS["AND"]
    w, b = [Fraction(0), Fraction(0)], Fraction(0)
    for (label, row), (x, t) in zip(_key("perceptron:table_and"), [*zip(samples, targets)] * 10):
        y = hardlim(sum(wi * Fraction(str(xi)) for wi, xi in zip(w, x)) + b)
        w = [wi + (t - y) * Fraction(str(xi)) for wi, xi in zip(w, x)]
        b += t - y
        assert row == (*w, b), label
    assert all(hardlim(sum(wi * Fraction(str(xi)) for wi, xi in zip(w, x)) + b) == t for x, t in zip(samples, targets))


def test_the_bp_key_matches_the_lecture_formulas_by_hand() -> None:
    rows = dict(_key("bp:step"))
    O, H, w_kj, T = Fraction(1, 2), (Fraction(1, 2), Fraction(1, 2)), (Fraction(1), Fraction(-1, 2)), 1
    delta_k = (T - O) * O * (1 - O)
    assert rows["delta_k"] == (delta_k,) == (Fraction(1, 8),)
    assert rows["delta_j"] == tuple(h * (1 - h) * w * delta_k for h, w in zip(H, w_kj))
    assert rows["w_kj(t+1)"] == tuple(w + Fraction(1, 2) * delta_k * h for w, h in zip(w_kj, H))
    assert rows["b_k(t+1)"] == (Fraction(-1, 4) + Fraction(1, 4) * delta_k,)  # beta = 1/4, the bias rate


def test_the_bp_statement_is_what_its_own_weights_give(monkeypatch: pytest.MonkeyPatch) -> None:
    from verify.homework import exercises

    statement = exercises.EXERCISES["bp:step"].statement
    assert "H = (1/2, 1/2) and O = 1/2" in statement and "beta = 1/4 for the biases" in statement
    monkeypatch.setitem(exercises._BP, "H", ("3/5", "1/2"))  # the statement this exercise once made
    with pytest.raises(ValueError, match="states a unit's output 3/5"):
        exercises._bp_rows()


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_the_exact_table_is_correct_in_any_spelling(exercise: str) -> None:
    rows = _table(exercise)
    assert grade(exercise, "\n".join(rows)).verdict == "correct"
    assert grade(exercise, "; ".join(f"row {n}: ({r})" for n, r in enumerate(rows))).verdict == "correct"
    decimals = "\n".join(" ".join(str(float(v)) if Fraction(str(float(v))) == v else str(v) for v in values)
                         for _, values in _key(exercise))
    assert grade(exercise, decimals).verdict == "correct"


def test_the_first_wrong_row_is_named_with_partial_credit() -> None:
    rows = _table("perceptron:table_and")
    rows[5] = "9, 9, 9"
    g = grade("perceptron:table_and", "\n".join(rows))
    assert g.verdict == "incorrect" and g.feedback.startswith("row 6 (epoch 2, sample 2) is wrong")
    assert g.score == pytest.approx(5 / 24, abs=1e-4) and g.counterexample["row"] == 6
    short = grade("perceptron:table_and", "\n".join(_table("perceptron:table_and")[:10]))
    assert "row 11" in short.feedback and "missing" in short.feedback
    longer = grade("perceptron:table_and", "\n".join([*_table("perceptron:table_and"), "0 0 0"]))
    assert longer.verdict == "incorrect" and "table ends there" in longer.feedback


def test_a_rounded_value_is_wrong_with_a_hint() -> None:
    rows = _table("bp:step")
    rows[0] = "0.1249"  # 1/8 = 0.125
    g = grade("bp:step", "\n".join(rows))
    assert g.verdict == "incorrect" and "row 1 (delta_k)" in g.feedback and "rounded" in g.feedback


@pytest.mark.parametrize(("text", "words"), [
    ("", "empty"), ("1 2 x", "cannot read 'x'"), ("__import__('os')", "cannot read"), ("1/0", "divides by zero"), ("1/00", "divides by zero"), ("0.5/3", "cannot read"),
    ("1;" * 500, "rows; the limit"), ("9" * 30, "cannot read"), ("1e999", "cannot read"),
])
def test_unreadable_tables_are_invalid(text: str, words: str) -> None:
    g = grade("perceptron:table_and", text)
    assert g.verdict == "invalid" and words in g.feedback


@settings(max_examples=30)
@given(st.lists(st.fractions(max_denominator=50).filter(lambda f: abs(f) < 10**6), min_size=1, max_size=8))
def test_read_rows_reads_back_what_it_is_given(values: list[Fraction]) -> None:
    assert read_rows(", ".join(str(v) for v in values)) == [tuple(values)]


def test_cli_check_and_problems_list_the_exercises(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "bp:step", "1/8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("incorrect (0.1667): 1 rows given; the table has 6: row 2 (delta_j) is missing")
    assert "row 2 (delta_j): expected 1/32, -1/64, yours nothing" in out
    assert main(["problems"]) == 0
    assert "perceptron:table_and" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "rows"), [
    (r"\frac{1}{8}", [(Fraction(1, 8),)]), ("$1/8$", [(Fraction(1, 8),)]), ("delta_k = 1/8", [(Fraction(1, 8),)]),
    (r"$\frac{1}{8}$; $-\tfrac{3}{4}$", [(Fraction(1, 8),), (Fraction(-3, 4),)]),
    ("w_{kj}(t+1) = 1, -1/2", [(Fraction(1), Fraction(-1, 2))]),
])
def test_numbers_as_pages_write_them_are_read(text: str, rows: list[tuple[Fraction, ...]]) -> None:
    """$1/8$, \\frac{1}{8} and 'delta_k = 1/8' were refused: only 'label: numbers' was read."""
    assert read_rows(text) == rows


@pytest.mark.parametrize("text", ["x == 2", "a = 1 = 2", r"\frac{1}{x}"])
def test_what_is_not_a_labelled_row_of_numbers_is_still_refused(text: str) -> None:
    with pytest.raises(InvalidAnswer, match="cannot read"):
        read_rows(text)
