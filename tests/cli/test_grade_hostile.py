"""gradproof grade against hostile class files, output folders and signals (found by trying them).

- class files as spreadsheets in other locales save them (UTF-16 "Unicode text", ; and tab
  separated) are read; what cannot be read is refused in one line that says where and why;
- a file without answers is refused before it can empty the store (``--drop-missing``);
- an OUTDIR that is a file, the class's own CSV saved as OUTDIR/results.csv, a folder where a
  file goes: refused in one line, the file left as it was;
- SIGTERM stops a run as Ctrl-C does (exports rebuilt, resumable), a signal sent to the whole
  process group does not kill the workers under their answers, and time the process stood still
  (Ctrl-Z, ``kill -STOP``) is not charged to the answers' time limit.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from multiprocessing import Pipe
from pathlib import Path

import pytest

from gradproof.cli import main
from verify.homework import submissions, worker
from verify.homework.exports import read_results
from verify.homework.store import STORE_NAME
from verify.homework.submissions import SubmissionError, read_submissions

ROOT = Path(__file__).resolve().parents[2]
Q = "information:grad_q"


def _grade(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["grade", "lecture", *argv, "--workers", "1"])
    return code, capsys.readouterr().err


def _read(tmp_path: Path, data: bytes) -> tuple[list[tuple[str, str, str]], list[str]]:
    path = tmp_path / "class.csv"
    path.write_bytes(data)
    warnings: list[str] = []
    return [(s.student, s.problem, s.answer) for s in read_submissions(path, warnings)], warnings


# 1. class files as spreadsheets save them

ROWS = [["student", "problem", "answer"], ["José", Q, "-p_i/q_i"], ["bob", Q, "p_i/q_i, I think"]]
EXPECTED = [("José", Q, "-p_i/q_i"), ("bob", Q, "p_i/q_i, I think")]


def _csv(delimiter: str) -> str:
    """ROWS as a spreadsheet writes them with this delimiter (cells holding a comma quoted)."""
    lines = [delimiter.join(f'"{c}"' if delimiter in c or "," in c else c for c in row) for row in ROWS]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(("data", "why"), [
    (_csv(";").encode("utf-8"), "semicolons (Excel in a locale whose decimal mark is a comma)"),
    (_csv("\t").encode("utf-16"), "UTF-16 with a byte-order mark, tab separated (Excel's 'Unicode text')"),
    (_csv(",").encode("utf-16"), "UTF-16 with a byte-order mark, commas"),
    (_csv("\t").encode("utf-8-sig"), "tab separated UTF-8 with a byte-order mark"),
])
def test_locale_spreadsheet_files_are_read(tmp_path: Path, data: bytes, why: str) -> None:
    assert _read(tmp_path, data) == (EXPECTED, []), why


@pytest.mark.parametrize(("data", "words"), [
    (_csv(",").encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
    ("student,problem,answer\nann,x,1\nJosé,x,2\n".encode("latin-1"), "not UTF-8 text (byte 34) on line 3"),
    (b"student,problem,answer\r\n", "holds no answers (only a header); nothing graded"),
    (b"student,problem,answer\nann,information:grad_q,-p_i,/q_i\n", "holds no answers (every row was skipped: row 2"),
    (b"student,problem\nann,information:grad_q\n", "has the column 'problem' but no column 'answer'"),
    (b"student,answer\nann,-p_i/q_i\n", "has the column 'answer' but no column 'problem'"),
])
def test_unreadable_class_files_say_why(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(SubmissionError, match=re.escape(words)):
        _read(tmp_path, data)


def test_an_unread_column_of_a_long_file_is_named(tmp_path: Path) -> None:
    rows, warnings = _read(tmp_path, b"student,problem,answer,notes\nann,information:grad_q,,-p_i/q_i\nbob,"
                                      b"information:grad_q,p_i,\n")
    assert rows == [("ann", Q, ""), ("bob", Q, "p_i")]
    assert warnings == ["column 4 (D) 'notes' is not read: a long CSV's answers are in its 'answer' column "
                        "(1 cell not graded)"]


def test_huge_cells_make_short_messages_and_huge_names_are_skipped(tmp_path: Path) -> None:
    """A 1 MB problem id or header cell made a one-line error 1 MB long; a 1 MB student name was
    graded, and results.csv (cells cut at 32,000 characters) could not tell two such students apart."""
    with pytest.raises(SubmissionError) as error:
        _read(tmp_path, b"student,problem,answer\nann," + b"q" * 1_000_000 + b",p_i\n")
    assert len(str(error.value)) < 400 and "(1000000 characters) (row 2)" in str(error.value)
    with pytest.raises(SubmissionError) as error:
        _read(tmp_path, b"student," + b"x" * 200_000 + b"\nann,p_i\n")
    assert len(str(error.value)) < 400
    rows, warnings = _read(tmp_path, f"student,problem,answer\n{'a' * 1_000_001},{Q},p_i\nbob,{Q},p_i\n".encode())
    assert rows == [("bob", Q, "p_i")]
    assert warnings == ["row 2: the student name is 1000001 characters long (the limit is 1000); row skipped"]


def test_a_file_that_never_ends_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/dev/zero or a pipe that never closes was read until memory ran out."""
    monkeypatch.setattr(submissions, "MAX_FILE", 1000)
    with pytest.raises(SubmissionError, match="over 0 MiB"):
        _read(tmp_path, b"student,problem,answer\n" + b"ann,information:grad_q,p_i\n" * 100)


