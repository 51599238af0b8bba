"""A report as LaTeX source (and PDF through ``pdflatex`` when TeX is installed).

Lays out the same document ``gradproof.report.build_report`` returns: formulas are SymPy's own
LaTeX, prose is escaped with its ASCII math (``e^{z_i}``, ``d_k``, ``K^T``) typeset as math,
graph pictures are PNG files next to the source. A formula wider than the line is never shrunk:
TeX measures it and, when it does not fit, sets it over several lines (breaking at top-level
``+``/``-``/``=``), and a matrix entry by entry or row by row.

What TeX needs is known up front (:func:`tex_problems`), so a command can refuse before any slow
work; :func:`compile_pdf` runs ``pdflatex`` in a temporary directory and leaves only the PDF.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["LANGUAGES", "compile_pdf", "escape", "overfull_boxes", "prose", "report_tex", "tex_problems"]

# The template's packages, each with the Debian package that ships it: the preamble is built from
# this table and tex_problems() checks the same table, so the two cannot drift apart.
PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("fontenc", "[T1]", "texlive-latex-base"),
    ("lmodern", "", "lmodern"),
    ("geometry", "[margin=2cm]", "texlive-latex-base"),
    ("amsmath", "", "texlive-latex-base"),
    ("amssymb", "", "texlive-base"),
    ("graphicx", "", "texlive-latex-base"),
    ("array", "", "texlive-latex-base"),
    ("longtable", "", "texlive-latex-base"),
    ("booktabs", "", "texlive-latex-recommended"),
    ("xcolor", "", "texlive-latex-recommended"),
)
ENGINE = ("pdflatex", "texlive-latex-base")
# Languages the PDF can typeset: pdflatex's fonts have no CJK glyphs, so zh would come out as '?'.
LANGUAGES = ("en",)

# Characters in our prose that pdflatex's default fonts lack, as the math they stand for.
_UNICODE = {
    "—": "---", "–": "--", "≤": r"$\le$", "≥": r"$\ge$", "→": r"$\to$", "∘": r"$\circ$", "⊙": r"$\odot$",
    "√": r"$\surd$", "𝟏": r"$\mathbf{1}$", "×": r"$\times$", "·": r"$\cdot$", "ᵀ": r"$^{T}$", "∑": r"$\sum$",
    "∂": r"$\partial$", "η": r"$\eta$", "δ": r"$\delta$", "σ": r"$\sigma$", "α": r"$\alpha$", "β": r"$\beta$",
    "γ": r"$\gamma$", "μ": r"$\mu$", "ε": r"$\varepsilon$", "⋆": r"$\star$", "≠": r"$\ne$", "…": r"\ldots{}",
}
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "|": r"\textbar{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def tex_problems(lang: str = "en", pdf: bool = True) -> list[str]:
    """What is missing to make a PDF report, one line per fix (empty when everything is there).

    Asks ``kpsewhich`` for every package of the template in one call, so it takes milliseconds and
    can run before any slow work. Lines name the Debian packages that provide what is missing.
    ``pdf=False`` asks only what the LaTeX source needs (``--format tex``): a language it can set.

    >>> tex_problems("xx", pdf=False)
    ['the PDF report is in English only (no xx); use --format html or md for --lang xx']
    """
    problems = []
    if not pdf:
        return _language_problems(lang)
    if shutil.which(ENGINE[0]) is None:
        problems.append(f"{ENGINE[0]} is not installed (Debian: {ENGINE[1]})")
    missing = _missing_packages()
    for debian in dict.fromkeys(pkg for _, _, pkg in PACKAGES):
        names = [f"{sty}.sty" for sty, _, pkg in PACKAGES if pkg == debian and sty in missing]
        if names:
            problems.append(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} missing (Debian: {debian})")
    return problems + _language_problems(lang)


def _language_problems(lang: str) -> list[str]:
    if lang in LANGUAGES:
        return []
    return [f"the PDF report is in English only (no {lang}); use --format html or md for --lang {lang}"]


def _missing_packages() -> set[str]:
    # kpsewhich prints one path per file it finds; a package is missing when no path ends in its name.
    names = [sty for sty, _, _ in PACKAGES]
    if shutil.which("kpsewhich") is None:
        return set(names)
    try:
        found = subprocess.run(["kpsewhich", *(f"{n}.sty" for n in names)], capture_output=True, text=True,
                               timeout=30, check=False).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return set(names)
    return set(names) - {Path(p).stem for p in found}


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


# --- prose with ASCII math ------------------------------------------------------------------------
# A word with sub- or superscripts (e^{z_i}, d_k, K^T, W_Q^h, delta^(l), dL/dz_j, the ^2 after a
# parenthesis) is math the lecture writes in ASCII; it is set as math, everything else is escaped.
_SCRIPT = r"[_^](?:\{(?:[^{}]|\{[^{}]*\})*\}|\([^()]*\)|[A-Za-z0-9]+)"
_TOKEN = re.compile(rf"(?<![\w.\\'])(?:[A-Za-z][A-Za-z0-9]*/)?[A-Za-z0-9]*'?(?:{_SCRIPT})+")
_PART = re.compile(rf"([A-Za-z0-9]*'?)((?:{_SCRIPT})+)")
_ONE_SCRIPT = re.compile(_SCRIPT)
_CODE = re.compile(r"[a-z]{3,}_[a-z]{3,}")
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "lambda", "mu", "pi", "rho", "sigma",
          "tau", "phi", "omega"}
_FUNCTIONS = {"sum": r"\sum", "sin": r"\sin", "cos": r"\cos", "log": r"\log", "exp": r"\exp", "max": r"\max"}
_ARROWS = (("<-", r"$\leftarrow$"), ("->", r"$\to$"), ("<=", r"$\le$"), (">=", r"$\ge$"))


def prose(text: str) -> str:
    r"""Text for LaTeX whose ASCII math is typeset as math and the rest escaped.

    A run of words that reads as a formula (``O = A V``, ``(T_k - O_k) O_k``) is set as one formula,
    and so is a lone symbol (``V``, ``d_k``); ordinary words (and the article "a") stay text.

    >>> prose("quotient rule on e^{z_i} / sum_k e^{z_k}, 100%")
    'quotient rule on $e^{z_{i}} / \\sum_{k} e^{z_{k}}$, 100\\%'
    >>> prose("O = A V is linear in V; w <- w - eta x, torch.nn.functional.layer_norm")
    '$O = A V$ is linear in $V$; $w \\leftarrow w - \\eta x$, torch.nn.functional.layer\\_norm'
    """
    text = _TIMES.sub(r"\1 × ", text)  # "k x k": a size, not the variable x
    pieces: list[str] = []
    run: list[tuple[str, str, str]] = []  # (word's core, its math, its trailing punctuation)
    depth = 0  # brackets open in the run: a comma inside them belongs to the formula
    start = run_start = True  # whether the word (the run's first word) begins a sentence
    for word in text.split(" "):
        core, punctuation = _trailing(word)
        math = _word_math(core)
        if math is None:
            pieces += _run(run, run_start)
            run, depth = [], 0
            pieces.append(_inline(word))
        else:
            run_start = start if not run else run_start
            run.append((core, math, punctuation))
            depth += sum(core.count(c) for c in "([") - sum(core.count(c) for c in ")]")
            if punctuation and not (punctuation == "," and depth > 0):
                pieces += _run(run, run_start)
                run, depth = [], 0
        start = word.endswith(".")
    pieces += _run(run, run_start)
    return " ".join(pieces)


def _trailing(word: str) -> tuple[str, str]:
    # Sentence punctuation after a word ends a formula; "..." is a word of its own (a formula's dots).
    if word.endswith("...") or not word:
        return word, ""
    core = word.rstrip(",;:.")
    return (core, word[len(core):]) if core else (word, "")


def _run(run: list[tuple[str, str, str]], sentence_start: bool = False) -> list[str]:
    """A run of formula-like words as one formula when it holds an operator or is one symbol,
    else word by word; each word's trailing punctuation stays outside the formula, as text."""
    tail: list[str] = []
    while run and not any(ch.isalnum() for ch in run[-1][0]) and _opens(run[-1][0]):  # "(*" opens a remark
        tail.insert(0, _inline(run[-1][0]) + escape(run[-1][2]))
        run = run[:-1]
    if not run:
        return tail
    operator = any(core in _OPERATORS or "=" in core for core, _, _ in run)
    cores = "".join(core for core, _, _ in run)
    tuple_ = any(b in cores for b in "([") and all(cores.count(o) == cores.count(c) for o, c in ("()", "[]"))  # (i, j)
    if (len(run) >= 2 and (operator or tuple_)) or (len(run) == 1 and _symbol(run[0][0], sentence_start)):
        # A comma inside a formula ("[[cos k w_i, sin k w_i], ...]") is a place the line may break.
        words = [m + (escape(p) + (r"\allowbreak" if p == "," else "") if i < len(run) - 1 else "")
                 for i, (_, m, p) in enumerate(run)]
        inner, closing = " ".join(words), ""
        balance = sum(core.count("(") - core.count(")") for core, _, _ in run)
        while balance < 0 and inner.endswith(")"):  # "(or net_k)": the bracket opened in the text closes there
            inner, closing, balance = inner[:-1], closing + ")", balance + 1
        return ["$" + _SQRT.sub(r"\\sqrt{\1}", inner) + "$" + closing + escape(run[-1][2]), *tail]
    plain = [not any(ch in core for ch in "()[]") and _symbol(core, sentence_start and i == 0) for i, (core, _, _) in enumerate(run)]
    return [(f"${m}$" if plain[i] else _inline(core)) + escape(p)
            for i, (core, m, p) in enumerate(run)] + tail


