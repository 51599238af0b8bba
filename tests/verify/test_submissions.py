"""Reading a class's CSV as spreadsheets write it: one bad cell affects one row, never the class."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gradproof.cli import main
from verify.homework import batch
from verify.homework.submissions import (
    MAX_ANSWER,
    Submission,
    SubmissionError,
    read_submissions,
)


def _read(tmp_path: Path, data: bytes | str) -> tuple[list[tuple], list[str]]:
    path = tmp_path / "class.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    warnings: list[str] = []
    return [tuple(s) for s in read_submissions(path, warnings)], warnings


def test_bom_crlf_and_header_case_and_spaces(tmp_path: Path) -> None:
    rows, warnings = _read(tmp_path, "\ufeff Student ,PROBLEM , Answer\r\nann,information:grad_q ,-p_i/q_i\r\n")
    assert rows == [("ann", "information:grad_q", "-p_i/q_i", 2)] and warnings == []


def test_a_quoted_new_line_stays_in_its_cell_and_rows_are_counted_as_a_spreadsheet_does(tmp_path: Path) -> None:
    rows, _ = _read(tmp_path, 'student,problem,answer\nann,bp:step,"1 2\n3 4"\nbob,information:grad_q,p_i\n')
    assert rows == [("ann", "bp:step", "1 2\n3 4", 2), ("bob", "information:grad_q", "p_i", 3)]


def test_names_are_kept_exactly(tmp_path: Path) -> None:
    rows, _ = _read(tmp_path, "student,problem,answer\nann ,information:grad_q,p_i\nann,information:grad_q,p_i\n=ann,information:grad_q,p_i\n")
    assert [r[0] for r in rows] == ["ann ", "ann", "=ann"]


def test_short_and_long_rows_and_empty_names_are_skipped_with_their_row(tmp_path: Path) -> None:
    rows, warnings = _read(tmp_path, "student,problem,answer\nann,information:grad_q\nbob,information:grad_q,p_i, q_i\n"
                                     " ,information:grad_q,p_i\ncy,information:grad_q,-p_i/q_i\n\n")
    assert rows == [("cy", "information:grad_q", "-p_i/q_i", 5)]
    assert warnings == ["row 2: 2 cells where the header has 3; row skipped (an answer with a comma must be quoted)",
                        "row 3: 4 cells where the header has 3; row skipped (an answer with a comma must be quoted)",
                        "row 4: no student name; row skipped"]


def test_blank_wide_cells_are_no_answer_and_score_0(tmp_path: Path) -> None:
    rows, _ = _read(tmp_path, "student, KL.grad_q ,bp:step\nann,-p_i/q_i,\nbob,,\n")
    assert rows == [("ann", "information:grad_q", "-p_i/q_i", 2), ("ann", "bp:step", "", 2), ("bob", "information:grad_q", "", 3),
                    ("bob", "bp:step", "", 3)]
    graded = list(batch.grade_class(rows, tmp_path / "out", grader=lambda p, a: pytest.fail("a blank was graded")
                                    if not a else batch.Grade(p, "correct", 1.0, "ok")))
    assert [(g.verdict, g.score, g.feedback) for _, g in graded][1:] == [("invalid", 0.0, "no answer")] * 3


def test_unknown_ids_are_all_listed_with_their_rows(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match=r"'kl\.grad_x' \(rows 2, 4\), 'nope' \(row 3\)"):
        _read(tmp_path, "student,problem,answer\nann,kl.grad_x,1\nbob,nope,2\ncy,kl.grad_x,3\n")
    with pytest.raises(SubmissionError, match=r"'nope' \(row 1\)"):
        _read(tmp_path, "student,information:grad_q,nope\nann,1,2\n")


def test_an_over_long_answer_is_graded_invalid_alone(tmp_path: Path) -> None:
    long = "p_i + " * 40_000  # 240,000 characters: past csv's own field limit too
    path = tmp_path / "class.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["student", "problem", "answer"], ["ann", "information:grad_q", long],
                                      ["bob", "information:grad_q", "-p_i/q_i"]])
    warnings: list[str] = []
    rows = read_submissions(path, warnings)
    assert [len(r.answer) for r in rows] == [len(long), 8]
    assert warnings == [f"row 2: the answer is {len(long)} characters long (the limit is {MAX_ANSWER}); graded invalid"]
    graded = dict(batch.grade_class(rows, tmp_path / "out", workers=1))
    assert graded["ann"].verdict == "invalid" and f"the limit is {MAX_ANSWER}" in graded["ann"].feedback
    assert graded["bob"].verdict == "correct"
    with (tmp_path / "out" / "results.csv").open(newline="") as handle:  # readable with csv's default limit
        assert len(list(csv.DictReader(handle))) == 2
    assert main(["grade", "lecture", str(path), "-o", str(tmp_path / "out")]) == 0  # resumes without a hitch


@pytest.mark.parametrize(("data", "words"), [
    (b"student,problem,answer\nann,information:grad_q,\xff\n", "not UTF-8 text (byte 46)"),
    (b"", "is empty"),
    (b"name,answer\nann,1\n", "needs a 'student' column"),
    (b"student,kl.grad_q,KL.grad_q\nann,1,2\n", "appears twice"),
    (b"student,information:grad_q,KL.grad_q\nann,1,2\n", "are the same problem, information:grad_q"),
    (b'student,problem,answer\nann,information:grad_q,"p_i\n', "row 2"),
])
def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path, data: bytes, words: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "class.csv").write_bytes(data)
    assert main(["grade", "lecture", str(tmp_path / "class.csv"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_submissions_are_named_tuples_with_their_row() -> None:
    assert Submission("ann", "information:grad_q", "p_i") == ("ann", "information:grad_q", "p_i", 0)
