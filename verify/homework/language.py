"""The answer language: students' plain or LaTeX math, parsed by our own grammar into SymPy.

Student input is hostile (DESIGN.md): it never reaches ``eval``, ``sympify`` or ``parse_expr``.
The text is normalised (LaTeX commands and Unicode to our tokens; anything else outside
printable ASCII is refused), parsed by an LALR grammar (``answer.lark``: linear time whatever the
input), measured, and only then built into SymPy bottom-up without recursion, with every name
looked up in the problem's vocabulary: a name the problem does not declare is an error, so
``__import__`` or ``os`` is just an unknown symbol. Every refusal is an ``InvalidAnswer`` with a
short reason a student can act on.

Bounds (``LIMITS``, one table; each refusal names the construct and the limit):

=============  =====  ================================================================
characters      2000  length of the answer
tokens           600  symbols, numbers and operators
depth             40  brackets inside one another
nesting           32  functions, powers, fractions, absolute values, sums and products inside
                      one another
exponentials       4  exponentials inside one another (``exp(exp(x))``, ``e^{e^x}``, ``x^{y^z}``)
signs              8  minus signs applying one after another to one term (``- - x``)
digits            12  digits of a written number (before the e of ``1.5e-3``)
number            30  digits of a number computed from a power of numbers (``9^64``) or
                      written with an exponent (``1e29``; of its denominator: ``1e-29``)
exponent          64  size of a written exponent
degree            32  total degree of a product or power (``p_i p_i ...``, ``p_i^40``);
                      a function's value counts with its argument's degree
terms           1000  terms a product or power of sums multiplies out to (``(a+b+c)^8``);
                      a sum over an index counts as ``SUM_TERMS`` (8) terms
definitions        4  names an answer's where clause defines (``s_i - y_i, where s_i = ...``);
                      a defined name counts as big as its definition wherever it is used
=============  =====  ================================================================

These are checked on the parse tree before SymPy sees anything, so nothing big is ever built:
exponent towers are refused, not evaluated. They bound the grader's work as well (SymPy
expands and samples the answer), and no gradient in the course comes near them.

Sums: ``sum_k``, ``\\sum_k``, ``\\sum_{k=1}^{n}`` and ``sum_{k=1}^n`` run over the index's whole
range (1 to its size ``n``; the capital of the index or of its size, ``K`` or ``N``, means the
size too unless the problem gives that letter another meaning). Other bounds are taken
literally, in terms of the size, as a SymPy ``Sum`` (``\\sum_{k=2}^{n-1}``, ``\\sum_{k=1}^{i}``),
and refused when they leave the index's range. ``\\sum_{k \\neq i}`` is the full sum less the
i-th term.

Numbers: ``0.25`` and scientific notation, a number with ``e`` or ``E`` and a signed integer
written against it without spaces (``1e-3``, ``2.5E+4``, ``3e2``, ``1e0``): the grammar's lexer
reads it as one number (it is not rewritten beforehand). Its digits before the ``e`` count
against ``digits`` and its value, written as a fraction, against ``number`` (``1e29`` and
``1e-29`` are read; ``1e30`` and ``1e-30``, 31 digits, are refused). Everywhere else ``e`` is
Euler's number: ``2 e``, ``2*e-1``, ``e^{x}``, and ``2e^{-z_i}`` (an ``e`` before a power is no
exponent), which is 2 times e to the -z_i. A number with an ``e`` against it that is neither, as
``2e``, ``2e - 1``, ``1e -3`` or ``2e*x``, is refused as ambiguous (2 times e, or a mistyped
number?): write ``2*e`` or ``2 e`` for the one, ``2e-1`` for the other.

Absolute values: ``|x|``, ``\\left| x \\right|``, ``\\lvert x \\rvert`` and ``abs(x)`` are
``Abs(x)``, of a scalar only. Bars nest (``||x| - 1|``); inside bars, a bar right after a factor
closes them. A bar opening right after a factor (``2 |x|``) is read only when no bar comes before
it: ``|a| b |c|`` could be ``|a|`` times ``b`` times ``|c|`` or the bars around ``a |b| c``,
and is refused, asking for a ``*``.
Read this way no answer has two readings.

Transposes: ``A^T``, ``A^{T}``, ``A.T``, ``A^\\top``, ``A^{\\top}``, ``A^\\intercal``,
``A^{\\mathsf T}``, ``A^{\\mathsf{T}}``, ``A^{\\mathrm{T}}``, ``transpose(A)`` and, on a matrix
symbol only, the prime of MATLAB and older texts: ``A' B`` is ``A^T B``. A prime on a function is
its derivative (``sigma'(x)``, ``tanh'(x)``, ``f'(x)`` where the problem's activation f is known);
on anything else (``O_k'``) it is refused, saying so.

Notation as people write it (issue 15), each read as written or refused with the construct named:

- framing: ``\\delta_k = ...``, ``dL/dz_i = ...``, ``\\frac{\\partial L}{\\partial z_i} = ...``,
  ``w \\leftarrow ...``, ``:=``, ``<-``, ``←``, ``\\gets``; a chain ``a = b = c`` is graded by its last
  member; ``w -= eta g`` is ``w - eta g``; ``$...$``, ``$$...$$``, ``\\[...\\]``, ``\\(...\\)`` and a
  full stop around or after the answer; a trailing ``for all i`` (``\\forall i``) on the free index.
- sums: ``\\sum_{k \\neq i}`` (``\\ne``, ``≠``, ``k=1, k \\neq i``), ``\\sum_{i,j}``, ``\\sum_{k \\in S}``
  (the whole range), ``\\sum\\limits``, ``\\displaystyle``, ``Σ``, ``∑``, a primed index ``j'`` (a
  fresh index with j's range).
- ``\\delta_{ij}`` (Kronecker's, where the problem declares no delta); indicators ``\\mathbb{1}[c]``,
  ``\\mathbb{1}\\{c\\}``, ``\\mathbb{1}_{c}``, ``\\mathbb{1}(c)``, ``1[c]``, ``\\mathbf{1}[c]`` and
  Iverson's ``[c]``; conditions with ``< > <= >= = !=`` (``\\geq``, ``≥``, ``==``...), joined by
  ``and``, ``\\land`` or a comma, optionally ``for all j (\\neq i)``; ``x_i = \\max(...)`` and
  ``i = \\arg\\max_j x_j`` mean x_i is the largest; ``\\begin{cases} a & \\text{if } c \\\\ b &
  \\text{otherwise} \\end{cases}`` (or ``else``, ``a, c``, the ``array`` form) and ``a if c else b``
  are ``Piecewise``; ``\\max_j x_j``, ``\\min_j``, ``max(x)`` are ``MaxOver``/``MinOver``.
- names: ``\\hat{x}``, ``\\hat x``, ``x̂`` are xhat (``\\bar`` xbar, ``\\tilde`` xtilde); fonts and text
  (``\\mathbf``, ``\\boldsymbol``, ``\\bm``, ``\\vec``, ``\\text``, ``\\mathrm``, ``\\operatorname``...)
  and math bold letters are the bare name; ``x₁`` is x_1; ``p[i]``, ``w[k][j]``, ``w[k,j]`` are
  entries where the brackets hold indices (else they group); ``(p - y)_i`` is an entry of a vector
  expression; ``softmax(z)``, ``softmax(z)_i`` are the forward's result (``Vocabulary.applications``);
  ``\\frac{\\partial L}{\\partial S}`` and ``dL/dS`` are the problem's ``dS`` where it has one;
  ``w_kj(t)`` and ``w_kj^{(t)}`` are the current w_kj where the problem has no symbol t.
- operators: ``[ ]``, ``\\left[``, ``\\big(``, ``\\Bigl[`` group; ``\\cdot``, ``\\times`` are the
  (matrix) product whatever the ``*`` rule (``Vocabulary.star``: ``*`` between two matrices is the
  matrix product, or with ``star="elementwise"`` NumPy's elementwise product; the other reading is
  refused where only it fits, and ``star_matters`` tells the grader to try both); ``√x``,
  ``√(x)``, ``\\sqrt d_k`` (one factor with its subscript); ``**``; ``np.exp``, ``torch.sqrt``;
  ``\\tanh^2(x)``; ``\\frac12``.

- a where (or with) clause after the answer defines the student's own names: ``s_i - y_i, where
  s_i = \\frac{e^{z_i}}{\\sum_j e^{z_j}}`` (substituted at the indices written; a definition counts as
  big as its value; a stated fact such as ``f'(net_k) = ...`` defines nothing).
- NumPy's conventions where the answer shows them: an answer that writes ``@`` reads ``*`` between
  matrices as the elementwise product; ``1 - O``, ``p / q``, ``log(p)``, ``mean(v)`` of vectors
  (never of square matrices, where ``1 - A`` could be ``I - A``) entry by entry; ``mean_j f(j)``; a
  row sum broadcast along the other side's rows (FlashAttention's ``dP - rowsum(dO ⊙ O)``).
- refused, naming the construct: a superscript in brackets (``x^{(2)}``, a layer's label, not a
  power), ``\\mathbf{1}`` alone (a vector of ones), ``f'`` where the problem has no activation.

An unknown symbol that differs from a known one only in case or a decoration gets "did you mean
T_k?".

>>> import sympy as sp
>>> words = Vocabulary(indexed={"O": 1, "T": 1}, indices={"k": "n_O"})
>>> parse(r"(T_k - O_k) O_k (1 - O_k)", words) == parse(r"\\left(T_{k}-O_{k}\\right)\\cdot O_k\\,(1 - O_k)", words)
True
>>> parse(r"\\sum_{k=2}^{n_O} O_k", words)
Sum(O[k], (k, 2, n_O))
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Self

import sympy as sp
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput, VisitError
from lark.visitors import Transformer_NonRecursive
from sympy.logic.boolalg import BooleanFunction
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

__all__ = ["LIMITS", "AtExtremum", "InvalidAnswer", "Limits", "MaxOver", "MinOver", "Vocabulary", "claims", "normal_text",
           "normalise", "parse", "star_matters"]


@dataclass(frozen=True)
class Limits:
    """The bounds on an answer, in one place (the module docstring says what each one bounds).

    >>> LIMITS.degree, LIMITS["depth"]
    (32, 40)
    """

    characters: int = 2000
    tokens: int = 600
    depth: int = 40
    nesting: int = 32
    exponentials: int = 4
    signs: int = 8
    digits: int = 12
    number: int = 30
    exponent: int = 64
    degree: int = 32
    terms: int = 1000
    definitions: int = 4

    def __getitem__(self, name: str) -> int:  # LIMITS["depth"], as when this was a dict
        return int(getattr(self, name))


LIMITS = Limits()
SUM_TERMS = 8  # a sum over an index, whose size is unknown at parse time, counts as this many terms


class InvalidAnswer(ValueError):
    """The answer cannot be read; the message says why, in one short line."""


# LaTeX and Unicode spellings -> the grammar's tokens. Order matters: longer commands first, and
# the arrows before \left (\leftarrow) and \le (\leq, \left).
_REPLACEMENTS = [
    (r"\textstyle", ""), (r"\scriptstyle", ""), ("÷", "/"), ("==", "="), (r"\arg\max", "argmax"), (r"\arg\min", "argmin"),
    (r"\leftarrow", " ← "), (r"\longleftarrow", " ← "), (r"\gets", " ← "), (r"\coloneqq", " := "), ("≔", " := "),
    (r"\left.", ""), (r"\right.", ""), (r"\left", ""), (r"\right", ""), (r"\{", "{"), (r"\}", "}"),
    (r"\,", " "), (r"\;", " "), (r"\:", " "), (r"\!", ""), (r"\qquad", " "), (r"\quad", " "), (r"\ ", " "),
    # \cdot and \times are products in mathematics whatever the * rule (Vocabulary.star): the grammar's @
    (r"\cdot", "@"), (r"\times", "@"), (r"\odot", "⊙"), (r"\circ", "⊙"), (r"\star", "⋆"), (r"\otimes", "⊗"), (r"\ast", "*"), ("**", "^"),
    (r"^{\top}", "ᵀ"), (r"^\top", "ᵀ"), (r"^{T}", "ᵀ"), (r"^{\mathsf{T}}", "ᵀ"), (r"\top", "ᵀ"),
    (r"\exp", "exp"), (r"\log", "log"), (r"\ln", "ln"), (r"\tanh", "tanh"), (r"\max", "max"), (r"\min", "min"),
    (r"\dfrac", r"\frac"), (r"\tfrac", r"\frac"),
    ("−", "-"), ("–", "-"), ("×", "@"), ("·", "@"), ("⋅", "@"), ("∗", "*"), ("∘", "⊙"), ("⊙", "⊙"),
    ("√", r"\sqrt "), ("∑", r"\sum"), ("Σ", r"\sum"), (r"\nolimits", ""), (r"\limits", ""), (r"\displaystyle", ""),
    (r"\lvert", "|"), (r"\rvert", "|"), (r"\vert", "|"), (r"\intercal", "ᵀ"), ("⊤", "ᵀ"),
    (r"^{\prime}", "'"), (r"^\prime", "'"), ("′", "'"), ("²", "^2"), ("³", "^3"),
    ("½", "(1/2)"), (r"\oslash", "/"), ("⊘", "/"), ("≥", ">="), ("≤", "<="), ("≠", "!="), ("∧", " and "), ("∀", " forall "), ("∂", " partial "), ("∇", "nabla"), ("∈", r"\in "),
]
# Relations and connectives, each a whole command (\le is not the start of \left: those went above).
_COMMANDS = [
    (r"\geqslant", ">="), (r"\geq", ">="), (r"\ge", ">="), (r"\gt", ">"), (r"\leqslant", "<="), (r"\leq", "<="),
    (r"\le", "<="), (r"\lt", "<"), (r"\neq", "!="), (r"\ne", "!="), (r"\land", " and "), (r"\wedge", " and "),
    (r"\partial", " partial "), (r"\nabla", "nabla"), (r"\forall", " forall "), (r"\ell", " ell "),
]
# \big( \Bigl[ \biggr): sizes of brackets, not brackets of their own.
_SIZED = re.compile(r"\\[Bb]ig{1,2}[lrm]?(?![A-Za-z])")
# Fonts and text around a name or a function's name read as the bare name: \mathbf{W}, \text{rowsum}.
_WRAPPERS = ("mathbf", "boldsymbol", "bm", "vec", "text", "textrm", "textbf", "textit", "mathrm", "operatorname",
             "mathit", "mathsf", "mathcal", "mathscr", "pmb", "mbox", "boldmath", "mathrel", "mathbin", "mathop")
_WRAPPED = re.compile(r"(?<=(.))?\\(?:" + "|".join(_WRAPPERS) + r")\s*(?:\{([^{}]*)\}|\s([A-Za-z]))(?=(.?))")
# Decorations make a name of their own: \hat{x} is xhat (a problem's normalised input), \bar{x} xbar.
_DECORATIONS = {"hat": "hat", "widehat": "hat", "bar": "bar", "overline": "bar", "tilde": "tilde", "widetilde": "tilde"}
_DECORATED = re.compile(r"\\(" + "|".join(_DECORATIONS) + r")\s*(?:\{\s*([A-Za-z]+)\s*\}|\s*([A-Za-z]))")
_COMBINING = {"\u0302": "hat", "\u0304": "bar", "\u0305": "bar", "\u0303": "tilde"}
# An indicator: \mathbb{1}, \mathbf{1}, \mathbb{I}, 𝟙 before its condition's bracket; 1[...] too, but not
# x_1[...] or 21[...] (a 1 that belongs to a name or a number).
# A bold I is a symbol (the inputs I_i of BP), only a blackboard I is an indicator.
_INDICATOR = re.compile(r"(?:\\mathbb\s*(?:\{\s*[1I]\s*\}|\s+[1I])|\\(?:mathbf|boldsymbol|bm)\s*(?:\{\s*1\s*\}|\s+1)|𝟙"
                        r"|(?<![\w.])1(?=\s*(?:\[|\\\{)))\s*_?\s*(?=\[|\\\{|\{|\(|\\left\s*[\[(]|\\left\s*\\\{)")
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉ᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", "0123456789ijklmnoprstuvx"))
_SUBSCRIPTED = re.compile(r"([A-Za-z][\u0302-\u0305]?)([" + "".join(_SUBSCRIPTS) + "]+)")
# A primed index letter in a subscript (p_{j'}) keeps its prime; the builder reads it as a fresh index.
# A whole-answer wrapper: $...$, $$...$$, \[...\], \(...\).
_DELIMITERS = (("$$", "$$"), ("$", "$"), (r"\[", r"\]"), (r"\(", r"\)"))
# Quotes and code marks around a whole answer: “...”, "...", `...`, ```...``` (Markdown, a chat's reply).
_QUOTES = (("```", "```"), ("`", "`"), ("“", "”"), ('"', '"'), ("„", "“"), ("«", "»"))
# Spaces other than the plain one: no-break and thin spaces (PDFs, MathJax copies). Zero-width ones stay
# refused: inside a name (p\u200b_i) they would hide what is written.
_SPACES = dict.fromkeys("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " ")
# A transpose however the superscript is spelt: A^{\mathsf T}, A^{ \top }, A^\intercal, A^\mathrm{T}.
_SUPER_T = re.compile(r"\^\s*(?:\{\s*(?:\\top|\\intercal|\\math(?:sf|rm|bf)\s*(?:\{\s*T\s*\}|\s+T)|T|ᵀ)\s*\}"
                      r"|\\top(?![A-Za-z])|\\intercal(?![A-Za-z])|\\math(?:sf|rm|bf)\s*(?:\{\s*T\s*\}|\s+T(?![A-Za-z0-9_])))")
_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "eta", "mu", "sigma", "tau", "theta", "lambda",
          "omega", "phi", "varphi", "psi", "pi", "rho", "nu", "xi", "zeta", "kappa", "chi", "iota",
          "Delta", "Gamma", "Theta", "Lambda", "Phi", "Psi", "Omega", "Pi", "Xi", "Sigma")
_UNICODE_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ϵ": "epsilon", "η": "eta",
                  "μ": "mu", "σ": "sigma", "τ": "tau", "θ": "theta", "λ": "lambda", "ω": "omega", "φ": "phi",
                  "π": "pi", "ρ": "rho", "ν": "nu", "ξ": "xi", "ζ": "zeta", "κ": "kappa", "χ": "chi", "ψ": "psi",
                  "Δ": "Delta", "Γ": "Gamma", "Θ": "Theta", "Λ": "Lambda", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega"}
# \sum or sum, a subscript (k, {k}, {k=1}, {k \neq i}, {i,j}, {k \in S}, {j'}) and an optional
# superscript ({n-1}, n, or the ᵀ that ^{T} became above). Each is rewritten as sum_k,
# sum_{k=LOW}^{HIGH} or sum_{k!=i} (several indices: one sum each), which the grammar reads as one
# SUM token; the builder reads its bounds.
_SUM = re.compile(r"\\?(?<![A-Za-z0-9_])sum\s*_\s*(?:\{([^{}]*)\}|([a-z]'?))(?:\s*\^\s*(?:\{([^{}]*)\}|([A-Za-z0-9]))|\s*(ᵀ))?")
# \max_j, \max_{j}, \min_{j \in S}: a max over an index's range, one EXTREMUM token.
_EXTREMUM = re.compile(r"(?<![A-Za-z0-9_])(argmax|argmin|max|min|mean)\s*_\s*(?:\{\s*([a-z]'?)\s*(?:\\in(?![A-Za-z])\s*[A-Za-z]+\s*)?\}|([a-z]'?)(?![A-Za-z0-9_]))")
_NOT = r"(?:\\neq?(?![A-Za-z])|≠|!=)"
_IN = re.compile(r"\s*\\in(?![A-Za-z]).*$")
# k \in S with S a name (a set's name says nothing of its members: the index's whole range), and
# an exclusion after it, k \in S, k \neq i; any other set (\in [1, i-1], \in S \setminus i, \in N(i))
# is refused rather than read as the whole range
_IN_SET = re.compile(r"\s*\\in(?![A-Za-z])\s*(?:[A-Za-z]{2,}|[A-Z])\s*(,\s*([a-z]'?)\s*(?:\\neq?(?![A-Za-z])|≠|!=)\s*([a-z]'?)\s*)?$")
_TRANSPOSE = re.compile(r"\^T(?![A-Za-z0-9_{])|\.T(?![A-Za-z0-9_])")
_READ_COMMANDS = (r"\frac", r"\sqrt", r"\cases")
# np.exp(x), torch.sigmoid(x), ReLU(x): a library's or a capitalised spelling of a function the
# language reads, before its bracket (np.maximum is max).
_SPELLED = {"maximum": "max", "minimum": "min", "ReLU": "relu", "Relu": "relu", "RELU": "relu", "Softmax": "softmax",
            "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Log": "log"}
_LIBRARY = re.compile(r"(?<![A-Za-z0-9_.])(?:(?:np|numpy|torch|math|jnp|F|nn\.functional)\.)?"
                      r"(exp|log2|log10|log|sqrt|tanh|sigmoid|softmax|relu|abs|maximum|minimum|ReLU|Relu|RELU|Softmax|Sigmoid|Tanh|Exp|Log"
                      r"|sum|mean|dot|matmul|mm|outer|multiply|divide)"
                      r"(?=\s*'?\s*\()")


_RUN_TOGETHER = re.compile(r"(?<![A-Za-z0-9_\\])([A-Za-z]+)_([A-Za-z0-9])([A-Za-z]+_)")


def normalise(text: str) -> str:
    """LaTeX commands and Unicode spellings as the grammar's tokens; refuses what it cannot read.

    Every rewrite here respells a token (a LaTeX command as the word the grammar reads); none drops
    anything the answer says.

    >>> normalise(r"\\frac{\\partial L}{\\partial z} ")
    '\\\\frac{ partial L}{ partial z}'
    >>> normalise(r"\\sum_{k=1}^{K} \\delta_k w_{kj} − X^\\top")
    'sum_{k=1}^{K} delta_k w_{kj} - Xᵀ'
    >>> normalise(r"\\sum_{k \\neq i} y_k + sum_j^n y_j")
    'sum_{k!=i} y_k + sum_{j=1}^{n} y_j'
    >>> normalise(r"$\\hat{x}_i - \\mathbf{W}\\mathbf{x}$")
    'xhat_i - W x'
    >>> normalise(r"\\oint x")
    Traceback (most recent call last):
    ...
    verify.homework.language.InvalidAnswer: cannot read '\\\\oint' here; write the answer with + - * / ^, \\frac{a}{b}, \\sqrt{a}, \\sum_k and named functions
    """
    if len(text) > LIMITS["characters"]:
        raise InvalidAnswer(f"the answer is {len(text)} characters long; the limit is {LIMITS['characters']}")
    out = _unwrapped(text.translate(_SPACE_TABLE).strip())
    out = _respelled(out)
    out = "".join(unicodedata.normalize("NFD", ch) if "\u00c0" <= ch <= "\u024f" else ch for ch in out)  # ŷ: y + hat
    out = "".join(unicodedata.normalize("NFKC", ch) if "\U0001d400" <= ch <= "\U0001d7ff" and ch != "𝟙" else ch
                  for ch in out)  # 𝐱, 𝑾: mathematical bold and italic letters are the letters
    out = _SUBSCRIPTED.sub(lambda m: f"{m.group(1)}_{{{''.join(_SUBSCRIPTS[c] for c in m.group(2))}}}", out)
    for mark, decoration in _COMBINING.items():
        out = re.sub(rf"([A-Za-z]){mark}", rf"\\{decoration}{{\1}}", out)
    out = re.sub(r"\\\\(?:\s*\[[^\]]{0,12}\])?", " ; ", out)  # LaTeX's row break (\\[2pt]), between rows of cases
    # cases, and the array that older texts write them as: \left\{ \begin{array}{ll} ... \end{array} \right.
    out = re.sub(r"\\begin\s*\{\s*[dr]?cases\s*\}|\\left\s*\\\{\s*\\begin\s*\{\s*array\s*\}\s*\{[lrc| ]*\}", r" \\cases{ ", out)
    out = re.sub(r"\\end\s*\{\s*[dr]?cases\s*\}|\\end\s*\{\s*array\s*\}\s*\\right\s*\.", " } ", out)
    # \frac12, \frac1{\sqrt{d}}: LaTeX reads one digit as an argument
    out = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", out)
    out = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", out)
    out = _SIZED.sub("", _SUPER_T.sub("ᵀ", out))
    out = _INDICATOR.sub("𝟙", out)
    out = re.sub(r"\\(?:operatorname\*?|mathrm|text)\s*\{\s*arg\s*(?:\\[,;! ])?\s*(max|min)\s*\}", r"arg\1", out)
    out = out.replace(r"\operatorname*", r"\operatorname")
    if re.search(r"\\math(?:bb|bf)\s*\{\s*1\s*\}", out):
        raise InvalidAnswer(r"\mathbf{1} (a vector of ones) is not read here; write the sum it stands for, "
                            r"e.g. \sum_k a_k")
    for _ in range(8):  # wrappers inside wrappers (\hat{\mathbf{x}}): innermost first, a few deep
        unwrapped = _WRAPPED.sub(_unwrap_font, out)
        unwrapped = _DECORATED.sub(lambda m: _spaced(m, (m.group(2) or m.group(3)) + _DECORATIONS[m.group(1)]), unwrapped)
        if unwrapped == out:
            break
        out = unwrapped
    out = _LIBRARY.sub(lambda m: _SPELLED.get(m.group(1), m.group(1)), out)
    for old, new in _REPLACEMENTS:
        out = out.replace(old, new)
    for old, new in _COMMANDS:
        out = re.sub(re.escape(old) + r"(?![A-Za-z])", new, out)
    out = re.sub(r"\^\s*(?:ᵀ|\{\s*ᵀ\s*\})", "ᵀ", out)  # A^⊤: the superscript mark and the sign both written
    out = re.sub(r"(?<![A-Za-z])for\s+(?:all|every|each)(?![A-Za-z])", " forall ", out)
    out = out.replace("𝟙{", "𝟙{")
    for letter, name in _UNICODE_GREEK.items():
        out = re.sub(letter, lambda m, name=name: _spaced(m, name), out)
    out = _EXTREMUM.sub(lambda m: f"{m.group(1)}_{{{m.group(2) or m.group(3)}}} ", out)
    out = _SUM.sub(_sum_token, out)
    for name in _GREEK:
        out = re.sub(rf"\\{name}(?![A-Za-z])", lambda m, name=name: _spaced(m, name), out)
    # y_ip_i: LaTeX's one-character subscripts run together, y_i p_i; with two underscores in one
    # run the text has no other reading (w_kj, one subscript, stays one name)
    while _RUN_TOGETHER.search(out):
        out = _RUN_TOGETHER.sub(r"\1_\2 \3", out)
    out = re.sub(r"[ \t\r\n]+", " ", _TRANSPOSE.sub("ᵀ", out)).strip()
    unknown = [c for c in re.findall(r"\\[A-Za-z]+", out) if c not in _READ_COMMANDS]
    if unknown:
        raise InvalidAnswer(f"cannot read {unknown[0]!r} here; write the answer with + - * / ^, \\frac{{a}}{{b}}, "
                            "\\sqrt{a}, \\sum_k and named functions")
    bad = sorted({ch for ch in out if not (32 <= ord(ch) < 127 or ch in "ᵀ⊙⋆⊗←𝟙\n\t")})
    if bad:
        shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad[:3])
        raise InvalidAnswer(f"unexpected character {shown}; use plain letters, digits and + - * / ^ ( )")
    return out


_SPACE_TABLE = str.maketrans(_SPACES)
# Public spellings, each respelt as one the rest of normalise reads (pattern, replacement), in order.
_RESPELLINGS = [
    (re.compile(r"\{\s*\\(?:rm|bf|it|sf|tt|cal)\s+([^{}]*)\}"), r"{\1}"),  # d_{\rm model}: plain TeX's font switch
    (re.compile(r"\\mathrel\s*\{\s*([+-])\s*\}\s*="), r"\1="),  # w \mathrel{+}= ...: the augmented assignment, typeset
    (re.compile(r"(?<![A-Za-z0-9_\\])([A-Za-z]+)_(hat|bar|tilde)(?![A-Za-z0-9])"), r"\1\2"),  # y_hat, x_bar: code's ŷ, x̄
    (re.compile(r"\\frac\s*(\d)\s*([A-Za-z]|\\[A-Za-z]+)"), r"\\frac{\1}{\2}"),  # \frac1d, \frac1\sigma: one token each
    (re.compile(r"\\sqrt\s*\{\s*([A-Za-z]+)\s*\}\s*_\s*(\{[^{}]*\}|[A-Za-z0-9])"), r"\\sqrt{\1_\2}"),  # \sqrt{d}_k
    # W^\top_2, x^2_i: LaTeX takes a superscript and a subscript in either order (W_2^\top, x_i^2)
    (re.compile(r"([A-Za-z]+)\s*\^\s*(\\top(?![A-Za-z])|\\intercal(?![A-Za-z])|\{\s*(?:\\top|T|\d+)\s*\}|T|\d)\s*_\s*"
                r"(\{[^{}]*\}|[A-Za-z0-9])"), r"\1_\3^\2"),
    (re.compile(r"\\log\s*_\s*(?:\{\s*e\s*\}|e(?![A-Za-z0-9]))"), r"\\ln "),  # \log_e: the natural log
    (re.compile(r"(?<![A-Za-z0-9_])\\?log\s*_\s*(?:\{\s*(2|10)\s*\}|(2)(?![0-9])|(10))"), r"log\1\2\3 "),  # log_2: np.log2
    (re.compile(r"_\s*\{\s*\(([^(){}]+)\)\s*\(([^(){}]+)\)\s*\}"), r"_{\1,\2}"),  # X_{(i+u-1)(j+v-1)}
    (re.compile(r"(?:\\Delta(?![A-Za-z])|Δ)\s*([a-z][A-Za-z]*)"), r"Delta\1"),  # \Delta w_{kj}: one quantity, a change
    # A.mT, A.t(), A.transpose(), A.transpose(-2, -1): NumPy's and torch's transposes
    (re.compile(r"\.(?:mT(?![A-Za-z0-9_])|t\(\s*\)|transpose\(\s*(?:-2\s*,\s*-1|-1\s*,\s*-2|0\s*,\s*1|1\s*,\s*0)?\s*\))"), "ᵀ"),
    (re.compile(r"\^\s*T(?=[A-Z]|d[A-Z])"), "ᵀ "),  # A^TG: LaTeX's superscript is one letter, A^T G
    (re.compile(r"(\\mathbb\s*\{\s*[1I]\s*\}|\\mathbf\s*\{\s*1\s*\}|𝟙)\s*_\s*\{\s*\\\{(.*?)\\\}\s*\}"), r"\1\\{\2\\}"),
    (re.compile(r"\\?(?<![A-Za-z])(max|min)\s*\\\{((?:[^{}]|\{[^{}]*\})*?)\\\}"), r"\1(\2)"),  # \max\{x_1, x_2\}: a set's max
]
# A trailing range of the free index, as notes write it: ", i = 1, \dots, n", "(1 \le i \le n)", "\text{ for } i = 1, ..., n".
# (Possessive quantifiers throughout: a long run of spaces must not be tried every way it can be split.)
_SEPARATOR = r"(?:\s|\\[,;:!]|\\q?quad(?![A-Za-z])|~|,)*+"
_RANGE_CLAUSE = re.compile(
    r"(?<![\s,~])" + _SEPARATOR + r"(?:\\(?:text|mbox|mathrm)\s*+\{\s*+(?:for|for all|for each|for every)\s*+\}|for(?:\s++(?:all|each|every))?|"
    r"\\forall)?\s*+(\()?\s*+(?:([a-z])\s*+=\s*+[01]\s*+,\s*+(?:\\[lc]?dots|\.\.\.|…)\s*+,|[01]\s*+(?:\\leq?|<=|≤)\s*+([a-z])\s*+"
    r"(?:\\leq?|<=|≤))\s*+[A-Za-z][A-Za-z0-9_{}]*+(?:\s*+[-+]\s*+\d+)?\s*+(?(1)\))\s*+[.,]?$")


def _respelled(text: str) -> str:
    """Spellings seen in public answers, respelt as the ones normalise reads: each says the same thing
    (a font switch, LaTeX's one-token arguments, a code name for a decoration, NumPy's transposes).

    >>> _respelled(r"d_{\\rm model}/2 + y_hat + \\frac1d + W^\\top_2 + \\sqrt{d}_k")
    'd_{model}/2 + yhat + \\\\frac{1}{d} + W_2^\\\\top + \\\\sqrt{d_k}'
    >>> _respelled(r"p_i - y_i, \\quad i = 1, \\dots, n")
    'p_i - y_i forall i'
    """
    for pattern, replacement in _RESPELLINGS:
        text = pattern.sub(replacement, text)
    if re.search(r"\\begin\s*\{\s*(?:[dr]?cases|array)", text):  # x_j, \\ 0, & \text{otherwise.}: a sentence's commas
        text = re.sub(r"[,.;]\s*(?=\\\\|\\end\s*\{)", "", text)
        text = re.sub(r"(otherwise|else)\s*[.,;]", r"\1", text)
    ranged = _RANGE_CLAUSE.search(text)
    if ranged and ranged.start() > 0:
        text = f"{text[:ranged.start()].rstrip().rstrip(',')} forall {ranged.group(2) or ranged.group(3)}"
    return text


def _unwrapped(text: str) -> str:
    """The answer without a wrapper around all of it ($...$, $$...$$, \\[...\\], \\(...\\)) or a full
    stop after it: typesetting, not mathematics."""
    # "Answer: ...", "**Final answer:** ...", "The gradient is $...$." (a chat's reply, Markdown)
    text = re.sub(r"^\**\s*(?:final\s+)?(?:answer|solution|result|ans)\s*\**\s*[:=]\s*\**\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^(?:so|thus|therefore|hence|the\s+(?:final\s+)?(?:answer|gradient|derivative|result|update|bound)\s+is)"
                  r"\s*[:,]?\s*(?=\$)", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s*(?:\\[,;: ]\s*)*\\(?:text|mathrm)\s*\{\s*[.,]\s*\}$", "", text)  # x_i \text{.}: a full stop, typeset
    # a sentence's full stop after the maths ($...$.), and quotes or code marks around it ("...", `...`)
    text = text[:-1].rstrip() if text.endswith(("$.", "$,", r"\].", r"\),")) else text
    for opening, closing in _QUOTES:
        if text.startswith(opening) and text.endswith(closing) and len(text) > len(opening) + len(closing):
            text = text[len(opening):len(text) - len(closing)].strip()
            break
    for opening, closing in _DELIMITERS:
        if text.startswith(opening) and text.endswith(closing) and len(text) >= len(opening) + len(closing):
            text = text[len(opening):len(text) - len(closing)].strip()
            break
    text = _unboxed(text)
    text = re.sub(r"^=\s*(?=\S)", "", text)  # "= p_i - y_i": the last line of a derivation
    remark = _REMARK.search(text)
    if remark and re.search(r"[A-Za-z]{2,}", remark.group(1)) and not re.match(  # \text{ mistakes}, \text{(natural log)}
            r"\s*(?:for|forall|otherwise|else|where|with|if|when)(?![A-Za-z])", remark.group(1)):  # words the language reads
        raise InvalidAnswer(f"the remark {remark.group(1).strip()[:30]!r} after the answer is not read (a remark can change "
                            "what the answer means): write the answer alone")
    full_stop = text.endswith((".", ",")) and not text.endswith(("..", r"\right."))
    return text[:-1].rstrip() if full_stop else text


# Words in \text{...} at the very end, after the maths: a remark, not a quantity (a space or bracket in it)
_REMARK = re.compile(r"(?<=\S)(?:\s|\\q?quad(?![A-Za-z])|\\[,;: ])*\\(?:text|mbox|textrm|textit)\s*"
                     r"\{((?=[^{}]*[ (])[^{}]*)\}\s*$")
_BOX = re.compile(r"\\(?:boxed|fbox|textcolor\s*\{[A-Za-z]*\}|color\s*\{[A-Za-z]*\})\s*\{|\\color\s*\{[A-Za-z]*\}")


def _unboxed(text: str) -> str:
    """``\\boxed{...}`` (a chat's final answer), ``\\color{red}{...}``, ``\\textcolor{red}{...}`` as what they
    hold: presentation, not mathematics (a brace group is kept, so grouping is unchanged).

    >>> _unboxed(r"\\boxed{\\frac{a}{b}} + {\\color{red} c}")
    '{\\\\frac{a}{b}} + { c}'
    """
    for _ in range(8):  # a few inside one another
        found = _BOX.search(text)
        if found is None:
            return text
        if not found.group(0).endswith("{"):  # {\color{red} c}: the switch alone goes
            text = text[:found.start()] + text[found.end():]
            continue
        depth, end = 1, found.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0) if text[end - 1] != "\\" else 0
            end += 1
        if found.start() == 0 and depth == 0 and not text[end:].strip(" .,"):  # the whole answer boxed
            return text[found.end():end - 1].strip() + text[end:]
        text = text[:found.start()] + "{" + text[found.end():]
    return text


def _spaced(match: re.Match[str], word: str) -> str:
    """``word`` in place of the match, spaced from a letter or digit against it: d\\sigma is d sigma and
    g_j\\hat{x}_j is g_j xhat_j (LaTeX ends a command's name where its letters end), not one name."""
    text, start, end = match.string, match.start(), match.end()
    before = " " if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "'") else ""
    after = " " if end < len(text) and text[end].isalnum() else ""
    return before + word + after


def _unwrap_font(match: re.Match[str]) -> str:
    """\\mathbf{W} as W, spaced from a letter or digit on either side so that \\mathbf{W}\\mathbf{x}
    stays two names (W x), while \\mathbf{x}_i keeps its subscript."""
    inner = match.group(2) if match.group(2) is not None else match.group(3)
    before = " " if match.group(1) and (match.group(1).isalnum()) else ""
    after = " " if match.group(4) and (match.group(4).isalnum() or match.group(4) == "\\") and inner != "d" else ""
    return before + inner + after


def _sum_token(match: re.Match[str]) -> str:
    """One written sum as the grammar's SUM token, ``sum_k``, ``sum_{k=LOW}^{HIGH}`` or
    ``sum_{k!=i}^{HIGH}`` (no ``^`` part: up to the index's size); the builder reads the bounds.
    ``\\sum_{i,j}`` is one sum over each index, and ``\\sum_{k \\in S}`` the index's whole range (a
    problem's index runs over one set)."""
    written = match.group(1)
    if written is not None and _IN.search(written):
        index, known = _IN.split(written)[0].strip(), _IN_SET.search(written)
        if known is None or (known.group(1) and known.group(2) != index):  # \in i: a letter is no set's name
            raise InvalidAnswer(rf"cannot read the set in \sum_{{{written.strip()[:30]}}}: a sum over k \in S runs over "
                                r"k's whole range; write \sum_{k \in S}, \sum_{k \neq i} or \sum_{k=1}^{n}")
        written = index + (f"!={known.group(3)}" if known.group(1) else "")
        if match.group(3) is not None or match.group(4) is not None:
            raise InvalidAnswer(r"a sum over k \in S has no upper bound; write \sum_{k \in S} or \sum_{k=1}^{n}")
    subscript = match.group(2) or re.sub(r"\s+", "", re.sub(_NOT, "!=", written or ""))
    upper = match.group(3) if match.group(3) is not None else match.group(4) or ("T" if match.group(5) else None)
    top = "" if upper is None else "^{" + re.sub(r"\s+", "", upper) + "}"
    from_one = re.fullmatch(r"([a-z]'?)=(\w+),\1!=([a-z]'?)", subscript)  # \sum_{k=1, k \neq i}^{n}
    if from_one:
        if from_one.group(2) != "1":
            raise InvalidAnswer(f"a sum from {from_one.group(2)} except one term is not read; write the sum from "
                                f"{from_one.group(2)}, minus the term")
        subscript = f"{from_one.group(1)}!={from_one.group(3)}"
    several = re.fullmatch(r"([a-z]'?(?:,[a-z]'?)+)(=[^=]+)?", subscript)
    if several:  # \sum_{i,j}, \sum_{i,j=1}^{n}: nested sums, one per index
        start = several.group(2) or ""
        return "".join(_sum_token(re.fullmatch(_SUM, f"sum_{{{letter}{start}}}{top}")) for letter in
                       several.group(1).split(","))
    if re.fullmatch(r"[a-z]'?", subscript):
        return f"sum_{{{subscript}}} " if not top else f"sum_{{{subscript}=1}}{top} "
    excluded = re.fullmatch(r"([a-z]'?)!=([a-z]'?)", subscript)
    if excluded:
        return f"sum_{{{excluded.group(1)}!={excluded.group(2)}}}{top} "
    start = re.fullmatch(r"([a-z]'?)=([^=]+)", subscript)
    if start is None:
        raise InvalidAnswer(f"cannot read the sum's subscript {{{subscript[:20]}}}; write e.g. sum_k, "
                            r"\sum_{k=1}^{n} or \sum_{k \neq i}")
    return f"sum_{{{subscript}}}{top} "


@cache
def _parser(start: str = "start") -> Lark:
    """The grammar's LALR parser: ``start`` for an answer, ``program`` for a forward (graphs/expression.py)."""
    grammar = (Path(__file__).parent / "answer.lark").read_text(encoding="utf-8")
    # positions: to quote a construct
    return Lark(grammar, start=start, parser="lalr", maybe_placeholders=False, propagate_positions=True)


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
    # A rank-1 indexed symbol written whole, under its own name: p for the vector of the p_i
    # (p -> MatrixSymbol("p", n, 1)); an entrywise answer may be given in vector form.
    vectors: dict[str, sp.MatrixSymbol] | tuple = ()
    # Functions the problem's forward applies, by (function, argument's name) -> the name of the
    # result: ("softmax", "z") -> "p" reads softmax(z) as the vector p and softmax(z)_i as p_i.
    applications: dict[tuple[str, str], str] | tuple = ()
    # The function f stands for where the problem's activation is known ("sigma"): f(x), f'(x).
    activation: str = ""
    # How * between two matrices reads: "product" (the matrix product, as in mathematics) or
    # "elementwise" (NumPy's and PyTorch's *); between a number and anything it is the product.
    star: str = "product"
    # What the problem asks for, as a left-hand side may name it: ("delta", 1) for delta_k,
    # ("d/dnet", -1) for -dE/dnet_k = delta_k, ("d/dz", 1) for dL/dz_i (see ``named``).
    asks: tuple[tuple[str, int], ...] = ()
    # Each indexed symbol's own index letters, as the problem writes it (H -> "j", w -> "kj"), for
    # messages that list the symbols; without it a symbol is shown with the first letter.
    letters: dict[str, str] | tuple = ()
    _bases: dict[str, sp.IndexedBase] = field(default_factory=dict, compare=False)
    # What the answer's own "where" clause defines: a name -> (its index symbols, its value).
    _defined: dict[str, tuple[tuple[sp.Symbol, ...], sp.Basic]] = field(default_factory=dict, compare=False)
    # Within one answer: each capital written as a sum's bound that names nothing here -> the size it
    # was read as (K in sum_{j=1}^{K}); one capital stands for one size (parse gives each answer a new one).
    _capitals: dict[str, sp.Symbol] = field(default_factory=dict, compare=False)

    def lookup(self, name: str) -> sp.Basic:
        """The SymPy object a written name stands for, or ``InvalidAnswer`` (with a "did you mean" where a
        known symbol differs only in case or a decoration).

        >>> words = Vocabulary(indexed={"T": 1, "O": 1}, indices={"k": "n", "i": "n"})
        >>> words.lookup("delta_{ik}")
        KroneckerDelta(i, k)
        >>> Vocabulary(scalars={"d_k": sp.Integer(3)}).lookup("d_{k}")
        3
        >>> words.lookup("t_k")
        Traceback (most recent call last):
        ...
        verify.homework.language.InvalidAnswer: unknown symbol 't_k'; did you mean T_k? This problem uses T_k, O_k
        """
        scalars, matrices = dict(self.scalars), dict(self.matrices)
        name = name.removesuffix(_SHADOW) if name.endswith(_SHADOW) and name[: -len(_SHADOW)] in scalars | matrices else name
        if self._defined and name.partition("_")[0] in self._defined:
            return self._definition(name)
        braced = re.fullmatch(r"([A-Za-z]+)_\{([A-Za-z0-9]+)\}", name)
        if braced and f"{braced[1]}_{braced[2]}" in scalars | matrices:  # d_{k}, W_{2}, d_{model}: LaTeX's braces
            name = f"{braced[1]}_{braced[2]}"
        if name in matrices:  # W_2: a declared matrix whose name has a subscript
            return matrices[name]
        base, _, subscript = name.partition("_")
        if not subscript:
            if name in scalars:
                return scalars[name]
            if name in dict(self.vectors):  # p: the vector of the p_i
                return dict(self.vectors)[name]
            if name == "e":
                return sp.E
            raise InvalidAnswer(self._unknown(name))
        indexed = dict(self.indexed)
        if base not in indexed:
            if name in scalars:  # a declared scalar whose name has a subscript, like d_k
                return scalars[name]
            if base == "delta" and "delta" not in scalars:  # \delta_{ij}: Kronecker's, where no delta is declared
                return self._kronecker(name, subscript)
            raise InvalidAnswer(self._unknown(name))
        parts = _subscript_parts(subscript)
        if len(parts) != indexed[base]:
            raise InvalidAnswer(f"{base} takes {indexed[base]} index{'es' if indexed[base] != 1 else ''}; got {name!r}")
        indices = self.ranges()  # the problem's letters first, then any the student may bind by a sum
        args = []
        for part in parts:
            args.append(self._index(part, name, indices, len(dict(self.indices))))
        if base not in self._bases:
            self._bases[base] = sp.IndexedBase(base, real=True)
        return self._bases[base][tuple(args)]

    def _definition(self, name: str) -> sp.Basic:
        """A name the answer's where clause defines: its value, at the indices written (s_k for s_i = ...)."""
        base, _, subscript = name.partition("_")
        params, value = self._defined[base]
        others = replace(self, _defined={k: v for k, v in self._defined.items() if k != base})
        if not subscript:
            if params:
                raise InvalidAnswer(f"{base} is defined with {len(params)} index(es); write {base}_{params[0]}")
            return value
        if not params:
            if _is_matrix(value):
                return _entry(value, "_" + subscript, others)
            raise InvalidAnswer(f"{base} is defined without an index; write {base}")
        parts = _subscript_parts(subscript)
        if len(parts) != len(params):
            raise InvalidAnswer(f"{base} is defined with {len(params)} index(es); got {name!r}")
        values = [self._index(part, name, self.ranges()) for part in parts]
        return value.subs(dict(zip(params, values, strict=True)), simultaneous=True)

    def _kronecker(self, name: str, subscript: str) -> sp.Expr:
        letters = subscript.strip("{}").replace(" ", "")
        parts = letters.split(",") if "," in letters else re.findall(r"[A-Za-z0-9]'?", letters)
        if len(parts) != 2 or "".join(parts) != letters.replace(",", ""):
            raise InvalidAnswer(f"{name!r}: the Kronecker delta takes two indices, as in delta_{{ij}}")
        i, j = (self._index(part, name, self.ranges()) for part in parts)
        return sp.KroneckerDelta(i, j)

    def _unknown(self, name: str) -> str:
        """The message for a name the problem does not declare, with the known symbol it most likely
        means: the same letters in another case (t_k for T_k), or with or without a decoration (x_i for
        xhat_i)."""
        sized = [known for known in dict(self.scalars) if name == "d" and known.startswith("d_")]
        if sized:  # d for d_k or d_model: a size the problem names in full, not a derivative
            return f"unknown symbol 'd'; did you mean {sized[0]}? This problem uses {self.known()}"
        if name.split("_")[0] in ("partial", "nabla", "d"):
            return (f"cannot read {name!r}: write what the derivative equals (an expression in this problem's symbols), "
                    "optionally after 'dL/dx =', not the derivative itself")
        base, _, subscript = name.partition("_")
        bases = [*dict(self.scalars), *dict(self.matrices), *dict(self.indexed), *dict(self.vectors)]
        stems = {base.removesuffix(d) for d in ("hat", "bar", "tilde")} | {base + d for d in ("hat", "bar", "tilde")}
        guess = next((b for b in bases if b != base and b.partition("_")[0].lower() == base.lower()
                      and b.partition("_")[2] in ("", subscript)), None)
        guess = guess or next((b for b in bases if b in stems - {base}), None)
        hint = ""
        if guess is not None:
            hint = f"did you mean {guess + ('_' + subscript if subscript and guess in dict(self.indexed) else '')}? "
        return f"unknown symbol {name!r}; {hint}{'This' if hint else 'this'} problem uses {self.known()}"

    @staticmethod
    def _index(part: str, name: str, indices: Mapping[str, str], shown_count: int = 0) -> sp.Expr:
        """One subscript: a number, an index, a primed index (j', a fresh index with j's range), or a
        sum of them like ``i+u-1`` (read here, never evaluated)."""
        terms = re.findall(r"([+-]?)([A-Za-z]+'?|\d+)", part)
        if not terms or "".join(sign + term for sign, term in terms) != part or len(terms) > 4:
            raise InvalidAnswer(f"cannot read the subscript {part!r} in {name!r}; write indices like i, 2 or i+u-1")
        total = sp.Integer(0)
        for sign, term in terms:
            if term.isdigit():
                value: sp.Expr = sp.Integer(min(int(term), 10**6))
            elif term.rstrip("'") in indices:
                value = _index_symbol(term)
            else:
                shown = ", ".join(list(indices)[:shown_count] if shown_count else indices) or "none"
                raise InvalidAnswer(f"unknown index {term!r} in {name!r}; indices here: {shown}")
            total += -value if sign == "-" else value
        return total

    def ranges(self) -> dict[str, str]:
        """Each index letter -> the size it runs to: the problem's, and any other lower-case letter
        that names nothing here (``\\sum_a p_a``: a letter of the student's own, bound by a sum;
        ``parse`` refuses it left free). Where the problem's letters run to different sizes, such a
        letter is given the first of them, and the grader runs a sum over it along what it indexes
        (``\\sum_a A_{aj} G_{ap}`` along A's rows), as it does for every whole-range sum.

        >>> sorted(Vocabulary(indexed={"p": 1}, indices={"i": "n"}).ranges().items())[:2]
        [('a', 'n'), ('b', 'n')]
        """
        indices = dict(self.indices)
        if not indices:
            return indices
        size = next(iter(indices.values()))
        taken = {*dict(self.scalars), *dict(self.matrices), *dict(self.indexed), *dict(self.vectors), "e", size,
                 *(name.partition("_")[0] for name in dict(self.scalars))}
        return {**indices, **{c: size for c in "abcdefghijklmnopqrstuvwxyz" if c not in taken and c not in indices}}

    def index_bound(self, index: str) -> sp.Symbol:
        indices = self.ranges()
        index = index.rstrip("'")  # j' counts like j
        if index not in indices:
            raise InvalidAnswer(f"cannot sum over {index!r}; indices here: {', '.join(indices) or 'none'}")
        return sp.Symbol(indices[index], integer=True, positive=True)

    def bound(self, text: str, index: str) -> sp.Expr:
        """One bound of a sum over ``index``, like ``1``, ``n-1`` or ``i+1``, in terms of the size
        symbols (read here, never evaluated); the range is checked by the caller.

        >>> Vocabulary(indexed={"y": 1}, indices={"k": "n", "i": "n"}).bound("N-1", "k")
        n - 1
        """
        size = self.index_bound(index)
        indices = dict(self.indices)
        terms = re.findall(r"([+-]?)([A-Za-z][A-Za-z0-9_]*|\d+)", text)
        if not terms or "".join(sign + term for sign, term in terms) != text or len(terms) > 4:
            raise InvalidAnswer(f"cannot read the bound {text[:20]!r} of the sum over {index}; "
                                f"write bounds like 1, {size}, {size}-1 or i+1")
        taken = {*dict(self.scalars), *dict(self.matrices), *dict(self.indexed), *indices.values()}
        total = sp.Integer(0)
        for sign, term in terms:
            if term.isdigit():
                value: sp.Expr = sp.Integer(min(int(term), 10**6))
            elif term == size.name or (term in (index.upper(), size.name.upper()) or len(term) == 1 and term.isupper()) \
                    and term not in taken:  # n; K for k's size; \sum_{j=1}^{K} with K classes, if K names nothing
                if term != size.name and self._capitals.setdefault(term, size) != size:
                    raise InvalidAnswer(f"{term} bounds sums over indices of different sizes ({self._capitals[term]} "
                                        f"and {size}): write each sum's own bound")
                value = size  # n, or the conventional capital (K for k, N for n) nothing else here is called
            elif term in indices.values() or term in indices and term != index:
                value = sp.Symbol(term, integer=True, positive=True)  # another size or index: the range check decides
            elif term in dict(self.scalars) and getattr(dict(self.scalars)[term], "is_Integer", False):
                value = dict(self.scalars)[term]  # a size the problem declares as a number
            else:
                raise InvalidAnswer(f"unknown {term!r} in the bounds of the sum over {index}; {index} counts from 1 to {size}")
            total += -value if sign == "-" else value
        return total

    def known(self) -> str:
        """The symbols a student may write, indexed ones with this problem's first index letter (a
        two-index symbol's order is the problem's to say: its statement does).

        >>> Vocabulary(indexed={"T": 1, "O": 1}, indices={"k": "O"}).known()
        'T_k, O_k'
        >>> Vocabulary(indexed={"H": 1, "w": 2}, indices={"j": "H", "k": "O"}).known()
        'H_j, w (two indices: j, k)'
        >>> Vocabulary(indexed={"H": 1, "w": 2}, indices={"k": "O", "j": "H"}, letters={"H": "j", "w": "kj"}).known()
        'H_j, w_kj'
        """
        letters, own = list(dict(self.indices)) or ["i", "j"], dict(self.letters)
        matrices = dict(self.matrices)
        indexed = [f"{b}_{own[b]}" if b in own else f"{b}_{letters[0]}" if r == 1
                   else f"{b} (two indices: {', '.join(letters)})"
                   for b, r in dict(self.indexed).items() if b not in matrices]  # A read entry by entry is A
        names = [*dict(self.scalars), *matrices, *indexed]
        return ", ".join(names) or "no symbols"


def _subscript_parts(subscript: str) -> list[str]:
    """A subscript's indices: ``kj``, ``{k,j}``, ``{i+u-1,j+v-1}``, ``{j'}``."""
    letters = subscript.strip("{}").replace(" ", "")
    return (letters.split(",") if "," in letters else [letters] if any(c in letters for c in "+-")
            else re.findall(r"[A-Za-z0-9]'?", letters))


def _index_symbol(letter: str) -> sp.Symbol:
    """An index's SymPy symbol; a primed one (j') is a fresh index named jprime, a valid identifier
    (a symbol's name may reach generated code)."""
    return sp.Symbol(letter.rstrip("'") + "prime" * letter.count("'"), integer=True, positive=True)


def _is_matrix(x: sp.Basic) -> bool:
    return bool(getattr(x, "is_Matrix", False))


def _is_vector(x: sp.Basic) -> bool:
    """A column or row. (Of any matrix, 1 - A, A / B and exp(A) are read entry by entry, as NumPy and
    the forwards of verify/expression.py read them: never I - A or the matrix exponential.)"""
    return _is_matrix(x) and 1 in (x.shape[0], x.shape[1])


class CrossCorrelation(sp.MatrixExpr):
    """``X ⋆ G``: the valid cross-correlation, entry (u, v) = sum_ij G_ij X_{i+u, j+v} (0-based),
    of shape (rows X - rows G + 1) x (cols X - cols G + 1): a convolution's weight gradient.

    >>> X, G = sp.MatrixSymbol("X", 3, 3), sp.MatrixSymbol("G", 2, 2)
    >>> CrossCorrelation(X, G).shape, CrossCorrelation(X, G)._entry(0, 1)
    ((2, 2), G[0, 0]*X[0, 1] + G[0, 1]*X[0, 2] + G[1, 0]*X[1, 1] + G[1, 1]*X[1, 2])
    """

    def __new__(cls, signal: sp.MatrixExpr, kernel: sp.MatrixExpr) -> Self:
        return super().__new__(cls, signal, kernel)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        (rows, cols), (krows, kcols) = self.args[0].shape, self.args[1].shape
        return rows - krows + 1, cols - kcols + 1

    def _entry(self, i: int, j: int, **kwargs: object) -> sp.Expr:  # SymPy calls it with an entry
        signal, kernel = self.args
        return sp.Add(*[kernel[a, b] * signal[i + a, j + b]
                        for a in range(int(kernel.shape[0])) for b in range(int(kernel.shape[1]))])


def _softmax(m: sp.MatrixExpr) -> sp.MatrixExpr:
    """softmax of a matrix expression the forward does not name (softmax(Q K^T / sqrt(d_k))): of a
    vector over its entries, of a matrix row by row (attention's, along the last axis).

    >>> S = sp.MatrixSymbol("S", 2, 2)
    >>> sp.Matrix(_softmax(S).as_explicit())[0, 0] == sp.exp(S[0, 0]) / (sp.exp(S[0, 0]) + sp.exp(S[0, 1]))
    True
    """
    from derive.notation import RowSum

    u = sp.Dummy("u")
    e = ElementwiseApplyFunction(sp.Lambda(u, sp.exp(u)), m)
    rows, cols = m.shape
    total = (sp.OneMatrix(rows, rows) * e if cols == 1 else e * sp.OneMatrix(cols, cols) if rows == 1
             else RowSum(e))  # each entry's normaliser, in the entry's place
    return sp.HadamardProduct(e, sp.HadamardPower(total, -1))


def _side_by_side(left: sp.Basic, right: sp.Basic) -> bool:
    """Two vectors of one shape, which no matrix product joins (3 x 1 by 3 x 1): a product of them has
    only the entrywise reading, as 1 - x and x / y of a vector do.

    >>> g = sp.MatrixSymbol("g", 3, 1)
    >>> _side_by_side(g, g), _side_by_side(g, g.T), _side_by_side(sp.MatrixSymbol("a", 1, 1), sp.MatrixSymbol("b", 1, 1))
    (True, False, False)
    """
    return _is_vector(left) and _is_vector(right) and left.shape == right.shape and left.shape != (1, 1)


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


_FUNCTIONS = {
    "identity": lambda x: x,  # a linear unit's activation (Vocabulary.activation = "identity"): f(x) = x, f'(x) = 1
    "exp": sp.exp, "log": sp.log, "ln": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sigmoid": _sigmoid,
    "sigma": _sigmoid, "relu": lambda x: sp.Max(0, x),
    "log2": lambda x: sp.log(x) / sp.log(2), "log10": lambda x: sp.log(x) / sp.log(10),  # np.log2, \log_2
}


class MaxOver(sp.Expr):
    """``\\max_j f(j)``: the largest of f over j's range, kept unevaluated while the range's size is a
    symbol. Its arguments are f and ``Sum(1, (j, 1, n))``, which carries the range, so that a grader
    writing out the answer's sums (``.has(sp.Sum)`` then ``.doit()``, rebinding a sum's range) writes
    this out too: ``.doit()`` at a concrete size is ``sp.Max`` of the terms.

    >>> x, j = sp.IndexedBase("x", real=True), sp.Symbol("j", integer=True, positive=True)
    >>> MaxOver(x[j], (j, 1, 3)).doit()
    Max(x[1], x[2], x[3])
    """

    _extremum: type = sp.Max
    _word = "max"
    is_commutative = True

    def __new__(cls, function: sp.Expr, span: sp.Sum | tuple) -> Self:
        span = span if isinstance(span, sp.Sum) else sp.Sum(sp.Integer(1), span)  # a range, never a value
        return sp.Expr.__new__(cls, function, span)

    @property
    def function(self) -> sp.Expr:
        return self.args[0]

    @property
    def limits(self) -> tuple:
        return self.args[1].limits

    @property
    def free_symbols(self) -> set[sp.Basic]:  # the index is bound, as a sum's is
        index = self.limits[0][0]
        return {s for s in self.function.free_symbols if index not in s.free_symbols} | self.args[1].free_symbols

    def doit(self, **hints: object) -> sp.Basic:
        function = self.function.doit(**hints) if hints.get("deep", True) else self.function
        ((k, low, high),) = self.limits
        if not (low.is_Integer and high.is_Integer) or not 0 <= int(high) - int(low) < 10_000:
            return self.func(function, self.args[1])
        return self._extremum(*[function.subs(k, v) for v in range(int(low), int(high) + 1)])

    def _sympystr(self, printer: object) -> str:
        k = self.limits[0][0]
        return f"{self._word}_{k}({printer._print(self.function)})"  # type: ignore[attr-defined]

    def _latex(self, printer: object) -> str:
        k = self.limits[0][0]
        return rf"\{self._word}_{{{printer._print(k)}}} {printer._print(self.function)}"  # type: ignore[attr-defined]


class MinOver(MaxOver):
    """``\\min_j f(j)``; see ``MaxOver``."""

    _extremum = sp.Min
    _word = "min"


class AtExtremum(BooleanFunction):
    """``x_i = \\max_j x_j``: x_i is the largest of them. ``.doit()`` at a concrete size, where the max is
    ``sp.Max`` of terms among which x_i is, gives x_i >= each other term (as ``ismax`` does)."""

    @classmethod
    def eval(cls, value: sp.Expr, extremum: sp.Expr) -> None:  # kept as written until doit
        return None

    def doit(self, **hints: object) -> sp.Basic:
        value, extremum = (a.doit(**hints) for a in self.args)
        return _at_extremum(value, extremum) if not isinstance(extremum, MaxOver) else self.func(value, extremum)

    def _sympystr(self, printer: object) -> str:
        return f"{printer._print(self.args[0])} = {printer._print(self.args[1])}"  # type: ignore[attr-defined]

    def _latex(self, printer: object) -> str:
        return f"{printer._print(self.args[0])} = {printer._print(self.args[1])}"  # type: ignore[attr-defined]


class AllOver(BooleanFunction):
    """``x_i >= x_j \\forall j``: the condition for every value of the index, kept unevaluated while the
    range's size is a symbol. Its second argument is ``Sum(1, (j, 1, n))``, which carries the range so
    that a grader writing out the answer's sums (``.has(sp.Sum)`` then ``.doit()``) writes this out
    too: ``.doit()`` at a concrete size is the ``And`` of the condition at each j.

    >>> x = sp.IndexedBase("x", real=True)
    >>> i, j = (sp.Symbol(s, integer=True, positive=True) for s in "ij")
    >>> AllOver(x[i] >= x[j], sp.Sum(1, (j, 1, 3))).xreplace({i: 1}).doit()
    (x[1] >= x[2]) & (x[1] >= x[3])
    """

    @classmethod
    def eval(cls, condition: sp.Basic, span: sp.Sum) -> None:  # kept as written until doit
        return None

    def doit(self, **hints: object) -> sp.Basic:
        condition, span = self.args
        ((k, low, high),) = span.limits
        if not (low.is_Integer and high.is_Integer) or not 0 <= int(high) - int(low) < 10_000:
            return self
        return sp.And(*[condition.subs(k, v) for v in range(int(low), int(high) + 1)]).doit(**hints)

    @property
    def free_symbols(self) -> set[sp.Basic]:  # the index is bound, as a sum's is
        condition, span = self.args
        index = span.limits[0][0]
        return {s for s in condition.free_symbols if index not in s.free_symbols} | span.free_symbols

    def _sympystr(self, printer: object) -> str:
        return f"({printer._print(self.args[0])} for all {self.args[1].limits[0][0]})"  # type: ignore[attr-defined]

    def _latex(self, printer: object) -> str:
        return rf"{printer._print(self.args[0])} \ \forall {self.args[1].limits[0][0]}"  # type: ignore[attr-defined]


def _at_extremum(value: sp.Expr, extremum: sp.Expr) -> sp.Basic:
    """``value = max(...)`` where value is one of the max's arguments: value >= each of the others."""
    if value == extremum:
        return sp.true
    if isinstance(extremum, (sp.Max, sp.Min)) and value in extremum.args:
        others = [b for b in extremum.args if b != value]
        return sp.And(*[(value >= b) if isinstance(extremum, sp.Max) else (value <= b) for b in others])
    return sp.Eq(value, extremum)


@dataclass(frozen=True)
class _ArgExtremum:
    """``argmax_j x_j`` while it is built: an index, read only where it is compared (``i = argmax_j x_j``)."""

    over: MaxOver


_DERIVATIVES: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "sigma": lambda x: _sigmoid(x) * (1 - _sigmoid(x)), "sigmoid": lambda x: _sigmoid(x) * (1 - _sigmoid(x)),
    "tanh": lambda x: 1 - sp.tanh(x) ** 2, "exp": sp.exp, "log": lambda x: 1 / x, "ln": lambda x: 1 / x,
    "relu": lambda x: sp.Piecewise((1, x > 0), (0, True)), "identity": lambda x: sp.Integer(1),
}
_RELATIONS: dict[str, Callable[[sp.Expr, sp.Expr], sp.Basic]] = {
    "<": sp.Lt, ">": sp.Gt, "<=": sp.Le, ">=": sp.Ge, "!=": sp.Ne,
}


