"""Turn a ``Derivation`` into the CLI's text and JSON. Printing lives here, never in derive/."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy as sp

from derive.atoms import to_sympy_functions
from derive.types import Derivation, Result, Step

__all__ = ["derivation_json", "derivation_text", "list_json", "matrix_results_json", "matrix_results_text"]

# Entrywise forms grow fast; past this many operations the text view shows a summary instead.
_TEXT_OPS_LIMIT = 400


def _latex(expr: sp.Basic) -> str:
    return sp.latex(expr)


def _lifted(status: Any) -> bool:
    """Whether a step's proof for every size is the graph route's (graphs/lift.py), not its own."""
    from graphs.lift import is_lifted

    return is_lifted(status)


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "key": step.key,
        "claim": step.claim,
        "latex": _latex(step.expr),
        "reason": step.reason,
        "status": step.status.label,
        "status_detail": step.status.to_json(),
        "kind": step.kind,
        "proof": list(step.proof),
        "lifted": _lifted(step.status),
    }


def _result_json(result: Result) -> dict[str, Any]:
    return {
        "target": result.target,
        "key": result.key,
        "wrt": result.wrt,
        "latex": _latex(result.closed),
        "sympy": sp.srepr(result.closed),
        "status": result.status.label,
        "index_latex": _latex(result.index) if result.index is not None else None,
        "entrywise": {
            "sizes": dict(result.entrywise_sizes),
            "latex": _latex(result.entrywise),
            "sympy": sp.srepr(to_sympy_functions(result.entrywise)),
        },
    }


def derivation_json(derivation: Derivation) -> dict[str, Any]:
    """The ``gradproof derive NAME --json`` document.

    >>> from derive import derive
    >>> doc = derivation_json(derive("information"))
    >>> doc["name"], doc["results"][0]["target"], doc["results"][0]["status"]
    ('information', 'dH/dp', 'proved')
    """
    return {
        "name": derivation.name,
        "title": derivation.title,
        "section": derivation.section,
        "symbols": [
            {"name": s.name, "shape": list(s.shape), "domain": s.domain, "meaning": s.meaning}
            for s in derivation.symbols
        ],
        "assumptions": list(derivation.assumptions),
        "forward": {
            "sizes": dict(derivation.forward_sizes),
            "latex": _latex(derivation.forward),
        },
        "steps": [_step_json(step) for step in derivation.steps],
        "results": [_result_json(result) for result in derivation.results],
        "tables": derivation.tables,
        "ok": derivation.ok,
    }


def list_json(topics: list[Any]) -> list[dict[str, Any]]:
    """The ``gradproof list --json`` document: name, title, section, targets per entry."""
    return [
        {"name": t.name, "title": t.title, "section": t.section, "targets": list(t.targets)}
        for t in topics
    ]


def _pretty(expr: sp.Basic, columns: int | None = None) -> str:
    """SymPy's 2-D picture of ``expr``; one wider than ``columns`` is cut into column bands,
    stacked (SymPy's own wrapping), so a terminal never folds a picture line by line."""
    if isinstance(expr, sp.MatrixBase) and expr.rows > 1 and expr.cols > 0:
        laid_out = _pretty_matrix(expr)
        if laid_out is not None and (columns is None or _widest(laid_out) <= columns):
            return laid_out
    if columns is None:
        return sp.pretty(expr, use_unicode=True, wrap_line=False)
    picture = sp.pretty(expr, use_unicode=True, wrap_line=False)
    if _widest(picture) <= columns:
        return picture
    return sp.pretty(expr, use_unicode=True, wrap_line=True, num_columns=columns)


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _pretty_matrix(matrix: sp.MatrixBase) -> str | None:
    """SymPy's layout of a matrix whose entries each print on one line, built as strings.

    SymPy assembles it picture by picture, which grows quadratically with the rows: max
    pooling's 256-row table took 1.7 s. Entries that span several lines (a fraction, a sum)
    return None, and SymPy lays those out itself.
    """
    from sympy.printing.pretty.pretty_symbology import center_pad, line_width

    printed: dict[sp.Basic, str] = {}
    cells = []
    for i in range(matrix.rows):
        row = []
        for j in range(matrix.cols):
            entry = matrix[i, j]
            if entry not in printed:
                printed[entry] = sp.pretty(entry, use_unicode=True, wrap_line=False)
            if "\n" in printed[entry]:
                return None
            row.append(printed[entry])
        cells.append(row)
    widths = [max(line_width(row[j]) for row in cells) for j in range(matrix.cols)]
    lines = []
    for row in cells:
        padded = []
        for text, width in zip(row, widths):
            left, right = center_pad(line_width(text), width)
            padded.append(left + text + right)
        lines.append("  ".join(padded))
    blank = " " * (sum(widths) + 2 * (len(widths) - 1))
    lines = [line for row in lines for line in (row, blank)][:-1]
    edges = [("⎡", "⎤")] + [("⎢", "⎥")] * (len(lines) - 2) + [("⎣", "⎦")]
    return "\n".join(f"{left}{line}{right}" for (left, right), line in zip(edges, lines))


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _trace_text(trace: dict[str, Any]) -> list[str]:
    """A perceptron training trace as the lecture's worked-exercise table."""
    verdict = (
        f"converged after {trace['epochs']} epochs, {trace['mistakes']} mistakes"
        if trace["converged"]
        else f"cycles: epochs {trace['cycle'][0]} and {trace['cycle'][1]} start from the same weights"
        if trace.get("cycle")
        else f"no error-free epoch within {trace['epochs']} epochs ({trace['mistakes']} mistakes)"
    )
    out = [f"  {trace['dataset']}: {verdict}", "    epoch  #  x            t  d        y  t-y  w after       b after"]
    rows = trace["rows"] if trace["converged"] else trace["rows"][:8]
    for r in rows:
        x = "(" + ", ".join(r["x"]) + ")"
        w = "[" + ", ".join(r["w"]) + "]"
        out.append(
            f"    {r['epoch']:>5}  {r['sample']}  {x:<12} {r['t']}  {r['d']:<8} {r['y']}  {r['error']:>3}  {w:<13} {r['b']}"
        )
    if len(rows) < len(trace["rows"]):
        out.append(f"    ... {len(trace['rows']) - len(rows)} more rows (see --json)")
    return out


def _lifted(status: Any) -> bool:
    """A step proved at every size through the graph route: its detail says how (graphs/lift.py)."""
    from graphs.lift import is_lifted

    return is_lifted(status)


def derivation_text(derivation: Derivation) -> str:
    """Readable math for a terminal: steps with their status, then each result in three notations."""
    sizes = ", ".join(f"{k}={v}" for k, v in derivation.forward_sizes.items())
    columns = text_width() - 6  # pictures are indented six
    out = [f"{derivation.title}  [{derivation.name}]", f"Lecture: {derivation.section}", ""]
    if derivation.assumptions:
        out.append("Assumptions:")
        out.extend(f"  - {a}" for a in derivation.assumptions)
        out.append("")
    out.append("Symbols:")
    for s in derivation.symbols:
        shape = " x ".join(s.shape) if s.shape else "scalar"
        out.append(f"  {s.name}  [{shape}; {s.domain}]  {s.meaning}")
    out += ["", "Steps:"]
    width = max((len(step.status.label) for step in derivation.steps), default=6)
    for number, step in enumerate(derivation.steps, start=1):
        out.append(f"  {number:>2}. [{step.status.label:<{width}}] {step.claim}")
        out.append(f"      because {step.reason}")
        out.extend(f"      rests on: {fact}" for fact in step.proof)
        if _lifted(step.status):
            out.append(f"      {step.status.detail}")
        if step.status.kind == "failed":
            out.append(f"      FAILED: {step.status.detail}")
    traces = derivation.tables.get("traces", {})
    if traces:
        out += ["", "Training traces (exact, from W = [0, 0], b = 0; y = 1 when d >= 0):"]
        for trace in traces.values():
            out += _trace_text(trace)
    out += ["", "Results:"]
    for result in derivation.results:
        out.append(f"  {result.target}  [{result.status.label}]")
        out.append("    closed form:")
        out.append(_indent(_pretty(result.closed, columns), "      "))
        if result.index is not None:
            out.append("    index form (symbolic sizes):")
            out.append(_indent(_pretty(result.index, columns), "      "))
        ops = sp.count_ops(result.entrywise)
        if ops <= _TEXT_OPS_LIMIT:
            out.append(f"    entrywise at {sizes}:")
            out.append(_indent(_pretty(result.entrywise, columns), "      "))
        else:
            out.append(f"    entrywise at {sizes}: {ops} operations (see --json)")
        out.append("")
    return fit_text("\n".join(out).rstrip()) + "\n"


def matrix_results_json(results: list[Any]) -> list[dict[str, Any]]:
    """The graph route's matrix-form gradients (``graphs.route.MatrixResult``) as JSON."""
    from graphs.text import formula_text

    return [
        {
            "model": r.model, "target": r.target, "wrt": r.wrt, "status": r.status.label,
            "intermediate": r.intermediate, "notes": list(r.notes),
            "status_detail": r.status.to_json(),
            "local": formula_text(r.local), "local_latex": _latex(r.local),
            "expanded": formula_text(r.expanded) if r.expanded is not None else None,
            "expanded_latex": _latex(r.expanded) if r.expanded is not None else None,
        }
        for r in results
    ]


def matrix_results_text(results: list[Any]) -> str:
    """The graph route's results for a terminal: one line per gradient, Unicode math."""
    from graphs.text import formula_text

    if not results:
        return ""
    out = ["Matrix form, every size (graph route: reverse mode over the computation graph):"]
    models = list(dict.fromkeys(r.model for r in results))
    for model in models:
        rows = [r for r in results if r.model == model]
        out.append(f"  model {model}  [{rows[0].status.label}]  {rows[0].status.detail}")
        out.extend(f"    note: {note}" for note in rows[0].notes)
        for r in rows:
            if r.intermediate and r is next(x for x in rows if x.intermediate):
                out.append("    where (the adjoints of the named tensors inside, from the output down):")
            out.append(f"    {r.target} = {formula_text(r.local)}")
            if r.expanded is not None and r.expanded != r.local:
                out.append(f"    {' ' * len(r.target)} = {formula_text(r.expanded)}")
    out.append("  (dX is the adjoint dL/dX; 'gradproof graph NAME --adjoints' draws them on the graph)")
    return fit_text("\n".join(out)) + "\n"


def records_text(records: Sequence[Any]) -> str:
    """verify's records as one line each, failures with their worst input, and a summary line."""
    lines = []
    for r in records:
        where = f"{r.route:<9} {r.dtype} {r.device}"
        name = f"{r.claim} ({r.target})" if r.claim else f"{r.entry}:{r.target}"
        if r.passed is None:
            lines.append(f"  skipped  {name:<40} {where}  ({r.note})")
            continue
        lines.append(
            f"  {r.status:<7}  {name:<40} {where}  {r.examples} examples, {r.mode}, {r.sizes}; "
            f"max abs error {r.max_abs_error:.2g}, max rel error {r.max_rel_error:.2g}; tolerance {r.tolerance}"
        )
        if r.passed is False:
            w = r.worst_input
            if "problem" in w:
                lines.append(f"           formula failed to run or has the wrong shape: {w['problem']}")
            else:
                lines.append(
                    f"           worst at sizes {w.get('sizes')}, seed {w.get('seed')}, scale {w.get('scale')}: "
                    f"batch element {w.get('batch_element')}, entry {w.get('entry')} (flattened): formula "
                    f"{w.get('formula'):.10g} vs autograd {w.get('autograd'):.10g} (allowed error {w.get('allowed'):.3g})"
                )
    passed = sum(r.passed is True for r in records)
    failed = sum(r.passed is False for r in records)
    skipped = sum(r.passed is None for r in records)
    lines.append(f"{passed} passed, {failed} failed, {skipped} without a formula on that route")
    return "\n".join(lines)


# --- machine output: one versioned envelope per command (schemas/ describes each kind) ----------
SCHEMA_VERSION = 1


def envelope(kind: str, /, **body: Any) -> dict[str, Any]:
    """The one top-level object every ``--json`` output is: ``schema`` names its kind (a file in
    schemas/), ``version`` changes only when a field is renamed or removed.

    >>> envelope("list", entries=[])
    {'schema': 'gradproof/list', 'version': 1, 'entries': []}
    """
    return {"schema": f"gradproof/{kind}", "version": SCHEMA_VERSION, **body}


def error_json(message: str, status: int, command: str | None = None) -> dict[str, Any]:
    """An error under ``--json``: the one line a terminal would show, and the exit status.

    >>> error_json("no entry 'x'", 2, "derive")["error"]
    "no entry 'x'"
    """
    return envelope("error", error=message, exit_status=status, command=command)


_SIZE = r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=\s*(-?\d+)|in \[(-?\d+),\s*(-?\d+)\])"


