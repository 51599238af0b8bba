"""Problems an instructor writes in TOML, without code: each names a catalog claim for its key.

The key is still derive's proven closed form (``entry`` and ``claim``), never typed in the file;
the file says how the problem is asked: the statement, the symbols a student may use and which
of the builder's entries each one is, the sizes to grade at, the free index, and the mistakes
worth a diagnosis. A problem file is checked as a whole when it is loaded (every entry, claim,
builder entry and index exists; the listed answers parse), so a typo fails before a class is
graded, with the problem and field named::

    [[problem]]
    id = "hw3.softmax"
    entry = "softmax_ce"
    claim = "grad_z"
    statement = "L = -sum_i y_i log p_i with p = softmax(z), sum_i y_i = 1. Give dL/dz_i."
    sizes = [{ n = 3, N = 1 }, { n = 4, N = 1 }]
    index = "i"
    indices = { i = "n", k = "n" }
    assumptions = ["sum_i y_i = 1"]

    [problem.symbols]
    p = { kind = "indexed", value = "p", meaning = "softmax(z)_i" }
    y = { kind = "indexed", value = "y1", domain = "simplex" }

    [problem.mistakes]
    "p_i" = "the label term is missing"

``kind`` is ``indexed`` (``rank = 2`` for ``w_kj``), ``matrix``, ``scalar`` or ``size``; ``value``
is the builder's entry (``gradproof derive ENTRY --json`` lists a topic's claims) or, for a size,
the size's name. A mistake's words may be ``sign`` or ``assumption`` for those diagnoses.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .problems import PROBLEMS, Problem, Use

__all__ = ["ProblemFileError", "load_problems", "register"]

_KINDS = ("indexed", "matrix", "scalar", "size")
_FIELDS = {"id", "entry", "claim", "statement", "sizes", "index", "indices", "assumptions", "symbols", "mistakes"}


class ProblemFileError(ValueError):
    """A problem file that cannot be used; the message names the file, the problem and the field."""


def _problem(raw: Mapping[str, Any], where: str) -> Problem:
    from derive.catalog import NAMES, topic

    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ProblemFileError(f"{where}: unknown field {unknown[0]!r}; fields are {', '.join(sorted(_FIELDS))}")
    for name in ("id", "entry", "claim", "statement", "sizes", "symbols"):
        if name not in raw:
            raise ProblemFileError(f"{where}: missing {name!r}")
    if raw["entry"] not in NAMES:
        raise ProblemFileError(f"{where}: no catalog entry {raw['entry']!r}; entries are {', '.join(NAMES)}")
    claims = [c.key for c in topic(raw["entry"]).claims]
    if raw["claim"] not in claims:
        raise ProblemFileError(f"{where}: {raw['entry']} has no claim {raw['claim']!r}; claims are {', '.join(claims)}")
    def table(name: str, values: type) -> dict:
        got = raw.get(name, {})
        if not isinstance(got, Mapping) or not all(isinstance(k, str) and isinstance(v, values) for k, v in got.items()):
            raise ProblemFileError(f"{where}: {name} must be a table of {values.__name__} values")
        return dict(got)

    if not isinstance(raw["symbols"], Mapping) or not raw["symbols"]:
        raise ProblemFileError(f"{where}: symbols must be a table like p = {{ kind = \"indexed\", value = \"p\" }}")
    uses = {}
    for name, spec in raw["symbols"].items():
        if not isinstance(spec, Mapping) or spec.get("kind") not in _KINDS or not isinstance(spec.get("value"), str):
            raise ProblemFileError(f"{where}: symbol {name!r} needs kind ({', '.join(_KINDS)}) and value (a builder entry)")
        if not isinstance(spec.get("rank", 1), int) or spec.get("rank", 1) not in (1, 2):
            raise ProblemFileError(f"{where}: symbol {name!r}: rank is 1 or 2")
        uses[name] = Use(spec["kind"], spec["value"], rank=spec.get("rank", 1), meaning=str(spec.get("meaning", "")),
                         domain=str(spec.get("domain", "")))
    indices, mistakes = table("indices", str), table("mistakes", str)
    index = raw.get("index", "")
    if not isinstance(index, str) or len(index.split()) > 2:
        raise ProblemFileError(f"{where}: index is one free index (\"i\") or two (\"k j\")")
    missing = [i for i in index.split() if i not in indices]
    if missing:
        raise ProblemFileError(f"{where}: the free index {missing[0]!r} is not in indices")
    sizes = raw["sizes"]
    if not isinstance(sizes, list) or not sizes or not all(
            isinstance(s, Mapping) and all(isinstance(v, int) and v > 0 for v in s.values()) for s in sizes):
        raise ProblemFileError(f"{where}: sizes must be a list of tables of positive integers like {{ n = 3 }}")
    unsized = sorted({bound for bound in indices.values() if any(bound not in s for s in sizes)})
    if unsized:
        raise ProblemFileError(f"{where}: indices run to {unsized[0]!r}, which is not in every table of sizes")
    assumptions = raw.get("assumptions", [])
    if not isinstance(assumptions, list) or not all(isinstance(a, str) for a in assumptions):
        raise ProblemFileError(f"{where}: assumptions must be a list of strings")
    return Problem(str(raw["id"]), raw["entry"], raw["claim"], str(raw["statement"]), uses,
                   tuple(dict(s) for s in sizes), index=index, indices=indices,
                   assumptions=tuple(assumptions), mistakes=mistakes)


def _checked(p: Problem, where: str) -> None:
    """Build the problem at each size and read each mistake: a wrong entry name fails here."""
    from .language import InvalidAnswer, parse
    from .problems import _setting, _written_out

    PROBLEMS[p.id] = p
    try:
        for number in range(len(p.sizes)):
            values, vocabulary, key, _ = _setting(p.id, number)
            for wrong in p.mistakes:
                mistake = _written_out(p, parse(wrong, vocabulary), p.sizes[number], values)
                if mistake.shape != key.shape and mistake.T.shape != key.shape:
                    raise ValueError(f"the mistake {wrong!r} has shape {mistake.shape}; the key has {key.shape} "
                                     "(check index and indices)")
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, InvalidAnswer) as error:
        del PROBLEMS[p.id]
        _setting.cache_clear()
        raise ProblemFileError(f"{where}: {type(error).__name__}: {str(error).strip(chr(39))[:200]}") from None


def load_problems(path: Path) -> dict[str, Problem]:
    """Read and check a problem file; the problems are also registered for grading.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "set.toml"
    >>> _ = f.write_text('''[[problem]]
    ... id = "hw.kl"
    ... entry = "information"
    ... claim = "grad_q"
    ... statement = "KL(p || q). Give dKL/dq_i."
    ... sizes = [{ n = 2 }, { n = 3 }]
    ... index = "i"
    ... indices = { i = "n" }
    ... [problem.symbols]
    ... p = { kind = "indexed", value = "p" }
    ... q = { kind = "indexed", value = "q" }
    ... ''')
    >>> list(load_problems(f))
    ['hw.kl']
    >>> from verify.homework.problems import grade
    >>> grade("hw.kl", "-p_i/q_i").verdict
    'correct'
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ProblemFileError(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProblemFileError(f"{path}: not valid TOML: {error}") from None
    raws = document.get("problem")
    if not isinstance(raws, list) or not raws or not all(isinstance(raw, Mapping) for raw in raws):
        raise ProblemFileError(f"{path}: no [[problem]] tables")
    loaded = {}
    for number, raw in enumerate(raws, start=1):
        where = f"{path}, problem {number} ({raw.get('id', 'no id')})"
        p = _problem(raw, where)
        if (p.id in PROBLEMS and PROBLEMS[p.id] != p) or p.id in loaded:  # the same file twice is fine
            raise ProblemFileError(f"{where}: the id {p.id!r} is already taken")
        loaded[p.id] = p
    return register(loaded, str(path))


def register(problems: Mapping[str, Problem], where: str = "problems") -> dict[str, Problem]:
    """Check each problem at its sizes and make them all gradable by id, or none of them: a problem
    that fails leaves the registry as it was (a built-in problem is never replaced)."""
    taken = [pid for pid, p in problems.items() if pid in PROBLEMS and PROBLEMS[pid] != p]
    if taken:
        raise ProblemFileError(f"{where}, {taken[0]}: the id {taken[0]!r} is already taken")
    added = []
    try:
        for p in problems.values():
            if p.id not in PROBLEMS:
                _checked(p, f"{where}, {p.id}")
                added.append(p.id)
    except ProblemFileError:
        for pid in added:
            del PROBLEMS[pid]
        raise
    return dict(problems)
