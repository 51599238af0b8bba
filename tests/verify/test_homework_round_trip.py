"""Every problem's key, written in the notations people use, reads back and grades correct; small
mutations of it never do.

The key is each problem's reference answer (``Problem.answer``, plain text). Its LaTeX is what
typeset.py prints from the parse tree; the other notations are spellings of that LaTeX that
people write (Σ for \\sum, \\displaystyle\\sum\\limits, square or \\big brackets, \\mathbf and
\\boldsymbol around names, \\intercal or \\mathsf T or a prime for a transpose, \\cdot for a product,
a left-hand side or an arrow, $...$ around it all, Unicode ⊙ δ √ x̂ for the commands). Hypothesis draws a combination of them for
each problem; each combination must grade ``correct``. Then it draws a mutation (minus the answer,
twice it, half of it, a sign inside it flipped, a transpose dropped) and the mutated answer, in the
same notation, must not grade ``correct``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.homework.problems import PROBLEMS, Problem, _setting, grade
from verify.homework.typeset import typeset

FORMULAS = sorted(pid for pid, p in PROBLEMS.items() if isinstance(p, Problem) and p.answer)
EXAMPLES = max(4, settings.default.max_examples // 2)  # ci: 12 per problem; thorough: 150

Spelling = Callable[[str, Problem], str]


def _names(latex: str, p: Problem) -> str:
    """Each of the problem's symbols in bold: \\mathbf{w}_{kj}, \\boldsymbol{\\delta}_{k}, \\mathbf{dS}."""
    for name in sorted(p.uses, key=len, reverse=True):
        greek = "\\" + name if f"\\{name}" in latex else None
        if greek is not None:
            latex = re.sub(rf"{re.escape(greek)}(?![A-Za-z])", lambda m: rf"\boldsymbol{{{m.group(0)}}}", latex)
        elif len(name) > 1 or p.uses[name].kind != "size":
            latex = re.sub(rf"(?<![\\A-Za-z{{]){re.escape(name)}(?![A-Za-z}}])", lambda m: rf"\mathbf{{{m.group(0)}}}",
                           latex)
    return latex


def _brackets(latex: str, opening: str, closing: str) -> str:
    """Grouping brackets (not a function's: \\log\\left( stays) as ``opening`` ... ``closing``."""
    out, kept, n = [], [], 0
    while n < len(latex):
        if latex.startswith(r"\left(", n):
            grouping = n == 0 or not (latex[n - 1].isalpha() or latex[n - 1] == "}")
            kept.append(grouping)
            out.append(opening if grouping else r"\left(")
            n += len(r"\left(")
        elif latex.startswith(r"\right)", n):
            out.append(closing if kept.pop() else r"\right)")
            n += len(r"\right)")
        else:
            out.append(latex[n])
            n += 1
    return "".join(out)


# Spellings, each a rewrite of the printed LaTeX that keeps its meaning; grouped so that a draw
# takes at most one of each group (two bracket styles at once are one style).
BRACKETS: dict[str, Spelling] = {
    "\\left( \\right)": lambda s, p: s,
    "( )": lambda s, p: s.replace(r"\left(", "(").replace(r"\right)", ")"),
    "[ ]": lambda s, p: _brackets(s, "[", "]"),
    "\\left[ \\right]": lambda s, p: _brackets(s, r"\left[", r"\right]"),
    "\\bigl( \\bigr)": lambda s, p: _brackets(s, r"\bigl(", r"\bigr)"),
}
SUMS: dict[str, Spelling] = {
    "\\sum": lambda s, p: s,
    "Σ": lambda s, p: s.replace(r"\sum", "Σ "),
    "\\displaystyle\\sum\\limits": lambda s, p: s.replace(r"\sum", r"\displaystyle\sum\limits"),
}
TRANSPOSES: dict[str, Spelling] = {
    "^{\\top}": lambda s, p: s,
    "^\\intercal": lambda s, p: s.replace(r"^{\top}", r"^\intercal "),
    "^{\\mathsf T}": lambda s, p: s.replace(r"^{\top}", r"^{\mathsf T}"),
    "^T": lambda s, p: s.replace(r"^{\top}", "^T "),
    "prime": lambda s, p: re.sub(r"(?<![A-Za-z_])([A-Z])\^\{\\top\}", r"\1'", s),  # A' G: on a bare matrix name
}
NAMES: dict[str, Spelling] = {"plain": lambda s, p: s, "bold": _names}
_UNICODE = {r"\odot": "⊙", r"\cdot": "·", r"\delta": "δ", r"\alpha": "α", r"\eta": "η", r"\gamma": "γ",
            r"\sigma": "σ", r"\hat{x}": "x̂", r"\sqrt": "√"}
