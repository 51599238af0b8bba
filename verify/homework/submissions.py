"""A class's answers from the CSV a spreadsheet exports, read so that one bad cell affects one row.

Two layouts: long (``student,problem,answer``, one answer a row) and wide (``student`` then one
column per problem id). Read as spreadsheets write them: UTF-8 with or without a byte-order mark,
CRLF or LF, quoted cells with new lines in them, header names in any case and with spaces around
them. Rows are numbered as a spreadsheet shows them: the header is row 1.

- A row with more or fewer cells than the header, without a student name, or with one over
  ``MAX_NAME`` characters, is skipped with a warning naming the row (its cells cannot be matched to columns safely: an unquoted comma in an
  answer makes a long row).
- Student names are kept exactly as typed (``ann`` and ``ann `` are two students); problem ids and
  header names are compared without surrounding spaces.
- A blank answer (an empty wide cell, or an empty answer cell) is graded ``invalid``, score 0,
  "no answer"; an answer over ``MAX_ANSWER`` characters is graded ``invalid`` with the reason (both
  without starting a grader).
- An unknown problem id stops everything before any grading, with every unknown id and its rows.
- The same (student, problem) twice: the last row wins, with a warning naming the rows.
- A column without a header name that holds something is not read, with a warning naming the
  column and its rows (an empty one, a trailing comma a spreadsheet adds, is ignored quietly).
- A student name with a control character is kept exactly, with a warning naming the row
  (results.csv writes it escaped, see exports.py).

``read_single`` reads one student's ``problem,answer`` file (``gradproof grade --single``) by the
same rules; a file without answers is refused too.
"""

from __future__ import annotations

import csv
import io
import itertools
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from .exports import control_characters

__all__ = ["MAX_ANSWER", "MAX_NAME", "Submission", "SubmissionError", "canonical", "check_problems", "last_wins", "read_single",
           "read_submissions"]

MAX_ANSWER = 20_000  # characters; far beyond any real answer (the grammar reads 2,000, tables 20,000)
MAX_NAME = 1_000  # characters of a student's name; a longer one is a pasted answer or an attack, not a name


class SubmissionError(ValueError):
    """The submissions file cannot be used as a whole; the message (one line) says why."""


class Submission(NamedTuple):
    student: str
    problem: str
    answer: str
    row: int = 0  # the row in the submissions file (header = 1); 0 when the answer did not come from a file


def _shown(text: str, most: int = 60) -> str:
    """A cell as a message shows it: its repr, cut after ``most`` characters (a 1 MB header cell or
    problem id made a one-line error 1 MB long).

    >>> _shown("ann"), _shown("x" * 100, 5)
    ("'ann'", "'xxxxx'... (100 characters)")
    """
    return repr(text) if len(text) <= most else f"{text[:most]!r}... ({len(text)} characters)"


def _names(names: list[str], most: int = 10) -> str:
    """A header's names for a message, each cut, at most ``most`` of them."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return (", ".join(_shown(n) for n in names[:most]) + more) or "none"


def _where(row: int, number: int) -> str:
    return f"row {row}" if row else f"answer {number + 1}"


MAX_FILE = 256 * 2**20  # bytes; a class's CSV is far smaller (100,000 answers of 1 KB are 100 MB)
_DELIMITERS = (",", ";", "\t")  # comma first; ; and tab as spreadsheets in many locales save "CSV" and "Unicode text"


def _text(path: Path) -> str:
    """The file's text: UTF-8 with or without a byte-order mark, or UTF-16 with one (a spreadsheet's
    "Unicode text"); ``SubmissionError`` for anything else, saying where and what to do. At most
    ``MAX_FILE`` bytes are read, so that a device or a pipe that never ends (``/dev/zero``) is refused."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except OSError as error:
        raise SubmissionError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > MAX_FILE:
        raise SubmissionError(f"cannot read {path}: it is over {MAX_FILE // 2**20} MiB; a class's CSV is far smaller")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SubmissionError(f"cannot read {path}: broken UTF-16 text (byte {error.start}); save it as CSV UTF-8") from None
    head = data[:200]
    if head.count(b"\x00") * 3 >= len(head) > 0:  # NULs are valid UTF-8, but a third of the bytes: UTF-16
        raise SubmissionError(f"cannot read {path}: UTF-16 text without a byte-order mark, or not text at all; "
                              "save it as CSV UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise SubmissionError(f"cannot read {path}: not UTF-8 text (byte {error.start}) on line {line}; "
                              "save it as CSV UTF-8") from None


def _first_names(text: str, delimiter: str) -> list[str]:
    """The first non-blank row's cells, read with ``delimiter``, folded; [] when it cannot be read."""
    try:
        for cells in csv.reader(io.StringIO(text[:65_536], newline=""), delimiter=delimiter):
            if any(c.strip() for c in cells):
                return [c.strip().casefold() for c in cells]
    except csv.Error:
        pass
    return []