def test_a_file_without_answers_cannot_empty_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (tmp_path / "class.csv").write_text(f"student,problem,answer\nann,{Q},-p_i/q_i\n")
    assert _grade(capsys, str(tmp_path / "class.csv"), "-o", str(out))[0] == 0
    (tmp_path / "export.csv").write_text("student,problem,answer\n")  # a spreadsheet export gone wrong
    code, err = _grade(capsys, str(tmp_path / "export.csv"), "-o", str(out), "--drop-missing")
    assert code == 2 and "holds no answers" in err and len(err.strip().splitlines()) == 1
    assert [r["student"] for r in read_results(out / "results.csv")] == ["ann"]
    assert sqlite3.connect(out / STORE_NAME).execute("SELECT count(*) FROM grades").fetchone() == (1,)


# 2. output folders that cannot be used, and files that are not ours

def test_outdir_that_is_a_file_is_refused_and_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = f"student,problem,answer\nann,{Q},-p_i/q_i\n".encode()
    (tmp_path / "class.csv").write_bytes(data)
    code, err = _grade(capsys, str(tmp_path / "class.csv"), "-o", str(tmp_path / "class.csv"))
    assert code == 2 and "is a file, not a folder; nothing graded" in err and "run again" not in err
    assert (tmp_path / "class.csv").read_bytes() == data
    code, err = _grade(capsys, str(tmp_path / "class.csv"), "-o", str(tmp_path / "class.csv" / "out"))
    assert code == 2 and "nothing graded" in err and "run again" not in err


