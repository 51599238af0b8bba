"""gradproof check and grade on the command line: answers that start with '-', --time-limit bounds,
one-line refusals, the resume summary (new, regraded because the answer or the problem changed,
kept), duplicate rows and the shipped example class."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gradproof.cli import main
from verify.homework import batch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv", [
    ["check", "information:grad_q", "-p_i/q_i"],
    ["check", "--json", "information:grad_q", "-p_i/q_i"],
    ["check", "information:grad_q", "-p_i/q_i", "--json", "--time-limit", "30"],
    ["check", "information:grad_q", "--time-limit=30", "-p_i/q_i"],
    ["check", "information:grad_q", "--", "-p_i/q_i"],
])
def test_an_answer_may_start_with_a_minus(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("correct") or '"verdict": "correct"' in out


def test_a_wrong_answer_starting_with_a_minus_is_graded_not_parsed_as_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "information:grad_q", "-q_i/p_i"]) == 0
    assert capsys.readouterr().out.startswith("incorrect")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e300", "0", "-1", "3601", "ten", ""])
@pytest.mark.parametrize("command", [["check", "information:grad_q", "-p_i/q_i"], ["grade", "lecture", "x.csv", "-o", "out"]])
def test_time_limit_must_be_finite_positive_and_sane(command: list[str], value: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--time-limit", value]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--time-limit wants seconds above 0 and at most 3600" in err


def test_unknown_problem_ids_are_listed_with_their_rows_before_grading(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("student,problem,answer\nann,information:grad_q,-p_i/q_i\nbob,kl.grad_x,1\ncy,nope,2\n"
                                    "dee,kl.grad_x,3\n")
    assert main(["grade", "lecture", str(tmp_path / "a.csv"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "'kl.grad_x' (rows 3, 5), 'nope' (row 4)" in err and "nothing graded" in err
    assert not (tmp_path / "out" / "grades.sqlite").exists()


def test_duplicate_rows_last_wins_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("student,problem,answer\nann,information:grad_q,p_i/q_i\nbob,information:grad_q,-p_i/q_i\n"
                                    "ann,information:grad_q,-p_i/q_i\n")
    assert main(["grade", "lecture", str(tmp_path / "a.csv"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning: student 'ann', problem information:grad_q: rows 2, 4; the last (row 4) is graded" in err
    assert "graded 2 new" in err
    rows = batch.read_results(tmp_path / "out" / "results.csv")
    assert [(r["student"], r["answer"], r["score"]) for r in rows] == [("bob", "-p_i/q_i", "1.0"), ("ann", "-p_i/q_i", "1.0")]
    # a rerun keeps both; the same duplicates are resolved the same way (not summed, not counted twice)
    assert main(["grade", "lecture", str(tmp_path / "a.csv"), "-o", str(tmp_path / "out")]) == 0
    assert "graded 0 new, 0 regraded (answer changed), 0 regraded (problem changed), 2 kept" in capsys.readouterr().err


def test_a_changed_answer_and_a_changed_problem_are_regraded_and_counted(tmp_path: Path) -> None:
    problem = (ROOT / "examples" / "problems.toml").read_text()
    (tmp_path / "v1.toml").write_text(problem)
    first = problem.index('statement = "')  # the first problem's statement changes; the others stay
    (tmp_path / "v2.toml").write_text(problem[:first] + 'statement = "Reworded. ' + problem[first + len('statement = "'):])
    (tmp_path / "a.csv").write_text("student,problem,answer\nann,hw3.softmax_grad,p_i - y_i\n"
                                    "ann,hw3.attention_values,A^T G\nbob,information:grad_q,-p_i/q_i\n")
    (tmp_path / "b.csv").write_text("student,problem,answer\nann,hw3.softmax_grad,p_i - y_i\n"
                                    "ann,hw3.attention_values,A^T G\nbob,information:grad_q,p_i/q_i\n")

    def grade(problems: str, answers: str) -> str:
        done = subprocess.run([sys.executable, "-m", "gradproof", "grade", str(tmp_path / problems),
                               str(tmp_path / answers), "-o", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "graded 3 new, 0 regraded (answer changed), 0 regraded (problem changed), 0 kept" in grade("v1.toml", "a.csv")
    assert "graded 0 new, 1 regraded (answer changed), 1 regraded (problem changed), 1 kept" in grade("v2.toml", "b.csv")
    assert "graded 0 new, 0 regraded (answer changed), 0 regraded (problem changed), 3 kept" in grade("v2.toml", "b.csv")
    rows = {r["student"] + r["problem"]: r for r in batch.read_results(tmp_path / "out" / "results.csv")}
    assert rows["bobinformation:grad_q"]["verdict"] == "incorrect"


def test_the_example_class_grades(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", "lecture", str(ROOT / "examples" / "class.csv"), "-o", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "0 kept" in err
    rows = batch.read_results(tmp_path / "out" / "results.csv")
    verdicts = {r["verdict"] for r in rows}
    assert verdicts == {"correct", "incorrect", "invalid"} and len(rows) >= 12