def _delimiter(text: str, wanted: set[str]) -> str:
    """The comma, unless the header holds none of ``wanted`` read with commas but does with ; or tab.

    >>> _delimiter("student;problem;answer\\nann;p;x, y", {"student"}), _delimiter("a;b,student", {"student"})
    (';', ',')
    """
    for delimiter in _DELIMITERS:
        if wanted & set(_first_names(text, delimiter)):
            return delimiter
    return ","


def _records(path: Path, need: str, wanted: set[str]) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """The non-blank rows of a CSV (each with its row number, header = 1) and the header's names
    without surrounding spaces; ``SubmissionError`` for a file that cannot be read or is empty.
    The delimiter is the comma, or ; or tab where only that reads a header holding ``wanted``."""
    text = _text(path)
    delimiter = _delimiter(text, wanted)
    records: list[tuple[int, list[str]]] = []
    old = csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long answer is a row's problem, not the file's
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                raise SubmissionError(f"cannot read {path}, row {len(records) + 1}: {error}") from None
            records.append((len(records) + 1, cells))
    finally:
        csv.field_size_limit(old)
    records = [(n, cells) for n, cells in records if any(c.strip() for c in cells)]  # blank lines
    if not records:
        raise SubmissionError(f"{path} is empty; it needs a header row with {need}")
    return records, [c.strip() for c in records[0][1]]


