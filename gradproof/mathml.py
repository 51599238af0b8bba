"""Presentation MathML for the reports: SymPy's printer, taught the project's own classes.

SymPy's ``MathMLPresentationPrinter`` prints a class it has no rule for as ``name(args)``: our
``Partial`` came out as ``partial(p, z, 1)``, ``Indicator`` as ``indicator(H)``, a ``Piecewise`` as
``piecewise((..., ...))`` and ``Xhat`` as the word "Xhat", although the LaTeX of each is right.
``ReportMathMLPrinter`` gives every class that reaches a report a rule that reads as its LaTeX
does (``∂p/∂z`` as a fraction, ``𝟙[H > 0]``, cases with a brace, ``X̂``), and fences matrices with
stretchy brackets (Chromium stretches only an ``<mo stretchy="true">`` next to the table).

Chromium does not break a long formula across lines, so ``fold_width`` asks the printer to lay a
long sum out as a table, a few terms per row; ``width`` estimates how wide printed MathML is, in
characters, so a writer can tell what fits a phone.
"""

from __future__ import annotations

import re
from typing import Any

import sympy as sp
from sympy.printing.conventions import split_super_sub
from sympy.printing.mathml import MathMLPresentationPrinter

__all__ = ["ReportMathMLPrinter", "mathml", "width"]

# Symbol names that end in one of these print with an accent over the rest, as SymPy's LaTeX does.
_ACCENTS = {"hat": "^", "bar": "¯", "tilde": "~", "dot": "˙", "ddot": "¨", "vec": "→", "check": "ˇ"}


