"""Feedback in the problem's own words: sizes as ``3 x 2``, factors as ``1/sqrt(d_k)``, counterexamples
in the problem's symbols with entries counted from 1 in its index letters, and never the key.

Grading (problems.py) decides; this module only words what it decided. Each function is pure:
it takes what grading found and returns text or a JSON-ready value.

>>> factor_words(sp.sqrt(sp.Symbol("d_k", positive=True)))
'missing a factor 1/sqrt(d_k): the answer is sqrt(d_k) times the gradient'
>>> shape_words((3, 1), (3, 2), "dL/dV", {"n": 3, "d_k": 2})
'the answer is 3 x 1, but dL/dV is 3 x 2 (n = 3, d_k = 2)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp

__all__ = ["Values", "asked", "entry_words", "factor_words", "inputs_text", "shape_words", "star_words", "valued",
           "without_examples"]


def asked(statement: str, index: str, noun: str = "gradient") -> str:
    """What the problem asks for, as its statement names it (``dL/dV``), for a sentence about its shape.

    >>> asked("O = A V with upstream gradient G. Give dL/dV.", "")
    'dL/dV'
    >>> asked("Give the updated weight w_kj(t+1).", "k j")
    'the gradient over k and j'
    """
    found = re.search(r"Give (d[A-Za-z_]+/d[A-Za-z_0-9]+)", statement)
    if found and not index:
        return found.group(1)
    return f"the {noun} over {' and '.join(index.split())}" if index else f"the {noun}"


def shape_words(answer: tuple[int, int], key: tuple[int, int], what: str, sizes: Mapping[str, Any]) -> str:
    """One sentence for an answer of the wrong shape: both shapes as ``rows x cols``, and the sizes
    (or the index ranges) they come from.

    >>> shape_words((2, 3), (3, 2), "the gradient over k and j", {"k": "1..3", "j": "1..2"})
    'the answer is 2 x 3, but the gradient over k and j is 3 x 2 (k = 1..3, j = 1..2)'
    """
    at = ", ".join(f"{name} = {value}" for name, value in sizes.items())
    return f"the answer is {answer[0]} x {answer[1]}, but {what} is {key[0]} x {key[1]}" + (f" ({at})" if at else "")


def factor_words(factor: sp.Expr, noun: str = "gradient") -> str:
    """An answer that is ``factor`` times the gradient, said as a teacher would: a size's power the
    answer lacks (``missing a factor 1/sqrt(d_k)``), one it has too many of, or a plain number.

    >>> factor_words(sp.Integer(2)), factor_words(sp.Rational(1, 2))
    ('off by a constant factor 2: the answer is 2 times the gradient', 'off by a constant factor 1/2: the answer is 1/2 times the gradient')
    >>> d = sp.Symbol("d", positive=True)
    >>> factor_words(1 / d), factor_words(3 * d)
    ('an extra factor 1/d: the answer is 1/d times the gradient', 'off by a factor 3*d: the answer is 3*d times the gradient')
    """
    times = f"the answer is {sp.sstr(factor)} times the {noun}"
    if factor.is_number:
        return f"off by a constant factor {sp.sstr(factor)}: {times}"
    coefficient, rest = factor.as_coeff_Mul()
    if coefficient == 1:
        power = rest.as_base_exp()[1]
        if power.is_positive:  # sqrt(d_k) times the key: the key's 1/sqrt(d_k) is missing
            return f"missing a factor {sp.sstr(1 / rest)}: {times}"
        return f"an extra factor {sp.sstr(rest)}: {times}"
    return f"off by a factor {sp.sstr(factor)}: {times}"


def star_words(rule: str) -> str:
    """What to say of an answer that is right only with ``*`` read the other way than ``rule``."""
    if rule == "elementwise":
        return "right if * meant the matrix product; here * is the elementwise product: write @ for the matrix product"
    return "right if * meant the elementwise product; here * is the matrix product: write ⊙ or .*"


def entry_words(flat: int, shape: tuple[int, int], index: str) -> str:
    """A flat entry of the key as the student counts it: from 1, in the problem's index letters.

    >>> entry_words(3, (3, 2), ""), entry_words(1, (3, 1), "i"), entry_words(3, (3, 2), "k j"), entry_words(0, (1, 1), "")
    ('(2, 2)', 'i = 2', 'k = 2, j = 2', '')
    """
    row, col = divmod(flat, shape[1])
    letters = index.split()
    if len(letters) == 1:
        return f"{letters[0]} = {row + 1}"
    if len(letters) == 2:
        return f"{letters[0]} = {row + 1}, {letters[1]} = {col + 1}"
    return "" if shape == (1, 1) else f"({row + 1}, {col + 1})"


class Values(list):  # type: ignore[type-arg]
    """A vector or matrix in a counterexample: a plain list to JSON, and one that formats with a
    number's format (``f"{v:g}"``, as the command line formats each input) as ``[0.5, [1, 2]]``.

    >>> import json
    >>> f"{Values([[0.5, 1.0], [2.0, 0.25]]):g}", json.dumps(Values([1.5, 2.0]))
    ('[[0.5, 1], [2, 0.25]]', '[1.5, 2.0]')
    """

    def __format__(self, spec: str) -> str:
        def text(v: Any) -> str:
            return "[" + ", ".join(text(x) for x in v) + "]" if isinstance(v, list) else format(v, spec)

        return text(self)


def _number(x: sp.Expr) -> float | None:
    value = complex(sp.N(x, 15))
    return round(value.real, 6) if abs(value.imag) <= 1e-12 * max(1.0, abs(value.real)) else None


def valued(value: Any, point: Mapping[sp.Symbol, sp.Expr], vector: bool) -> Any:
    """A symbol's value at a point, as JSON: a number, a list (a vector), rows (a matrix); None
    when the point does not fix it (a quantity neither the answer nor the key depends on).

    >>> x = sp.Symbol("x")
    >>> valued(sp.Matrix([[x, 2 * x], [1, x]]), {x: sp.Rational(1, 2)}, False), valued(sp.Matrix([x, 1]), {x: 3}, True)
    ([[0.5, 1.0], [1.0, 0.5]], [3.0, 1.0])
    """
    if getattr(value, "is_Matrix", False):
        m = sp.Matrix(value).xreplace(point)
        if m.free_symbols:
            return None
        entries = [[_number(e) for e in m.row(r)] for r in range(m.rows)]
        if any(e is None for row in entries for e in row):
            return None
        if vector and 1 in (m.rows, m.cols):  # p_i's p: a list, however it is stored
            return Values(e for row in entries for e in row)
        return Values(entries)
    x = sp.sympify(value).xreplace(point)
    return None if x.free_symbols else _number(x)


def without_examples(feedback: str, keys: Sequence[str]) -> str:
    """Feedback with any example (``e.g. ...``) that is one of ``keys`` (the problem's answers,
    spaces ignored) taken out: an unreadable answer must not be told the key.

    >>> without_examples("cannot read '\\\\partial' here; write the answer itself, e.g. p_i - y_i", ["p_i-y_i"])
    "cannot read '\\\\partial' here; write the answer itself"
    """
    squeezed = {re.sub(r"\s+", "", k) for k in keys if k}

    def drop(match: re.Match[str]) -> str:
        return "" if re.sub(r"\s+", "", match.group(1)) in squeezed else match.group(0)

    return re.sub(r",? e\.g\.,? ([^;]+?)(?=;|$)", drop, feedback)


def inputs_text(inputs: Mapping[str, Any]) -> str:
    """A counterexample's inputs on one line, for the command line and pages: numbers with ``:g``,
    vectors as ``[a, b]``, matrices as ``[[a, b], [c, d]]``.

    >>> inputs_text({"dS": [[0.5, -1.0], [2.0, 0.25]], "p": [0.2, 0.8], "d_k": 3, "alpha": 0.125})
    'dS = [[0.5, -1], [2, 0.25]], p = [0.2, 0.8], d_k = 3, alpha = 0.125'
    """

    return ", ".join(f"{name} = {Values(v) if isinstance(v, list) else v:g}" for name, v in inputs.items())
