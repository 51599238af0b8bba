"""Problems an instructor writes in TOML, without code: each names a catalog claim for its key.

The key is still derive's proven closed form (``entry`` and ``claim``), never typed in the file;
the file says how the problem is asked: the statement, the symbols a student may use and which
of the builder's entries each one is, the sizes to grade at, the free index, a reference answer
and the mistakes worth a diagnosis::

    [[problem]]
    id = "hw3.softmax"
    entry = "softmax_ce"
    claim = "grad_z"
    statement = "L = -sum_i y_i log p_i with p = softmax(z), sum_i y_i = 1. Give dL/dz_i."
    sizes = [{ n = 3, N = 1 }, { n = 4, N = 1 }]
    index = "i"
    indices = { i = "n", k = "n" }
    assumptions = ["sum_i y_i = 1"]
    answer = "p_i - y_i"

    [problem.symbols]
    p = { kind = "indexed", value = "p", meaning = "softmax(z)_i" }
    y = { kind = "indexed", value = "y1", domain = "simplex" }

    [problem.mistakes]
    "p_i" = "the label term is missing"

``kind`` is ``indexed`` (``rank = 2`` for ``w_kj``), ``matrix``, ``scalar`` or ``size``; ``value``
is the builder's entry (``gradproof derive ENTRY --json`` lists a topic's claims) or, for a size,
the size's name. A mistake's words may be ``sign`` or ``assumption`` for those diagnoses.

A right answer may use any quantity of the problem's forward (forward.py: for attention's dL/dQ,
A, O = A V, G, S, ...) beside the listed symbols. ``[problem.context]`` (the same schema as
``symbols``) adds quantities; ``forbid = ["dS"]`` takes the forward's away ("in terms of Q, K, V
only"). ``entries = "i j"`` (with ``indices``) lets a matrix answer be written entry by entry
(``dV_ij = sum_k A_ki G_kj``). ``star = "elementwise"`` reads ``*`` between matrices as NumPy does (the default,
``"product"``, is the matrix product, as in mathematics). ``sign`` says what minus the key is
(``"you gave dE/dnet_k; delta_k = -dE/dnet_k"``); without it, "sign error".

A problem may instead be written from its forward, with no catalog claim and no builder entries
(from_forward.py): the key is reverse mode's gradient of the forward, derived when the file loads;
every input and named step of the forward may appear in an answer; mistakes are generated from the
key (a dropped factor, term or transpose) beside those the file lists::

    [[problem]]
    id = "hw.mse"
    statement = "L = sum of squares of X W - Y. Give dL/dW."
    forward = "L = sum((X W - Y) ⊙ (X W - Y))"
    shapes = { X = "n,d", W = "d,k", Y = "n,k" }
    wrt = "W"
    answer = "2 X^T (X W - Y)"

Its fields are ``forward``, ``shapes``, ``wrt``, and optionally ``sizes`` (default: 2 and 3 for
each size, then 3 and 2), ``domains`` (``{ X = "positive" }``), ``generate = false`` (no generated
mistakes), with ``id``, ``statement``, ``answer``, ``mistakes``, ``star`` and ``sign`` as above.

A file is checked as a whole when it is loaded, so that it cannot grade a class wrong in silence:
every entry, claim and builder entry exists; each symbol's value has the shape its kind says (a
scalar is not a vector, a rank-1 ``indexed`` is not a matrix, a ``matrix`` is a matrix); the free
index's sizes are the key's shape at every size; every listed mistake parses and has the key's
shape. Then the reference ``answer`` (optional, but it is what catches a swapped symbol mapping)
must grade ``correct`` and every mistake must grade not correct, by ``problems.grade`` itself.
Any failure is one line (``ProblemFileError``) naming the file, the problem and what is wrong,
and the file registers all its problems or none.
"""

from __future__ import annotations

import numbers
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .problems import PROBLEMS, Problem, Use

__all__ = ["CHECKED", "ProblemFileError", "load_problems", "register", "unchecked"]

_KINDS = ("indexed", "matrix", "scalar", "size")
_FIELDS = {"id", "entry", "claim", "statement", "sizes", "index", "indices", "assumptions", "symbols", "mistakes",
           "answer", "context", "forbid", "star", "sign", "entries"}
_SYMBOL_FIELDS = {"kind", "value", "rank", "meaning", "domain"}
_FORWARD_FIELDS = {"id", "statement", "forward", "shapes", "wrt", "answer", "sizes", "mistakes", "domains", "star",
                   "sign", "generate"}
