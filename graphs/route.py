"""Route 2's answer for a catalog entry: matrix-form gradients with the status they earned.

A model's matrix form is reverse mode (the chain rule) over its ops' VJP rules, so it is only as
strong as they are. It is ``proved`` (every size) when every rule it uses is proved at symbolic
shapes in index form (graphs/prove_index.py); the model's adjoints are then also checked against
the exact entrywise derivative at its check sizes (graphs/check.py), as corroboration. When some
rule is proved only at example shapes, the form is ``proved`` only where the whole model was
checked exactly (``proved n<=N``, the check sizes), and the detail names those rules; ``numeric``
when that check could only compare numbers; ``failed`` with the first failure otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from derive.types import Status, size_label

from .backprop import backprop
from .check import check_all
from .models import MODELS, models_for_entry
from .models import model as build_model
from .prove import RuleProof, rule_proofs
from .prove_index import index_proof

__all__ = ["MatrixResult", "RuleBasis", "every_size_counts", "graph_results", "model_rules", "model_status", "tree_size"]

_SHOW_EXPANDED_UP_TO = 40  # nodes of the printed tree: beyond this the local form reads better


@dataclass(frozen=True)
class RuleBasis:
    """One rule a matrix form rests on: ``sizes`` is ``"every"`` (index form at symbolic shapes)
    or the shapes of its entrywise proofs; ``kind`` is that proof's outcome."""

    rule: str
    kind: str  # "proved", "numeric" or "failed"
    sizes: str | tuple[str, ...]
    detail: str = ""

    @property
    def every_size(self) -> bool:
        return self.kind == "proved" and self.sizes == "every"

    def text(self) -> str:
        """``matmul (every size)`` or ``max_pool (shapes 2x2 (k=2), 4x6 (k=2))``."""
        where = "every size" if self.sizes == "every" else "shapes " + ", ".join(self.sizes)
        return f"{self.rule} ({where})" if self.kind == "proved" else f"{self.rule} ({self.kind} at {where})"


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
    rules: tuple[RuleBasis, ...] = ()  # the rules the form rests on, and how each was proved

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


def model_rules(name: str) -> tuple[RuleBasis, ...]:
    """The rules a model's matrix form rests on, each with how it was proved (sorted by name).

    >>> [b.text() for b in model_rules("perceptron")][:2]
    ['add (every size)', 'matmul (every size)']
    """
    bases = []
    for op in sorted(set(build_model(name).ops)):
        proof = index_proof(op)
        if proof.ok:
            bases.append(RuleBasis(op, "proved", "every"))
        else:
            shaped: RuleProof = rule_proofs((op,))[op]
            bases.append(RuleBasis(op, shaped.kind, shaped.shapes, shaped.detail or proof.detail))
    return tuple(bases)


def every_size_counts() -> dict[str, int]:
    """How many VJP rules are proved at every size, and how many catalog models' matrix forms
    rest only on such rules (so are proved at every size by the chain rule; their entrywise
    checks are corroboration and are not run here). For benchmarks/run.py; a few seconds.

    >>> counts = every_size_counts()
    >>> counts["rules_every_size"] <= counts["rules"] and counts["models_every_size"] <= counts["models"]
    True
    """
    from .models import CATALOG_MODELS
    from .ops import RULES
    from .prove_index import every_size_rules

    models = [all(b.every_size for b in model_rules(name)) for name in CATALOG_MODELS]
    return {"rules": len(RULES), "rules_every_size": len(every_size_rules()),
            "models": len(models), "models_every_size": sum(models)}


def model_status(name: str) -> Status:
    """The status a model's gradients earn: its rules' proofs and its entrywise checks together.

    >>> status = model_status("softmax_ce")
    >>> status.label, status.detail.startswith("matrix form at every size")
    ('proved', True)
    """
    spec = MODELS[name]
    grid = tuple(spec.check_sizes)
    bases = model_rules(name)
    for basis in bases:
        if basis.kind == "failed":
            return Status("failed", grid, f"rule {basis.rule} at {basis.sizes[-1]}: {basis.detail}")
    checks = check_all(name)
    for check in checks:
        if check.kind == "failed":
            shown = ", ".join(f"{k}={v}" for k, v in check.sizes.items())
            return Status("failed", grid, f"model check at {shown}: {check.detail}")
    exact = all(check.ok for check in checks)
    where = size_label(grid)
    count = f"{len(checks)} check{'s' if len(checks) != 1 else ''}"
    checked = (f"{count} of every adjoint against the exact derivative at {where}" if exact
               else f"{count} at {where} that agreed only numerically")
    every = [b.rule for b in bases if b.every_size]
    rules = f"{len(bases)} rule{'s' if len(bases) != 1 else ''}"
    if len(every) == len(bases):
        return Status("proved", grid, f"matrix form at every size: reverse mode (chain rule) over {rules}, "
                      f"each proved at every size in index form ({', '.join(every)}); corroborated by {checked}")
    partial = "; ".join(b.text() for b in bases if not b.every_size)
    rest = f"; the other {len(every)} at every size in index form ({', '.join(every)})" if every else ""
    if exact:
        return Status("proved_sizes", grid, f"matrix form proved entrywise at {where} only ({count} of every adjoint "
                      f"against the exact derivative), not at every size: it rests on rules proved only at shapes: "
                      f"{partial}{rest}")
    return Status("numeric", grid, f"{checked}; it rests on rules proved only at shapes: {partial}{rest}")


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
        bases = model_rules(name)
        named = [n for n in adjoints.order if m.graph.nodes[n]["label"] and n not in m.sources and n != m.output]
        for node in [s for s in m.sources if s in adjoints.local] + named:
            expanded = adjoints.adjoint[node]
            label = m.graph.nodes[node]["label"]
            results.append(MatrixResult(
                model=name, target=f"d{label}", wrt=label, local=adjoints.local[node],
                expanded=expanded if tree_size(expanded) <= _SHOW_EXPANDED_UP_TO else None, status=status,
                intermediate=node not in m.sources, notes=m.notes, rules=bases,
            ))
    return results
