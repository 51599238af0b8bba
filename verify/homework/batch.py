"""Grading a class: submissions in, a grade store in OUTDIR, results files exported from it.

``OUTDIR/grades.sqlite`` (store.py) is the truth: every graded answer is committed there on its own
as it is graded. ``OUTDIR/results.csv`` and ``OUTDIR/gradescope/FOLDER/results.json`` are exports
(exports.py), rebuilt from the store atomically at the end of every run, also of a run that was
interrupted and resumed. A second run on the same OUTDIR is refused (``OutdirLock``).

Resuming: an answer already in the store is kept when its text and its problem's fingerprint are
unchanged; it is regraded when the answer changed or the problem (or the grading code) changed.
The store keeps answers of earlier runs that are not in today's file, with a warning that counts
them; exports list today's answers in the file's order, then those. ``drop_missing`` removes them
from the store (and so from the exports). Answers stored under a built-in problem's former id
(``kl.grad_q``, before ids were ``entry:claim``) take its canonical id first, grades kept.

A results.csv without a store beside it (written by a version without a store, or by this one
with grades.sqlite deleted since) is imported into the store once: its rows are kept, those in
today's file are regraded ("imported"), since what they were graded against is unknown. Which
escaping its cells use is told from the file (``_results_format``).

While a ``Gradebook`` is open, SIGTERM and SIGHUP (``kill``, a closed terminal, a scheduler's time
limit) raise ``Interrupted``, a ``KeyboardInterrupt``, as Ctrl-C does: what is being committed is
rolled back, the exports are rebuilt from what was committed, and the caller says so and exits
128 + the signal's number. Without it the process died at once, leaving exports of an older run.
An OUTDIR that cannot be used at all (a file, a read-only disk) is ``OutdirError``: nothing graded.
"""

from __future__ import annotations

import csv
import itertools
import json
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from .exports import (
    FIELDS,
    atomic_write,
    check_outputs,
    folder,
    gradescope_results,
    read_results,
    spreadsheet_safe,
    unescape,
    write_exports,
)
from .problems import PROBLEMS, Grade, canonical_id, revealed
from .store import STORE_NAME, GradeStore, OutdirError, OutdirLock, Stored, answer_hash, fingerprint
from .submissions import (
    MAX_ANSWER,
    Submission,
    SubmissionError,
    canonical,
    check_problems,
    last_wins,
    read_single,
    read_submissions,
)
from .worker import DEFAULT_SECONDS, DEFAULT_WORKERS, BoundedGrader, BoundedPool

__all__ = ["FIELDS", "Gradebook", "Interrupted", "OutdirError", "Plan", "Submission", "SubmissionError", "folder",
           "grade_class", "grade_single", "gradescope_results", "read_results", "read_submissions", "spreadsheet_safe",
           "unescape"]


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while a class was graded; handled as Ctrl-C is (``signum`` says which)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


_STOPS = (signal.SIGTERM, signal.SIGHUP)


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


