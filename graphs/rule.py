"""What one row of the VJP table is, and the few shape helpers the rows share.

A ``Rule`` is data: the op's argument names, its forward as a matrix formula (whose entries, at
concrete sizes, are the SymPy forward the entrywise proofs differentiate), its forward in torch
(a function of the ``torch`` module, so graphs/ never imports torch), and one curried VJP per
argument in the style of HIPS autograd: ``vjp(ans, *args, **params)(g)`` is the argument's
adjoint given the output's adjoint ``g``; ``ans`` is the forward output, so rules may reuse it
(``exp: g ∘ ans``). ``examples`` gives the shapes (and parameters) at which the rule is proven.
An elementwise op's row also carries its scalar SymPy function and spelling (``elementwise``),
which ``graphs.matrices.Apply`` reads: the row is the op's one definition.

Each row is also proved at symbolic shapes in index form (graphs/prove_index.py): ``symbolic``
gives those shapes as size names (``(("n", "k"), ("k", "m"))`` for a product; every input
``n x m`` when left out) and any parameters; a row whose forward has no index form at symbolic
sizes says why in ``shape_only`` and is proved at its example shapes only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from derive.errors import GradproofError

from .matrices import Elementwise

__all__ = ["Rule", "ShapeError", "Example", "VJP", "square_examples", "EXAMPLE_SHAPES"]

Shape = tuple[Any, Any]
VJP = Callable[..., Callable[[sp.Basic], sp.Basic]]
# input shapes, and the parameters (a scale factor, a mask, a window) for one proof
Example = tuple[tuple[Shape, ...], Mapping[str, Any]]

# Every rule is proven at (at least) these output-like shapes: a scalar, a wide and a tall matrix.
EXAMPLE_SHAPES: tuple[Shape, ...] = ((1, 1), (2, 3), (3, 2))


class ShapeError(GradproofError):
    """Inputs whose shapes an op cannot take (``matmul`` of 2x3 by 2x3)."""


def square_examples(n_inputs: int = 1) -> tuple[Example, ...]:
    """Examples where every input has the same shape, one per entry of ``EXAMPLE_SHAPES``."""
    return tuple((tuple(shape for _ in range(n_inputs)), {}) for shape in EXAMPLE_SHAPES)


@dataclass(frozen=True)
class Rule:
    """One op of the table; see the module docstring.

    ``domain`` says where an argument's entries live in the proofs (``positive`` for log's
    argument); ``check`` raises ``ShapeError`` for shapes the op cannot take; ``elementwise`` is
    set for an op applied entry by entry (its forward is ``Apply(X, name)``).
    """

    name: str
    args: tuple[str, ...]
    forward: Callable[..., sp.Basic]
    vjps: tuple[VJP | None, ...]
    torch: Callable[..., Any]
    examples: tuple[Example, ...]
    summary: str
    domain: Mapping[str, str] = field(default_factory=dict)
    check: Callable[..., str | None] | None = None
    elementwise: Elementwise | None = None
    symbolic: Example | None = None  # input shapes as size names ("n"), and parameters
    shape_only: str = ""  # why the row has no index-form proof at symbolic shapes

    def __post_init__(self) -> None:
        if len(self.vjps) != len(self.args):
            raise ValueError(f"rule {self.name}: {len(self.args)} arguments but {len(self.vjps)} VJPs")

    def output(self, *inputs: sp.Basic, **params: Any) -> sp.Basic:
        """The forward formula, after checking the inputs' number and shapes."""
        if len(inputs) != len(self.args):
            raise ShapeError(f"{self.name} takes {len(self.args)} inputs ({', '.join(self.args)}), got {len(inputs)}")
        problem = self.check(*(x.shape for x in inputs), **params) if self.check else None
        if problem:
            shapes = ", ".join(f"{name}: {_shape_text(x.shape)}" for name, x in zip(self.args, inputs))
            raise ShapeError(f"{self.name}: {problem} (got {shapes})")
        return self.forward(*inputs, **params)

    def vjp(self, argnum: int, ans: sp.Basic, inputs: Sequence[sp.Basic], params: Mapping[str, Any], g: sp.Basic) -> sp.Basic:
        """The adjoint of input ``argnum``; a loud error when the table has no rule for it."""
        rule = self.vjps[argnum]
        if rule is None:
            raise GradproofError(f"op {self.name} has no gradient with respect to {self.args[argnum]}")
        return rule(ans, *inputs, **params)(g)


def _shape_text(shape: Shape) -> str:
    return " x ".join(str(s) for s in shape)
