"""Pictures of a model's graph: Graphviz when ``dot`` is installed, matplotlib otherwise.

Tensors are boxes with their shapes, coloured by role (``ROLE_COLOURS``: parameters blue, inputs
green, constant data grey, named values white); ops are yellow ellipses between them.
``legend(model)`` names the colours a given picture uses, for its caption. With
``adjoints=True`` every named tensor also shows its adjoint, ``dA = ...``, in the local form
reverse mode computed (in terms of the adjoints below it). Unnamed intermediate tensors are
folded into the op that makes them, so the picture shows the lecture's quantities and the ops
between them. Layers run top to bottom, inputs first.

Formats: ``svg``, ``png`` and ``pdf`` (a picture), ``dot`` (Graphviz source), ``json``
(networkx node-link data with formulas as text and LaTeX). ``format_for_path`` reads the
format from a file name.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

import networkx as nx
import sympy as sp

from .backprop import Adjoints, backprop
from .graph import Model
from .text import formula_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FORMATS", "ROLE_COLOURS", "dot_available", "format_for_path", "legend", "picture_graph", "render", "roles_shown",
    "to_dot", "to_json", "wrap_formula",
]

FORMATS = ("svg", "png", "pdf", "dot", "json")
# File extensions (lower case) -> format; .gv is Graphviz's own extension for DOT source.
_EXTENSIONS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot", ".json": "json"}
# role -> (fill colour, its name in a caption). "op" is the ellipses' role in the picture.
ROLE_COLOURS: dict[str, tuple[str, str]] = {
    "parameter": ("#dbeafe", "blue"),
    "input": ("#dcfce7", "green"),
    "constant": ("#e5e7eb", "grey"),
    "value": ("#ffffff", "white"),
    "op": ("#fef3c7", "yellow"),
}
# role -> what its nodes are, in words for a caption (plural, lower case).
ROLE_DESCRIPTIONS: dict[str, str] = {
    "parameter": "parameters",
    "input": "inputs with a gradient",
    "constant": "data without a gradient",
    "value": "named intermediate tensors",
    "op": "operations",
}
_OP_SYMBOL = {
    "add": "+", "sub": "−", "neg": "−x", "mul": "⊙", "matmul": "@", "transpose": "transpose", "scale": "×c",
    "add_row": "+ row", "add_col": "+ col", "mul_row": "⊙ row", "mul_col": "⊙ col",
}
_WRAP = 34  # characters an adjoint line wraps at: densenet 641 -> 520 pt wide in Graphviz (9 px text on a phone)
_CELL_PADDING = 2  # points above and below each label line in Graphviz: room for an underscore


def format_for_path(path: str, requested: str | None = None) -> str:
    """The format to write ``path`` in: its extension's, which an explicit ``requested`` must match.

    The extension is read case-insensitively (``.svg .png .pdf .dot .gv .json``). A path without
    an extension, or ``-`` (standard output), takes ``requested`` (``svg`` when none).

    >>> format_for_path("attention.PDF")
    'pdf'
    >>> format_for_path("-", "json")
    'json'
    >>> format_for_path("a.pdf", "svg")
    Traceback (most recent call last):
    ValueError: a.pdf ends in .pdf, which is pdf, but svg was asked for; drop one or make them agree
    """
    if requested is not None and requested not in FORMATS:
        raise ValueError(f"unknown format {requested!r}; use one of {', '.join(FORMATS)}")
    suffix = "" if path == "-" else PurePath(path).suffix.lower()
    if not suffix:
        return requested or "svg"
    if suffix not in _EXTENSIONS:
        raise ValueError(f"cannot write a graph as {suffix} ({path}); use one of {', '.join(_EXTENSIONS)}")
    fmt = _EXTENSIONS[suffix]
    if requested is not None and requested != fmt:
        raise ValueError(f"{path} ends in {suffix}, which is {fmt}, but {requested} was asked for; drop one or make them agree")
    return fmt


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


def wrap_formula(text: str, width: int) -> list[str]:
    """A one-line formula as lines of at most ``width`` characters where a space allows, broken
    where the formula reads best: outside brackets first, then before an operator, then late.

    Plain word wrapping split ``1[X_0 W_1 > 0]`` into ``1[X_0 W_1 >`` and ``0]``.

    >>> wrap_formula("dX_0 = dX_1[:, 0:d] + (dH_1 ⊙ 1[X_0 W_1 > 0]) W_1ᵀ", 34)
    ['dX_0 = dX_1[:, 0:d]', '+ (dH_1 ⊙ 1[X_0 W_1 > 0]) W_1ᵀ']
    >>> wrap_formula("dW_1 = X_0ᵀ (dH_1 ⊙ 1[X_0 W_1 > 0])", 34)
    ['dW_1 = X_0ᵀ', '(dH_1 ⊙ 1[X_0 W_1 > 0])']
    """
    lines = []
    while len(text) > width:
        depth, best = 0, None
        for i, char in enumerate(text):
            depth += (char in "([") - (char in ")]")
            if char == " " and width // 3 <= i <= width:  # not so early that the line is a stub
                key = (depth, text[i + 1:i + 2] not in ("+", "-", "⊙", "−"), -i)
                best = min(best or key, key)
        if best is None:  # no space in reach: the last one before it, else the first one after it
            cut = text.rfind(" ", 0, width + 1)
            cut = cut if cut > 0 else text.find(" ", width)
            if cut <= 0:
                break
        else:
            cut = -best[2]
        lines.append(text[:cut])
        text = text[cut + 1:]
    return [*lines, text]


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
                lines += wrap_formula(f"d{data['label']} = {formula_text(adjoints.local[node])}", _WRAP)
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


def roles_shown(model: Model) -> list[str]:
    """The roles (keys of ``ROLE_COLOURS``) that occur in the model's picture, in the table's order.

    >>> from graphs.models import model
    >>> roles_shown(model("attention"))
    ['parameter', 'value', 'op']
    """
    present = {data["node"].role for _, data in picture_graph(model).nodes(data=True)}
    return [role for role in ROLE_COLOURS if role in present]


def legend(model: Model) -> list[tuple[str, str]]:
    """(what the nodes are, colour name) for each colour the model's picture uses: for a caption.

    >>> from graphs.models import model
    >>> legend(model("multihead_attention"))[:2]
    [('parameters', 'blue'), ('inputs with a gradient', 'green')]
    """
    return [(ROLE_DESCRIPTIONS[role], ROLE_COLOURS[role][1]) for role in roles_shown(model)]


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def html_label(item: PictureNode) -> str:
    """A node's Graphviz HTML-like label: one table row per line, the name in bold on top.

    Each line is its own cell with padding above and below, so the underscore of ``d_k`` has
    clear space before the next line; in a plain ``\\l``-separated label it touched the line
    below and read as an overbar (``dO = Ḡ``). Real ``<SUB>`` runs were tried and rejected:
    Graphviz places each run at an x it estimates with its own font metrics, and in a browser
    the subscript lands a few pixels off (``d  k``).

    >>> html_label(PictureNode("S", "tensor", "S", "n × n\\ndS = A ⊙ (dA - rowsum(dA ⊙ A))", "value"))[:82]
    '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2"><TR><TD><B>S</B>'
    """
    title = f"<B>{_html_escape(item.title)}</B>" if item.kind == "tensor" else _html_escape(item.title)
    rows = [f"<TR><TD>{title}</TD></TR>"]
    align = ' ALIGN="LEFT"' if item.kind == "tensor" else ""
    rows += [f"<TR><TD{align}>{_html_escape(line)}</TD></TR>" for line in item.detail.split("\n") if line]
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="{_CELL_PADDING}">{"".join(rows)}</TABLE>>'


def to_dot(model: Model, adjoints: Adjoints | None = None) -> str:
    """Graphviz source for the picture (top to bottom), labels as HTML-like tables.

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
        fill = ROLE_COLOURS[item.role][0]
        if item.kind == "tensor":
            style = f'shape=box, style="rounded,filled", fillcolor="{fill}", margin="0.1,0.04"'
        else:
            style = f'shape=ellipse, style=filled, fillcolor="{fill}", fontsize=11, margin="0.06,0.02"'
        lines.append(f'  "{_dot_escape(key)}" [label={html_label(item)}, {style}];')
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


