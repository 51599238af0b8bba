"""Homework feedback pages: one self-contained HTML page per student from a graded class.

Built from the grade store's rows (``gradproof grade --report``) or a results.csv: for each student,
every answer typeset as the student wrote it (MathML from its parse tree, verify/homework/typeset.py),
its verdict, score, feedback and counterexample, plus an index page of the class. Answers are the
students' own text: everything is escaped, and an answer is typeset only when it was read as a
valid answer; otherwise its text is shown as it was typed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from .report import _h, _mathml, _page, _pill

__all__ = ["student_page", "write_pages"]

_CSS = (
    "<style>.correct{background:#d8f3dc;color:#1b4332}.incorrect{background:#f8d7da;color:#842029}"
    ".invalid{background:#eee;color:#555}.answer{margin:1.2rem 0;padding-top:.6rem;border-top:1px solid #ddd}"
    ".typed{font-family:ui-monospace,monospace;white-space:pre-wrap;overflow-wrap:anywhere}</style>"
)


def _typeset(problem_id: str, text: str, verdict: str) -> str:
    r"""The answer as MathML, in the form the student wrote it, where it reads as one; else as typed.

    Typeset from the answer's parse tree, not from the SymPy it reads as: a simplified form
    (``(1/3)√3 dSK`` for ``\frac{1}{\sqrt{d_k}} dS K``) is not what the student wrote.

    >>> "<mfrac>" in _typeset("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} dS K", "incorrect")
    True
    """
    if verdict != "invalid":
        from verify.homework.language import InvalidAnswer
        from verify.homework.problems import _setting, read_answer
        from verify.homework.typeset import typeset_math

        try:
            read_answer(problem_id, text)  # typeset only what reads as an answer to this problem
            return _mathml(typeset_math(text, _setting(problem_id, 0)[1]), display=True)
        except (InvalidAnswer, KeyError, ValueError, TypeError):
            pass
    return f'<div class="typed">{_h(text[:2000])}{"…" if len(text) > 2000 else ""}</div>'


def _input(name: object, value: object) -> str:
    """One input of a counterexample: ``K = `` and a number, a vector in brackets, or a matrix laid
    out in rows (MathML), as the problem writes it; whatever else JSON holds, as escaped text.

    >>> _input("d_k", 3)
    'd_k = 3'
    >>> "<mtable>" in _input("K", [[1, 2.5], [0, -1]]) and "<mn>2.5</mn>" in _input("K", [[1, 2.5], [0, -1]])
    True
    """
    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if isinstance(value, list) and value and all(isinstance(r, list) and r and all(map(number, r)) for r in value):
        rows = "".join("<mtr>" + "".join(f"<mtd><mn>{_h(f'{x:g}')}</mn></mtd>" for x in r) + "</mtr>" for r in value)
        fence = '<mo fence="true" stretchy="true">{}</mo>'  # Chromium stretches a bracket only when told
        return (f'{_h(name)} = <math display="inline"><mrow>{fence.format("[")}<mtable>{rows}</mtable>'
                f'{fence.format("]")}</mrow></math>')
    if isinstance(value, list) and all(map(number, value)):
        return f"{_h(name)} = ({', '.join(_h(f'{x:g}') for x in value)})"
    return f"{_h(name)} = {_h(f'{value:g}' if number(value) else value)}"


def _counterexample(raw: str) -> str:
    if not raw:
        return ""
    try:
        c = json.loads(raw)
    except ValueError:
        return ""
    if "row" in c:  # a numeric exercise's table
        return (f"<p><strong>First wrong row.</strong> Row {_h(c['row'])} ({_h(c.get('label', ''))}) should be "
                f"<code>{_h(c.get('expected'))}</code>; your answer gives <code>{_h(c.get('yours') or '(nothing)')}</code>.</p>")
    inputs = ", ".join(_input(k, v) for k, v in c.get("inputs", {}).items())
    return (f"<p><strong>Counterexample.</strong> At {inputs or 'the inputs drawn'}: entry {_h(c.get('entry'))} "
            f"should be <code>{_h(c.get('expected'))}</code>; your answer gives <code>{_h(c.get('yours'))}</code>.</p>")


def student_page(student: str, rows: Sequence[Mapping[str, str]], statements: Mapping[str, str]) -> str:
    """One student's page: score, then each answer with its verdict, feedback and counterexample.

    >>> page = student_page("ann", [{"problem": "softmax_ce:grad_z", "answer": "y_i - p_i", "verdict": "incorrect",
    ...                              "score": "0.5", "feedback": "sign error", "counterexample": ""}], {})
    >>> "<math" in page and "sign error" in page and "0.5 / 1" in page
    True
    """
    score = sum(float(r["score"]) for r in rows)
    body = [_CSS, f"<h1>Homework feedback: {_h(student)}</h1>",
            f'<p class="meta">Score {score:g} / {len(rows)} · graded by gradproof against the derived gradients</p>']
    for r in rows:
        body += [
            '<div class="answer">',
            f"<h2>{_h(r['problem'])} {_pill(r['verdict'], r['verdict'])} <small>{_h(r['score'])} / 1</small></h2>",
            f"<p>{_h(statements.get(r['problem'], ''))}</p>" if statements.get(r["problem"]) else "",
            "<p><strong>Your answer.</strong></p>", _typeset(r["problem"], r.get("answer", ""), r["verdict"]),
            f"<p><strong>Feedback.</strong> {_h(r['feedback'])}</p>", _counterexample(r.get("counterexample", "")),
            "</div>",
        ]
    return _page("en", f"Homework feedback: {student}", body)


def _index(students: Mapping[str, tuple[str, float, int]]) -> str:
    rows = "".join(f'<tr><td><a href="{_h(file)}">{_h(name)}</a></td><td>{score:g} / {count}</td></tr>'
                   for name, (file, score, count) in students.items())
    return _page("en", "Homework feedback", [_CSS, "<h1>Homework feedback</h1>",
                                            f'<div class="table"><table><tr><th>student</th><th>score</th></tr>{rows}</table></div>'])


def write_pages(rows: Iterable[Mapping[str, object]], out: Path,
                progress: Callable[[int, int, str], None] | None = None) -> list[Path]:
    """Write ``out/FOLDER.html`` for every student in ``rows`` (the grade store's rows, or a
    results.csv's path) and ``out/index.html``, each replaced atomically.

    File names are the Gradescope export's folder names: distinct for distinct students, never
    ``index``. A page is rebuilt from its rows alone, so a resumed run writes the same bytes.
    """
    from verify.homework.exports import (
        atomic_write_many,
        by_student,
        folder,
        read_results,
        sync_folder,
    )
    from verify.homework.problems import PROBLEMS, canonical_id

    def named(row: Mapping[str, object]) -> Mapping[str, object]:
        """The row under its problem's canonical id (a results.csv written before ids were ``entry:claim``)."""
        try:
            return {**row, "problem": canonical_id(str(row["problem"]))}
        except KeyError:  # a problem of a file not loaded now: shown as it was graded
            return row

    if isinstance(rows, Path):
        rows = read_results(rows)
    students = by_student([named(r) for r in rows])
    statements = {pid: p.statement for pid, p in PROBLEMS.items()}
    out.mkdir(parents=True, exist_ok=True)
    files, index = [], {}
    for number, (student, mine) in enumerate(students.items()):
        if progress:
            progress(number, len(students), student)
        path = out / f"{folder(student)}.html"
        texts = [{k: str(v) for k, v in r.items()} for r in mine]
        files.append((path, student_page(student, texts, statements).encode("utf-8")))
        index[student] = (path.name, sum(float(r["score"]) for r in texts), len(texts))
    if progress:
        progress(len(students), len(students), "done")
    files.append((out / "index.html", _index(index).encode("utf-8")))
    atomic_write_many(files)  # temp files fsynced together, then renamed: never half a page
    sync_folder(out)
    return [path for path, _ in files]