_MAX_BYTES = 1_000_000  # a problem file is a few KB; this bounds what parsing may cost (~2 s worst case)
_MAX_KEY_DEPTH = 32  # tomllib spends time and memory quadratic in a dotted key's length (10,000 parts: 400 MB)
_MAX_SIZES, _MAX_SIZE, _MAX_MISTAKES = 8, 64, 50  # each is graded at load: seconds apiece
# a dotted key of more than _MAX_KEY_DEPTH parts, bare or quoted; the lookbehind keeps the scan linear
_SEGMENT = r"""(?:[A-Za-z0-9_-]+|"[^"\\\n]*"|'[^'\n]*')"""
_DEEP_KEY = re.compile(rf"(?<![A-Za-z0-9_-]){_SEGMENT}(?:[ \t]*\.[ \t]*{_SEGMENT}){{{_MAX_KEY_DEPTH},}}")


class ProblemFileError(ValueError):
    """A problem file that cannot be used; the message, one line, names the file, the problem and the field.

    >>> str(ProblemFileError("set.toml, hw.1: bad\\nvalue"))
    'set.toml, hw.1: bad value'
    """

    def __init__(self, message: str) -> None:
        # one line whatever the file holds (an id or answer may span lines); the CLI prints it as is
        super().__init__(" ".join(str(message).split()))


class _Refused(Exception):
    """A check of this module failed; its message is already the words to show."""


def _shown(value: Any) -> str:
    """A value from the file in a message: short, and never the repr of a deeply nested structure."""
    if isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"a {type(value).__name__}"


def _fields(raw: Mapping[str, Any], where: str, known: set[str], required: tuple[str, ...],
            strings: tuple[str, ...], kind: str = "") -> None:
    """A table's fields: none unknown, the required ones there, the textual ones strings, an id."""
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ProblemFileError(f"{where}: unknown field {_shown(unknown[0])}{kind}; fields are {', '.join(sorted(known))}")
    for name in required:
        if name not in raw:
            raise ProblemFileError(f"{where}: missing {name!r}")
    for name in strings:
        if name in raw and not isinstance(raw[name], str):
            raise ProblemFileError(f"{where}: {name} must be a string, not {_shown(raw[name])}")
    if not raw["id"].strip():
        raise ProblemFileError(f"{where}: id is empty")