# The matplotlib fallback's geometry, in points: the axes span the figure and one data unit is
# one point, so label sizes, gaps and arrowheads are exact and the figure is as big as its content.
_MPL_FONT = 10.5  # every label: 9.5 px when the widest figure (6 in) is scaled to a 390 px phone
_MPL_TITLE_FONT = 13.0
_MPL_MAX_WIDTH = 432.0  # 6 in; a wide layer wraps onto more rows, so the figure grows taller, not wider
_MPL_MARGIN, _MPL_PAD = 10.0, 5.0
_MPL_GAP_X, _MPL_GAP_Y = 14.0, 34.0  # the vertical gap leaves every edge room for its arrowhead
_MPL_LINESPACING = 1.4  # room under an underscore (d_k) before the next line
_MPL_ARROW = "-|>,head_length=0.5,head_width=0.22"
_MPL_ARROW_SCALE = 14.0  # head 7 pt long
_MPL_ARROW_GAP = 2.0  # the tip stops this far outside its target, so the target never hides it


@dataclass
class _Shape:
    """A node's outline in the matplotlib picture: a box or an ellipse, centred at (x, y)."""

    kind: str  # "box" or "ellipse"
    width: float
    height: float
    title_height: float = 0.0  # a box's bold name line, above its detail lines
    x: float = 0.0
    y: float = 0.0

    def exit_fraction(self, dx: float, dy: float) -> float:
        """The t at which the ray from the centre along (dx, dy) leaves the outline."""
        half_w, half_h = self.width / 2, self.height / 2
        if self.kind == "ellipse":
            return 1 / math.hypot(dx / half_w, dy / half_h)
        return min(half_w / abs(dx) if dx else math.inf, half_h / abs(dy) if dy else math.inf)