def sizes_json(text: str) -> dict[str, int | list[int]]:
    """verify's size label as data: a size fixed (``n=3``) or drawn from a range (``n in [1, 4]``).

    >>> sizes_json("n=3, d_k=2")
    {'n': 3, 'd_k': 2}
    >>> sizes_json("n in [1, 4], d_k in [1, 3]")
    {'n': [1, 4], 'd_k': [1, 3]}
    """
    import re

    out: dict[str, int | list[int]] = {}
    for name, value, low, high in re.findall(_SIZE, text):
        out[name] = int(value) if value else [int(low), int(high)]
    return out


def tolerance_json(dtype: str, text: str) -> dict[str, Any]:
    """A check's tolerance as numbers (``|error| <= atol x scale + rtol x |autograd| + spread x
    rounding``), with the sentence the terminal prints."""
    from verify.check import TOLERANCES

    rule = next((t for d, t in TOLERANCES.items() if str(d).removeprefix("torch.") == dtype), None)
    numbers = {"atol": rule.atol, "rtol": rule.rtol, "spread": rule.spread} if rule is not None else {}
    return {**numbers, "text": text}


def record_json(record: Any) -> dict[str, Any]:
    """One verify record (``verify.check.Record``) as the ``check`` object of schemas/defs.json."""
    return check_json(record.to_json())


