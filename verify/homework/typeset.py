"""An answer typeset as the student wrote it: LaTeX and presentation MathML from its parse tree.

Feedback pages show "your answer". Printing the SymPy expression an answer reads as would show a
simplified form (``\\frac{1}{\\sqrt{d_k}} dS K`` came out as ``(1/3)√3 dSK``), which is not what
the student wrote and hides the very slip the feedback is about. So this module prints the parse
tree of ``answer.lark`` itself: fractions stay fractions and slashes slashes, factors keep their
order, sums keep their bounds, and every bracket the student wrote is kept. Brackets are added
only where the printed form needs them to keep the tree's meaning (a brace group ``{a+b} c``,
invisible in LaTeX, is shown as ``(a+b) c``; ``(\\ln x)^{2}`` for the power of ``\\ln x``).

What is and is not checked:

- The LaTeX written here reads back, through ``language.parse`` with the same vocabulary, as the
  same expression as the original (the tests check this on generated answers).
- The rules of the grammar are one table, ``RULES`` (rule name -> printer). A rule that is not in
  it (the grammar grows), or whose node has a shape its printer does not expect, is printed as its
  source text in ``\\text{...}`` with its sub-expressions typeset in place: a new rule never breaks
  a page, it only looks plainer.
- Everything taken from the answer is escaped (for MathML as HTML text, for LaTeX inside
  ``\\text{}``): the text is a student's, and hostile.
- No recursion: the tree is walked with an explicit stack, children before parents.

Printed natively: names (subscripts, Greek letters, decorations such as ``\\hat{x}``, the ``\\partial``
of a left-hand side), numbers, ``+ -``, products with a mark (``\\cdot``, ``\\times``, ``@`` and ``*``
as ``\\cdot``; ``*`` as ``\\ast``, or ``\\odot`` in NumPy code that also writes ``@``), ``/`` and ``\\frac``,
``⊙``, juxtaposition, signs, sums with their bounds, powers, transposes, primes, ``|x|``, roots,
functions (``\\exp``, ``\\sigma``, ``\\operatorname{softmax}``), ``softmax(z)_i``, ``\\sigma'(x)``,
``\\max_j``, ``p[i]``, indicators, cases, conditions, and a left-hand side or arrow
(``\\delta_k = ...``, ``w \\leftarrow ...``).

>>> from verify.homework.language import Vocabulary
>>> words = Vocabulary(scalars={"d_k": 3}, matrices={"dS": None, "K": None})
>>> typeset(r"\\frac{1}{\\sqrt{d_k}} dS K", words)
'\\\\frac{1}{\\\\sqrt{d_k}} dS K'
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache

from lark import Token, Tree

from .language import (
    LIMITS,
    InvalidAnswer,
    Vocabulary,
    _depth,
    _parser,
    normal_text,
    normalise,
    numpy_words,
)

__all__ = ["RULES", "typeset", "typeset_math", "typeset_mathml"]

# How tightly a printed piece holds together, as the grammar's levels: a piece can stand where the
# grammar expects its level or a lower one without brackets (a product can be a term of a sum).
SUM, PRODUCT, SIGNED, FACTOR, POWER, POSTFIX, ATOM = range(1, 8)


@dataclass(frozen=True)
class Printed:
    """One node printed: its LaTeX, its MathML and what a parent needs to know to place it."""

    latex: str
    mathml: str
    level: int = ATOM
    open_end: bool = False  # ends in a sum's unbracketed body: a product written after it would join the sum
    raised: bool = False  # ends in a superscript: a second one needs braces in LaTeX ({A^{\top}}^{\top})
    loose: bool = False  # a function applied without brackets (\ln x): its power reads (\ln x)^{2}
    unbarred: bool = False  # holds a bare \max_j, which the grammar reads between bars only in brackets


@dataclass(frozen=True)
class _Context:
    text: str  # the normalised text the tree was read from: positions index into it
    words: Vocabulary
    numpy: bool = False  # the answer writes @ and *, so its * was read as NumPy's elementwise product


_Printer = Callable[[Tree, list[Printed], _Context], Printed]


class _Unexpected(Exception):
    """A node of a known rule with a shape its printer does not know: printed as its source text."""


# --- pieces -----------------------------------------------------------------------------------

def _esc(text: str) -> str:
    return html.escape(text, quote=True)


_TEXT_SPECIALS = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "%": r"\%", "#": r"\#",
                  "&": r"\&", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}


def _latex_text(text: str) -> str:
    """``text`` as LaTeX inside ``\\text{}``, every special character escaped."""
    return "".join(_TEXT_SPECIALS.get(ch, ch) for ch in text)


def _shown(source: str) -> str:
    """Source text as a reader should see it: without the suffix ``_shadow`` adds to a symbol."""
    return source.replace("Declared", "")


def _text(source: str) -> Printed:
    shown = _shown(source)
    return Printed(r"\text{" + _latex_text(shown) + "}", f"<mtext>{_esc(shown)}</mtext>")


def _bracket(p: Printed, kind: str = "()") -> Printed:
    """``p`` in round brackets, or square ones where the student wrote those."""
    opening, closing = kind
    return Printed(rf"\left{opening}" + p.latex + rf"\right{closing}",
                   f"<mrow><mo>{opening}</mo>{p.mathml}<mo>{closing}</mo></mrow>")


def _slot(p: Printed, level: int, closed: bool = False) -> Printed:
    """``p`` where the grammar expects ``level``, bracketed if it holds together less tightly (or,
    with ``closed``, if a product written after it would be read into a sum it ends with)."""
    return _bracket(p) if p.level < level or (closed and p.open_end) else p


def _base(p: Printed) -> Printed:
    """``p`` under a superscript (power, transpose, prime)."""
    p = _slot(p, POSTFIX)
    if p.loose:  # \ln x^{2} reads (\ln x)^2 in our grammar but ln(x^2) to a reader: show the brackets
        p = _bracket(p)
    if p.raised:  # A^{\top}^{\top} is a LaTeX error; braces group without showing anything
        p = replace(p, latex="{" + p.latex + "}")
    return p


def _row(*parts: str) -> str:
    return "<mrow>" + "".join(parts) + "</mrow>"


_LATIN_OR_GREEK = r"[A-Za-z]|alpha|beta|gamma|delta|epsilon|varepsilon|eta|mu|sigma|tau|theta|lambda|omega|phi|psi|pi|rho|nu|xi|zeta|kappa|chi"
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε", "eta": "η",
         "mu": "μ", "sigma": "σ", "tau": "τ", "theta": "θ", "lambda": "λ", "omega": "ω", "phi": "ϕ", "psi": "ψ",
         "pi": "π", "rho": "ρ", "nu": "ν", "xi": "ξ", "zeta": "ζ", "kappa": "κ", "chi": "χ"}
# Names LaTeX writes as a command: Greek letters, and the partial of a left-hand side (dL/dz).
SYMBOLS = {**GREEK, "partial": "∂", "nabla": "∇", "ell": "ℓ"}
# A decorated name as the normaliser spells it (xhat for \hat{x}) -> its LaTeX command and MathML accent.
DECORATIONS = {"hat": (r"\hat", "^"), "bar": (r"\bar", "¯"), "tilde": (r"\tilde", "~")}


@cache
def _reads_as(latex: str) -> str | None:
    """What the normaliser makes of ``latex``, or None where it refuses it: a spelling is printed only
    if it reads back (the normaliser grows; this follows it)."""
    try:
        return normalise(latex)
    except InvalidAnswer:
        return None


def _letter(base: str) -> tuple[str, str]:
    """A name's base without subscript, as LaTeX and MathML."""
    if base in SYMBOLS:  # \delta where the normaliser reads that back as delta, else delta as written
        return ("\\" + base if _reads_as("\\" + base) == base else base), f"<mi>{SYMBOLS[base]}</mi>"
    for word, (command, accent) in DECORATIONS.items():
        inner = re.fullmatch(rf"({_LATIN_OR_GREEK}){word}", base)
        if inner:
            latex, mathml = _letter(inner.group(1))
            # LaTeX: the decoration only if the normaliser reads it back as this name
            written = f"{command}{{{latex}}}"
            shown = written if _reads_as(written) == base else base
            return shown, f'<mover accent="true">{mathml}<mo>{accent}</mo></mover>'
    return base, f"<mi>{_esc(base)}</mi>"