def _mpl_text(item: PictureNode) -> tuple[str, str]:
    """(title, detail) as matplotlib draws them; an op's two parts share one centred block."""
    clean = lambda text: text.replace("𝟏", "1")  # DejaVu Sans has no bold digit
    if item.kind == "op":
        return clean(item.title + (f"\n{item.detail}" if item.detail else "")), ""
    return clean(item.title), clean(item.detail)


def _measure(picture: nx.DiGraph) -> dict[str, tuple[float, float, float, float]]:
    """(title width, title height, detail width, detail height) of every node's text, in points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(dpi=72)  # at 72 dpi a pixel is a point
    renderer = FigureCanvasAgg(figure).get_renderer()
    sizes = {}
    for key, data in picture.nodes(data=True):
        item: PictureNode = data["node"]
        title, detail = _mpl_text(item)
        weight = "bold" if item.kind == "tensor" else "normal"
        box = figure.text(0, 0, title, fontsize=_MPL_FONT, fontweight=weight, linespacing=_MPL_LINESPACING).get_window_extent(renderer)
        sizes[key] = (box.width, box.height, 0.0, 0.0)
        if detail:
            more = figure.text(0, 0, detail, fontsize=_MPL_FONT, linespacing=_MPL_LINESPACING).get_window_extent(renderer)
            sizes[key] = (box.width, box.height, more.width, more.height)
    return sizes


def _shapes(picture: nx.DiGraph) -> dict[str, _Shape]:
    shapes = {}
    for key, (title_w, title_h, detail_w, detail_h) in _measure(picture).items():
        if picture.nodes[key]["node"].kind == "op":  # the ellipse round the text's box, plus padding
            shapes[key] = _Shape("ellipse", (title_w + 2 * _MPL_PAD) * math.sqrt(2), (title_h + 4) * math.sqrt(2))
        else:
            height = title_h + (detail_h + 2 if detail_h else 0) + 2 * _MPL_PAD
            shapes[key] = _Shape("box", max(title_w, detail_w) + 2 * _MPL_PAD, height, title_h)
    return shapes


def _gap(a: _Shape, b: _Shape) -> float:
    """Room between neighbours in a row: less between an edge's waypoint and anything else."""
    return _MPL_GAP_X if a.kind != "point" and b.kind != "point" else _MPL_GAP_X / 2


def _row_width(row: list[str], shapes: dict[str, _Shape]) -> float:
    return sum(shapes[n].width for n in row) + sum(_gap(shapes[a], shapes[b]) for a, b in zip(row, row[1:]))


def _rows(picture: nx.DiGraph, layers: list[list[str]], shapes: dict[str, _Shape],
          budgets: list[float]) -> tuple[list[list[str]], list[int]]:
    """Each layer in order, wrapped onto as many rows as its budget (a width) needs; and the
    layer of each row.

    Nodes with more outgoing edges go to the layer's later rows, nearer their consumers: every
    edge from an earlier row needs a waypoint in each row below it.
    """
    rows: list[list[str]] = []
    layer_of: list[int] = []
    for number, layer in enumerate(layers):
        row: list[str] = []
        for node in sorted(layer, key=picture.out_degree):
            if row and _row_width([*row, node], shapes) > budgets[number]:
                rows.append(row)
                layer_of.append(number)
                row = []
            row.append(node)
        rows.append(row)
        layer_of.append(number)
    return rows, layer_of


