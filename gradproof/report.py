"""Derivation reports a lecturer can hand out: one document per catalog entry, in JSON, Markdown and HTML.

``build_report`` gathers everything about an entry into one JSON-able document: the question in
the lecture's notation, the forward computation, the computation graph (SVG, with adjoints), every
step with its status, the results in three notations, the graph route's matrix forms, the numeric
checks against autograd, and the commands that reproduce it. The writers only lay that document
out: ``report_markdown`` (``$...$`` math for code hosts) and ``report_html`` (one self-contained
file: math as MathML from SymPy's printer, the graph inlined as SVG, no scripts, no CDN).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy as sp

__all__ = [
    "build_report", "report_markdown", "report_html", "index_markdown", "index_html", "STATUS_WORDS", "sources_fingerprint",
]

# How each label reads at a glance, and what it promises.
STATUS_WORDS = {
    "proved": "proved for every size (symbolic)",
    "proved_sizes": "proved entry by entry at the listed sizes",
    "numeric": "checked numerically only",
    "failed": "FAILED",
}
_ENTRYWISE_SHOWN_UP_TO = 300  # operations; larger entrywise forms are left to the JSON report


def _math(expr: sp.Basic) -> dict[str, str]:
    """One formula as LaTeX (Markdown, TeX) and presentation MathML (HTML)."""
    from sympy.printing.mathml import mathml

    from derive.atoms import to_sympy_functions

    latex = sp.latex(expr)
    try:
        markup = mathml(to_sympy_functions(expr), printer="presentation")
    except Exception:  # a class without a MathML rule: show its LaTeX source rather than nothing
        markup = f"<mtext>{html.escape(latex)}</mtext>"
    return {"latex": latex, "mathml": markup, "text": str(expr)}


def _status(label: str, kind: str) -> dict[str, str]:
    return {"label": label, "kind": kind, "meaning": STATUS_WORDS[kind]}


def build_report(name: str, examples: int = 20, dtypes: Sequence[str] = ("float64", "float32"),
                 progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """The whole report of one catalog entry as a JSON-able document.

    >>> doc = build_report("information", examples=3, dtypes=("float64",))
    >>> doc["name"], doc["summary"]["numeric_checks"]["failed"], doc["results"][0]["status"]["label"]
    ('information', 0, 'proved')
    """
    from derive.catalog import derive
    from graphs.draw import render
    from graphs.models import model, models_for_entry
    from graphs.route import graph_results
    from verify.check import DTYPES, run_check
    from verify.targets import targets_for

    stages = 3
    if progress:
        progress(0, stages, "derive")
    d = derive(name)
    steps = [
        {"key": s.key, "claim": s.claim, "math": _math(s.expr), "reason": s.reason,
         "status": _status(s.status.label, s.status.kind), "detail": s.status.detail}
        for s in d.steps
    ]
    results = []
    for r in d.results:
        small = sp.count_ops(r.entrywise) <= _ENTRYWISE_SHOWN_UP_TO
        results.append({
            "target": r.target, "wrt": r.wrt, "status": _status(r.status.label, r.status.kind),
            "closed": _math(r.closed),
            "index": _math(r.index) if r.index is not None else None,
            "entrywise": _math(r.entrywise) if small else None,
            "entrywise_sizes": dict(r.entrywise_sizes),
        })
    if progress:
        progress(1, stages, "graph route")
    matrix = [
        {"model": m.model, "target": m.target, "wrt": m.wrt, "intermediate": m.intermediate, "local": _math(m.local),
         "status": _status(m.status.label, m.status.kind)}
        for m in graph_results(name)
    ]
    graphs = [{"model": m, "svg": render(model(m), "svg", adjoints=True).decode()} for m in models_for_entry(name)]
    if progress:
        progress(2, stages, "numeric checks")
    records = []
    for dtype in dtypes:
        records += run_check(targets_for((name,)), dtype=DTYPES[dtype], examples=examples)
    checks = [r.to_json() for r in records]
    if progress:
        progress(3, stages, "done")
    kinds = [s["status"]["kind"] for s in steps]
    return {
        "name": d.name,
        "title": d.title,
        "section": d.section,
        "question": f"{d.title}: derive {', '.join(d.targets)}, in the notation of the lecture (section {d.section}).",
        "symbols": [{"name": s.name, "shape": list(s.shape), "domain": s.domain, "meaning": s.meaning} for s in d.symbols],
        "assumptions": list(d.assumptions),
        "forward": {"sizes": dict(d.forward_sizes), "math": _math(d.forward)},
        "graphs": graphs,
        "steps": steps,
        "results": results,
        "matrix_form": matrix,
        "checks": checks,
        "summary": {
            "steps": {kind: kinds.count(kind) for kind in STATUS_WORDS if kinds.count(kind)},
            "numeric_checks": {
                "passed": sum(c["passed"] is True for c in checks),
                "failed": sum(c["passed"] is False for c in checks),
                "without_formula": sum(c["passed"] is None for c in checks),
            },
            "ok": d.ok and not any(c["passed"] is False for c in checks)
            and not any(m["status"]["kind"] == "failed" for m in matrix),
        },
        "reproduce": [f"gradproof derive {name}", f"gradproof verify {name} --examples {examples}",
                      f"gradproof report {name} --format html"],
    }


# --- Markdown ------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _badge(status: Mapping[str, str]) -> str:
    return f"**{status['label']}**" if status["kind"] != "failed" else f"**{status['label']} (!)**"


def report_markdown(doc: Mapping[str, Any], svg_files: Sequence[str] = ()) -> str:
    """The report as Markdown with ``$...$`` math (GitHub, GitLab and most notebooks render it);
    ``svg_files`` are where the graphs' pictures were written, one per model."""
    out = [f"# {doc['title']}", "", f"*{doc['section']}* · catalog entry `{doc['name']}`", "", doc["question"], ""]
    out += _md_summary(doc)
    out += ["## Symbols", "", "| symbol | shape | domain | meaning |", "|---|---|---|---|"]
    out += [f"| {_md_cell(s['name'])} | {' x '.join(s['shape']) or 'scalar'} | {_md_cell(s['domain'])} | "
            f"{_md_cell(s['meaning'])} |" for s in doc["symbols"]]
    if doc["assumptions"]:
        out += ["", "Assumptions: " + "; ".join(doc["assumptions"]) + "."]
    sizes = ", ".join(f"{k} = {v}" for k, v in doc["forward"]["sizes"].items())
    out += ["", "## Forward computation", "", f"The scalar that is differentiated, written out at {sizes}:", "",
            f"$$ {doc['forward']['math']['latex']} $$", ""]
    if svg_files:
        out += ["## Computation graph", ""]
        for graph, svg in zip(doc["graphs"], svg_files):
            out += [f"![computation graph of {graph['model']}, with adjoints]({svg})", "", f"Model `{graph['model']}`.", ""]
        out += ["Parameters blue, data grey, named tensors with their shapes, each annotated with its adjoint.", ""]
    out += ["## Derivation, step by step", ""]
    for number, step in enumerate(doc["steps"], 1):
        out += [f"{number}. {step['claim']} — {_badge(step['status'])}", "",
                f"   $$ {step['math']['latex']} $$", "", f"   *Why:* {step['reason']}", ""]
    out += ["## Results", ""]
    for r in doc["results"]:
        out += [f"### {r['target']} — {_badge(r['status'])}", "", f"Closed form: $ {r['closed']['latex']} $", ""]
        if r["index"]:
            out += [f"Index form: $ {r['index']['latex']} $", ""]
        sizes = ", ".join(f"{k} = {v}" for k, v in r["entrywise_sizes"].items())
        if r["entrywise"]:
            out += [f"Entrywise at {sizes}:", "", f"$$ {r['entrywise']['latex']} $$", ""]
        else:
            out += [f"Entrywise at {sizes}: too long to typeset; it is in the JSON report.", ""]
    if doc["matrix_form"]:
        out += ["## Matrix form for every size (reverse mode over the graph)", "", "| model | gradient | formula | status |",
                "|---|---|---|---|"]
        out += [f"| {m['model']} | {m['target']} | $ {_md_cell(m['local']['latex'])} $ | {m['status']['label']} |"
                for m in doc["matrix_form"]]
        out.append("")
    out += _md_checks(doc)
    out += ["## Reproduce", "", "```console"] + [f"$ {c}" for c in doc["reproduce"]] + ["```", ""]
    return "\n".join(out)


