"""Jupyter and the Python API (issue 18): every rich display returns the markup it promises, no
display runs a numeric check, and the tour notebook in examples/ executes cell by cell in a real
kernel without an error, showing MathML and SVG."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradproof
from gradproof import notebook
from verify.check import Record
from verify.homework.problems import Grade

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "examples" / "gradproof_tour.ipynb"
MATHML = "<math"


@pytest.fixture(scope="module")
def softmax_ce() -> Any:
    return gradproof.derive("softmax_ce")


@pytest.fixture(scope="module")
def attention_graph() -> notebook.Graph:
    return gradproof.graph("attention")


def _svg_root(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())


# --- the displays ---------------------------------------------------------------------------------
def test_derivation_html_is_mathml_with_every_step_and_status(softmax_ce: Any) -> None:
    page = softmax_ce._repr_html_()
    assert page.count(MATHML) >= len(softmax_ce.steps) + len(softmax_ce.results)
    assert "partial(" not in page and "<merror" not in page
    assert "\\partial" in page  # the alttext carries the LaTeX, derivatives as the lecture writes them
    for step in softmax_ce.steps:
        assert html.escape(step.status.label) in page
    for result in softmax_ce.results:
        assert result.target in page


def test_derivation_latex_is_one_display_of_the_closed_forms(softmax_ce: Any) -> None:
    latex = softmax_ce._repr_latex_()
    assert latex.startswith(r"$$\begin{aligned}") and latex.endswith(r"\end{aligned}$$")
    assert r"\frac{\partial L}{\partial z} &= p - y" in latex
    assert latex.count("&=") == len(softmax_ce.results)


def test_model_svg_is_an_svg_document(attention_graph: notebook.Graph) -> None:
    text = attention_graph.model._repr_svg_()
    assert text.startswith("<svg") and _svg_root(text).tag.endswith("svg")
    assert "dQ" not in text  # a bare model: adjoints only where asked for


def test_graph_view_is_svg_with_the_adjoints(attention_graph: notebook.Graph) -> None:
    svg = attention_graph._repr_svg_()
    assert svg.startswith("<svg")  # prolog and doctype stripped: the element inlines in HTML
    assert _svg_root(svg).tag.endswith("svg")
    assert "dQ" in svg and "dV" in svg


def test_adjoints_show_each_named_tensor_as_mathml(attention_graph: notebook.Graph) -> None:
    adjoints = attention_graph.backprop()
    page = adjoints._repr_html_()
    for name in ("dO", "dA", "dS", "dV", "dK", "dQ"):
        assert f"<code>{name}</code>" in page
    assert "#" not in page.replace("&#", "")  # unnamed op nodes (matmul#2) are not listed
    assert page.count(MATHML) >= 6
    assert r"\mathrm{d}V &= A^{T} G" in adjoints._repr_latex_()


def test_matrix_result_displays() -> None:
    from graphs.route import graph_results

    dq = next(r for r in graph_results("attention") if r.target == "dQ")
    assert MATHML in dq._repr_html_() and "proved" in dq._repr_html_()
    assert dq._repr_latex_() == r"$$dQ = \frac{1}{\sqrt{d_{k}}} \mathrm{d}{S} K$$"


def _record(passed: bool | None, tolerance: str = "atol 1e-10", note: str = "") -> Record:
    return Record("softmax_ce", "dL/dz", "matrix", "cpu", "float64", 5, 3e-16 if passed else 0.5, 1e-15, tolerance,
                  None, passed, note=note)


def test_records_table_shows_failures_and_the_tolerance_once() -> None:
    page = notebook.Checks([_record(True), _record(False), _record(None, note="no formula")])._repr_html_()
    assert "FAILED" in page and "skipped" in page and "no formula" in page
    assert page.count("atol 1e-10") == 1
    assert "1 passed, 1 failed, 1 without a formula on that route" in page
    assert not notebook.Checks([_record(False)]).ok and notebook.Checks([_record(True), _record(None)]).ok
    assert "<table>" in _record(True)._repr_html_()


@given(st.lists(st.tuples(st.sampled_from([True, False, None]), st.text(max_size=12)), max_size=8))
def test_records_summary_counts_and_escapes(rows: list[tuple[bool | None, str]]) -> None:
    records = [_record(passed, tolerance=f"tol {text}", note=text) for passed, text in rows]
    page = notebook.records_html(records)
    counts = [sum(p is want for p, _ in rows) for want in (True, False, None)]
    assert f"{counts[0]} passed, {counts[1]} failed, {counts[2]} without a formula" in page
    for _, text in rows:
        if "<" in text:
            assert text not in page  # student- or user-supplied text never becomes markup


def test_grade_shows_verdict_feedback_and_typeset_counterexample() -> None:
    grade = Grade("attention:grad_Q", "incorrect", 0.5, "missing a factor 1/sqrt(d_k)",
                  {"inputs": {"dS": [[0.1, -0.1], [0.0, 0.0]], "d_k": 3}, "entry": "(1, 1)", "expected": 0.05,
                   "yours": 0.08}, "symbolic")
    page = grade._repr_html_()
    assert "incorrect" in page and "score 0.5" in page and "missing a factor" in page
    assert "entry (1, 1)" in page and MATHML in page  # the matrix input typeset


def test_expression_derivation_is_typeset() -> None:
    e = gradproof.derive_expression("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["W"])
    page = e._repr_html_()
    assert MATHML in page and "dW" in page and "proved" in page and "<pre>" not in page


def test_displays_run_no_numeric_check(monkeypatch: pytest.MonkeyPatch, softmax_ce: Any,
                                       attention_graph: notebook.Graph) -> None:
    import verify.check

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a display ran a numeric check")

    monkeypatch.setattr(verify.check, "check", refuse)
    monkeypatch.setattr(verify.check, "run_check", refuse)
    assert MATHML in softmax_ce._repr_html_()
    assert attention_graph._repr_svg_().startswith("<svg")
    assert MATHML in attention_graph.backprop()._repr_html_()


# --- the API --------------------------------------------------------------------------------------
def test_api_is_exported_lazily_with_docstrings() -> None:
    for name in ("derive", "graph", "verify", "check", "report_for"):
        function = getattr(gradproof, name)
        assert function.__module__ == "gradproof.notebook" and ">>>" in (function.__doc__ or ""), name
    for name in gradproof.__all__:
        assert getattr(gradproof, name).__doc__, name
    with pytest.raises(AttributeError):
        gradproof.no_such_function  # noqa: B018 - the lookup itself is the test


def test_check_grades_a_wrong_answer_with_a_counterexample() -> None:
    grade = gradproof.check("softmax_ce.grad_z", "y_i - p_i")
    assert (grade.problem, grade.verdict, grade.score) == ("softmax_ce:grad_z", "incorrect", 0.5)
    assert grade.counterexample is not None
    with pytest.raises(KeyError):
        gradproof.check("softmax_ce:grad_nothing", "p_i")


def test_graph_refuses_unknown_names_and_wrong_extensions(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="no graph model"):
        gradproof.graph("no_such_model")
    g = gradproof.graph("perceptron", adjoints=False)
    with pytest.raises(ValueError, match="extension"):
        g.save(tmp_path / "p.txt")
    written = g.save(tmp_path / "p.svg")
    assert _svg_root(written.read_text().split("?>", 1)[-1].split("]>", 1)[-1]).tag.endswith("svg")


def test_verify_picks_the_named_claim_and_refuses_bad_options() -> None:
    checks = gradproof.verify("softmax_ce:grad_z", examples=2, route="matrix")
    assert [(r.claim, r.route, r.status) for r in checks] == [("softmax_ce:grad_z", "matrix", "passed")]
    with pytest.raises(ValueError, match="route"):
        gradproof.verify("softmax_ce", route="sideways")
    with pytest.raises(ValueError, match="examples"):
        gradproof.verify("softmax_ce", examples=0)


def test_report_for_builds_a_report_that_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # Hypothesis' example database goes where the process runs
    report = gradproof.report_for("information", examples=2)
    assert report.ok and report.doc["name"] == "information"
    assert "<iframe srcdoc=" in report._repr_html_() and "&lt;math" in report._repr_html_()
    written = report.save(tmp_path / "out", formats=("html", "json"))
    assert {p.name for p in written} == {"information.html", "information.json"}
    assert MATHML in (tmp_path / "out" / "information.html").read_text()


# --- the tour notebook ----------------------------------------------------------------------------
def test_tour_is_stored_without_outputs() -> None:
    import nbformat

    nb = nbformat.read(TOUR, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_tour_executes_and_shows_math_and_svg(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(TOUR, as_version=4)
    # run in a scratch folder: anything the kernel writes (Hypothesis' database) stays out of the repository
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, [f"{o.ename}: {o.evalue}" for o in errors]
    rich = [o.data for o in outputs if o.output_type in ("execute_result", "display_data")]
    html_parts = [d["text/html"] for d in rich if "text/html" in d]
    assert any(MATHML in part for part in html_parts)
    assert not any("partial(" in part for part in html_parts)
    svgs = [d["image/svg+xml"] for d in rich if "image/svg+xml" in d]
    assert svgs and all(_svg_root(svg).tag.endswith("svg") for svg in svgs)
    assert any("incorrect" in part for part in html_parts)  # the wrong answer's grade
    assert any("passed" in part and "<table>" in part for part in html_parts)  # the verify table
