"""gradproof grade: long and wide CSV in, results.csv and Gradescope files out, resumable."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from gradproof.cli import main
from verify.homework import batch

LONG = ("student,problem,answer\n"
        "ann,softmax_ce:grad_z,p_i - y_i\n"
        "ann,information:grad_q,-p_i/q_i\n"
        "bob,softmax_ce:grad_z,y_i - p_i\n"
        'bob,information:grad_q,"__import__(""os"").system(""true"")"\n'
        "../etc,softmax_ce:grad_z,p_i\n")
WIDE = "student,softmax_ce:grad_z,information:grad_q\nann,p_i - y_i,-p_i/q_i\nbob,y_i - p_i,\n"


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_long_csv_gives_results_and_gradescope(tmp_path: Path) -> None:
    (tmp_path / "answers.csv").write_text(LONG)
    assert main(["grade", "lecture", str(tmp_path / "answers.csv"), "-o", str(tmp_path / "out")]) == 0
    rows = _rows(tmp_path / "out" / "results.csv")
    assert [(r["student"], r["problem"], r["verdict"], r["score"]) for r in rows] == [
        ("ann", "softmax_ce:grad_z", "correct", "1.0"), ("ann", "information:grad_q", "correct", "1.0"),
        ("bob", "softmax_ce:grad_z", "incorrect", "0.5"), ("bob", "information:grad_q", "invalid", "0.0"),
        ("../etc", "softmax_ce:grad_z", "incorrect", "0.25")]
    bob = json.loads((tmp_path / "out" / "gradescope" / "bob" / "results.json").read_text())
    assert bob["score"] == 0.5 and [t["name"] for t in bob["tests"]] == ["softmax_ce:grad_z", "information:grad_q"]
    assert {"name", "score", "max_score", "output", "visibility"} == set(bob["tests"][0])
    folders = sorted(p.name for p in (tmp_path / "out" / "gradescope").iterdir())
    assert "../etc" not in folders and any(f.startswith("student-") for f in folders)  # no path tricks
    assert not (tmp_path / "etc").exists()


def test_wide_csv_reads_like_long(tmp_path: Path) -> None:
    (tmp_path / "wide.csv").write_text(WIDE)
    assert [tuple(r) for r in batch.read_submissions(tmp_path / "wide.csv")] == [
        ("ann", "softmax_ce:grad_z", "p_i - y_i", 2), ("ann", "information:grad_q", "-p_i/q_i", 2),
        ("bob", "softmax_ce:grad_z", "y_i - p_i", 3), ("bob", "information:grad_q", "", 3)]  # a blank cell is "no answer"
    out = tmp_path / "out"
    assert main(["grade", "lecture", str(tmp_path / "wide.csv"), "-o", str(out)]) == 0
    blank = next(r for r in batch.read_results(out / "results.csv") if r["student"] == "bob" and r["problem"] == "information:grad_q")
    assert (blank["verdict"], blank["score"], blank["feedback"]) == ("invalid", "0.0", "no answer")


def test_an_interrupted_run_resumes_without_repeating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "answers.csv").write_text(LONG)
    out = tmp_path / "out"
    rows = batch.read_submissions(tmp_path / "answers.csv")
    first = batch.grade_class(rows, out)
    next(first), next(first)  # interrupted after two answers
    first.close()
    assert len(_rows(out / "results.csv")) == 2
    calls = []
    from verify.homework.problems import grade

    def counting(p: str, a: str):
        calls.append((p, a))
        return grade(p, a)

    assert len(list(batch.grade_class(rows, out, grader=counting))) == 3
    assert len(calls) == 3 and len(_rows(out / "results.csv")) == 5
    ann = json.loads((out / "gradescope" / "ann" / "results.json").read_text())
    assert ann["score"] == 2.0  # answers graded before the interruption are in it


def test_single_submission_for_an_autograder(tmp_path: Path) -> None:
    (tmp_path / "mine.csv").write_text("problem,answer\nsoftmax_ce.grad_z,p_i - y_i\nattention.grad_V,G^T A\n")
    assert main(["grade", "lecture", "--single", str(tmp_path / "mine.csv"), "-o", str(tmp_path / "results")]) == 0
    document = json.loads((tmp_path / "results" / "results.json").read_text())
    assert document["score"] == 1.5 and document["tests"][1]["output"].startswith("incorrect: transposed")


@pytest.mark.parametrize(("args", "words"), [
    (["grade", "course.toml", "x.csv", "-o", "out"], "cannot read course.toml"),
    (["grade", "lecture", "-o", "out"], "not both"),
    (["grade", "lecture", "/nonexistent.csv", "-o", "out"], "cannot read"),
])
def test_bad_grade_input_is_one_line_exit_2(args: list[str], words: str, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_a_csv_without_students_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.csv").write_text("name,answer\nann,p_i\n")
    assert main(["grade", "lecture", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "out")]) == 2
    assert "needs a 'student' column" in capsys.readouterr().err


def test_an_answer_past_the_time_limit_is_invalid_and_the_next_is_graded() -> None:
    from verify.homework.worker import BoundedGrader

    with BoundedGrader(seconds=0.001) as grader:
        slow = grader("attention:grad_Q", "dS K / sqrt(d_k)")  # about a second of work
        assert grader._process is None  # killed
        grader.seconds = 60
        assert grader("softmax_ce:grad_z", "p_i - y_i").verdict == "correct"  # a fresh worker
    assert (slow.verdict, slow.method) == ("invalid", "timeout") and "longer than 0.001 s" in slow.feedback
    with BoundedGrader(seconds=60) as grader:
        grader._start()
        first = grader._process
        assert grader("softmax_ce:grad_z", "p_i - y_i").verdict == "correct"
        assert grader._process is first  # one worker serves answers that stay within the limit


def test_a_pool_grades_in_parallel_and_a_stuck_answer_holds_up_nothing() -> None:
    from verify.homework.worker import BoundedPool

    with BoundedPool(seconds=60, workers=2) as pool:
        done = {tag: g for tag, g, _ in pool.grade([(n, "information:grad_q", a) for n, a in enumerate(["-p_i/q_i", "p_i/q_i", "r_i"] * 2)])}
        assert sorted(done) == list(range(6)) and [done[n].verdict for n in range(3)] == ["correct", "incorrect", "invalid"]
        pool.seconds = 0.001
        stuck = list(pool.grade([(0, "attention:grad_Q", "dS K / sqrt(d_k)"), (1, "attention:grad_Q", "dS K")]))
        assert sorted(tag for tag, _, _ in stuck) == [0, 1] and all(g.method == "timeout" for _, g, _ in stuck)
        pool.seconds = 60
        assert next(pool.grade([(9, "softmax_ce:grad_z", "p_i - y_i")]))[1].verdict == "correct"  # fresh workers


def test_class_results_keep_the_input_order_with_several_workers(tmp_path: Path) -> None:
    rows = [(f"s{n}", p, a) for n in range(4) for p, a in (("information:grad_q", "-p_i/q_i"), ("bp:step", "1"), ("attention:grad_Q", "dS K"))]
    graded = list(batch.grade_class(rows, tmp_path / "out", workers=2))
    assert [(s, g.problem) for s, g in graded] == [(s, p) for s, p, _ in rows]
    assert [(r["student"], r["problem"]) for r in _rows(tmp_path / "out" / "results.csv")] == [(s, p) for s, p, _ in rows]


def test_an_unknown_problem_stops_the_class_before_anything_is_graded(tmp_path: Path) -> None:
    rows = [("ann", "information:grad_q", "-p_i/q_i"), ("bob", "nope", "x"), ("cy", "nope", "y")]
    with pytest.raises(batch.SubmissionError, match="'nope' \\(answers 2, 3\\)"):
        list(batch.grade_class(rows, tmp_path / "out", grader=lambda p, a: pytest.fail("graded")))


def test_spreadsheet_formulas_in_answers_are_neutralised_and_read_back(tmp_path: Path) -> None:
    rows = [("=cmd", "information:grad_q", '=HYPERLINK("http://x")'), ("ann", "information:grad_q", "-p_i/q_i")]
    list(batch.grade_class(rows, tmp_path / "out", workers=1))
    raw = (tmp_path / "out" / "results.csv").read_text()
    assert "\n'=cmd," in raw and "'=HYPERLINK" in raw
    assert "\n=" not in raw and ',=' not in raw  # no cell starts a formula
    back = batch.read_results(tmp_path / "out" / "results.csv")
    assert [(r["student"], r["answer"]) for r in back] == [(s, a) for s, _, a in rows]
    assert list(batch.grade_class(rows, tmp_path / "out", workers=1)) == []  # resumes: both already graded


def test_a_results_file_from_an_older_version_is_imported_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("student,problem,verdict,score,feedback,method\n"
                                     "ann,information:grad_q,correct,1.0,ok,numeric\n'=cy,information:grad_q,incorrect,0.5,sign,numeric\n")
    graded = list(batch.grade_class([("ann", "information:grad_q", "-p_i/q_i"), ("bob", "information:grad_q", "p_i")], out, workers=1))
    assert [s for s, _ in graded] == ["ann", "bob"]  # what ann's row was graded against is unknown: regraded
    assert list(_rows(out / "results.csv")[0]) == batch.FIELDS
    rows = batch.read_results(out / "results.csv")
    assert [r["student"] for r in rows] == ["ann", "bob", "=cy"]  # cy is kept, read with the old escaping
    assert rows[0]["answer"] == "-p_i/q_i" and rows[1]["answer"] == "p_i" and rows[2]["score"] == "0.5"
    (out / "results.csv").write_text("")  # once imported, results.csv is only an export: a torn one does not matter
    assert list(batch.grade_class([("bob", "information:grad_q", "p_i")], out, workers=1)) == []
    assert [r["student"] for r in batch.read_results(out / "results.csv")] == ["bob", "ann", "=cy"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(batch.SubmissionError, match="not a results file"):
        list(batch.grade_class([("bob", "information:grad_q", "p_i")], other, workers=1))
    assert not (other / "grades.sqlite").exists()
