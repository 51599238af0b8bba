"""Pictures and exports of the graphs, with Graphviz and without it, and `gradproof graph`."""

from __future__ import annotations

import json

import pytest

from gradproof.cli import main
from graphs.draw import dot_available, picture_graph, render
from graphs.models import CATALOG_MODELS, model

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")


@pytest.mark.parametrize("name", ["attention", "bp", "cnn"])
def test_matplotlib_svg_shows_tensors_shapes_and_adjoints(name: str) -> None:
    svg = render(model(name), "svg", adjoints=True, engine="matplotlib").decode()
    assert svg.startswith("<?xml") and "<svg" in svg
    picture = picture_graph(model(name))
    for _key, data in picture.nodes(data=True):
        if data["node"].kind == "tensor":
            assert data["node"].title in svg
    assert {"attention": "dS = ", "bp": "dnet_j = ", "cnn": "dC = "}[name] in svg


@needs_dot
@pytest.mark.parametrize("name", ["attention", "bp", "cnn"])
def test_graphviz_svg_shows_adjoints(name: str) -> None:
    svg = render(model(name), "svg", adjoints=True, engine="dot").decode()
    assert "<svg" in svg and {"attention": "dS = ", "bp": "dnet_j = ", "cnn": "dC = "}[name] in svg


@pytest.mark.parametrize("engine", ["matplotlib", pytest.param("dot", marks=needs_dot)])
def test_png_is_a_png(engine: str) -> None:
    assert render(model("perceptron"), "png", engine=engine)[:8] == b"\x89PNG\r\n\x1a\n"


def test_dot_source_has_every_tensor_and_op() -> None:
    source = render(model("attention"), "dot", adjoints=True).decode()
    assert source.startswith('digraph "attention"')
    for token in ('"Q"', '"A"', "softmax", "dV = Aᵀ G", "rankdir=TB"):
        assert token in source


@pytest.mark.parametrize("name", sorted(CATALOG_MODELS))
def test_json_is_node_link_with_formulas(name: str) -> None:
    document = json.loads(render(model(name), "json", adjoints=True))
    m = model(name)
    assert {n["id"] for n in document["nodes"]} == set(m.graph.nodes)
    assert len(document["links"]) == m.graph.number_of_edges()
    assert all("argnum" in link for link in document["links"])
    sources = [n for n in document["nodes"] if n["id"] in m.sources]
    assert all(n["adjoint_local"] and n["adjoint_local_latex"] for n in sources)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'gif'"):
        render(model("bp"), "gif")


def test_cli_graph_writes_a_picture(tmp_path, capsys) -> None:
    target = tmp_path / "attention.svg"
    assert main(["graph", "attention", "--adjoints", "-o", str(target), "--engine", "matplotlib"]) == 0
    assert "dS = " in target.read_text()
    assert "wrote" in capsys.readouterr().err


def test_cli_graph_accepts_catalog_names_and_json(capsys) -> None:
    assert main(["graph", "conv", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["graph"]["name"] == "conv_layer"  # the conv layer alone comes first
    assert "conv has models conv_layer, cnn; drawing conv_layer" in captured.err
    assert main(["graph", "cnn", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["graph"]["name"] == "cnn"


def test_cli_graph_rejects_unknown_names(capsys) -> None:
    assert main(["graph", "transformer"]) == 2
    assert "no graph model for 'transformer'" in capsys.readouterr().err


def test_cli_graph_unwritable_output_is_one_line(tmp_path, capsys) -> None:
    assert main(["graph", "bp", "-o", str(tmp_path / "missing" / "bp.svg"), "--engine", "matplotlib"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gradproof: error: cannot write") and len(err.strip().splitlines()) == 1


def test_cli_graph_png_to_the_terminal_is_refused(capsys) -> None:
    assert main(["graph", "bp", "--format", "png", "-o", "-", "--engine", "matplotlib"]) == 2
    assert "PNG cannot go to the terminal" in capsys.readouterr().err
