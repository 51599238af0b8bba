"""Files built from the grade store: ``results.csv``, Gradescope's ``results.json`` per student.

Every file is written whole to a temporary file in the same folder, fsynced and renamed over the
old one (``atomic_write``), so a reader, a kill or a full disk sees the old file or the new one,
never half of one. The bytes depend only on the store (sorted, no timestamps): an interrupted and
resumed run exports exactly what an uninterrupted one does.

Cells of ``results.csv`` that a spreadsheet would run as a formula get a leading ``'``, and so do
cells that already start with one, so that ``read_results`` can take exactly one off again:
``=ann`` and ``'=ann`` stay two different students. A cell with a control character (a NUL
breaks CSV readers) is written ``'\\`` + the text with ``\\`` doubled and the character as
``\\xNN``, which ``read_results`` undoes as well (``spreadsheet_safe``).

Only files of ours are replaced: a ``results.csv`` in OUTDIR that is not a results file (the
class's own CSV saved there, say) or a folder where a file goes stops the run before anything is
graded, and again before anything is written (``check_outputs``), leaving it as it is.

Folder (and page) names: a name made of lower-case letters, digits, ``_`` and ``-`` that does not
start with ``student-`` and is not a reserved word (``index``, Windows device names) is used as it
is; every other name becomes ``student-SLUG-HASH`` with 20 hex digits of the SHA-256 of the exact
name. Plain names never start with ``student-`` and hashed ones differ in the hash, so distinct
names never share a folder, also on a case-insensitive file system (all are lower case).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["FIELDS", "atomic_write", "atomic_write_many", "check_outputs", "control_characters", "folder",
           "gradescope_results", "read_results", "results_csv", "spreadsheet_safe", "unescape", "write_exports"]

# answer and counterexample (JSON) feed the per-student HTML pages (gradproof grade --report)
FIELDS = ["student", "problem", "verdict", "score", "feedback", "method", "answer", "counterexample"]

# Excel keeps at most 32,767 characters in a cell; longer cells (only answers can be) are cut in the
# export with a marker; the store keeps the whole text
CELL_LIMIT = 32_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")  # what a spreadsheet may run as a formula
_KEPT_CONTROLS = frozenset("\t\n\r")
_RESERVED = {"index", "con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}


# what spreadsheet_safe writes as \xNN: Unicode's control characters (Cc) but tab, LF and CR; and
# as \uNNNN a lone surrogate (Python text only; UTF-8 cannot hold one)
_ESCAPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_ESCAPED_OR_BACKSLASH = re.compile(r"[\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return "\\\\" if match[0] == "\\" else f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def control_characters(text: str) -> list[str]:
    """The control characters in ``text`` that ``spreadsheet_safe`` escapes: every one of Unicode's
    category Cc (NUL, ESC, DEL, C1 ...) but tab, line feed and carriage return, which a quoted CSV
    cell holds as they are.

    >>> control_characters("a\\x00b\\tc\\x1b")
    ['\\x00', '\\x1b']
    """
    return sorted({c for c in text if c not in _KEPT_CONTROLS and unicodedata.category(c) == "Cc"})


def spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading ' before =, +, -, @, tab, CR, LF (OWASP's CSV
    injection advice) and before a ' already there, so that ``unescape`` is its exact inverse.

    A text holding a control character (``control_characters``: a NUL breaks many CSV readers)
    becomes ``'\\`` and the text with each \\ doubled and each control character written ``\\xNN``
    (a lone surrogate, which only Python text can hold, ``\\uNNNN``).
    No other cell starts with ``'\\`` (a text starting with \\ gets no ', one starting with ' gets
    two), so ``unescape`` knows which rule to undo.

    >>> spreadsheet_safe("=1+2"), spreadsheet_safe("'=1+2"), spreadsheet_safe("ann")
    ("'=1+2", "''=1+2", 'ann')
    >>> spreadsheet_safe("a\\x00\\\\b")
    "'\\\\a\\\\x00\\\\\\\\b"
    >>> all(unescape(spreadsheet_safe(t)) == t for t in ["-p_i/q_i", "'", "''x", "=a", "", "\\x00=", "\\\\x00", "'\\\\"])
    True
    """
    if _ESCAPED.search(text):
        return "'\\" + _ESCAPED_OR_BACKSLASH.sub(_escape, text)
    return "'" + text if text.startswith(_FORMULA_START) or text.startswith("'") else text