def _opens(word: str) -> bool:
    return sum(word.count(c) for c in "([") > sum(word.count(c) for c in ")]")


def _symbol(word: str, sentence_start: bool) -> bool:
    """Whether one word alone is a symbol: a letter (not the article), a name with scripts, a Greek
    letter; a function's name alone ("the sum over k") is English."""
    letters = word.strip("()[]")
    if word == "a" or (word in ("A", "I") and sentence_start) or letters in _FUNCTIONS or letters in _NAMES:
        return False
    return any(ch.isalpha() for ch in word)


_OPERATORS = {"=": "=", "+": "+", "-": "-", "*": "*", "/": "/", "<=": r"\le", ">=": r"\ge", "<": "<", ">": ">",
              "<-": r"\leftarrow", "->": r"\to", "!=": r"\ne", ".": r"\cdot", "...": r"\dots", "|": "|",
              "×": r"\times"}
_TIMES = re.compile(r"\b(\w) x (?=\w)")
_NAMES = {"sqrt", "softmax", "rowsum", "diag", "mean", "corr", "pad", "flip", "relu", "hardlim", "argmax", "KL", "conv", "PE"}
_VARIABLES = {"pos", "net"}  # the lecture's multi-letter variables
_PIECE = re.compile(rf"(?P<script>(?:[A-Za-z][A-Za-z0-9]*'?)?(?:{_SCRIPT})+)|(?P<name>[A-Za-z]+'?)|(?P<number>\d+)"
                    r"|(?P<bracket>[()\[\],])|(?P<operator><=|>=|<-|->|!=|\.\.\.|[-+*/=<>|])")
