"""Grading a class: submissions in, a grade store in OUTDIR, results files exported from it.

``OUTDIR/grades.sqlite`` (store.py) is the truth: every graded answer is committed there on its own
as it is graded. ``OUTDIR/results.csv`` and ``OUTDIR/gradescope/FOLDER/results.json`` are exports
(exports.py), rebuilt from the store atomically at the end of every run, also of a run that was
interrupted and resumed. A second run on the same OUTDIR is refused (``OutdirLock``).

Resuming: an answer already in the store is kept when its text and its problem's fingerprint are
unchanged; it is regraded when the answer changed or the problem (or the grading code) changed.
The store keeps answers of earlier runs that are not in today's file; exports list today's answers
in the file's order, then those.

A results.csv from a version without a store is imported into the store once (its rows kept; those
in today's file are regraded, since what they were graded against is unknown).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from .exports import (
    FIELDS,
    atomic_write,
    folder,
    gradescope_results,
    read_results,
    spreadsheet_safe,
    unescape,
    write_exports,
)
from .problems import PROBLEMS, Grade
from .store import STORE_NAME, GradeStore, OutdirLock, Stored, answer_hash, fingerprint
from .submissions import (
    MAX_ANSWER,
    Submission,
    SubmissionError,
    check_problems,
    last_wins,
    read_submissions,
)
from .worker import DEFAULT_SECONDS, DEFAULT_WORKERS, BoundedGrader, BoundedPool

__all__ = ["FIELDS", "Gradebook", "Plan", "Submission", "SubmissionError", "folder", "grade_class", "grade_single",
           "gradescope_results", "read_results", "read_submissions", "spreadsheet_safe", "unescape"]

REASONS = ("new", "answer", "problem")  # why an answer is graded: never graded, its text changed, its problem changed


@dataclass
class Plan:
    """What a run grades and why, what it keeps, and the warnings about single rows."""

    todo: list[tuple[Submission, str]] = field(default_factory=list)  # (answer, one of REASONS)
    kept: int = 0
    warnings: list[str] = field(default_factory=list)

    def count(self, reason: str) -> int:
        return sum(why == reason for _, why in self.todo)

    def summary(self) -> str:
        """``graded 3 new, 1 regraded (answer changed), 0 regraded (problem changed), 5 kept``"""
        return (f"graded {self.count('new')} new, {self.count('answer')} regraded (answer changed), "
                f"{self.count('problem')} regraded (problem changed), {self.kept} kept")


def _blank_or_long(problem_id: str, answer: str) -> Grade | None:
    """Answers graded without a worker: a blank one, and one too long to read."""
    if not answer.strip():
        return Grade(problem_id, "invalid", 0.0, "no answer", method="blank")
    if len(answer) > MAX_ANSWER:
        return Grade(problem_id, "invalid", 0.0, f"the answer is {len(answer)} characters long; the limit is {MAX_ANSWER}",
                     method="none")
    return None


class Gradebook:
    """OUTDIR while a run holds it: the lock, the store, planning, grading and exporting.

    >>> import tempfile
    >>> from verify.homework.problems import grade
    >>> with Gradebook(Path(tempfile.mkdtemp())) as book:
    ...     plan = book.plan([("ann", "kl.grad_q", "-p_i/q_i"), ("bob", "kl.grad_q", "")])
    ...     [(s, g.verdict) for s, g in book.grade(plan, grader=grade)], plan.summary()
    ([('ann', 'correct'), ('bob', 'invalid')], 'graded 2 new, 0 regraded (answer changed), 0 regraded (problem changed), 0 kept')
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._stack = ExitStack()
        self.store: GradeStore | None = None

    def __enter__(self) -> Self:
        self.out.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            stack.enter_context(OutdirLock(self.out))
            fresh = not (self.out / STORE_NAME).exists()
            # a results.csv that is not ours is refused before a store is made beside it
            legacy = _legacy_rows(self.out / "results.csv") if fresh else None
            self.store = stack.enter_context(GradeStore(self.out / STORE_NAME))
            self._import(legacy, fresh)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _import(self, legacy: list[Stored] | None, fresh: bool) -> None:
        """Rows of an older version's results.csv, once, in the same transaction as the mark that
        says it was done (a kill in between imports them again next time, never loses them). Once
        marked, results.csv is never read again: a torn or empty one does not matter."""
        assert self.store is not None
        db = self.store.db
        if db.execute("SELECT 1 FROM meta WHERE key = 'imported'").fetchone():
            return
        if not fresh:
            legacy = _legacy_rows(self.out / "results.csv")
        with self.store._transaction():
            if legacy and not db.execute("SELECT 1 FROM grades LIMIT 1").fetchone():
                db.executemany(f"INSERT OR REPLACE INTO grades ({', '.join(Stored._fields)}) VALUES "
                               f"({', '.join('?' * len(Stored._fields))})", [tuple(r) for r in legacy])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('imported', 'yes')")

    def plan(self, rows: Iterable[Sequence[object]]) -> Plan:
        """Decide what to grade; unknown problem ids are refused here, before anything is graded."""
        assert self.store is not None
        plan = Plan()
        answers = last_wins([Submission(*r) for r in rows], plan.warnings)  # type: ignore[arg-type]
        check_problems(answers, PROBLEMS)
        known = self.store.known()
        prints = {p: fingerprint(PROBLEMS[p]) for p in {s.problem for s in answers}}
        for s in answers:
            before = known.get((s.student, s.problem))
            if before is None:
                plan.todo.append((s, "new"))
            elif before[0] != answer_hash(s.answer):
                plan.todo.append((s, "answer"))
            elif before[1] != prints[s.problem]:
                plan.todo.append((s, "problem"))
            else:
                plan.kept += 1
        self._seqs = {(s.student, s.problem): n for n, s in enumerate(answers)}
        self._prints = prints
        self.store.reorder(self._seqs)
        return plan

    def grade(self, plan: Plan, progress: Callable[[int, int, str], None] | None = None,
              grader: Callable[[str, str], Grade] | None = None, seconds: float = DEFAULT_SECONDS,
              workers: int = DEFAULT_WORKERS) -> Iterator[tuple[str, Grade]]:
        """Grade the plan, committing each answer to the store; yields (student, grade) in plan order.

        Answers are graded by ``workers`` forked workers at once, each killed past ``seconds``
        (``BoundedPool``); with a ``grader`` function, one at a time in that function."""
        assert self.store is not None
        todo = [s for s, _ in plan.todo]
        finished = {n: g for n, s in enumerate(todo) if (g := _blank_or_long(s.problem, s.answer)) is not None}
        tasks = [(n, s.problem, s.answer) for n, s in enumerate(todo) if n not in finished]
        with BoundedPool(seconds, workers) if grader is None and tasks else nullcontext() as pool:
            graded = pool.grade(tasks) if pool is not None else ((n, grader(p, a), 0.0) for n, p, a in tasks)  # type: ignore[misc]
            for number, result in _in_order(graded, finished):
                s = todo[number]
                if progress:
                    progress(number, len(todo), f"{s.student} {s.problem}")
                self.store.put(Stored(s.student, s.problem, self._seqs[(s.student, s.problem)], s.answer,
                                      answer_hash(s.answer), self._prints[s.problem], result.verdict, float(result.score),
                                      result.feedback, result.method,
                                      json.dumps(result.counterexample, ensure_ascii=False, sort_keys=True)
                                      if result.counterexample else ""))
                yield s.student, result
        if progress:
            progress(len(todo), len(todo), "done")

    def rows(self) -> list[dict[str, object]]:
        """Every stored answer in export order, as the exports' rows (``FIELDS``)."""
        assert self.store is not None
        return [{k: getattr(r, k) for k in FIELDS} for r in self.store.rows()]

    def export(self) -> list[dict[str, object]]:
        """Rebuild results.csv and the Gradescope files from the store; returns the rows exported."""
        rows = self.rows()
        write_exports(rows, self.out)
        return rows


