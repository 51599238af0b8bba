"""The grade store, its lock, the exports built from it, and workers that die with their parent."""

from __future__ import annotations

import csv
import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verify.homework import batch, exports
from verify.homework.problems import PROBLEMS, Grade
from verify.homework.store import (
    BusyError,
    GradeStore,
    Stored,
    answer_hash,
    fingerprint,
)

ROOT = Path(__file__).resolve().parents[2]
_ROW = {"student": "", "problem": "information:grad_q", "verdict": "correct", "score": 1.0, "feedback": "ok", "method": "symbolic", "answer": "",
            "counterexample": ""}


# any text, with control characters, quotes, backslashes and formula starts drawn often
_TEXT = st.text(st.one_of(st.characters(blacklist_categories=()),  # lone surrogates too
                          st.sampled_from("\x00\x01\x08\x0b\x1b\x7f\x85\x9f\ud800\t\r\n'\\xu\"=+-@,")))


@given(_TEXT)
def test_spreadsheet_escaping_is_injective_and_never_leaves_a_formula(text: str) -> None:
    cell = exports.spreadsheet_safe(text)
    assert exports.unescape(cell) == text
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
    assert not exports.control_characters(cell)


@given(st.lists(st.tuples(_TEXT, _TEXT, _TEXT), max_size=6))
def test_results_csv_round_trips_through_read_results(tmp_path_factory: pytest.TempPathFactory,
                                                      cells: list[tuple[str, str, str]]) -> None:
    """Every column of any text comes back exactly, and the file holds no control character but
    tab, CR and LF (a NUL breaks CSV readers) and no cell that starts a formula."""
    path = tmp_path_factory.mktemp("csv") / "results.csv"
    rows = [{"student": a, "problem": b, "verdict": c, "score": a, "feedback": b + c, "method": c,
             "answer": a + b, "counterexample": c + a} for a, b, c in cells]
    data = exports.results_csv(rows)
    path.write_bytes(data)
    back = exports.read_results(path)
    assert back == [{k: str(v) for k, v in r.items()} for r in rows]
    text = data.decode("utf-8")
    assert not exports.control_characters(text)
    for record in csv.reader(io.StringIO(text, newline="")):
        assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r", "\n")) for c in record)


def test_every_column_is_neutralised_and_distinct_names_stay_distinct(tmp_path: Path) -> None:
    rows = [{**_ROW, "student": "=ann", "problem": '=HYPERLINK("http://x")'}, {**_ROW, "student": "'=ann"}]
    raw = exports.results_csv(rows).decode()
    assert "'=HYPERLINK" in raw and "\r\n=" not in raw and ",=" not in raw
    (tmp_path / "r.csv").write_text(raw, newline="")
    assert [r["student"] for r in exports.read_results(tmp_path / "r.csv")] == ["=ann", "'=ann"]


def test_a_cell_longer_than_a_spreadsheet_holds_is_cut_with_a_marker() -> None:
    raw = exports.results_csv([{**_ROW, "answer": "x" * 200_000}]).decode()
    assert len(raw) < 40_000 and "200000 characters in all; the whole text is in the grade store" in raw


@given(st.lists(st.text(max_size=70), unique=True, max_size=8))
def test_folder_names_never_collide(names: list[str]) -> None:
    names = names + [exports.folder(n) for n in names] + ["index", "Index", "student-"]
    names = list(dict.fromkeys(names))
    folders = [exports.folder(n) for n in names]
    assert len({f.casefold() for f in folders}) == len(names)  # also on a case-insensitive file system
    for f in folders:
        assert f not in ("index", ".", "..") and "/" not in f and "\\" not in f and len(f) <= 64 and f.isascii()


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "results.csv"
    exports.atomic_write(target, b"old")

    def full(fd: int) -> None:
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="too large"):
        exports.atomic_write(target, b"new and longer")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_the_store_commits_each_answer_and_rolls_back_a_failed_one(tmp_path: Path) -> None:
    row = Stored("ann", "information:grad_q", 0, "p_i", answer_hash("p_i"), "f", "incorrect", 0.0, "sign", "numeric", "")
    with GradeStore(tmp_path / "g.sqlite") as store:
        store.put(row)
        with pytest.raises(ValueError), store._transaction():
            store.db.execute("DELETE FROM grades")
            raise ValueError("a full disk, say")
        assert store.known() == {("ann", "information:grad_q"): (answer_hash("p_i"), "f")}
        assert store.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with GradeStore(tmp_path / "g.sqlite") as store:  # another connection sees it: it was committed
        assert list(store.rows()) == [row]


def test_fingerprints_are_the_same_in_another_process() -> None:
    code = ("from verify.homework.problems import PROBLEMS; from verify.homework.store import fingerprint; "
            "print(fingerprint(PROBLEMS['bp:delta_hidden']), fingerprint(PROBLEMS['bp:step']))")
    there = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert there == [fingerprint(PROBLEMS["bp:delta_hidden"]), fingerprint(PROBLEMS["bp:step"])]
    assert len({fingerprint(p) for p in PROBLEMS.values()}) == len(PROBLEMS)


def test_one_run_per_outdir_and_the_lock_does_not_pass_to_workers(tmp_path: Path) -> None:
    from verify.homework.worker import BoundedGrader

    with BoundedGrader(60) as grader:
        with batch.Gradebook(tmp_path) as book:
            with pytest.raises(BusyError, match="being graded by another gradproof grade"), batch.Gradebook(tmp_path):
                pass
            plan = book.plan([("ann", "information:grad_q", "-p_i/q_i")])
            assert [g.verdict for _, g in book.grade(plan, grader=grader)] == ["correct"]  # forks a worker
        assert grader._process.is_alive()
        with batch.Gradebook(tmp_path):  # the worker does not hold the lock
            pass


def test_a_worker_ends_when_its_parent_end_closes_although_it_has_siblings() -> None:
    from verify.homework.worker import BoundedPool

    with BoundedPool(seconds=60, workers=2) as pool:
        assert len(list(pool.grade([(n, "bp:step", "1") for n in range(2)]))) == 2
        first, second = pool.graders
        assert first._process.is_alive() and second._process.is_alive()
        first._connection.close()  # as if the parent were gone: the worker reads end-of-file
        first._process.join(timeout=10)
        assert not first._process.is_alive()
        first._process, first._connection = None, None
        assert second._process.is_alive()


def test_grading_stopped_part_way_still_exports_what_was_committed(tmp_path: Path) -> None:
    rows = [(f"s{n}", "bp:step", "1") for n in range(4)]
    graded = batch.grade_class(rows, tmp_path, grader=lambda p, a: Grade(p, "incorrect", 0.0, "no", method="table"))
    next(graded), next(graded)
    graded.close()
    assert [r["student"] for r in exports.read_results(tmp_path / "results.csv")] == ["s0", "s1"]
    plans: list[batch.Plan] = []
    list(batch.grade_class(rows, tmp_path, grader=lambda p, a: Grade(p, "incorrect", 0.0, "no", method="table"),
                           plans=plans))
    assert plans[0].summary() == "graded 2 new, 0 regraded (answer changed), 0 regraded (problem changed), 2 kept"
    assert len(exports.read_results(tmp_path / "results.csv")) == 4