SYMBOLS: dict[str, Spelling] = {
    "LaTeX commands": lambda s, p: s,
    "Unicode": lambda s, p: re.sub("|".join(re.escape(c) + r"(?![A-Za-z])" for c in _UNICODE),
                                   lambda m: _UNICODE[m.group(0)], s),
}
FRAMES: dict[str, Spelling] = {
    "none": lambda s, p: s,
    "\\frac{\\partial L}{\\partial x} =": lambda s, p: r"\frac{\partial L}{\partial \theta} = " + s,
    "dL/dx =": lambda s, p: "dL/dtheta = " + s,
    "$ $": lambda s, p: f"${s}$",
    "$$ = $$": lambda s, p: rf"$$\nabla_\theta L = {s}$$",
}
GROUPS = (BRACKETS, SUMS, TRANSPOSES, NAMES, FRAMES, SYMBOLS)


def _key_latex(pid: str) -> str:
    return typeset(PROBLEMS[pid].answer, _setting(pid, 0)[1])


@st.composite
def notations(draw: st.DrawFn, pid: str) -> tuple[str, str]:
    """The key in a drawn combination of spellings, and the names of the spellings drawn."""
    p = PROBLEMS[pid]
    text, names = _key_latex(pid), []
    for group in GROUPS:
        name = draw(st.sampled_from(sorted(group)))
        text = group[name](text, p)
        names.append(name)
    plain = draw(st.booleans())
    return (p.answer, "plain text") if plain else (text, " + ".join(names))


def _flip_first_sign(text: str) -> str | None:
    """The first + or - outside a subscript flipped (p_i - y_i -> p_i + y_i), or None without one."""
    depth_sub = 0
    for n, ch in enumerate(text):
        if text.startswith("_{", n):
            depth_sub += 1
        elif ch == "}" and depth_sub:
            depth_sub -= 1
        elif ch in "+-" and not depth_sub and not text.startswith("-=", n):
            return text[:n] + ("-" if ch == "+" else "+") + text[n + 1:]
    return None


MUTATIONS: dict[str, Callable[[str], str | None]] = {
    "minus it": lambda s: rf"-\left({s}\right)",
    "twice it": lambda s: rf"2 \left({s}\right)",
    "half of it": lambda s: rf"\frac{{1}}{{2}} \left({s}\right)",
    "a sign flipped": _flip_first_sign,
    "a transpose dropped": lambda s: re.sub(r"\^\{\\top\}|\^\\intercal |\^\{\\mathsf T\}|\^T |(?<=[A-Z])'", "", s, count=1)
    if re.search(r"\^\{\\top\}|\^\\intercal |\^\{\\mathsf T\}|\^T |(?<=[A-Z])'", s) else None,
}


def test_every_formula_problem_has_a_reference_answer() -> None:
    missing = [pid for pid, p in PROBLEMS.items() if isinstance(p, Problem) and not p.answer]
    assert not missing and len(FORMULAS) >= 20


@pytest.mark.parametrize("pid", FORMULAS)
def test_the_key_in_every_notation_grades_correct_and_its_mutations_do_not(pid: str) -> None:
    @settings(max_examples=EXAMPLES)
    @given(notations(pid), st.sampled_from(sorted(MUTATIONS)))
    def check(written: tuple[str, str], mutation: str) -> None:
        text, how = written
        g = grade(pid, text)
        assert g.verdict == "correct", f"{pid} in {how}: {text!r} graded {g.verdict}: {g.feedback}"
        mutated = MUTATIONS[mutation](text if not text.startswith("$") else text.strip("$"))
        if mutated is not None:
            m = grade(pid, mutated)
            assert m.verdict != "correct", f"{pid}, {mutation}: {mutated!r} graded correct"

    check()


def test_the_spellings_are_what_people_write() -> None:
    """The rewrites above produce the notation they are named for (so the round trip above is
    not a round trip of unchanged text)."""
    p = PROBLEMS["bp:delta_hidden"]
    latex = _key_latex("bp:delta_hidden")
    assert SUMS["Σ"](latex, p).count("Σ") == 1 and r"\sum" not in SUMS["Σ"](latex, p)
    assert r"\boldsymbol{\delta}_{k}" in _names(latex, p) and r"\mathbf{w}_{kj}" in _names(latex, p)
    assert BRACKETS["\\left[ \\right]"](latex, p).startswith(r"H_{j} \left[1 - H_{j}\right]")
    assert BRACKETS["[ ]"](r"\log\left(\left(a\right) b\right)", p) == r"\log\left([a] b\right)"
    v = _key_latex("attention:grad_V")
    assert TRANSPOSES["prime"](v, PROBLEMS["attention:grad_V"]) == "A' G"
    lnorm = _key_latex("layernorm:grad_X")
    assert "x̂_{i}" in SYMBOLS["Unicode"](lnorm, PROBLEMS["layernorm:grad_X"]) and "γ_{j}" in SYMBOLS["Unicode"](lnorm, p)
    assert MUTATIONS["a transpose dropped"]("A' G") == "A G" and _flip_first_sign("X_{i+u-1} - y") == "X_{i+u-1} + y"
