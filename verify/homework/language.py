"""The answer language: students' plain or LaTeX math, parsed by our own grammar into SymPy.

Student input is hostile (DESIGN.md): it never reaches ``eval``, ``sympify`` or ``parse_expr``.
The text is normalised (LaTeX commands and Unicode to our tokens; anything else outside
printable ASCII is refused), bounded (length, tokens, bracket depth, number length, exponent size),
parsed by an LALR grammar (``answer.lark``: linear time whatever the input), and the tree is built
into SymPy bottom-up without recursion, with every name looked up in the problem's vocabulary:
a name the problem does not declare is an error, so ``__import__`` or ``os`` is just an unknown
symbol. Every refusal is an ``InvalidAnswer`` with a short reason a student can act on.

>>> import sympy as sp
>>> words = Vocabulary(indexed={"O": 1, "T": 1}, indices={"k": "n_O"})
>>> parse(r"(T_k - O_k) O_k (1 - O_k)", words) == parse(r"\\left(T_{k}-O_{k}\\right)\\cdot O_k\\,(1 - O_k)", words)
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import sympy as sp
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput, VisitError
from lark.visitors import Transformer_NonRecursive

__all__ = ["LIMITS", "InvalidAnswer", "Vocabulary", "normalise", "parse"]

LIMITS = {"characters": 2000, "tokens": 600, "depth": 40, "exponent": 64}


class InvalidAnswer(ValueError):
    """The answer cannot be read; the message says why, in one short line."""


# LaTeX and Unicode spellings -> the grammar's tokens. Order matters: longer commands first.
_REPLACEMENTS = [
    (r"\left", ""), (r"\right", ""), (r"\,", " "), (r"\;", " "), (r"\!", ""), (r"\quad", " "), (r"\ ", " "),
    (r"\cdot", "*"), (r"\times", "*"), (r"\odot", "⊙"), (r"\circ", "⊙"), (r"\ast", "*"),
    (r"^{\top}", "ᵀ"), (r"^\top", "ᵀ"), (r"^{T}", "ᵀ"), (r"^{\mathsf{T}}", "ᵀ"), (r"\top", "ᵀ"),
    (r"\exp", "exp"), (r"\log", "log"), (r"\ln", "ln"), (r"\tanh", "tanh"), (r"\max", "max"),
    (r"\operatorname{ismax}", "ismax"), (r"\mathrm{ismax}", "ismax"), (r"\operatorname{softmax}", "softmax"), (r"\operatorname{rowsum}", "rowsum"), (r"\mathrm{softmax}", "softmax"),
    ("−", "-"), ("–", "-"), ("×", "*"), ("·", "*"), ("⋅", "*"), ("∘", "⊙"), ("⊙", "⊙"), ("√", r"\sqrt"),
]
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "eta", "mu", "sigma", "tau", "theta", "lambda",
          "omega", "phi", "psi", "pi", "rho", "nu", "xi", "zeta", "kappa", "chi")
_UNICODE_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "η": "eta", "μ": "mu",
                  "σ": "sigma", "τ": "tau", "θ": "theta", "λ": "lambda", "ω": "omega", "φ": "phi", "π": "pi"}
_SUM = re.compile(r"\\sum\s*_\s*(?:\{\s*([a-z])\s*(?:=[^}]*)?\}|([a-z]))\s*(?:\^\s*(?:\{[^}]*\}|\w))?")
_PLAIN_SUM = re.compile(r"\bsum\s*_\s*\{\s*([a-z])\s*\}")
_TRANSPOSE = re.compile(r"\^T(?![A-Za-z0-9_{])|\.T(?![A-Za-z0-9_])")


def normalise(text: str) -> str:
    """LaTeX commands and Unicode spellings as the grammar's tokens; refuses what it cannot read.

    >>> normalise(r"\\frac{\\partial L}{\\partial z} ")
    Traceback (most recent call last):
    ...
    verify.homework.language.InvalidAnswer: cannot read '\\\\partial' here; write the answer itself, e.g. p_i - y_i
    >>> normalise(r"\\sum_{k=1}^{K} \\delta_k w_{kj} − X^\\top")
    'sum_k delta_k w_{kj} - Xᵀ'
    """
    if len(text) > LIMITS["characters"]:
        raise InvalidAnswer(f"the answer is {len(text)} characters long; the limit is {LIMITS['characters']}")
    out = text.strip()
    for old, new in _REPLACEMENTS:
        out = out.replace(old, new)
    for letter, name in _UNICODE_GREEK.items():
        out = out.replace(letter, name)
    out = _SUM.sub(lambda m: f"sum_{m.group(1) or m.group(2)} ", out)
    out = _PLAIN_SUM.sub(lambda m: f"sum_{m.group(1)}", out)
    for name in _GREEK:
        out = re.sub(rf"\\{name}(?![A-Za-z])", name, out)
    out = re.sub(r"[ \t\r\n]+", " ", _TRANSPOSE.sub("ᵀ", out)).strip()
    unknown = [c for c in re.findall(r"\\[A-Za-z]+", out) if c not in (r"\frac", r"\sqrt")]
    if unknown:
        raise InvalidAnswer(f"cannot read {unknown[0]!r} here; write the answer itself, e.g. p_i - y_i")
    bad = sorted({ch for ch in out if not (32 <= ord(ch) < 127 or ch in "ᵀ⊙\n\t")})
    if bad:
        shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad[:3])
        raise InvalidAnswer(f"unexpected character {shown}; use plain letters, digits and + - * / ^ ( )")
    return out


@cache
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "answer.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


@dataclass(frozen=True)
class Vocabulary:
    """What an answer may name: scalars, matrices (with shapes), indexed symbols (with their rank)
    and the indices (each with its upper bound), as a problem declares them.

    ``e`` is Euler's number unless a problem declares a symbol ``e``.
    """

    scalars: dict[str, sp.Expr] | tuple = ()
    matrices: dict[str, sp.MatrixSymbol] | tuple = ()
    indexed: dict[str, int] | tuple = ()
    indices: dict[str, str] | tuple = ()
    _bases: dict[str, sp.IndexedBase] = field(default_factory=dict, compare=False)

    def lookup(self, name: str) -> sp.Basic:
        scalars, matrices = dict(self.scalars), dict(self.matrices)
        name = name.removesuffix(_SHADOW) if name.endswith(_SHADOW) and name[: -len(_SHADOW)] in scalars | matrices else name
        if name in matrices:  # W_2: a declared matrix whose name has a subscript
            return matrices[name]
        base, _, subscript = name.partition("_")
        if not subscript:
            if name in scalars:
                return scalars[name]
            if name in matrices:
                return matrices[name]
            if name == "e":
                return sp.E
            raise InvalidAnswer(f"unknown symbol {name!r}; this problem uses {self.known()}")
        indexed = dict(self.indexed)
        if base not in indexed:
            if name in scalars:  # a declared scalar whose name has a subscript, like d_k
                return scalars[name]
            raise InvalidAnswer(f"unknown symbol {name!r}; this problem uses {self.known()}")
        letters = subscript.strip("{}").replace(" ", "")
        parts = letters.split(",") if "," in letters else [letters] if any(c in letters for c in "+-") else list(letters)
        if len(parts) != indexed[base]:
            raise InvalidAnswer(f"{base} takes {indexed[base]} index{'es' if indexed[base] != 1 else ''}; got {name!r}")
        indices = dict(self.indices)
        args = []
        for part in parts:
            args.append(self._index(part, name, indices))
        if base not in self._bases:
            self._bases[base] = sp.IndexedBase(base, real=True)
        return self._bases[base][tuple(args)]

    @staticmethod
    def _index(part: str, name: str, indices: Mapping[str, str]) -> sp.Expr:
        """One subscript: a number, an index, or a sum of them like ``i+u-1`` (read here, never evaluated)."""
        terms = re.findall(r"([+-]?)([A-Za-z]+|\d+)", part)
        if not terms or "".join(sign + term for sign, term in terms) != part or len(terms) > 4:
            raise InvalidAnswer(f"cannot read the subscript {part!r} in {name!r}; write indices like i, 2 or i+u-1")
        total = sp.Integer(0)
        for sign, term in terms:
            if term.isdigit():
                value: sp.Expr = sp.Integer(min(int(term), 10**6))
            elif term in indices:
                value = sp.Symbol(term, integer=True, positive=True)
            else:
                raise InvalidAnswer(f"unknown index {term!r} in {name!r}; indices here: {', '.join(indices) or 'none'}")
            total += -value if sign == "-" else value
        return total

    def index_bound(self, index: str) -> sp.Symbol:
        indices = dict(self.indices)
        if index not in indices:
            raise InvalidAnswer(f"cannot sum over {index!r}; indices here: {', '.join(indices) or 'none'}")
        return sp.Symbol(indices[index], integer=True, positive=True)

    def known(self) -> str:
        names = [*dict(self.scalars), *dict(self.matrices), *(f"{b}_{'ijk'[:r]}" for b, r in dict(self.indexed).items())]
        return ", ".join(names) or "no symbols"


def _is_matrix(x: sp.Basic) -> bool:
    return bool(getattr(x, "is_Matrix", False))


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


_FUNCTIONS = {
    "exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sigmoid": _sigmoid,
    "sigma": _sigmoid, "relu": lambda x: sp.Max(0, x),
}


class _Build(Transformer_NonRecursive):
    """The parse tree as SymPy, bottom-up, without recursion (a chain of 1,000 terms is fine)."""

    def __init__(self, words: Vocabulary) -> None:
        super().__init__()
        self.words = words

    def number(self, items: list[Token]) -> sp.Expr:
        from fractions import Fraction

        text = str(items[0])
        if len(text.replace(".", "")) > 12:
            raise InvalidAnswer(f"numbers are limited to 12 digits; got {text[:16]}...")
        value = Fraction(text)  # digits and one dot, by the grammar; never sympify
        return sp.Rational(value.numerator, value.denominator)

    def name(self, items: list[Token]) -> sp.Basic:
        return self.words.lookup(str(items[0]))

    def add(self, items: list) -> sp.Basic:
        return _checked(lambda: items[0] + items[1])

    def sub(self, items: list) -> sp.Basic:
        return _checked(lambda: items[0] - items[1])

    def mul(self, items: list) -> sp.Basic:
        return _checked(lambda: items[0] * items[1])

    def juxtapose(self, items: list) -> sp.Basic:  # a written number after a factor is refused in parse()
        return _checked(lambda: items[0] * items[1])

    def matmul(self, items: list) -> sp.Basic:
        return _checked(lambda: items[0] * items[1])

    def div(self, items: list) -> sp.Basic:
        items = [i for i in items if not isinstance(i, Token)]
        if _is_matrix(items[1]):
            raise InvalidAnswer("cannot divide by a matrix")
        return _checked(lambda: items[0] / items[1])

    def hadamard(self, items: list) -> sp.Basic:
        left, right = items[0], items[2]
        if not (_is_matrix(left) and _is_matrix(right)):
            return _checked(lambda: left * right)
        return _checked(lambda: sp.HadamardProduct(left, right))

    def neg(self, items: list) -> sp.Basic:
        return -items[0]

    def pow(self, items: list) -> sp.Basic:
        base, exponent = items
        if _is_matrix(exponent) or _is_matrix(base):
            raise InvalidAnswer("powers of matrices are not part of the answer language; write the product")
        if not exponent.free_symbols:
            value = sp.N(exponent, 15)
            if not value.is_real or abs(value) > LIMITS["exponent"]:
                raise InvalidAnswer(f"an exponent of {exponent} is too large; the limit is {LIMITS['exponent']}")
        return sp.Pow(base, exponent)

    def transpose(self, items: list) -> sp.Basic:
        if not _is_matrix(items[0]):
            raise InvalidAnswer("only a matrix or vector has a transpose")
        return items[0].T

    def sqrt(self, items: list) -> sp.Basic:
        return sp.sqrt(items[1])

    def sum_over(self, items: list) -> sp.Basic:
        index = str(items[0])[-1]
        bound = self.words.index_bound(index)
        return sp.Sum(items[1], (sp.Symbol(index, integer=True, positive=True), 1, bound))

    def arguments(self, items: list) -> list:
        return items

    def call1(self, items: list) -> sp.Basic:
        return self.call([items[0], [items[1]]])

    def call(self, items: list) -> sp.Basic:
        function, args = str(items[0]), items[1]
        if function in _FUNCTIONS:
            if len(args) != 1:
                raise InvalidAnswer(f"{function} takes one argument; got {len(args)}")
            if _is_matrix(args[0]):
                raise InvalidAnswer(f"{function} of a matrix: apply it to an entry, e.g. {function}(z_i)")
            return _FUNCTIONS[function](args[0])
        if function in ("max", "ismax"):
            if not 2 <= len(args) <= 16 or any(_is_matrix(a) for a in args):
                raise InvalidAnswer(f"{function} takes 2 to 16 scalar arguments, as in max(0, x) or ismax(x_i, x_1, x_2)")
            if function == "max":
                return sp.Max(*args)
            # ismax(a, b, c, ...): 1 where a is the largest of them all, else 0 (max pooling's routing)
            return sp.Piecewise((1, sp.And(*[args[0] >= b for b in args[1:]])), (0, True))
        if function == "transpose":
            return self.transpose(args)
        if function == "hadamard":
            return self.hadamard([args[0], None, args[1]])
        if function == "rowsum":
            from derive.notation import RowSum

            if not _is_matrix(args[0]):
                raise InvalidAnswer("rowsum takes a matrix")
            return RowSum(args[0])
        raise InvalidAnswer(f"{function}(...) is not available in this problem")


def _checked(build):
    try:
        return build()
    except (sp.ShapeError, TypeError, ValueError) as error:
        message = str(error).split("\n")[0][:120]
        raise InvalidAnswer(f"the shapes do not fit: {message}") from None


def _depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "({":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")}":
            depth -= 1
    return deepest


_FUNCTION_WORDS = ("exp", "log", "ln", "tanh", "sigma", "sqrt")
_SHADOW = "Declared"  # a suffix no function word has: sigma -> sigmaDeclared when a problem declares sigma


def _shadow(normal: str, words: Vocabulary) -> str:
    """A problem's own symbol named like a function (layer norm's sigma) is that symbol wherever it
    appears: ``g / sigma`` and ``1/sigma (g - ...)`` divide by it; such a problem has no sigmoid."""
    for word in _FUNCTION_WORDS:
        if word in dict(words.scalars) or word in dict(words.matrices):
            normal = re.sub(rf"\b{word}\b", word + _SHADOW, normal)
    return normal


def parse(text: str, words: Vocabulary) -> sp.Basic:
    """Read one answer into SymPy, or raise ``InvalidAnswer`` saying why.

    >>> parse("p_i - y_i", Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n"}))
    p[i] - y[i]
    >>> A, G = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("G", 3, 2)
    >>> parse(r"A^\\top G", Vocabulary(matrices={"A": A, "G": G}))
    A.T*G
    """
    normal = _shadow(normalise(text), words)
    if not normal:
        raise InvalidAnswer("the answer is empty")
    if _depth(normal) > LIMITS["depth"]:
        raise InvalidAnswer(f"brackets nest more than {LIMITS['depth']} deep")
    try:
        tree = _parser().parse(normal)
    except UnexpectedInput as error:
        column = getattr(error, "column", "?")
        raise InvalidAnswer(f"cannot read the answer at column {column}: {_context(normal, error)}") from None
    except LarkError as error:
        raise InvalidAnswer(f"cannot read the answer: {str(error).splitlines()[0][:100]}") from None
    tokens = sum(1 for _ in tree.scan_values(lambda v: isinstance(v, Token)))
    if tokens > LIMITS["tokens"]:
        raise InvalidAnswer(f"the answer has {tokens} symbols and numbers; the limit is {LIMITS['tokens']}")
    for node in tree.iter_subtrees():  # `x 2` reads ambiguously; `x (1/d)` does not
        right = node.children[1] if node.data == "juxtapose" else None
        if isinstance(right, Tree) and right.data == "number":
            raise InvalidAnswer(f"a number after a factor reads ambiguously; write {right.children[0]} before it or use *")
    try:
        result = _Build(words).transform(tree)
    except VisitError as error:  # lark wraps what a rule raised
        if isinstance(error.orig_exc, InvalidAnswer):
            raise error.orig_exc from None
        raise InvalidAnswer(f"cannot build the answer: {str(error.orig_exc).splitlines()[0][:100]}") from None
    if result.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise InvalidAnswer("the answer is undefined (a division by zero, or the log of 0)")
    return result


def _context(text: str, error: UnexpectedInput) -> str:
    position = getattr(error, "pos_in_stream", None)
    if position is None:
        return "unexpected end" if isinstance(error, LarkError) else "unexpected input"
    return f"...{text[max(0, position - 10):position + 10]!r}..."