def check_json(record: dict[str, Any]) -> dict[str, Any]:
    """A record's JSON (``Record.to_json()``) with its sizes and tolerance as data, and a skipped
    check's errors ``null`` (nothing was measured) with the reason in ``skipped``.

    >>> doc = check_json({"passed": None, "note": "no graph model", "dtype": "float64", "sizes": "",
    ...                   "tolerance": "atol ...", "max_abs_error": 0.0, "max_rel_error": 0.0})
    >>> doc["max_abs_error"], doc["skipped"], doc["tolerance"]["rtol"]
    (None, 'no graph model', 1e-10)
    """
    out = dict(record)
    if isinstance(out.get("sizes"), str):
        out["sizes"] = sizes_json(out["sizes"])
    if isinstance(out.get("tolerance"), str):
        out["tolerance"] = tolerance_json(str(out.get("dtype")), out["tolerance"])
    out["skipped"] = None
    if out.get("passed") is None:
        out.update(max_abs_error=None, max_rel_error=None, skipped=out.get("note") or "no formula on this route")
    return out


def records_json(records: Sequence[Any]) -> dict[str, Any]:
    """The ``verify --json`` document: every record and the counts."""
    counts = {s: sum(r.status == s for r in records) for s in ("passed", "FAILED", "skipped")}
    return envelope("verify", ok=counts["FAILED"] == 0,
                    summary={"passed": counts["passed"], "failed": counts["FAILED"], "skipped": counts["skipped"]},
                    records=[record_json(r) for r in records])


