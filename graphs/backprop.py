"""Reverse mode over a recorded graph, in matrix form, at whatever sizes the graph has (symbolic too).

One walk over ``nx.topological_sort`` in reverse, visiting only the nodes on a path from a
tensor with a gradient to the output (tinygrad's pruning). Each visited node's adjoint is the
sum of what its consumers sent it; each op's rule (graphs/ops.py) sends its arguments their
shares. Two forms come back for every node:

- ``local``: in terms of the adjoints of the node's consumers, by name (``dS = A ∘ (dA - ...)``),
  as a lecturer writes the chain one step at a time;
- ``adjoint``: with those names replaced, in terms of the seed and the forward values only.

The seed is the output's adjoint: ``G`` (the upstream gradient, ``L = sum(G ∘ output)``) or
the 1 x 1 ones matrix for a scalar loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import sympy as sp

from .graph import ROLES_WITH_GRADIENT, Model, adjoint_symbol
from .matrices import Ones, add
from .ops import rule

__all__ = ["Adjoints", "backprop", "on_path", "seed_of"]


@dataclass(frozen=True)
class Adjoints:
    """Every visited node's adjoint, local and expanded (see the module docstring)."""

    local: dict[str, sp.Basic]
    adjoint: dict[str, sp.Basic]
    order: tuple[str, ...]  # the nodes visited, output first
    seed: sp.Basic

    # Jupyter's displays (gradproof/notebook.py, imported on use: graphs/ never imports gradproof)
    def _repr_html_(self) -> str:
        from gradproof.notebook import adjoints_html

        return adjoints_html(self)

    def _repr_latex_(self) -> str:
        from gradproof.notebook import adjoints_latex

        return adjoints_latex(self)


def seed_of(model: Model) -> sp.Basic:
    """``G`` with the output's shape, or ``1`` (1 x 1) for a scalar loss."""
    shape = model.graph.nodes[model.output]["shape"]
    return Ones(1, 1) if model.seed == "1" else sp.MatrixSymbol(model.seed, *shape)


def on_path(graph: nx.DiGraph, output: str) -> set[str]:
    """Nodes on some path from a tensor with a gradient to ``output``.

    >>> from graphs.models import model
    >>> sorted(on_path(model("perceptron").graph, "J"))
    ['J', 'b', 'd', 'matmul#2', 'w']
    """
    upstream = nx.ancestors(graph, output) | {output}
    sources = [n for n in upstream if graph.nodes[n]["role"] in ROLES_WITH_GRADIENT]
    downstream: set[str] = set(sources)
    for source in sources:
        downstream |= nx.descendants(graph, source)
    return upstream & downstream


def backprop(model: Model) -> Adjoints:
    """Adjoints of every node between the model's inputs and its output.

    >>> from graphs.models import model
    >>> str(backprop(model("attention")).adjoint["V"])
    'A.T*G'
    """
    graph = model.graph
    visit = on_path(graph, model.output)
    order = [n for n in reversed(list(nx.topological_sort(graph))) if n in visit]
    seed = seed_of(model)
    # Two walks in one: shares in terms of named adjoints (local), and in terms of the seed
    # (expanded). Building the expanded form directly shares subformulas between nodes, where a
    # substitution afterwards would copy them (exponential in depth for an encoder block).
    received: dict[str, list[sp.Basic]] = {model.output: [seed]}
    received_expanded: dict[str, list[sp.Basic]] = {model.output: [seed]}
    local: dict[str, sp.Basic] = {}
    adjoint: dict[str, sp.Basic] = {}
    for node in order:
        data = graph.nodes[node]
        local[node] = add(*received[node])
        adjoint[node] = add(*received_expanded[node])
        if data["op"] == "input":
            continue
        # Consumers see a named tensor's adjoint by name (dA), an unnamed one's by formula.
        named = data["label"] and node != model.output
        g = adjoint_symbol(data["label"], data["shape"]) if named else local[node]
        args = [graph.nodes[a]["value"] for a in data["args"]]
        op = rule(data["op"])
        for argnum, arg in enumerate(data["args"]):
            if arg in visit:
                received.setdefault(arg, []).append(op.vjp(argnum, data["value"], args, data["params"], g))
                received_expanded.setdefault(arg, []).append(op.vjp(argnum, data["value"], args, data["params"], adjoint[node]))
    return Adjoints(local, adjoint, tuple(order), seed)
