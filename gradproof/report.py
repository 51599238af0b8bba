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

from .words import LANGUAGES, STATUS_WORDS, Words, translate

__all__ = [
    "LANGUAGES", "STATUS_WORDS", "UI_PAGES", "Words", "build_report", "index_html", "index_markdown", "matrix_rows", "numeric_summary",
    "report_html", "report_markdown", "graph_caption", "report_files", "strongest", "tolerances", "translate", "write_report",
]

_ENTRYWISE_SHOWN_UP_TO = 300  # operations; larger entrywise forms are left to the JSON report
# A sum wider than this (characters) is laid out a few terms per row; a formula still wider than
# _PHONE_WIDTH after that is folded into a collapsible block, as a 390 px phone shows about that many.
_FOLD_WIDTH = 30
# Strings these pages add (helper zh translates them into gradproof/locale/*.toml's [ui]).
UI_PAGES: dict[str, str] = {
    "strongest_intro": "What holds for each target, and how",
    "how": "How it holds at every size",
    "strongest_matrix": "for every size: the matrix form, by reverse mode over the graph of {models}",
    "strongest_symbolic": "for every size, by the derivation (symbolic)",
    "strongest_lifted": "for every size: the graph route's matrix form, proved equal to the claim in index form",
    "strongest_sizes": "entry by entry at the listed sizes",
    "strongest_numeric": "checked numerically only",
    "strongest_failed": "see the steps and checks below",
    "proved": "proved",
    "fold": "{what}: long, click to show",
    "tolerance_once": "Tolerance for {dtype}: {tolerance}.",
    "tolerance_marked": "Tolerance {mark}: {tolerance}.",
    "graph_legend": "Model {model}: {colours}; named tensors with their shapes, each annotated with its adjoint.",
    "colour_of": "{role} {colour}",
    "role_parameter": "parameters", "role_input": "inputs with a gradient", "role_constant": "data without a gradient",
    "role_value": "named intermediate tensors", "role_op": "operations",
    "colour_blue": "blue", "colour_green": "green", "colour_grey": "grey", "colour_white": "white",
    "colour_yellow": "yellow", "colour_red": "red", "colour_purple": "purple", "colour_orange": "orange",
}
_PHONE_WIDTH = 34
_PAGE_WIDTH = 62  # a 52rem column, or A4 in print


def _math(expr: sp.Basic) -> dict[str, str]:
    """One formula as LaTeX (Markdown, TeX) and presentation MathML (HTML), a long sum folded into
    rows (gradproof/mathml.py: every class that reaches a report has a MathML rule of its own)."""
    from derive.atoms import to_sympy_functions

    from .mathml import mathml

    return {"latex": sp.latex(expr), "mathml": mathml(to_sympy_functions(expr), fold_width=_FOLD_WIDTH),
            "text": str(expr)}


def _status(label: str, kind: str) -> dict[str, str]:
    return {"label": label, "kind": kind, "meaning": STATUS_WORDS[kind]}