def _in_order(graded: Iterator[tuple[int, Grade, float]], finished: dict[int, Grade]) -> Iterator[tuple[int, Grade]]:
    """Results in input order although workers finish out of order (held back a few answers at most)."""
    following = 0
    for number, result, _ in itertools.chain(graded, [(None, None, 0.0)]):
        if number is not None:
            finished[number] = result
        while following in finished:
            yield following, finished.pop(following)
            following += 1


def grade_class(rows: Iterable[Sequence[object]], out: Path,
                progress: Callable[[int, int, str], None] | None = None,
                grader: Callable[[str, str], Grade] | None = None,
                seconds: float = DEFAULT_SECONDS, workers: int = DEFAULT_WORKERS,
                plans: list[Plan] | None = None) -> Iterator[tuple[str, Grade]]:
    """Grade every (student, problem, answer[, row]) that the store in ``out`` does not hold as it
    is; yields as it goes, and exports when done or stopped (the plan is appended to ``plans``)."""
    with Gradebook(out) as book:
        plan = book.plan(rows)
        if plans is not None:
            plans.append(plan)
        try:
            yield from book.grade(plan, progress, grader, seconds, workers)
        finally:
            book.export()


_OLD_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _legacy_rows(results: Path) -> list[Stored] | None:
    """The rows of a results.csv written before the store (None when there is none, or it is empty).

    Its escaping took a ' off only before a formula character, and only in three columns; its rows
    get no fingerprint, so those in today's file are regraded."""
    try:
        if results.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    try:
        with results.open(newline="", encoding="utf-8", errors="replace") as handle:
            old = csv.field_size_limit(2**31 - 1)
            try:
                reader = csv.DictReader(handle)
                header = reader.fieldnames or []
                raw = list(reader)
            finally:
                csv.field_size_limit(old)
    except (OSError, csv.Error) as error:
        raise SubmissionError(f"cannot read {results} to import it: {error}") from None
    if not {"student", "problem", "verdict", "score"} <= set(header):
        raise SubmissionError(f"{results} is not a results file of gradproof grade; choose another -o")

    def cell(r: dict[str, str | None], key: str) -> str:
        value = r.get(key) or ""
        if key in ("student", "answer", "feedback") and value.startswith("'") and value[1:].startswith(_OLD_FORMULA_START):
            return value[1:]
        return value

    rows = []
    for seq, r in enumerate(raw):
        try:
            score = float(cell(r, "score"))
        except ValueError:
            continue  # a row torn by a kill: it is graded again if it is in today's file
        answer = cell(r, "answer")
        rows.append(Stored(cell(r, "student"), cell(r, "problem"), seq, answer,
                           answer_hash(answer) if "answer" in header else "", "", cell(r, "verdict"), score,
                           cell(r, "feedback"), cell(r, "method"), cell(r, "counterexample")))
    return rows


def grade_single(path: Path, out: Path, seconds: float = DEFAULT_SECONDS) -> dict:
    """One student's submission (CSV ``problem,answer``) to the ``results.json`` an autograder writes."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SubmissionError(f"cannot read {path}: {error}") from None
    rows = [{(k or "").strip().casefold(): v for k, v in r.items()} for r in rows]
    if rows and not {"problem", "answer"} <= set(rows[0]):
        raise SubmissionError(f"{path} needs 'problem' and 'answer' columns")
    with BoundedGrader(seconds) as grader:
        grades = [_blank_or_long(p, r["answer"] or "") or grader(p, r["answer"] or "")
                  if (p := (r["problem"] or "").strip()) in PROBLEMS
                  else Grade(p, "invalid", 0.0, f"no problem {p!r}", method="none") for r in rows]
    document = gradescope_results([g.to_json() for g in grades])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.json", (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return document