_SQRT = re.compile(r"\\operatorname\{sqrt\}\(([^()]*)\)")


def _word_math(word: str) -> str | None:
    """One word as math when every piece of it reads as math (a symbol, a number, an operator, a
    bracket, a known function), else None: ordinary words stay text."""
    if word in _OPERATORS:
        return _OPERATORS[word]
    if not word or any(ch in word for ch in "\\&%$#~\""):
        return None
    out, at = [], 0
    for piece in _PIECE.finditer(word):
        if piece.start() != at:
            return None
        at = piece.end()
        kind, text = piece.lastgroup, piece.group()
        if kind == "script":
            math = _token_math(text)
            if math is None:
                return None
            out.append(math)
        elif kind == "name":
            name = _name_math(text, word)
            if name is None:
                return None
            out.append(name)
        else:
            out.append(_OPERATORS.get(text, text) if kind == "operator" else text)
    if at != len(word) or not out:
        return None
    # A command followed by a letter would read as a longer command (\\le then i: \\lei).
    return "".join(p + (" " if re.search(r"\\[A-Za-z]+$", p) and q[:1].isalpha() else "") for p, q in zip(out, [*out[1:], ""]))


def _name_math(name: str, word: str) -> str | None:
    letters = name.rstrip("'")
    if len(letters) == 1 or letters in _GREEK or letters in _FUNCTIONS:
        return _base_math(name)
    if letters in _VARIABLES:
        return r"\mathit{" + letters + "}" + name[len(letters):]
    if letters in _NAMES:
        return r"\operatorname{" + letters + "}" + name[len(letters):]
    if letters[0] == "d" and len(letters) <= 5 and "/" in word:  # dE/dnet, dJ/dw: a derivative's parts
        return _base_math(name)
    if re.fullmatch(r"d[A-Z][a-z]?", letters):  # dA, dS: the lecture's names of adjoints
        return r"\mathit{" + letters + "}"
    return None


def _inline(text: str) -> str:
    """Text with each word that has sub- or superscripts set as math, the rest escaped."""
    out, at = [], 0
    for found in _TOKEN.finditer(text):
        math = _token_math(found.group())
        if math is None:
            continue
        out += [_plain(text[at:found.start()]), f"${math}$"]
        at = found.end()
    out.append(_plain(text[at:]))
    return "".join(out)


def _plain(text: str) -> str:
    pieces = [text]
    for ascii_arrow, tex in _ARROWS:  # arrows and comparisons read as symbols, not as '<' and '-'
        pieces = [p for piece in pieces for p in _interleave(piece.split(ascii_arrow), tex)]
    return "".join(p if p.startswith("$") and p.endswith("$") and len(p) > 1 else escape(p) for p in pieces)


def _interleave(parts: list[str], sep: str) -> list[str]:
    out = [parts[0]]
    for part in parts[1:]:
        out += [sep, part]
    return out


def _token_math(token: str) -> str | None:
    # A token with characters TeX would read as commands is left to escape(); better plain than broken.
    if any(ch in token for ch in "\\&%$#~\""):
        return None
    if _CODE.fullmatch(token):  # row_mean, mul_col: a rule's or a function's name in code, not a symbol
        return None
    prefix, _, rest = token.rpartition("/") if "/" in token.split("_")[0].split("^")[0] else ("", "", token)
    part = _PART.fullmatch(rest)
    if part is None:
        return None
    scripts = "".join(_script_math(s.group()) for s in _ONE_SCRIPT.finditer(part.group(2)))
    return (_base_math(prefix) + "/" if prefix else "") + _base_math(part.group(1)) + scripts


def _base_math(base: str) -> str:
    prime = "'" if base.endswith("'") else ""
    word = base.rstrip("'")
    if word in _GREEK:
        return "\\" + word + prime
    if word in _FUNCTIONS:
        return _FUNCTIONS[word] + prime
    if len(word) >= 4 and word.endswith("hat") and word[:-3].isalpha():  # Xhat, Ghat: the lecture's hats
        return r"\hat{" + _base_math(word[:-3]) + "}" + prime
    if len(word) > 1 and word.isalpha():  # a multi-letter name keeps its letters together
        return r"\mathit{" + word + "}" + prime
    return word + prime


