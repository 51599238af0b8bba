"""Grading state of a class in SQLite (``OUTDIR/grades.sqlite``): the truth that exports are built from.

One row per (student, problem): the answer as typed, its SHA-256, the fingerprint of the problem it
was graded against, and the grade (verdict, score, feedback, method, counterexample JSON). The
database runs in WAL mode and every graded answer is its own transaction, so a kill -9, a full disk
or a file-size limit loses at most the answer being graded, never an earlier one, and never leaves
a torn row (the files that used to be appended to lost or duplicated rows in exactly those cases).

``OutdirLock`` keeps a second ``gradproof grade`` off the same OUTDIR: an ``flock`` on
``OUTDIR/.lock``, which the OS releases when the holder dies however it dies.

A problem's fingerprint hashes its definition (every field of the problem, functions by name and
the values they close over) together with the source of the code that builds keys and grades
(derive/ and verify/homework/): an answer is regraded when either changes.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Self

__all__ = ["STORE_NAME", "BusyError", "GradeStore", "OutdirError", "OutdirLock", "StoreError", "Stored", "answer_hash", "damaged",
           "fingerprint"]

STORE_NAME = "grades.sqlite"
_SCHEMA = 1


class BusyError(RuntimeError):
    """Another ``gradproof grade`` holds the OUTDIR; the message says which process."""


class StoreError(ValueError):
    """OUTDIR/grades.sqlite is not a gradproof grade store, or it is damaged: running again cannot
    help; the message (one line) says what to do."""


class OutdirError(StoreError):
    """OUTDIR cannot be used (a file is in its place, it is on a read-only disk): nothing was graded;
    running again cannot help until the user chooses another -o."""


_NOT_A_STORE = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB


def damaged(error: BaseException) -> bool:
    """Whether an SQLite error says the database file itself is damaged or not a database."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.DatabaseError) and code is not None and code & 0xFF in _NOT_A_STORE


def not_a_store(path: Path, why: str) -> StoreError:
    """The one line that says a store cannot be used, and what to do."""
    why = " ".join(why.replace("*** in database main ***", "").split())[:200]
    return StoreError(f"{path} is not a gradproof grade store or is damaged ({why}); running again will not help: "
                      "move it away (the next run starts a new store and imports results.csv) or choose another -o")


def answer_hash(answer: str) -> str:
    """SHA-256 of the answer's exact text (what decides "the answer changed").

    >>> answer_hash("p_i") == answer_hash("p_i"), answer_hash("p_i") == answer_hash("p_i ")
    (True, False)
    """
    return hashlib.sha256(answer.encode("utf-8", "surrogatepass")).hexdigest()


def _canonical(value: Any, depth: int = 0) -> Any:
    """A JSON-able description of a problem's field that is the same in every process (no ids or
    addresses: a function is its module, name and the values it closes over)."""
    if depth > 8:
        return "..."
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return sorted(([str(k), _canonical(v, depth + 1)] for k, v in value.items()), key=lambda kv: kv[0])
    if isinstance(value, list | tuple):
        return [_canonical(v, depth + 1) for v in value]
    if callable(value):
        cells = [_canonical(c.cell_contents, depth + 1) for c in (getattr(value, "__closure__", None) or ())]
        return {"function": f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(type(value)))}",
                "closure": cells}
    return str(value)