def _broadcast(left: sp.Basic, right: sp.Basic) -> tuple[sp.Basic, sp.Basic]:
    """``dP - rowsum(G ⊙ O)``: a row sum (one number per row) broadcast along the rows of the other
    side, whatever its width (FlashAttention's D, n x d_k summed, against the n x n dP); a number
    added to every entry (``1 - H``); a row added to every row (``1 b^T``) and a column to every
    column, as NumPy and the forwards broadcast. Anything else is left to the shape check."""

    def widened(summed: sp.Basic, other: sp.Basic) -> sp.Basic:
        if not _is_matrix(summed) and _is_matrix(other):  # 1 - H: 1 in each entry, as NumPy and forwards read it
            return summed * sp.OneMatrix(*other.shape)
        if not (_is_matrix(summed) and _is_matrix(other)) or summed.shape == other.shape:
            return summed
        coefficient, rows = _row_sum_of(summed)
        if rows is not None and summed.shape[0] == other.shape[0]:
            inner = rows.args[0]
            return coefficient * inner * sp.OneMatrix(inner.shape[1], other.shape[1])  # X 1 1^T, as wide as the other
        if summed.shape[0] == 1 and summed.shape[1] == other.shape[1] and other.shape[0] != 1:
            return sp.OneMatrix(other.shape[0], 1) * summed  # a row (a bias, 1 b^T) added to every row
        if summed.shape[1] == 1 and summed.shape[0] == other.shape[0] and other.shape[1] != 1:
            return summed * sp.OneMatrix(1, other.shape[1])  # a column (one number per row) to every column
        return summed

    return widened(left, right), widened(right, left)