def _script_math(script: str) -> str:
    mark, body = script[0], script[1:]
    if body.startswith("{"):
        inner = body[1:-1]
        return mark + "{" + _TOKEN.sub(lambda m: _token_math(m.group()) or m.group(), inner) + "}"
    if body.startswith("("):
        return mark + "{" + body + "}"
    if len(body) >= 3 and body.isalpha() and body not in _GREEK:  # d_model: a word, set upright
        return mark + r"{\mathrm{" + body + "}}"
    return mark + "{" + (_base_math(body) if body in _GREEK else body) + "}"


# --- formulas that fit the line -------------------------------------------------------------------
_COMMAND = re.compile(r"\\(?:[A-Za-z]+|.)")
_MATRIX = re.compile(r"\\left\[\\begin\{(matrix|array)\}(?:\{[clr|]*\})?(.*)\\end\{\1\}\\right\]", re.DOTALL)
# Words in parentheses inside a formula ("dS (causal mask)") are a label: upright, not a product.
_WORDS = re.compile(r"(?<![\\\w])\(([a-z]+(?: [a-z]+)+)\)")
_SHORT_CELL = 40
_TALL = 24  # rows: a taller matrix is listed row by row, so it can continue on the next page  # characters of LaTeX: cells up to this long are listed row by row, longer ones one by one


def _delimiter(latex: str, at: int) -> int:
    """The end of the delimiter that starts at ``at`` (after ``\\left`` or ``\\right``)."""
    while at < len(latex) and latex[at] == " ":
        at += 1
    if at < len(latex) and latex[at] == "\\":
        command = _COMMAND.match(latex, at)
        return command.end() if command else at + 1
    return at + 1


def _groups(latex: str) -> list[tuple[int, int, int, int]]:
    """The ``\\left ... \\right`` groups at the top level of ``latex``: (start, content start,
    content end, end) of each; groups inside braces or inside other groups are not listed."""
    groups, braces, opened, stack = [], 0, 0, 0
    at = 0
    while at < len(latex):
        ch = latex[at]
        if ch == "\\":
            command = _COMMAND.match(latex, at)
            name = command.group() if command else "\\"
            end = command.end() if command else at + 1
            if name == r"\left":
                end = _delimiter(latex, end)
                if braces == 0 and stack == 0:
                    opened, content = at, end
                stack += 1
            elif name == r"\right":
                closing = end
                end = _delimiter(latex, end)
                stack -= 1
                if braces == 0 and stack == 0:
                    groups.append((opened, content, closing - len(r"\right"), end))
            at = end
            continue
        braces += {"{": 1, "}": -1}.get(ch, 0)
        at += 1
    return groups


def _brace_end(latex: str, at: int) -> int:
    """The index after the brace group that opens at ``at`` (``latex[at] == "{"``)."""
    depth = 0
    while at < len(latex):
        if latex[at] == "\\":
            at += 2
            continue
        depth += {"{": 1, "}": -1}.get(latex[at], 0)
        at += 1
        if depth == 0:
            return at
    return at


def _fractions(latex: str) -> list[tuple[int, int, int, int]]:
    """The top-level ``\\frac{N}{D}`` of ``latex``: (start, numerator's brace, denominator's brace, end)."""
    found, braces, stack, at = [], 0, 0, 0
    while at < len(latex):
        if latex[at] == "\\":
            command = _COMMAND.match(latex, at)
            name = command.group() if command else "\\"
            stack += {r"\left": 1, r"\right": -1}.get(name, 0)
            if name == r"\frac" and braces == 0 and stack == 0 and latex[command.end():command.end() + 1] == "{":
                middle = _brace_end(latex, command.end())
                if latex[middle:middle + 1] == "{":
                    end = _brace_end(latex, middle)
                    found.append((at, command.end(), middle, end))
                    at = end
                    continue
            at = command.end() if command else at + 1
            continue
        braces += {"{": 1, "}": -1}.get(latex[at], 0)
        at += 1
    return found


def _exponentials(latex: str) -> list[tuple[int, int, int]]:
    """The top-level ``e^{X}`` of ``latex``: (start, exponent's brace, end)."""
    found, braces, stack, at = [], 0, 0, 0
    while at < len(latex):
        if latex[at] == "\\":
            command = _COMMAND.match(latex, at)
            stack += {r"\left": 1, r"\right": -1}.get(command.group() if command else "", 0)
            at = command.end() if command else at + 1
            continue
        if latex.startswith("e^{", at) and braces == 0 and stack == 0 and not latex[at - 1:at].isalnum():
            end = _brace_end(latex, at + 2)
            found.append((at, at + 2, end))
            at = end
            continue
        braces += {"{": 1, "}": -1}.get(latex[at], 0)
        at += 1
    return found