@cache
def _code_version() -> str:
    """Hash of the grading code's source: derive/ (the keys) and verify/homework/ (reading and grading)."""
    import derive

    digest = hashlib.sha256()
    for root in (Path(derive.__file__).parent, Path(__file__).parent):
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".lark") and "__pycache__" not in p.parts):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(problem: object) -> str:
    """The fingerprint an answer is graded against: the problem's definition plus the code version.

    The problem's id is left out: it names the problem, it is not what answers are graded against
    (built-in ids became ``entry:claim``; an answer graded under ``kl.grad_q`` stays graded).

    >>> from dataclasses import replace
    >>> from verify.homework.problems import PROBLEMS
    >>> a = fingerprint(PROBLEMS["information:grad_q"])
    >>> a == fingerprint(replace(PROBLEMS["information:grad_q"], id="kl.grad_q")) != fingerprint(PROBLEMS["information:grad_p"])
    True
    """
    described = _canonical(problem)
    if isinstance(described, dict):
        described.pop("id", None)
    text = json.dumps(described, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256((_code_version() + "\0" + text).encode("utf-8", "surrogatepass")).hexdigest()


class OutdirLock:
    """An exclusive lock on ``OUTDIR/.lock``; ``BusyError`` at once if another process holds it.

    The lock's file descriptor is closed in forked children (the grading workers), so a worker that
    outlives its parent cannot keep the OUTDIR locked.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with OutdirLock(d):
    ...     OutdirLock(d).__enter__()
    Traceback (most recent call last):
    ...
    verify.homework.store.BusyError: ... is being graded by another gradproof grade (process ...); wait for it to finish or choose another -o
    """

    def __init__(self, out: Path) -> None:
        self.path = out / ".lock"
        self._fd: int | None = None

    def __enter__(self) -> Self:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BusyError(f"{self.path.parent} is being graded by another gradproof grade (process {holder}); "
                            "wait for it to finish or choose another -o") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)  # only for the message above; the flock is the lock
        self._fd = fd
        _CLOSE_IN_CHILD.add(fd)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            _CLOSE_IN_CHILD.discard(self._fd)
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


_CLOSE_IN_CHILD: set[int] = set()


def _close_inherited() -> None:
    for fd in list(_CLOSE_IN_CHILD):
        try:
            os.close(fd)
        except OSError:
            pass
    _CLOSE_IN_CHILD.clear()


os.register_at_fork(after_in_child=_close_inherited)


class Stored(NamedTuple):
    """One graded answer as the store holds it."""

    student: str
    problem: str
    seq: int
    answer: str
    answer_sha256: str
    fingerprint: str
    verdict: str
    score: float
    feedback: str
    method: str
    counterexample: str  # JSON, or "" when there is none


_COLUMNS = ", ".join(Stored._fields)