def _stop_signals_interrupt(stack: ExitStack) -> None:
    """Make SIGTERM and SIGHUP raise ``Interrupted`` until ``stack`` closes (main thread only:
    Python handles signals there; elsewhere the default, dying at once, stays)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for stop in _STOPS:
        before = signal.getsignal(stop)
        if before is signal.SIG_IGN:  # nohup: the user asked for this signal to be ignored
            continue
        signal.signal(stop, _raise_interrupted)
        stack.callback(signal.signal, stop, before)

# why an answer is graded: never graded, its text changed, its problem changed, imported from a
# results.csv (what it was graded against is unknown), the grader stopped on it last time (its
# worker killed twice, or an error in the grader: not a verdict on the answer)
REASONS = ("new", "answer", "problem", "imported", "stopped")


@dataclass
class Plan:
    """What a run grades and why, what it keeps, and the warnings about single rows."""

    todo: list[tuple[Submission, str]] = field(default_factory=list)  # (answer, one of REASONS)
    kept: int = 0
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the class as a whole, few: always shown in full
    missing: list[tuple[str, str]] = field(default_factory=list)  # (student, problem) stored but not in the file
    dropped: bool = False  # whether ``missing`` were removed from the store

    def count(self, reason: str) -> int:
        return sum(why == reason for _, why in self.todo)

    def summary(self) -> str:
        """``graded 3 new, 1 regraded (answer changed), 0 regraded (problem changed), 5 kept``; answers
        imported from a results.csv, and those the grader stopped on in an earlier run, are counted
        apart, when there are any:
        ``..., 0 regraded (problem changed), 7 regraded (imported from results.csv), 0 kept``"""
        imported, stopped = self.count("imported"), self.count("stopped")
        return (f"graded {self.count('new')} new, {self.count('answer')} regraded (answer changed), "
                f"{self.count('problem')} regraded (problem changed), "
                + (f"{imported} regraded (imported from results.csv), " if imported else "")
                + (f"{stopped} regraded (the grader stopped on them before), " if stopped else "")
                + f"{self.kept} kept")


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
    ...     plan = book.plan([("ann", "information:grad_q", "-p_i/q_i"), ("bob", "kl.grad_q", "")])
    ...     [(s, g.verdict) for s, g in book.grade(plan, grader=grade)], plan.summary()
    ([('ann', 'correct'), ('bob', 'invalid')], 'graded 2 new, 0 regraded (answer changed), 0 regraded (problem changed), 0 kept')
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._stack = ExitStack()
        self.store: GradeStore | None = None
        self.imported = 0  # rows imported from results.csv by this run

    def __enter__(self) -> Self:
        _usable(self.out)
        with ExitStack() as stack:
            _stop_signals_interrupt(stack)
            stack.enter_context(OutdirLock(self.out))
            check_outputs(self.out, header=False)  # a folder where results.csv goes, before it is read
            fresh = not (self.out / STORE_NAME).exists()
            # a results.csv that is not ours is refused before a store is made beside it
            legacy = _legacy_rows(self.out) if fresh else None
            check_outputs(self.out)  # also beside a store: the class's own CSV saved as OUTDIR/results.csv
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
            legacy = _legacy_rows(self.out)
        with self.store._transaction():
            if legacy and not db.execute("SELECT 1 FROM grades LIMIT 1").fetchone():
                self.imported = len(legacy)
                db.executemany(f"INSERT OR REPLACE INTO grades ({', '.join(Stored._fields)}) VALUES "
                               f"({', '.join('?' * len(Stored._fields))})", [tuple(r) for r in legacy])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('imported', 'yes')")

    def plan(self, rows: Iterable[Sequence[object]], drop_missing: bool = False) -> Plan:
        """Decide what to grade; unknown problem ids are refused here, before anything is graded.

        Stored answers that are not in ``rows`` are kept with a warning that counts them, or removed
        from the store with ``drop_missing``."""
        assert self.store is not None
        plan = Plan()
        if self.imported:
            plan.notes.append(f"imported {self.imported} answers from {self.out / 'results.csv'} (it had no "
                              f"{STORE_NAME} beside it); those in this file are regraded")
        answers = last_wins(canonical([Submission(*r) for r in rows]), plan.warnings)  # type: ignore[arg-type]
        check_problems(answers, PROBLEMS)
        self._rename(plan)
        known = self.store.known()
        here = {(s.student, s.problem) for s in answers}
        plan.missing = [pair for pair in self.store.pairs() if pair not in here]
        if plan.missing:
            shown = ", ".join(f"{student!r} {problem}" for student, problem in plan.missing[:3])
            more = f" and {len(plan.missing) - 3} more" if len(plan.missing) > 3 else ""
            count = f"{len(plan.missing)} {'answer' if len(plan.missing) == 1 else 'answers'}"
            if drop_missing:
                self.store.delete(plan.missing)
                plan.dropped = True
                plan.notes.append(f"removed {count} that this file no longer holds from the store and the exports "
                                  f"({shown}{more})")
            else:
                plan.notes.append(f"the store holds {count} that this file does not ({shown}{more}); they stay in "
                                  "the exports; --drop-missing removes them")
        prints = {p: fingerprint(PROBLEMS[p]) for p in {s.problem for s in answers}}
        stopped = self.store.stopped()
        for s in answers:
            before = known.get((s.student, s.problem))
            if before is None:
                plan.todo.append((s, "new"))
            elif not before[1] and before[0] in ("", answer_hash(s.answer)):  # imported: graded against what is unknown
                plan.todo.append((s, "imported"))
            elif before[0] != answer_hash(s.answer):
                plan.todo.append((s, "answer"))
            elif before[1] != prints[s.problem]:
                plan.todo.append((s, "problem"))
            elif (s.student, s.problem) in stopped:  # a killed worker or a grader bug is no verdict: try again
                plan.todo.append((s, "stopped"))
            else:
                plan.kept += 1
        self._seqs = {(s.student, s.problem): n for n, s in enumerate(answers)}
        self._prints = prints
        self.store.reorder(self._seqs)
        return plan

    def _rename(self, plan: Plan) -> None:
        """Stored answers under a problem's former id (``kl.grad_q``, from before ids were
        ``entry:claim``) take its canonical id, keeping their grades: resuming regrades nothing for it."""
        assert self.store is not None
        names = {}
        for stored in self.store.problems():
            try:
                names[stored] = canonical_id(stored)
            except KeyError:  # a problem of a file not loaded this run: kept as it is
                continue
        names = {old: new for old, new in names.items() if old != new}
        if names:
            renamed = self.store.rename(names)
            shown = ", ".join(f"{old} -> {new}" for old, new in list(names.items())[:3])
            plan.notes.append(f"{renamed} stored answers were under former problem ids; they keep their grades "
                              f"under the canonical ids ({shown}{', ...' if len(names) > 3 else ''})")

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

    def export(self, reveal: bool = False) -> list[dict[str, object]]:
        """Rebuild results.csv and the Gradescope files from the store; returns the rows exported.
        ``reveal`` adds each problem's reference answer to the feedback of answers that are not
        correct, in the exports only: the store keeps the feedback as graded."""
        rows = self.rows()
        if reveal:
            rows = [dict(r, feedback=revealed(str(r["problem"]), str(r["feedback"]))) for r in rows]
        write_exports(rows, self.out)
        return rows


def _usable(out: Path) -> None:
    """Make OUTDIR, or ``OutdirError`` (one line, nothing graded) when it cannot be: a file is in
    the way (``-o class.csv``), the disk is read-only, a parent is not a folder. A full disk here is
    an ``OSError`` as it is later: running again with space helps.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "class.csv"
    >>> _ = f.write_text("student,problem,answer")
    >>> _usable(f)
    Traceback (most recent call last):
    ...
    verify.homework.store.OutdirError: -o .../class.csv is a file, not a folder; nothing graded: choose a folder for the results
    """
    import errno

    if out.exists() and not out.is_dir():
        raise OutdirError(f"-o {out} is a file, not a folder; nothing graded: choose a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".lock"
        probe.touch(exist_ok=True)  # the lock's file: a read-only OUTDIR is found here, before anything else
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        raise OutdirError(f"cannot use -o {out}: {error.strerror or error}"
                          f"{f' ({error.filename})' if error.filename and str(error.filename) != str(out) else ''}; "
                          "nothing graded: choose another folder") from None


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
                plans: list[Plan] | None = None, drop_missing: bool = False) -> Iterator[tuple[str, Grade]]:
    """Grade every (student, problem, answer[, row]) that the store in ``out`` does not hold as it
    is; yields as it goes, and exports when done or stopped (the plan is appended to ``plans``)."""
    with Gradebook(out) as book:
        plan = book.plan(rows, drop_missing)
        if plans is not None:
            plans.append(plan)
        try:
            yield from book.grade(plan, progress, grader, seconds, workers)
        finally:
            book.export()


_OLD_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_OLD_ESCAPED = ("student", "answer", "feedback")  # the only columns the old version escaped


def _results_format(out: Path, header: list[str], raw: list[dict[str, str | None]]) -> str:
    """Which escaping a results.csv without a store beside it uses: ``"current"`` (``unescape``:
    a ' before a formula character or a ', every column) or ``"old"`` (a ' taken off only before a
    formula character, in three columns).

    Both versions wrote the same header, so the file tells: a cell that starts with ' followed by
    anything the other rule would not have put there. Where no cell does, both rules read the file
    the same way. ``gradescope/students.csv`` beside it is written by the current version only.
    ``SubmissionError`` when the signs disagree."""
    if header != FIELDS:
        return "old"  # the current version writes exactly FIELDS; older layouts lacked columns
    current = old = ""
    if (out / "gradescope" / "students.csv").is_file():
        current = f"{out / 'gradescope' / 'students.csv'} beside it"
    for number, r in enumerate(raw, start=2):
        for key, value in r.items():
            if key is None or not value or not value.startswith("'"):
                continue
            rest = value[1:]
            if rest.startswith(("'", "\\", "\n")) or key not in _OLD_ESCAPED:
                current = current or f"row {number}, {key} {value[:20]!r}"
            elif not rest.startswith(_OLD_FORMULA_START):
                old = old or f"row {number}, {key} {value[:20]!r}"
    if current and old:
        raise SubmissionError(f"cannot tell which version of gradproof wrote {out / 'results.csv'} to import it ({current} "
                              f"says this one, {old} an older one); move it away or choose another -o")
    return "current" if current else "old"


def _legacy_rows(out: Path) -> list[Stored] | None:
    """The rows of ``out/results.csv`` when no store is beside it (None when there is none, or it
    is empty): written by a version without a store, or by this one with grades.sqlite deleted.

    The old version's escaping took a ' off only before a formula character, and only in three
    columns; the current one's is ``unescape`` (``_results_format`` tells which). The rows get no
    fingerprint, so those in today's file are regraded ("imported")."""
    results = out / "results.csv"
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
                header = list(reader.fieldnames or [])
                raw = list(reader)
            finally:
                csv.field_size_limit(old)
    except (OSError, csv.Error) as error:
        raise SubmissionError(f"cannot read {results} to import it: {error}") from None
    if not {"student", "problem", "verdict", "score"} <= set(header):
        raise SubmissionError(f"{results} is not a results file of gradproof grade; choose another -o")
    current = _results_format(out, header, raw) == "current"

    def cell(r: dict[str, str | None], key: str) -> str:
        value = r.get(key) or ""
        if current:
            return unescape(value)
        if key in _OLD_ESCAPED and value.startswith("'") and value[1:].startswith(_OLD_FORMULA_START):
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


def grade_single(path: Path, out: Path, seconds: float = DEFAULT_SECONDS, warnings: list[str] | None = None,
                 reveal: bool = False) -> dict:
    """One student's submission (CSV ``problem,answer``) to the ``results.json`` an autograder writes.

    Read as a class's file is (``read_single``): an unknown problem id, or a file without answers,
    is refused before anything is graded or written; of duplicate rows the last is graded, with a
    warning appended to ``warnings``."""
    answers = read_single(path, warnings)
    with BoundedGrader(seconds) as grader:
        grades = [_blank_or_long(s.problem, s.answer) or grader(s.problem, s.answer) for s in answers]
    if reveal:
        for g in grades:
            g.feedback = revealed(g.problem, g.feedback)
    document = gradescope_results([g.to_json() for g in grades])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "results.json", (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return document