def _row_sum_of(x: sp.Basic) -> tuple[sp.Expr, sp.Basic | None]:
    """``c rowsum(X)`` as (c, rowsum(X)); (1, None) for anything else."""
    from derive.notation import RowSum

    if isinstance(x, RowSum):
        return sp.Integer(1), x
    if isinstance(x, sp.MatMul):
        coefficient, matrices = x.as_coeff_matrices()
        if len(matrices) == 1 and isinstance(matrices[0], RowSum):
            return coefficient, matrices[0]
    return sp.Integer(1), None


def _star_refusal(message: str) -> InvalidAnswer:
    """A refusal that the other reading of * would avoid (star_matters reads the mark)."""
    refused = InvalidAnswer(message)
    refused.star = True  # type: ignore[attr-defined]
    return refused


class _Build(Transformer_NonRecursive):
    """The parse tree as SymPy, bottom-up, without recursion (a chain of 1,000 terms is fine)."""

    def __init__(self, words: Vocabulary) -> None:
        super().__init__()
        self.words = words
        self.star_between_matrices = False  # for star_matters: did * join two matrices?
        # what the answer states besides itself, for the grader to check (claims): (words, left, right)
        self.claims: list[tuple[str, sp.Basic, sp.Basic]] = []

    def number(self, items: list[Token]) -> sp.Expr:
        value = _decimal(str(items[0]))  # digits, a dot, an exponent, by the grammar; bounded there; never sympify
        return sp.Rational(value.numerator, value.denominator)

    def name(self, items: list[Token]) -> sp.Basic:
        return self.words.lookup(str(items[0]))

    def index_name(self, items: list[Token]) -> sp.Basic:  # an index in a condition: [i = k]
        return _index_symbol(str(items[0]))

    def add(self, items: list) -> sp.Basic:
        left, right = _broadcast(items[0], items[1])
        return _checked(lambda: left + right, left, right, "+")

    def sub(self, items: list) -> sp.Basic:
        left, right = _broadcast(items[0], items[1])
        return _checked(lambda: left - right, left, right, "-")

    def mul(self, items: list) -> sp.Basic:
        left, right = items
        if not (_is_matrix(left) and _is_matrix(right)):
            return _checked(lambda: left * right, left, right, "times")
        # * between two matrices: the problem's rule says which product (Vocabulary.star)
        self.star_between_matrices = True
        product_fits, same_shape = left.shape[1] == right.shape[0], left.shape == right.shape
        if self.words.star == "elementwise":
            if not same_shape and product_fits:
                raise _star_refusal("* is the elementwise product here; write @ (or nothing, as in A B) for the "
                                    "matrix product")
            return self.hadamard([left, None, right])
        if not product_fits and same_shape:
            if _side_by_side(left, right):
                return self.hadamard([left, None, right])
            raise _star_refusal("* is the matrix product here; write ⊙ or .* for the elementwise product")
        return _checked(lambda: left * right, left, right, "times")

    def augmented(self, items: list) -> sp.Basic:  # w -= eta g: the new w, w - eta g
        left, op, right = items
        return self.sub([left, right]) if str(op) == "-=" else self.add([left, right])

    def bracketed(self, items: list[Token]) -> sp.Basic:
        """``p[i]``, ``w[k][j]``, ``w[k,j]``: the entry, where the name is indexed and the brackets hold
        its indices; otherwise the brackets group (``eta[t-y]`` is eta times (t - y))."""
        written = str(items[0])
        base = written[:written.index("[")]
        inside = re.findall(r"\[([^\]]*)\]", written)
        parts = [part.strip() for group in inside for part in group.split(",")]
        indices = dict(self.words.indices)
        is_index = all(re.fullmatch(r"(\d+|[a-z]'?)([+-](\d+|[a-z]'?))*", part) and
                       all(term.rstrip("'") in indices for term in re.findall(r"[A-Za-z]+'?", part)) for part in parts)
        if base in dict(self.words.indexed) and is_index:
            return self.words.lookup(f"{base}_{{{','.join(parts)}}}")
        if len(inside) == 1 and "," not in inside[0]:
            grouped = sp.Integer(0)
            for sign, term in re.findall(r"([+-]?)([A-Za-z]+'?|\d+)", inside[0]):
                value = sp.Integer(int(term)) if term.isdigit() else self.words.lookup(term)
                grouped = _checked(lambda g=grouped, v=value, s=sign: g - v if s == "-" else g + v, grouped, value, "+")
            return self.juxtapose([self.words.lookup(base), grouped])
        raise InvalidAnswer(f"cannot read {written[:30]!r}: write an entry as {base}_{{i,j}} or {base}[i][j], "
                            "and * before brackets that group")

    def call_entry(self, items: list) -> sp.Basic:  # softmax(z)_i with softmax(z) not a known vector: refused
        raise InvalidAnswer(f"{items[0]}(...)_i is not a quantity of this problem; write the entry's symbol")

    def applied(self, items: list) -> sp.Basic:
        """``softmax(z)`` where the problem's forward computes it: its result's name, as a vector (p) or,
        with a subscript, an entry (p_i)."""
        function, argument = str(items[0]), str(items[1])
        result = dict(self.words.applications)[(function, argument)]
        if len(items) > 2:
            return self.words.lookup(result + str(items[2]))
        return self.words.lookup(result)

    def derivative(self, items: list) -> sp.Basic:
        """``sigma'(x)``, ``tanh'(x)``, ``f'(x)`` (f the problem's activation): the derivative, written out."""
        function, args = str(items[0]), items[2]
        name = self.words.activation if function == "f" and self.words.activation else function
        if function == "f" and not self.words.activation:
            raise InvalidAnswer("f' is not defined in this problem; write the derivative of the function itself, "
                                "e.g. sigma'(x) or tanh'(x)")
        if name not in _DERIVATIVES or len(args) != 1:
            raise InvalidAnswer(f"{function}' takes one argument, as in {function}'(x); write the derivative itself")
        if _is_vector(args[0]):  # sigma'(net) of the vector: entry by entry, as sigma(net) is
            u = sp.Dummy("u")
            return ElementwiseApplyFunction(sp.Lambda(u, _DERIVATIVES[name](u)), args[0])
        if _is_matrix(args[0]):
            raise InvalidAnswer(f"{function}' of a matrix: apply it to an entry, as in {function}'(x_ij)")
        return _DERIVATIVES[name](args[0])

    def entry_of(self, items: list) -> sp.Basic:
        """``(p - y)_i``: the entry of a vector expression, entry by entry (a sum, a multiple or an
        elementwise product of the problem's vectors); refused where it would need a matrix's row."""
        value, subscript = items[0], str(items[1])
        if not _is_matrix(value):
            raise InvalidAnswer(f"a subscript after brackets takes an entry of a vector, as in (a - b){subscript}")
        return _entry(value, subscript, self.words)

    def frac_entry(self, items: list) -> sp.Basic:  # \frac{a}{b}_i: the entry of a vector fraction
        return self.entry_of([self.div(items[:3]), items[3]])

    def call_power(self, items: list) -> sp.Basic:  # tanh^2(x): (tanh x)^2, as LaTeX writes it
        written = str(items[0])
        function, power = written.split("^")
        return sp.Pow(self.call([Token("FUNC", function), items[1]]), int(power.strip("{}")))

    def indicator(self, items: list) -> sp.Basic:
        condition = items[-1]
        return sp.Piecewise((1, condition), (0, True))

    def condition(self, items: list) -> sp.Basic:
        if isinstance(items[-1], tuple):  # ... \forall j (!= i): the whole condition at every j
            index, other = items[-1]
            k = _index_symbol(index)
            condition = sp.And(*items[:-1])
            if other is not None:
                condition = sp.Or(sp.Eq(k, _index_symbol(other)), condition)
            return AllOver(condition, sp.Sum(sp.Integer(1), (k, 1, self.words.index_bound(index))))
        return sp.And(*items)

    def forall(self, items: list) -> tuple[str, str | None]:
        index = str(items[0])
        if index.rstrip("'") not in dict(self.words.indices):
            raise InvalidAnswer(f"'for all {index}' needs an index; indices here: {', '.join(dict(self.words.indices))}")
        if len(items) > 1:
            if str(items[1]) != "!=" or str(items[2]).rstrip("'") not in dict(self.words.indices):
                raise InvalidAnswer(r"write 'for all j' or 'for all j \neq i' after a condition")
            return (index, str(items[2]))
        return (index, None)

    def comparison(self, items: list) -> sp.Basic:
        left, relation, right = items
        if _is_matrix(left) or _is_matrix(right):
            raise InvalidAnswer("a condition compares numbers, as in x_i > 0; a matrix has no order")
        if str(relation) == "=" and isinstance(left, _ArgExtremum) != isinstance(right, _ArgExtremum):
            # i = argmax_j x_j: x_i is the largest of the x_j
            index, arg = (right, left) if isinstance(left, _ArgExtremum) else (left, right)
            ((k, _, _),) = arg.over.limits
            return AtExtremum(arg.over.function.subs(k, index), arg.over)
        if isinstance(left, _ArgExtremum) or isinstance(right, _ArgExtremum):
            raise InvalidAnswer("argmax is an index: compare it with one, as in [i = argmax_j a_j]")
        if str(relation) == "=":
            if isinstance(right, (MaxOver, sp.Max, sp.Min)) or isinstance(left, (MaxOver, sp.Max, sp.Min)):
                value, extremum = (left, right) if isinstance(right, (MaxOver, sp.Max, sp.Min)) else (right, left)
                return AtExtremum(value, extremum) if isinstance(extremum, MaxOver) else _at_extremum(value, extremum)
            return sp.Eq(left, right)
        return _RELATIONS[str(relation)](left, right)

    def case_when(self, items: list) -> tuple:
        return (items[0], items[1])

    def case_otherwise(self, items: list) -> tuple:
        return (items[0], sp.true)

    def case_rows(self, items: list) -> list:
        return items

    def cases(self, items: list) -> sp.Basic:
        rows = items[-1]
        if any(condition == sp.true for _, condition in rows[:-1]):
            raise InvalidAnswer("'otherwise' is the last row of cases")
        if any(_is_matrix(value) for value, _ in rows):
            raise InvalidAnswer("cases take numbers, one per row; write an entry's cases")
        if rows[-1][1] != sp.true:
            raise InvalidAnswer(r"the cases need a last row for every other case, as in 0 & \text{otherwise}")
        return sp.Piecewise(*rows)

    def extremum_over(self, items: list) -> sp.Basic:
        word, _, index = str(items[0]).partition("_")
        index = index.strip("{}")
        if _is_matrix(items[1]):
            raise InvalidAnswer(f"{word}_{index} of a matrix: write it of an entry, as in {word}_{index} x_{index}")
        k = _index_symbol(index)
        if word == "mean":  # mean_j f(j): the sum over j's range over its size
            size = self.words.index_bound(index)
            return sp.Sum(items[1], (k, 1, size)) / size
        over = (MaxOver if word.endswith("max") else MinOver)(items[1], (k, 1, self.words.index_bound(index)))
        return _ArgExtremum(over) if word.startswith("arg") else over

    def _over_vector(self, function: str, vector: sp.MatrixSymbol) -> sp.Basic:
        """max(x) of a vector: the max of its entries over a fresh index (x') of its length's range."""
        indices = dict(self.words.indices)
        sizes = set(indices.values())  # a concrete length: the problem's one size, if it has one
        size = str(vector.shape[0]) if not vector.shape[0].is_Integer or len(sizes) != 1 else next(iter(sizes))
        letter = next((i for i, n in indices.items() if n == size), None)
        if letter is None:
            raise InvalidAnswer(f"{function}({vector.name}): write the {function} over an index, as in "
                                f"\\{function}_j {vector.name}_j")
        k = _index_symbol(letter + "'")
        entry = self.words.lookup(f"{vector.name}_{{{letter}'}}")
        return (MaxOver if function == "max" else MinOver)(entry, (k, 1, self.words.index_bound(letter)))

    def ternary(self, items: list) -> sp.Basic:  # a if cond else b
        value, condition, _, other = items
        return self.cases([[(value, condition), (other, sp.true)]])

    def juxtapose(self, items: list) -> sp.Basic:  # a written number after a factor is refused in parse()
        if _side_by_side(items[0], items[1]):  # gamma g of two vectors (llm.c's layer norm): entry by entry
            return self.hadamard([items[0], None, items[1]])
        return _checked(lambda: items[0] * items[1], items[0], items[1], "times")

    def matmul(self, items: list) -> sp.Basic:
        return _checked(lambda: items[0] * items[1], items[0], items[1], "times")

    def div(self, items: list) -> sp.Basic:
        items = [i for i in items if not isinstance(i, Token)]
        if _is_matrix(items[1]):  # p / q, X / s (s one number per row): entry by entry, broadcast as + is
            top, bottom = _broadcast(items[0], items[1])
            if _is_matrix(top) and top.shape == bottom.shape:
                return sp.HadamardProduct(top, sp.HadamardPower(bottom, -1))
            raise InvalidAnswer("cannot divide by a matrix")
        return _checked(lambda: items[0] / items[1], items[0], items[1], "/")

    def xcorr(self, items: list) -> sp.Basic:
        """``X ⋆ G`` (``\\star``): the valid cross-correlation of X with G, entry (u, v) the sum over
        G's entries of G_ij X_{i+u-1, j+v-1}: conv's weight gradient as CNN notes write it."""
        left, right = items[0], items[2]
        if not (_is_matrix(left) and _is_matrix(right)):
            raise InvalidAnswer("⋆ (cross-correlation) takes two matrices, as in X ⋆ G")
        if any((a - b).is_negative for a, b in zip(left.shape, right.shape)):
            raise InvalidAnswer(f"{_words(left)} ⋆ {_words(right)}: the second must fit inside the first "
                                f"({right.shape[0]} x {right.shape[1]} in {left.shape[0]} x {left.shape[1]})")
        return CrossCorrelation(left, right)

    def outer(self, items: list) -> sp.Basic:  # delta ⊗ H: delta H^T
        return _numpy_product("outer", [items[0], items[2]])

    def hadamard(self, items: list) -> sp.Basic:
        left, right = items[0], items[2]
        if not (_is_matrix(left) and _is_matrix(right)):
            return _checked(lambda: left * right, left, right, "⊙")
        left, right = _broadcast(left, right)  # X ⊙ (1 g^T): a row scales every row
        return _checked(lambda: sp.HadamardProduct(left, right), left, right, "⊙")

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
        elif base == 0:  # 0^x is 0 or undefined depending on x: a grader would meet log(0) or 1/0 at some inputs
            raise InvalidAnswer("0 to a power that depends on the inputs is 0 or undefined; write 0, or check the base")
        return sp.Pow(base, exponent)

    def transpose(self, items: list) -> sp.Basic:
        if not _is_matrix(items[0]):
            raise InvalidAnswer("only a matrix or vector has a transpose")
        return items[0].T

    def prime(self, items: list) -> sp.Basic:  # parse() has checked that a primed name is a matrix symbol
        if not _is_matrix(items[0]):  # (T_k - O_k)': no matrix, so the prime would be a derivative
            raise InvalidAnswer("a ' after a function of numbers reads as a derivative, which answers do not use: "
                                "write the derivative itself; a prime is a transpose only of a matrix, as in A' B")
        return self.transpose(items)

    def abs(self, items: list) -> sp.Basic:
        if _is_matrix(items[0]):
            raise InvalidAnswer("|...| of a matrix: write the absolute value of an entry, e.g. |z_i|")
        return sp.Abs(items[0])

    def sqrt(self, items: list) -> sp.Basic:
        if _is_matrix(items[1]):
            raise InvalidAnswer("the square root of a matrix is not read; take it of a number, as in sqrt(d)")
        return sp.sqrt(items[1])

    def sum_over(self, items: list) -> sp.Basic:
        return _summed(str(items[0]), items[1], self.words)

    def arguments(self, items: list) -> list:
        return items

    def option(self, items: list[Token]) -> _Option:  # axis=1, keepdims=True: read by sum and mean only
        word, _, value = str(items[0]).replace(" ", "").partition("=")
        return _Option(word, value)

    def method(self, items: list) -> sp.Basic:
        """``A.dot(B)``, ``(G * R).sum(axis=0)``, ``M.mean(1)``: NumPy's method, as its function of the receiver."""
        receiver, word, args = items[0], str(items[1]).lstrip("."), items[2] if len(items) > 2 else []
        return self.call([Token("FUNC", word), [receiver, *args]])

    def call1(self, items: list) -> sp.Basic:
        return self.call([items[0], [items[1]]])

    def call(self, items: list) -> sp.Basic:
        function, args = str(items[0]), items[1]
        options = [a for a in args if isinstance(a, _Option)]
        args = [a for a in args if not isinstance(a, _Option)]
        if function in ("sum", "mean"):
            return _numpy_sum(function, args, options)
        if options:
            raise InvalidAnswer(f"{function} takes no {options[0].word}=; axis= and keepdims= are read in sum and mean")
        if function in ("dot", "matmul", "mm", "outer"):
            return _numpy_product(function, args)
        if function in ("multiply", "divide") and len(args) == 2:  # np.multiply, np.divide: entry by entry
            return self.hadamard([args[0], None, args[1]]) if function == "multiply" else self.div(args)
        if function == "f":  # f(x): the problem's activation; or a declared f times (x), as before f was read
            if self.words.activation:
                function = self.words.activation
            elif "f" in dict(self.words.scalars) and len(args) == 1:
                return self.juxtapose([self.words.lookup("f"), args[0]])
            else:
                raise InvalidAnswer("f is not defined in this problem; write the function itself, e.g. sigma(x) or "
                                    "tanh(x)")
        if function in _FUNCTIONS:
            if len(args) != 1:
                raise InvalidAnswer(f"{function} takes one argument; got {len(args)}")
            if _is_matrix(args[0]):  # log(p), exp(Z), tanh(H): entry by entry, as in NumPy and in forwards
                u = sp.Dummy("u")
                return ElementwiseApplyFunction(sp.Lambda(u, _FUNCTIONS[function](u)), args[0])
            return _FUNCTIONS[function](args[0])
        if function in ("max", "min") and len(args) == 1 and str(getattr(args[0], "name", "")) in dict(self.words.vectors):
            return self._over_vector(function, args[0])
        if function in ("max", "min", "ismax"):
            if not 2 <= len(args) <= 16 or any(_is_matrix(a) for a in args):
                raise InvalidAnswer(f"{function} takes 2 to 16 scalar arguments, as in max(0, x) or ismax(a, b, c)")
            if function in ("max", "min"):
                return (sp.Max if function == "max" else sp.Min)(*args)
            # ismax(a, b, c, ...): 1 where a is the largest of them all, else 0 (max pooling's routing)
            return sp.Piecewise((1, sp.And(*[args[0] >= b for b in args[1:]])), (0, True))
        if function == "abs":
            if len(args) != 1:
                raise InvalidAnswer(f"abs takes one argument; got {len(args)}")
            return self.abs(args)
        if function == "transpose":
            return self.transpose(args)
        if function == "hadamard":
            return self.hadamard([args[0], None, args[1]])
        if function in ("rowsum", "rowmean"):
            from derive.notation import RowSum

            if not _is_matrix(args[0]):
                raise InvalidAnswer(f"{function} takes a matrix")
            return RowSum(args[0]) if function == "rowsum" else RowSum(args[0]) / args[0].shape[1]
        if function in ("colsum", "colmean"):  # 1^T X: the row of column sums, as in forwards
            if not _is_matrix(args[0]):
                raise InvalidAnswer(f"{function} takes a matrix")
            total = sp.OneMatrix(1, args[0].shape[0]) * args[0]
            return total if function == "colsum" else total / args[0].shape[0]
        if function == "softmax" and len(args) == 1 and _is_matrix(args[0]):
            return _softmax(args[0])
        raise InvalidAnswer(f"{function}(...) is not available in this problem")