def test_the_class_file_saved_as_results_csv_is_never_overwritten(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    data = f"student,problem,answer\nann,{Q},-p_i/q_i\nbob,{Q},p_i\n".encode()
    (tmp_path / "class.csv").write_bytes(data)
    assert _grade(capsys, str(tmp_path / "class.csv"), "-o", str(out))[0] == 0  # a store now exists
    (out / "results.csv").write_bytes(data)  # the instructor keeps the class's file with the results
    code, err = _grade(capsys, str(out / "results.csv"), "-o", str(out))
    assert code == 2 and "is not a results file of gradproof grade" in err and "left as it is" in err
    assert (out / "results.csv").read_bytes() == data


def test_a_folder_where_a_file_goes_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (tmp_path / "class.csv").write_text(f"student,problem,answer\nann,{Q},-p_i/q_i\n")
    (out / "results.csv").mkdir(parents=True)
    code, err = _grade(capsys, str(tmp_path / "class.csv"), "-o", str(out))
    assert code == 2 and f"{out / 'results.csv'} is a folder" in err
    (out / "results.csv").rmdir()
    (out / "gradescope" / "ann" / "results.json").mkdir(parents=True)
    code, err = _grade(capsys, str(tmp_path / "class.csv"), "-o", str(out))
    assert code == 1 and f"{out / 'gradescope' / 'ann' / 'results.json'}: a folder is where this file goes" in err
    assert ".tmp" not in err


def test_a_gone_students_folder_with_a_killed_exports_temporary_file_is_removed(tmp_path: Path) -> None:
    """kill -9 while exporting leaves gradescope/FOLDER/.results.json.tmp; once that student left
    the class, the folder stayed for good (it held a file other than results.json)."""
    from verify.homework.exports import write_exports

    def row(student: str) -> dict[str, object]:
        return dict(student=student, problem=Q, verdict="correct", score=1.0, feedback="ok", method="symbolic",
                    answer="-p_i/q_i", counterexample="")

    write_exports([row("ann"), row("bob")], tmp_path)
    (tmp_path / "gradescope" / "bob" / ".results.json.tmp").write_bytes(b'{"score": 1.0, "te')
    write_exports([row("ann")], tmp_path)
    assert sorted(p.name for p in (tmp_path / "gradescope").iterdir()) == ["ann", "students.csv"]


# 3. signals and stops

def test_a_worker_outlives_a_stop_signal_sent_to_the_group() -> None:
    """``kill -TERM -PGID`` (a scheduler, ``timeout`` of a shell) reached the workers too, which died
    under their answers; those were stored invalid ("the grader's worker stopped") for good."""
    with worker.BoundedGrader(seconds=60) as grader:
        assert grader(Q, "-p_i/q_i").verdict == "correct"
        os.kill(grader._process.pid, signal.SIGTERM)
        time.sleep(0.2)
        result = grader(Q, "-p_i/q_i")
    assert (result.verdict, result.method) == ("correct", "symbolic"), result.feedback


def _kill_worker_then(real: object, pool: worker.BoundedPool) -> object:
    """A ``wait`` that first SIGKILLs the busy worker (the OOM killer, ``kill -9 PID``), once."""
    done = []

    def wait(connections: list, timeout: float | None = None) -> list:
        if not done:
            done.append(pool.graders[0]._process.pid)
            os.kill(done[0], signal.SIGKILL)
            pool.graders[0]._process.join(5)
        return real(connections, timeout)  # type: ignore[operator]

    return wait


def test_an_answer_whose_worker_was_killed_is_graded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed under an answer made it invalid ("the grader's worker stopped"), and the
    store kept that on every later run; a kill is not a verdict: the answer gets a fresh worker."""
    with worker.BoundedPool(seconds=60, workers=1) as pool:
        monkeypatch.setattr(worker, "wait", _kill_worker_then(worker.wait, pool))
        results = [(tag, g.verdict, g.method) for tag, g, _ in pool.grade([(0, Q, "-p_i/q_i"), (1, Q, "p_i")])]
    assert results == [(0, "correct", "symbolic"), (1, "incorrect", "symbolic")]
    with worker.BoundedGrader(seconds=60) as grader:
        grader(Q, "p_i")
        real_poll = type(grader.connection).poll
        killed = []

        def poll(self: object, timeout: float = 0.0) -> bool:
            if not killed:
                killed.append(os.kill(grader._process.pid, signal.SIGKILL))
                grader._process.join(5)
            return real_poll(self, timeout)  # type: ignore[arg-type]

        monkeypatch.setattr(type(grader.connection), "poll", poll)
        result = grader(Q, "-p_i/q_i")
    assert (result.verdict, result.method) == ("correct", "symbolic"), result.feedback


def test_an_answer_the_grader_stopped_on_is_graded_again_next_run(tmp_path: Path) -> None:
    """An answer stored as "the grader's worker stopped" was kept by every later run."""
    from verify.homework.batch import Gradebook
    from verify.homework.problems import Grade, grade

    def dying(problem: str, answer: str) -> Grade:
        if answer == "-p_i/q_i":
            return Grade(problem, "invalid", 0.0, "the grader's worker stopped on this answer", method="error")
        return grade(problem, answer)

    rows = [("ann", Q, "-p_i/q_i"), ("bob", Q, "p_i")]
    with Gradebook(tmp_path) as book:
        plan = book.plan(rows)
        assert [g.verdict for _, g in book.grade(plan, grader=dying)] == ["invalid", "incorrect"]
    with Gradebook(tmp_path) as book:
        plan = book.plan(rows)
        assert [(s.student, why) for s, why in plan.todo] == [("ann", "stopped")] and plan.kept == 1
        assert [(student, g.verdict) for student, g in book.grade(plan, grader=grade)] == [("ann", "correct")]
        assert plan.summary().endswith("1 regraded (the grader stopped on them before), 1 kept")
    with Gradebook(tmp_path) as book:
        assert book.plan(rows).kept == 2


def test_a_worker_whose_parent_left_exits_quietly() -> None:
    """A worker answering a killed parent raised BrokenPipeError twice and printed a traceback."""
    parent, child = Pipe()
    parent.send((Q, "-p_i/q_i"))
    parent.close()
    worker._serve(child)  # returns, raises nothing


def test_time_the_process_stood_still_is_not_charged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-Z (SIGTSTP to the group) for longer than the limit, then ``fg``: the answers being graded
    were given up as too slow and stored invalid, kept by every later run."""
    real_wait, real_clock = worker.wait, time.monotonic
    jump = [0.0]

    def stopped_once(connections: list, timeout: float | None = None) -> list:
        if not jump[0]:  # the first wait: the process is stopped for a minute, nothing is ready after it
            jump[0] = 60.0
            return []
        return real_wait(connections, timeout)

    monkeypatch.setattr(worker, "wait", stopped_once)
    monkeypatch.setattr(worker.time, "monotonic", lambda: real_clock() + jump[0])
    with worker.BoundedPool(seconds=20, workers=1) as pool:
        results = list(pool.grade([(0, Q, "-p_i/q_i")]))
    assert [(tag, g.verdict, g.method) for tag, g, _ in results] == [(0, "correct", "symbolic")], results[0][1].feedback


def test_charged_seconds() -> None:
    assert worker._charged(3.0, 1.0) == 1.0 and worker._charged(3.0, 3.5) == 3.5 and worker._charged(3.0, 30.0) == 0.0


def test_sigterm_stops_like_ctrl_c_and_resumes(tmp_path: Path) -> None:
    """SIGTERM killed the run at once: no exports of what was graded, exit -15. Now the exports hold
    every committed answer, the exit says interrupted, and a rerun grades the rest."""
    answers = ("-p_i/q_i", "p_i/q_i", "-p_i/q_i^2", "-\\frac{p_i}{q_i}")
    rows = [(f"s{n:03d}", Q, answers[n % 4]) for n in range(300)]
    with (tmp_path / "class.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("student", "problem", "answer"), *rows])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gradproof", "grade", "lecture", str(tmp_path / "class.csv"), "-o", str(out),
               "--workers", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 25
    stored = 0
    while time.monotonic() < deadline and not stored:
        time.sleep(0.05)
        try:
            stored = sqlite3.connect(out / STORE_NAME, timeout=1).execute("SELECT count(*) FROM grades").fetchone()[0]
        except sqlite3.Error:
            continue
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert stored, "the run never committed an answer"
    assert process.returncode == 143, (process.returncode, err)  # 128 + SIGTERM, as a shell reports it
    assert "interrupted (SIGTERM)" in err and "run the same command again to resume" in err
    kept = {r["student"]: r["verdict"] for r in read_results(out / "results.csv")}
    in_store = dict(sqlite3.connect(out / STORE_NAME).execute("SELECT student, verdict FROM grades").fetchall())
    assert kept == in_store and 0 < len(kept) < 300
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"{len(kept)} kept" in again.stderr
    final = {r["student"]: r["verdict"] for r in read_results(out / "results.csv")}
    assert len(final) == 300 and all(final[s] == v for s, v in kept.items())
    assert [final[f"s{n:03d}"] for n in range(4)] == ["correct", "incorrect", "incorrect", "correct"]


@pytest.mark.parametrize("where", ["gradescope/students.csv", "pages/ann.html"])
def test_the_class_file_inside_what_the_run_rewrites_is_refused(tmp_path: Path, where: str) -> None:
    """A class file at OUTDIR/gradescope/students.csv was replaced by the folder index, and one named like a
    student's page inside --report DIR by that page: refused before anything is graded, the file untouched."""
    out = tmp_path / "out"
    given = (out if where.startswith("gradescope") else tmp_path) / where
    given.parent.mkdir(parents=True)
    given.write_text(f"student,problem,answer\nann,{Q},-p_i/q_i\n")
    before = given.read_bytes()
    code = main(["grade", "lecture", str(given), "-o", str(out), "--report", str(tmp_path / "pages")])
    assert code == 2 and given.read_bytes() == before and not (out / "grades.sqlite").exists()


def test_a_class_file_beside_the_report_pages_is_graded(tmp_path: Path) -> None:
    """--report . with the class's CSV in the same folder: the pages do not touch a .csv."""
    given = tmp_path / "class.csv"
    given.write_text(f"student,problem,answer\nann,{Q},-p_i/q_i\n")
    assert main(["grade", "lecture", str(given), "-o", str(tmp_path / "out"), "--report", str(tmp_path)]) == 0
    assert given.read_text().startswith("student,problem,answer")