class GradeStore:
    """The SQLite store; ``put`` commits one graded answer, ``rows`` reads them back in export order
    (``seq``: the position in the latest submissions file, then student and problem).

    >>> import tempfile
    >>> with GradeStore(Path(tempfile.mkdtemp()) / "grades.sqlite") as store:
    ...     store.put(Stored("ann", "information:grad_q", 0, "-p_i/q_i", answer_hash("-p_i/q_i"), "f", "correct", 1.0, "ok",
    ...                      "symbolic", ""))
    ...     [(r.student, r.score) for r in store.rows()]
    [('ann', 1.0)]
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.existed = path.exists() and path.stat().st_size > 0
        # isolation_level=None: transactions are explicit, one per graded answer
        self.db = sqlite3.connect(path, isolation_level=None)
        try:
            self._open()
        except sqlite3.DatabaseError as error:
            self.db.close()
            if damaged(error):
                raise not_a_store(path, str(error)) from None
            raise
        except StoreError:
            self.db.close()
            raise

    def _open(self) -> None:
        if self.existed:
            self._check()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed answer survives a killed process
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS grades (student TEXT NOT NULL, problem TEXT NOT NULL, seq INTEGER NOT NULL, "
            "answer TEXT NOT NULL, answer_sha256 TEXT NOT NULL, fingerprint TEXT NOT NULL, verdict TEXT NOT NULL, "
            "score REAL NOT NULL, feedback TEXT NOT NULL, method TEXT NOT NULL, counterexample TEXT NOT NULL, "
            "PRIMARY KEY (student, problem))")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(_SCHEMA),))

    def _check(self) -> None:
        """An existing file must be an intact SQLite database holding our tables, or nothing at all
        (an empty database); anything else is refused, never written to."""
        self.db.execute("PRAGMA busy_timeout=5000")
        problems = [r[0] for r in self.db.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise not_a_store(self.path, "; ".join(problems))
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables <= {"grades", "meta"}:  # an empty database, or one killed while it was made, is ours
            raise not_a_store(self.path, f"its tables are {', '.join(sorted(tables))}")
        columns = [r[1] for r in self.db.execute("PRAGMA table_info(grades)")]
        if "grades" in tables and columns != list(Stored._fields):
            raise not_a_store(self.path, f"its grades have the columns {', '.join(columns)}")
        schema = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() if "meta" in tables else None
        if schema is not None and schema != (str(_SCHEMA),):
            raise not_a_store(self.path, f"schema {schema[0]}; this version reads schema {_SCHEMA}")

    def put(self, row: Stored) -> None:
        with self._transaction():
            self.db.execute(f"INSERT OR REPLACE INTO grades ({_COLUMNS}) VALUES ({', '.join('?' * len(Stored._fields))})",
                            tuple(row))

    def put_many(self, rows: Iterable[Stored]) -> None:
        with self._transaction():
            self.db.executemany(f"INSERT OR REPLACE INTO grades ({_COLUMNS}) VALUES ({', '.join('?' * len(Stored._fields))})",
                                [tuple(r) for r in rows])

    def reorder(self, seqs: Mapping[tuple[str, str], int]) -> None:
        """Give the listed answers these positions, and every other answer a later one, in its old order."""
        with self._transaction():
            old = self.db.execute("SELECT student, problem, seq FROM grades ORDER BY seq, student, problem").fetchall()
            later = len(seqs)
            updates = []
            for student, problem, seq in old:
                new = seqs.get((student, problem))
                if new is None:
                    new, later = later, later + 1
                if new != seq:
                    updates.append((new, student, problem))
            self.db.executemany("UPDATE grades SET seq = ? WHERE student = ? AND problem = ?", updates)

    def delete(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Remove these (student, problem) answers, in one transaction."""
        with self._transaction():
            self.db.executemany("DELETE FROM grades WHERE student = ? AND problem = ?", list(pairs))

    def rename(self, names: Mapping[str, str]) -> int:
        """Give stored answers their problem's new id (``{old: new}``), in one transaction; an answer
        stored under both ids keeps the new one's row. Returns how many answers were renamed.

        >>> import tempfile
        >>> with GradeStore(Path(tempfile.mkdtemp()) / "grades.sqlite") as store:
        ...     store.put(Stored("ann", "kl.grad_q", 0, "x", answer_hash("x"), "f", "correct", 1.0, "ok", "symbolic", ""))
        ...     store.rename({"kl.grad_q": "information:grad_q"}), store.pairs()
        (1, [('ann', 'information:grad_q')])
        """
        renamed = 0
        with self._transaction():
            for old, new in names.items():
                if old == new:
                    continue
                renamed += self.db.execute("UPDATE OR IGNORE grades SET problem = ? WHERE problem = ?", (new, old)).rowcount
                self.db.execute("DELETE FROM grades WHERE problem = ?", (old,))  # those the new id already had
        return renamed

    def problems(self) -> list[str]:
        """The distinct problem ids of the stored answers."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT problem FROM grades ORDER BY problem")]

    def known(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(student, problem) -> (answer hash, fingerprint) for every stored answer."""
        return {(s, p): (h, f) for s, p, h, f in
                self.db.execute("SELECT student, problem, answer_sha256, fingerprint FROM grades")}

    def stopped(self) -> set[tuple[str, str]]:
        """(student, problem) of the answers the grader stopped on (method ``error``: the worker died
        twice under it, or the grader raised), which are no verdict on the answer."""
        return set(self.db.execute("SELECT student, problem FROM grades WHERE method = 'error'").fetchall())

    def pairs(self) -> list[tuple[str, str]]:
        """(student, problem) of every stored answer, in export order."""
        return self.db.execute("SELECT student, problem FROM grades ORDER BY seq, student, problem").fetchall()

    def rows(self) -> Iterator[Stored]:
        cursor = self.db.execute(f"SELECT {_COLUMNS} FROM grades ORDER BY seq, student, problem")
        return (Stored(*r) for r in cursor)

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (a full disk, a size limit)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # sqlite already rolled back (it does on some I/O errors)