class ReportMathMLPrinter(MathMLPresentationPrinter):
    """SymPy's presentation printer with rules for the report's classes.

    ``fold_width`` (characters, 0 for never) lays a sum wider than that out as rows of terms.

    >>> from derive.notation import Partial
    >>> ReportMathMLPrinter().doprint(Partial("L", "z_j"))
    '<mfrac><mrow><mo>&#8706;</mo><mi>L</mi></mrow><mrow><mo>&#8706;</mo><msub><mi>z</mi><mi>j</mi></msub></mrow></mfrac>'
    """

    def __init__(self, settings: dict[str, Any] | None = None, fold_width: int = 0) -> None:
        super().__init__(settings)
        self.fold_width = fold_width

    # --- helpers ----------------------------------------------------------------------------------
    def _node(self, tag: str, *children: Any, text: str | None = None, **attributes: str) -> Any:
        node = self.dom.createElement(tag)
        for key, value in attributes.items():
            node.setAttribute(key, value)
        if text is not None:
            node.appendChild(self.dom.createTextNode(text))
        for child in children:
            node.appendChild(child)
        return node

    def _mo(self, text: str, **attributes: str) -> Any:
        return self._node("mo", text=text, **attributes)

    def _fenced(self, left: str, inner: Any, right: str) -> Any:
        """``inner`` between brackets that grow with it (a matrix, a fraction, cases)."""
        fences = {"fence": "true", "stretchy": "true"}
        parts = [self._mo(left, **fences)] if left else []
        parts.append(inner)
        parts += [self._mo(right, **fences)] if right else []
        return self._node("mrow", *parts)

    def _call(self, name: str, *arguments: Any) -> Any:
        """``name(a, b)`` with an upright name, as ``\\operatorname`` prints it."""
        inner = self._node("mrow")
        for number, argument in enumerate(arguments):
            if number:
                inner.appendChild(self._mo(","))
            inner.appendChild(self._print(argument))
        return self._node("mrow", self._node("mi", text=name, mathvariant="normal"), self._fenced("(", inner, ")"))

    def _indicator(self, argument: sp.Basic) -> Any:
        """``𝟙[x > 0]``, as the LaTeX's ``\\mathbb{1}``."""
        inner = self._node("mrow", self._print(argument), self._mo(">"), self._node("mn", text="0"))
        return self._node("mrow", self._node("mi", text="𝟙"), self._fenced("[", inner, "]"))

    # --- the project's classes --------------------------------------------------------------------
    def _print_Partial(self, expr: Any) -> Any:
        num, den, order = expr.args
        top = [self._mo("∂")]
        if order != 1:
            top = [self._node("msup", self._mo("∂"), self._print(order))]
        bottom = self._print(den) if order == 1 else self._node("msup", self._print(den), self._print(order))
        return self._node("mfrac", self._node("mrow", *top, self._print(num)), self._node("mrow", self._mo("∂"), bottom))

    def _print_Indicator(self, expr: Any) -> Any:
        return self._indicator(expr.args[0])

    def _print_Step(self, expr: Any) -> Any:
        return self._indicator(expr.args[0])

    def _print_Diag(self, expr: Any) -> Any:
        return self._call("diag", expr.args[0])

    def _print_RowSum(self, expr: Any) -> Any:
        return self._call("rowsum", expr.args[0])

    def _print_Softmax(self, expr: Any) -> Any:
        return self._call("softmax", expr.args[0])

    def _print_Relu(self, expr: Any) -> Any:
        return self._call("relu", expr.args[0])

    def _print_MaxOf(self, expr: Any) -> Any:
        return self._call("max", *expr.args)

    def _print_IsMax(self, expr: Any) -> Any:
        return self._call("IsMax", *expr.args)

    def _print_EntryOf(self, expr: Any) -> Any:
        matrix, i, j = expr.args
        return self._node("msub", self._fenced("(", self._print(matrix), ")"),
                          self._node("mrow", self._print(i), self._mo(","), self._print(j)))

    def _print_Exp(self, expr: Any) -> Any:
        return self._print(sp.exp(expr.args[0], evaluate=False))

    def _print_Sqrt(self, expr: Any) -> Any:
        return self._node("msqrt", self._print(expr.args[0]))

    # --- SymPy classes the presentation printer lacks or prints unlike the LaTeX ------------------
    def _print_Piecewise(self, expr: sp.Piecewise) -> Any:
        rows = []
        for value, condition in expr.args:
            if condition is sp.true:
                case = self._node("mtext", text="otherwise")
            else:
                case = self._node("mrow", self._node("mtext", text="if\u00a0"), self._print(condition))
            rows.append(self._node("mtr", self._node("mtd", self._print(value), columnalign="left"),
                                   self._node("mtd", case, columnalign="left")))
        return self._fenced("{", self._node("mtable", *rows), "")

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> Any:
        """δ with its two indices as a subscript, as the LaTeX's ``\\delta_{i j}``."""
        return self._node("msub", self._node("mi", text="δ"), self._node("mrow", *(self._print(a) for a in expr.args)))

    def _print_Indexed(self, expr: sp.Indexed) -> Any:
        indices = self._node("mrow")
        for number, index in enumerate(expr.indices):
            if number:
                indices.appendChild(self._mo(","))
            indices.appendChild(self._print(index))
        return self._node("msub", self._print(expr.base), indices)

    def _print_Subs(self, expr: sp.Subs) -> Any:
        body, variables, values = expr.args
        where = self._node("mrow")
        for number, (variable, value) in enumerate(zip(variables, values)):
            if number:
                where.appendChild(self._mo(","))
            where.appendChild(self._node("mrow", self._print(variable), self._mo("="), self._print(value)))
        bar = self._node("mrow", self._print(body), self._mo("|", stretchy="true"))
        return self._node("msub", bar, where)

    def _print_MatrixBase(self, expr: Any) -> Any:
        table = self._node("mtable")
        for i in range(expr.rows):
            row = self._node("mtr")
            for j in range(expr.cols):
                row.appendChild(self._node("mtd", self._print(expr[i, j])))
            table.appendChild(row)
        return self._fenced("[", table, "]")

    def _print_Symbol(self, sym: sp.Symbol, style: str = "plain") -> Any:
        name, supers, subs = split_super_sub(sym.name)
        accent = next((a for a in _ACCENTS if name.endswith(a) and len(name) > len(a)), None)
        if accent is None:
            return super()._print_Symbol(sym, style)
        stem = name[: -len(accent)]
        adjoint = len(stem) > 1 and stem[0] == "d" and stem[1].isupper()  # dXhat, the adjoint of X̂: d X̂
        base = self._node("mover", super()._print_Symbol(sp.Symbol(stem[1:] if adjoint else stem), style),
                          self._mo(_ACCENTS[accent], accent="true"), accent="true")
        if adjoint:
            base = self._node("mrow", self._node("mi", text="d", mathvariant="normal"), base)
        scripts = [self._node("mi", text=" ".join(s)) if s else None for s in (subs, supers)]
        if scripts[0] is not None and scripts[1] is not None:
            return self._node("msubsup", base, *scripts)
        if scripts[0] is not None:
            return self._node("msub", base, scripts[0])
        if scripts[1] is not None:
            return self._node("msup", base, scripts[1])
        return base

    _print_Dummy = _print_Symbol

    # --- long sums ---------------------------------------------------------------------------------
    def _print_Add(self, expr: sp.Add, order: Any = None) -> Any:
        node = super()._print_Add(expr, order)
        node.setAttribute("data-sum", "1")  # a sum: the fold pass may lay it out in rows
        return node

    def doprint(self, expr: sp.Basic) -> str:
        root = self._print(expr)
        if self.fold_width:
            line = self._node("mrow", root)  # the formula's own line, so that a sum at the top folds too
            self._fold_tree(line)
            root = line.firstChild
        for node in [root, *root.getElementsByTagName("mrow")]:
            if node.nodeType == node.ELEMENT_NODE and node.hasAttribute("data-sum"):
                node.removeAttribute("data-sum")
        return root.toxml().encode("ascii", "xmlcharrefreplace").decode()  # as SymPy's own doprint

    def _fold_tree(self, node: Any) -> None:
        """Fold the sums that stand on the formula's own line (in brackets, matrix cells, either side
        of ``=``), never one in an exponent, a subscript, a root or a fraction, where rows would
        be set at script size inside a tall stack."""
        if node.nodeName not in _ON_THE_LINE:
            return
        for child in list(node.childNodes):
            if child.nodeType != child.ELEMENT_NODE:
                continue
            self._fold_tree(child)  # inner sums first: a folded inner sum makes the outer one narrower
            if child.hasAttribute("data-sum") and _width(child) > self.fold_width:
                node.replaceChild(self._fold(child), child)

    def _fold(self, row: Any) -> Any:
        """A printed sum (``mrow`` of terms and ``+``/``-``) as a left-aligned table of rows, each
        at most ``fold_width`` wide, a row after the first starting with its sign."""
        terms: list[list[Any]] = [[]]
        for child in list(row.childNodes):  # a term is a sign and what follows it
            if child.nodeName == "mo" and child.firstChild is not None and child.firstChild.data in ("+", "-", "−"):
                terms.append([])
            terms[-1].append(child)
        groups: list[list[Any]] = [[]]
        for term in (t for t in terms if t):
            wide = sum(_width(c) for c in groups[-1]) + sum(_width(c) for c in term)
            if groups[-1] and wide > self.fold_width:
                groups.append([])
            groups[-1].extend(term)
        if len(groups) == 1:
            return row
        table = self._node("mtable", columnalign="left", rowspacing="0.3em")
        for number, group in enumerate(groups):
            line = self._node("mrow", *([self._node("mspace", width="1em")] if number else []), *group,
                              displaystyle="true")  # a table cell would set its fractions small
            table.appendChild(self._node("mtr", self._node("mtd", line, columnalign="left")))
        return table


