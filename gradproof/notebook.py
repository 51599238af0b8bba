"""gradproof from Python and Jupyter: the functions ``gradproof`` exports, and the rich displays
(``_repr_html_``, ``_repr_latex_``, ``_repr_svg_``) of what they return.

The classes of derive/, graphs/ and verify/ have small ``_repr_*_`` methods that import this
module on first use and call one function here, so those layers never import gradproof (DESIGN.md's
layers) and the printing lives in one place. Formulas go through the report's printer
(gradproof/report.py: MathML with LaTeX alttext), pictures through graphs/draw.py. No display
runs a proof or a numeric check: it lays out what was already established, so it takes well under
a second for a catalog entry.

    >>> import gradproof
    >>> d = gradproof.derive("information")
    >>> "<math" in d._repr_html_() and "proved" in d._repr_html_()
    True
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sympy as sp

__all__ = [
    "Checks", "Graph", "Report", "adjoints_html", "adjoints_latex", "check", "derivation_html", "derivation_latex",
    "derive", "expression_html", "grade_html", "graph", "matrix_result_html", "matrix_result_latex", "model_svg",
    "record_html", "records_html", "report_for", "verify",
]

_ENTRYWISE_SHOWN_UP_TO = 300  # operations: a larger entrywise form is left folded away, unprinted (as in reports)
_FORWARD_FOLDED_FROM = 120  # operations: a longer forward is shown inside a collapsed block
_STATUS_COLOURS = {"proved": "#1a7f37", "numeric": "#9a6700", "failed": "#cf222e", "passed": "#1a7f37",
                   "FAILED": "#cf222e", "skipped": "#6e7781", "correct": "#1a7f37", "incorrect": "#cf222e",
                   "invalid": "#9a6700"}


# --- pieces ---------------------------------------------------------------------------------------
def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _formula(expr: sp.Basic, display: bool = False) -> str:
    """One formula as MathML (LaTeX in its alttext), by the report's printer."""
    from .report import _math, _mathml

    return _mathml(_math(expr), display=display)


