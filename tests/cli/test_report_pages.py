"""The HTML and Markdown report pages: MathML for every class, the strongest result per target,
folded long formulas, a compact checks table and a caption that says what the picture shows."""

from __future__ import annotations

import re

import pytest
import sympy as sp

from derive.catalog import NAMES
from gradproof.mathml import mathml, width
from gradproof.report import (
    _checks_html,
    _math,
    _mathml,
    graph_caption,
    report_html,
    report_markdown,
    strongest,
)
from gradproof.words import Words


def _formulas(name: str) -> list[sp.Basic]:
    """Every expression a catalog entry's report typesets: steps, results, forward, matrix forms."""
    from derive.catalog import derive
    from graphs.route import graph_results

    d = derive(name)
    out = [s.expr for s in d.steps] + [d.forward]
    for r in d.results:
        out += [r.closed] + ([r.index] if r.index is not None else [])
        out += [r.entrywise] if sp.count_ops(r.entrywise) <= 300 else []
    return out + [m.local for m in graph_results(name)]


# graphs/matrices.py prints its own operators from a text template (corr(X, G) for X ⋆ G): a name, not
# SymPy's fallback for a class it does not know.
_GRAPH_SPELLINGS = {"corr", "fullconv", "unvec", "upsample"}


def _words_of(markup: str) -> set[str]:
    """The names a MathML formula shows as words (identifiers of two letters or more)."""
    return {w for w in re.findall(r"<mi[^>]*>([A-Za-z]{2,})</mi>", markup)}


@pytest.mark.parametrize("name", NAMES)
def test_every_catalog_formula_typesets_as_its_latex_reads(name: str) -> None:
    """No ``partial(``, no merror or mtext fallback, and no word the LaTeX does not show (SymPy's
    fallback prints a class it does not know as its lower-cased name: indicator(H), piecewise(...))."""
    for expr in _formulas(name):
        math = _math(expr)
        markup, latex = math["mathml"], math["latex"]
        assert "partial(" not in markup and "<merror" not in markup, (name, latex)
        assert "<mtext" not in markup or "otherwise" in markup or "if" in markup, (name, markup[:200])
        shown = re.sub(r"\\mathrm\{d\}\{\\?", "d", latex).lower()  # an adjoint, d{K_1}, shows as the word dK
        unknown = {w for w in _words_of(markup) - _GRAPH_SPELLINGS if not re.search(rf"(?<![a-z]){w.lower()}", shown)}
        assert not unknown and "partial" not in _words_of(markup), (name, unknown, latex[:200])


def test_the_derivative_class_prints_as_a_fraction_of_partials() -> None:
    from derive.notation import Partial

    first, second = mathml(Partial("H", "p_i")), mathml(Partial("L", "z", 2))
    assert first.startswith("<mfrac>") and first.count("&#8706;") == 2 and "partial" not in first
    assert "<msup><mo>&#8706;</mo><mn>2</mn></msup>" in second and "<msup><mi>z</mi><mn>2</mn></msup>" in second


@pytest.mark.parametrize(("expr", "present", "absent"), [
    (sp.Piecewise((sp.Symbol("a"), sp.Symbol("x") > 0), (0, True)), ["<mtable>", "otherwise", "{"], ["piecewise"]),
    (sp.IndexedBase("G")[sp.Symbol("i"), sp.Symbol("j")], ["<msub><mi>G</mi><mrow><mi>i</mi><mo>,</mo>"], ["(</mo>"]),
    (sp.Symbol("Xhat"), ["<mover", "<mi>X</mi>"], ["Xhat"]),
    (sp.Symbol("dXhat"), ['<mi mathvariant="normal">d</mi><mover accent="true"><mi>X</mi>'], ["dX"]),  # d X̂
    (sp.Matrix([[1, 2], [3, 4]]), ['<mo fence="true" stretchy="true">[</mo><mtable>'], []),
    (sp.Symbol("x") < 1, ["<mo>&lt;</mo>"], ["<mo><</mo>"]),
    (sp.ZeroMatrix(2, 2), ["&#x1D7D8;"], []),
])
def test_sympy_classes_print_like_their_latex(expr: sp.Basic, present: list[str], absent: list[str]) -> None:
    markup = mathml(expr)
    assert all(p in markup for p in present), markup
    assert not any(a in markup for a in absent), markup


def test_the_indicator_prints_as_a_double_struck_one() -> None:
    from derive.notation import Indicator

    markup = mathml(Indicator(sp.MatrixSymbol("H", 2, 2)))
    assert "indicator" not in markup and "&#120793;" in markup and "<mo>&gt;</mo>" in markup


def test_a_long_sum_folds_into_rows_but_never_inside_an_exponent() -> None:
    terms = sp.Add(*sp.symbols("x:12"))
    folded = mathml(terms, fold_width=10)
    assert folded.startswith("<mtable") and folded.count("<mtr>") >= 3
    assert width(folded) < width(mathml(terms)) / 2
    assert "<mtable" not in mathml(sp.exp(terms), fold_width=10)  # rows in an exponent would be unreadable
    assert "<mtable" not in mathml(terms)


def _doc(results: list[dict], matrix: list[dict], name: str = "attention") -> dict:
    return {"name": name, "lang": "en", "results": results, "matrix_form": matrix}


