"""The report of a forward written as an expression: the same document a catalog entry gets.

``build_expression_report`` gathers a ``Forward`` (verify/expression.py) into the JSON-able
document that gradproof/report.py's writers lay out (``report_html``, ``report_markdown``,
``report_tex``, or ``json.dumps``): the forward typeset statement by statement, the declared
shapes and domains, each input's matrix-form gradient (local, and expanded where short) with its
status and what the status rests on, the graph with adjoints, the numeric checks against autograd,
and the commands that reproduce it. A catalog entry's derivation steps come from derive/; a forward
has none, so its document says ``kind: expression`` and its gradients' statuses stand where the
steps' would.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx
import sympy as sp

from .report import _math, _status, matrix_rows, numeric_summary
from .words import Words, translate

__all__ = ["build_expression_report", "forward_command", "statements_math"]


def _dims_text(shape: Sequence[sp.Expr]) -> str:
    """A declared shape as ``--shape`` takes it: a column ``(k, 1)`` is written ``k``, as declared."""
    rows, cols = shape
    return str(rows) if cols == 1 else f"{rows},{cols}"


def forward_command(command: str, forward: Any, *extra: str) -> str:
    """The shell command that runs ``gradproof COMMAND`` on this forward (every argument quoted).

    >>> from verify.expression import read_forward
    >>> f = read_forward("L = sum(X ⊙ X)", {"X": "n,d", "b": "k"}, wrt=["X"], domains={"b": "positive"})
    >>> forward_command("derive", f)
    "gradproof derive --expr 'L = sum(X ⊙ X)' --shape X=n,d --shape b=k --wrt X --domain b=positive"
    """
    words = ["gradproof", command, "--expr", forward.text]
    words += [part for name, shape in forward.shapes.items() for part in ("--shape", f"{name}={_dims_text(shape)}")]
    words += ["--wrt", ",".join(forward.wrt)] if forward.wrt else []
    words += [part for name, kind in forward.domains.items() for part in ("--domain", f"{name}={kind}")]
    return " ".join(shlex.quote(w) for w in [*words, *extra])


def statements_math(model: Any) -> dict[str, str]:
    """The forward as its named statements, ``R = ...`` one per line, in the order they run: LaTeX
    (``aligned``), presentation MathML (a table) and text, as ``report._math`` gives one formula.

    >>> from verify.expression import read_forward
    >>> m = read_forward("S = Q K^T; L = sum(S)", {"Q": "n,d", "K": "n,d"}).build()
    >>> statements_math(m)["latex"]
    '\\\\begin{aligned} S &= Q K^{T} \\\\\\\\ L &= \\\\operatorname{sum}\\\\left(S\\\\right) \\\\end{aligned}'
    """
    graph = model.graph
    rows = []
    for node in nx.topological_sort(graph):
        data = graph.nodes[node]
        if data["op"] != "input" and data["label"]:
            rows.append((_math(data["value"]), _math(data["formula"])))
    latex = r"\begin{aligned} " + r" \\ ".join(f"{lhs['latex']} &= {rhs['latex']}" for lhs, rhs in rows) + r" \end{aligned}"
    mathml = "<mtable>" + "".join(
        f'<mtr><mtd columnalign="right">{lhs["mathml"]}</mtd><mtd columnalign="left"><mo>=</mo>{rhs["mathml"]}</mtd></mtr>'
        for lhs, rhs in rows) + "</mtable>"
    return {"latex": latex, "mathml": mathml, "text": "; ".join(f"{lhs['text']} = {rhs['text']}" for lhs, rhs in rows)}


def _symbols(model: Any, words: Words) -> list[dict[str, Any]]:
    """Every input of the model: its shape, its declared domain, and whether it has a gradient."""
    out = []
    for _, data in model.graph.nodes(data=True):
        if data["op"] == "input":
            role = words.ui("expr_parameter") if data["role"] != "constant" else words.ui("expr_data")
            out.append({"name": data["label"], "shape": [str(d) for d in data["shape"]],
                        "domain": data.get("kind", "real"), "meaning": role})
    return out


def build_expression_report(forward: Any, examples: int = 20, lang: str = "en",
                            dtypes: Sequence[str] = ("float64", "float32"),
                            progress: Callable[[int, int, str], None] | None = None,
                            claims: Mapping[str, tuple[Any, Any]] | None = None) -> dict[str, Any]:
    """The whole report of a forward expression as a JSON-able document (``kind: expression``).

    >>> from verify.expression import read_forward
    >>> f = read_forward("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["W"])
    >>> doc = build_expression_report(f, examples=3, dtypes=("float64",))
    >>> doc["results"][0]["target"], doc["results"][0]["status"]["label"], doc["summary"]["ok"]
    ('dW', 'proved', True)
    """
    from graphs.draw import render
    from graphs.route import graph_results, model_status
    from verify.check import DTYPES
    from verify.expression import register
    from verify.expression_check import check_forward

    words = Words(lang)
    stages = 3
    if progress:
        progress(0, stages, "graph route")
    name = register(forward)
    model = forward.build()
    status = model_status(name)
    matrix = graph_results(name, {name: status})
    results = [
        {"target": m.target, "wrt": m.wrt, "status": _status(m.status.label, m.status.kind),
         "closed": _math(m.expanded if m.expanded is not None else m.local), "local": _math(m.local),
         "expanded": _math(m.expanded) if m.expanded is not None else None, "rests_on": m.status.detail,
         "index": None, "entrywise": None, "entrywise_sizes": {}}
        for m in matrix if not m.intermediate
    ]
    for r in results:  # a catalog entry written as a forward: its claim in the lecture's notation, and its status
        if claims and r["wrt"] in claims:
            formula, claimed = claims[r["wrt"]]
            r["claim"] = {"math": _math(formula), "status": _status(claimed.label, claimed.kind)}
    if progress:
        progress(1, stages, "graph picture")
    graphs = [{"model": name, "svg": render(model, "svg", adjoints=True).decode()}]
    if progress:
        progress(2, stages, "numeric checks")
    checks = [r.to_json() for dtype in dtypes for r in check_forward(forward, examples=examples, dtype=DTYPES[dtype])]
    if progress:
        progress(3, stages, "done")
    kinds = [r["status"]["kind"] for r in results]
    loss = model.graph.nodes[model.output]["label"] or "L"
    doc = translate({
        "kind": "expression",
        "name": name,
        "title": words.ui("expr_title", loss=loss, wrt=", ".join(r["wrt"] for r in results) or "-"),
        "section": words.ui("expr_section"),
        "targets": [f"d{loss}/d{r['wrt']}" for r in results],
        "symbols": _symbols(model, words),
        "assumptions": [],
        "forward": {"sizes": {}, "math": statements_math(model), "text": forward.text},
        "graphs": graphs,
        "steps": [],
        "results": results,
        "matrix_form": matrix_rows(matrix),
        "checks": checks,
        "summary": {
            "steps": {},
            "gradients": {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)},
            "numeric_checks": numeric_summary(checks),
            "ok": status.kind != "failed" and not any(c["passed"] is False for c in checks),
        },
        "reproduce": [forward_command("derive", forward),
                      forward_command("verify", forward, "--examples", str(examples)),
                      forward_command("graph", forward, "--adjoints", "-o", f"{name}.svg"),
                      forward_command("report", forward, "--format", "html", *(["--lang", lang] if lang != "en" else []))],
    }, lang)
    doc["question"] = words.ui("expr_question", loss=loss, targets=", ".join(doc["targets"]) or "-")
    return doc
