"""Recording a model as a computation graph: an ``nx.DiGraph`` with one node per tensor.

A node is an input (``role`` ``parameter`` or ``input``: has a gradient; ``constant``: data, no
gradient) or the output of one op of the rule table. Node attributes:

- ``op``: the rule's name, or ``"input"``;
- ``shape``: ``(rows, cols)``, SymPy sizes (symbolic like ``n``, or integers);
- ``label``: the lecture's name (``A``, ``net_j``), or ``""`` for an unnamed intermediate;
- ``role``: ``parameter``, ``input``, ``constant`` or ``value`` (an op's output);
- ``args``: the argument nodes in order (the edges say the same, with attribute ``argnum``);
- ``params``: the op's constants (a scale factor, a mask, a pooling window);
- ``value``: how formulas refer to the node: a ``MatrixSymbol`` named after its label, or, for
  an unnamed intermediate, its formula in terms of its arguments' values.

Tensors carry the builder, so models read like the math: ``A @ B``, ``X.T``, ``b.softmax(S)``.
What is checked here: op names, argument counts and shapes (``ShapeError``, naming the op).
What is not: that the model is the one the lecture means; models.py and the tests do that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import sympy as sp

from derive.errors import GradproofError

from .ops import rule

__all__ = ["GraphBuilder", "Tensor", "Model", "value_symbol", "adjoint_symbol"]

ROLES_WITH_GRADIENT = ("parameter", "input")


def value_symbol(label: str, shape: tuple) -> sp.MatrixSymbol:
    """The symbol a formula uses for a named tensor."""
    return sp.MatrixSymbol(label, *shape)


class AdjointSymbol(sp.MatrixSymbol):
    """``dA``, the adjoint of the tensor named ``A``; LaTeX ``\\mathrm{d}\\hat{X}`` for ``dXhat``
    (a plain symbol named ``dXhat`` would print as ``\\hat{dX}``)."""

    def _latex(self, printer) -> str:
        return r"\mathrm{d}{%s}" % printer._print(sp.Symbol(self.name[1:]))


def adjoint_symbol(label: str, shape: tuple) -> sp.MatrixSymbol:
    """``dA``: the symbol a local adjoint formula uses for the adjoint of the tensor named ``A``.

    >>> sp.latex(adjoint_symbol("Xhat", (2, 2)))
    '\\\\mathrm{d}{\\\\hat{X}}'
    """
    return AdjointSymbol(f"d{label}", *shape)


@dataclass(frozen=True)
class Tensor:
    """A handle on one node while a model is being built."""

    builder: GraphBuilder
    node: str

    @property
    def shape(self) -> tuple:
        return self.builder.graph.nodes[self.node]["shape"]

    def __add__(self, other: Tensor) -> Tensor:
        return self.builder.apply("add", self, other)

    def __sub__(self, other: Tensor) -> Tensor:
        return self.builder.apply("sub", self, other)

    def __neg__(self) -> Tensor:
        return self.builder.apply("neg", self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return self.builder.apply("matmul", self, other)

    def __mul__(self, other: Tensor | sp.Expr | int) -> Tensor:
        if isinstance(other, Tensor):
            return self.builder.apply("mul", self, other)
        return self.builder.apply("scale", self, factor=sp.sympify(other))

    __rmul__ = __mul__

    @property
    def T(self) -> Tensor:
        return self.builder.apply("transpose", self)


@dataclass
class Model:
    """A recorded model: its graph, the output node, and how the output's adjoint is seeded.

    ``seed`` is ``"G"`` when the output is a matrix and ``L = sum(G ∘ output)`` (``G`` is the
    upstream gradient), or ``"1"`` when the output is already a scalar loss.
    """

    name: str
    title: str
    graph: nx.DiGraph
    output: str
    seed: str
    sizes: dict[str, sp.Expr] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def sources(self) -> list[str]:
        """The nodes that get gradients (parameters and differentiable inputs), in insertion order."""
        return [n for n, data in self.graph.nodes(data=True) if data["role"] in ROLES_WITH_GRADIENT]

    @property
    def ops(self) -> tuple[str, ...]:
        """The rule names this model uses, sorted."""
        return tuple(sorted({data["op"] for _, data in self.graph.nodes(data=True) if data["op"] != "input"}))

    def _repr_svg_(self) -> str:  # Jupyter: the picture (gradproof/notebook.py, imported on use)
        from gradproof.notebook import model_svg

        return model_svg(self)


class GraphBuilder:
    """Records tensors and ops into an ``nx.DiGraph``.

    >>> b = GraphBuilder("demo")
    >>> x = b.input("x", (3, 1), role="constant")
    >>> w = b.input("w", (3, 1))
    >>> d = b.apply("matmul", x.T, w, label="d")
    >>> b.graph.nodes["d"]["shape"], b.graph.nodes["d"]["op"]
    ((1, 1), 'matmul')
    """

    def __init__(self, name: str) -> None:
        self.graph = nx.DiGraph(name=name)
        self._count = 0

    def _new_id(self, label: str, op: str) -> str:
        if label:
            if label in self.graph:
                raise GradproofError(f"two tensors named {label!r} in graph {self.graph.graph['name']}")
            return label
        self._count += 1
        return f"{op}#{self._count}"

    def input(
        self, label: str, shape: tuple, role: str = "parameter", meaning: str = "", entries: str = "", domain: str = "real"
    ) -> Tensor:
        """A leaf tensor: a ``parameter`` (or differentiable ``input``), or ``constant`` data.

        ``entries`` names the explicit entries in the entrywise checks (default: the label);
        ``domain`` is ``real`` or ``positive`` (a probability under a log).
        """
        if role not in (*ROLES_WITH_GRADIENT, "constant"):
            raise GradproofError(f"role {role!r} is not one of parameter, input, constant")
        shape = tuple(sp.sympify(s) for s in shape)
        node = self._new_id(label, "input")
        self.graph.add_node(
            node, op="input", shape=shape, label=label, role=role, args=(), params={},
            value=value_symbol(label, shape), meaning=meaning, entries=entries or label, domain=domain,
        )
        return Tensor(self, node)

    def apply(self, op: str, *args: Tensor, label: str = "", meaning: str = "", **params: Any) -> Tensor:
        """One op of the rule table applied to tensors; ``label`` names the result in formulas."""
        row = rule(op)
        values = [self.graph.nodes[a.node]["value"] for a in args]
        formula = row.output(*values, **params)
        shape = tuple(sp.sympify(s) for s in formula.shape)
        node = self._new_id(label, op)
        self.graph.add_node(
            node, op=op, shape=shape, label=label, role="value", args=tuple(a.node for a in args),
            params=dict(params), formula=formula, meaning=meaning,
            value=value_symbol(label, shape) if label else formula,
        )
        for argnum, arg in enumerate(args):
            if not self.graph.has_edge(arg.node, node):  # an op may take one tensor twice
                self.graph.add_edge(arg.node, node, argnum=argnum)
        return Tensor(self, node)

    def __call__(self, op: str, *args: Tensor, **kwargs: Any) -> Tensor:
        return self.apply(op, *args, **kwargs)

    def model(self, output: Tensor, title: str, seed: str = "G", sizes: dict | None = None, notes: tuple[str, ...] = ()) -> Model:
        """Finish: the recorded graph with its output and seed."""
        shape = self.graph.nodes[output.node]["shape"]
        if seed == "1" and tuple(shape) != (1, 1):
            raise GradproofError(f"a scalar seed needs a 1 x 1 output, not {shape}")
        return Model(self.graph.graph["name"], title, self.graph, output.node, seed, dict(sizes or {}), notes)