def unescape(cell: str) -> str:
    """Undoes ``spreadsheet_safe``: the ``'\\`` escape of a text with control characters, else the one '."""
    if cell.startswith("'\\"):
        return re.sub(r"\\(\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})", lambda m: "\\" if m[1] == "\\" else chr(int(m[1][1:], 16)),
                      cell[2:])
    return cell.removeprefix("'")


def _cell(text: str) -> str:
    if len(text) > CELL_LIMIT:
        text = text[:CELL_LIMIT] + f" … [cut: {len(text)} characters in all; the whole text is in the grade store]"
    return spreadsheet_safe(text)


def results_csv(rows: Iterable[Mapping[str, object]]) -> bytes:
    """The bytes of ``results.csv`` for these rows (each has the keys of ``FIELDS``).

    >>> results_csv([dict(student="=x", problem="p", verdict="correct", score=1.0, feedback="ok", method="m",
    ...                   answer="-a", counterexample="")]).decode().splitlines()[1]
    "'=x,p,correct,1.0,ok,m,'-a,"
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for row in rows:
        writer.writerow([_cell(str(row[k])) for k in FIELDS])
    return buffer.getvalue().encode("utf-8")


def read_results(results: Path) -> list[dict[str, str]]:
    """The rows of a results.csv with every cell as it was before ``spreadsheet_safe``."""
    with _big_fields(), results.open(newline="", encoding="utf-8") as handle:
        return [{k: unescape(v or "") for k, v in r.items() if k is not None} for r in csv.DictReader(handle)]


class _big_fields:
    """csv's default field limit (131,072 characters) made a long answer's row unreadable."""

    def __enter__(self) -> None:
        self.old = csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

    def __exit__(self, *exc: object) -> None:
        csv.field_size_limit(self.old)


def folder(student: str) -> str:
    """A student's folder (and page) name; distinct names always get distinct folders.

    >>> folder("ann"), folder("Ann")[:12], folder("index")[:14], folder("../x")[:10]
    ('ann', 'student-ann-', 'student-index-', 'student-x-')
    """
    if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", student) and not student.startswith("student-") \
            and student not in _RESERVED:
        return student
    slug = re.sub(r"[^a-z0-9]+", "-", student.lower()).strip("-")[:32].strip("-")
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"student-{slug}-{digest}" if slug else f"student-{digest}"


def gradescope_results(grades: Sequence[Mapping[str, object]]) -> dict:
    """Gradescope's autograder ``results.json``: the total and one test per problem.

    >>> gradescope_results([{"problem": "information:grad_q", "verdict": "correct", "score": 1.0, "feedback": "ok"}])["score"]
    1.0
    """
    tests = [{"name": g["problem"], "score": g["score"], "max_score": 1.0, "output": _output(g), "visibility": "visible"}
             for g in grades]
    return {"score": sum(float(g["score"]) for g in grades), "tests": tests}  # type: ignore[arg-type]


def _output(grade: Mapping[str, object]) -> str:
    """``verdict: feedback``, or the feedback alone when it already starts with the verdict.

    >>> _output({"verdict": "correct", "feedback": "correct: equal"}), _output({"verdict": "incorrect", "feedback": "sign"})
    ('correct: equal', 'incorrect: sign')
    """
    verdict, feedback = str(grade["verdict"]), str(grade["feedback"])
    return feedback if feedback.casefold().startswith(verdict.casefold()) else f"{verdict}: {feedback}"


def atomic_write(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` (temp file, fsync, rename); False when it already held them.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(f, b"x"), atomic_write(f, b"x"), f.read_bytes()
    (True, False, b'x')
    """
    return atomic_write_many([(path, data)]) == 1


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")  # one name per file: the OUTDIR lock keeps writers apart


