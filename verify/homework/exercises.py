"""Numeric exercises: the lecture's perceptron training table and one BP update step, checked
exactly (rationals) row by row, naming the first wrong row.

The keys come from derive/: the perceptron table is ``derive.topics.perceptron.train`` on the
lecture's data sets; the BP step evaluates derive's claims (``delta_k``, ``delta_j`` and the four
update rules, proved for any activation f) at the exercise's numbers, with the forward pass's
activations given and f'(net) = f(net) (1 - f(net)) for the sigmoid.

An answer is rows separated by new lines or ``;``, each row numbers separated by commas or spaces,
written as integers, decimals or fractions (``-1/2``, ``0.25``), read with ``fractions.Fraction``;
an optional ``label:`` before a row is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import sympy as sp

from .language import InvalidAnswer

__all__ = ["EXERCISES", "Exercise", "grade_exercise", "read_rows"]

_MAX_ROWS, _MAX_VALUES = 200, 2000
_NUMBER = re.compile(r"[+-]?(\d{1,12}(\.\d{1,12})?|\.\d{1,12}|\d{1,12}/\d{1,12})")  # 3, -0.25, .5, 1/2


@dataclass(frozen=True)
class Exercise:
    id: str
    statement: str
    rows: Callable[[], tuple[tuple[str, tuple[Fraction, ...]], ...]]  # (row label, exact values), from derive
    assumptions: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "statement": self.statement, "assumptions": list(self.assumptions),
                "symbols": {"rows": "one row per line (or ';'), numbers as integers, decimals or fractions"}}


def _plain_numbers(text: str) -> str:
    """Numbers as a page shows them, written plainly: $...$ dropped, \\frac{a}{b} and \\tfrac{a}{b} as a/b,
    a Unicode minus as -.

    >>> _plain_numbers(r"$\\frac{1}{8}$, $-\\tfrac{3}{4}$")
    '1/8, -3/4'
    """
    text = text.replace("−", "-").replace("$", "")
    return re.sub(r"\\[dt]?frac\{\s*(-?[0-9.]+)\s*\}\{\s*([0-9.]+)\s*\}", r"\1/\2", text)


def read_rows(text: str) -> list[tuple[Fraction, ...]]:
    """Rows of exact numbers; anything else is ``InvalidAnswer`` (never evaluated).

    >>> read_rows("w: 1, -1/2, 0.25; 3 4")
    [(Fraction(1, 1), Fraction(-1, 2), Fraction(1, 4)), (Fraction(3, 1), Fraction(4, 1))]
    """
    if len(text) > 20_000:
        raise InvalidAnswer(f"the answer is {len(text)} characters long; the limit is 20000")
    lines = [line.strip() for line in re.split(r"[;\n]", _plain_numbers(text)) if line.strip()]
    if not lines:
        raise InvalidAnswer("the answer is empty")
    if len(lines) > _MAX_ROWS:
        raise InvalidAnswer(f"the answer has {len(lines)} rows; the limit is {_MAX_ROWS}")
    rows = []
    for number, line in enumerate(lines, start=1):
        # a label before the numbers: "w: 1, 2", or "delta_k = 1/8" as notes write it
        labelled = re.match(r"^[A-Za-z][A-Za-z0-9_{}\\^()'+ ]*(?::|=(?!=))", line)
        body = line[labelled.end():] if labelled else line
        items = [item for item in re.split(r"[,\s]+", body.strip("()[] ")) if item]
        for item in items:
            if not _NUMBER.fullmatch(item):
                raise InvalidAnswer(f"row {number}: cannot read {item[:20]!r} as a number (write 1/2, -0.25 or 3)")
        try:
            rows.append(tuple(Fraction(item) for item in items))
        except (ValueError, ZeroDivisionError):
            raise InvalidAnswer(f"row {number}: {body.strip()[:40]!r} divides by zero or is not a number") from None
    if sum(len(r) for r in rows) > _MAX_VALUES:
        raise InvalidAnswer(f"the answer has more than {_MAX_VALUES} numbers")
    return rows


def _show(values: Sequence[Fraction]) -> str:
    return ", ".join(str(v) for v in values)


def grade_exercise(exercise_id: str, text: str) -> Any:
    """Grade a table row by row: the score is the share of rows right before the first wrong one.

    >>> g = grade_exercise("perceptron:table_and", "0 0 -1; 0 0 -1; 0 0 -1; 1 1 1")
    >>> g.problem, g.verdict, g.score, g.feedback.split(":")[0]
    ('perceptron:table_and', 'incorrect', 0.125, 'row 4 (epoch 1, sample 4) is wrong')
    """
    from .problems import Grade, canonical_id

    exercise_id = canonical_id(exercise_id)  # perceptron.table_and, as files written before still say
    key = _key(exercise_id)
    try:
        rows = read_rows(text)
    except InvalidAnswer as error:
        return Grade(exercise_id, "invalid", 0.0, str(error), method="parse")
    for number, (label, want) in enumerate(key, start=1):
        got = rows[number - 1] if number <= len(rows) else None
        if got == want:
            continue
        score = round((number - 1) / len(key), 4)
        if got is None:
            feedback = f"{len(rows)} rows given; the table has {len(key)}: row {number} ({label}) is missing"
        elif len(got) != len(want):
            feedback = f"row {number} ({label}) has {len(got)} numbers; it needs {len(want)}"
        else:
            close = all(abs(g - w) <= Fraction(1, 1000) * max(1, abs(w)) for g, w in zip(got, want))
            hint = " (rounded? write exact fractions)" if close else ""
            feedback = f"row {number} ({label}) is wrong: expected {_show(want)}, got {_show(got)}{hint}"
        return Grade(exercise_id, "incorrect", score, feedback,
                     {"row": number, "label": label, "expected": _show(want), "yours": _show(got or ())}, "exact")
    if len(rows) > len(key):
        return Grade(exercise_id, "incorrect", round(1 - 1 / (len(key) + 1), 4),
                     f"the first {len(key)} rows are right, but the table ends there ({len(rows)} rows given)",
                     method="exact")
    return Grade(exercise_id, "correct", 1.0, f"correct: all {len(key)} rows are exactly right", method="exact")


# --- the perceptron table --------------------------------------------------------------------
def _perceptron_rows(dataset: str) -> Callable[[], tuple[tuple[str, tuple[Fraction, ...]], ...]]:
    def rows() -> tuple[tuple[str, tuple[Fraction, ...]], ...]:
        from derive.topics.perceptron import DATASETS, train

        trace = train(dataset, *DATASETS[dataset])
        return tuple((f"epoch {r.epoch}, sample {r.sample}", tuple(Fraction(str(v)) for v in (*r.w, r.b)))
                     for r in trace.rows)

    return rows


def _perceptron_statement(dataset: str) -> str:
    from derive.topics.perceptron import DATASETS

    samples, targets = DATASETS[dataset]
    shown = ", ".join(f"({', '.join(str(v) for v in x)}) -> {t}" for x, t in zip(samples, targets))
    return (f"Train a perceptron on {shown}, presenting the samples in this order, from w = (0, 0), b = 0, with "
            "y = hardlim(w . x + b) (1 when >= 0), w = w + (t - y) x, b = b + (t - y). Write w_1, w_2, b after "
            "each presentation, one row each, until an epoch has no error (include that epoch's rows).")


# --- one BP step -----------------------------------------------------------------------------
_BP = {
    "sizes": {"I": 2, "H": 2, "O": 1, "H2": 1},
    "numbers": {"I_1": "1", "I_2": "1/2", "T_1": "1", "wh_11": "1/2", "wh_12": "-1", "wh_21": "1/4", "wh_22": "1",
                "bh_1": "0", "bh_2": "-3/4", "wo_11": "1", "wo_12": "-1/2", "bo_1": "-1/4", "alpha": "1/2", "beta": "1/4"},
    # Stated in the exercise and checked against its own weights in _bp_rows: a sigmoid gives an exact
    # fraction only at net = 0, so the weights put every unit there (1/2 + -1/2 + 0, 1/4 + 1/2 - 3/4, ...).
    "H": ("1/2", "1/2"),
    "O": ("1/2",),
}
_BP_ROWS = (("delta_k", "delta_k"), ("delta_j", "delta_j"), ("w_kj(t+1)", "update_w_output"),
            ("b_k(t+1)", "update_b_output"), ("w_ji(t+1)", "update_w_hidden"), ("b_j(t+1)", "update_b_hidden"))


def _bp_rows() -> tuple[tuple[str, tuple[Fraction, ...]], ...]:
    from derive.catalog import topic
    from derive.spec import EnvCache

    t = topic("bp")
    env = EnvCache(t.build)(t.check_sizes(_BP["sizes"]))
    f = sp.Function("f")
    hidden = {h: sp.Rational(v) for h, v in zip(env["H"], _BP["H"])}
    activation = {h.args[0]: value for h, value in hidden.items()}
    activation |= {o.xreplace(hidden).args[0]: sp.Rational(v) for o, v in zip(env["O"], _BP["O"])}
    numbers = {s: sp.Rational(v) for name, v in _BP["numbers"].items() for s in [sp.Symbol(name)]}
    for net, value in activation.items():  # the statement's forward pass must be what its weights give
        at_numbers = net.xreplace({s: numbers[sp.Symbol(s.name)] for s in net.free_symbols if sp.Symbol(s.name) in numbers})
        if sp.simplify(1 / (1 + sp.exp(-at_numbers)) - value) != 0:
            raise ValueError(f"the BP exercise states a unit's output {value}, but its weights give sigmoid({at_numbers})")

    def at(m: Any) -> tuple[Fraction, ...]:
        m = sp.Matrix(m).replace(lambda e: getattr(e, "func", None) == f and e.args[0] in activation,
                                 lambda e: activation[e.args[0]])
        m = m.replace(lambda e: isinstance(e, sp.Subs), lambda e: activation[e.point[0]] * (1 - activation[e.point[0]]))
        m = m.xreplace({s: numbers[sp.Symbol(s.name)] for s in m.free_symbols if sp.Symbol(s.name) in numbers})
        if m.free_symbols:
            raise ValueError(f"the BP exercise leaves {m.free_symbols} unset")
        return tuple(Fraction(int(v.p), int(v.q)) for v in m)

    claims = {c.key: c for c in t.claims}
    return tuple((label, at(env[source] if source in env else claims[source].claimed(env)))
                 for label, source in _BP_ROWS)


def _bp_statement() -> str:
    n = _BP["numbers"]
    return ("A BP network with 2 inputs, 2 sigmoid hidden units and 1 sigmoid output. Inputs I = "
            f"({n['I_1']}, {n['I_2']}), target T = {n['T_1']}; hidden weights w_ji = [[{n['wh_11']}, {n['wh_12']}], "
            f"[{n['wh_21']}, {n['wh_22']}]], hidden biases b_j = ({n['bh_1']}, {n['bh_2']}); output weights w_kj = "
            f"[{n['wo_11']}, {n['wo_12']}], output bias b_k = {n['bo_1']}; learning rates alpha = {n['alpha']} for the "
            f"weights and beta = {n['beta']} for the biases (w(t+1) = w + alpha delta x, b(t+1) = b + beta delta). "
            f"The forward pass gives H = ({', '.join(_BP['H'])}) and O = {_BP['O'][0]}. Write, one row each and in "
            "this order: delta_k; delta_1, delta_2; the new w_kj (w_11, w_12); the new b_k; the new w_ji "
            "(w_11, w_12, w_21, w_22); the new b_j (b_1, b_2). Exact fractions.")


EXERCISES: dict[str, Exercise] = {e.id: e for e in (
    Exercise("perceptron:table_and", _perceptron_statement("AND"), _perceptron_rows("AND")),
    Exercise("perceptron:table_lecture2d", _perceptron_statement("lecture2d"), _perceptron_rows("lecture2d")),
    Exercise("bp:step", _bp_statement(), _bp_rows, assumptions=("sigmoid units: f'(net) = f(net) (1 - f(net))",)),
)}


@cache
def _key(exercise_id: str) -> tuple[tuple[str, tuple[Fraction, ...]], ...]:
    return EXERCISES[exercise_id].rows()


