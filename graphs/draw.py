"""Pictures of a model's graph: Graphviz when ``dot`` is installed, matplotlib otherwise.

Tensors are boxes (inputs at the top: parameters blue, data grey; named values white) with their
shapes; ops are ellipses between them. With ``adjoints=True`` every named tensor also shows its
adjoint, ``dA = ...``, in the local form reverse mode computed (in terms of the adjoints below
it). Unnamed intermediate tensors are folded into the op that makes them, so the picture shows
the lecture's quantities and the ops between them. Layers run top to bottom, inputs first.

Formats: ``svg`` and ``png`` (a picture), ``dot`` (Graphviz source), ``json`` (networkx
node-link data with formulas as text and LaTeX).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from dataclasses import dataclass

import networkx as nx
import sympy as sp

from .backprop import Adjoints, backprop
from .graph import Model
from .text import formula_text

__all__ = ["FORMATS", "render", "picture_graph", "to_dot", "to_json", "dot_available"]

FORMATS = ("svg", "png", "dot", "json")
_FILL = {"parameter": "#dbeafe", "input": "#dcfce7", "constant": "#e5e7eb", "value": "#ffffff"}
_OP_SYMBOL = {
    "add": "+", "sub": "−", "neg": "−x", "mul": "⊙", "matmul": "@", "transpose": "ᵀ", "scale": "×c",
    "add_row": "+ row", "add_col": "+ col", "mul_row": "⊙ row", "mul_col": "⊙ col",
}
_WRAP = 46


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` is on the PATH."""
    return shutil.which("dot") is not None


def _shape_text(shape: tuple) -> str:
    return " × ".join(formula_text(sp.factor(s)) for s in shape)


def _op_text(data: dict) -> str:
    text = _OP_SYMBOL.get(data["op"], data["op"])
    params = data["params"]
    if data["op"] == "scale":
        text = f"× {formula_text(params['factor'])}"
    elif data["op"] == "shift":
        text = f"+ {formula_text(params['constant'])}"
    elif "k" in params:
        text = f"{text} {params['k']}×{params['k']}"
    return text


@dataclass(frozen=True)
class PictureNode:
    key: str
    kind: str  # "tensor" or "op"
    title: str
    detail: str  # shape, and the adjoint when asked for
    role: str