# Elements a sum may sit in and still be on the formula's line (see ReportMathMLPrinter._fold_tree).
_ON_THE_LINE = {"mrow", "mtable", "mtr", "mtd", "mstyle", "mpadded"}


def _chars(text: str) -> int:
    """Characters a token shows: SymPy's text nodes hold entities as written (``&#x2211;``, one sign;
    ``&InvisibleTimes;``, none)."""
    text = re.sub(r"&(InvisibleTimes|ApplyFunction|InvisibleComma|it|af);", "", text)
    return len(re.sub(r"&#?\w+;?", "x", text))


def _width(node: Any) -> float:
    """The printed width of a MathML DOM node, in characters of the surrounding text (a rough
    estimate: scripts at 0.7, a fraction as wide as its wider part, a table its widest row)."""
    tag = node.nodeName
    if node.nodeType == node.TEXT_NODE:
        return float(_chars(node.data))
    children = [c for c in node.childNodes]
    if tag in ("mi", "mn", "mtext"):
        return float(sum(_chars(c.data) for c in children if c.nodeType == c.TEXT_NODE))
    if tag == "mo":
        text = "".join(c.data for c in children if c.nodeType == c.TEXT_NODE)
        return _chars(text) + (1.0 if text in ("+", "-", "−", "=", "<", ">", "&lt;", "&gt;", "&#x2218;") else 0.2)
    if tag == "mspace":
        return 2.0
    if tag == "mfrac":
        return max((_width(c) for c in children), default=0.0) + 0.5
    if tag in ("msub", "msup", "munder", "mover"):
        return _width(children[0]) + 0.7 * sum(_width(c) for c in children[1:]) if children else 0.0
    if tag in ("msubsup", "munderover"):
        return _width(children[0]) + 0.7 * max(_width(c) for c in children[1:]) if children else 0.0
    if tag == "msqrt":
        return sum(_width(c) for c in children) + 1.0
    if tag == "mtable":
        rows = [[_width(cell) for cell in r.childNodes] for r in children]
        columns = max((len(r) for r in rows), default=0)
        return sum(max((r[k] for r in rows if k < len(r)), default=0.0) + 1.0 for k in range(columns))
    return sum(_width(c) for c in children)