def _column_name(index: int) -> str:
    """A column as a spreadsheet names it: 0 -> A, 26 -> AA."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def _fitting(records: list[tuple[int, list[str]]], width: int, warnings: list[str]) -> list[tuple[int, list[str]]]:
    """Rows with as many cells as the header; the others skipped with a warning naming the row."""
    kept = []
    for row, cells in records:
        if len(cells) != width:
            warnings.append(f"row {row}: {len(cells)} cells where the header has {width}; row skipped "
                            "(an answer with a comma must be quoted)")
        else:
            kept.append((row, cells))
    return kept


def _unnamed_columns(names: list[str], rows: list[tuple[int, list[str]]], warnings: list[str]) -> None:
    """A warning for each column without a header name that holds something (its cells are not read);
    an empty one (a trailing comma a spreadsheet adds) is ignored quietly."""
    for index, name in enumerate(names):
        if name:
            continue
        filled = [row for row, cells in rows if cells[index].strip()]
        if filled:
            shown = ", ".join(str(r) for r in filled[:5]) + (f" and {len(filled) - 5} more" if len(filled) > 5 else "")
            warnings.append(f"column {index + 1} ({_column_name(index)}) has no name in the header but "
                            f"{len(filled)} {'cell' if len(filled) == 1 else 'cells'} (row{'s' if len(filled) > 1 else ''} "
                            f"{shown}); not graded: give it its problem id")


def _control_warning(student: str, row: int, warnings: list[str]) -> None:
    controls = control_characters(student)
    if controls:
        codes = ", ".join(f"U+{ord(c):04X}" for c in controls)
        warnings.append(f"row {row}: the student name {_shown(student)} holds control characters ({codes}); kept exactly, "
                        "written escaped ('\\xNN) in results.csv")


def read_submissions(path: Path, warnings: list[str] | None = None) -> list[Submission]:
    """The answers in a long or a wide CSV; warnings about single rows are appended to ``warnings``.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = f.write_bytes("\\ufeff Student ,softmax_ce:grad_z\\r\\nann,p_i - y_i\\r\\nbob,\\r\\n".encode())
    >>> read_submissions(f)
    [Submission(student='ann', problem='softmax_ce:grad_z', answer='p_i - y_i', row=2), \
Submission(student='bob', problem='softmax_ce:grad_z', answer='', row=3)]

    A problem id in any spelling ``problems.canonical_id`` accepts (``softmax_ce.grad_z``, as
    files written before ids were ``entry:claim`` say) is read as its canonical id.
    """
    from .problems import PROBLEMS

    warnings = warnings if warnings is not None else []
    records, names = _records(path, "a 'student' column", {"student"})
    header_row, header = records[0]
    folded = [n.casefold() for n in names]
    if "student" not in folded:
        raise SubmissionError(f"{path} needs a 'student' column; it has {_names(names)}")
    long = {"problem", "answer"} <= set(folded)
    half = {"problem", "answer"} & set(folded)
    if half and not long:  # not a wide file with a problem called 'answer': a long one missing a column
        lacking = ({"problem", "answer"} - half).pop()
        raise SubmissionError(f"{path} has the column {half.pop()!r} but no column {lacking!r}; a long CSV needs "
                              "student, problem and answer (a wide one: student, then one column per problem id)")
    if long:
        columns = {key: folded.index(key) for key in ("student", "problem", "answer")}
        twice = [key for key in columns if folded.count(key) > 1]
    else:
        columns = {"student": folded.index("student")}
        twice = [n for n in set(folded) if n and folded.count(n) > 1]
    if twice:
        raise SubmissionError(f"{path}: the column {twice[0]!r} appears twice in the header")
    if not long:
        wide = {index: _problem_column(name, PROBLEMS) for index, name in enumerate(names)
                if index != columns["student"] and name}
        unknown = {names[i]: [header_row] for i, pid in wide.items() if pid is None}
        if unknown:
            raise SubmissionError(_unknown_message(unknown, "use a long CSV (student,problem,answer) or problem ids as "
                                                            "columns"))
        same = [(i, j) for i, j in itertools.combinations(wide, 2) if wide[i] == wide[j]]
        if same:  # KL.grad_q and information:grad_q: which of the two cells is the answer cannot be told
            i, j = same[0]
            raise SubmissionError(f"{path}: the columns {_shown(names[i])} and {_shown(names[j])} are the same problem, {wide[i]}; "
                                  "keep one")
    rows = _fitting(records[1:], len(header), warnings)
    _unnamed_columns(names, rows, warnings)
    if long:
        _unread_columns(names, set(columns.values()), rows, warnings)
    out: list[Submission] = []
    for row, cells in rows:
        student = cells[columns["student"]]
        if not student.strip():
            warnings.append(f"row {row}: no student name; row skipped")
            continue
        if len(student) > MAX_NAME:  # no spreadsheet cell holds it whole: results.csv would cut it, merging students
            warnings.append(f"row {row}: the student name is {len(student)} characters long (the limit is {MAX_NAME}); "
                            "row skipped")
            continue
        _control_warning(student, row, warnings)
        if long:
            out.append(Submission(student, _canonical(cells[columns["problem"]]), cells[columns["answer"]], row))
        else:
            out.extend(Submission(student, pid, cells[index], row) for index, pid in wide.items() if pid)
    if not out:  # graded, it would export nothing, and --drop-missing would empty the store
        raise SubmissionError(f"{path} holds no answers ({'only a header' if len(records) == 1 else 'every row was skipped'}"
                              f"{': ' + warnings[0] if warnings and len(records) > 1 else ''}); nothing graded")
    check_problems(out, PROBLEMS)
    _too_long(out, warnings)
    return out


def _unread_columns(names: list[str], used: set[int], rows: list[tuple[int, list[str]]], warnings: list[str]) -> None:
    """A warning for each named column of a long file besides student, problem and answer that holds
    something: it is not read (an answer typed into a 'notes' column would otherwise vanish unseen)."""
    for index, name in enumerate(names):
        if index in used or not name:
            continue
        filled = sum(1 for _, cells in rows if cells[index].strip())
        if filled:
            warnings.append(f"column {index + 1} ({_column_name(index)}) {_shown(name)} is not read: a long CSV's answers are "
                            f"in its 'answer' column ({filled} {'cell' if filled == 1 else 'cells'} not graded)")


def read_single(path: Path, warnings: list[str] | None = None) -> list[Submission]:
    """One student's answers (``problem,answer``; ``gradproof grade --single``), read and checked
    as a class's are: the same reader, unknown ids refused before grading, the last of duplicate
    rows wins with a warning; a file without answers is refused. The student's name is ``""``.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "mine.csv"
    >>> _ = f.write_bytes(b"Problem , ANSWER\\r\\nkl.grad_q,p_i\\r\\ninformation:grad_q,-p_i/q_i\\r\\n")
    >>> w = []
    >>> read_single(f, w), w
    ([Submission(student='', problem='information:grad_q', answer='-p_i/q_i', row=3)], \
['problem information:grad_q: rows 2, 3; the last (row 3) is graded'])
    """
    from .problems import PROBLEMS

    warnings = warnings if warnings is not None else []
    records, names = _records(path, "'problem' and 'answer' columns", {"problem", "answer"})
    folded = [n.casefold() for n in names]
    if not {"problem", "answer"} <= set(folded):
        raise SubmissionError(f"{path} needs 'problem' and 'answer' columns; it has "
                              f"{_names(names)}")
    twice = [key for key in ("problem", "answer") if folded.count(key) > 1]
    if twice:
        raise SubmissionError(f"{path}: the column {twice[0]!r} appears twice in the header")
    problem, answer = folded.index("problem"), folded.index("answer")
    rows = _fitting(records[1:], len(names), warnings)
    _unnamed_columns(names, rows, warnings)
    if "student" in folded:  # a class's file given to --single would merge its students' answers
        names = {cells[folded.index("student")] for _, cells in rows} - {""}
        if len(names) > 1:
            raise SubmissionError(f"{path} holds the answers of {len(names)} students; --single grades one "
                                  "student's file (grade a class's file without --single)")
    out = [Submission("", _canonical(cells[problem]), cells[answer], row) for row, cells in rows]
    if not out:
        raise SubmissionError(f"{path} holds no answers (only a header); nothing graded")
    check_problems(out, PROBLEMS)
    _too_long(out, warnings)
    return last_wins(out, warnings)


def _too_long(rows: list[Submission], warnings: list[str]) -> None:
    for number, s in enumerate(rows):
        if len(s.answer) > MAX_ANSWER:
            warnings.append(f"{_where(s.row, number)}: the answer is {len(s.answer)} characters long (the limit is "
                            f"{MAX_ANSWER}); graded invalid")


def _canonical(problem: str) -> str:
    """A problem id as typed in a file, in its canonical spelling (``kl.grad_q`` is
    ``information:grad_q``); an unknown one as typed, for ``check_problems`` to name."""
    from .problems import canonical_id

    try:
        return canonical_id(problem)
    except KeyError:
        return problem.strip()


def canonical(rows: Iterable[Submission]) -> list[Submission]:
    """Answers with their problem ids in canonical spelling (for answers that came from elsewhere
    than a file read here, whose ids are canonical already).

    >>> canonical([Submission("ann", "softmax_ce.grad_z", "p_i - y_i", 2)])
    [Submission(student='ann', problem='softmax_ce:grad_z', answer='p_i - y_i', row=2)]
    """
    return [s._replace(problem=_canonical(s.problem)) for s in rows]


def _problem_column(name: str, problems: Mapping[str, object]) -> str | None:
    """A wide header's problem id in its canonical spelling: an id as ``problems.canonical_id``
    reads it (any case, when only one id matches), else one of ``problems`` equal to it ignoring case."""
    pid = _canonical(name)
    if pid in problems:
        return pid
    matches = [pid for pid in problems if pid.casefold() == name.casefold()]
    return matches[0] if len(matches) == 1 else None


def _unknown_message(unknown: Mapping[str, list[int]], advice: str = "see 'gradproof problems'",
                     kind: str = "row") -> str:
    from .problems import similar_ids

    parts, guesses = [], []
    for pid, rows in list(unknown.items())[:10]:
        shown = ", ".join(str(r) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        parts.append(f"{_shown(pid)} ({kind if len(rows) == 1 else kind + 's'} {shown})")
        near = similar_ids(pid)
        if near:
            guesses.append(f"{' or '.join(near)} for {_shown(pid)}")
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    guessed = f"; did you mean {', '.join(guesses)}?" if guesses else ""
    return f"unknown problem ids, nothing graded: {', '.join(parts)}{more}{guessed}; {advice}"


def check_problems(rows: Iterable[Submission], problems: Mapping[str, object]) -> None:
    """``SubmissionError`` listing every unknown problem id and its rows, before anything is graded.

    >>> check_problems([Submission("ann", "nope", "x", 4), Submission("bob", "nope", "y", 9)], {})
    Traceback (most recent call last):
    ...
    verify.homework.submissions.SubmissionError: unknown problem ids, nothing graded: 'nope' (rows 4, 9); see 'gradproof problems'
    """
    unknown: dict[str, list[int]] = {}
    from_file = False
    for number, s in enumerate(rows):
        if s.problem not in problems:
            unknown.setdefault(s.problem, []).append(s.row or number + 1)
            from_file = from_file or bool(s.row)
    if unknown:
        raise SubmissionError(_unknown_message(unknown, kind="row" if from_file else "answer"))


def last_wins(rows: Iterable[Submission], warnings: list[str]) -> list[Submission]:
    """One answer per (student, problem): the last one in the file, with a warning naming the rows.

    >>> w = []
    >>> last_wins([Submission("ann", "p", "a", 2), Submission("ann", "p", "b", 5)], w), w
    ([Submission(student='ann', problem='p', answer='b', row=5)], ["student 'ann', problem p: rows 2, 5; the last (row 5) is graded"])
    """
    seen: dict[tuple[str, str], list[tuple[int, Submission]]] = {}
    for number, s in enumerate(rows):
        seen.setdefault((s.student, s.problem), []).append((number, s))
    kept = []
    for (student, problem), copies in seen.items():
        if len(copies) > 1:
            where = ", ".join(_where(s.row, n).split(" ", 1)[1] for n, s in copies)
            kind = "rows" if copies[-1][1].row else "answers"
            last = _where(copies[-1][1].row, copies[-1][0])
            who = f"student {_shown(student)}, " if student else ""
            warnings.append(f"{who}problem {problem}: {kind} {where}; the last ({last}) is graded")
        kept.append(copies[-1])
    return [s for _, s in sorted(kept, key=lambda ns: ns[0])]