def numeric_summary(checks: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many checks (``Record.to_json()`` rows) passed, failed, or had no formula on their route.

    >>> numeric_summary([{"passed": True}, {"passed": None}])
    {'passed': 1, 'failed': 0, 'without_formula': 1}
    """
    return {"passed": sum(c["passed"] is True for c in checks), "failed": sum(c["passed"] is False for c in checks),
            "without_formula": sum(c["passed"] is None for c in checks)}


def matrix_rows(results: Sequence[Any]) -> list[dict[str, Any]]:
    """The graph route's matrix forms (graphs.route.MatrixResult) as the report's table rows."""
    return [
        {"model": m.model, "target": m.target, "wrt": m.wrt, "intermediate": m.intermediate, "local": _math(m.local),
         "status": _status(m.status.label, m.status.kind)}
        for m in results
    ]


def build_report(name: str, examples: int = 20, dtypes: Sequence[str] = ("float64", "float32"),
                 progress: Callable[[int, int, str], None] | None = None, lang: str = "en") -> dict[str, Any]:
    """The whole report of one catalog entry as a JSON-able document.

    >>> doc = build_report("information", examples=3, dtypes=("float64",))
    >>> doc["name"], doc["summary"]["numeric_checks"]["failed"], doc["results"][0]["status"]["label"]
    ('information', 0, 'proved')
    """
    from derive.catalog import derive
    from graphs.draw import render
    from graphs.lift import is_lifted, lift
    from graphs.models import model, models_for_entry
    from graphs.route import graph_results
    from verify.check import DTYPES, run_check
    from verify.targets import targets_for

    stages = 3
    if progress:
        progress(0, stages, "derive")
    d = lift(derive(name))  # claims the graph route proves at every size say so (graphs/lift.py)
    steps = [
        {"key": s.key, "claim": s.claim, "math": _math(s.expr), "reason": s.reason,
         "status": _status(s.status.label, s.status.kind), "detail": s.status.detail, "kind": s.kind,
         "proof": list(s.proof), "how": s.status.detail if is_lifted(s.status) else ""}
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
            "lifted": is_lifted(r.status),
        })
    if progress:
        progress(1, stages, "graph route")
    matrix = matrix_rows(graph_results(name))
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
    return translate({
        "name": d.name,
        "title": d.title,
        "section": d.section,
        "targets": list(d.targets),
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
            "numeric_checks": numeric_summary(checks),
            "ok": d.ok and not any(c["passed"] is False for c in checks)
            and not any(m["status"]["kind"] == "failed" for m in matrix),
        },
        "reproduce": [f"gradproof derive {name}", f"gradproof verify {name} --examples {examples}",
                      f"gradproof report {name} --format html" + (f" --lang {lang}" if lang != "en" else "")],
    }, lang)


# --- Markdown ------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _badge(status: Mapping[str, str]) -> str:
    return f"**{status['label']}**" if status["kind"] != "failed" else f"**{status['label']} (!)**"


def _glance(doc: Mapping[str, Any], words: Words, pill: Callable[[str, str], str]) -> tuple[str, str]:
    s, checks = doc["summary"], doc["summary"]["numeric_checks"]
    counted = "gradients" if _is_expression(doc) else "steps"  # a forward has no derivation steps: its gradients' labels
    steps = ", ".join(pill(k, f"{n} {words.status(k)}") for k, n in s[counted].items())
    numbers = words.ui("numeric_summary", passed=checks["passed"], failed=checks["failed"],
                       without=checks["without_formula"])
    return f"{words.ui(counted)}: {steps}. {numbers}", words.ui("proof_note")


def _step_basis_html(step: Mapping[str, Any], w: Words) -> str:
    """What a theorem's proof rests on, and how a step lifted by the graph route holds at every size."""
    facts = "".join(f"<li>{_h(fact)}</li>" for fact in step.get("proof", ()))
    out = f'<div class="why">{_h(w.ui("rests_on"))}:<ul>{facts}</ul></div>' if facts else ""
    return out + (f'<div class="why">{_h(_ui(w, "how"))}: {_h(step["how"])}</div>' if step.get("how") else "")


def _ui(words: Words, key: str, **values: Any) -> str:
    """A string of these pages (``UI_PAGES``), in ``words``' language where its locale has it."""
    return words._get("ui", key, UI_PAGES[key]).format(**values)


def _plain(name: str) -> str:
    """A name as the graph and the derivation both might spell it: ``W_2``, ``W2`` and ``W^h`` alike."""
    return "".join(c for c in name if c.isalnum()).lower()


def _matrix_rows_for(result: Mapping[str, Any], matrix: Sequence[Mapping[str, Any]], entry: str) -> list[Mapping[str, Any]]:
    """The graph route's rows that give ``result``'s gradient in matrix form: the same variable (a
    head's copy ``W_Q1`` counts for ``W_Q^h``), a model named by the target's qualifier ("causal
    mask" -> causal_attention) or else the entry's own model; none for a second derivative."""
    target = result["target"]
    if target.startswith(("d2", "d^2")) or "/d" in target and "2" in target.split("/d")[-1]:
        return []  # a Hessian: the graph route gives first derivatives only
    wrt = _plain(result["wrt"])
    rows = [m for m in matrix if _plain(m["wrt"]) == wrt
            or (_plain(m["wrt"]).startswith(wrt) and _plain(m["wrt"])[len(wrt):].isdigit() and "^" in target)]
    if "(" in target:  # a qualified target: only a model its qualifier names
        words = {_QUALIFIERS.get(w, w) for w in target[target.index("(") + 1:].rstrip(")").lower().split()}
        return [m for m in rows if words & set(m["model"].lower().split("_"))]
    # Only the entry's own model: another model's variable of the same name may be another tensor
    # (the cnn model's W is its dense layer, the conv entry's W its kernel).
    return [m for m in rows if m["model"] == entry]


_QUALIFIERS = {"average": "avg", "causal": "causal", "max": "max"}  # a target's words -> model name parts


def strongest(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """For each target, the strongest result that holds and how: proved for every size (by the
    derivation itself, or as the graph route's matrix form), else entrywise at the listed sizes,
    else numeric, as ``{"target", "kind", "label", "how"}``; a failure anywhere is reported as the failure.

    >>> doc = {"name": "e", "results": [{"target": "dV", "wrt": "V", "status": {"kind": "proved_sizes",
    ...        "label": "proved n<=3"}}], "matrix_form": [{"model": "e", "target": "dV", "wrt": "V",
    ...        "status": {"kind": "proved", "label": "proved"}}], "lang": "en"}
    >>> strongest(doc)[0]["kind"], strongest(doc)[0]["how"]
    ('proved', 'for every size: the matrix form, by reverse mode over the graph of e')
    """
    words = Words(doc.get("lang", "en"))
    out = []
    for r in doc["results"]:
        kind, label = r["status"]["kind"], r["status"]["label"]
        rows = [] if _is_expression(doc) else _matrix_rows_for(r, doc["matrix_form"], doc["name"])
        if kind == "failed" or any(m["status"]["kind"] == "failed" for m in rows):
            kind, label, how = "failed", words.status("failed"), _ui(words, "strongest_failed")
        elif kind == "proved":  # a proof for every size about this very claim: the derivation's, or the lift's
            label, how = _ui(words, "proved"), _ui(words, "strongest_lifted" if r.get("lifted") else "strongest_symbolic")
        elif rows and all(m["status"]["kind"] == "proved" for m in rows):
            kind, label = "proved", _ui(words, "proved")
            how = _ui(words, "strongest_matrix", models=", ".join(dict.fromkeys(m["model"] for m in rows)))
        elif kind == "proved_sizes":
            how = _ui(words, "strongest_sizes")
        else:
            how = _ui(words, "strongest_numeric")
        out.append({"target": r.get("target_text", r["target"]), "kind": kind, "label": label, "how": how})
    return out


def _grouped(doc: Mapping[str, Any]) -> list[tuple[str, str, str, list[str]]]:
    """The per-target results grouped by what holds and how: (kind, label, how, targets)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for s in strongest(doc):
        groups.setdefault((s["kind"], s["label"], s["how"]), []).append(s["target"])
    return [(kind, label, how, targets) for (kind, label, how), targets in groups.items()]


def _is_expression(doc: Mapping[str, Any]) -> bool:
    return doc.get("kind") == "expression"


def _forward_intro(doc: Mapping[str, Any], words: Words) -> str:
    if _is_expression(doc):
        return words.ui("forward_expr")
    return words.ui("forward_intro", sizes=_sizes_text(doc["forward"]["sizes"]))


def _sizes_text(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in sizes.items())


def report_markdown(doc: Mapping[str, Any], svg_files: Sequence[str] = ()) -> str:
    """The report as Markdown with ``$...$`` math (GitHub, GitLab and most notebooks render it);
    ``svg_files`` are where the graphs' pictures were written, one per model."""
    w = Words(doc.get("lang", "en"))
    glance, note = _glance(doc, w, lambda kind, text: text)
    kind = "expression" if _is_expression(doc) else "entry"
    out = [f"# {doc['title']}", "", f"*{doc['section']}* · {w.ui(kind)} `{doc['name']}`", "", doc["question"], "",
           f"> **{w.ui('at_a_glance')}.** {glance} *{note}*", "", *_strongest_markdown(doc, w),
           f"## {w.ui('symbols')}", "",
           f"| {w.ui('symbol')} | {w.ui('shape')} | {w.ui('domain')} | {w.ui('meaning')} |", "|---|---|---|---|"]
    out += [f"| {_md_cell(x['name'])} | {' x '.join(x['shape']) or w.ui('scalar')} | {_md_cell(x['domain'])} | "
            f"{_md_cell(x['meaning'])} |" for x in doc["symbols"]]
    if doc["assumptions"]:
        out += ["", f"{w.ui('assumptions')}: " + "; ".join(doc["assumptions"]) + "."]
    out += ["", f"## {w.ui('forward')}", "", _forward_intro(doc, w), "",
            f"$$ {doc['forward']['math']['latex']} $$", ""]
    if svg_files:
        out += [f"## {w.ui('graph')}", ""]
        for graph, svg in zip(doc["graphs"], svg_files):
            out += [f"![{graph['model']}]({svg})", "", graph_caption(f"`{graph['model']}`", graph["svg"], w), ""]
    if not _is_expression(doc):
        out += [f"## {w.ui('derivation')}", ""]
    for number, step in enumerate(doc["steps"], 1):
        out += [f"{number}. {step['claim']} — {_badge(step['status'])}", "",
                f"   $$ {step['math']['latex']} $$", "", f"   *{w.ui('why')}:* {step['reason']}", ""]
        out += [f"   *{w.ui('rests_on')}:* {fact}" + "  " for fact in step.get("proof", ())]
        out += [f"   *{_ui(w, 'how')}:* {step['how']}", ""] if step.get("how") else [""] if step.get("proof") else []
    out += [f"## {w.ui('results')}", ""]
    for r in doc["results"]:
        if "local" in r:  # a forward's gradient: reverse mode's forms and what its status rests on
            out += [f"### {r.get('target_text', r['target'])} — {_badge(r['status'])}", ""]
            if r.get("claim"):
                out += [f"{w.ui('claim')}: $ {r['claim']['math']['latex']} $ — {_badge(r['claim']['status'])}", ""]
            out += [f"{w.ui('local')}:", "", f"$$ {r['local']['latex']} $$", ""]
            out += [f"{w.ui('expanded')}:", "", f"$$ {r['expanded']['latex']} $$", ""] if r["expanded"] else []
            out += [f"*{w.ui('rests_on')}:* {r['rests_on']}", ""]
            continue
        out += [f"### {r.get('target_text', r['target'])} — {_badge(r['status'])}", "", f"{w.ui('closed')}: $ {r['closed']['latex']} $", ""]
        if r["index"]:
            out += [f"{w.ui('index')}: $ {r['index']['latex']} $", ""]
        sizes = _sizes_text(r["entrywise_sizes"])
        out += ([w.ui("entrywise", sizes=sizes) + ":", "", f"$$ {r['entrywise']['latex']} $$", ""] if r["entrywise"]
                else [w.ui("entrywise_long", sizes=sizes), ""])
    if doc["matrix_form"]:
        out += [f"## {w.ui('matrix_form')}", "",
                f"| {w.ui('model')} | {w.ui('gradient')} | {w.ui('formula')} | {w.ui('status')} |", "|---|---|---|---|"]
        out += [f"| {m['model']} | {m['target']} | $ {_md_cell(m['local']['latex'])} $ | {m['status']['label']} |"
                for m in doc["matrix_form"]]
        out.append("")
    columns = ("target", "route", "device", "dtype", "examples", "sizes", "max_abs", "max_rel", "result")
    out += [f"## {w.ui('checks')}", ""]
    for dtype, ts in tolerances(doc["checks"]).items():  # a paragraph each
        out += [_ui(w, "tolerance_once", dtype=dtype, tolerance=" / ".join(ts)), ""]
    out += ["| " + " | ".join(w.ui(c) for c in columns) + " |", "|---" * len(columns) + "|"]
    out += [f"| {_md_cell(c.get('target_text', c['target']))} | {c.get('route_text', c['route'])} | {c['device']} | {c['dtype']} | {c['examples']} | "
            f"{_md_cell(c.get('sizes_text') or _text(c['sizes']))} | {_num(c['max_abs_error'])} | {_num(c['max_rel_error'])} | {c.get('status_text', c['status'])} |"
            for c in doc["checks"]]
    out += ["", f"## {w.ui('reproduce')}", "", "```console"] + [f"$ {c}" for c in doc["reproduce"]] + ["```", ""]
    return "\n".join(out)


def _strongest_markdown(doc: Mapping[str, Any], w: Words) -> list[str]:
    if _is_expression(doc) or not doc["results"]:
        return []
    return [f"{_ui(w, 'strongest_intro')}:", ""] + [
        f"- {_badge({'kind': kind, 'label': label})} {how}: {', '.join(targets)}"
        for kind, label, how, targets in _grouped(doc)] + [""]


def _num(value: Any) -> str:
    if value is None:  # a skipped check measured nothing
        return "-"
    return value if isinstance(value, str) else f"{value:.2g}"


def _text(value: Any) -> str:
    """A check's tolerance or sizes as text, whether the record gives prose or data (``{"text": ...}``,
    ``{"n": [1, 7]}``)."""
    if isinstance(value, Mapping):
        return str(value["text"]) if "text" in value else ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


# --- HTML ----------------------------------------------------------------------------------------
_CSS = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;max-width:52rem;margin:0 auto;padding:1rem;color:#1b1b1b}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#555}.glance{background:#f3f6fb;border-left:4px solid #2b6cb0;padding:.6rem .9rem;margin:1rem 0}
.glance ul{margin:.3rem 0;padding-left:1.2rem}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.85rem;font-weight:600;white-space:nowrap}
.proved{background:#d8f3dc;color:#1b4332}.proved_sizes{background:#e6f0d5;color:#3a5a17}
.numeric{background:#fff3cd;color:#7a5b00}.failed,.FAILED{background:#f8d7da;color:#842029}
.skipped{background:#eee;color:#555}.passed{background:#d8f3dc;color:#1b4332}
math{font-size:1.05em;font-family:"Latin Modern Math","STIX Two Math","Cambria Math",math}
.display{overflow-x:auto;padding:.3rem 0;max-width:100%}
details.long{margin:.3rem 0}.narrow{display:none}
@media (max-width:40rem){.wide{display:none}.narrow{display:block}}details.long summary{cursor:pointer;color:#2b6cb0}
.step{margin:1rem 0}.why{color:#444;font-style:italic}
ol{padding-left:1.4rem}table.mf{width:100%}
.table{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ddd;padding:.25rem .4rem;vertical-align:top}
table.checks{min-width:40rem}td.sizes{min-width:10rem}td.num{white-space:nowrap;text-align:right;font-variant-numeric:tabular-nums}
.graph svg{max-width:100%;height:auto}code,pre{background:#f6f6f6;padding:.1rem .3rem}pre{white-space:pre-wrap;overflow-wrap:anywhere}
@media (max-width:30rem){body{padding:.6rem}math{font-size:.95em}table{font-size:.75rem}}
@media print{body{max-width:none;font-size:11pt;padding:0}.graph svg{max-height:60vh}h2{break-after:avoid}
.step,.display,tr{break-inside:avoid}.display,.table{overflow:visible}table{font-size:8.5pt}}
"""


def _h(text: Any) -> str:
    return html.escape(str(text))


def _mathml(math: Mapping[str, str], display: bool = False, fold: str = "") -> str:
    """A ``<math>`` element; ``display`` sets it on a line of its own. With ``fold`` (what it is, in
    words) a display formula wider than a phone goes into a collapsible block under that summary:
    Chromium does not break MathML lines, so a long one would run off a narrow page."""
    element = f'<math display="{"block" if display else "inline"}" alttext="{_h(math["latex"])}">{math["mathml"]}</math>'
    if not display:
        return element
    block = f'<div class="display">{element}</div>'
    if not fold or not _too_wide(math):
        return block
    folded = f'<details class="long"><summary>{_h(fold)}</summary>{block}</details>'
    if _too_wide(math, _PAGE_WIDTH):
        return folded
    # wide enough for a desktop or a printed page, not for a phone: CSS shows one of the two
    return f'<div class="wide">{block}</div><div class="narrow">{folded}</div>'


def _too_wide(math: Mapping[str, str], room: float = 0) -> bool:
    """Whether a formula is wider than ``room`` characters (a phone's, unless told)."""
    from .mathml import width

    return width(math["mathml"]) > (room or _PHONE_WIDTH)


def _pill(kind: str, label: str) -> str:
    return f'<span class="badge {_h(kind)}">{_h(label)}</span>'


def _page(lang: str, title: str, body: list[str]) -> str:
    head = ["<!DOCTYPE html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_h(title)} · gradproof</title><style>{_CSS}</style></head><body>"]
    return "\n".join(head + body + ["</body></html>"]) + "\n"


def report_html(doc: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page: MathML math, inline SVG, no scripts or network."""
    w = Words(doc.get("lang", "en"))
    glance, note = _glance(doc, w, _pill)
    parts = [
        f"<h1>{_h(doc['title'])}</h1>",
        f'<p class="meta">{_h(doc["section"])} · {_h(w.ui("expression" if _is_expression(doc) else "entry"))} '
        f'<code>{_h(doc["name"])}</code></p>',
        f"<p>{_h(doc['question'])}</p>",
        f'<div class="glance"><strong>{_h(w.ui("at_a_glance"))}.</strong> {_strongest_html(doc, w)}{glance} '
        f"<em>{_h(note)}</em></div>",
        f"<h2>{_h(w.ui('symbols'))}</h2>", '<div class="table"><table><tr>'
        + "".join(f"<th>{_h(w.ui(c))}</th>" for c in ("symbol", "shape", "domain", "meaning")) + "</tr>",
    ]
    parts += [f"<tr><td>{_h(x['name'])}</td><td>{_h(' x '.join(x['shape']) or w.ui('scalar'))}</td><td>{_h(x['domain'])}"
              f"</td><td>{_h(x['meaning'])}</td></tr>" for x in doc["symbols"]]
    parts.append("</table></div>")
    if doc["assumptions"]:
        parts.append(f"<p>{_h(w.ui('assumptions'))}: {_h('; '.join(doc['assumptions']))}.</p>")
    parts += [f"<h2>{_h(w.ui('forward'))}</h2>", f"<p>{_h(_forward_intro(doc, w))}</p>",
              _mathml(doc["forward"]["math"], display=True, fold=_ui(w, "fold", what=w.ui("forward")))]
    if doc["graphs"]:
        parts.append(f"<h2>{_h(w.ui('graph'))}</h2>")
        parts += [f'<figure class="graph">{_strip_xml_header(g["svg"])}<figcaption>'
                  f"{_h(graph_caption(g['model'], g['svg'], w))}</figcaption></figure>" for g in doc["graphs"]]
    if not _is_expression(doc):
        parts.append(f"<h2>{_h(w.ui('derivation'))}</h2><ol>")
        parts += [f'<li class="step">{_h(step["claim"])} {_pill(step["status"]["kind"], step["status"]["label"])}'
                  f'{_mathml(step["math"], display=True, fold=_ui(w, "fold", what=w.ui("formula")))}'
                  f'<div class="why">{_h(w.ui("why"))}: {_h(step["reason"])}</div>{_step_basis_html(step, w)}</li>'
                  for step in doc["steps"]]
        parts.append("</ol>")
    parts.append(f"<h2>{_h(w.ui('results'))}</h2>")
    for r in doc["results"]:
        parts += _result_html(r, w)
    if doc["matrix_form"]:
        # a table of what each row is, each formula on a row of its own: as wide as the page, not a column
        parts += [f"<h2>{_h(w.ui('matrix_form'))}</h2>", '<div class="table"><table class="mf"><tr>'
                  + "".join(f"<th>{_h(w.ui(c))}</th>" for c in ("model", "gradient", "status")) + "</tr>"]
        parts += [f"<tr><td>{_h(m['model'])}</td><td>{_h(m['target'])}</td>"
                  f"<td>{_pill(m['status']['kind'], m['status']['label'])}</td></tr>"
                  f'<tr><td colspan="3">{_mathml(m["local"], display=True, fold=_ui(w, "fold", what=w.ui("formula")))}'
                  "</td></tr>" for m in doc["matrix_form"]]
        parts.append("</table></div>")
    parts += [f"<h2>{_h(w.ui('checks'))}</h2>", *_checks_html(doc["checks"], w),
              f"<h2>{_h(w.ui('reproduce'))}</h2>", "<pre>" + "\n".join(f"$ {_h(c)}" for c in doc["reproduce"]) + "</pre>"]
    return _page(doc.get("lang", "en"), doc["title"], parts)


def _strongest_html(doc: Mapping[str, Any], w: Words) -> str:
    """The per-target list of what holds and how, for the glance box ("" for a forward's report,
    whose gradients' labels already are the graph route's)."""
    if _is_expression(doc) or not doc["results"]:
        return ""
    items = "".join(f"<li>{_pill(kind, label)} {_h(how)}: <strong>{_h(', '.join(targets))}</strong></li>"
                    for kind, label, how, targets in _grouped(doc))
    return f"{_h(_ui(w, 'strongest_intro'))}:<ul>{items}</ul>"


def _result_html(r: Mapping[str, Any], w: Words) -> list[str]:
    parts = [f"<h3>{_h(r.get('target_text', r['target']))} {_pill(r['status']['kind'], r['status']['label'])}</h3>"]
    fold = _ui(w, "fold", what=w.ui("formula"))
    if "local" in r:  # a forward's gradient: reverse mode's forms and what its status rests on
        if r.get("claim"):
            parts.append(f"<p>{_h(w.ui('claim'))}: {_pill(r['claim']['status']['kind'], r['claim']['status']['label'])}</p>"
                         + _mathml(r["claim"]["math"], display=True, fold=fold))
        parts.append(f"<p>{_h(w.ui('local'))}:</p>{_mathml(r['local'], display=True, fold=fold)}")
        if r["expanded"]:
            parts.append(f"<p>{_h(w.ui('expanded'))}:</p>{_mathml(r['expanded'], display=True, fold=fold)}")
        parts.append(f'<p class="why">{_h(w.ui("rests_on"))}: {_h(r["rests_on"])}</p>')
        return parts
    parts.append(f"<p>{_h(w.ui('closed'))}:</p>{_mathml(r['closed'], display=True, fold=fold)}")
    if r["index"]:
        parts.append(f"<p>{_h(w.ui('index'))}:</p>{_mathml(r['index'], display=True, fold=fold)}")
    sizes = _sizes_text(r["entrywise_sizes"])
    if r["entrywise"]:  # entry by entry at the smallest size: folded away where it is wider than the page
        parts.append(f"<p>{_h(w.ui('entrywise', sizes=sizes))}:</p>"
                     + _mathml(r["entrywise"], display=True, fold=_ui(w, "fold", what=w.ui("formula"))))
    else:
        parts.append(f"<p>{_h(w.ui('entrywise_long', sizes=sizes))}</p>")
    return parts


def tolerances(checks: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The distinct tolerances of the checks, per dtype, in the order they first appear.

    >>> tolerances([{"dtype": "float64", "tolerance": "a"}, {"dtype": "float32", "tolerance": "b"},
    ...             {"dtype": "float64", "tolerance": "a"}])
    {'float64': ['a'], 'float32': ['b']}
    """
    out: dict[str, list[str]] = {}
    for c in checks:
        known, text = out.setdefault(c["dtype"], []), _text(c["tolerance"])
        if text not in known:
            known.append(text)
    return out


def _checks_html(checks: Sequence[Mapping[str, Any]], w: Words) -> list[str]:
    """The numeric checks as a compact table: each tolerance said once above it (a row names its
    tolerance only where one dtype has several), numbers on one line."""
    found = tolerances(checks)
    single = all(len(t) == 1 for t in found.values())
    marks = {(dtype, t): f"T{n}" for n, (dtype, t) in
             enumerate(((d, t) for d, ts in found.items() for t in ts), 1)}
    if single:
        notes = [_ui(w, "tolerance_once", dtype=dtype, tolerance=ts[0]) for dtype, ts in found.items()]
    else:
        notes = [_ui(w, "tolerance_marked", mark=mark, tolerance=t) for (_, t), mark in marks.items()]
    columns = ["target", "route", "dtype", "examples", "sizes", "max_abs", "max_rel", "result"]
    columns += [] if single else ["tolerance"]
    out = [f"<p>{_h(n)}</p>" for n in notes]
    out.append('<div class="table"><table class="checks"><tr>' + "".join(f"<th>{_h(w.ui(c))}</th>" for c in columns)
               + "</tr>")
    for c in checks:
        dtype = c["dtype"] if c["device"] == "cpu" else f"{c['dtype']} ({c['device']})"
        cells = [f"<td>{_h(c.get('target_text', c['target']))}</td><td>{_h(c.get('route_text', c['route']))}</td><td>{_h(dtype)}</td>",
                 f'<td class="num">{c["examples"]}</td><td class="sizes">{_h(c.get("sizes_text") or _text(c["sizes"]))}</td>',
                 f'<td class="num">{_h(_num(c["max_abs_error"]))}</td><td class="num">{_h(_num(c["max_rel_error"]))}</td>',
                 f"<td>{_pill(c['status'], c.get('status_text', c['status']))}</td>"]
        cells += [] if single else [f"<td>{_h(marks[(c['dtype'], _text(c['tolerance']))])}</td>"]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return out


def graph_caption(model: str, svg: str, w: Words) -> str:
    """The graph's caption: the colours the picture really uses (its fills, read from graphs/draw.py's
    table of role colours) and what each stands for.

    >>> svg = '<svg><path fill="#dbeafe"/><path fill="#dcfce7"/></svg>'
    >>> graph_caption("m", svg, Words("en"))
    'Model m: parameters blue, inputs with a gradient green; named tensors with their shapes, each annotated with its adjoint.'
    """
    shown = svg.lower()
    colours = [_ui(w, "colour_of", role=_ui(w, f"role_{role}"), colour=_colour_word(fill, name, w))
               for role, (fill, name) in _role_colours().items()
               if f'"{fill.lower()}"' in shown and f"role_{role}" in UI_PAGES and role not in ("value", "op")]
    return _ui(w, "graph_legend", model=model, colours=", ".join(colours) or "-")


def _role_colours() -> dict[str, tuple[str, str]]:
    """role -> (fill, colour name): graphs/draw.py's ROLE_COLOURS, or its older fill table."""
    from graphs import draw

    table = getattr(draw, "ROLE_COLOURS", None)
    if table:
        return {role: (value[0], value[1]) if isinstance(value, tuple) else (value, "") for role, value in table.items()}
    return {role: (fill, "") for role, fill in getattr(draw, "_FILL", {}).items()}


def _colour_word(fill: str, name: str, w: Words) -> str:
    """A fill's colour in words: the table's own name, else the nearest of a few by hue."""
    import colorsys

    if not name:
        r, g, b = (int(fill.lstrip("#")[k:k + 2], 16) / 255 for k in (0, 2, 4))
        hue, light, saturation = colorsys.rgb_to_hls(r, g, b)
        if saturation < 0.15 or light > 0.97:
            name = "white" if light > 0.97 else "grey"
        else:
            name = ("red", "orange", "yellow", "green", "green", "blue", "blue", "purple", "red")[int(hue * 8.99)]
    return _ui(w, f"colour_{name}") if f"colour_{name}" in UI_PAGES else name


def _strip_xml_header(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


# --- the gallery's index -------------------------------------------------------------------------
def index_markdown(docs: Sequence[Mapping[str, Any]]) -> str:
    """The gallery's front page: every entry, its step labels and its numeric checks."""
    w = Words(docs[0].get("lang", "en") if docs else "en")
    out = [f"# {w.ui('gallery')}", "", w.ui("gallery_intro"), "",
           f"| {w.ui('entry')} | {w.ui('section')} | {w.ui('steps')} | {w.ui('checks')} | |", "|---|---|---|---|---|"]
    for d in docs:
        steps = ", ".join(f"{n} {w.status(k)}" for k, n in d["summary"]["steps"].items())
        checks = d["summary"]["numeric_checks"]
        counted = w.ui("checks_count", passed=checks["passed"], failed=checks["failed"])
        out.append(f"| {d['title']} | {_md_cell(d['section'])} | {steps} | {counted} | "
                   f"[md]({d['name']}.md) · [html]({d['name']}.html) |")
    return "\n".join(out) + "\n"


def index_html(docs: Sequence[Mapping[str, Any]]) -> str:
    """The gallery's front page as HTML."""
    lang = docs[0].get("lang", "en") if docs else "en"
    w = Words(lang)
    rows = []
    for d in docs:
        steps = " ".join(_pill(k, f"{n} {w.status(k)}") for k, n in d["summary"]["steps"].items())
        checks = d["summary"]["numeric_checks"]
        rows.append(f'<tr><td><a href="{_h(d["name"])}.html">{_h(d["title"])}</a></td><td>{_h(d["section"])}</td>'
                    f"<td>{steps}</td><td>{_h(w.ui('checks_count', passed=checks['passed'], failed=checks['failed']))}</td></tr>")
    head = "".join(f"<th>{_h(w.ui(c))}</th>" for c in ("entry", "section", "steps", "checks"))
    return _page(lang, w.ui("gallery"), [f"<h1>{_h(w.ui('gallery'))}</h1><p>{_h(w.ui('gallery_intro'))}</p>",
                                         f'<div class="table"><table><tr>{head}</tr>', *rows, "</table></div>"])


# --- files ---------------------------------------------------------------------------------------
def report_files(doc: Mapping[str, Any], formats: Sequence[str]) -> dict[str, str | bytes]:
    """A report's files (name -> text or bytes) in the formats asked for, built in memory; a PDF is
    compiled from the .tex once that is written (``write_report``).

    >>> sorted(report_files(build_report("information", examples=2, dtypes=()), ["md", "json"]))[:2]
    ['information.entropy.svg', 'information.json']
    """
    import json

    name, files = doc["name"], {}
    if "json" in formats:
        from .render import check_json, envelope

        body = {k: v for k, v in doc.items() if k not in ("schema", "version")}
        body["checks"] = [check_json(c) for c in doc.get("checks", [])]  # tolerances and sizes as data, as verify
        files[f"{name}.json"] = json.dumps(envelope("report-document", **body), indent=1, ensure_ascii=False) + "\n"
    if "md" in formats:
        svgs = [f"{name}.{g['model']}.svg" for g in doc["graphs"]]
        files.update({svg: graph["svg"] for graph, svg in zip(doc["graphs"], svgs)})
        files[f"{name}.md"] = report_markdown(doc, svgs)
    if "html" in formats:
        files[f"{name}.html"] = report_html(doc)
    if "tex" in formats or "pdf" in formats:
        from graphs.draw import render
        from graphs.models import model

        from .report_tex import report_tex

        pngs = [f"{name}.{g['model']}.png" for g in doc["graphs"]]
        files.update({png: render(model(graph["model"]), "png", adjoints=True) for graph, png in zip(doc["graphs"], pngs)})
        files[f"{name}.tex"] = report_tex(doc, pngs)
    return files


def write_report(out: Any, doc: Mapping[str, Any], formats: Sequence[str]) -> list[str]:
    """Write one report's files into the folder ``out`` (and compile its PDF: RuntimeError with TeX's
    first error if that fails); returns the file names. ``gradproof report`` and the notebook's
    ``Report.save`` write through this."""
    from pathlib import Path

    from .report_tex import compile_pdf

    folder = Path(out)
    files = report_files(doc, formats)
    for file_name, data in files.items():
        if isinstance(data, bytes):
            (folder / file_name).write_bytes(data)
        else:
            (folder / file_name).write_text(data, encoding="utf-8")
    return [*files, *([compile_pdf(folder / f"{doc['name']}.tex").name] if "pdf" in formats else [])]