def _from_forward(raw: Mapping[str, Any], where: str) -> tuple[Problem, str | None]:
    """A problem written from its forward (from_forward.py), its fields checked for type."""
    from .from_forward import ForwardProblemError, forward_problem

    _fields(raw, where, _FORWARD_FIELDS, ("id", "statement", "forward", "shapes", "wrt"),
            ("id", "statement", "forward", "wrt", "answer", "sign"), " for a problem from a forward")
    shapes, domains, mistakes = raw["shapes"], raw.get("domains", {}), raw.get("mistakes", {})
    for name, table in (("shapes", shapes), ("domains", domains), ("mistakes", mistakes)):
        if not isinstance(table, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
            raise ProblemFileError(f"{where}: {name} must be a table of strings, like X = \"n,d\"")
    if len(mistakes) > _MAX_MISTAKES:
        raise ProblemFileError(f"{where}: {len(mistakes)} mistakes; at most {_MAX_MISTAKES} (each is graded at load)")
    star, generate = raw.get("star", "product"), raw.get("generate", True)
    if star not in ("product", "elementwise"):
        raise ProblemFileError(f"{where}: star is \"product\" or \"elementwise\", not {_shown(star)}")
    if not isinstance(generate, bool):
        raise ProblemFileError(f"{where}: generate is true or false")
    try:
        p = forward_problem(raw["id"], raw["statement"], raw["forward"], shapes, raw["wrt"], sizes=raw.get("sizes"),
                            domains=domains, mistakes=mistakes, answer=raw.get("answer", ""), star=star,
                            sign=raw.get("sign", ""), generate=generate)
    except ForwardProblemError as error:
        raise ProblemFileError(f"{where}: {error}") from None
    return p, raw.get("answer")


def _problem(raw: Mapping[str, Any], where: str) -> tuple[Problem, str | None]:
    """The problem a table describes and its reference answer, its fields checked for type."""
    from derive.catalog import NAMES, topic

    if "forward" in raw:
        return _from_forward(raw, where)

    _fields(raw, where, _FIELDS, ("id", "entry", "claim", "statement", "sizes", "symbols"),
            ("id", "entry", "claim", "statement", "answer", "index"))
    if raw["entry"] not in NAMES:
        raise ProblemFileError(f"{where}: no catalog entry {_shown(raw['entry'])}; entries are {', '.join(NAMES)}")
    claims = [c.key for c in topic(raw["entry"]).claims]
    if raw["claim"] not in claims:
        raise ProblemFileError(f"{where}: {raw['entry']} has no claim {_shown(raw['claim'])}; claims are {', '.join(claims)}")

    def table(name: str, values: type) -> dict:
        got = raw.get(name, {})
        if not isinstance(got, Mapping) or not all(isinstance(k, str) and isinstance(v, values) for k, v in got.items()):
            raise ProblemFileError(f"{where}: {name} must be a table of {values.__name__} values")
        return dict(got)

    if not isinstance(raw["symbols"], Mapping) or not raw["symbols"]:
        raise ProblemFileError(f"{where}: symbols must be a table like p = {{ kind = \"indexed\", value = \"p\" }}")
    uses = _uses(raw["symbols"], where, "symbol")
    context = raw.get("context", {})
    if not isinstance(context, Mapping):
        raise ProblemFileError(f"{where}: context must be a table like O = {{ kind = \"matrix\", value = \"O\" }}")
    added = _uses(context, where, "context quantity")
    both = sorted(set(added) & set(uses))
    if both:
        raise ProblemFileError(f"{where}: {both[0]!r} is both a symbol and a context quantity; give it once")
    forbid = raw.get("forbid", [])
    if not isinstance(forbid, list) or not all(isinstance(f, str) for f in forbid):
        raise ProblemFileError(f"{where}: forbid must be a list of names, like [\"dS\"]")
    listed = sorted(set(forbid) & (set(uses) | set(added)))
    if listed:  # a quantity the file both offers and forbids: one of the two is a slip
        raise ProblemFileError(f"{where}: forbid names {listed[0]!r}, which the problem itself lists; remove one")
    from .forward import forward

    offered = forward(raw["entry"], raw["claim"]).quantities
    unknown_forbid = sorted(set(forbid) - set(offered) - set(added))
    if unknown_forbid:  # a misspelt name would forbid nothing, in silence
        raise ProblemFileError(f"{where}: forbid names {unknown_forbid[0]!r}, which is not a quantity of "
                               f"{raw['entry']}:{raw['claim']}'s forward ({', '.join(offered) or 'it has none'})")
    star = raw.get("star", "product")
    if star not in ("product", "elementwise"):
        raise ProblemFileError(f"{where}: star is \"product\" (* between matrices is the matrix product) or "
                               f"\"elementwise\" (NumPy's *), not {_shown(star)}")
    for name in ("sign", "entries"):
        if name in raw and not isinstance(raw[name], str):
            raise ProblemFileError(f"{where}: {name} must be a string, not {_shown(raw[name])}")
    indices, mistakes = table("indices", str), table("mistakes", str)
    if len(mistakes) > _MAX_MISTAKES:
        raise ProblemFileError(f"{where}: {len(mistakes)} mistakes; at most {_MAX_MISTAKES} (each is graded at load)")
    index = raw.get("index", "")
    if len(index.split()) > 2:
        raise ProblemFileError(f"{where}: index is one free index (\"i\") or two (\"k j\")")
    missing = [i for i in index.split() if i not in indices]
    if missing:
        raise ProblemFileError(f"{where}: the free index {missing[0]!r} is not in indices")
    entries = raw.get("entries", "")
    if entries and (index or len(entries.split()) != 2 or any(e not in indices for e in entries.split())):
        raise ProblemFileError(f"{where}: entries names a matrix answer's row and column letters (\"i j\"), each in "
                               "indices, for a problem without index")
    sizes = raw["sizes"]
    if not isinstance(sizes, list) or not sizes or not all(
            isinstance(s, Mapping) and all(type(v) is int and v > 0 for v in s.values()) for s in sizes):
        raise ProblemFileError(f"{where}: sizes must be a list of tables of positive integers like {{ n = 3 }}")
    if len(sizes) > _MAX_SIZES or any(v > _MAX_SIZE for s in sizes for v in s.values()):
        # the topic bounds its own sizes; this bounds the ones a problem adds (sums run to them)
        raise ProblemFileError(f"{where}: sizes: at most {_MAX_SIZES} tables of sizes up to {_MAX_SIZE}")
    unsized = sorted({bound for bound in indices.values() if any(bound not in s for s in sizes)})
    if unsized:
        raise ProblemFileError(f"{where}: indices run to {unsized[0]!r}, which is not in every table of sizes")
    assumptions = raw.get("assumptions", [])
    if not isinstance(assumptions, list) or not all(isinstance(a, str) for a in assumptions):
        raise ProblemFileError(f"{where}: assumptions must be a list of strings")
    return (Problem(raw["id"], raw["entry"], raw["claim"], raw["statement"], uses,
                    tuple(dict(s) for s in sizes), index=index, indices=indices,
                    assumptions=tuple(assumptions), mistakes=mistakes, answer=raw.get("answer", ""), context=added,
                    forbid=tuple(forbid), star=star, sign=raw.get("sign", ""), entries=entries), raw.get("answer"))


def _uses(table: Mapping[str, Any], where: str, what: str) -> dict[str, Use]:
    """The symbols (or context quantities) a table declares, each checked for its fields."""
    uses = {}
    for name, spec in table.items():
        if not isinstance(spec, Mapping) or spec.get("kind") not in _KINDS or not isinstance(spec.get("value"), str):
            raise ProblemFileError(f"{where}: {what} {name!r} needs kind ({', '.join(_KINDS)}) and value (a builder entry)")
        extra = sorted(set(spec) - _SYMBOL_FIELDS)  # a misspelt "rnak = 2" would otherwise be ignored
        if extra:
            raise ProblemFileError(f"{where}: {what} {name!r}: unknown field {_shown(extra[0])}; fields are "
                                   f"{', '.join(sorted(_SYMBOL_FIELDS))}")
        rank = spec.get("rank", 1)
        if type(rank) is not int or rank not in (1, 2):  # type(): TOML's true is an int to isinstance
            raise ProblemFileError(f"{where}: {what} {name!r}: rank is 1 or 2")
        if spec.get("domain", "") not in ("", "simplex", "binary"):
            raise ProblemFileError(f"{where}: {what} {name!r}: domain is \"simplex\" (a probability vector), "
                                   "\"binary\" (entries 0 or 1, such as a ReLU's pattern) or left out")
        uses[name] = Use(spec["kind"], spec["value"], rank=rank, meaning=str(spec.get("meaning", "")),
                         domain=spec.get("domain", ""))
    return uses


def _dims(value: Any) -> str:
    if not getattr(value, "is_Matrix", False):
        return "a scalar"
    rows, cols = value.shape
    return f"a {'vector' if 1 in (rows, cols) and rows * cols > 1 else 'matrix'} ({rows} x {cols})"


def _check_mapping(p: Problem, sizes: Mapping[str, int]) -> None:
    """Each symbol's value has the shape its kind needs at these sizes: grading would otherwise take
    a vector's first entry for a scalar, or read a matrix as a vector, and say nothing."""
    import sympy as sp

    from derive.catalog import topic
    from derive.spec import EnvCache

    from .problems import _value

    t = topic(p.entry)
    env = EnvCache(t.build)(t.check_sizes({k: v for k, v in sizes.items() if k in t.default_sizes}))
    for name, use in p.symbols().items():
        if use.kind == "size":
            if use.env not in sizes:
                raise _Refused(f"symbol {name!r} is the size {use.env!r}, which is not in the sizes {dict(sizes)}")
            continue
        if isinstance(use.env, str) and use.env not in env:
            raise _Refused(f"symbol {name!r}: {p.entry} has no entry {_shown(use.env)}; its entries are {', '.join(env)}")
        value = _value(use, env, sizes)
        matrix = getattr(value, "is_Matrix", False)
        if not matrix and not isinstance(value, sp.Expr | numbers.Number):  # e.g. a list of matrices
            raise _Refused(f"symbol {name!r} is mapped to {use.env!r}, which is not a number or a matrix")
        mapped = f"symbol {name!r} ({use.kind}{', rank 2' if use.rank == 2 else ''}) is mapped to {use.env!r}, " \
                 f"{_dims(value)} at sizes {dict(sizes)}"
        if use.kind == "scalar" and matrix and value.shape != (1, 1):
            raise _Refused(f"{mapped}: a scalar needs a single value (kind = \"indexed\" for a vector)")
        if use.kind == "indexed" and not matrix:
            raise _Refused(f"{mapped}: an indexed symbol needs a vector (or a matrix with rank = 2)")
        if use.kind == "indexed" and use.rank == 1 and min(value.shape) > 1:
            raise _Refused(f"{mapped}: its entries need two indices, so give rank = 2 (or map it to a vector)")
        if use.kind == "matrix" and not matrix:
            raise _Refused(f"{mapped}: a matrix symbol needs a matrix (kind = \"scalar\" for a single value)")


def _check_key(p: Problem, sizes: Mapping[str, int], key: Any) -> None:
    """The free index asks for the key's shape: an entrywise answer to a matrix claim would otherwise
    have the wrong shape for every student, and each would be told so."""
    free = p.index.split()
    if not free:
        return
    want = tuple(sizes[p.indices[f]] for f in free) + ((1,) if len(free) == 1 else ())
    if tuple(key.shape) != want:
        runs = ", ".join(f"{f} runs to {p.indices[f]} = {sizes[p.indices[f]]}" for f in free)
        hint = ("; the key is a matrix: use two free indices (index = \"k j\") or leave index out and ask for the matrix"
                if len(free) == 1 and min(key.shape) > 1 else "; check index and indices")
        raise _Refused(f"{p.entry}:{p.claim}'s key is {key.shape[0]} x {key.shape[1]} at sizes {dict(sizes)}, but "
                       f"index = {p.index!r} gives {want[0]} x {want[1]} ({runs}){hint}")


def _own_mistakes(p: Problem) -> list[str]:
    """The mistakes the file lists (not those generated from a forward's key, checked as generated)."""
    generated = set(getattr(p, "generated", ()))
    return [wrong for wrong in p.mistakes if wrong not in generated]


def _check_answers(p: Problem, answer: str | None) -> None:
    """The reference answer grades correct and no listed mistake does, by the grader itself: a
    swapped symbol mapping fails here, where its key and the instructor's answer part ways."""
    from .from_forward import ForwardProblem
    from .problems import grade

    if answer is not None:
        got = grade(p.id, answer)
        if got.verdict != "correct":
            check = ("the forward, wrt and the answer" if isinstance(p, ForwardProblem) else
                     "the symbol mapping (which builder entry each symbol is) and the claim")
            raise _Refused(f"the reference answer {_shown(answer)} grades {got.verdict}: {got.feedback[:200]} — check "
                           f"{check}")
    for wrong in _own_mistakes(p):
        got = grade(p.id, wrong)
        if got.verdict == "correct":
            raise _Refused(f"the mistake {_shown(wrong)} grades correct: it equals the key, so it can never be "
                           "diagnosed — remove it, or check the symbol mapping")
        if got.verdict != "incorrect":
            raise _Refused(f"the mistake {_shown(wrong)} grades {got.verdict}: {got.feedback[:200]}")


# what the builders, SymPy and the grammar raise for a bad mapping or answer; a bug of ours still shows
_BUILD_ERRORS = (ArithmeticError, LookupError, TypeError, ValueError, AttributeError, NotImplementedError,
                 RecursionError)


def _checked(p: Problem, answer: str | None, where: str) -> None:
    """Register ``p`` and check it at each size (mapping, key shape, mistakes' shapes), then its answers;
    a failure unregisters it and raises ``ProblemFileError``."""
    from .from_forward import ForwardProblem
    from .language import parse
    from .problems import _setting, _written_out

    PROBLEMS[p.id] = p
    try:
        for number, sizes in enumerate(p.sizes):
            if not isinstance(p, ForwardProblem):  # a forward problem maps no symbol onto a builder
                _check_mapping(p, sizes)
            values, vocabulary, key, _ = _setting(p.id, number)
            _check_key(p, sizes, key)
            for wrong in _own_mistakes(p):
                mistake = _written_out(p, parse(wrong, vocabulary), sizes, values)
                if mistake.shape != key.shape and mistake.T.shape != key.shape:
                    raise _Refused(f"the mistake {_shown(wrong)} has shape {mistake.shape}; the key has {key.shape} "
                                   "(check index and indices)")
        _check_answers(p, answer)
    except _Refused as error:
        _unregister([p.id])
        raise ProblemFileError(f"{where}: {error}") from None
    except _BUILD_ERRORS as error:  # InvalidAnswer is a ValueError
        _unregister([p.id])
        words = str(error).strip(chr(39)).splitlines()
        raise ProblemFileError(f"{where}: {type(error).__name__}: {(words or [''])[0][:200]}") from None


def _unregister(ids: list[str]) -> None:
    from .problems import _setting

    for pid in ids:
        PROBLEMS.pop(pid, None)
    _setting.cache_clear()  # keyed by id: a fixed file loaded next must not get the old settings


def _read(path: Path) -> dict[str, Any]:
    """The file's TOML document; every way it cannot be read is one line."""
    try:
        if not path.is_file():  # a directory, or a FIFO that open() would block on
            raise ProblemFileError(f"cannot read {path}: " + ("it is a directory" if path.is_dir() else
                                   "no such file" if not path.exists() else "not a regular file"))
        with path.open("rb") as f:
            data = f.read(_MAX_BYTES + 1)
    except OSError as error:
        raise ProblemFileError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > _MAX_BYTES:
        raise ProblemFileError(f"{path}: larger than {_MAX_BYTES // 1_000_000} MB; a problem file is a few KB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProblemFileError(f"{path}: not UTF-8 text (byte {error.start} is {data[error.start]:#04x})") from None
    deep = _DEEP_KEY.search(text)
    if deep:
        line = text.count("\n", 0, deep.start()) + 1
        raise ProblemFileError(f"{path}: line {line}: a dotted key of more than {_MAX_KEY_DEPTH} parts")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProblemFileError(f"{path}: not valid TOML: {error}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and inline tables
        raise ProblemFileError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None


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
    ... answer = "-p_i/q_i"
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
    document = _read(path)
    raws = document.get("problem")
    if not isinstance(raws, list) or not raws or not all(isinstance(raw, Mapping) for raw in raws):
        raise ProblemFileError(f"{path}: no [[problem]] tables")
    loaded: dict[str, Problem] = {}
    answers: dict[str, str] = {}
    for number, raw in enumerate(raws, start=1):
        where = f"{path}, problem {number} ({_shown(raw.get('id', 'no id'))})"
        p, answer = _problem(raw, where)
        if (p.id in PROBLEMS and PROBLEMS[p.id] != p) or p.id in loaded:  # the same file twice is fine
            raise ProblemFileError(f"{where}: the id {p.id!r} is already taken")
        loaded[p.id] = p
        if answer is not None:
            answers[p.id] = answer
    return register(loaded, str(path), answers)


def register(problems: Mapping[str, Problem], where: str = "problems",
             answers: Mapping[str, str] | None = None) -> dict[str, Problem]:
    """Check each problem at its sizes (and its reference answer in ``answers``, by id) and make them
    all gradable by id, or none of them: a problem that fails leaves the registry as it was (a
    built-in problem is never replaced)."""
    from .from_forward import ForwardProblem

    answers = answers or {}
    taken = [pid for pid, p in problems.items() if pid in PROBLEMS and PROBLEMS[pid] != p]
    if taken:
        raise ProblemFileError(f"{where}, {taken[0]}: the id {taken[0]!r} is already taken")
    added: list[str] = []
    try:
        for p in problems.values():
            if p.id not in PROBLEMS:  # already registered, identical: loaded before, checked then
                _checked(p, answers.get(p.id), f"{where}, {p.id}")
                added.append(p.id)
            elif p.answer and not PROBLEMS[p.id].answer:  # the same problem, its answer now given
                try:
                    _check_answers(p, p.answer)
                except _Refused as error:
                    raise ProblemFileError(f"{where}, {p.id}: {error}") from None
                PROBLEMS[p.id] = p
    except ProblemFileError:
        _unregister(added)
        raise
    # a problem from a forward maps no symbol that could be swapped: its key is derived, checked as such
    CHECKED.update(pid for pid, p in problems.items() if pid in answers or isinstance(p, ForwardProblem))
    return dict(problems)


# Problems whose reference answer graded correct when their file was loaded. One without an answer
# is checked for shapes only: two symbols of the same shape mapped the wrong way round still load.
CHECKED: set[str] = set()


def unchecked(problems: Mapping[str, Problem]) -> list[str]:
    """The ids among ``problems`` (as ``load_problems`` returned them) loaded without a reference
    answer to check them.

    >>> unchecked({"hw.none": PROBLEMS["kl.grad_q"]})
    ['hw.none']
    """
    return [pid for pid in problems if pid not in CHECKED]