@dataclass(frozen=True)
class _Option:
    """NumPy's ``axis=1`` or ``keepdims=True`` in a call, while it is built."""

    word: str
    value: str


def _numpy_sum(function: str, args: list, options: list[_Option]) -> sp.Basic:
    """``sum(x)``, ``np.sum(M, axis=1, keepdims=True)``, ``mean(x)``, ``M.mean(0)`` as NumPy reads them: of a
    vector, the number; of a matrix along an axis with keepdims, the column of row sums (axis 1) or the row of
    column sums (axis 0). Without keepdims NumPy's result is one-dimensional, and NumPy broadcasts it as a
    row (``dA - dA.sum(axis=1)`` subtracts row sums along each row, a classic slip): a row here too. The
    mean divides by the length summed.

    >>> M = sp.MatrixSymbol("M", 2, 3)
    >>> [_numpy_sum("sum", [M], [_Option("axis", a), _Option("keepdims", k)]).shape for a, k in (("1", "True"), ("1", "False"))]
    [(2, 1), (1, 2)]
    >>> _numpy_sum("mean", [M, sp.Integer(0)], []).shape
    (1, 3)
    """
    axis = next((o.value for o in options if o.word == "axis"), None)
    keep = next((o.value for o in options if o.word == "keepdims"), "False") == "True"
    if len(args) == 2 and getattr(args[1], "is_Integer", False) and axis is None:  # np.sum(M, 1): axis by position
        args, axis = args[:1], str(args[1])
    if len(args) != 1:
        raise InvalidAnswer(f"{function} takes one argument (and NumPy's axis=, keepdims=); got {len(args)}")
    (x,) = args
    if not _is_matrix(x):
        raise InvalidAnswer(f"{function}(...) of a number: write the sum over an index, as in \\sum_k a_k")
    rows, cols = x.shape
    if axis is None and _is_vector(x):  # the entries of a vector, a number
        length = rows if cols == 1 else cols
        total = (sp.OneMatrix(1, rows) * x if cols == 1 else x * sp.OneMatrix(cols, 1))[0, 0]
        return total if function == "sum" else total / length
    if axis is None:
        raise InvalidAnswer(f"{function} of a matrix: say which axis, as in {function}(M, axis=1) or rowsum(M)")
    if axis not in ("0", "1", "-1", "-2"):
        raise InvalidAnswer(f"axis={axis}: a matrix has axes 0 and 1 (or -2 and -1)")
    if axis in ("1", "-1"):  # along each row: one number per row, a column
        total = x * sp.OneMatrix(cols, 1)
        total = total if function == "sum" else total / cols
    else:  # along each column: one number per column, a row
        total = sp.OneMatrix(1, rows) * x
        total = total if function == "sum" else total / rows
    return total if keep or total.shape[0] == 1 else total.T


