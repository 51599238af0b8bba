"""Run a model's graph forward in torch, op by op, with the rule table's torch column.

This is the autograd side of a check: torch differentiates this forward itself, knowing nothing
of the matrix-form VJPs that verify/compile.py turns into code. The compiled gradients compute
the forward values they need with the same torch column, so an op's torch code exists once.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import sympy as sp

from graphs.graph import Model
from graphs.matrices import CausalMask
from graphs.ops import rule

__all__ = ["forward", "loss"]


def _param(torch: Any, value: Any, like: Any, sizes: dict[sp.Symbol, int]) -> Any:
    if isinstance(value, CausalMask):
        n = int(value.shape[0]) if value.shape[0].is_Integer else like.shape[-1]
        return torch.ones(n, n, dtype=like.dtype, device=like.device).tril()
    if isinstance(value, sp.MatrixBase):
        return torch.tensor([[float(v) for v in value.row(i)] for i in range(value.rows)], dtype=like.dtype, device=like.device)
    if isinstance(value, sp.Basic):
        from .compile import CONSTANTS

        known = {**sizes, **{s: sp.Float(CONSTANTS[s.name]) for s in value.free_symbols if s.name in CONSTANTS}}
        value = sp.sympify(value.xreplace(known))
        return int(value) if value.is_Integer else float(value)
    return value


def forward(model: Model, tensors: dict[str, Any]) -> dict[str, Any]:
    """Every node's value, from input tensors named by their labels.

    >>> import torch
    >>> from graphs.models import model
    >>> values = forward(model("perceptron"), {"x": torch.ones(2, 1), "w": torch.ones(2, 1),
    ...                                        "b": torch.zeros(1, 1), "c": torch.ones(1, 1)})
    >>> values["J"].item()
    2.0
    """
    import torch

    values: dict[str, Any] = {}
    sizes: dict[sp.Symbol, int] = {}  # symbolic sizes, read off the input tensors
    feeding = nx.ancestors(model.graph, model.output) | {model.output}
    for node in nx.topological_sort(model.graph):
        if node not in feeding:  # a step the loss does not use (A = W W) may read an input no one gave
            continue
        data = model.graph.nodes[node]
        if data["op"] == "input":
            values[node] = tensors[data["label"]]
            for size, actual in zip(data["shape"], values[node].shape[-2:]):
                if isinstance(size, sp.Symbol):
                    sizes[size] = actual
            continue
        args = [values[a] for a in data["args"]]
        params = {k: _param(torch, v, args[0], sizes) for k, v in data["params"].items()}
        values[node] = rule(data["op"]).torch(torch, *args, **params)
    return values


def loss(model: Model, tensors: dict[str, Any]) -> Any:
    """The scalar per batch element that the model's adjoints differentiate: the output, or ``sum(G ∘ output)``."""
    out = forward(model, tensors)[model.output]
    if model.seed == "1":
        return out.sum((-2, -1))
    return (tensors[model.seed] * out).sum((-2, -1))
