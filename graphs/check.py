"""A model's matrix-form adjoints checked entrywise against the exact derivative at concrete sizes.

The model is rebuilt at integer sizes; every input becomes an explicit matrix of symbols
(``Q_11``, the names derive/ uses), every named tensor its explicit forward value, and the
scalar ``L`` (the output itself, or ``sum(G ∘ output)``) is differentiated exactly (``derive.spec.grad``: the zero test's chain rule on polynomials) with
respect to every entry of every input with a gradient. Reverse mode's local formulas are
expanded node by node in the same order the walk took (so ``dA`` is explicit before ``dS``
uses it) and each input's adjoint must equal that gradient exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import sympy as sp

from derive.atoms import matrix
from derive.proof import compare_matrices, compare_numerically

from .backprop import backprop
from .graph import Model, adjoint_symbol
from .matrices import explicit
from .models import MODELS
from .models import model as build_model
from .prove import vjp_entrywise

__all__ = ["NUMERIC_CHECKS", "ModelCheck", "check_model", "check_all", "explicit_values", "cut_at", "named_intermediates"]


@dataclass(frozen=True)
class ModelCheck:
    """Whether every adjoint of a model agreed with the exact derivative at one set of sizes."""

    model: str
    sizes: Mapping[str, int]
    kind: str  # "proved", "numeric" or "failed"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "proved"


def explicit_values(model: Model) -> dict[sp.MatrixSymbol, sp.Matrix]:
    """Explicit matrices for every input and every named tensor of a model at integer sizes.

    >>> from graphs.models import model
    >>> values = explicit_values(model("perceptron", {"n": 2}))
    >>> values[sp.MatrixSymbol("d", 1, 1)]
    Matrix([[b_11 + w_11*x_11 + w_21*x_21]])
    """
    values: dict[sp.MatrixSymbol, sp.Matrix] = {}
    for node in nx.topological_sort(model.graph):
        data = model.graph.nodes[node]
        if data["op"] == "input":
            domain = {"positive": True} if data.get("domain") == "positive" else {"real": True}
            values[data["value"]] = matrix(data["entries"], *(int(s) for s in data["shape"]), **domain)
        elif data["label"]:
            values[data["value"]] = explicit(data["formula"], values)
    return values


def cut_at(model: Model, node: str) -> Model:
    """The model with the named tensor ``node`` made an input (what fed it is cut away), so that
    its adjoint is a plain gradient SymPy can take.

    >>> from graphs.models import model
    >>> cut = cut_at(model("attention", {"n": 2, "d_k": 1}), "S")
    >>> cut.graph.nodes["S"]["op"], "Q" in cut.graph
    ('input', False)
    """
    graph = model.graph.copy()
    graph.remove_edges_from(list(graph.in_edges(node)))
    graph.nodes[node].update(op="input", role="input", args=(), params={}, entries=graph.nodes[node]["label"], domain="real")
    keep = nx.ancestors(graph, model.output) | {model.output}
    return dataclasses.replace(model, graph=graph.subgraph(keep).copy())


def named_intermediates(model: Model) -> list[str]:
    """Named tensors between the inputs and the output, whose adjoints reverse mode also reports."""
    adjoints = backprop(model)
    return [n for n in adjoints.order
            if model.graph.nodes[n]["label"] and model.graph.nodes[n]["op"] != "input" and n != model.output]


def check_model(
    name: str, sizes: Mapping[str, int], model: Model | None = None, exact: bool = True,
    only: Sequence[str] | None = None,
) -> ModelCheck:
    """Check every adjoint of the named model at ``sizes`` (or of ``model``, built at those sizes).

    ``exact=False`` skips the zero test and compares at random points to 30 digits: ``numeric``
    at best, for models whose entrywise expressions are too large to reduce. ``only`` restricts
    the comparison to some inputs.

    >>> check_model("attention", {"n": 2, "d_k": 1}).kind
    'proved'
    """
    model = model or build_model(name, sizes)
    adjoints = backprop(model)
    values = explicit_values(model)
    out_shape = tuple(int(s) for s in model.graph.nodes[model.output]["shape"])
    out = values[model.graph.nodes[model.output]["value"]]
    if model.seed == "1":
        seed_values, g = {}, sp.Matrix([[1]])
    else:
        g = matrix(model.seed, *out_shape)
        seed_values = {adjoints.seed: g}
    known = {**values, **seed_values}
    for node in adjoints.order:  # output first: a consumer's adjoint is explicit before it is used
        data = model.graph.nodes[node]
        if data["label"] and data["op"] != "input" and node != model.output:
            known[adjoint_symbol(data["label"], data["shape"])] = explicit(adjoints.local[node], known)
    for seed, source in enumerate(model.sources):
        if source not in adjoints.local or (only is not None and source not in only):
            continue  # no path to the output: its gradient is 0 and nothing claims otherwise
        data = model.graph.nodes[source]
        derived = vjp_entrywise(out, values[data["value"]], g)
        claimed = explicit(adjoints.local[source], known)
        compare = compare_matrices if exact else compare_numerically
        outcome = compare(derived, claimed, seed=seed, where=f"d{source}: ")
        if outcome.kind == "failed" or (exact and outcome.kind != "proved"):
            return ModelCheck(model.name, dict(sizes), outcome.kind, outcome.detail)
    return ModelCheck(model.name, dict(sizes), "proved" if exact else "numeric",
                      "" if exact else "compared at random points to 30 digits (no zero test)")


# Models too deep or too large to write out entry by entry (a forward's stack of layers): their check
# is given by the layer that can run one (verify/expression.py: the compiled gradient against torch
# autograd at random points, which is ``numeric`` at best).
NUMERIC_CHECKS: dict[str, Callable[[], list[ModelCheck]]] = {}


def check_all(name: str) -> list[ModelCheck]:
    """The model's checks at each of its check sizes: the inputs' adjoints, then (for models
    checked exactly) every named intermediate's, each with the model cut at that tensor."""
    if name in NUMERIC_CHECKS:
        return NUMERIC_CHECKS[name]()
    spec = MODELS[name]
    checks = []
    for sizes in spec.check_sizes:
        checks.append(check_model(name, sizes, exact=spec.exact))
        if not spec.exact:
            continue
        whole = build_model(name, sizes)
        for node in named_intermediates(whole):
            check = check_model(name, sizes, model=cut_at(whole, node), only=(node,))
            checks.append(dataclasses.replace(check, detail=f"adjoint of {node}: {check.detail}" if check.detail else ""))
    return checks
