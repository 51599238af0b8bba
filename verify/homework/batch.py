"""Grading a class: submissions from CSV, results to CSV and to Gradescope's ``results.json``.

Results are appended to ``OUTDIR/results.csv`` as each answer is graded, so an interrupted run
resumes where it stopped: answers already in the file are not graded again. Each student's
Gradescope file is rewritten after each of their answers.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path

from .problems import PROBLEMS, Grade
from .worker import DEFAULT_SECONDS, DEFAULT_WORKERS, BoundedGrader, BoundedPool

__all__ = ["FIELDS", "SubmissionError", "grade_class", "grade_single", "gradescope_results", "read_results", "read_submissions",
           "spreadsheet_safe"]

# answer and counterexample (JSON) feed the per-student HTML pages (gradproof grade --report)
FIELDS = ["student", "problem", "verdict", "score", "feedback", "method", "answer", "counterexample"]


class SubmissionError(ValueError):
    """The submissions file cannot be read as either layout; the message says what is wrong."""


def read_submissions(path: Path) -> list[tuple[str, str, str]]:
    """(student, problem, answer) rows from a long CSV (``student,problem,answer``) or a wide one
    (``student`` then one column per problem id).

    >>> import tempfile, os
    >>> f = Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = f.write_text("student,softmax_ce.grad_z\\nann,p_i - y_i\\n")
    >>> read_submissions(f)
    [('ann', 'softmax_ce.grad_z', 'p_i - y_i')]
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SubmissionError(f"cannot read {path}: {error}") from None
    columns = [c.strip() for c in header if c is not None]
    if "student" not in columns:
        raise SubmissionError(f"{path} needs a 'student' column; it has {', '.join(columns) or 'none'}")
    if {"problem", "answer"} <= set(columns):
        return [(r["student"].strip(), r["problem"].strip(), r["answer"] or "") for r in rows]
    problems = [c for c in columns if c != "student"]
    unknown = [c for c in problems if c not in PROBLEMS]
    if unknown:
        raise SubmissionError(f"unknown problem column {unknown[0]!r}; use a long CSV (student,problem,answer) or "
                              "problem ids as columns (see 'gradproof problems')")
    return [(r["student"].strip(), p, r[p] or "") for r in rows for p in problems if (r.get(p) or "").strip()]


def _done(results: Path) -> set[tuple[str, str]]:
    """The answers already graded; a results.csv from an older version (fewer columns) is first
    rewritten with today's header, its rows kept, so appended rows line up."""
    if not results.exists():
        return set()
    with results.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = reader.fieldnames or []
    if header != FIELDS:
        if not {"student", "problem", "verdict", "score"} <= set(header):
            raise SubmissionError(f"{results} is not a results file of gradproof grade; choose another -o")
        with results.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({k: r.get(k) or "" for k in FIELDS} for r in rows)
    return {(unescape(r["student"] or ""), r["problem"]) for r in rows}


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading ' before =, +, -, @ (OWASP's CSV injection advice);
    ``unescape`` takes it off again when gradproof reads the file.

    >>> spreadsheet_safe("=1+2"), unescape(spreadsheet_safe("-p_i/q_i"))
    ("'=1+2", '-p_i/q_i')
    """
    return "'" + text if text.startswith(_FORMULA_START) else text


def unescape(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def read_results(results: Path) -> list[dict[str, str]]:
    """The rows of a results.csv with the student's own text as it was typed (see ``spreadsheet_safe``)."""
    with results.open(newline="", encoding="utf-8") as handle:
        return [{k: unescape(v or "") if k in ("student", "answer", "feedback") else (v or "") for k, v in r.items()
                 if k is not None} for r in csv.DictReader(handle)]


def _folder(student: str) -> str:
    """A student's name as a folder name; anything unsafe becomes a hash (no path tricks)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", student) and ".." not in student:
        return student
    return "student-" + hashlib.sha256(student.encode()).hexdigest()[:16]


def gradescope_results(grades: list[Grade]) -> dict:
    """Gradescope's autograder ``results.json``: the total and one test per problem."""
    tests = [{"name": g.problem, "score": g.score, "max_score": 1.0, "output": f"{g.verdict}: {g.feedback}",
              "visibility": "visible"} for g in grades]
    return {"score": sum(g.score for g in grades), "tests": tests}


