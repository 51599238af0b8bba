"""Issue 18: graph pictures legible at phone width, every edge with its arrowhead, colours named
for captions, and the output format read from the file name (pdf included)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphs.backprop import backprop
from graphs.draw import (
    ROLE_COLOURS,
    _matplotlib_figure,
    dot_available,
    format_for_path,
    legend,
    picture_graph,
    render,
    roles_shown,
    to_dot,
    wrap_formula,
)
from graphs.models import model

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
PHONE_PX = 390


@pytest.mark.parametrize(("path", "fmt"), [
    ("g.svg", "svg"), ("g.png", "png"), ("g.pdf", "pdf"), ("g.dot", "dot"), ("g.gv", "dot"), ("g.json", "json"),
    ("dir.v2/G.PDF", "pdf"), ("A.Svg", "svg"),
])
def test_extension_decides_the_format(path: str, fmt: str) -> None:
    assert format_for_path(path) == fmt
    assert format_for_path(path, fmt) == fmt  # asking for what the extension says is fine


@pytest.mark.parametrize("path", ["g.txt", "g.jpg", "g.svgz", "archive.tar.gz"])
def test_unknown_extension_is_refused_in_one_line(path: str) -> None:
    with pytest.raises(ValueError, match=r"cannot write a graph as \.\w+") as error:
        format_for_path(path)
    assert "\n" not in str(error.value) and ".pdf" in str(error.value)  # it lists what would work
    with pytest.raises(ValueError):
        format_for_path(path, "svg")


@pytest.mark.parametrize(("path", "requested"), [("a.pdf", "svg"), ("a.svg", "png"), ("a.json", "dot"), ("a.PNG", "pdf")])
def test_extension_contradicting_the_requested_format_is_refused(path: str, requested: str) -> None:
    with pytest.raises(ValueError, match=rf"{re.escape(path)} ends in .*but {requested} was asked for"):
        format_for_path(path, requested)


def test_no_extension_or_stdout_takes_the_requested_format() -> None:
    assert format_for_path("-", "json") == "json"
    assert format_for_path("-") == "svg"
    assert format_for_path("picture", "png") == "png"
    with pytest.raises(ValueError, match="unknown format 'gif'"):
        format_for_path("-", "gif")


@pytest.mark.parametrize("engine", ["matplotlib", pytest.param("dot", marks=needs_dot)])
def test_pdf_render_is_a_pdf(engine: str) -> None:
    data = render(model("attention"), "pdf", adjoints=True, engine=engine)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")


def _figure(name: str):
    m = model(name)
    figure = _matplotlib_figure(m, backprop(m))
    figure.canvas.draw()
    return m, figure


def _by_gid(figure, prefix: str) -> dict:
    return {p.get_gid()[len(prefix):]: p for p in figure.axes[0].patches if (p.get_gid() or "").startswith(prefix)}


@pytest.mark.parametrize("name", ["attention", "multihead_attention", "bp"])
def test_every_matplotlib_edge_has_a_visible_arrowhead_at_its_target(name: str) -> None:
    m, figure = _figure(name)
    axes = figure.axes[0]
    nodes = _by_gid(figure, "node ")
    arrows = _by_gid(figure, "edge ")
    picture = picture_graph(m)
    assert set(arrows) == {f"{s} -> {t}" for s, t in picture.edges}
    for key, arrow in arrows.items():
        target = key.split(" -> ")[1]
        path = arrow.get_path()  # the shaft, then the head as a closed triangle
        starts = np.flatnonzero(path.codes == path.MOVETO)
        assert len(starts) == 2, key
        head = path.vertices[starts[1]:starts[1] + 3]
        points = [v for v, code in zip(path.vertices, path.codes) if code != path.CLOSEPOLY]
        for point in points:  # no part of the arrow, head included, lies under a node
            display = axes.transData.transform(point)
            assert not any(p.contains_point(display) for p in nodes.values()), (key, point)
        base = (head[0] + head[2]) / 2
        length = float(np.hypot(*(head[1] - base)))
        assert length >= 5.0, (key, length)  # points: a head one can see
        beyond = head[1] + (head[1] - base) / length * 4.0  # 4 pt past the tip is inside the target
        assert nodes[target].contains_point(axes.transData.transform(beyond)), key


@pytest.mark.parametrize("name", ["attention", "multihead_attention", "encoder"])
def test_matplotlib_text_is_legible_on_a_phone(name: str) -> None:
    _, figure = _figure(name)
    width_pt = figure.get_figwidth() * 72
    sizes = [t.get_fontsize() for t in figure.axes[0].texts if t.get_text().strip()]
    assert sizes and min(sizes) * PHONE_PX / width_pt >= 9.0, (min(sizes), width_pt)


def test_matplotlib_lines_leave_room_under_an_underscore() -> None:
    _, figure = _figure("attention")
    spacings = {t.get_linespacing() for t in figure.axes[0].texts if "\n" in t.get_text()}
    assert spacings and min(spacings) >= 1.35


def _node_lines(svg: str) -> dict[str, list[tuple[float, float]]]:
    """Node title -> (y, font size) of each text line, from Graphviz's SVG."""
    lines = {}
    for group in re.findall(r'<g id="node\d+" class="node">(.*?)</g>', svg, re.S):
        title = re.search(r"<title>(.*?)</title>", group).group(1)
        lines[title] = [(float(y), float(size)) for y, size in re.findall(r'<text[^>]* y="([-\d.]+)"[^>]*font-size="([\d.]+)"', group)]
    return lines


