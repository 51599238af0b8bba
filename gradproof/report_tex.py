"""A report as LaTeX source (and PDF through ``pdflatex`` when TeX is installed).

Lays out the same document ``gradproof.report.build_report`` returns: formulas are SymPy's own
LaTeX, text is escaped, graph pictures are PNG files next to the source.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["compile_pdf", "escape", "report_tex"]

# Characters in our prose that pdflatex's default fonts lack, as the math they stand for.
_UNICODE = {
    "—": "---", "–": "--", "≤": r"$\le$", "≥": r"$\ge$", "→": r"$\to$", "∘": r"$\circ$", "⊙": r"$\odot$",
    "√": r"$\surd$", "𝟏": r"$\mathbf{1}$", "×": r"$\times$", "·": r"$\cdot$", "ᵀ": r"$^{T}$", "∑": r"$\sum$",
    "∂": r"$\partial$", "η": r"$\eta$", "δ": r"$\delta$", "σ": r"$\sigma$", "α": r"$\alpha$", "β": r"$\beta$",
    "γ": r"$\gamma$", "μ": r"$\mu$", "ε": r"$\varepsilon$", "⋆": r"$\star$", "≠": r"$\ne$", "…": r"\ldots{}",
}
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "|": r"\textbar{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def escape(text: str) -> str:
    """Plain text for LaTeX: special characters escaped, our few Unicode symbols as math.

    >>> escape("dL/dz_j = p_j - y_j, 100% ≤ 1")
    'dL/dz\\\\_j = p\\\\_j - y\\\\_j, 100\\\\% $\\\\le$ 1'
    """
    out = []
    for ch in str(text):
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _UNICODE:
            out.append(_UNICODE[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")  # a character pdflatex cannot set; never silently dropped
    return "".join(out)


def _display(latex: str) -> str:
    # Long entrywise forms would run off the page: let them break inside a resized box.
    return "\\[\n\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{$\\displaystyle " + latex + "$}\n\\]"


def report_tex(doc: Mapping[str, Any], graphics: Sequence[str] = ()) -> str:
    """The report as a LaTeX article; ``graphics`` are PNG files of the graphs, one per model."""
    s = doc["summary"]
    expression = doc.get("kind") == "expression"  # a forward's document: its gradients' labels stand for steps
    counted = "gradients" if expression else "steps"
    lines = [
        r"\documentclass[11pt,a4paper]{article}",
        r"\usepackage[T1]{fontenc}\usepackage{lmodern}",
        r"\usepackage[margin=2cm]{geometry}\usepackage{amsmath,amssymb,graphicx,longtable,booktabs,xcolor}",
        r"\setlength{\parindent}{0pt}\setlength{\parskip}{0.5em}",
        r"\newcommand{\status}[1]{\colorbox{black!8}{\small\textsf{#1}}}",
        rf"\title{{{escape(doc['title'])}}}\author{{gradproof}}\date{{{escape(doc['section'])}}}",
        r"\begin{document}\maketitle",
        escape(doc["question"]),
        "",
        r"\fbox{\parbox{0.95\linewidth}{\textbf{At a glance.} " + counted.capitalize() + ": "
        + ", ".join(f"{n} {escape(k.replace('_', ' '))}" for k, n in s[counted].items())
        + f". Numeric checks against PyTorch autograd: {s['numeric_checks']['passed']} passed, "
        f"{s['numeric_checks']['failed']} failed. \\emph{{Proved}} means SymPy reduced the difference to exactly 0; "
        r"\emph{checked numerically} is agreement within a stated tolerance, never a proof.}}",
        r"\section*{Symbols}",
        r"\begin{longtable}{llll}\toprule symbol & shape & domain & meaning\\\midrule",
    ]
    lines += [f"{escape(x['name'])} & {escape(' x '.join(x['shape']) or 'scalar')} & {escape(x['domain'])} & "
              f"{escape(x['meaning'])}\\\\" for x in doc["symbols"]]
    lines.append(r"\bottomrule\end{longtable}")
    if doc["assumptions"]:
        lines.append("Assumptions: " + escape("; ".join(doc["assumptions"])) + ".")
    sizes = ", ".join(f"{k} = {v}" for k, v in doc["forward"]["sizes"].items())
    intro = ("The forward as written, read at symbolic sizes; its last line is the scalar that is differentiated:"
             if expression else f"The scalar that is differentiated, at {escape(sizes)}:")
    lines += [r"\section*{Forward computation}", intro, _display(doc["forward"]["math"]["latex"])]
    if graphics:
        lines.append(r"\section*{Computation graph}")
        for graph, path in zip(doc["graphs"], graphics):
            lines += [r"\begin{center}", rf"\includegraphics[width=0.8\linewidth,height=0.6\textheight,keepaspectratio]{{{path}}}",
                      rf"\\ \small Model \texttt{{{escape(graph['model'])}}}", r"\end{center}"]
    if not expression:
        lines += [r"\section*{Derivation, step by step}", r"\begin{enumerate}"]
        for step in doc["steps"]:
            lines += [rf"\item {escape(step['claim'])} \status{{{escape(step['status']['label'])}}}",
                      _display(step["math"]["latex"]), rf"\emph{{Why:}} {escape(step['reason'])}"]
        lines.append(r"\end{enumerate}")
    lines.append(r"\section*{Results}")
    for r in doc["results"]:
        if "local" in r:  # a forward's gradient: reverse mode's forms and what its status rests on
            lines.append(rf"\subsection*{{{escape(r['target'])} \status{{{escape(r['status']['label'])}}}}}")
            if r.get("claim"):
                lines += [rf"The claim, in the lecture's notation \status{{{escape(r['claim']['status']['label'])}}}:",
                          _display(r["claim"]["math"]["latex"])]
            lines += ["As reverse mode computes it:", _display(r["local"]["latex"])]
            lines += ["Expanded:", _display(r["expanded"]["latex"])] if r["expanded"] else []
            lines.append(rf"\emph{{Rests on:}} {escape(r['rests_on'])}")
            continue
        lines += [rf"\subsection*{{{escape(r['target'])} \status{{{escape(r['status']['label'])}}}}}",
                  "Closed form:", _display(r["closed"]["latex"])]
        if r["index"]:
            lines += ["Index form:", _display(r["index"]["latex"])]
        sizes = ", ".join(f"{k} = {v}" for k, v in r["entrywise_sizes"].items())
        lines += ([f"Entrywise at {escape(sizes)}:", _display(r["entrywise"]["latex"])] if r["entrywise"]
                  else [f"Entrywise at {escape(sizes)}: too long to typeset; it is in the JSON report."])
    lines += [r"\section*{Numeric checks against PyTorch autograd}", r"{\small\begin{longtable}{lllllll}\toprule",
              r"target & route & dtype & examples & max abs error & max rel error & result\\\midrule"]
    for c in doc["checks"]:
        err = [v if isinstance(v, str) else f"{v:.2g}" for v in (c["max_abs_error"], c["max_rel_error"])]
        lines.append(f"{escape(c['target'])} & {c['route']} & {c['dtype']} & {c['examples']} & {escape(err[0])} & "
                     f"{escape(err[1])} & {escape(c['status'])}\\\\")
    tolerances = sorted({c["tolerance"] for c in doc["checks"] if c["tolerance"]})
    lines += [r"\bottomrule\end{longtable}}", "Tolerances: " + escape("; ".join(tolerances)) + ".",
              r"\section*{Reproduce}", r"\begin{verbatim}"] + [f"$ {c}" for c in doc["reproduce"]] + [r"\end{verbatim}",
              r"\end{document}", ""]
    return "\n".join(lines)


def compile_pdf(tex: Path, timeout: float = 300) -> Path:
    """Run ``pdflatex`` twice (for longtable) next to the source; the PDF's path, or a RuntimeError
    with the log's first error."""
    if shutil.which("pdflatex") is None:
        raise RuntimeError("pdflatex is not installed; install TeX (Debian: texlive-latex-recommended) for --format pdf")
    for _ in range(2):
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                             capture_output=True, text=True, timeout=timeout, check=False)
        if run.returncode != 0:
            errors = [line for line in run.stdout.splitlines() if line.startswith("!")]
            raise RuntimeError(f"pdflatex failed on {tex.name}: {errors[0] if errors else run.stdout[-300:]}")
    return tex.with_suffix(".pdf")
