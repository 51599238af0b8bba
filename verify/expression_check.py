"""The numeric route for a forward written as an expression: its compiled gradient against autograd.

A ``Forward`` (verify/expression.py) is registered among the graph models and turned into one
``Target`` per input with a gradient, so that verify/check.py's ``check`` runs it exactly as it
runs a catalog target's matrix route: Hypothesis draws the sizes (each size name from 1..5, only
sizes the forward can be built at, distinct where they can be, so a swapped transpose shows), a
generator seed and a scale; every input is drawn from its declared domain (strategies.py, batched);
the formula side is the model's reverse-mode gradient compiled to batched torch (compile.py); the
reference side is torch autograd of the forward run op by op with the rule table's torch column
(graph_forward.py), which knows nothing of the VJPs; ``compare`` judges them with ``TOLERANCES``.

>>> from verify.expression import read_forward
>>> f = read_forward("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["W"])
>>> [(r.target, r.status) for r in check_forward(f, examples=3)]
[('dL/dW', 'passed')]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import sympy as sp
import torch

from derive.errors import GradproofError
from graphs.graph import Model

from .check import Record, Tensors, check
from .expression import Forward, register
from .graph_forward import loss
from .targets import EntrywiseRoute, Input, MatrixRoute, Target

__all__ = ["LARGE_SIZES", "SIZE_RANGE", "check_forward", "forward_targets"]

# Each size name is drawn from this range: small enough that 50 examples take a second, wide
# enough that sizes differ (a transpose that n = d hides) and that a size of 1 (a row, a column)
# is tried.
SIZE_RANGE = (1, 5)
# ``size="large"``: one point at a production-like scale, each size name a different one of these
# in turn (equal sizes would hide a transpose), checked along random directions as catalog targets are.
LARGE_SIZES = (64, 48, 32, 56, 40, 24)


def _dims(shape: tuple[sp.Expr, ...]) -> tuple[str | int, ...] | Callable[[Mapping[str, int]], tuple[int, ...]]:
    """A model shape as a target's: size names for symbols, integers as they are, and a function of
    the drawn sizes where a size is arithmetic of them (``2 d_k``).

    >>> n, d = sp.symbols("n d_k")
    >>> _dims((n, sp.Integer(3))), _dims((n, 2 * d))({"n": 4, "d_k": 3})
    (('n', 3), (4, 6))
    """
    if all(isinstance(d, sp.Symbol | sp.Integer) for d in shape):
        return tuple(d.name if isinstance(d, sp.Symbol) else int(d) for d in shape)

    def at(sizes: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(int(sp.sympify(d).subs({s: sizes[s.name] for s in sp.sympify(d).free_symbols})) for d in shape)

    return at


def _buildable(forward: Forward) -> Callable[[dict[str, int]], bool]:
    """Sizes the forward can be built at (a kernel wider than its map cannot); each answer cached."""
    seen: dict[tuple[tuple[str, int], ...], bool] = {}

    def rule(sizes: dict[str, int]) -> bool:
        key = tuple(sorted(sizes.items()))
        if key not in seen:
            try:
                graph = forward.build(sizes).graph
            except GradproofError:  # ShapeError and ExpressionError both are
                seen[key] = False
            else:  # a kernel wider than its map builds, with a size of 0 or less: not a forward torch can run
                seen[key] = all(int(d) >= 1 for _, data in graph.nodes(data=True) for d in data["shape"])
        return seen[key]

    return rule


def _autograd(model: Model, wrt: str) -> Callable[[Tensors, Mapping[str, int]], torch.Tensor]:
    """The reference: torch autograd of the op-by-op forward, with respect to ``wrt``, per batch element.

    Only what feeds the loss is run: a statement the loss does not use (``A = W W``) may read an
    input the loss does not, which no example then holds.
    """
    import dataclasses

    import networkx as nx

    keep = nx.ancestors(model.graph, model.output) | {model.output}
    model = dataclasses.replace(model, graph=model.graph.subgraph(keep).copy())

    from .reference import gradient

    return lambda t, sizes: gradient(lambda **leaves: loss(model, leaves), wrt, t)


def forward_targets(forward: Forward) -> list[Target]:
    """One target per input with a gradient that reaches the loss, named ``dL/dW`` by the loss's
    name; the forward is registered as a graph model (``register``) on the way.

    The target has no entrywise route of its own (that is derive's closed form, which a forward
    does not have; its exact check is graphs/check.py's): the placeholder holds the forward's check
    sizes and is never run, since only the matrix route is checked.

    >>> from verify.expression import read_forward
    >>> f = read_forward("L = sum(softmax(X W))", {"X": "n,d", "W": "d,k"}, wrt=["W"])
    >>> [(t.key.split(":")[1], [(i.name, i.shape) for i in t.inputs]) for t in forward_targets(f)]
    [('dL/dW', [('X', ('n', 'd')), ('W', ('d', 'k'))])]
    """
    name = register(forward)
    model = forward.build()
    graph = model.graph
    inputs = tuple(
        Input(data["label"], _dims(data["shape"]), data.get("kind", "real"))
        for _, data in graph.nodes(data=True) if data["op"] == "input"
    )
    reaching = {graph.nodes[n]["label"] for n in graph if graph.nodes[n]["op"] == "input"} - _unused(model)
    ranges = dict.fromkeys(forward.size_names, SIZE_RANGE)
    large = {n: LARGE_SIZES[k % len(LARGE_SIZES)] for k, n in enumerate(forward.size_names)}
    buildable = _buildable(forward)
    loss_name = graph.nodes[model.output]["label"] or "L"
    targets = []
    for source in model.sources:
        label = graph.nodes[source]["label"]
        if label not in reaching:
            continue
        targets.append(Target(
            entry=name, name=f"d{loss_name}/d{label}", inputs=inputs, reference=_autograd(model, label),
            entrywise=EntrywiseRoute(sizes=forward.check_sizes()[0]),
            matrix=MatrixRoute(model=name, adjoints=(label,), feed=dict, size_rule=buildable),
            small=ranges, large=large,
        ))
    return targets


def _unused(model: Model) -> set[str]:
    """Labels of inputs with no path to the loss (their gradient is 0; nothing is claimed)."""
    import networkx as nx

    graph = model.graph
    feeding = nx.ancestors(graph, model.output)
    return {graph.nodes[n]["label"] for n in graph if graph.nodes[n]["op"] == "input" and n not in feeding}


def check_forward(
    forward: Forward, examples: int = 50, device: str = "cpu", dtype: torch.dtype = torch.float64,
    seed: int | None = None, size: Literal["small", "large"] = "small",
) -> list[Record]:
    """Check the compiled gradient of every input with a gradient against autograd of the forward.

    One ``Record`` per input (verify/check.py's: its text and JSON renderers print it), in the
    order the forward declares them; an input with a gradient that does not reach the loss gets a
    record that was not run (``passed`` None) saying so. ``seed`` None draws Hypothesis'
    derandomized examples (the same every run). ``size="large"`` checks one point, ``LARGE_SIZES``,
    along random directions (check.py's ``vjp`` mode), where the forward can be built there.
    """
    if size not in ("small", "large"):
        raise ValueError(f"size {size!r}: small or large")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        # said here: inside the check, torch's own AssertionError would read as a failed gradient
        raise ValueError(f"device {device!r}: CUDA is not available on this machine")
    targets = {t.matrix.adjoints[0]: t for t in forward_targets(forward) if t.matrix}
    point = next(iter(targets.values())).large if targets else {}
    if size == "large" and targets and not _buildable(forward)(dict(point)):
        shown = ", ".join(f"{k}={v}" for k, v in point.items())
        raise ValueError(f"the forward cannot be built at the large sizes {shown}; check it at small sizes")
    model = forward.build()
    loss_name = model.graph.nodes[model.output]["label"] or "L"
    records = []
    for source in model.sources:
        label = model.graph.nodes[source]["label"]
        if label in targets:
            records.append(check(targets[label], "matrix", device=device, dtype=dtype, examples=examples, seed=seed,
                                 size=size))
        else:
            records.append(Record(forward.name, f"d{loss_name}/d{label}", "matrix", device,
                                  str(dtype).removeprefix("torch."), 0, 0.0, 0.0, "", seed, None,
                                  note=f"{label} does not reach {loss_name}: its gradient is 0"))
    return records
