"""gradproof grade after a hostile review: --single follows the rules of class grading, a store
rebuilt from a current results.csv gets no phantom students, answers dropped from the class's file
are counted (and removed with --drop-missing), a damaged store is refused in one line, the summary
counts the whole class, a column without a header is never dropped quietly, and control
characters never reach results.csv raw."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gradproof.cli import main
from verify.homework import batch, exports
from verify.homework.problems import grade
from verify.homework.store import STORE_NAME, GradeStore


def _grade(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["grade", "lecture", *argv])
    return code, capsys.readouterr().err


# 1. --single reads and checks as class grading does


def test_single_duplicate_rows_last_wins_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.csv").write_text("problem,answer\nkl.grad_q,p_i/q_i\nsoftmax_ce.grad_z,p_i - y_i\n"
                                       "information:grad_q,-p_i/q_i\n")
    code, err = _grade(capsys, "--single", str(tmp_path / "mine.csv"), "-o", str(tmp_path / "r"))
    assert code == 0
    assert "warning: problem information:grad_q: rows 2, 4; the last (row 4) is graded" in err
    document = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [t["name"] for t in document["tests"]] == ["softmax_ce:grad_z", "information:grad_q"]
    assert document["score"] == 2.0 and "score 2 of 2" in err  # not 1.5 of 3: one grade per problem


def test_single_unknown_problem_is_refused_before_grading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.csv").write_text("problem,answer\nkl.grad_q,-p_i/q_i\nnope,x\nkl.grad_x,1\nnope,y\n")
    code, err = _grade(capsys, "--single", str(tmp_path / "mine.csv"), "-o", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "'nope' (rows 3, 5), 'kl.grad_x' (row 4)" in err and "nothing graded" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"problem,answer\r\n", b" Problem , ANSWER \n\n,\n"])
def test_single_without_answers_is_refused(tmp_path: Path, data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.csv").write_bytes(data)
    code, err = _grade(capsys, "--single", str(tmp_path / "mine.csv"), "-o", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "empty" in err or "no answers" in err
    assert not (tmp_path / "r").exists()


def test_single_uses_the_class_reader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """BOM, CRLF, header case and spaces, quoted new lines, short rows skipped with their row."""
    (tmp_path / "mine.csv").write_bytes("\ufeff Problem , ANSWER \r\nkl.grad_q ,\"-p_i\r\n/q_i\"\r\n"
                                        "softmax_ce:grad_z,p_i,extra\r\n".encode())
    code, err = _grade(capsys, "--single", str(tmp_path / "mine.csv"), "-o", str(tmp_path / "r"))
    assert code == 0 and "row 3: 3 cells where the header has 2; row skipped" in err
    document = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [(t["name"], t["score"]) for t in document["tests"]] == [("information:grad_q", 1.0)]


def test_single_refuses_a_class_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "class.csv").write_text("student,problem,answer\nann,information:grad_q,-p_i/q_i\nbob,information:grad_q,p_i\n")
    code, err = _grade(capsys, "--single", str(tmp_path / "class.csv"), "-o", str(tmp_path / "r"))
    assert code == 2 and "holds the answers of 2 students" in err and not (tmp_path / "r").exists()
    (tmp_path / "one.csv").write_text("student,problem,answer\nann,information:grad_q,-p_i/q_i\n")
    assert _grade(capsys, "--single", str(tmp_path / "one.csv"), "-o", str(tmp_path / "r"))[0] == 0


def test_gradescope_output_does_not_repeat_the_verdict() -> None:
    right, wrong = grade("information:grad_q", "-p_i/q_i"), grade("information:grad_q", "p_i/q_i")
    assert right.feedback.startswith("correct")
    tests = exports.gradescope_results([right.to_json(), wrong.to_json()])["tests"]
    assert tests[0]["output"] == right.feedback and not tests[0]["output"].startswith("correct: correct")
    assert tests[1]["output"] == f"incorrect: {wrong.feedback}"


# 2. a store rebuilt from a results.csv of this version


def test_a_current_results_csv_is_imported_with_the_current_escaping(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("=cmd", "information:grad_q", "-p_i/q_i"), ("'=cmd", "information:grad_q", "p_i"), ("'x", "information:grad_q", "'"),
            ("\\b", "information:grad_q", "\n-p_i/q_i")]
    out = tmp_path / "out"
    list(batch.grade_class(rows, out, grader=grade))
    before = batch.read_results(out / "results.csv")
    for variant in ("with students.csv", "results.csv alone"):
        (out / STORE_NAME).unlink()
        if variant == "results.csv alone":
            (out / "gradescope" / "students.csv").unlink()
        plans: list[batch.Plan] = []
        list(batch.grade_class(rows, out, grader=grade, plans=plans))
        after = batch.read_results(out / "results.csv")
        assert [(r["student"], r["answer"], r["verdict"]) for r in after] == \
            [(r["student"], r["answer"], r["verdict"]) for r in before], variant  # no ''=cmd besides '=cmd
        assert plans[0].count("imported") == 4 and plans[0].count("problem") == 0
        assert "4 regraded (imported from results.csv)" in plans[0].summary()
        assert any("imported 4 answers" in n for n in plans[0].notes)


def test_an_older_results_csv_is_still_read_with_the_old_escaping_and_a_mixed_one_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text(",".join(batch.FIELDS) + "\n"
                                     "'=ann,information:grad_q,correct,1.0,ok,symbolic,'-p_i/q_i,\n"
                                     "'bob,information:grad_q,correct,1.0,ok,symbolic,-p_i/q_i,\n")  # 'bob: the old writer's
    list(batch.grade_class([("'bob", "information:grad_q", "-p_i/q_i")], out, grader=grade))
    assert [r["student"] for r in batch.read_results(out / "results.csv")] == ["'bob", "=ann"]
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "results.csv").write_text(",".join(batch.FIELDS) + "\n'bob,p,correct,1.0,ok,m,a,\n''=x,p,correct,1.0,ok,m,a,\n")
    with pytest.raises(batch.SubmissionError, match="cannot tell which version"):
        list(batch.grade_class([("ann", "information:grad_q", "-p_i/q_i")], mixed, grader=grade))
    assert not (mixed / STORE_NAME).exists()


# 3. answers no longer in the class's file


def test_answers_missing_from_the_file_are_counted_and_dropped_on_request(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "all.csv").write_text("student,problem,answer\nann,information:grad_q,-p_i/q_i\nbob,information:grad_q,p_i\n"
                                      "cy,information:grad_q,1\ncy,softmax_ce:grad_z,p_i - y_i\ndee,information:grad_q,2\nemm,information:grad_q,3\n")
    (tmp_path / "some.csv").write_text("student,problem,answer\nann,information:grad_q,-p_i/q_i\ncy,softmax_ce:grad_z,p_i - y_i\n")
    out, pages = tmp_path / "out", tmp_path / "pages"
    assert _grade(capsys, str(tmp_path / "all.csv"), "-o", str(out), "--report", str(pages))[0] == 0
    assert {"bob", "dee", "emm", "cy"} <= {p.name for p in (out / "gradescope").iterdir()}
    code, err = _grade(capsys, str(tmp_path / "some.csv"), "-o", str(out), "--report", str(pages))
    assert code == 0
    assert "warning: the store holds 4 answers that this file does not ('bob' information:grad_q, 'cy' information:grad_q, " \
           "'dee' information:grad_q and 1 more); they stay in the exports; --drop-missing removes them" in err
    assert len(batch.read_results(out / "results.csv")) == 6
    code, err = _grade(capsys, str(tmp_path / "some.csv"), "-o", str(out), "--report", str(pages), "--drop-missing")
    assert code == 0 and "removed 4 answers that this file no longer holds" in err
    assert [(r["student"], r["problem"]) for r in batch.read_results(out / "results.csv")] == \
        [("ann", "information:grad_q"), ("cy", "softmax_ce:grad_z")]
    folders = {p.name for p in (out / "gradescope").iterdir()}
    assert folders == {"ann", "cy", "students.csv"}  # stale Gradescope folders are gone
    assert {p.name for p in pages.iterdir()} == {"ann.html", "cy.html", "index.html"}  # and their pages
    code, err = _grade(capsys, str(tmp_path / "some.csv"), "-o", str(out))
    assert "warning" not in err and "2 kept" in err


# 4. a store that is not ours, or is damaged


@pytest.mark.parametrize("kind", ["garbage", "other database", "damaged"])
def test_a_damaged_or_foreign_store_is_refused_in_one_line(tmp_path: Path, kind: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("student,problem,answer\nann,information:grad_q,-p_i/q_i\n")
    out = tmp_path / "out"
    if kind == "garbage":
        out.mkdir()
        (out / STORE_NAME).write_text("garbage\n")
    elif kind == "other database":
        out.mkdir()
        with sqlite3.connect(out / STORE_NAME) as db:
            db.execute("CREATE TABLE people (name TEXT)")
        db.close()
    else:
        rows = [(f"s{n}", "information:grad_q", "x" * 3000) for n in range(200)]
        list(batch.grade_class(rows, out, grader=lambda p, a: batch.Grade(p, "invalid", 0.0, "long")))
        data = bytearray((out / STORE_NAME).read_bytes())
        data[4096 + 10:4096 + 400] = b"\xff" * 390  # a b-tree page overwritten
        (out / STORE_NAME).write_bytes(bytes(data))
    before = (out / STORE_NAME).read_bytes()
    for _ in range(2):  # running again fails the same way, and says so
        code, err = _grade(capsys, str(tmp_path / "a.csv"), "-o", str(out))
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "is not a gradproof grade store or is damaged" in err and "move it away" in err
        assert "resume" not in err
    assert (out / STORE_NAME).read_bytes() == before  # never written to


def test_an_empty_or_half_made_store_is_ours(tmp_path: Path) -> None:
    from verify.homework.store import StoreError

    (tmp_path / "empty.sqlite").touch()
    GradeStore(tmp_path / "empty.sqlite").close()
    with sqlite3.connect(tmp_path / "half.sqlite") as db:
        db.execute("CREATE TABLE t (a)")
        db.execute("DROP TABLE t")
    db.close()
    GradeStore(tmp_path / "half.sqlite").close()
    with sqlite3.connect(tmp_path / "future.sqlite") as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema', '99')")
    db.close()
    with pytest.raises(StoreError, match="schema 99"):
        GradeStore(tmp_path / "future.sqlite")


# 5. the summary counts the whole class


def test_the_summary_counts_the_whole_class_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("student,problem,answer\nann,information:grad_q,-p_i/q_i\nbob,information:grad_q,p_i/q_i\n"
                                    "cy,information:grad_q,\n")
    args = (str(tmp_path / "a.csv"), "-o", str(tmp_path / "out"))
    code, err = _grade(capsys, *args)
    assert code == 0 and "; of those graded now: 1 correct, 1 incorrect, 1 invalid; " \
                         "the class now: 1 correct, 1 incorrect, 1 invalid, 3 answers in" in err
    code, err = _grade(capsys, *args)
    assert code == 0 and "3 kept; the class now: 1 correct, 1 incorrect, 1 invalid, 3 answers in" in err
    assert "(0 correct" not in err and "graded now" not in err


# 6. a column without a header name


def test_a_wide_column_without_a_header_is_not_dropped_quietly(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("Student,softmax_ce:grad_z, ,attention:grad_V,\nann,p_i - y_i,x,A^T G,\nbob,p_i,,A^T G,\n"
                    "cy,p_i,y,A^T G,\n")
    warnings: list[str] = []
    answers = batch.read_submissions(path, warnings)
    assert [(s.student, s.problem) for s in answers] == [(s, p) for s in ("ann", "bob", "cy")
                                                         for p in ("softmax_ce:grad_z", "attention:grad_V")]
    unnamed = "column 3 (C) has no name in the header but 2 cells (rows 2, 4); not graded: give it its problem id"
    assert warnings == [unnamed]  # the empty trailing column E is a spreadsheet's, said nothing of


def test_a_long_column_without_a_header_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("student,problem,answer,\nann,information:grad_q,-p_i,/q_i\n")
    warnings: list[str] = []
    batch.read_submissions(path, warnings)
    assert any(w.startswith("column 4 (D) has no name in the header but 1 cell (row 2)") for w in warnings)


# 7. control characters in names and answers


def test_control_characters_are_escaped_in_results_csv_and_kept_in_the_store(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_bytes(b'student,problem,answer\n"a\x00nn",information:grad_q,-p_i/q_i\n'
                                     b'b\x1bob,information:grad_q,"\\frac{-p_i}{q_i}\x7f"\nc\\x00y,information:grad_q,\n')
    out = tmp_path / "out"
    code, err = _grade(capsys, str(tmp_path / "a.csv"), "-o", str(out))
    assert code == 0
    assert "row 2: the student name 'a\\x00nn' holds control characters (U+0000)" in err
    assert "row 3: the student name 'b\\x1bob' holds control characters (U+001B)" in err
    raw = (out / "results.csv").read_bytes()
    assert not any(b < 32 and b not in b"\t\r\n" or b == 0x7F for b in raw)
    back = batch.read_results(out / "results.csv")
    assert [(r["student"], r["answer"]) for r in back] == [("a\x00nn", "-p_i/q_i"), ("b\x1bob", "\\frac{-p_i}{q_i}\x7f"),
                                                           ("c\\x00y", "")]
    with GradeStore(out / STORE_NAME) as store:
        assert [r.student for r in store.rows()] == ["a\x00nn", "b\x1bob", "c\\x00y"]  # exact in the store
    students = (out / "gradescope" / "students.csv").read_bytes()
    assert b"\x00" not in students and b"\x1b" not in students