def _md_summary(doc: Mapping[str, Any]) -> list[str]:
    s = doc["summary"]
    steps = ", ".join(f"{n} {STATUS_WORDS[k]}" for k, n in s["steps"].items())
    checks = s["numeric_checks"]
    return ["> **At a glance.** " + f"Steps: {steps}. Numeric checks against PyTorch autograd: {checks['passed']} "
            f"passed, {checks['failed']} failed, {checks['without_formula']} without a formula on that route. "
            "*Proved* means SymPy reduced the difference to exactly 0; *checked numerically* is agreement within a "
            "stated tolerance on stated inputs, never a proof.", ""]


def _md_checks(doc: Mapping[str, Any]) -> list[str]:
    out = ["## Numeric checks against PyTorch autograd", "",
           "| target | route | device | dtype | examples | sizes | max abs error | max rel error | tolerance | result |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for c in doc["checks"]:
        out.append(f"| {_md_cell(c['target'])} | {c['route']} | {c['device']} | {c['dtype']} | {c['examples']} | "
                   f"{_md_cell(c['sizes'])} | {_num(c['max_abs_error'])} | {_num(c['max_rel_error'])} | "
                   f"{_md_cell(c['tolerance'])} | {c['status']} |")
    return out + [""]


def _num(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:.2g}"


# --- HTML ----------------------------------------------------------------------------------------
_CSS = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:52rem;margin:0 auto;padding:1rem;color:#1b1b1b}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#555}.glance{background:#f3f6fb;border-left:4px solid #2b6cb0;padding:.6rem .9rem;margin:1rem 0}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.85rem;font-weight:600;white-space:nowrap}
.proved{background:#d8f3dc;color:#1b4332}.proved_sizes{background:#e6f0d5;color:#3a5a17}
.numeric{background:#fff3cd;color:#7a5b00}.failed{background:#f8d7da;color:#842029}
.skipped{background:#eee;color:#555}.passed{background:#d8f3dc;color:#1b4332}
math{font-size:1.05em}.display{overflow-x:auto;padding:.3rem 0}
.step{margin:1rem 0}.why{color:#444;font-style:italic}
.table{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ddd;padding:.25rem .4rem;vertical-align:top}
.graph svg{max-width:100%;height:auto}code,pre{background:#f6f6f6;padding:.1rem .3rem}
@media print{body{max-width:none;font-size:11pt}.graph svg{max-height:60vh}h2{break-after:avoid}.step{break-inside:avoid}}
"""


def _h(text: Any) -> str:
    return html.escape(str(text))


def _mathml(math: Mapping[str, str], display: bool = False) -> str:
    element = f'<math display="{"block" if display else "inline"}" alttext="{_h(math["latex"])}">{math["mathml"]}</math>'
    return f'<div class="display">{element}</div>' if display else element


def _pill(kind: str, label: str) -> str:
    return f'<span class="badge {_h(kind)}">{_h(label)}</span>'


def report_html(doc: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: MathML math, inline SVG, no scripts or network."""
    s = doc["summary"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(doc['title'])} · gradproof</title><style>{_CSS}</style></head><body>",
        f"<h1>{_h(doc['title'])}</h1>",
        f'<p class="meta">{_h(doc["section"])} · catalog entry <code>{_h(doc["name"])}</code></p>',
        f"<p>{_h(doc['question'])}</p>",
        '<div class="glance"><strong>At a glance.</strong> Steps: '
        + ", ".join(f"{_pill(k, str(n) + ' ' + STATUS_WORDS[k])}" for k, n in s["steps"].items())
        + f". Numeric checks against PyTorch autograd: {s['numeric_checks']['passed']} passed, "
        f"{s['numeric_checks']['failed']} failed, {s['numeric_checks']['without_formula']} without a formula on that "
        "route. <em>Proved</em> means SymPy reduced the difference to exactly 0; <em>checked numerically</em> is "
        "agreement within a stated tolerance on stated inputs, never a proof.</div>",
        "<h2>Symbols</h2>", '<div class="table"><table><tr><th>symbol</th><th>shape</th><th>domain</th><th>meaning</th></tr>',
    ]
    parts += [f"<tr><td>{_h(x['name'])}</td><td>{_h(' x '.join(x['shape']) or 'scalar')}</td><td>{_h(x['domain'])}</td>"
              f"<td>{_h(x['meaning'])}</td></tr>" for x in doc["symbols"]]
    parts.append("</table></div>")
    if doc["assumptions"]:
        parts.append(f"<p>Assumptions: {_h('; '.join(doc['assumptions']))}.</p>")
    sizes = ", ".join(f"{k} = {v}" for k, v in doc["forward"]["sizes"].items())
    parts += ["<h2>Forward computation</h2>", f"<p>The scalar that is differentiated, written out at {_h(sizes)}:</p>",
              _mathml(doc["forward"]["math"], display=True)]
    if doc["graphs"]:
        parts.append("<h2>Computation graph</h2>")
        parts += [f'<figure class="graph">{_strip_xml_header(g["svg"])}<figcaption>Model <code>{_h(g["model"])}</code>: '
                  "parameters blue, data grey, named tensors with their shapes, each annotated with its adjoint."
                  "</figcaption></figure>" for g in doc["graphs"]]
    parts.append("<h2>Derivation, step by step</h2><ol>")
    for step in doc["steps"]:
        parts.append(f'<li class="step">{_h(step["claim"])} {_pill(step["status"]["kind"], step["status"]["label"])}'
                     f'{_mathml(step["math"], display=True)}<div class="why">Why: {_h(step["reason"])}</div></li>')
    parts += ["</ol>", "<h2>Results</h2>"]
    for r in doc["results"]:
        parts.append(f"<h3>{_h(r['target'])} {_pill(r['status']['kind'], r['status']['label'])}</h3>")
        parts.append(f"<p>Closed form: {_mathml(r['closed'])}</p>")
        if r["index"]:
            parts.append(f"<p>Index form: {_mathml(r['index'])}</p>")
        sizes = ", ".join(f"{k} = {v}" for k, v in r["entrywise_sizes"].items())
        parts.append(f"<p>Entrywise at {_h(sizes)}:</p>{_mathml(r['entrywise'], display=True)}" if r["entrywise"]
                     else f"<p>Entrywise at {_h(sizes)}: too long to typeset; it is in the JSON report.</p>")
    if doc["matrix_form"]:
        parts += ["<h2>Matrix form for every size (reverse mode over the graph)</h2>",
                  '<div class="table"><table><tr><th>model</th><th>gradient</th><th>formula</th><th>status</th></tr>']
        parts += [f"<tr><td>{_h(m['model'])}</td><td>{_h(m['target'])}</td><td>{_mathml(m['local'])}</td>"
                  f"<td>{_pill(m['status']['kind'], m['status']['label'])}</td></tr>" for m in doc["matrix_form"]]
        parts.append("</table></div>")
    parts += ["<h2>Numeric checks against PyTorch autograd</h2>", '<div class="table"><table><tr><th>target</th>'
              "<th>route</th><th>device</th><th>dtype</th><th>examples</th><th>sizes</th><th>max abs error</th>"
              "<th>max rel error</th><th>tolerance</th><th>result</th></tr>"]
    parts += [f"<tr><td>{_h(c['target'])}</td><td>{_h(c['route'])}</td><td>{_h(c['device'])}</td><td>{_h(c['dtype'])}</td>"
              f"<td>{c['examples']}</td><td>{_h(c['sizes'])}</td><td>{_h(_num(c['max_abs_error']))}</td>"
              f"<td>{_h(_num(c['max_rel_error']))}</td><td>{_h(c['tolerance'])}</td>"
              f"<td>{_pill(c['status'], c['status'])}</td></tr>" for c in doc["checks"]]
    parts += ["</table></div>", "<h2>Reproduce</h2>", "<pre>" + "\n".join(f"$ {_h(c)}" for c in doc["reproduce"]) + "</pre>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


def _strip_xml_header(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


# --- the gallery's index -------------------------------------------------------------------------
def index_markdown(docs: Sequence[Mapping[str, Any]]) -> str:
    """The gallery's front page: every entry, its step labels and its numeric checks."""
    out = ["# gradproof gallery", "", "One report per catalog entry, generated by `gradproof report --all -o reports`.", "",
           "| entry | lecture section | steps | numeric checks | report |", "|---|---|---|---|---|"]
    for d in docs:
        s = d["summary"]
        steps = ", ".join(f"{n} {k.replace('_sizes', ' at sizes')}" for k, n in s["steps"].items())
        checks = s["numeric_checks"]
        out.append(f"| {d['title']} | {_md_cell(d['section'])} | {steps} | {checks['passed']} passed, "
                   f"{checks['failed']} failed | [md]({d['name']}.md) · [html]({d['name']}.html) |")
    return "\n".join(out) + "\n"


def index_html(docs: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for d in docs:
        s = d["summary"]
        steps = " ".join(_pill(k, f"{n} {k.replace('_sizes', ' at sizes')}") for k, n in s["steps"].items())
        checks = s["numeric_checks"]
        rows.append(f'<tr><td><a href="{_h(d["name"])}.html">{_h(d["title"])}</a></td><td>{_h(d["section"])}</td>'
                    f"<td>{steps}</td><td>{checks['passed']} passed, {checks['failed']} failed</td></tr>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            f"content=\"width=device-width, initial-scale=1\"><title>gradproof gallery</title><style>{_CSS}</style></head>"
            "<body><h1>gradproof gallery</h1><p>One report per catalog entry, generated by "
            "<code>gradproof report --all -o reports</code>.</p><div class=\"table\"><table><tr><th>entry</th>"
            "<th>lecture section</th><th>steps</th><th>numeric checks</th></tr>" + "".join(rows)
            + "</table></div></body></html>\n")


# --- staleness of the committed gallery ----------------------------------------------------------
_SOURCES = ("derive", "graphs", "verify")


def sources_fingerprint(root: Any = None) -> str:
    """A hash of every source file a report is made from (derive/, graphs/, verify/, this writer).

    The gallery stores it; a test recomputes it, so a gallery older than the code fails CI.
    """
    import hashlib
    from pathlib import Path

    base = Path(root) if root else Path(__file__).resolve().parents[1]
    files = sorted(p for folder in _SOURCES for p in (base / folder).rglob("*.py")) + [base / "gradproof" / "report.py"]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