def width(markup: str) -> float:
    """How wide a piece of presentation MathML prints, in characters of the text around it (rough).

    >>> width("<mi>x</mi>") < width("<mrow><mi>x</mi><mo>+</mo><mi>y</mi></mrow>")
    True
    """
    from xml.dom.minidom import parseString

    # SymPy writes HTML's named entities (&InvisibleTimes;, &ExponentialE;), which XML does not know
    markup = re.sub(r"&(InvisibleTimes|ApplyFunction|InvisibleComma|it|af);", "", markup)
    markup = re.sub(r"&[A-Za-z]+;", "x", markup)
    return _width(parseString(f"<math>{markup}</math>").documentElement)


def mathml(expr: sp.Basic, fold_width: int = 0) -> str:
    """``expr`` as presentation MathML (the content of a ``<math>`` element).

    >>> from derive.notation import Partial
    >>> "partial" in mathml(Partial("H", "p_i")), "&#8706;" in mathml(Partial("H", "p_i"))
    (False, True)
    >>> x = sp.symbols("x:12")
    >>> "<mtable" in mathml(sp.Add(*x), fold_width=10), "<mtable" in mathml(sp.Add(*x))
    (True, False)
    """
    markup = re.sub(r"\s*\n\s*", "", ReportMathMLPrinter(fold_width=fold_width).doprint(expr))
    # SymPy writes 𝟘 and 𝟙 as "&#x1D7D8" with no closing ";"
    markup = re.sub(r"&#x([0-9A-Fa-f]+)(?![0-9A-Fa-f;])", r"&#x\1;", markup)
    # SymPy un-escapes its output: a bare < or > in a token is not well-formed (HTML guesses at it)
    return re.sub(r"<(mo|mi|mn|mtext)([^>]*)>([<>])</\1>",
                  lambda m: f"<{m[1]}{m[2]}>{'&lt;' if m[3] == '<' else '&gt;'}</{m[1]}>", markup)