_PIECES = re.compile(r"[A-Za-z]+(?:_[A-Za-z0-9]+)?|\d+|\S")


def _plain(text: str) -> tuple[str, str]:
    """A subscript or a sum's bound (``kj``, ``i+u-1,j``, ``n_O-1``) as LaTeX and MathML, escaped."""
    latex, mathml = [], []
    for piece in _PIECES.findall(text.replace("!=", "≠")):
        if piece[0].isdigit():
            latex.append(piece)
            mathml.append(f"<mn>{piece}</mn>")
        elif piece[0].isalpha():
            latex.append(piece)
            base, _, sub = piece.partition("_")
            letters = "".join(f"<mi>{c}</mi>" for c in base) if len(base) <= 2 else f"<mi>{base}</mi>"
            mathml.append(f"<msub><mrow>{letters}</mrow><mi>{sub}</mi></msub>" if sub else letters)
        elif piece in "+-=,":
            latex.append(piece)
            mathml.append('<mo separator="true">,</mo>' if piece == "," else f"<mo>{'−' if piece == '-' else piece}</mo>")
        elif piece == "≠":
            latex.append(r" \neq ")
            mathml.append("<mo>≠</mo>")
        elif piece == "'":  # a primed index, j'
            latex.append("'")
            mathml.append("<mo>′</mo>")
        else:  # anything else in a bound is the student's: shown, escaped
            latex.append(r"\text{" + _latex_text(piece) + "}")
            mathml.append(f"<mtext>{_esc(piece)}</mtext>")
    return "".join(latex), _row(*mathml)


# --- the printers, one per rule -----------------------------------------------------------------

def _token(node: Tree, index: int = 0) -> str:
    child = node.children[index]
    if not isinstance(child, Token):
        raise _Unexpected(node.data)
    return str(child)


def _trees(node: Tree, kids: list[Printed], count: int) -> list[Printed]:
    if len(kids) != count:
        raise _Unexpected(node.data)
    return kids