def picture_graph(model: Model, adjoints: Adjoints | None = None) -> nx.DiGraph:
    """The graph as drawn: tensor nodes and op nodes, unnamed intermediates folded into their op.

    >>> from graphs.models import model
    >>> g = picture_graph(model("attention"))
    >>> sorted(n for n, d in g.nodes(data=True) if d["node"].kind == "tensor")
    ['A', 'K', 'O', 'Q', 'S', 'V']
    """
    graph = model.graph
    picture = nx.DiGraph()
    for node, data in graph.nodes(data=True):
        named = bool(data["label"])
        if data["op"] != "input":
            op_key = f"op:{node}"
            title = _op_text(data)
            detail = "" if named else _shape_text(data["shape"])
            picture.add_node(op_key, node=PictureNode(op_key, "op", title, detail, "op"))
        if named:
            lines = [_shape_text(data["shape"])]
            if adjoints is not None and node in adjoints.local:
                lines += textwrap.wrap(f"d{data['label']} = {formula_text(adjoints.local[node])}", _WRAP)
            picture.add_node(node, node=PictureNode(node, "tensor", data["label"], "\n".join(lines), data["role"]))
            if data["op"] != "input":
                picture.add_edge(f"op:{node}", node)
    for node, data in graph.nodes(data=True):
        if data["op"] == "input":
            continue
        for arg in data["args"]:
            source = arg if graph.nodes[arg]["label"] else f"op:{arg}"
            picture.add_edge(source, f"op:{node}")
    return picture


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(model: Model, adjoints: Adjoints | None = None) -> str:
    """Graphviz source for the picture (top to bottom).

    >>> from graphs.models import model
    >>> "softmax" in to_dot(model("attention"))
    True
    """
    picture = picture_graph(model, adjoints)
    lines = [
        f'digraph "{_dot_escape(model.name)}" {{',
        "  rankdir=TB; nodesep=0.35; ranksep=0.45;",
        f'  label="{_dot_escape(model.title)}"; labelloc=t; fontname="Helvetica"; fontsize=16;',
        '  node [fontname="Helvetica", fontsize=12]; edge [color="#555555", arrowsize=0.7];',
    ]
    for key, data in picture.nodes(data=True):
        item: PictureNode = data["node"]
        label = item.title + (f"\\n{_dot_escape(item.detail)}" if item.detail else "")
        if item.kind == "tensor":
            style = f'shape=box, style="rounded,filled", fillcolor="{_FILL[item.role]}"'
            if item.detail.count("\n"):
                label = item.title + "\\n" + "\\l".join(_dot_escape(item.detail).split("\\n")) + "\\l"
        else:
            style = 'shape=ellipse, style=filled, fillcolor="#fef3c7", fontsize=11'
        lines.append(f'  "{_dot_escape(key)}" [label="{label}", {style}];')
    for source, target in picture.edges:
        lines.append(f'  "{_dot_escape(source)}" -> "{_dot_escape(target)}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(model: Model, adjoints: Adjoints | None = None) -> str:
    """networkx node-link JSON of the model, formulas as Unicode text and LaTeX."""
    graph = nx.DiGraph(name=model.name, title=model.title, output=model.output, seed=model.seed)
    for node, data in model.graph.nodes(data=True):
        entry = {
            "op": data["op"], "label": data["label"], "role": data["role"],
            "shape": [str(s) for s in data["shape"]],
            "params": {k: str(v) for k, v in data["params"].items()},
            "args": list(data["args"]),
        }
        if data["op"] != "input":
            entry["formula"] = formula_text(data["formula"])
            entry["formula_latex"] = sp.latex(data["formula"])
        if adjoints is not None and node in adjoints.local:
            entry["adjoint_local"] = formula_text(adjoints.local[node])
            entry["adjoint_local_latex"] = sp.latex(adjoints.local[node])
        graph.add_node(node, **entry)
    for source, target, data in model.graph.edges(data=True):
        graph.add_edge(source, target, argnum=data["argnum"])
    return json.dumps(nx.node_link_data(graph, edges="links"), indent=2, ensure_ascii=False)


def _layers(picture: nx.DiGraph) -> list[list[str]]:
    """Nodes by depth (longest path from an input), each layer ordered by its parents' positions."""
    depth: dict[str, int] = {}
    order = list(nx.topological_sort(picture))
    for node in order:
        depth[node] = max((depth[p] + 1 for p in picture.predecessors(node)), default=0)
    for node in reversed(order):  # an input sits just above its first consumer, not at the very top
        if picture.in_degree(node) == 0 and picture.out_degree(node):
            depth[node] = min(depth[c] for c in picture.successors(node)) - 1
    layers: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for node in picture.nodes:
        layers[depth[node]].append(node)
    position: dict[str, float] = {}
    for layer in layers:
        def barycentre(node: str) -> float:
            parents = [position[p] for p in picture.predecessors(node)]
            return sum(parents) / len(parents) if parents else 0.0
        layer.sort(key=barycentre)
        for rank, node in enumerate(layer):
            position[node] = rank - (len(layer) - 1) / 2
    return layers


def _matplotlib(model: Model, adjoints: Adjoints | None, fmt: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"  # keep labels as text: smaller, searchable, selectable

    picture = picture_graph(model, adjoints)
    layers = _layers(picture)
    width = max(len(layer) for layer in layers)
    x_step, y_step = (4.2 if adjoints else 2.6), (1.9 if adjoints else 1.2)
    coords = {
        node: ((rank - (len(layer) - 1) / 2) * x_step, -depth * y_step)
        for depth, layer in enumerate(layers)
        for rank, node in enumerate(layer)
    }
    figure, axes = plt.subplots(figsize=(max(6.0, width * x_step * 0.9), max(4.0, len(layers) * y_step * 0.85)))
    axes.set_axis_off()
    axes.set_title(model.title, fontsize=13)
    for source, target in picture.edges:
        axes.annotate("", xy=coords[target], xytext=coords[source],
                      arrowprops={"arrowstyle": "-|>", "color": "#555555", "shrinkA": 18, "shrinkB": 18, "lw": 0.9})
    for node, data in picture.nodes(data=True):
        item: PictureNode = data["node"]
        text = item.title + (f"\n{item.detail}" if item.detail else "")
        text = text.replace("𝟏", "1")  # DejaVu Sans has no bold digit
        if item.kind == "tensor":
            box = {"boxstyle": "round,pad=0.4", "facecolor": _FILL[item.role], "edgecolor": "#333333"}
        else:
            box = {"boxstyle": "ellipse,pad=0.3", "facecolor": "#fef3c7", "edgecolor": "#a16207"}
        axes.text(*coords[node], text, ha="center", va="center", fontsize=8.5 if item.kind == "tensor" else 8, bbox=box)
    xs = [x for x, _ in coords.values()]
    ys = [y for _, y in coords.values()]
    axes.set_xlim(min(xs) - x_step * 0.8, max(xs) + x_step * 0.8)
    axes.set_ylim(min(ys) - y_step * 0.8, max(ys) + y_step * 0.6)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", dpi=150)
    plt.close(figure)
    return buffer.getvalue()


def render(model: Model, fmt: str = "svg", adjoints: bool = False, engine: str = "auto") -> bytes:
    """The picture (or source) of a model in one of ``FORMATS``.

    ``engine`` is ``auto`` (Graphviz when ``dot`` is installed, else matplotlib), ``dot`` or
    ``matplotlib``.

    >>> from graphs.models import model
    >>> render(model("perceptron"), "svg", engine="matplotlib")[:5]
    b'<?xml'
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    adjoint_forms = backprop(model) if adjoints else None
    if fmt == "dot":
        return to_dot(model, adjoint_forms).encode()
    if fmt == "json":
        return to_json(model, adjoint_forms).encode()
    use_dot = dot_available() if engine == "auto" else engine == "dot"
    if use_dot:
        if not dot_available():
            raise RuntimeError("Graphviz's dot is not installed; use engine='matplotlib' or install graphviz")
        result = subprocess.run(["dot", f"-T{fmt}"], input=to_dot(model, adjoint_forms).encode(),
                                capture_output=True, check=False, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout
    return _matplotlib(model, adjoint_forms, fmt)