# --- text that fits the terminal ------------------------------------------------------------------
def text_width() -> int:
    """Columns to print in: the terminal's (``COLUMNS`` wins), 100 when not a terminal; at least 40."""
    import shutil

    return max(40, shutil.get_terminal_size((100, 24)).columns)


def _depths(text: str) -> list[int]:
    depth, out = 0, []
    for char in text:
        if char in ")]}":
            depth -= 1
        out.append(depth)
        if char in "([{":
            depth += 1
    return out


def _break_at(text: str, limit: int, start: int) -> int:
    """Where to cut ``text`` to keep ``limit`` columns: before a top-level + or - in the second half
    of the line, else at the last space (prose such as "log n - H(p) is ..." is not cut at its
    minus early), else at ``limit`` itself (a hard wrap).

    >>> text = "because KL = H(p,q) - H(p) and H(p) is constant in q"
    >>> text[:_break_at(text, 40, 0)]
    'because KL = H(p,q) - H(p) and H(p) is'
    """
    depths = _depths(text)
    spaces = [i for i in range(start + 1, min(limit, len(text) - 1) + 1) if text[i] == " "]
    half = start + (limit - start) // 2
    operators = [i for i in spaces if i >= half and depths[i] == 0 and text[i + 1] in "+-−" and i + 2 < len(text)
                 and text[i + 2] == " "]
    return (operators or spaces or [limit])[-1]


def fold_line(line: str, width: int) -> list[str]:
    """One line folded to ``width`` columns, the continuation lines indented four more.

    >>> fold_line("  x = aaaa + (b + c) - dddd", 18)
    ['  x = aaaa', '      + (b + c)', '      - dddd']
    >>> fold_line("abcdefghijkl", 8)
    ['abcdefgh', '    ijkl']
    """
    if len(line) <= width:
        return [line]
    lead = len(line) - len(line.lstrip())
    prefix = " " * min(lead + 4, width // 2)
    out, rest, start = [], line, lead
    while len(rest) > width:
        cut = _break_at(rest, width, start)
        out.append(rest[:cut].rstrip())
        rest = prefix + rest[cut:].lstrip()
        start = len(prefix)
    return out + [rest] if rest.strip() else out


def fit_text(text: str, width: int | None = None) -> str:
    """Every line of ``text`` folded to the terminal's width (``fold_line``); lines that fit are kept.

    >>> [len(line) for line in fit_text("short\\n" + "a + " * 20 + "b", 40).split("\\n")]
    [5, 37, 39, 11]
    """
    width = width or text_width()
    return "\n".join(part for line in text.split("\n") for part in fold_line(line, width))