def _name(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    written = _token(node)
    base, _, sub = written.partition("_")
    if base.endswith("Declared"):  # _shadow's suffix: the problem's own sigma, not the function
        base = base.removesuffix("Declared")
    latex, mathml = _letter(base)
    if not sub:
        return Printed(latex, mathml)
    sub_latex, sub_mathml = _plain(sub.strip("{}"))
    if written in dict(ctx.words.scalars) or written in dict(ctx.words.matrices):
        # a symbol declared with its subscript (d_k, W_2) is looked up by its name as written: braces
        # would make it another name
        return Printed(f"{latex}_{sub}", f"<msub>{mathml}{sub_mathml}</msub>")
    return Printed(f"{latex}_{{{sub_latex}}}", f"<msub>{mathml}{sub_mathml}</msub>")


def _number(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    written = _token(node)  # digits, a dot, an e and a sign, by the grammar
    return Printed(written, f"<mn>{_esc(written)}</mn>")


def _infix(latex: str, mathml: str, left: int, right: int, level: int) -> _Printer:
    """A binary operator: its operands placed at the grammar's levels for its left and right side."""

    def printer(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
        a, b = _trees(node, kids, 2)
        a, b = _slot(a, left, closed=level == PRODUCT), _slot(b, right)
        return Printed(f"{a.latex} {latex} {b.latex}", _row(a.mathml, mathml, b.mathml), level, b.open_end)

    return printer


def _juxtapose(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    a, b = _trees(node, kids, 2)
    a, b = _slot(a, PRODUCT, closed=True), _slot(b, FACTOR)
    # a space in LaTeX, as typed (dS K); invisible times and a thin space in MathML, so dS K is not dSK.
    # A bracket written against the name before it stays against it: w_kj(t) is the weight at step t.
    space = "" if b.latex.startswith((r"\left(", r"\left[")) and _touching(node, ctx) else " "
    return Printed(f"{a.latex}{space}{b.latex}", _row(a.mathml, '<mo>&#x2062;</mo><mspace width="0.17em"/>', b.mathml),
                   PRODUCT, b.open_end)


def _touching(node: Tree, ctx: _Context) -> bool:
    """Whether the two factors of a juxtaposition were written with nothing but brackets between them."""
    left, right = (_span(c) if isinstance(c, Tree) else None for c in node.children[:2])
    return left is not None and right is not None and set(ctx.text[left[1]:right[0]]) <= set("([")


def _matmul(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``@``: the grammar's mark for a product written with an operator, ``\\cdot``, ``\\times``, ``·`` or
    NumPy's ``@`` (the normaliser makes them one), printed as the centred dot most of them are."""
    return _infix(r"\cdot", "<mo>⋅</mo>", PRODUCT, SIGNED, PRODUCT)(node, kids, ctx)


def _mul(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    r"""``*`` as the asterisk it is (``\ast``): it reads back as the student's ``*`` under any rule (two
    vectors side by side multiply entry by entry, where a centred dot would be a dot product); ``\odot``
    where the answer itself is NumPy code (it writes ``@``): the printed LaTeX has no ``@`` left to
    tell, so the mark says what was read."""
    if ctx.numpy:
        return _infix(r"\odot", "<mo>⊙</mo>", PRODUCT, SIGNED, PRODUCT)(node, kids, ctx)
    return _infix(r"\ast", "<mo>∗</mo>", PRODUCT, SIGNED, PRODUCT)(node, kids, ctx)


def _div(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\frac{a}{b}`` as a fraction and ``a/b`` as a slash: as written."""
    a, b = _trees(node, kids, 2)
    if isinstance(node.children[0], Token):  # the FRAC token
        return Printed(rf"\frac{{{a.latex}}}{{{b.latex}}}", f"<mfrac>{_row(a.mathml)}{_row(b.mathml)}</mfrac>")
    return _infix("/", "<mo>/</mo>", PRODUCT, SIGNED, PRODUCT)(node, kids, ctx)


def _neg(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    (a,) = _trees(node, kids, 1)
    a = _slot(a, SIGNED)
    return Printed(("- " if a.latex.startswith("-") else "-") + a.latex, _row("<mo>−</mo>", a.mathml), SIGNED, a.open_end)


def _pow(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    a, b = _trees(node, kids, 2)
    a = _base(a)  # the exponent sits in braces: any expression goes there without brackets
    return Printed(f"{a.latex}^{{{b.latex}}}", f"<msup>{_row(a.mathml)}{_row(b.mathml)}</msup>", POWER, raised=True)


def _postfix(latex: str, mathml: str) -> _Printer:
    def printer(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
        (a,) = _trees(node, kids, 1)
        a = _base(a)
        return Printed(a.latex + latex, f"<msup>{_row(a.mathml)}{mathml}</msup>", POSTFIX, raised=True)

    return printer


def _prime(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``A'``: the prime glyph sits high already; as a superscript it would sit twice as high."""
    (a,) = _trees(node, kids, 1)
    a = _base(a)
    return Printed(a.latex + "'", _row(a.mathml, '<mo lspace="0" rspace="0">′</mo>'), POSTFIX, raised=True)


def _abs(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    (a,) = _trees(node, kids, 1)
    if a.unbarred:  # |a + {\max_j b_j}|: the braces showed nothing, and bars do not read \max_j bare
        a = _bracket(a)
    return Printed(r"\left|" + a.latex + r"\right|", _row("<mo>|</mo>", a.mathml, "<mo>|</mo>"))


def _sqrt(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    (a,) = _trees(node, kids, 1)
    return Printed(rf"\sqrt{{{a.latex}}}", f"<msqrt>{_row(a.mathml)}</msqrt>")


_SUM_TOKEN = re.compile(r"sum_(?:([a-z]'?)|\{([^{}]*)\})(?:\^\{([^{}]*)\})?")


def _sum_over(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\sum_{k}``, ``\\sum_{k=1}^{n}``, ``\\sum_{k \\neq i}``: its bounds as the token has them."""
    (body,) = _trees(node, kids, 1)
    match = _SUM_TOKEN.fullmatch(_token(node))
    if match is None:
        raise _Unexpected("sum_over")
    low_latex, low_mathml = _plain(match.group(1) or match.group(2))
    latex = rf"\sum_{{{low_latex}}}"
    sign = '<mo largeop="true" movablelimits="false">∑</mo>'  # large, bounds under and over, as in display LaTeX
    if match.group(3) is None:
        mathml = f"<munder>{sign}{low_mathml}</munder>"
    else:
        high_latex, high_mathml = _plain(match.group(3))
        latex += f"^{{{high_latex}}}"
        mathml = f"<munderover>{sign}{low_mathml}{high_mathml}</munderover>"
    body = _slot(body, PRODUCT)
    return Printed(f"{latex} {body.latex}", _row(mathml, body.mathml), FACTOR, open_end=True)


def _arguments(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    return Printed(", ".join(k.latex for k in kids), '<mo separator="true">,</mo>'.join(k.mathml for k in kids))


# How a function's name is written: LaTeX's own operators, sigma as the letter; others by
# \operatorname where the normaliser reads that back (see _function).
_FUNCTION_LATEX = {"exp": r"\exp", "log": r"\log", "ln": r"\ln", "tanh": r"\tanh", "max": r"\max", "min": r"\min",
                   "sigma": r"\sigma", "f": "f", "log2": r"\log_2", "log10": r"\log_{10}"}


@cache
def _function(word: str) -> tuple[str, str]:
    """A function's name as LaTeX and MathML."""
    mathml = f"<mi>{GREEK.get(word, _esc(word))}</mi>"
    if word in _FUNCTION_LATEX:
        return _FUNCTION_LATEX[word], mathml
    for spelling in (rf"\operatorname{{{word}}}", rf"\mathrm{{{word}}}"):
        if _reads_as(spelling + "(x)") == f"{word}(x)":
            return spelling, mathml
    return word, mathml  # read back as written; italic in LaTeX, but the page shows the MathML


def _call(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    word = _token(node)
    (args,) = _trees(node, kids, 1)
    if word == "sqrt" and "," not in args.latex:  # sqrt(x) is the root sign, written either way
        return _sqrt(node, kids, ctx)
    latex, mathml = _function(word)
    return Printed(latex + r"\left(" + args.latex + r"\right)",
                   _row(mathml, "<mo>&#x2061;</mo>", "<mo>(</mo>", _row(args.mathml), "<mo>)</mo>"))


def _method(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """NumPy's ``A.dot(B)``, ``M.sum(axis=1)``: the function of the receiver, as language.py reads it."""
    word = _token(node, 1).lstrip(".")
    receiver, *rest = kids
    args = [receiver, *rest]
    latex, mathml = _function(word)
    return Printed(latex + r"\left(" + ", ".join(a.latex for a in args) + r"\right)",
                   _row(mathml, "<mo>&#x2061;</mo>", "<mo>(</mo>", '<mo separator="true">,</mo>'.join(a.mathml for a in args),
                        "<mo>)</mo>"))


def _option(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``axis=1``, ``keepdims=True`` in a call, as written."""
    return _text(re.sub(r"\s+", "", _token(node)))


def _call1(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\ln p_i``, ``\\exp x``: a function of one factor, without brackets, as written."""
    word = _token(node)
    (arg,) = _trees(node, kids, 1)
    if word == "sqrt":
        return _sqrt(node, kids, ctx)
    latex, mathml = _function(word)
    arg = _slot(arg, POSTFIX)
    return Printed(f"{latex} {arg.latex}", _row(mathml, "<mo>&#x2061;</mo>", arg.mathml), loose=True)


def _sequence(node: Tree, kids: list[Printed]) -> list[Token | Printed]:
    """The node's children in order, each sub-tree as printed."""
    printed = iter(kids)
    return [child if isinstance(child, Token) else next(printed) for child in node.children]


# Relations and frames as the grammar's tokens have them -> LaTeX (where the normaliser reads it
# back as the token; otherwise the token itself) and MathML.
RELATIONS = {"=": ("=", "="), ":=": (":=", "≔"), "<-": (r"\leftarrow", "←"), "←": (r"\leftarrow", "←"),
             "-=": ("-=", "−="), "+=": ("+=", "+="), "<": ("<", "&lt;"), ">": (">", "&gt;"),
             "<=": (r"\leq", "≤"), ">=": (r"\geq", "≥"), "!=": (r"\neq", "≠")}


def _relation(token: Token | Printed) -> tuple[str, str]:
    if not isinstance(token, Token) or str(token) not in RELATIONS:
        raise _Unexpected("relation")
    latex, mathml = RELATIONS[str(token)]
    if _reads_as(latex) != str(token) and not (str(token) in "←<-" and _reads_as(latex) in ("←", "<-")):
        latex = str(token)
    return latex, f"<mo>{mathml}</mo>"


def _chain(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\delta_k = ...``, ``w \\leftarrow ...``, ``w -= ...``, ``x_i > 0``: members and what joins them."""
    latex, mathml = [], []
    for i, item in enumerate(_sequence(node, kids)):
        if i % 2:
            relation = _relation(item)
            latex.append(relation[0])
            mathml.append(relation[1])
        elif isinstance(item, Printed):
            latex.append(item.latex)
            mathml.append(item.mathml)
        else:
            raise _Unexpected(node.data)
    if len(latex) < 3 or len(latex) % 2 == 0:
        raise _Unexpected(node.data)
    return Printed(" ".join(latex), _row(*mathml), SUM)


def _gap(node: Tree, before: int, ctx: _Context) -> str:
    """The source text between child ``before`` - 1 and child ``before``: words the grammar drops."""
    trees = [c for c in node.children if isinstance(c, Tree)]
    left, right = _span(trees[before - 1]), _span(trees[before])
    return "" if left is None or right is None else ctx.text[left[1]:right[0]]


def _condition(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """Comparisons joined by "and" or a comma, as written."""
    latex, mathml = [kids[0].latex], [kids[0].mathml]
    trees = [c for c in node.children if isinstance(c, Tree)]
    for i, kid in enumerate(kids[1:], start=1):
        if trees[i].data == "forall":  # x_i >= x_j \forall j: said after the comparisons, with no mark between
            latex.append(" " + kid.latex)
            mathml.append('<mspace width="0.5em"/>' + kid.mathml)
            continue
        worded = "and" in _gap(node, i, ctx)
        latex.append(r" \text{ and } " if worded and _reads_as(r"\text{ and }") == "and" else " and " if worded else ", ")
        mathml.append("<mtext>&#xA0;and&#xA0;</mtext>" if worded else '<mo separator="true">,</mo>')
        latex.append(kid.latex)
        mathml.append(kid.mathml)
    return Printed("".join(latex), _row(*mathml), SUM)


def _indicator(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\mathbb{1}[x > 0]``, ``\\mathbb{1}\\{x > 0\\}`` and Iverson's ``[x > 0]``, with the brackets written."""
    (condition,) = _trees(node, kids, 1)
    marked = isinstance(node.children[0], Token)
    span, inner = _span(node), _span(next(c for c in node.children if isinstance(c, Tree)))
    if span is None or inner is None:
        raise _Unexpected("indicator")
    opening = ctx.text[span[0]:inner[0]].strip()[-1:]
    kind, latex_kind = ("{}", (r"\{", r"\}")) if opening == "{" else ("[]", ("[", "]"))
    # no \left: the normaliser reads \mathbb{1} as the indicator only right before its bracket
    one = r"\mathbb{1}" if _reads_as(r"\mathbb{1}[x]") == "𝟙[x]" else "1"
    return Printed((one if marked else "") + f"{latex_kind[0]}{condition.latex}{latex_kind[1]}",
                   _row("<mn>𝟙</mn>" if marked else "", f"<mo>{kind[0]}</mo>", condition.mathml, f"<mo>{kind[1]}</mo>"))


def _case_when(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    value, condition = _trees(node, kids, 2)
    worded = re.search(r"\bif\b", _gap(node, 1, ctx)) is not None
    word = (r"\text{if } " if _reads_as(r"\text{if }") == "if" else "if ") if worded else ""
    return Printed(f"{value.latex} & {word}{condition.latex}",
                   f"<mtr><mtd>{value.mathml}</mtd><mtd>{'<mtext>if&#xA0;</mtext>' if worded else ''}"
                   f"{condition.mathml}</mtd></mtr>")


def _case_otherwise(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    (value,) = _trees(node, kids, 1)
    word = _token(node, len(node.children) - 1)
    latex = rf"\text{{{word}}}" if _reads_as(rf"\text{{{word}}}") == word else word
    return Printed(f"{value.latex} & {latex}", f"<mtr><mtd>{value.mathml}</mtd><mtd><mtext>{_esc(word)}</mtext></mtd></mtr>")


def _case_rows(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    if not kids or not all(k.mathml.startswith("<mtr>") for k in kids):
        raise _Unexpected("case_rows")
    return Printed(r" \\ ".join(k.latex for k in kids), "".join(k.mathml for k in kids))


def _cases(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    (rows,) = _trees(node, kids, 1)
    if not rows.mathml.startswith("<mtr>"):
        raise _Unexpected("cases")
    return Printed(r"\begin{cases} " + rows.latex + r" \end{cases}",
                   _row('<mo stretchy="true">{</mo>', f'<mtable columnalign="left left">{rows.mathml}</mtable>'))


_EXTREMUM_TOKEN = re.compile(r"(argmax|argmin|max|min)_(?:\{([a-z]'?)\}|([a-z]'?))")
# \max_{j} and \arg\max_{j} (where the normaliser reads them back) and how MathML names them
_EXTREMUM_WORDS = {"max": (r"\max", "max"), "min": (r"\min", "min"), "argmax": (r"\arg\max", "arg&#xA0;max"),
                   "argmin": (r"\arg\min", "arg&#xA0;min")}


def _extremum_over(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\max_{j} x_j``: like a sum, over the product after it."""
    (body,) = _trees(node, kids, 1)
    match = _EXTREMUM_TOKEN.fullmatch(_token(node))
    if match is None:
        raise _Unexpected("extremum_over")
    word, index = match.group(1), match.group(2) or match.group(3)
    index_latex, index_mathml = _plain(index)
    body = _slot(body, PRODUCT)
    latex, shown = _EXTREMUM_WORDS[word]
    if not (_reads_as(latex + "_{j} x") or "").startswith(word):
        latex = rf"\operatorname{{{word}}}"
    return Printed(rf"{latex}_{{{index_latex}}} {body.latex}",
                   _row(f'<munder><mi>{shown}</mi>{index_mathml}</munder><mo>&#x2061;</mo>', body.mathml), FACTOR,
                   open_end=True, unbarred=True)


_INDEXED_TOKEN = re.compile(r"([A-Za-z]+)((?:\[[^\[\]]*\])+)")


def _bracketed(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``p[i]``, ``w[k][j]``, ``eta[t-y]``: the name and its brackets as written."""
    match = _INDEXED_TOKEN.fullmatch(_token(node))
    if match is None:
        raise _Unexpected("bracketed")
    latex, mathml = _letter(match.group(1))
    latex_parts, mathml_parts = [latex], [mathml]
    for inside in re.findall(r"\[([^\[\]]*)\]", match.group(2)):
        inner_latex, inner_mathml = _plain(inside)
        latex_parts.append(f"[{inner_latex}]")
        mathml_parts.append(f"<mo>[</mo>{inner_mathml}<mo>]</mo>")
    return Printed("".join(latex_parts), _row(*mathml_parts))


def _call_entry(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\operatorname{softmax}(z)_i``: an entry of a function's value."""
    word, subscript = _token(node, 0), _token(node, len(node.children) - 1)
    (args,) = _trees(node, kids, 1)
    latex, mathml = _function(word)
    sub_latex, sub_mathml = _plain(subscript.removeprefix("_").strip("{}"))
    return Printed(latex + r"\left(" + args.latex + r"\right)_{" + sub_latex + "}",
                   f"<msub>{_row(mathml, '<mo>&#x2061;</mo><mo>(</mo>', _row(args.mathml), '<mo>)</mo>')}{sub_mathml}</msub>")


def _derivative(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\sigma'(net_k)``, ``f'(net_j)``: a function's derivative at a point."""
    word = _token(node, 0)
    if _token(node, 1) != "'":
        raise _Unexpected("derivative")
    (args,) = _trees(node, kids, 1)
    latex, mathml = _function(word)
    return Printed(latex + r"'\left(" + args.latex + r"\right)",
                   _row(mathml, '<mo lspace="0" rspace="0">′</mo>', "<mo>&#x2061;</mo><mo>(</mo>", _row(args.mathml),
                        "<mo>)</mo>"))


_FUNC_POWER_TOKEN = re.compile(r"([a-z]+)\^\{?(\d)\}?")


def _call_power(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\tanh^{2}(x)``: a function's value to a power, written on the function's name."""
    match = _FUNC_POWER_TOKEN.fullmatch(_token(node))
    (args,) = _trees(node, kids, 1)
    if match is None:
        raise _Unexpected("call_power")
    word, power = match.groups()
    latex, mathml = _function(word)
    return Printed(rf"{latex}^{{{power}}}\left(" + args.latex + r"\right)",
                   _row(f"<msup>{mathml}<mn>{power}</mn></msup>", "<mo>&#x2061;</mo><mo>(</mo>", _row(args.mathml),
                        "<mo>)</mo>"))


def _entry_of(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``(p - y)_i``: an entry of a bracketed expression, in the brackets written."""
    (inner,) = _trees(node, kids, 1)
    span = _span(node)
    kind = "[]" if span is not None and ctx.text[span[0]] == "[" else "()"
    sub_latex, sub_mathml = _plain(_token(node, len(node.children) - 1).removeprefix("_").strip("{}"))
    wrapped = _bracket(inner, kind)
    return Printed(f"{wrapped.latex}_{{{sub_latex}}}", f"<msub>{wrapped.mathml}{sub_mathml}</msub>")


def _for_all(latex_word: str) -> str:
    return r"\forall" if _reads_as(r"\forall") == "forall" else latex_word


def _for_each(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``p_i - y_i \\quad \\forall i``: the answer and its free index said again."""
    (body,) = _trees(node, kids, 1)
    index_latex, index_mathml = _plain(_token(node, len(node.children) - 1))
    return Printed(rf"{body.latex} \quad {_for_all('forall')} {index_latex}",
                   _row(body.mathml, '<mspace width="1em"/><mo>∀</mo>', index_mathml), SUM)


def _forall(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    """``\\forall j \\neq i`` inside a condition."""
    if kids or not all(isinstance(c, Token) for c in node.children) or len(node.children) not in (1, 3):
        raise _Unexpected("forall")
    latex, mathml = [_for_all("forall")], ["<mo>∀</mo>"]
    for i, token in enumerate(node.children):
        if i == 1:
            relation = _relation(token)
            latex.append(relation[0])
            mathml.append(relation[1])
        else:
            piece = _plain(str(token))
            latex.append(piece[0])
            mathml.append(piece[1])
    return Printed(" ".join(latex), _row(*mathml), SUM)


def _word(word: str) -> tuple[str, str]:
    """A word the grammar reads (where, if, else) as LaTeX text that reads back as that word."""
    latex = rf"\text{{ {word} }}" if _reads_as(rf"\text{{ {word} }}") == word else f" {word} "
    return latex, f"<mtext>&#xA0;{_esc(word)}&#xA0;</mtext>"


def _where(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    r"""``s_i - y_i, \text{ where } s_i = ...``: the answer, then the names it defines."""
    parts = _trees(node, kids, len(kids))
    if len(parts) < 2:
        raise _Unexpected("where")
    word = _word("where")
    return Printed(f"{parts[0].latex},{word[0]}" + ", ".join(d.latex for d in parts[1:]),
                   _row(parts[0].mathml, "<mo>,</mo>", word[1], *[d.mathml for d in parts[1:]]), SUM)


def _ternary(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    r"""``g \text{ if } x_i = \max_j x_j \text{ else } 0``, as Python writes a choice."""
    value, condition, other = _trees(node, kids, 3)
    when, otherwise = _word("if"), _word(_token(node, len(node.children) - 2))
    return Printed(f"{value.latex}{when[0]}{condition.latex}{otherwise[0]}{other.latex}",
                   _row(value.mathml, when[1], condition.mathml, otherwise[1], other.mathml), SUM)


def _frac_entry(node: Tree, kids: list[Printed], ctx: _Context) -> Printed:
    r"""``\frac{dL}{dz}_i`` on a left-hand side: the fraction with its subscript."""
    a, b = _trees(node, kids, 2)
    sub_latex, sub_mathml = _plain(_token(node, len(node.children) - 1).removeprefix("_").strip("{}"))
    return Printed(rf"\frac{{{a.latex}}}{{{b.latex}}}_{{{sub_latex}}}",
                   f"<msub><mfrac>{_row(a.mathml)}{_row(b.mathml)}</mfrac>{sub_mathml}</msub>")


# The table: one printer per rule of answer.lark. A rule missing here prints as its source text.
RULES: Mapping[str, _Printer] = {
    "name": _name,
    "number": _number,
    "add": _infix("+", "<mo>+</mo>", SUM, PRODUCT, SUM),
    "sub": _infix("-", "<mo>−</mo>", SUM, PRODUCT, SUM),
    "mul": _mul,
    "div": _div,
    "matmul": _matmul,
    "hadamard": _infix(r"\odot", "<mo>⊙</mo>", PRODUCT, SIGNED, PRODUCT),
    "xcorr": _infix(r"\star", "<mo>⋆</mo>", PRODUCT, SIGNED, PRODUCT),
    "outer": _infix(r"\otimes", "<mo>⊗</mo>", PRODUCT, SIGNED, PRODUCT),
    "juxtapose": _juxtapose,
    "neg": _neg,
    "sum_over": _sum_over,
    "pow": _pow,
    "transpose": _postfix(r"^{\top}", "<mi>⊤</mi>"),
    "prime": _prime,
    "abs": _abs,
    "sqrt": _sqrt,
    "call": _call,
    "call1": _call1,
    "arguments": _arguments,
    # framing, conditions, cases and entries (issue 15's notation)
    "framed": _chain,
    "augmented": _chain,
    "comparison": _chain,
    "condition": _condition,
    "indicator": _indicator,
    "cases": _cases,
    "case_rows": _case_rows,
    "case_when": _case_when,
    "case_otherwise": _case_otherwise,
    "extremum_over": _extremum_over,
    "bracketed": _bracketed,
    "call_entry": _call_entry,
    "derivative": _derivative,
    "call_power": _call_power,
    "entry_of": _entry_of,
    "for_each": _for_each,
    "forall": _forall,
    "where": _where,
    "definition": _chain,
    "ternary": _ternary,
    "frac_entry": _frac_entry,
    "method": _method,
    "option": _option,
}
# Rules whose own syntax puts one pair of brackets around each sub-tree: f(x)'s and 1[x > 0]'s are
# not the student's extra brackets.
_OWN_BRACKETS = {"method": 1, "call": 1, "call_entry": 1, "call_power": 1, "derivative": 1, "indicator": 1, "entry_of": 1}


# Rules that hold their sub-trees inside their own brackets: a \max_j in there is not bare.
_ENCLOSING = {"abs", "method", "call", "call_entry", "call_power", "derivative", "indicator", "cases", "entry_of", "sqrt"}


# --- the walk -----------------------------------------------------------------------------------

def _span(node: Tree) -> tuple[int, int] | None:
    start, end = getattr(node.meta, "start_pos", None), getattr(node.meta, "end_pos", None)
    return None if start is None or end is None else (start, end)


def _written_brackets(text: str, inner: tuple[int, int], outer: tuple[int, int]) -> list[str]:
    """The pairs of brackets the student wrote right around ``inner`` inside ``outer``, innermost
    first: ``"()"`` or ``"[]"``.

    The grammar inlines ``( sum )`` and ``[ sum ]``, so a bracket leaves no node; the text around a
    node's span says it was there. Braces (``{a+b}``) group without showing and are passed over.
    """
    left, right, pairs = inner[0] - 1, inner[1], []
    while True:
        while left >= outer[0] and text[left] == " ":
            left -= 1
        while right < outer[1] and text[right] == " ":
            right += 1
        if left < outer[0] or right >= outer[1]:
            return pairs
        pair = text[left] + text[right]
        if pair in ("()", "[]"):
            pairs.append(pair)
        elif pair != "{}":
            return pairs
        left, right = left - 1, right + 1


def _verbatim(node: Tree, kids: list[tuple[Tree, Printed]], ctx: _Context) -> Printed:
    """A node no printer knows: its source text, with its sub-expressions typeset in place."""
    span = _span(node)
    if span is None:
        return _text(" ".join(str(t) for t in node.scan_values(lambda v: isinstance(v, Token))))
    latex, mathml, at = [], [], span[0]
    for kid, printed in kids:
        where = _span(kid)
        if where is None or where[0] < at or where[1] > span[1]:
            return _text(ctx.text[span[0]:span[1]])
        if ctx.text[at:where[0]].strip():
            gap = _text(ctx.text[at:where[0]].strip())
            latex.append(gap.latex)
            mathml.append(gap.mathml)
        latex.append(printed.latex)
        mathml.append(printed.mathml)
        at = where[1]
    if ctx.text[at:span[1]].strip():
        gap = _text(ctx.text[at:span[1]].strip())
        latex.append(gap.latex)
        mathml.append(gap.mathml)
    return Printed(" ".join(latex), _row(*mathml))


def _print_node(node: Tree, done: Mapping[int, Printed], ctx: _Context, outer: tuple[int, int]) -> Printed:
    trees = [c for c in node.children if isinstance(c, Tree)]
    printer = RULES.get(node.data)
    if printer is not None:
        span, kids = _span(node) or outer, []
        for kid in trees:
            printed, where = done[id(kid)], _span(kid)
            written = [] if where is None else _written_brackets(ctx.text, where, span)
            for kind in written[:len(written) - _OWN_BRACKETS.get(node.data, 0)]:  # the rule's own are outermost
                printed = _bracket(printed, kind)
            kids.append(printed)
        try:
            printed = printer(node, kids, ctx)
            if node.data not in _ENCLOSING and any(k.unbarred for k in kids):
                printed = replace(printed, unbarred=True)  # a bare \max_j inside: a bar around it must bracket it
            return printed
        except Exception:  # noqa: BLE001, S110 - a shape this printer does not know (the grammar grows): as written
            pass
    return _verbatim(node, [(kid, done[id(kid)]) for kid in trees], ctx)


def _printed(text: str, words: Vocabulary) -> Printed:
    normal = normal_text(text, words)
    if not normal:
        raise InvalidAnswer("the answer is empty")
    if _depth(normal) > LIMITS.depth:
        raise InvalidAnswer(f"brackets nest more than {LIMITS.depth} deep")
    try:
        tree = _parser().parse(normal)
    except Exception as error:  # lark's errors; language.parse words them for the student
        raise InvalidAnswer("cannot read the answer") from error
    ctx = _Context(normal, words, numpy_words(text, words) != words)
    whole = (0, len(normal))
    done: dict[int, Printed] = {}
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:  # children before parents, without recursion
        node, expanded = stack.pop()
        if expanded:
            done[id(node)] = _print_node(node, done, ctx, whole)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(node.children) if isinstance(c, Tree))
    result = done[id(tree)]
    where = _span(tree)
    for kind in [] if where is None else _written_brackets(normal, where, whole):
        result = _bracket(result, kind)  # (a + b) as the whole answer keeps its brackets too
    return result


def typeset(text: str, words: Vocabulary) -> str:
    """The answer as LaTeX, in the student's own form; raises ``InvalidAnswer`` if it cannot be read.

    >>> words = Vocabulary(indexed={"O": 1, "T": 1, "delta": 1, "w": 2}, indices={"k": "n_O", "j": "n_H"})
    >>> typeset("(T_k - O_k) O_k (1 - O_k)", words)
    '\\\\left(T_{k} - O_{k}\\\\right) O_{k} \\\\left(1 - O_{k}\\\\right)'
    >>> typeset("sum_k delta_k w_kj", words)
    '\\\\sum_{k} \\\\delta_{k} w_{kj}'
    """
    return _printed(text, words).latex


def typeset_mathml(text: str, words: Vocabulary) -> str:
    """The answer as presentation MathML (the content of a ``<math>`` element), escaped.

    >>> typeset_mathml("x_i/2", Vocabulary(indexed={"x": 1}, indices={"i": "n"}))
    '<mrow><msub><mi>x</mi><mrow><mi>i</mi></mrow></msub><mo>/</mo><mn>2</mn></mrow>'
    """
    return _printed(text, words).mathml


def typeset_math(text: str, words: Vocabulary) -> dict[str, str]:
    """LaTeX, MathML and the typed text, in the form ``gradproof.report`` lays out a formula.

    >>> sorted(typeset_math("p_i - y_i", Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n"})))
    ['latex', 'mathml', 'text']
    """
    printed = _printed(text, words)
    return {"latex": printed.latex, "mathml": printed.mathml, "text": text}
