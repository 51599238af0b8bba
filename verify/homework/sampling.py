"""The numeric route, for what the exact one cannot reach: compare answer and key at many points.

Points respect the assumptions (regions.Domain), spread near 0, to 50 and to 300, and sit on both
sides of, and close to, every number the answer compares an input with (``ismax(z_i, 60)`` meets
z_i = 59.999 and 60.001). Both sides are evaluated in float64 (compiled once, the key once per
process) and compared entry by entry relatively, ``|a - b| <= 1e-9 |b| + 1e-12``. A mismatch is
then re-evaluated with 60 (320) digits (decide.gap): a certain gap is a counterexample that proves
the answer wrong (``proved``); float rounding alone is not. Agreement everywhere only says
``numeric``.

>>> import sympy as sp
>>> z = sp.Symbol("z", real=True)
>>> found = counterexample(sp.Matrix([z + sp.Piecewise((1, z >= 60), (0, True))]), sp.Matrix([z]), Domain(), random.Random(0))
>>> found["proved"], found["inputs"]["z"] >= 60
(True, True)
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import sympy as sp

from .decide import canonical, check, gap
from .regions import Domain, crossings, switches

__all__ = ["counterexample", "evaluator"]

_CERTIFY = 8  # float mismatches re-evaluated exactly per comparison at most (rounding, not a difference)
_SPREADS = (2.0, 50.0, 300.0)


@lru_cache(maxsize=256)
def _compiled(m: sp.ImmutableMatrix, symbols: tuple[sp.Symbol, ...]) -> Callable[..., Any]:
    """lambdify once per matrix and symbol list: a problem's key is compiled once per process
    (every symbol comes from derive's builders, never from the student's text, and dummify
    renames them all anyway)."""
    from derive.atoms import (
        to_sympy_functions,  # derive's opaque Exp, Sqrt... as SymPy's own
    )

    return sp.lambdify(symbols, list(to_sympy_functions(m)), modules="numpy", cse=True, dummify=True)


def evaluator(m: sp.Matrix, symbols: list[sp.Symbol], keep: bool = False) -> Callable[[Mapping[sp.Symbol, float]], list[complex]]:
    """A fast float64 function of the matrix's entries; ``keep`` caches it (keys), else it is
    compiled for this call only (answers)."""
    import numpy as np

    what = (sp.ImmutableMatrix(m), tuple(symbols))
    function = _compiled(*what) if keep else _compiled.__wrapped__(*what)
    number = np.float64 if m.has(sp.Piecewise, sp.Max, sp.Min) else np.complex128  # comparisons need reals

    def evaluate(point: Mapping[sp.Symbol, float]) -> list[complex]:
        with np.errstate(all="ignore"):
            values = function(*[number(point[s]) for s in symbols])
        return [complex(v) for v in values]

    return evaluate


def _points(symbols: list[sp.Symbol], student: sp.Matrix, domain: Domain, rng: random.Random,
            count: int, deadline: float | None = None) -> list[dict[sp.Symbol, sp.Rational]]:
    """Random points near and far, then points either side of each number the answer compares an
    input with (and of each pair of inputs it compares), all within the domain."""

    def free(s: sp.Symbol, spread: float) -> float:
        return domain.draw(s, rng, spread)

    def exact(values: Mapping[sp.Symbol, float]) -> dict[sp.Symbol, sp.Rational]:
        return {s: sp.Rational(round(v * 10**6), 10**6) for s, v in values.items()}

    out = [exact({s: free(s, spread) for s in symbols}) for spread in _SPREADS for _ in range(count)]
    for s in switches(list(student)):
        out += crossings(s, exact({t: free(t, 2.0) for t in symbols}), (-5.0, -0.5, -1e-3, 1e-3, 0.5, 5.0), domain,
                         lambda: check(deadline))
    return [point for point in out if domain.admits(point)]


def _close(got: complex, want: complex) -> bool:
    try:
        return abs(got - want) <= 1e-9 * abs(want) + 1e-12
    except OverflowError:  # parts near 1e308: no float verdict, the exact check decides
        return False


def _finite(w: complex) -> bool:
    return math.isfinite(w.real) and math.isfinite(w.imag)


def counterexample(student: sp.Matrix, key: sp.Matrix, domain: Domain, rng: random.Random, count: int = 6,
                   deadline: float | None = None) -> dict[str, Any] | None:
    """A point where the answer and the key differ, as shown to the student (inputs, entry, expected,
    yours) with ``proved``: True when the gap is certain at 60 digits; None when every point agrees."""
    symbols = sorted(student.free_symbols | key.free_symbols, key=str)
    student_at, key_at = evaluator(student, symbols), evaluator(key, symbols, keep=True)
    certified = 0
    for point in _points(symbols, student, domain, rng, count, deadline):
        check(deadline)
        floats = {s: float(v) for s, v in point.items()}
        got, want = student_at(floats), key_at(floats)
        for entry, (g, w) in enumerate(zip(got, want)):
            if not _finite(w) or _close(g, w):
                continue  # the key overflows in float64 here, or they agree
            if certified >= _CERTIFY:
                break
            certified += 1
            shown = gap(canonical(student[entry]), canonical(key[entry]), point)
            if shown is not None and not shown[0]:
                continue  # float rounding: equal to 60 digits
            proved = shown is not None
            yours, expected = (complex(shown[1]), complex(shown[2])) if proved else (g, w)
            return {"inputs": {str(k): round(float(v), 6) for k, v in point.items()}, "entry": entry,
                    "expected": round(expected.real, 10), "yours": round(yours.real, 10),
                    "proved": proved, "point": point}
    return None