def _numpy_product(function: str, args: list) -> sp.Basic:
    """``np.dot(A, B)``, ``np.matmul``, ``torch.mm``: the matrix product (of two vectors of one shape, dot's
    inner product); ``np.outer(a, b)``: a b^T."""
    if len(args) != 2:
        raise InvalidAnswer(f"{function} takes two arguments; got {len(args)}")
    left, right = args
    if function == "outer" and not (_is_vector(left) and _is_vector(right)):
        raise InvalidAnswer("the outer product takes two vectors, as in a ⊗ b = a b^T")
    if not (_is_matrix(left) and _is_matrix(right)):
        return _checked(lambda: left * right, left, right, "times")
    if function == "outer":
        if not (_is_vector(left) and _is_vector(right)):
            raise InvalidAnswer("outer takes two vectors, as in outer(a, b) = a b^T")
        column = (lambda v: v if v.shape[1] == 1 else v.T)
        return column(left) * column(right).T
    if function == "dot" and _side_by_side(left, right):  # np.dot(w, x) of two vectors: a number
        return (left.T * right)[0, 0] if left.shape[1] == 1 else (left * right.T)[0, 0]
    return _checked(lambda: left * right, left, right, "times")


_SUM_TOKEN = re.compile(r"sum_(?:([a-z]'?)|\{([a-z]'?)(?:=([^{}]*)|!=([a-z]'?))?\})(?:\^\{([^{}]*)\})?")


