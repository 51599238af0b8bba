"""Route 2's answer for a catalog entry: matrix-form gradients with the status they earned.

A gradient from the graph route is ``proved`` (for every size) when every rule its model uses
is proven entrywise (graphs/prove.py) and the model's adjoints agree exactly with
the exact entrywise derivative at its check sizes (graphs/check.py); ``numeric`` when the model check could
only compare numbers; ``failed`` with the first failure otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from derive.types import Status

from .backprop import backprop
from .check import check_all
from .models import MODELS, models_for_entry
from .models import model as build_model
from .prove import rule_proofs

__all__ = ["MatrixResult", "graph_results", "model_status", "tree_size"]

_SHOW_EXPANDED_UP_TO = 40  # nodes of the printed tree: beyond this the local form reads better


@dataclass(frozen=True)
class MatrixResult:
    """One input's gradient from reverse mode, in matrix form at symbolic sizes."""

    model: str
    target: str  # "dQ"
    wrt: str  # "Q"
    local: sp.Basic  # in terms of named adjoints (dS)
    expanded: sp.Basic | None  # in terms of the seed and forward values; None when too long to read
    status: Status
    intermediate: bool = False  # the adjoint of a named tensor inside the model (dS), not of an input
    notes: tuple[str, ...] = ()

    # Jupyter's displays (gradproof/notebook.py, imported on use: graphs/ never imports gradproof)
    def _repr_html_(self) -> str:
        from gradproof.notebook import matrix_result_html

        return matrix_result_html(self)

    def _repr_latex_(self) -> str:
        from gradproof.notebook import matrix_result_latex

        return matrix_result_latex(self)


def tree_size(expr: sp.Basic) -> int:
    """Nodes of ``expr`` as a printed tree, counted without walking shared subtrees twice.

    >>> x = sp.Symbol("x")
    >>> tree_size(x * (x + 1))
    5
    """
    sizes: dict[int, int] = {}

    def size(e: sp.Basic) -> int:
        if id(e) not in sizes:
            sizes[id(e)] = 1 + sum(size(a) for a in e.args)
        return sizes[id(e)]

    return size(expr)


def model_status(name: str) -> Status:
    """The status a model's gradients earn: its rules' proofs and its entrywise checks together."""
    spec = MODELS[name]
    m = build_model(name)
    proofs = rule_proofs(m.ops)
    grid = tuple(spec.check_sizes)
    for proof in proofs.values():
        if not proof.ok:
            return Status("failed", grid, f"rule {proof.rule} at {proof.shapes[-1]}: {proof.detail}")
    checks = check_all(name)
    for check in checks:
        if check.kind == "failed":
            shown = ", ".join(f"{k}={v}" for k, v in check.sizes.items())
            return Status("failed", grid, f"model check at {shown}: {check.detail}")
    rules = f"{len(proofs)} rules ({', '.join(sorted(proofs))}) proven entrywise"
    if all(check.ok for check in checks):
        return Status("proved", grid, f"matrix form at symbolic sizes by reverse mode; {rules}; every adjoint "
                      f"checked entrywise against the exact derivative ({len(checks)} checks at {len(grid)} "
                      f"size{'s' if len(grid) != 1 else ''})")
    return Status("numeric", grid, f"{rules}; the whole model agreed only numerically at its check sizes")


def graph_results(entry: str, statuses: Mapping[str, Status] | None = None) -> list[MatrixResult]:
    """Matrix-form gradients of every input with a gradient, for a catalog entry or a model name.

    ``statuses`` holds models' statuses already established by :func:`model_status` (in other
    processes, say); those models are not checked again.

    >>> [(r.target, r.intermediate) for r in graph_results("perceptron")]
    [('dw', False), ('db', False), ('dd', True)]
    """
    results = []
    for name in models_for_entry(entry):
        m = build_model(name)
        adjoints = backprop(m)
        status = statuses[name] if statuses and name in statuses else model_status(name)
        named = [n for n in adjoints.order if m.graph.nodes[n]["label"] and n not in m.sources and n != m.output]
        for node in [s for s in m.sources if s in adjoints.local] + named:
            expanded = adjoints.adjoint[node]
            label = m.graph.nodes[node]["label"]
            results.append(MatrixResult(
                model=name, target=f"d{label}", wrt=label, local=adjoints.local[node],
                expanded=expanded if tree_size(expanded) <= _SHOW_EXPANDED_UP_TO else None, status=status,
                intermediate=node not in m.sources, notes=m.notes,
            ))
    return results