def _spread(row: list[str], desired: dict[str, float], shapes: dict[str, _Shape], usable: float) -> None:
    """x of each node in a row: near its desired x, no two overlapping, all inside [0, usable].

    Each node is held between where it would sit with the row packed to the left and packed to
    the right; a row too wide for ``usable`` is packed to the left.
    """
    order = sorted(row, key=lambda n: desired[n])
    widths = [shapes[n].width for n in order]
    steps = [(a.width + b.width) / 2 + _gap(a, b) for a, b in zip((shapes[n] for n in order), (shapes[n] for n in order[1:]))]
    lowest = [widths[0] / 2]
    for step in steps:
        lowest.append(lowest[-1] + step)
    highest = [usable - widths[-1] / 2]
    for step in reversed(steps):
        highest.insert(0, highest[0] - step)
    xs = [min(max(desired[n], low), max(high, low)) for n, low, high in zip(order, lowest, highest)]
    for i in range(1, len(order)):
        xs[i] = max(xs[i], xs[i - 1] + steps[i - 1])
    for node, x in zip(order, xs):
        shapes[node].x = x


def _route(picture: nx.DiGraph, rows: list[list[str]], shapes: dict[str, _Shape]) -> tuple[nx.DiGraph, dict]:
    """Adds a narrow waypoint in every row an edge passes, as Graphviz does with virtual nodes.

    The rows keep room for the edge there, so it runs between nodes, never behind one (where it
    would seem to end at that node). Returns the graph of short hops and each edge's waypoints.
    """
    row_of = {node: number for number, row in enumerate(rows) for node in row}
    routed = nx.DiGraph()
    routed.add_nodes_from(picture.nodes)
    waypoints: dict[tuple[str, str], list[str]] = {}
    for source, target in picture.edges:
        chain = []
        for number in range(row_of[source] + 1, row_of[target]):
            chain.append(f"via {source} -> {target} @{number}")
            rows[number].append(chain[-1])
            shapes[chain[-1]] = _Shape("point", 2.0, 0.0)
        nx.add_path(routed, [source, *chain, target])
        waypoints[(source, target)] = chain
    return routed, waypoints


def _layout(picture: nx.DiGraph, shapes: dict[str, _Shape], top: float) -> tuple[float, dict]:
    """Places every shape (y downwards from ``top``); returns the bottom of the lowest row, and
    each edge's waypoints (see ``_route``).

    A row that its waypoints make too wide sends nodes of its layer to a further row, until
    every row fits: the figure grows taller, never wider than ``_MPL_MAX_WIDTH``.
    """
    usable = _MPL_MAX_WIDTH - 2 * _MPL_MARGIN
    layers = _layers(picture)
    budgets = [usable] * len(layers)
    real = dict(shapes)
    for _ in range(8):
        shapes.clear()
        shapes.update(real)
        rows, layer_of = _rows(picture, layers, shapes, budgets)
        routed, waypoints = _route(picture, rows, shapes)
        over = {}
        for row, layer in zip(rows, layer_of):
            excess = _row_width(row, shapes) - usable
            if excess > 0 and sum(shapes[n].kind != "point" for n in row) > 1:
                over[layer] = max(over.get(layer, 0.0), excess)
        if not over:
            break
        for layer, excess in over.items():
            budgets[layer] -= excess
    y = top
    for row in rows:
        height = max(shapes[n].height for n in row)
        for node in row:
            shapes[node].y = y + height / 2
            if shapes[node].kind == "point":  # the edge runs straight down through the row
                shapes[node].height = height
        y += height + _MPL_GAP_Y
    for first_pass in (True, False):  # the second pass puts each input above its consumers
        for row in rows:
            desired = {}
            for node in row:
                near = list(routed.predecessors(node)) or ([] if first_pass else list(routed.successors(node)))
                desired[node] = sum(shapes[n].x for n in near) / len(near) if near else usable / 2
            _spread(row, desired, shapes, usable)
    return y - _MPL_GAP_Y, waypoints


def _edge_path(points: list[_Shape]) -> list[tuple[float, float]]:
    """An edge's polyline: from where it leaves its source's outline, down through each row it
    crosses (at its waypoint there), to its tip, which stops short of the target's outline.

    Coordinates here are the axes': y upwards."""
    ends = [(p.x, p.y + p.height / 2, p.x, p.y - p.height / 2) for p in points[1:-1]]
    source, target = points[0], points[-1]
    first = (ends[0][0], ends[0][1]) if ends else (target.x, target.y)
    last = (ends[-1][2], ends[-1][3]) if ends else (source.x, source.y)
    dx, dy = first[0] - source.x, first[1] - source.y
    t = source.exit_fraction(dx, dy) + 1.5 / math.hypot(dx, dy)  # clear of the outline's stroke
    vertices = [(source.x + dx * t, source.y + dy * t)]
    for x_top, y_top, x_bottom, y_bottom in ends:
        vertices += [(x_top, y_top), (x_bottom, y_bottom)]
    dx, dy = target.x - last[0], target.y - last[1]
    t = 1 - target.exit_fraction(-dx, -dy) - _MPL_ARROW_GAP / math.hypot(dx, dy)
    return [*vertices, (last[0] + dx * t, last[1] + dy * t)]