def grade_class(rows: list[tuple[str, str, str]], out: Path,
                progress: Callable[[int, int, str], None] | None = None,
                grader: Callable[[str, str], Grade] | None = None,
                seconds: float = DEFAULT_SECONDS, workers: int = DEFAULT_WORKERS) -> Iterator[tuple[str, Grade]]:
    """Grade every (student, problem, answer) not already in ``out/results.csv``; yields as it goes.

    Answers are graded by ``workers`` forked workers at once, each answer killed past ``seconds``
    (``BoundedPool``), and recorded in the order they finish; with a ``grader`` function, one at a
    time in that function."""
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.csv"
    done = _done(results)
    todo = [(s, p, a) for s, p, a in rows if (s, p) not in done]
    known = [(number, p, a) for number, (_, p, a) in enumerate(todo) if p in PROBLEMS]
    finished = {n: Grade(p, "invalid", 0.0, f"no problem {p!r}", method="none")
                for n, (_, p, _) in enumerate(todo) if p not in PROBLEMS}
    new_file = not results.exists()
    with results.open("a", newline="", encoding="utf-8") as handle, \
            BoundedPool(seconds, workers) if grader is None else nullcontext() as pool:
        graded = pool.grade(known) if grader is None else ((n, grader(p, a), 0.0) for n, p, a in known)
        writer = csv.DictWriter(handle, FIELDS)
        if new_file:
            writer.writeheader()
        for number, result in _in_order(graded, finished):
            student, problem_id, answer = todo[number]
            if progress:
                progress(number, len(todo), f"{student} {problem_id}")
            writer.writerow({"student": spreadsheet_safe(student), "problem": problem_id, "verdict": result.verdict,
                             "score": result.score, "feedback": spreadsheet_safe(result.feedback), "method": result.method,
                             "answer": spreadsheet_safe(answer), "counterexample": json.dumps(result.counterexample, ensure_ascii=False)
                             if result.counterexample else ""})
            handle.flush()
            _write_gradescope(out, student)
            yield student, result
    if progress:
        progress(len(todo), len(todo), "done")


def _in_order(graded: Iterator[tuple[int, Grade, float]], finished: dict[int, Grade]) -> Iterator[tuple[int, Grade]]:
    """Results in input order although workers finish out of order (held back a few answers at most)."""
    following = 0
    for number, result, _ in itertools.chain(graded, [(None, None, 0.0)]):
        if number is not None:
            finished[number] = result
        while following in finished:
            yield following, finished.pop(following)
            following += 1


def _write_gradescope(out: Path, student: str) -> None:
    """Rebuild a student's results.json from results.csv (so resumed runs include earlier answers)."""
    mine = [Grade(r["problem"], r["verdict"], float(r["score"]), r["feedback"], method=r.get("method", ""))
            for r in read_results(out / "results.csv") if r["student"] == student]
    folder = out / "gradescope" / _folder(student)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(gradescope_results(mine), indent=2, ensure_ascii=False) + "\n")


def grade_single(path: Path, out: Path, seconds: float = DEFAULT_SECONDS) -> dict:
    """One student's submission (CSV ``problem,answer``) to the ``results.json`` an autograder writes."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SubmissionError(f"cannot read {path}: {error}") from None
    if rows and not {"problem", "answer"} <= set(rows[0]):
        raise SubmissionError(f"{path} needs 'problem' and 'answer' columns")
    with BoundedGrader(seconds) as grader:
        grades = [grader(r["problem"].strip(), r["answer"] or "") if r["problem"].strip() in PROBLEMS
                  else Grade(r["problem"], "invalid", 0.0, f"no problem {r['problem']!r}", method="none") for r in rows]
    document = gradescope_results(grades)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return document
