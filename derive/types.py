"""The records a derivation is made of. Data only: building and checking live elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sympy as sp

__all__ = ["SymbolSpec", "Status", "Step", "StepKind", "Result", "Derivation", "Sizes", "size_label"]

Sizes = Mapping[str, int]
StatusKind = Literal["proved", "proved_sizes", "numeric", "failed"]
# What a step states: an equation (the default, every gradient), an inequality proved by a certificate
# (derive/theorems.py), or an expectation reduced to stated moments.
StepKind = Literal["identity", "inequality", "expectation"]


def size_label(grid: tuple[Mapping[str, int], ...]) -> str:
    """``n<=4`` or ``n<=3, d_k<=2`` when the grid holds every size from 1 up; else the sizes.

    A size held at one value over the whole grid is named with its value, in parentheses.
    A grid with holes is never summarised as ``<=``: that would claim sizes it skipped.

    >>> size_label(({"n": 1}, {"n": 2}, {"n": 3}))
    'n<=3'
    >>> size_label(tuple({"n": n, "d_k": d, "N": 1} for n in (1, 2, 3) for d in (1, 2)))
    'n<=3, d_k<=2 (N=1)'
    >>> size_label(({"n": 1}, {"n": 4}))
    'n in {1, 4}'
    >>> size_label(({"h": 2, "k": 2}, {"h": 3, "k": 2}, {"h": 3, "k": 3}))
    '(h, k) in {(2, 2), (3, 2), (3, 3)}'
    """
    names: list[str] = []
    for sizes in grid:
        names.extend(name for name in sizes if name not in names)
    varying = [name for name in names if len({sizes.get(name) for sizes in grid}) > 1] or names
    # Sizes held at one value are named with it: "n<=4 (N=1)" does not read as "for every N".
    fixed = [name for name in names if name not in varying]
    held = f" ({', '.join(f'{name}={grid[0].get(name)}' for name in fixed)})" if fixed else ""
    seen = {tuple(sizes.get(name) for name in varying) for sizes in grid}
    tops = [max(sizes.get(name, 0) for sizes in grid) for name in varying]
    full = 1
    for top in tops:
        full *= top
    if len(seen) == full and all(all(1 <= v <= t for v, t in zip(point, tops)) for point in seen):
        return ", ".join(f"{name}<={top}" for name, top in zip(varying, tops)) + held
    if len(varying) == 1:
        return f"{varying[0]} in {{{', '.join(str(p[0]) for p in sorted(seen))}}}" + held
    shown = ", ".join("(" + ", ".join(str(v) for v in p) + ")" for p in sorted(seen))
    return f"({', '.join(varying)}) in {{{shown}}}" + held


@dataclass(frozen=True)
class SymbolSpec:
    """One symbol of the lecture: its shape in symbolic sizes, its domain, and what it means."""

    name: str
    shape: tuple[str, ...]
    domain: str
    meaning: str


@dataclass(frozen=True)
class Status:
    """How a claim was established. ``label`` is what reports and the CLI print.

    ``proved``: SymPy reduced the difference to 0 at symbolic sizes. ``proved_sizes``: it did so
    entry by entry at every size in ``sizes``. ``numeric``: no symbolic reduction, but agreement
    at the random points in ``detail``. ``failed``: a counterexample, in ``detail``.

    >>> Status("proved_sizes", sizes=tuple({"n": n} for n in range(1, 5))).label
    'proved n<=4'
    """

    kind: StatusKind
    sizes: tuple[Mapping[str, int], ...] = ()
    detail: str = ""

    @property
    def label(self) -> str:
        if self.kind == "proved_sizes":
            return f"proved {size_label(self.sizes)}"
        return self.kind

    @property
    def ok(self) -> bool:
        return self.kind != "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "sizes": [dict(s) for s in self.sizes],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Step:
    """One claim of a derivation, in words and math, with the reason and how it was checked.

    ``kind`` says what is claimed (an identity unless told); ``proof`` lists, for a theorem, what
    its proof rests on (lemmas with their own proofs, stated moments, the steps of an induction).

    >>> Step("KL >= 0", sp.S.Zero, "Gibbs", Status("proved"), kind="inequality").kind
    'inequality'
    """

    claim: str
    expr: sp.Basic
    reason: str
    status: Status
    key: str = ""
    kind: StepKind = "identity"
    proof: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """A target's answer in three notations: entrywise at concrete sizes, index form, closed form."""

    target: str
    wrt: str
    closed: sp.Basic
    entrywise: sp.Matrix
    entrywise_sizes: Mapping[str, int]
    index: sp.Basic | None
    status: Status
    key: str = ""


@dataclass(frozen=True)
class Derivation:
    """A catalog entry, derived: what it is about, the forward scalar, its steps and results."""

    name: str
    title: str
    section: str
    symbols: tuple[SymbolSpec, ...]
    assumptions: tuple[str, ...]
    forward: sp.Basic
    forward_sizes: Mapping[str, int]
    steps: tuple[Step, ...]
    results: tuple[Result, ...]
    tables: Mapping[str, Any] = field(default_factory=dict)

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(result.target for result in self.results)

    @property
    def ok(self) -> bool:
        return all(step.status.ok for step in self.steps)

    # Jupyter's displays; the printing lives in gradproof/notebook.py (imported on use: derive/ never imports gradproof)
    def _repr_html_(self) -> str:
        from gradproof.notebook import derivation_html

        return derivation_html(self)

    def _repr_latex_(self) -> str:
        from gradproof.notebook import derivation_latex

        return derivation_latex(self)