def test_dot_labels_put_each_line_in_its_own_padded_row() -> None:
    source = to_dot(model("attention"), backprop(model("attention")))
    assert "\\l" not in source and "\\n" not in source  # no plain multi-line labels left
    q = re.search(r'"Q" \[label=<(.*?)>, shape', source).group(1)
    rows = re.findall(r"<TR><TD[^>]*>(.*?)</TD></TR>", q)
    assert rows == ["<B>Q</B>", "n × d_k", "dQ = 1/√d_k dS K"]
    assert 'CELLPADDING="2"' in q


@needs_dot
@pytest.mark.parametrize("name", ["attention", "multihead_attention"])
def test_graphviz_lines_are_spaced_so_a_subscript_underscore_clears_the_next(name: str) -> None:
    lines = _node_lines(render(model(name), "svg", adjoints=True, engine="dot").decode())
    assert "Q" in lines or "Q1" in lines
    pitches = []
    for title, items in lines.items():
        for (y0, size), (y1, _) in zip(items, items[1:]):
            pitches.append((y1 - y0) / size)
            assert y1 - y0 >= 1.4 * size, (title, y0, y1)  # plain \l labels had 14 pt at 12 pt text
    assert pitches  # the check saw multi-line labels


def test_role_colours_are_data_with_names() -> None:
    assert ROLE_COLOURS["parameter"][1] == "blue" and ROLE_COLOURS["input"][1] == "green"
    assert ROLE_COLOURS["constant"][1] == "grey"
    assert all(re.fullmatch(r"#[0-9a-f]{6}", colour) for colour, _ in ROLE_COLOURS.values())
    assert len({colour for colour, _ in ROLE_COLOURS.values()}) == len(ROLE_COLOURS)


def test_legend_names_exactly_the_roles_in_the_picture() -> None:
    assert legend(model("attention")) == [("parameters", "blue"), ("named intermediate tensors", "white"),
                                          ("operations", "yellow")]
    multihead = legend(model("multihead_attention"))
    assert ("inputs with a gradient", "green") in multihead and all(colour != "grey" for _, colour in multihead)
    assert "grey" in [colour for _, colour in legend(model("perceptron"))]  # x and c are data without a gradient


@pytest.mark.parametrize("name", ["attention", "multihead_attention", "perceptron", "cnn"])
def test_roles_shown_match_the_fills_drawn(name: str) -> None:
    source = to_dot(model(name))
    fills = set(re.findall(r'fillcolor="(#[0-9a-f]{6})"', source))
    assert fills == {ROLE_COLOURS[role][0] for role in roles_shown(model(name))}


def test_svg_from_matplotlib_is_reproducible() -> None:
    first = render(model("bp"), "svg", engine="matplotlib")
    assert first == render(model("bp"), "svg", engine="matplotlib")


def test_cli_graph_writes_a_pdf_for_a_pdf_name_and_refuses_an_unknown_one(tmp_path, capsys) -> None:
    from gradproof.cli import main

    target = tmp_path / "a.pdf"  # issue 18: this once wrote SVG into a.pdf and exited 0
    assert main(["graph", "attention", "-o", str(target), "--engine", "matplotlib"]) == 0
    assert target.read_bytes().startswith(b"%PDF-")
    capsys.readouterr()
    assert main(["graph", "attention", "-o", str(tmp_path / "a.txt")]) == 2
    err = capsys.readouterr().err
    assert "cannot write a graph as .txt" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.txt").exists()


@given(st.lists(st.sampled_from(["dA", "W_1ᵀ", "+", "⊙", "(dH", "1[X", "> 0])", "rowsum(dA", "A)", "x" * 40]),
                min_size=1, max_size=25), st.integers(min_value=8, max_value=60))
def test_wrap_formula_keeps_every_character_and_the_width_where_a_space_allows(words: list[str], width: int) -> None:
    text = " ".join(words)
    lines = wrap_formula(text, width)
    assert " ".join(lines) == text
    for line in lines[:-1]:
        assert len(line) <= width or " " not in line[: width + 1]


def test_wrap_formula_breaks_outside_brackets_before_an_operator() -> None:
    lines = wrap_formula("dX_1 = G[:, 0:d + g] + (dH_2 ⊙ 1[X_1 W_2 > 0]) W_2ᵀ", 34)
    assert lines == ["dX_1 = G[:, 0:d + g]", "+ (dH_2 ⊙ 1[X_1 W_2 > 0]) W_2ᵀ"]
    assert wrap_formula("dA = G Vᵀ", 34) == ["dA = G Vᵀ"]


@needs_dot
@pytest.mark.parametrize("name", ["densenet", "layernorm", "cnn", "bp"])
def test_graphviz_picture_keeps_12pt_text_legible_on_a_phone(name: str) -> None:
    svg = render(model(name), "svg", adjoints=True, engine="dot").decode()
    width_pt = float(re.search(r'<svg width="([\d.]+)pt"', svg).group(1))
    assert 12 * PHONE_PX / width_pt >= 9.0, width_pt  # densenet was 641 pt wide (7.3 px) with 46-character lines