def atomic_write_many(items: Iterable[tuple[Path, bytes]], batch: int = 256) -> int:
    """``atomic_write`` for many files at once; returns how many changed. Files that already hold
    their bytes are left alone. The rest are written to temporary files, fsynced together (in
    threads, so the file system commits them in a few journal transactions instead of one each:
    400 files took 1.7 s one by one here), and only then renamed into place."""
    pending = []
    for path, data in items:
        if path.is_dir():  # else the error would name the temporary file
            raise IsADirectoryError(errno.EISDIR, "a folder is where this file goes; move it away", str(path))
        try:
            if path.read_bytes() == data:
                _temporary(path).unlink(missing_ok=True)  # left by a killed run
                continue
        except OSError:
            pass
        pending.append((path, data))
    for start in range(0, len(pending), batch):
        chunk = pending[start:start + batch]
        descriptors: list[int] = []
        try:
            for path, data in chunk:
                fd = os.open(_temporary(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
                descriptors.append(fd)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(os.fsync, descriptors))
        except BaseException:
            for path, _ in chunk:
                _temporary(path).unlink(missing_ok=True)
            raise
        finally:
            for fd in descriptors:
                os.close(fd)
        for path, _ in chunk:
            os.replace(_temporary(path), path)
    return len(pending)


def sync_folder(path: Path) -> None:
    """fsync a folder, so that the renames into it survive a power cut too."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def by_student(rows: Iterable[Mapping[str, object]]) -> dict[str, list[Mapping[str, object]]]:
    """Rows grouped by student, students in the order of their first row."""
    grouped: dict[str, list[Mapping[str, object]]] = {}
    for row in rows:
        grouped.setdefault(str(row["student"]), []).append(row)
    return grouped


# every results.csv gradproof grade has written, this version's and older layouts, has these columns
_RESULTS_COLUMNS = frozenset({"student", "problem", "verdict", "score"})


def check_outputs(out: Path, header: bool = True) -> None:
    """``OutdirError`` when an export would replace what is not ours: a ``results.csv`` that is not
    a results file (its header lacks student, problem, verdict, score; an empty or torn one is ours),
    or a folder where ``results.csv`` or ``gradescope/students.csv`` goes, or a file where the
    ``gradescope`` folder goes. ``header=False`` checks only what is a folder and what a file.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "results.csv").write_text("student,problem,answer\\nann,information:grad_q,p_i\\n")
    >>> check_outputs(d)
    Traceback (most recent call last):
    ...
    verify.homework.store.OutdirError: .../results.csv is not a results file of gradproof grade (its header is student, problem, answer): left as it is, nothing graded; move it away or choose another -o
    """
    from .store import OutdirError

    results, root = out / "results.csv", out / "gradescope"
    for path, kind in ((results, "file"), (root / "students.csv", "file"), (root, "folder")):
        if path.is_dir() if kind == "file" else path.exists() and not path.is_dir():
            raise OutdirError(f"{path} is a {'folder' if kind == 'file' else 'file'} where gradproof grade writes its "
                              f"{kind}: left as it is, nothing graded; move it away or choose another -o")
    if not header:
        return
    try:
        with results.open("rb") as handle:
            head = handle.read(4096)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as error:
        raise OutdirError(f"cannot read {results}: {error.strerror or error}; nothing graded") from None
    line = head.decode("utf-8-sig", errors="replace").splitlines()[0] if head.strip() else ""
    header = next(csv.reader([line]), []) if line else []
    if line and not _RESULTS_COLUMNS <= {c.strip() for c in header}:
        shown = ", ".join(c.strip() for c in header)[:200]
        raise OutdirError(f"{results} is not a results file of gradproof grade (its header is {shown}): left as it is, "
                          "nothing graded; move it away or choose another -o")


def write_exports(rows: Sequence[Mapping[str, object]], out: Path) -> None:
    """``out/results.csv``, ``out/gradescope/FOLDER/results.json`` per student and
    ``out/gradescope/students.csv`` (folder, student), each replaced atomically; a folder left from
    an earlier layout that holds nothing but a results.json of ours (and its temporary file, which a
    run killed while exporting leaves) is removed. A file that is not
    ours where one of these goes stops it before anything is written (``check_outputs``)."""
    check_outputs(out)
    root = out / "gradescope"
    root.mkdir(exist_ok=True)
    students = by_student(rows)
    folders = {student: folder(student) for student in students}
    files = [(out / "results.csv", results_csv(rows))]
    for student, mine in students.items():
        (root / folders[student]).mkdir(exist_ok=True)
        text = json.dumps(gradescope_results(mine), indent=2, ensure_ascii=False) + "\n"
        files.append((root / folders[student] / "results.json", text.encode("utf-8")))
    mapping = io.StringIO(newline="")
    writer = csv.writer(mapping, lineterminator="\r\n")
    writer.writerow(["folder", "student"])
    writer.writerows([name, spreadsheet_safe(student)] for student, name in sorted(folders.items(), key=lambda kv: kv[1]))
    files.append((root / "students.csv", mapping.getvalue().encode("utf-8")))
    atomic_write_many(files)
    expected = set(folders.values())
    ours = {"results.json", _temporary(Path("results.json")).name}  # the second: left by a run killed mid-export
    for stale in root.iterdir():
        if stale.is_dir() and stale.name not in expected and {p.name for p in stale.iterdir()} <= ours:
            for name in ours:
                (stale / name).unlink(missing_ok=True)
            stale.rmdir()
    sync_folder(root)
    sync_folder(out)