def _badge(label: str, kind: str) -> str:
    colour = _STATUS_COLOURS.get(kind, "#6e7781")
    return (f'<span style="border:1px solid {colour};color:{colour};border-radius:3px;padding:0 4px;'
            f'white-space:nowrap;font-size:90%">{_h(label)}</span>')


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """An HTML table; ``rows`` hold markup already escaped."""
    header = "".join(f'<th style="text-align:left">{_h(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f'<td style="text-align:left;vertical-align:top">{cell}</td>' for cell in row)
                   + "</tr>" for row in rows)
    return _scroll(f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>")


def _folded(summary: str, markup: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{_h(summary)}</summary>{markup}</details>"


def _scroll(markup: str) -> str:
    """A line that scrolls sideways when wider than the notebook (a phone), instead of being cut off."""
    return f'<div style="overflow-x:auto;overflow-y:hidden;max-width:100%;padding:.2em 0">{markup}</div>'


def _svg_element(svg: str) -> str:
    """The ``<svg>`` element of a picture, without the XML prolog and doctype (for inlining in HTML)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _aligned(rows: Sequence[tuple[str, str]]) -> str:
    r"""``$$\begin{aligned} lhs &= rhs \\ ... \end{aligned}$$`` from LaTeX pairs."""
    body = r" \\ ".join(f"{lhs} &= {rhs}" for lhs, rhs in rows)
    return rf"$$\begin{{aligned}} {body} \end{{aligned}}$$"


def _target_latex(target: str) -> str:
    r"""``dL/dz`` -> ``\frac{\partial L}{\partial z}``; any other name (``d2L/dz2``) as upright text.

    >>> _target_latex("dL/dz"), _target_latex("d2L/dz2")
    ('\\frac{\\partial L}{\\partial z}', '\\mathrm{d2L/dz2}')
    """
    import re

    match = re.fullmatch(r"d([A-Za-z]\w*)/d([A-Za-z]\w*)", target)
    if match:
        return rf"\frac{{\partial {match.group(1)}}}{{\partial {match.group(2)}}}"
    return r"\mathrm{" + target.replace("_", r"\_").replace(" ", r"\ ") + "}"


# --- derive: a Derivation -------------------------------------------------------------------------
def derivation_html(d: Any) -> str:
    """A ``Derivation`` as HTML: symbols, forward, steps with their status, results in three notations.

    >>> from derive import derive
    >>> page = derivation_html(derive("information"))
    >>> page.count("<math") > 5, "partial(" in page
    (True, False)
    """
    sizes = ", ".join(f"{k} = {v}" for k, v in d.forward_sizes.items())
    parts = [f"<h3>{_h(d.title)} <code>{_h(d.name)}</code></h3>", f"<p><em>{_h(d.section)}</em></p>"]
    symbols = _table(("symbol", "shape", "domain", "meaning"),
                     ((f"<code>{_h(s.name)}</code>", _h(" × ".join(s.shape) or "scalar"), _h(s.domain), _h(s.meaning))
                      for s in d.symbols))
    parts.append(_folded("Symbols", symbols))
    if d.assumptions:
        parts.append("<p>Assumptions: " + "; ".join(_h(a) for a in d.assumptions) + "</p>")
    forward = _formula(d.forward, display=True)
    heading = f"Forward (at {sizes})" if sizes else "Forward"
    parts.append(_folded(heading, _scroll(forward)) if sp.count_ops(d.forward) > _FORWARD_FOLDED_FROM
                 else f"<p>{_h(heading)}:</p>{_scroll(forward)}")
    # Blocks, not a four-column table: a step's claim, formula and reason each get the full width (a phone's too)
    steps = "".join(f"<li><div>{_badge(s.status.label, s.status.kind)} {_h(s.claim)}</div>{_scroll(_formula(s.expr))}"
                    f"<div><small>because {_h(s.reason)}</small></div></li>" for s in d.steps)
    parts += ["<h4>Steps</h4>", f"<ol>{steps}</ol>", "<h4>Results</h4>"]
    for r in d.results:
        lines = [f"<div><b>{_h(r.target)}</b> {_badge(r.status.label, r.status.kind)}</div>",
                 _scroll(f"closed form: {_formula(r.closed)}")]
        if r.index is not None:
            lines.append(_scroll(f"index form: {_formula(r.index)}"))
        at = ", ".join(f"{k} = {v}" for k, v in r.entrywise_sizes.items())
        ops = sp.count_ops(r.entrywise)
        if ops <= _ENTRYWISE_SHOWN_UP_TO:
            lines.append(_folded(f"entrywise at {at}", _scroll(_formula(r.entrywise, display=True))))
        else:
            lines.append(f"<div><small>entrywise at {_h(at)}: {ops} operations (see the JSON)</small></div>")
        parts.append('<div style="margin:0 0 .8em">' + "".join(lines) + "</div>")
    return '<div class="gradproof">' + "".join(parts) + "</div>"


def derivation_latex(d: Any) -> str:
    r"""A ``Derivation``'s results as one LaTeX display: each target equal to its closed form.

    >>> from derive import derive
    >>> derivation_latex(derive("information")).startswith(r"$$\begin{aligned}")
    True
    """
    return _aligned([(_target_latex(r.target), sp.latex(r.closed)) for r in d.results])


# --- graphs: a Model, its Adjoints, a MatrixResult ------------------------------------------------
def model_svg(model: Any, adjoints: bool = False) -> str:
    """A graph model's picture as an ``<svg>`` element (graphs/draw.py: Graphviz when installed, else
    matplotlib), without the XML prolog, so that it inlines in HTML as well as it displays on its own.

    >>> from graphs.models import model
    >>> model_svg(model("perceptron"))[:4]
    '<svg'
    """
    from graphs.draw import render

    return _svg_element(render(model, "svg", adjoints=adjoints).decode())


def _adjoint_rows(adjoints: Any) -> list[tuple[str, sp.Basic, sp.Basic]]:
    """(node, local form, expanded form) for every named tensor visited, the output first: an unnamed
    op's node (``matmul#2``) is a step inside its consumer's rule, as on the drawn graph."""
    return [(node, adjoints.local[node], adjoints.adjoint[node]) for node in adjoints.order if "#" not in node]


def adjoints_html(adjoints: Any) -> str:
    """Reverse mode's adjoints as a table: each node's adjoint in terms of its consumers' (local) and
    of the seed and forward values (expanded), when that differs.

    >>> from graphs.backprop import backprop
    >>> from graphs.models import model
    >>> page = adjoints_html(backprop(model("attention")))
    >>> page.count("<tr>") > 5, "<math" in page
    (True, True)
    """
    from graphs.route import tree_size

    rows = []
    for node, local, expanded in _adjoint_rows(adjoints):
        cells = _formula(local)
        if expanded != local and tree_size(expanded) <= 40:  # as graphs/route.py: longer reads worse than local
            cells += f"<br>= {_formula(expanded)}"
        rows.append((f"<code>d{_h(node)}</code>", cells))
    return '<div class="gradproof">' + _table(("adjoint", "reverse mode"), rows) + "</div>"


def adjoints_latex(adjoints: Any) -> str:
    r"""The adjoints (local forms) as one LaTeX display.

    >>> from graphs.backprop import backprop
    >>> from graphs.models import model
    >>> r"\mathrm{d}V &= A^{T} G" in adjoints_latex(backprop(model("attention")))
    True
    """
    return _aligned([(rf"\mathrm{{d}}{_latex_name(node)}", sp.latex(local)) for node, local, _ in _adjoint_rows(adjoints)])


def _latex_name(node: str) -> str:
    if node.isidentifier() and "_" not in node:
        return node
    return r"\mathrm{" + node.replace("_", r"\_").replace("#", r"\#") + "}"


def matrix_result_html(r: Any) -> str:
    """One matrix-form gradient of the graph route (``graphs.route.MatrixResult``) as HTML.

    >>> from graphs.route import graph_results
    >>> "<math" in matrix_result_html(graph_results("softmax_ce")[0])
    True
    """
    return matrix_results_html([r])


def matrix_results_html(results: Sequence[Any]) -> str:
    """The graph route's matrix forms as a table (model, gradient, status)."""
    rows = []
    for r in results:
        cell = f"{_h(r.target)} = {_formula(r.local)}"
        if r.expanded is not None and r.expanded != r.local:
            cell += f"<br>= {_formula(r.expanded)}"
        if r.notes:
            cell += "".join(f"<br><small>{_h(n)}</small>" for n in r.notes)
        rows.append((f"<code>{_h(r.model)}</code>", cell, _badge(r.status.label, r.status.kind)))
    return '<div class="gradproof">' + _table(("model", "gradient (matrix form, every size)", "status"), rows) + "</div>"


def matrix_result_latex(r: Any) -> str:
    r"""``$$dQ = ...$$``: a matrix-form gradient as LaTeX.

    >>> from graphs.route import graph_results
    >>> matrix_result_latex(graph_results("softmax_ce")[0]).startswith("$$")
    True
    """
    return f"$${_latex_name(r.target)} = {sp.latex(r.local)}$$"


def expression_html(derivation: Any) -> str:
    """A forward's derivation (``gradproof.expressions.ExpressionDerivation``) as HTML.

    >>> from gradproof import derive_expression
    >>> "<math" in expression_html(derive_expression("L = sum(X ⊙ X)", {"X": "n,d"}))
    True
    """
    f = derivation.forward
    shapes = ", ".join(f"{name}: {' × '.join(str(d) for d in shape)}" for name, shape in f.shapes.items())
    return (f'<div class="gradproof"><p>Forward: <code>{_h(f.text)}</code><br>Shapes: {_h(shapes)}</p>'
            + matrix_results_html(derivation.results) + "</div>")


# --- verify: check records, grades ---------------------------------------------------------------
def record_html(record: Any) -> str:
    """One numeric check (``verify.check.Record``) as a one-row table."""
    return records_html([record])


def records_html(records: Sequence[Any]) -> str:
    """Numeric checks as a table, the tolerance given once per distinct rule, and a summary line.

    >>> from verify.check import Record
    >>> r = Record("softmax_ce", "dL/dz", "matrix", "cpu", "float64", 5, 1e-16, 2e-16, "1e-10 rel", None, True)
    >>> page = records_html([r])
    >>> "passed" in page and "1e-16" in page
    True
    """
    tolerances = list(dict.fromkeys(r.tolerance for r in records if r.passed is not None))
    rows = []
    for r in records:
        name = f"{r.claim} ({r.target})" if r.claim else f"{r.entry}:{r.target}"
        if r.passed is None:
            rows.append((_h(name), _h(r.route), _h(r.dtype), "", "", "", _badge("skipped", "skipped") + f" <small>{_h(r.note)}</small>"))
            continue
        tol = f"T{tolerances.index(r.tolerance) + 1}" if len(tolerances) > 1 else ""
        rows.append((_h(name), _h(r.route), _h(f"{r.dtype} {r.device}"), _h(f"{r.examples} ({r.sizes})" if r.sizes else r.examples),
                     _h(f"{r.max_abs_error:.2g}"), _h(f"{r.max_rel_error:.2g}"),
                     _badge(r.status, r.status) + (f" <small>{tol}</small>" if tol else "")))
    passed = sum(r.passed is True for r in records)
    failed = sum(r.passed is False for r in records)
    skipped = sum(r.passed is None for r in records)
    if len(tolerances) == 1:
        notes = [f"Tolerance: {_h(tolerances[0])}"]
    else:
        notes = [f"T{i}: {_h(t)}" for i, t in enumerate(tolerances, start=1)]
    summary = f"{passed} passed, {failed} failed, {skipped} without a formula on that route"
    table = _table(("check", "route", "dtype, device", "examples", "max abs error", "max rel error", "status"), rows)
    return (f'<div class="gradproof">{table}<p><small>{"<br>".join(notes)}</small></p><p>{_h(summary)}</p></div>')


def grade_html(grade: Any) -> str:
    """A graded answer (``verify.homework.problems.Grade``): verdict, score, method, feedback,
    and the counterexample when there is one.

    >>> from verify.homework.problems import Grade
    >>> page = grade_html(Grade("softmax_ce:grad_z", "incorrect", 0.5, "sign flipped", {"inputs": {"z_1": 1.0},
    ...                                                             "expected": 1.0, "yours": -1.0}, "symbolic"))
    >>> "incorrect" in page and "sign flipped" in page and "z_1" in page
    True
    """
    parts = [f"<p><code>{_h(grade.problem)}</code> {_badge(grade.verdict, grade.verdict)} score {grade.score:g}"
             + (f" <small>({_h(grade.method)})</small>" if grade.method else "") + "</p>",
             f"<p>{_h(grade.feedback)}</p>"]
    c = grade.counterexample
    if c:
        if "row" in c:  # a numeric exercise's table
            parts.append(f"<p>row {_h(c['row'])} ({_h(c.get('label', ''))}): expected {_h(c.get('expected'))}, "
                         f"yours {_h(c.get('yours') or 'nothing')}</p>")
        else:
            inputs = c.get("inputs", {})
            rows = [(f"<code>{_h(k)}</code>", _value(v)) for k, v in inputs.items()] if isinstance(inputs, Mapping) else []
            entry = f" (entry {_h(c['entry'])})" if c.get("entry") else ""
            parts.append(f"<p>Counterexample{entry}: expected {_h(c.get('expected'))}, yours {_h(c.get('yours'))}</p>")
            if rows:
                parts.append(_folded("at the inputs", _table(("input", "value"), rows)))
    return '<div class="gradproof">' + "".join(parts) + "</div>"


def _value(value: Any) -> str:
    """A counterexample's input: a matrix (nested lists) typeset, anything else as text."""
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        return _formula(sp.Matrix(value))
    if isinstance(value, list):
        return _formula(sp.Matrix([value]).T)  # a vector is a column, as the lecture writes it
    return _h(value)


class Checks(list):  # type: ignore[type-arg]
    """The records of ``gradproof.verify``: a list of ``verify.check.Record`` shown as one table."""

    @property
    def ok(self) -> bool:
        """No check failed (a route without a formula is not a failure)."""
        return not any(r.passed is False for r in self)

    def _repr_html_(self) -> str:
        return records_html(self)


# --- graph pictures and reports as values --------------------------------------------------------
class Graph:
    """A model's computation graph, shown as SVG (with every adjoint when ``adjoints``).

    >>> g = graph("perceptron")
    >>> g._repr_svg_().lstrip().startswith("<svg"), g.model.name
    (True, 'perceptron')
    """

    def __init__(self, model: Any, adjoints: bool = True) -> None:
        self.model = model
        self.adjoints = adjoints
        self._svg: str | None = None

    def svg(self) -> str:
        """The picture as an ``<svg>`` element (drawn once)."""
        if self._svg is None:
            self._svg = model_svg(self.model, self.adjoints)
        return self._svg

    def backprop(self) -> Any:
        """Reverse mode over the graph: ``graphs.backprop.Adjoints``, shown as a table."""
        from graphs.backprop import backprop

        return backprop(self.model)

    def save(self, path: str | Path, engine: str = "auto") -> Path:
        """Write the picture; the extension decides the format (svg, png, dot, json)."""
        from graphs.draw import FORMATS, render

        target = Path(path)
        fmt = target.suffix.lstrip(".")
        if fmt not in FORMATS:
            raise ValueError(f"{target.name}: the extension decides the format; use one of {', '.join(FORMATS)}")
        target.write_bytes(render(self.model, fmt, adjoints=self.adjoints, engine=engine))
        return target

    def _repr_svg_(self) -> str:
        return self.svg()


class Report:
    """A derivation report (the document ``gradproof report`` writes), shown inline in a notebook.

    ``doc`` is the JSON-able document; ``html()`` and ``markdown()`` lay it out; ``save(folder)``
    writes the files ``gradproof report -o folder`` writes.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    @property
    def ok(self) -> bool:
        return bool(self.doc["summary"]["ok"])

    def html(self) -> str:
        """The self-contained HTML page."""
        from .report import report_html

        return report_html(self.doc)

    def markdown(self) -> str:
        """The Markdown page (graphs referred to as ``NAME.MODEL.svg`` files, as ``save`` writes them)."""
        from .report import report_markdown

        return report_markdown(self.doc, [f"{self.doc['name']}.{g['model']}.svg" for g in self.doc["graphs"]])

    def save(self, folder: str | Path = ".", formats: Sequence[str] = ("md", "html")) -> list[Path]:
        """Write the report into ``folder`` in ``formats`` (md, html, json, tex, pdf); the paths written."""
        from .report import write_report

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        return [out / name for name in write_report(out, self.doc, list(formats))]

    def _repr_html_(self) -> str:
        # The page has its own stylesheet: an iframe keeps it from restyling the notebook around it.
        return (f'<iframe srcdoc="{_h(self.html())}" style="width:100%;height:600px;border:1px solid #ddd" '
                f'title="{_h(self.doc["title"])}"></iframe>')


# --- the Python API (exported by gradproof/__init__.py) --------------------------------------------
def derive(name: str, sizes: Mapping[str, int] | None = None) -> Any:
    """Derive a catalog entry (``gradproof list``) exactly: a ``derive.types.Derivation`` whose steps
    carry their status; a notebook shows it typeset. ``sizes`` as ``gradproof derive --sizes``.

    >>> d = derive("information")
    >>> d.results[0].target, d.results[0].status.label
    ('dH/dp', 'proved')
    """
    from derive.catalog import derive as derive_entry
    from graphs.lift import lift

    # derive/ proves entrywise; claims the graph route proves at every size are lifted here.
    return lift(derive_entry(name, dict(sizes) if sizes else None))


def graph(name: str, adjoints: bool = True) -> Graph:
    """The computation graph of a model, or of the first model of a catalog entry; shown as SVG with
    each named tensor's adjoint (``adjoints=False`` for the bare graph). ``.backprop()`` gives the
    adjoints as formulas, ``.save("a.svg")`` writes the picture.

    >>> graph("attention").model.output
    'O'
    """
    from graphs.models import MODELS, model, models_for_entry

    names = models_for_entry(name)
    if not names:
        raise KeyError(f"no graph model for {name!r}; models: {', '.join(sorted(MODELS))}")
    return Graph(model(names[0]), adjoints=adjoints)


def verify(*names: str, examples: int = 20, dtype: str = "float64", route: str = "both", device: str = "cpu",
           size: str = "small", seed: int | None = None) -> Checks:
    """Check catalog targets (``entry``, ``entry:claim``, or nothing for all) against torch autograd on
    Hypothesis inputs, as ``gradproof verify`` does; the records show as a table.

    >>> checks = verify("information", examples=3, route="matrix")
    >>> checks.ok, {r.status for r in checks} <= {"passed", "skipped"}
    (True, True)
    """
    from verify.check import DTYPES

    from .expressions import check_named

    if examples < 1:
        raise ValueError("examples must be at least 1")
    records = check_named(names, route, device=device, dtype=DTYPES[dtype], examples=examples, size=size, seed=seed)
    return Checks(records)


def check(problem_id: str, answer: str, seconds: float = 10.0, reveal: bool = False) -> Any:
    """Grade one answer to a homework problem (``gradproof problems``), in a worker process with a time
    limit, as ``gradproof check`` does: a ``Grade`` with verdict, score, feedback and counterexample.

    >>> g = check("softmax_ce:grad_z", "p_i - y_i")
    >>> g.verdict, g.score
    ('correct', 1.0)
    """
    from verify.forwards import NAMES as FORWARD_NAMES
    from verify.homework.problems import canonical_id, revealed
    from verify.homework.worker import BoundedGrader

    if problem_id.replace(".", ":").split(":")[0] in FORWARD_NAMES:
        from verify.forwards import register_problems

        register_problems()  # an entry written as a forward has its problems built on demand
    problem_id = canonical_id(problem_id)
    with BoundedGrader(seconds) as grader:
        result = grader(problem_id, answer)
    if reveal:
        result.feedback = revealed(problem_id, result.feedback)
    return result


def report_for(name: str, lang: str = "en", examples: int = 20) -> Report:
    """Build the report of a catalog entry (derivation, graph, numeric checks), as ``gradproof report``
    does; shown inline, ``.save(folder)`` writes its files. (Not ``gradproof.report``: that name is the
    module gradproof/report.py.)

    >>> r = report_for("information", examples=3)
    >>> r.ok, "<math" in r.html()
    (True, True)
    """
    from verify.forwards import NAMES as FORWARD_NAMES

    from .report import build_report

    if name in FORWARD_NAMES:
        from verify.forwards import claims_for_report, entry, forward_of

        from .expression_report import build_expression_report

        item = entry(name)
        return Report(build_expression_report(forward_of(item), examples=examples, lang=lang,
                                              claims=claims_for_report(item)))
    return Report(build_report(name, examples=examples, lang=lang))