def _result(target: str, wrt: str, kind: str = "proved_sizes", label: str = "proved n<=3") -> dict:
    return {"target": target, "wrt": wrt, "status": {"kind": kind, "label": label}}


def _row(model: str, wrt: str, kind: str = "proved") -> dict:
    return {"model": model, "target": f"d{wrt}", "wrt": wrt, "intermediate": False, "status": {"kind": kind, "label": kind}}


def test_at_a_glance_gives_the_matrix_form_where_the_graph_proves_it() -> None:
    doc = _doc([_result("dQ", "Q"), _result("dQ (causal mask)", "Q"), _result("dZ", "Z")],
               [_row("attention", "Q"), _row("causal_attention", "Q")])
    got = {s["target"]: s for s in strongest(doc)}
    assert got["dQ"]["kind"] == "proved" and "attention" in got["dQ"]["how"] and "causal" not in got["dQ"]["how"]
    assert got["dQ (causal mask)"]["kind"] == "proved" and "causal_attention" in got["dQ (causal mask)"]["how"]
    assert got["dZ"]["kind"] == "proved_sizes" and got["dZ"]["label"] == "proved n<=3"  # no graph row: entrywise


@pytest.mark.parametrize(("result", "rows", "kind"), [
    (_result("d2L/dz2", "z"), [_row("softmax_ce", "z")], "proved_sizes"),  # a Hessian is not the graph's gradient
    (_result("dW", "W"), [_row("cnn", "W")], "proved_sizes"),  # another model's W is another tensor
    (_result("dQ", "Q"), [_row("attention", "Q", "numeric")], "proved_sizes"),  # the graph proves nothing more
    (_result("dQ", "Q"), [_row("attention", "Q", "failed")], "failed"),
    (_result("dQ", "Q", "numeric", "numeric"), [], "numeric"),
    (_result("dW_Q^h", "WQ"), [_row("attention", "W_Q1"), _row("attention", "W_Q2")], "proved"),  # every head
])
def test_at_a_glance_claims_only_what_holds(result: dict, rows: list[dict], kind: str) -> None:
    name = rows[0]["model"] if rows and rows[0]["model"] != "cnn" else "conv" if rows else "attention"
    assert strongest(_doc([result], rows, name))[0]["kind"] == kind


def test_the_checks_table_states_each_tolerance_once_and_keeps_numbers_on_one_line() -> None:
    row = {"target": "dQ", "route": "matrix", "device": "cpu", "examples": 20, "sizes": "n=3", "max_abs_error": 2.7e-15,
           "max_rel_error": 1e-16, "status": "passed"}
    checks = [dict(row, dtype="float64", tolerance="atol 1e-10"), dict(row, dtype="float32", tolerance="atol 1e-4"),
              dict(row, dtype="float64", tolerance="atol 1e-10")]
    page = "".join(_checks_html(checks, Words("en")))
    assert page.count("atol 1e-10") == 1 and page.count("atol 1e-4") == 1
    assert "<th>tolerance</th>" not in page and '<td class="num">2.7e-15</td>' in page
    several = "".join(_checks_html([*checks, dict(row, dtype="float64", tolerance="atol 1e-8")], Words("en")))
    assert "<th>tolerance</th>" in several and "T3" in several and several.count("atol 1e-8") == 1


def test_a_formula_too_wide_for_a_phone_is_folded_and_a_short_one_is_not() -> None:
    short, medium = _math(sp.Symbol("x") + 1), _math(sp.Add(*sp.symbols("a:6")) * sp.Add(*sp.symbols("b:6")))
    huge = _math(sp.Mul(*[sp.Add(*sp.symbols(f"{c}:6")) for c in "abcdefgh"]))
    assert "<details" not in _mathml(short, display=True, fold="f")
    assert '<div class="wide">' in _mathml(medium, display=True, fold="f") and "<details" in _mathml(medium, True, "f")
    assert _mathml(huge, display=True, fold="f").startswith('<details class="long"><summary>f</summary>')
    assert "<details" not in _mathml(huge, display=True)  # inline or unfoldable: as it is


def test_the_graph_caption_names_the_colours_the_picture_uses() -> None:
    from graphs.draw import render
    from graphs.models import model

    svg = render(model("multihead_attention"), "svg", adjoints=True).decode()
    caption = graph_caption("multihead_attention", svg, Words("en"))
    assert "parameters blue" in caption and "inputs with a gradient green" in caption  # X is an input: green
    assert "grey" not in caption  # no constant data in this model
    softmax = graph_caption("softmax_ce", render(model("softmax_ce"), "svg").decode(), Words("en"))
    assert "grey" in softmax  # y, the labels, are data


@pytest.fixture(scope="module")
def information() -> dict:
    from gradproof.report import build_report

    return build_report("information", examples=2, dtypes=("float64",))


def test_a_real_page_has_derivatives_as_fractions_and_a_glance_per_target(information: dict) -> None:
    page = report_html(information)
    assert "partial(" not in page and "<merror" not in page and "&#8706;" in page
    assert "What holds for each target" in page and "dH/dp" in page.split("<h2>")[0]
    assert "parameters blue" in page or "inputs with a gradient" in page
    markdown = report_markdown(information)
    assert "What holds for each target" in markdown and "**proved**" in markdown