def _matplotlib_figure(model: Model, adjoints: Adjoints | None) -> Figure:
    """The fallback picture as a matplotlib ``Figure`` (no pyplot: no global state, no backend switch).

    Node outlines have gid ``node KEY``, arrows ``edge SOURCE -> TARGET``; the tests read them.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    picture = picture_graph(model, adjoints)
    shapes = _shapes(picture)
    title = "\n".join(textwrap.wrap(model.title, 56))
    top = _MPL_MARGIN + _MPL_TITLE_FONT * 1.3 * (title.count("\n") + 1) + 8
    bottom, waypoints = _layout(picture, shapes, top)
    left = min(s.x - s.width / 2 for s in shapes.values())
    right = max(s.x + s.width / 2 for s in shapes.values())
    width = max(right - left, min(len(max(title.split("\n"), key=len)) * 7.5, _MPL_MAX_WIDTH - 2 * _MPL_MARGIN))
    width, height = width + 2 * _MPL_MARGIN, bottom + _MPL_MARGIN
    offset = _MPL_MARGIN - left + (width - 2 * _MPL_MARGIN - (right - left)) / 2
    for shape in shapes.values():  # to data coordinates: x from the left margin, y upwards
        shape.x, shape.y = shape.x + offset, height - shape.y

    figure = Figure(figsize=(width / 72, height / 72), dpi=72)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, width)
    axes.set_ylim(0, height)
    axes.set_axis_off()
    axes.text(width / 2, height - _MPL_MARGIN, title, ha="center", va="top", fontsize=_MPL_TITLE_FONT)
    for (source, target), chain in waypoints.items():
        vertices = _edge_path([shapes[source], *(shapes[w] for w in chain), shapes[target]])
        path = Path(vertices, [Path.MOVETO] + [Path.LINETO] * (len(vertices) - 1))
        axes.add_patch(FancyArrowPatch(path=path, arrowstyle=_MPL_ARROW, mutation_scale=_MPL_ARROW_SCALE, shrinkA=0,
                                       shrinkB=0, color="#555555", lw=0.9, zorder=1, gid=f"edge {source} -> {target}"))
    for key, data in picture.nodes(data=True):
        item: PictureNode = data["node"]
        shape, (text, detail) = shapes[key], _mpl_text(item)
        fill = ROLE_COLOURS[item.role][0]
        if item.kind == "op":
            axes.add_patch(Ellipse((shape.x, shape.y), shape.width, shape.height, facecolor=fill, edgecolor="#a16207",
                                   lw=0.9, zorder=2, gid=f"node {key}"))
            axes.text(shape.x, shape.y, text, ha="center", va="center", multialignment="center", fontsize=_MPL_FONT,
                      linespacing=_MPL_LINESPACING, zorder=3)
            continue
        box_top = shape.y + shape.height / 2
        axes.add_patch(FancyBboxPatch((shape.x - shape.width / 2, shape.y - shape.height / 2), shape.width, shape.height,
                                      boxstyle="round,pad=0,rounding_size=4", facecolor=fill, edgecolor="#333333", lw=0.9,
                                      zorder=2, gid=f"node {key}"))
        axes.text(shape.x, box_top - _MPL_PAD, text, ha="center", va="top", fontsize=_MPL_FONT,
                                 fontweight="bold", linespacing=_MPL_LINESPACING, zorder=3)
        if detail:
            axes.text(shape.x - shape.width / 2 + _MPL_PAD, box_top - _MPL_PAD - shape.title_height - 2, detail, ha="left", va="top",
                      fontsize=_MPL_FONT, linespacing=_MPL_LINESPACING, zorder=3)
    return figure


def _matplotlib(model: Model, adjoints: Adjoints | None, fmt: str) -> bytes:
    import matplotlib

    figure = _matplotlib_figure(model, adjoints)
    # Text stays text in SVG (smaller, searchable); fixed ids and no dates make the bytes reproducible.
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": model.name}):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
    return buffer.getvalue()


def render(model: Model, fmt: str = "svg", adjoints: bool = False, engine: str = "auto") -> bytes:
    """The picture (or source) of a model in one of ``FORMATS`` (svg, png, pdf, dot, json).

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