def _summed(token: str, summand: sp.Basic, words: Vocabulary) -> sp.Basic:
    """The sum a SUM token writes (``sum_k``, ``sum_{k=2}^{n-1}``, ``sum_{k!=i}``) as a SymPy ``Sum``
    whose limits are in the size symbols, so a grader substituting sizes gets the partial sum.

    >>> words = Vocabulary(indexed={"y": 1}, indices={"k": "n", "i": "n"})
    >>> y, k = sp.IndexedBase("y", real=True), sp.Symbol("k", integer=True, positive=True)
    >>> _summed("sum_{k=1}^{n-1}", y[k], words)
    Sum(y[k], (k, 1, n - 1))
    >>> _summed("sum_{k=0}^{n}", y[k], words)
    Traceback (most recent call last):
    ...
    verify.homework.language.InvalidAnswer: the sum over k runs from 0, but k counts from 1 to n
    """
    match = _SUM_TOKEN.fullmatch(token)
    if match is None:  # the grammar's SUM terminal and this pattern describe the same tokens
        raise InvalidAnswer(f"cannot read the sum {token[:30]!r}; write e.g. \\sum_{{k=1}}^{{n}}")
    index, low_text, other, high_text = match.group(1) or match.group(2), match.group(3), match.group(4), match.group(5)
    size = words.index_bound(index)
    low = sp.Integer(1) if low_text is None else words.bound(low_text, index)
    high = size if high_text is None else words.bound(high_text, index)
    same_range = {size, *(sp.Symbol(i, integer=True, positive=True) for i, n in dict(words.indices).items()
                          if n == size.name and i != index.rstrip("'"))}
    span = f"{index} counts from 1 to {size}"
    for bound, text, word in ((low, low_text, "from"), (high, high_text, "to")):
        if text is not None and (bound.free_symbols - same_range or (1 - bound).is_positive or (bound - size).is_positive):
            if word == "to" and bound == low - 1:
                continue  # an empty sum, k = 1 .. 0: zero, as written
            raise InvalidAnswer(f"the sum over {index} runs {word} {text}, but {span}")
    if (low - high - 1).is_positive:  # SymPy would read a reversed sum as minus the terms between (Karr)
        raise InvalidAnswer(f"the sum over {index} runs from {low_text} down to {high_text}; a sum counts upwards, "
                            f"as in \\sum_{{{index}=1}}^{{{size}}}")
    k = _index_symbol(index)
    total = sp.Sum(summand, (k, low, high))
    if other is None:
        return total
    if other == index or words.index_bound(other) != size:
        raise InvalidAnswer(f"a sum over {index} except {other} needs another index that counts like {index} "
                            f"(from 1 to {size})")
    if high != size:
        raise InvalidAnswer(f"write a sum over {index} except {other} over the whole range: \\sum_{{{index} \\neq {other}}}")
    return total - summand.subs(k, _index_symbol(other))  # subs leaves inner sums' own k alone


def _checked(build, left: sp.Basic = None, right: sp.Basic = None, op: str = ""):
    """``build()``, with a shape error said in one sentence about the two operands.

    >>> A, G = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("G", 3, 2)
    >>> _checked(lambda: A * G, A, G, "times")
    Traceback (most recent call last):
    ...
    verify.homework.language.InvalidAnswer: A G is (2 x 2)(3 x 2): the inner sizes 2 and 3 differ
    """
    try:
        return build()
    except (sp.ShapeError, TypeError, ValueError) as error:
        raise InvalidAnswer(_shape_mismatch(left, right, op) or "the shapes do not fit: "
                            + str(error).split("\n")[0][:120]) from None


def _shape_mismatch(left: sp.Basic, right: sp.Basic, op: str) -> str:
    if left is None or right is None:
        return ""
    shape = {side: f"({side.shape[0]} x {side.shape[1]})" if _is_matrix(side) else "a number" for side in (left, right)}
    written = f"{_words(left)} {'' if op == 'times' else op + ' '}{_words(right)}"
    if _is_matrix(left) and _is_matrix(right):
        if op == "times":
            return (f"{written} is {shape[left]}{shape[right]}: the inner sizes {left.shape[1]} and {right.shape[0]} "
                    "differ")
        return f"{written} combines {shape[left]} with {shape[right]}: the shapes must be the same"
    return f"{written} combines {shape[left]} with {shape[right]}: write the matrix's entries, or a matrix on both sides"


def _words(e: sp.Basic) -> str:
    text = str(e).replace("*", " ").replace(".T", "^T")
    return text if len(text) <= 40 else "(...)"


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


_CAPITALS_RUN = re.compile(r"(?<![A-Za-z0-9_\\])([A-Z]{2,4})(_(?:\{[A-Za-z0-9]+\}|[A-Za-z0-9]+))?((?:ᵀ|'|\^(?:\d|\{[^{}]*\}))*)"
                           r"(?![A-Za-z0-9_({'^])")


def split_products(normal: str, names: set[str], known: set[str] = frozenset()) -> str:
    """``XW`` as ``(X W)`` where each letter is a one-letter matrix of ``names`` and the run itself
    names nothing ``known``: a product written without spaces, split before parsing into one
    bracketed factor, a transpose or power on its last letter as math writes it: ``Y ⊙ XW`` is
    ``Y ⊙ (X W)`` and ``GVᵀ`` is ``(G Vᵀ)``.

    >>> split_products("GVᵀ + XW + QK", {"X", "W", "G", "V", "Q"})
    '(G Vᵀ) + (X W) + QK'
    >>> split_products("XW", {"X", "W"}, known={"XW"})
    'XW'
    >>> split_products("GW_{2}ᵀ", {"G"}, known={"G", "W_2"})
    '(G W_{2}ᵀ)'
    """
    def split(match: re.Match[str]) -> str:
        run, subscript, postfix = match.group(1), match.group(2) or "", match.group(3)
        if subscript:  # GW_2: the last letter's subscript makes a matrix's name (W_2), the others one letter each
            last, bare = run[-1] + subscript, subscript.replace("{", "").replace("}", "")
            if run + bare in known or run[-1] + bare not in known or \
                    not all(letter in names for letter in run[:-1]):
                return match.group(0)
            return "(" + " ".join(run[:-1]) + " " + last + postfix + ")"
        if run in names or run in known or not all(letter in names for letter in run):
            return match.group(0)
        return "(" + " ".join(run) + postfix + ")"

    return _CAPITALS_RUN.sub(split, normal)


def _shadow(normal: str, words: Vocabulary) -> str:
    """A problem's own symbol named like a function (layer norm's sigma) is that symbol wherever it
    appears: ``g / sigma`` and ``1/sigma (g - ...)`` divide by it; such a problem has no sigmoid."""
    for word in _FUNCTION_WORDS:
        if word in dict(words.scalars) or word in dict(words.matrices):
            normal = re.sub(rf"\b{word}\b", word + _SHADOW, normal)
    return normal


@dataclass(frozen=True)
class _Size:
    """What ``_measure`` knows of one node of the parse tree, before anything is built."""

    value: Fraction | None  # the node's value where it is a rational constant, like 9^2 or -1/2
    degree: int  # an upper bound on its total degree as a polynomial in the answer's symbols
    terms: int  # an upper bound on the terms it multiplies out to
    nesting: int  # how deep SymPy will nest it (chains of + or of * flatten, so they do not count)
    signs: int  # minus signs applying one after another to it
    tower: int = 0  # exponentials inside one another: exp(exp(exp(x))) is a number too large to compute


# Nodes of one group flatten into one SymPy node (a + (b - c) is one Add, a/(b c) one Mul); a
# minus sign joins either, and a function's arguments sit directly in its call.
_GROUP = {"add": "+", "sub": "+", "augmented": "+", "mul": "*", "div": "*", "juxtapose": "*", "matmul": "*", "hadamard": "*",
          "xcorr": "xcorr", "outer": "*",
          "arguments": "call", "call": "call", "call1": "call"}
_BIG = 10**9  # estimates are capped here: every limit is far below, and the arithmetic stays small


def _measure(tree: Tree, text: str, defined: Mapping[str, _Size] | None = None) -> _Size:
    """Refuse an answer over one of ``LIMITS`` (tokens, signs, nesting, exponentials, digits, number,
    exponent, degree, terms), naming the construct, before SymPy builds (or evaluates) any of it. A
    name that the answer's where clause defines counts as big as its definition (``defined``).

    One pass over the tree, children before parents, without recursion (an answer of 1,000 minus
    signs is a tree 1,000 deep).

    >>> _measure(_parser().parse("p_i p_i"), "p_i p_i").degree
    2
    >>> _measure(_parser().parse("(a+b+c)^64"), "(a+b+c)^64")
    Traceback (most recent call last):
    ...
    verify.homework.language.InvalidAnswer: (a+b+c)^64 multiplies out to about 2145 terms; the limit is 1000: write lower powers or fewer products of sums
    """
    nodes = list(tree.iter_subtrees())
    tokens = sum(1 for node in nodes for child in node.children if isinstance(child, Token))
    if tokens > LIMITS.tokens:
        raise InvalidAnswer(f"the answer has {tokens} symbols and numbers; the limit is {LIMITS.tokens}")
    sizes: dict[int, _Size] = {}
    for node in nodes:
        kids = [c for c in node.children if isinstance(c, Tree)]
        size = _node_size(node, [sizes[id(k)] for k in kids], lambda node=node: _quote(text, node))
        nesting = max([0, *(sizes[id(k)].nesting + _nests(node.data, k.data) for k in kids)])
        tower = max([0, *(sizes[id(k)].tower for k in kids)]) + _exponential(node, kids, sizes)
        if node.data == "name" and defined and str(node.children[0]).partition("_")[0] in defined:
            size = defined[str(node.children[0]).partition("_")[0]]  # s_k: as big as what s_i = ... says
            nesting, tower = size.nesting, size.tower
        size = _Size(size.value, min(size.degree, _BIG), min(size.terms, _BIG), nesting, size.signs, tower)
        sizes[id(node)] = size
        if size.signs > LIMITS.signs:
            raise InvalidAnswer(f"more than {LIMITS.signs} minus signs apply to one term; write one sign (- - x is x)")
        if tower > LIMITS.exponentials:
            raise InvalidAnswer(f"exponentials nest more than {LIMITS.exponentials} deep in {_quote(text, node)}; "
                                "no gradient here needs more: check the brackets")
        if nesting > LIMITS.nesting:
            raise InvalidAnswer(f"functions, powers, fractions and bars nest more than {LIMITS.nesting} deep in "
                                f"{_quote(text, node)}; write it flatter")
        if size.terms > LIMITS.terms:
            raise InvalidAnswer(f"{_quote(text, node)} multiplies out to about {size.terms} terms; the limit is "
                                f"{LIMITS.terms}: write lower powers or fewer products of sums")
        if size.degree > LIMITS.degree:
            raise InvalidAnswer(f"{_quote(text, node)} has degree {size.degree} (a product or power of that many "
                                f"factors); the limit is {LIMITS.degree}: no answer here needs more, look for a "
                                "repeated factor")
    return sizes[id(tree)]


def _exponential(node: Tree, kids: list[Tree], sizes: Mapping[int, _Size]) -> int:
    """1 for exp(x) and for a power with a non-constant exponent (e^x, x^y), else 0."""
    if node.data in ("call", "call1", "derivative", "call_power"):  # exp'(x) is exp(x)
        return int(str(node.children[0]) == "exp")
    return int(node.data == "pow" and sizes[id(kids[1])].value is None)


def _nests(parent: str, child: str) -> int:
    """1 where SymPy keeps ``child`` as a node inside ``parent``, 0 where it flattens into it."""
    if parent == "abs":  # Abs(-Abs(-x)) is a node inside a node, with or without the sign
        return 1
    if "neg" in (parent, child):
        return 0
    return int(_GROUP.get(parent, parent) != _GROUP.get(child, child) or parent in ("call", "call1", "abs"))


def _node_size(node: Tree, kids: list[_Size], quoted: Callable[[], str]) -> _Size:
    """One node's ``_Size`` from its children's; refuses numbers and exponents over their limits."""
    rule = node.data
    if rule == "number":
        return _Size(_decimal(str(node.children[0])), 0, 1, 0, 0)
    if rule == "glued_e":
        written = str(node.children[0])
        mantissa = written[:-1]
        raise InvalidAnswer(f"{written} reads ambiguously: write {mantissa}*e for {mantissa} times Euler's e, or the "
                            f"exponent against the e with no spaces, as in {mantissa}{written[-1]}-3")
    if rule == "name":
        return _Size(None, 1, 1, 0, 0)
    values = [k.value for k in kids]
    constant = bool(kids) and all(v is not None for v in values)
    if rule == "neg":
        (kid,) = kids
        return _Size(None if kid.value is None else -kid.value, kid.degree, kid.terms, 0, kid.signs + 1)
    if rule in ("add", "sub", "augmented"):  # w -= eta g is w - eta g
        value = (values[0] + values[1] if rule == "add" else values[0] - values[1]) if constant and rule != "augmented" else None
        return _Size(value, max(k.degree for k in kids), sum(k.terms for k in kids), 0, 0)
    if _GROUP.get(rule) == "*":
        value = None
        if constant and rule in ("mul", "juxtapose"):
            value = values[0] * values[1]
        elif constant and rule == "div" and values[1] != 0:
            value = values[0] / values[1]
        return _Size(value, sum(k.degree for k in kids), math.prod(k.terms for k in kids), 0, 0)
    if rule == "pow":
        return _power(kids[0], kids[1], quoted)
    if rule == "sum_over":  # the index's size is not known here: count it as SUM_TERMS terms
        return _Size(None, kids[0].degree, kids[0].terms * SUM_TERMS, 0, 0)
    if rule in ("transpose", "prime"):
        return _Size(None, kids[0].degree, kids[0].terms, 0, 0)
    # sqrt and functions: one term, of its arguments' degree (so exp(x)^40 counts as degree 40)
    return _Size(None, max([1, *(k.degree for k in kids)]), 1, 0, 0)


def _power(base: _Size, exponent: _Size, quoted: Callable[[], str]) -> _Size:
    """``base ^ exponent``: a number raised to a number is computed only when it is small; a power of
    a sum counts the terms it multiplies out to (multinomial: C(t + e - 1, e) for t terms)."""
    e = exponent.value
    if e is None:  # x^y: a new quantity of its own, like exp
        return _Size(None, max(1, base.degree, exponent.degree), 1, 0, 0)
    if abs(e) > LIMITS.exponent:
        raise InvalidAnswer(f"the exponent {e} in {quoted()} is too large; exponents are limited to {LIMITS.exponent}")
    times = math.ceil(abs(e))  # (a+b)^(5/2) multiplies out as (a+b)^2 sqrt(a+b)
    value = None
    if base.value is not None:
        b = base.value
        digits = 1 if b == 0 or abs(b) == 1 else 1 + math.ceil(
            abs(e) * max(math.log10(abs(b.numerator)), math.log10(b.denominator)))
        if digits > LIMITS.number:
            raise InvalidAnswer(f"{quoted()} is a number of about {digits} digits; the limit is {LIMITS.number}: "
                                "write a smaller number")
        if e.denominator == 1 and not (b == 0 and e < 0):
            value = b ** int(e)
    terms = math.comb(base.terms + times - 1, times) if base.terms > 1 else 1
    return _Size(value, base.degree * times, terms, 0, 0)


_DECIMAL = re.compile(r"(\d+)(?:\.(\d+))?(?:[eE]([+-]?)(\d+))?")