def _sum(latex: str) -> bool:
    """Whether ``latex`` is a sum at its top level (outside braces), so a line may break in it."""
    return len(_split(latex, " + ")) + len(_split(latex, " - ")) > 2


def _unbrace(latex: str) -> str:
    r"""SymPy's ``f{\left(x \right)}`` as ``f\left(x \right)``, so the group can be opened up."""
    out, at = [], 0
    while (start := latex.find(r"{\left", at)) != -1:
        end = _brace_end(latex, start)
        inner = latex[start + 1:end - 1]
        groups = _groups(inner)
        whole = len(groups) == 1 and groups[0][0] == 0 and groups[0][3] == len(inner.rstrip())
        if whole and start > 0 and latex[start - 1].isalpha():  # a function's argument, not a script
            out += [latex[at:start], inner]
        else:
            out.append(latex[at:start + 1])
            end = start + 1
        at = end
    return "".join(out) + latex[at:]


# Characters of LaTeX: in the second, deeper form (used only where the first still overflows) a
# longer fraction is written (N) / (D) so that N and D can break, a longer exponent exp(X).
# SymPy's Subs(Derivative(f(u), u), u, X): d/du f(u) evaluated at u = X, which is f'(X).
_EVALUATED = re.compile(r"\\left\. \\frac\{d\}\{d ([a-z])\} ([A-Za-z]+)\{?\\left\(\1 \\right\)\}? "
                        r"\\right\|_\{\\substack\{ \1=(.*?) \}\}")
_LONG_FRACTION = 120
_LONG_EXPONENT = 40


def _opened(opening: str, content: str, closing: str, depth: int, deep: bool) -> str:
    # The delimiters take their height from an invisible copy of the content; the content itself
    # sits at the top level, where TeX may break a line after any + or -.
    return (f"{opening}\\vphantom{{{content}}}\\right.{_breakable(content, depth - 1, deep)}"
            f"\\left.\\vphantom{{{content}}}{closing}")


def _breakable(latex: str, depth: int = 8, deep: bool = False) -> str:
    r"""``latex`` with its top-level ``\left ... \right`` groups opened up, so TeX may break a line
    at a ``+`` inside them; each delimiter keeps its height through a ``\vphantom`` of the content.
    ``deep`` opens long fractions and exponents too (readable, but less so: a last resort).

    >>> _breakable(r"a \left(b + c\right)")
    'a \\left(\\vphantom{b + c}\\right.b + c\\left.\\vphantom{b + c}\\right)'
    """
    if depth == 0:
        return latex
    latex = _unbrace(latex)
    pieces = []
    for start, begin, finish, end in _groups(latex):
        content = latex[begin:finish]
        if r"\begin" not in content:  # a matrix inside cannot be broken; leave its group whole
            pieces.append((start, end, _opened(latex[start:begin], content, latex[finish:end], depth, deep)))
    for start, numerator, denominator, end in _fractions(latex) if deep else ():
        top, bottom = latex[numerator + 1:denominator - 1], latex[denominator + 1:end - 1]
        # Only a long numerator gains: a wide denominator (a root, an exponent) would not break anyway,
        # and setting it beside the numerator instead of under it would only widen the line.
        long = len(top) + len(bottom) > _LONG_FRACTION
        if long and (len(top) >= len(bottom) or _sum(bottom)) and r"\begin" not in top + bottom:
            pieces.append((start, end, _opened(r"\left(", top, r"\right)", depth, deep) + r" \Big/ "
                           + _opened(r"\left(", bottom, r"\right)", depth, deep)))
    for start, brace, end in _exponentials(latex) if deep else ():  # a long exponent cannot break: write it exp(X)
        power = latex[brace + 1:end - 1]
        if len(power) > _LONG_EXPONENT and r"\begin" not in power:
            pieces.append((start, end, r"\exp" + _opened(r"\left(", power, r"\right)", depth, deep)))
    out, at = [], 0
    for start, end, text in sorted(pieces):
        out += [latex[at:start], text]
        at = end
    out.append(latex[at:])
    return "".join(out)