def _decimal(written: str) -> Fraction:
    """A written number (``12``, ``0.25``, ``1e-3``, ``2.5E+4``) as an exact fraction, refused when its
    digits before any ``e`` are over ``digits`` or its value has more than ``number`` digits (the
    larger of numerator and denominator): nothing large is computed first.

    >>> _decimal("2.5E+4"), _decimal("1e-3"), _decimal("1e-0")
    (Fraction(25000, 1), Fraction(1, 1000), Fraction(1, 1))
    >>> _decimal("1e30")
    Traceback (most recent call last):
    ...
    verify.homework.language.InvalidAnswer: 1e30 is a number of about 31 digits; the limit is 30: write a smaller number
    """
    match = _DECIMAL.fullmatch(written)
    if match is None:  # the grammar's NUMBER terminal and this pattern describe the same tokens
        raise InvalidAnswer(f"cannot read the number {written[:16]!r}")
    whole, fraction, sign, power = match.group(1), match.group(2) or "", match.group(3), match.group(4)
    if len(whole + fraction) > LIMITS.digits:
        raise InvalidAnswer(f"numbers are limited to {LIMITS.digits} digits; got {written[:16]}...")
    mantissa = Fraction(int(whole + fraction), 10 ** len(fraction))
    shift = 0
    if power is not None:
        too_long = len(power.lstrip("0")) > 6  # 1e9999999: refused without reading the exponent
        shift = 0 if too_long else (-1 if sign == "-" else 1) * int(power)
        # an upper bound on the value's digits, before it is computed
        size = len(str(mantissa.numerator)) + shift if shift >= 0 else len(str(mantissa.denominator)) - shift
        if too_long or size > LIMITS.number + LIMITS.digits:
            raise InvalidAnswer(f"{written[:24]} is a number of more than {LIMITS.number} digits; the limit is "
                                f"{LIMITS.number}: write a smaller number")
    value = mantissa * Fraction(10) ** shift
    digits = max(len(str(value.numerator)), len(str(value.denominator)))
    if digits > LIMITS.number:
        raise InvalidAnswer(f"{written[:24]} is a number of about {digits} digits; the limit is {LIMITS.number}: "
                            "write a smaller number")
    return value


def _quote(text: str, node: Tree, whole: bool = False) -> str:
    """The text a node was read from, shortened (unless ``whole``), to name the construct in a message."""
    start, end = getattr(node.meta, "start_pos", None), getattr(node.meta, "end_pos", None)
    if start is None or end is None:
        return "the answer"
    shown = text[start:end]
    return shown if whole or len(shown) <= 40 else shown[:30] + " ... " + shown[-6:]


def claims(text: str, words: Vocabulary) -> list[tuple[str, sp.Basic, sp.Basic]]:
    """What an answer states besides its value, each as ``(words, left, right)`` for the grader to
    check equal: the steps of a chain (``dL/dz_i = STEP = answer``: STEP = answer) and the values a
    where clause gives for an expression (``where f'(net_k) = O_k (1 - O_k)``). An answer is graded by
    its value; a false statement on the way makes it wrong all the same.

    >>> words = Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n"})
    >>> [(what, str(a), str(b)) for what, a, b in claims("dL/dz_i = y_i - p_i = p_i - y_i", words)]
    [('the step y_i - p_i', '-p[i] + y[i]', 'p[i] - y[i]')]
    """
    return _parse(text, words)[1].claims


def parse(text: str, words: Vocabulary) -> sp.Basic:
    """Read one answer into SymPy, or raise ``InvalidAnswer`` saying why.

    A left-hand side or an arrow that names the quantity is read and set aside: ``\\delta_k = ...``,
    ``w_{kj} \\leftarrow ...``, ``dL/dz_i = ...``, ``:=``, ``<-``. In a chain ``a = b = c`` the last
    member is the answer. ``w -= eta g`` keeps its left-hand side (it is ``w - eta g``).

    >>> parse("p_i - y_i", Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n"}))
    p[i] - y[i]
    >>> parse(r"\\frac{\\partial L}{\\partial z_i} = p_i - y_i", Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n"}))
    p[i] - y[i]
    >>> A, G = sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("G", 3, 2)
    >>> parse(r"A^\\top G", Vocabulary(matrices={"A": A, "G": G}))
    A.T*G
    """
    return _parse(text, words)[0]


def star_matters(text: str, words: Vocabulary) -> bool:
    """True when the answer writes ``*`` between two matrices, so that reading ``*`` the other way
    (``Vocabulary.star``) may change it: the grader can re-read it and tell the student.

    >>> A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    >>> star_matters("A * B", Vocabulary(matrices={"A": A, "B": B})), star_matters("2 * A B", Vocabulary(matrices={"A": A, "B": B}))
    (True, False)
    """
    for star in (words.star, "elementwise" if words.star == "product" else "product"):
        try:
            return _parse(text, replace(words, star=star))[1].star_between_matrices
        except InvalidAnswer as refused:
            if getattr(refused, "star", False):
                return True
    return False


def numpy_words(text: str, words: Vocabulary) -> Vocabulary:
    """The vocabulary an answer is read with: one that writes ``@`` for the matrix product and also
    ``*`` is NumPy code (``X.T @ (G * S)``), whose ``*`` is the elementwise product whatever the
    problem's rule.

    >>> numpy_words("X.T @ (G * S)", Vocabulary()).star, numpy_words("X^T (G * S)", Vocabulary()).star
    ('elementwise', 'product')
    >>> numpy_words("np.sum(G * R, axis=0)", Vocabulary()).star
    'elementwise'
    """
    code = "@" in text or _NUMPY_CODE.search(text) is not None
    if code and "*" in text.replace("**", "") and words.star == "product":
        return replace(words, star="elementwise")
    return words


# NumPy or torch code however it shows itself: a library's prefix, a reduction's method or keyword
# (np.sum(G * R, axis=0), (dA * A).sum(-1)); its * is the elementwise product as @'s is.
_NUMPY_CODE = re.compile(r"(?<![A-Za-z0-9_])(?:np|numpy|torch|jnp)\.[a-z]|\.(?:sum|mean|dot)\s*\(|\baxis\s*=|\bkeepdims\b")


def normal_text(text: str, words: Vocabulary) -> str:
    """The text the grammar reads for ``text`` in a problem with ``words``: ``normalise``, and the
    readings that depend on what the problem names (its symbols named like functions; ``\\Sigma_k`` as a
    sum where Sigma names nothing; a loss's own name on a left-hand side).

    >>> normal_text(r"p_i \\Sigma_k y_k", Vocabulary(indexed={"p": 1, "y": 1}, indices={"i": "n", "k": "n"}))
    'p_i sum_{k} y_k'
    """
    declared = {*dict(words.scalars), *dict(words.matrices), *dict(words.indexed), *dict(words.vectors)}
    if "Sigma" not in declared:  # \Sigma_k y_k: the capital sigma as the sum sign, where it names nothing else
        text = re.sub(r"\\Sigma(?=\s*(?:\\limits)?\s*_)", r"\\sum", text)
    return _own_names(_shadow(normalise(text), words), declared)


def _parse(text: str, words: Vocabulary) -> tuple[sp.Basic, _Build]:
    words = replace(numpy_words(text, words), _capitals={})
    normal = normal_text(text, words)
    matrices = set(dict(words.matrices))
    normal = split_products(normal, {name for name in matrices if len(name) == 1},
                            matrices | set(dict(words.scalars)) | set(dict(words.vectors)))
    if not normal:
        raise InvalidAnswer("the answer is empty")
    if _depth(normal) > LIMITS["depth"]:
        raise InvalidAnswer(f"brackets nest more than {LIMITS['depth']} deep")
    try:
        tree = _parser().parse(normal)
    except UnexpectedInput as error:
        token = getattr(error, "token", None)
        if getattr(token, "type", None) == "PRIME":
            raise InvalidAnswer(f"cannot read the ' at column {error.column}: a prime is a transpose only right after a "
                                "matrix (A' B), or a derivative of a function (sigma'(x), tanh'(x))") from None
        column = getattr(error, "column", "?")
        raise InvalidAnswer(f"cannot read the answer at column {column}: {_context(normal, error)}") from None
    except LarkError as error:
        raise InvalidAnswer(f"cannot read the answer: {str(error).splitlines()[0][:100]}") from None
    definitions: list[Tree] = []
    if tree.data == "where":  # s_i - y_i, where s_i = ...: the definitions, then the answer in their terms
        tree, *definitions = tree.children
        if len(definitions) > LIMITS.definitions:
            raise InvalidAnswer(f"the where clause defines {len(definitions)} names; the limit is {LIMITS.definitions}")
    for_each = ""
    if tree.data == "for_each":  # p_i - y_i for all i: the index is free anyway
        tree, index = tree.children
        for_each = str(index)
        if str(index) not in dict(words.indices):
            raise InvalidAnswer(f"'for all {index}' at the end needs an index; indices here: {', '.join(dict(words.indices))}")
    negated, lhs_letters, steps = False, set(), []
    if tree.data == "framed":
        steps = [m for m in tree.children[1:-1] if isinstance(m, Tree)]  # a = STEP = ... = answer  # delta_k = ..., dL/dz = ... = ...: the last member is the answer
        members = [_quote(normal, m, whole=True) for m in tree.children[:-1] if isinstance(m, Tree)]
        tree = tree.children[-1]
        if isinstance(tree, Token):  # a member is always a sum, a tree; a token here is a grammar change
            raise InvalidAnswer("cannot read the answer after '='")
        negated = _framing(members, words)
        lhs_letters = _letters_of(members[0], words) if members else set()
    defined: dict[str, tuple[tuple[sp.Symbol, ...], sp.Basic]] = {}
    sizes: dict[str, _Size] = {}
    facts: list[tuple[str, sp.Basic, sp.Basic]] = []
    restated: list[tuple[str, sp.Basic, sp.Basic]] = []  # the problem's own names given a value
    for definition in definitions:  # each in the terms of the problem and the definitions before it
        named, _, value_tree = definition.children
        if not (isinstance(named, Tree) and named.data == "name"):
            # f'(net_k) = O_k (1 - O_k): a value stated for an expression the answer writes, taken at its
            # word as a definition is (so f'(net_k) = 2 makes the answer wrong, not right); an expression
            # in names the problem does not have (f(x) = x^2) is refused when it is built
            _measure(named, normal, sizes)
            _measure(value_tree, normal, sizes)
            facts.append((_quote(normal, definition), _built(named, words)[0], _built(value_tree, words)[0]))
            continue
        name = named.children[0]
        base, params = _defined_name(str(name), words)
        size = _measure(value_tree, normal, sizes)
        _prepare(value_tree, normal, words)
        value, _ = _built(value_tree, replace(words, _defined=dict(defined)))
        try:
            known = words.lookup(str(name))
        except InvalidAnswer:
            known = None
        if known is not None and known != value:  # net_k = O_k of the problem's own net_k: a statement to check
            restated.append((_quote(normal, definition), known, value))
        if known is None or known != value:  # p = softmax(z): the problem's own p, said again, changes nothing
            defined[base], sizes[base] = (params, value), size
    _measure(tree, normal, sizes)
    _prepare(tree, normal, words)
    result, builder = _built(tree, replace(words, _defined=defined) if defined else words)
    for step in steps:  # a step that reads (no partial derivative in it) states: step = answer
        try:
            _measure(step, normal, sizes)
            _prepare(step, normal, words)
            value, _ = _built(step, replace(words, _defined=defined) if defined else words)
        except InvalidAnswer:
            continue
        builder.claims.append((f"the step {_quote(normal, step)}", value, result))
    if result.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise InvalidAnswer("the answer is undefined (a division by zero, or the log of 0)")
    if negated:
        result = -result
    free = {x.name for x in getattr(result, "free_symbols", ()) if isinstance(x, sp.Symbol) and x.name in words.ranges()}
    if _is_matrix(result) and free:  # p - y_i: the whole vector p with the entry y_i
        raise InvalidAnswer(f"the answer mixes whole vectors or matrices with entries indexed by {', '.join(sorted(free))}: "
                            "write it whole (a - b) or entry by entry (a_i - b_i)")
    if for_each and for_each not in free:  # p_i - y_i, k = 1, ..., n: the range is of another letter
        raise InvalidAnswer(f"'for all {for_each}' at the end names an index the answer does not leave free"
                            + (f" (it uses {', '.join(sorted(free))})" if free else ""))
    if lhs_letters and free and free != lhs_letters:  # dL/dz_j = p_i - y_i says nothing true
        raise InvalidAnswer(f"the left-hand side is indexed by {', '.join(sorted(lhs_letters))}, the answer by "
                            f"{', '.join(sorted(free))}: write the same letters on both sides")
    builder.claims += [(f"the where clause's {quoted}", known, value) for quoted, known, value in restated]
    for quoted, stated, value in facts:
        if not getattr(stated, "free_symbols", None):  # f'(net_k) of a linear unit is 1: a number checked at once
            if sp.simplify(sp.sympify(stated) - value) != 0:
                raise InvalidAnswer(f"the where clause gives {_words(value)} for what is {_words(stated)} here")
            continue
        if not result.has(stated):
            raise InvalidAnswer(f"the where clause gives a value for {_words(stated)}, which the answer does not use")
        result = result.subs(stated, value)  # subs: a product of factors inside a longer product too
        builder.claims.append((f"the where clause's {quoted}", stated, value))
    adopted = sorted(s.name for s in getattr(result, "free_symbols", ()) if isinstance(s, sp.Symbol)
                     and s.name in words.ranges() and s.name not in dict(words.indices))
    declared_free = free & set(dict(words.indices))
    if len(adopted) == 1 and not declared_free and not lhs_letters - set(adopted):
        adopted = []  # delta_h = H_h (1 - H_h) ...: the free index under a letter of the author's; the grader renames it
    if adopted:  # \sum_a binds a letter of the student's own; left free it means nothing here
        raise InvalidAnswer(f"the index {adopted[0]} is not summed over; indices here: {', '.join(dict(words.indices))}")
    primed = sorted(s.name for s in getattr(result, "free_symbols", ()) if s.name.endswith("prime"))
    if primed:  # j' is a fresh index only where a sum or max binds it
        raise InvalidAnswer(f"the index {primed[0].removesuffix('prime')}' is not summed over; write \\sum_{{"
                            f"{primed[0].removesuffix('prime')}'}} before it")
    return result, builder


# The loss's own name on a left-hand side, with its arguments: \frac{\partial D_{KL}(p \| q)}{\partial q_i},
# \frac{\partial}{\partial q_i} KL(p\|q), \frac{\partial H(p)}{\partial p_i}, \nabla_z KL(p\|q). Only the variable is read.
_LOSS = r"([A-Za-z]+)(?:_\{[A-Za-z0-9, ]*\}|_[A-Za-z0-9]+)?\s*(?:\((?:[^()=]|\([^()=]*\))*\))?"
_LOSS_LHS = re.compile(r"^(-?\s*)(?:\\frac\{\s*partial\s*" + _LOSS + r"\s*\}\{(\s*partial[^{}=]*)\}"
                       r"|\\frac\{\s*partial\s*\}\{(\s*partial[^{}=]*)\}\s*" + _LOSS +
                       r"|(nabla_(?:\{[^{}=]*\}|[A-Za-z]+))\s*" + _LOSS + r")\s*(?==)")


# \partial_{z_i} L = ...: the derivative as an operator with its variable below
_PARTIAL_LHS = re.compile(r"^(-?\s*)partial\s*_\s*(\{[^{}=]*\}|[A-Za-z]+(?:_[A-Za-z0-9]+)?)\s*" + _LOSS + r"\s*(?==)")


def _own_names(normal: str, declared: set[str]) -> str:
    """The answer with a loss named on its left-hand side written as ``L`` where that name is the
    answer's own (not a symbol of the problem), and a value's ``^{old}`` dropped where ``old`` names
    nothing: the left-hand side is read for its variable only, and w^{old} is the current w.

    >>> _own_names(r"\\frac{ partial D_{KL}(p ‖ q)}{ partial q_i} = -p_i/q_i", {"p", "q"})
    '\\\\frac{ partial L}{ partial q_i} = -p_i/q_i'
    >>> _own_names(r"\\frac{ partial H_j}{ partial net_j} = H_j", {"H"})
    '\\\\frac{ partial H_j}{ partial net_j} = H_j'
    """
    def partial_lhs(found: re.Match[str]) -> str:
        name = found.group(3)
        if name in declared or name.partition("_")[0] in declared or name in _FUNCTION_WORDS or name in ("f", "d"):
            return found.group(0)  # a quantity of the problem differentiated (\partial_{net_k} O_k) is no loss
        return rf"{found.group(1)}\frac{{ partial L}}{{ partial {found.group(2).strip('{}')}}} "

    normal = _PARTIAL_LHS.sub(partial_lhs, normal)
    # w_i^{+} = ..., w_i^* = ...: the new value's name on a left-hand side
    normal = re.sub(r"^([^=]*?)\^\s*(?:\{\s*[+*]\s*\}|[+*])\s*(?=(?::=|←|<-|=(?!=)))", r"\1 ", normal, count=1)
    found = _LOSS_LHS.search(normal)
    if found:
        name = found.group(2) or found.group(5) or found.group(7)
        function = name in _FUNCTION_WORDS or name in ("softmax", "sigmoid", "relu", "f", "partial", "nabla")
        if not function and name not in declared and name.partition("_")[0] not in declared:  # softmax(z) is no loss
            variable = found.group(3) or found.group(4)
            lhs = rf"\frac{{ partial L}}{{{variable}}}" if variable else f"{found.group(6)} L"
            normal = found.group(1) + lhs + " " + normal[found.end():]
    if "old" not in declared:  # on the right-hand side only: w^{old} = w + ... says the current w is the update
        sides = re.match(r"^([^=]*?(?:=(?!=)|←|<-))(.*)$", normal, flags=re.S)
        lhs, rhs = (sides.group(1), sides.group(2)) if sides else ("", normal)
        normal = lhs + re.sub(r"\^\s*\{\s*\(?\s*old\s*\)?\s*\}", "", rhs)
    # \nabla_S L in an answer, where the problem names that gradient dS: the name dS (as dL/dS is)
    return re.sub(r"(?<![A-Za-z0-9_])nabla_\{?([A-Z][A-Za-z0-9]*)\}?\s*(?:L|ell|E|J)(?![A-Za-z0-9_(])",
                  lambda m: f"d{m.group(1)}" if f"d{m.group(1)}" in declared else m.group(0), normal)