def _split(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is outside every brace and environment."""
    parts, braces, begun, at, last = [], 0, 0, 0, 0
    while at < len(text):
        if text.startswith(separator, at) and braces == 0 and begun == 0:
            parts.append(text[last:at])
            at = last = at + len(separator)
            continue
        if text[at] == "\\":
            command = _COMMAND.match(text, at)
            begun += {r"\begin": 1, r"\end": -1}.get(command.group() if command else "", 0)
            at = command.end() if command else at + 1
            continue
        braces += {"{": 1, "}": -1}.get(text[at], 0)
        at += 1
    return [*parts, text[last:]]


def _matrix_cells(latex: str) -> list[list[str]] | None:
    """The cells of ``latex`` when it is one bracketed matrix (SymPy's form), row by row."""
    found = _MATRIX.fullmatch(latex.strip())
    if found is None or r"\begin" in found.group(2):
        return None
    return [[cell.strip() for cell in _split(row, "&")] for row in _split(found.group(2), r"\\") if row.strip()]


def _display(latex: str) -> str:
    """A display formula: centred when it fits the line, else set over lines (never shrunk)."""
    latex = _WORDS.sub(r"\\ \\text{(\1)}", latex)
    cells = _matrix_cells(latex)
    shallow, deep = _lines(latex, cells, deep=False), _lines(latex, cells, deep=True)
    if cells is not None and len(cells) > _TALL:  # taller than a page: a display could not break across pages
        return "\\par\\smallskip\n\\gpbroken{%\n" + shallow + "}{%\n" + deep + "}\\smallskip"
    return "\\gpmath{" + latex + "}{%\n" + shallow + "}{%\n" + deep + "}"


def _lines(latex: str, cells: list[list[str]] | None, deep: bool) -> str:
    """A formula's broken form: itself, or a matrix row by row (short cells) or entry by entry."""
    if deep:  # SymPy's evaluation bar cannot break under its long subscript; f'(X) can
        latex = _EVALUATED.sub(r"\2'\\left(\3\\right)", latex)
        cells = None if cells is None else [[_EVALUATED.sub(r"\2'\\left(\3\\right)", c) for c in row] for row in cells]
    if cells is None:
        return r"\gpline{" + _breakable(latex, deep=deep) + "}"
    if max(len(c) for row in cells for c in row) <= _SHORT_CELL:  # many short cells: one line per row
        return "\n".join(rf"\gpline{{\text{{row {i}:}}\quad " + r",\allowbreak\ ".join(row) + "}"
                         for i, row in enumerate(cells, 1))
    single = len(cells[0]) == 1
    return "\n".join(rf"\gpline{{\text{{entry {i if single else f'({i}, {j})'}:}}\quad {_breakable(c, deep=deep)}}}"
                     for i, row in enumerate(cells, 1) for j, c in enumerate(row, 1))


_PREAMBLE = r"""\setlength{\parindent}{0pt}\setlength{\parskip}{0.5em}
% A status box cannot break: let a line before it stretch rather than run into the margin.
\setlength{\emergencystretch}{3em}
% A status box cannot break: it goes to the next line (the line before it ragged) when it must.
\newcommand{\status}[1]{\unskip\hskip 0.5em plus 1fil\penalty0\hskip 0pt plus -1fil\relax
  \colorbox{black!8}{\small\textsf{#1}}}
% A long status (a list of sizes) is set as text that can break, not as a box wider than the line.
\newcommand{\longstatus}[1]{\unskip\hskip 0.5em plus 1fil\penalty0\hskip 0pt plus -1fil\relax{\small\textsf{#1}}}
% A formula is measured first: displayed when it fits the line, else set by \gpbroken: its broken
% form #2 (ragged lines with hanging indentation), or the deeper #3 where a line of #2 still runs
% into the margin (the trial is silent; what is set warns as usual). Nothing is scaled down.
\newsavebox{\gpbox}\newsavebox{\gppar}\newif\ifgpover
\newcommand{\gpmath}[3]{\sbox{\gpbox}{$\displaystyle #1$}\ifdim\wd\gpbox>\linewidth
  \par\smallskip\gpbroken{#2}{#3}\par\smallskip\else\[\usebox{\gpbox}\]\fi}
\newcommand{\gpbroken}[2]{\setbox\gppar=\vbox{\hfuzz=\maxdimen\hbadness=10000 #1}\global\gpoverfalse\setbox0=\vbox{\unvcopy\gppar\gpscan}%
  \ifgpover#2\else\unvbox\gppar\fi}
% Takes the lines of a paragraph off from the bottom; a line whose content is wider than the line is overfull.
\def\gpscan{\setbox2=\lastbox\ifvoid2\else\setbox4=\hbox{\unhcopy2}%
  \ifdim\wd4>\dimexpr\wd2+1pt\relax\global\gpovertrue\fi\unskip\unpenalty\unskip\expandafter\gpscan\fi}
\newcommand{\gpline}[1]{{\hsize=\linewidth\raggedright\leftskip=1em\hangindent=2em\hangafter=1\noindent
  $\displaystyle #1$\par}}"""


def _status(label: str) -> str:
    """A status badge; a long one (a list of sizes) as text that can break over lines."""
    return (r"\status{" if len(label) <= 40 else r"\longstatus{") + escape(label) + "}"


def _shell(command: str) -> str:
    """A command for the typewriter font that pastes back into a shell as typed: T1 fonts would
    join "--" into an en dash and print "'" as a curly quote."""
    return escape(command).replace("-", "-{}").replace("'", r"\textquotesingle{}")


def _reproduce(commands: Sequence[str]) -> list[str]:
    # The document names the HTML report; this page is the PDF, so its own command says --format pdf.
    out = []
    for command in commands:
        if command.startswith("gradproof report"):
            command = re.sub(r"--format \S+", "--format pdf", command) if "--format" in command \
                else command + " --format pdf"
        out.append(command)
    return out


def _glance_groups(doc: Mapping[str, Any]) -> list[tuple[dict[str, str], list[str]]]:
    """The HTML page's "at a glance" (report.strongest): targets grouped by what holds and how."""
    from .report import strongest

    groups: dict[tuple[str, str], tuple[dict[str, str], list[str]]] = {}
    for row in strongest(doc):
        groups.setdefault((row["label"], row["how"]), (row, []))[1].append(row["target"])
    return list(groups.values())


def report_tex(doc: Mapping[str, Any], graphics: Sequence[str] = ()) -> str:
    """The report as a LaTeX article; ``graphics`` are PNG files of the graphs, one per model.

    Raises ValueError for a language the PDF cannot typeset (see :data:`LANGUAGES`).

    >>> doc = {"title": "T", "section": "1.", "question": "Why e^{z_i}?", "lang": "en", "symbols": [],
    ...        "summary": {"steps": {"proved": 1}, "numeric_checks": {"passed": 0, "failed": 0}},
    ...        "assumptions": [], "forward": {"sizes": {"n": 2}, "math": {"latex": "x"}}, "graphs": [],
    ...        "steps": [], "results": [], "checks": [], "reproduce": ["gradproof report t --format html"]}
    >>> tex = report_tex(doc)
    >>> "Why $e^{z_{i}}$?" in tex, "report t -{}-{}format pdf" in tex
    (True, True)
    """
    problems = _language_problems(doc.get("lang", "en"))
    if problems:
        raise ValueError(problems[0])
    s = doc["summary"]
    expression = doc.get("kind") == "expression"  # a forward's document: its gradients' labels stand for steps
    counted = "gradients" if expression else "steps"
    packages = "".join(rf"\usepackage{options}{{{sty}}}" for sty, options, _ in PACKAGES)
    lines = [
        r"\documentclass[11pt,a4paper]{article}",
        packages,
        _PREAMBLE,
        rf"\title{{{prose(doc['title'])}}}\author{{gradproof}}\date{{{prose(doc['section'])}}}",
        r"\begin{document}\maketitle",
        prose(doc["question"]),
        "",
        r"\fbox{\parbox{0.95\linewidth}{\textbf{At a glance.} What holds for each target, and how:"
        + "".join(rf"\\ \textbullet\ \textbf{{{escape(g['label'])}}} {prose(g['how'])}: {prose(', '.join(targets))}"
                  for g, targets in _glance_groups(doc))
        + r"\\ " + counted.capitalize() + ": "
        + ", ".join(f"{n} {escape(k.replace('_', ' '))}" for k, n in s[counted].items())
        + f". Numeric checks against PyTorch autograd: {s['numeric_checks']['passed']} passed, "
        f"{s['numeric_checks']['failed']} failed. \\emph{{Proved}} means SymPy reduced the difference to exactly 0; "
        r"\emph{checked numerically} is agreement within a stated tolerance, never a proof.}}",
        r"\section*{Symbols}",
        r"\begin{longtable}{@{}" + "".join(rf">{{\raggedright\arraybackslash}}p{{{w}\linewidth}}" for w in (0.15, 0.15, 0.2, 0.42))
        + r"@{}}\toprule symbol & shape & domain & meaning\\\midrule",
    ]
    lines += [f"{prose(x['name'])} & {prose(' × '.join(x['shape']) or 'scalar')} & {prose(x['domain'])} & "
              f"{prose(x['meaning'])}\\\\" for x in doc["symbols"]]
    lines.append(r"\bottomrule\end{longtable}")
    if doc["assumptions"]:
        lines.append("Assumptions: " + prose("; ".join(doc["assumptions"])) + ".")
    sizes = ", ".join(f"{k} = {v}" for k, v in doc["forward"]["sizes"].items())
    intro = ("The forward as written, read at symbolic sizes; its last line is the scalar that is differentiated:"
             if expression else f"The scalar that is differentiated, at {prose(sizes)}:")
    lines += [r"\section*{Forward computation}", intro, _display(doc["forward"]["math"]["latex"])]
    if graphics:
        lines.append(r"\section*{Computation graph}")
        for graph, path in zip(doc["graphs"], graphics):
            lines += [r"\begin{center}", rf"\includegraphics[width=0.8\linewidth,height=0.6\textheight,keepaspectratio]{{{path}}}",
                      rf"\\ \small Model \texttt{{{escape(graph['model'])}}}", r"\end{center}"]
    if not expression:
        lines += [r"\section*{Derivation, step by step}", r"\begin{enumerate}"]
        for step in doc["steps"]:
            lines += [rf"\item {prose(step['claim'])} {_status(step['status']['label'])}",
                      _display(step["math"]["latex"]), rf"\emph{{Why:}} {prose(step['reason'])}"]
        lines.append(r"\end{enumerate}")
    lines.append(r"\section*{Results}")
    for r in doc["results"]:
        lines += _result(r)
    lines += [r"\section*{Numeric checks against PyTorch autograd}", r"{\small\begin{longtable}{@{}lllllll@{}}\toprule",
              r"target & route & dtype & examples & max abs error & max rel error & result\\\midrule"]
    for c in doc["checks"]:
        err = [v if isinstance(v, str) else f"{v:.2g}" for v in (c["max_abs_error"], c["max_rel_error"])]
        lines.append(f"{prose(c['target'])} & {escape(c['route'])} & {escape(c['dtype'])} & {c['examples']} & "
                     f"{escape(err[0])} & {escape(err[1])} & {escape(c['status'])}\\\\")
    tolerances = sorted({c["tolerance"] for c in doc["checks"] if c["tolerance"]})
    lines += [r"\bottomrule\end{longtable}}", "Tolerances: " + escape("; ".join(tolerances).replace(" x ", " × ")) + ".",
              r"\section*{Reproduce}", r"{\ttfamily\raggedright"]
    # Not verbatim: a forward's command may hold Unicode (⊙) that only escape() can set.
    lines += [rf"\$ {_shell(c)}\par" for c in _reproduce(doc["reproduce"])]
    lines += ["}", r"\end{document}", ""]
    return "\n".join(lines)


def _result(r: Mapping[str, Any]) -> list[str]:
    lines = [rf"\subsection*{{{prose(r['target'])} {_status(r['status']['label'])}}}"]
    if "local" in r:  # a forward's gradient: reverse mode's forms and what its status rests on
        if r.get("claim"):
            lines += [rf"The claim, in the lecture's notation {_status(r['claim']['status']['label'])}:",
                      _display(r["claim"]["math"]["latex"])]
        lines += ["As reverse mode computes it:", _display(r["local"]["latex"])]
        lines += ["Expanded:", _display(r["expanded"]["latex"])] if r["expanded"] else []
        return [*lines, rf"\emph{{Rests on:}} {prose(r['rests_on'])}"]
    lines += ["Closed form:", _display(r["closed"]["latex"])]
    if r["index"]:
        lines += ["Index form:", _display(r["index"]["latex"])]
    sizes = ", ".join(f"{k} = {v}" for k, v in r["entrywise_sizes"].items())
    return lines + ([f"Entrywise at {prose(sizes)}:", _display(r["entrywise"]["latex"])] if r["entrywise"]
                    else [f"Entrywise at {prose(sizes)}: too long to typeset; it is in the JSON report."])


_OVERFULL = re.compile(r"^Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)(.*)$", re.MULTILINE)


def overfull_boxes(log: str, tolerance_pt: float = 2.0) -> list[str]:
    r"""The log's ``Overfull \hbox`` lines wider than ``tolerance_pt``: text or a formula that
    runs into the margin.

    >>> overfull_boxes("Overfull \\hbox (0.5pt too wide) in paragraph at lines 3--4\n"
    ...                "Overfull \\hbox (41.2pt too wide) detected at line 90")
    ['Overfull \\hbox (41.2pt too wide) detected at line 90']
    """
    return [m.group() for m in _OVERFULL.finditer(log) if float(m.group(1)) > tolerance_pt]


def _first_error(log: str) -> str:
    """The first TeX error of a log as one line: its message and the source line it stopped at."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("! "):
            where = next((w.strip() for w in lines[i + 1:i + 12] if re.match(r"l\.\d+", w)), "")
            return line[2:].strip() + (f" (at {where[:120]})" if where else "")
    tail = [line for line in lines if line.strip()][-1:]
    return tail[0][:200] if tail else "no log"


def compile_pdf(tex: Path, timeout: float = 300, log: Path | None = None) -> Path:
    """Typeset ``tex`` with ``pdflatex`` into ``tex``'s PDF; the PDF's path.

    pdflatex works in a temporary directory (its .aux, .log and .out never appear beside the
    output) and the PDF replaces the old one only once it is complete. Graphics are looked up next
    to ``tex``. ``log``, when given, receives the last run's log. A failure raises RuntimeError
    naming the first TeX error line, and leaves nothing at the PDF's path that was not there.
    """
    if shutil.which(ENGINE[0]) is None:
        raise RuntimeError(f"{ENGINE[0]} is not installed; install TeX (Debian: {ENGINE[1]}, "
                           "texlive-latex-recommended, lmodern) for --format pdf")
    tex = Path(tex).resolve()
    target = tex.with_suffix(".pdf")
    # max_print_line: TeX wraps its log at 79 columns by default, which cuts error lines in two.
    env = {**os.environ, "max_print_line": "1000"}
    with tempfile.TemporaryDirectory(prefix="gradproof-tex-") as work:
        built, text = Path(work) / target.name, ""
        for _ in range(3):  # longtable settles its column widths on the second run
            command = [ENGINE[0], "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                       f"-output-directory={work}", tex.name]
            try:
                run = subprocess.run(command, cwd=tex.parent, capture_output=True, text=True, timeout=timeout,
                                     check=False, env=env, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{ENGINE[0]} took more than {timeout:g} s on {tex.name}") from None
            log_file = built.with_suffix(".log")
            text = log_file.read_text(errors="replace") if log_file.exists() else run.stdout
            if run.returncode != 0 or not built.exists():
                raise RuntimeError(f"{ENGINE[0]} failed on {tex.name}: {_first_error(text)}")
            if "Rerun to get" not in text and "Rerun LaTeX" not in text:
                break
        if log is not None:
            Path(log).write_text(text)
        # Copy beside the target, then rename: a reader never sees half a PDF, even across filesystems.
        partial = target.with_name(f".{target.name}.partial")
        try:
            shutil.copyfile(built, partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target