# nabla_{W_1}, nabla_W, nabla_theta: a subscript is braced, one letter, or a Greek letter's name (\nabla_\theta)
_DERIVATIVE = re.compile(r"d[A-Za-z]*/d([A-Za-z]+(?:_\{?[A-Za-z0-9,]+\}?)?)|nabla_(?:\{([A-Za-z]+(?:_[A-Za-z0-9]+)?)\}|"
                         r"(" + "|".join(sorted(_GREEK, key=len, reverse=True)) + r"|[A-Za-z]))\S*"
                         r"|d([A-Z][A-Za-z]*(?:_\{?[A-Za-z0-9]+\}?)?)")


def named(member: str) -> tuple[int, str]:
    """What one member of a left-hand side names, as ``(sign, form)``: ``d/dX`` for a derivative with
    respect to X (dL/dz_i, \\frac{\\partial E}{\\partial net_k}, \\nabla_W L, dQ), the name's base for
    a plain name (delta_k, w_kj(t+1)), or "" for anything else; the sign is -1 under a leading minus.

    >>> named(r"-\\frac{ partial E}{ partial net_k}"), named("dL/dz_i"), named("nabla_{W_1} L"), named("-delta_k")
    ((-1, 'd/dnet'), (1, 'd/dz'), (1, 'd/dW_1'), (-1, 'delta'))
    >>> named("dK"), named("w_{kj}(t+1)"), named("2 x"), named(r"\\frac{ partial E}{ partial net_{k}}")
    ((1, 'd/dK'), (1, 'w'), (1, ''), (1, 'd/dnet'))
    """
    text = re.sub(r"_\{([A-Za-z0-9,]+)\}", r"_\1", re.sub(r"\s+", "", member).replace("partial", "d"))  # net_{k}: net_k
    text = re.sub(r"\^\{?[(\[][^()\[\]{}]*[)\]]\}?", "", text)  # delta_k^{(2)}, W^{[l]}: a layer's label, not a power
    renamed = re.sub(r"\^\{?(?:new|next|updated)\}?$|'$", "", text)  # w_i^{new} = ..., w_i' = ...: the new value's name
    if renamed != text and _DERIVATIVE.fullmatch(renamed.lstrip("-+")):
        return 1, ""  # dK' = ...: a gradient's transpose, or a name this reading cannot tell; not the new value
    text = renamed
    sign = 1
    while text[:1] in ("-", "+"):
        sign, text = (-sign if text[0] == "-" else sign), text[1:]
    text = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}(_\{?[A-Za-z0-9]+\}?)?", lambda m: f"{m.group(1)}/{m.group(2)}{m.group(3) or ''}",
                  text)
    found = _DERIVATIVE.fullmatch(text)
    if found:
        variable = next(g for g in found.groups() if g)
        # an index letter says which entry, not which quantity (z_i, net_k, W_uv); W_1 is its own name
        return sign, "d/d" + re.sub(r"_\{?([a-z]+(?:,[a-z]+)*)\}?$", "", re.sub(r"_\{?([A-Za-z0-9,]+)\}?$", r"_\1", variable))
    plain = re.fullmatch(r"([A-Za-z]+)(?:_\{?[A-Za-z0-9,]+\}?)?(?:\(t\+1\)|\^\{?\(t\+1\)\}?)?", text)
    return sign, plain.group(1) if plain else ""


def _letters_of(member: str, words: Vocabulary) -> set[str]:
    """The index letters a left-hand side writes on what it names (dL/dz_j: j; w_{kj}(t+1): k, j),
    or none where it writes none or anything but index letters.

    >>> words = Vocabulary(indexed={"z": 1}, indices={"i": "n", "j": "n"})
    >>> sorted(_letters_of("dL/dz_j", words)), sorted(_letters_of("w_{kj}(t+1)", words)), _letters_of("dL/dW_1", words)
    (['j'], ['j', 'k'], set())
    """
    text = re.sub(r"\s+", "", member).replace("partial", "d")
    found = re.search(r"_\{?([a-z](?:,?[a-z])*)\}?(?:\(t\+1\))?\}?$", text)
    letters = set(found.group(1).replace(",", "")) if found and named(member)[1] else set()
    return letters if letters <= set(words.ranges()) else set()


def _framing(members: list[str], words: Vocabulary) -> bool:
    """Whether a left-hand side turns the answer's sign, or refuses it when it says something false.

    The first member is the left-hand side proper: ``-\\delta_k = R`` says delta_k = -R, and on a
    delta problem ``-dE/dnet_k = R`` says delta_k = R and ``dE/dnet_k = R`` says delta_k = -R. It is
    refused when it names another quantity of the problem (``dK = ...`` where the problem asks for
    dL/dQ; ``p_i = ...`` for dL/dz_i), or when it is no plain name or derivative but writes the
    problem's symbols (``2 \\delta_k = R``, ``dV^T = R``): the answer would then be read as what it is
    not. A left-hand side of names the problem does not have (``E = ...``, ``g_i = ...``) is the
    author's own label and is read for nothing."""
    asks = dict(words.asks)
    if not members:
        return False
    # The members between the first and the answer are steps; problems.grade checks them (claims).
    lhs = members[0].replace(_SHADOW, "")
    sign, form = named(lhs)
    declared = {*dict(words.scalars), *dict(words.matrices), *dict(words.indexed), *dict(words.vectors)}
    asked = {f.removeprefix("d/d") for f in asks} | {f for f in asks if not f.startswith("d/d")}

    def base(name: str) -> str:
        return name if name in declared else name.partition("_")[0]

    mentioned = {w for w in re.findall(r"[A-Za-z]+(?:_[A-Za-z0-9]+)?", lhs)
                 if base(w) in declared | asked or w.startswith("d") and base(w[1:]) in declared | asked}  # dV^T
    if not form and mentioned and asks:
        raise InvalidAnswer(f"cannot read the left-hand side {lhs.strip()}: write the quantity alone, as in "
                            "dL/dx = ..., or the answer without it")
    if asks and form.startswith("d/d") and form not in asks:
        variable = form.removeprefix("d/d")
        if base(variable) in declared and base(variable) not in {base(a) for a in asked}:
            wanted = next((f.removeprefix("d/d") for f in asks if f.startswith("d/d")), "")
            raise InvalidAnswer(f"the left-hand side {lhs.strip()} is a derivative with respect to {variable}; this "
                                f"problem asks for {'the one with respect to ' + wanted if wanted else 'another'}")
    if asks and form and not form.startswith("d/d") and form.lower() not in {a.lower() for a in asks} \
            and base(form) in declared:  # W for the matrix of the w_kj asked for is the same quantity
        raise InvalidAnswer(f"the left-hand side {lhs.strip()} is {form}, a quantity of this problem; the problem asks "
                            f"for {next(iter(asks)).replace('d/d', 'the derivative by ')}")
    for member in members[1:]:  # delta_k = +dE/dnet_k = ...: a step naming the asked quantity with the other sign
        step_sign, step_form = named(member.replace(_SHADOW, ""))
        if form in asks and step_form in asks and step_sign * asks[step_form] != sign * asks[form]:
            raise InvalidAnswer(f"the chain says {lhs.strip()} = {member.strip()}, which differ in sign here; write the "
                                "steps that hold, or the answer alone")
    return bool(form) and sign * asks.get(form, 1) < 0


def _defined_name(name: str, words: Vocabulary) -> tuple[str, tuple[sp.Symbol, ...]]:
    """The name a where clause defines (s, s_i, s_{ij}) and its index symbols, or InvalidAnswer."""
    base, _, subscript = name.partition("_")
    parts = _subscript_parts(subscript) if subscript else []
    if any(part.rstrip("'") not in dict(words.indices) or part.count("'") > 1 for part in parts):
        raise InvalidAnswer(f"define {name!r} with index letters (indices here: {', '.join(dict(words.indices))}), "
                            "as in s_i = ...")
    if len(set(parts)) != len(parts):
        raise InvalidAnswer(f"define {name!r} with different index letters")
    return base, tuple(_index_symbol(part) for part in parts)


def _prepare(tree: Tree, normal: str, words: Vocabulary) -> None:
    """Checks on the parse tree before it is built, and the rewrites that read notation in the
    problem's terms (softmax(z), w_kj(t), dL/dS, indices in conditions); top-down."""
    applied = {function for function, _ in dict(words.applications)}
    compared: set[int] = set()
    for node in tree.iter_subtrees_topdown():  # `x 2` reads ambiguously; `x (1/d)` does not
        right = node.children[1] if node.data == "juxtapose" else None
        if isinstance(right, Tree) and right.data == "number":
            raise InvalidAnswer(f"a number after a factor reads ambiguously; write {right.children[0]} before it or use *")
        opening = getattr(right.meta, "start_pos", None) if isinstance(right, Tree) else None
        if opening is not None and normal[opening] == "|" and "|" in normal[:opening]:
            shown = _quote(normal, right)
            raise InvalidAnswer(f"the bars before {shown} read two ways (as in |a| b |c| or |a |b| c|); write * before "
                                f"{shown}, or brackets")
        if node.data == "prime":
            _check_prime(node.children[0], words, _quote(normal, node.children[0]))
        if node.data in ("call", "call_entry") and str(node.children[0]) in applied:
            _apply(node, words)
        if node.data == "comparison":  # [i = k]: an index compared, as a number
            for side in node.children:
                if isinstance(side, Tree) and side.data == "name" and str(side.children[0]).rstrip("'") in dict(words.indices):
                    side.data = "index_name"
        if node.data == "juxtapose" and _at_step(node, normal, words):  # w_kj(t): w_kj, now
            node.data, node.children = "name", node.children[0].children
        if node.data == "pow" and _at_step(node, normal, words, superscript=True):  # w_kj^{(t)}: w_kj, now
            node.data, node.children = "name", node.children[0].children
        if node.data == "pow" and _labelled(node, normal):  # delta^{(2)}: a layer's label, not a square
            raise InvalidAnswer(f"{_quote(normal, node)} labels a layer or a step (a superscript in brackets is no "
                                "power); write the problem's own name for the quantity")
        if node.data == "div":
            _named_derivative(node, words)
        if node.data == "comparison":
            compared.update(id(side) for side in node.children)
        if node.data == "extremum_over" and str(node.children[0]).startswith("arg") and id(node) not in compared:
            raise InvalidAnswer("argmax is an index: compare it with one, as in [i = argmax_j a_j]")


def _built(tree: Tree, words: Vocabulary) -> tuple[sp.Basic, _Build]:
    builder = _Build(words)
    try:
        return builder.transform(tree), builder
    except VisitError as error:  # lark wraps what a rule raised
        if isinstance(error.orig_exc, InvalidAnswer):
            raise error.orig_exc from None
        raise InvalidAnswer(f"cannot build the answer: {str(error.orig_exc).splitlines()[0][:100]}") from None


def _entry(value: sp.Basic, subscript: str, words: Vocabulary) -> sp.Basic:
    """Entry ``subscript`` of a vector expression, rebuilt from the entries of its vectors."""
    if isinstance(value, sp.MatrixSymbol) and str(value.name) in dict(words.vectors):
        return words.lookup(f"{value.name}{subscript}")
    if isinstance(value, sp.MatAdd):
        return sp.Add(*[_entry(term, subscript, words) for term in value.args])
    if isinstance(value, sp.HadamardProduct):
        return sp.Mul(*[_entry(term, subscript, words) for term in value.args])
    if isinstance(value, sp.MatMul):
        scalars = [a for a in value.args if not _is_matrix(a)]
        matrices = [a for a in value.args if _is_matrix(a)]
        if len(matrices) == 1:
            return sp.Mul(*scalars, _entry(matrices[0], subscript, words))
    raise InvalidAnswer(f"cannot take the entry {subscript} of {_words(value)}; write it entry by entry: (a - b)_i is a_i - b_i")


def _at_step(node: Tree, text: str, words: Vocabulary, superscript: bool = False) -> bool:
    """``w_kj(t)`` or ``w_kj^{(t)}``, a name with ``(t)`` against it: the quantity at step t, the current
    value, where the problem has no symbol t; where it has one (a target t) it could be w_kj times (or
    to the power) t, and is refused."""
    left, right = node.children
    step = ("t", "k", "n", "s", "tau") if superscript else ("t",)  # w^{(k)}: a step's label, the iteration's letter
    if not (isinstance(left, Tree) and left.data == "name" and isinstance(right, Tree) and right.data == "name"
            and str(right.children[0]) in step and (str(right.children[0]) == "t"
                                                    or str(right.children[0]) not in dict(words.indices))):
        return False
    letter = str(right.children[0])
    start, end = getattr(right.meta, "start_pos", None), getattr(right.meta, "end_pos", None)
    if start is None or end is None:
        return False
    if superscript:
        if not (text[:start].rstrip().endswith("^{(") or text[:start].replace(" ", "").endswith("^{(")) or \
                not text[end:].replace(" ", "").startswith(")}"):
            return False
    elif getattr(left.meta, "end_pos", None) != start - 1 or not (text[start - 1] == "(" and text[end:end + 1] == ")"):
        return False
    try:
        words.lookup(letter)
    except InvalidAnswer:
        return True
    raise InvalidAnswer(f"{left.children[0]}({letter}) reads two ways: {left.children[0]} at step {letter}, or "
                        f"{left.children[0]} times {letter}; write {left.children[0]} for the current value, or * for the product")


def _labelled(node: Tree, text: str) -> bool:
    """``x^{(2)}``, ``W^{[1]}``, ``delta^{(l)}``: one number or letter in brackets as a superscript."""
    exponent = node.children[1]
    if not (isinstance(exponent, Tree) and exponent.data in ("number", "name")):
        return False
    start, end = getattr(exponent.meta, "start_pos", None), getattr(exponent.meta, "end_pos", None)
    if start is None or end is None or not re.fullmatch(r"\d+|[A-Za-z]", str(exponent.children[0])):
        return False
    before, after = text[max(0, start - 8):start].replace(" ", ""), text[end:end + 8].replace(" ", "")
    return (before.endswith("^{(") and after.startswith(")}")) or (before.endswith("^{[") and after.startswith("]}"))


def _differential(node: Tree | Token) -> str | None:
    """The X of a written dX, \\partial X or d X (a name), else None."""
    if isinstance(node, Tree) and node.data == "name" and re.fullmatch(r"d[A-Za-z].*", str(node.children[0])):
        return str(node.children[0])[1:]
    if isinstance(node, Tree) and node.data == "juxtapose" and all(
            isinstance(c, Tree) and c.data == "name" for c in node.children) and str(
            node.children[0].children[0]) in ("partial", "d"):
        return str(node.children[1].children[0])
    return None


def _named_derivative(node: Tree, words: Vocabulary) -> None:
    """``\\frac{\\partial L}{\\partial S}`` or ``dL/dS`` in an answer, where the problem names that
    derivative dS: the name dS (the problem's own notation for it)."""
    top, bottom = (c for c in node.children if isinstance(c, Tree))
    loss, variable = _differential(top), _differential(bottom)
    if loss is None or variable is None or "_" in loss:
        return
    try:
        words.lookup("d" + variable)
    except InvalidAnswer:
        return
    node.data, node.children = "name", [Token("NAME", "d" + variable)]


def _apply(node: Tree, words: Vocabulary) -> None:
    """``softmax(z)`` (``_i``) where the problem's forward applies softmax to z: rewritten in the tree
    as an ``applied`` node naming its result, so that z is not looked up as a symbol of its own."""
    arguments = node.children[1]
    if not (isinstance(arguments, Tree) and len(arguments.children) == 1 and isinstance(arguments.children[0], Tree)
            and arguments.children[0].data == "name"):
        return
    argument = arguments.children[0].children[0]
    if (str(node.children[0]), str(argument)) in dict(words.applications):
        node.data = "applied"
        node.children = [node.children[0], argument, *node.children[2:]]
        return
    known = ", ".join(f"{f}({a}) is {r}" for (f, a), r in dict(words.applications).items() if f == str(node.children[0]))
    raise InvalidAnswer(f"{node.children[0]}({argument}) is not computed in this problem; {known}")


def _check_prime(primed: Tree | Token, words: Vocabulary, shown: str) -> None:
    """``A'`` is a transpose when ``A`` is a matrix symbol; on anything else a prime means a derivative
    (``f'(net_j)``, ``O_k'``), which the language does not read: refused, saying so."""
    name = str(primed.children[0]) if isinstance(primed, Tree) and primed.data == "name" else None
    if isinstance(primed, Tree) and primed.data in ("call", "method"):
        return  # colsum(G .* R)': MATLAB's transpose of a function's value, if a matrix (the builder checks)
    try:
        matrix = name is not None and _is_matrix(words.lookup(name))
    except InvalidAnswer:
        matrix = False
    if not matrix:
        shown = shown.replace(_SHADOW, "")
        raise InvalidAnswer(f"{shown}' reads as a derivative, which answers do not use: write the derivative itself; "
                            "a prime is a transpose only on a matrix, as in A' B")


def _context(text: str, error: UnexpectedInput) -> str:
    position = getattr(error, "pos_in_stream", None)
    if position is None:
        return "unexpected end" if isinstance(error, LarkError) else "unexpected input"
    return f"...{text[max(0, position - 10):position + 10]!r}..."
