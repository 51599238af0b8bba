"""Matrix expressions for the VJP rules: SymPy ``MatrixExpr`` subclasses that print and expand.

Each class is a node of a matrix formula (``softmax(S)``, ``X 1``, ``X ⋆ K``) that knows three
things: its shape (symbolic or concrete), how to print itself (``sympy.latex``, ``str``), and its
entries at concrete sizes (``_entry``), so that ``expr.as_explicit()`` turns a formula into the
explicit matrix the entrywise proofs compare with the exact derivative. Entries are written with
derive's opaque atoms (``Exp``, ``Sqrt``, ``Relu``, ``MaxOf``) so the zero test stays rational.

Functions apply entry by entry (``exp(X)`` is the matrix of ``e^{X_ij}``), as in the lecture.
The small constructors at the end (``hadamard``, ``matmul``, ``add``, ...) simplify as they build,
so rules never print ``1 ∘ X`` or ``(A^T)^T``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
from sympy.core.symbol import Str
from sympy.matrices.expressions.matexpr import MatrixExpr
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from derive.atoms import Exp, IsMax, MaxOf
from derive.notation import Diag, Indicator, RowSum, Softmax, integer_indices

__all__ = [
    "Apply", "Elementwise", "ELEMENTWISE", "register_elementwise", "Ones", "RowSums", "ColSums", "Total", "Fill", "BroadcastCols", "BroadcastRows",
    "LogSoftmax", "CausalMask", "Masked", "Corr", "FullConv", "MaxPool", "MaxUnpool", "AvgPool",
    "Upsample", "Flatten", "Unflatten", "Concat", "Columns", "Diag", "Indicator", "RowSum", "Softmax",
    "hadamard", "matmul", "add", "scaled", "neg", "transpose", "ones_like", "explicit", "concrete", "split_scalar", "spread", "rowsum",
]


def concrete(value: sp.Expr) -> int:
    """A size as a Python int, or a clear error when it is still symbolic."""
    if not isinstance(value, (int, sp.Integer)):
        raise ValueError(f"explicit entries need concrete sizes, not {value}")
    return int(value)


_TOKEN = re.compile(r"[A-Za-z]{2,}|[A-Za-z]|\d+(?:\.\d+)?|\S")


def _mathml(printer, template: str, args: list) -> object:
    """MathML from a node's text template (``"{0} 𝟏"``, ``"exp({0})"``): each ``{n}`` the argument's
    MathML, words as upright identifiers, numbers as numbers, the rest as operators. One template
    per class serves the terminal and the reports' MathML alike."""
    row = printer.dom.createElement("mrow")
    for piece in re.split(r"(\{\d+\})", template):
        slot = re.fullmatch(r"\{(\d+)\}", piece)
        if slot:
            row.appendChild(args[int(slot.group(1))])
            continue
        for token in _TOKEN.findall(piece):
            tag = "mn" if token[0].isdigit() else "mi" if token[0].isalpha() else "mo"
            node = printer.dom.createElement(tag)
            if tag == "mi" and len(token) > 1:
                node.setAttribute("mathvariant", "normal")
            node.appendChild(printer.dom.createTextNode(token))
            row.appendChild(node)
    return row


def _bracketed(printer, node: object) -> object:
    row = printer.dom.createElement("mrow")
    for part in ("(", node, ")"):
        if isinstance(part, str):
            bracket = printer.dom.createElement("mo")
            bracket.appendChild(printer.dom.createTextNode(part))
            row.appendChild(bracket)
        else:
            row.appendChild(part)
    return row


class _Formula(MatrixExpr):
    """A matrix-valued node printed from two templates, ``{0}``, ``{1}``... being the printed args."""

    tex = ""
    text = ""
    wrap: tuple[int, ...] = ()  # arguments that need parentheses when they are not a single symbol

    def __new__(cls, *args: object) -> _Formula:
        return super().__new__(cls, *(a if isinstance(a, sp.Basic) else sp.sympify(a) for a in args))

    def _printed(self, printer) -> list[str]:
        latex = isinstance(printer, LatexPrinter)
        out = []
        for number, arg in enumerate(self.args):
            text = printer._print(arg)
            if number in self.wrap and not isinstance(arg, (sp.MatrixSymbol, sp.Transpose, Ones)):
                text = r"\left(%s\right)" % text if latex else f"({text})"
            out.append(text)
        return out

    def _latex(self, printer) -> str:
        return self.tex.format(*self._printed(printer))

    def _sympystr(self, printer) -> str:
        return self.text.format(*self._printed(printer))

    def _mathml_presentation(self, printer) -> object:
        args = []
        for number, arg in enumerate(self.args):
            node = printer._print(arg)
            wrapped = number in self.wrap and not isinstance(arg, (sp.MatrixSymbol, sp.Transpose, Ones))
            args.append(_bracketed(printer, node) if wrapped else node)
        return _mathml(printer, self.text, args)


@dataclass(frozen=True)
class Elementwise:
    """How ``Apply`` reads and prints one function applied entry by entry.

    ``scalar`` gives an entry (its SymPy function of the argument's entry); ``tex`` and ``text``
    spell the application, ``{0}`` being the printed argument. ``power`` is the operator spelling
    used on a bare symbol (``X^{\\circ 2}``, ``X²``) for functions that read as operators, which
    are bracketed inside products like one. The rows of graphs/ops.py fill the registry.

    >>> Elementwise(sp.exp, r"\\exp\\left({0}\\right)", "exp({0})").text.format("X")
    'exp(X)'
    """

    scalar: Callable[[sp.Expr], sp.Expr]
    tex: str
    text: str
    power: tuple[str, str] | None = None  # (LaTeX, text) on a bare symbol


# name -> spelling; filled by graphs/ops.py, one entry per elementwise row of the table
ELEMENTWISE: dict[str, Elementwise] = {}


def register_elementwise(name: str, spelling: Elementwise) -> None:
    """Make ``Apply(X, name)`` known; a second, different spelling of one name is refused."""
    known = ELEMENTWISE.setdefault(name, spelling)
    if known is not spelling:
        raise ValueError(f"two elementwise functions named {name!r}")


def _spelling(name: str) -> Elementwise:
    if name not in ELEMENTWISE:
        import graphs.ops  # noqa: F401 - the table's rows fill the registry when it loads
    try:
        return ELEMENTWISE[name]
    except KeyError:
        raise ValueError(f"no elementwise function {name!r}; known: {', '.join(ELEMENTWISE)}") from None


class Apply(MatrixExpr):
    """A function applied entry by entry: ``Apply(X, "exp")`` is ``exp(X)``.

    >>> X = sp.MatrixSymbol("X", 1, 2)
    >>> Apply(X, "sigmoid").as_explicit()[0, 1]
    1/(exp(-X[0, 1]) + 1)
    >>> sp.latex(Apply(X, "square"))
    'X^{\\\\circ 2}'
    """

    def __new__(cls, matrix: MatrixExpr, name: str | Str) -> Apply:
        name = name if isinstance(name, Str) else Str(name)
        _spelling(name.name)
        return super().__new__(cls, matrix, name)

    @property
    def function(self) -> str:
        return self.args[1].name

    @property
    def spelling(self) -> Elementwise:
        """How this function reads and prints (its row's entry in ``ELEMENTWISE``)."""
        return _spelling(self.function)

    @property
    def precedence(self) -> int:
        # 1/X and X^2 read as operators, exp(X) as a call
        return PRECEDENCE["Mul"] if self.spelling.power else PRECEDENCE["Atom"]

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        return self.spelling.scalar(self.args[0][i, j])

    def _latex(self, printer) -> str:
        inner = printer._print(self.args[0])
        if self.spelling.power and isinstance(self.args[0], sp.MatrixSymbol):
            return self.spelling.power[0].format(inner)
        return self.spelling.tex.format(inner)

    def _sympystr(self, printer) -> str:
        inner = printer._print(self.args[0])
        if self.spelling.power and isinstance(self.args[0], sp.MatrixSymbol):
            return self.spelling.power[1].format(inner)
        return self.spelling.text.format(inner)

    def _mathml_presentation(self, printer) -> object:
        inner = printer._print(self.args[0])
        if self.spelling.power and isinstance(self.args[0], sp.MatrixSymbol):
            return _mathml(printer, self.spelling.power[1], [inner])
        return _mathml(printer, self.spelling.text, [inner])


class Ones(_Formula):
    """The all-ones matrix ``1`` of a given shape (printed bold, so it cannot read as the number 1)."""

    tex = r"\mathbf{{1}}"
    text = "1"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0], self.args[1]

    def _latex(self, printer) -> str:
        return r"\mathbf{1}"

    def _sympystr(self, printer) -> str:
        return "𝟏"

    def _mathml_presentation(self, printer) -> object:
        one = printer.dom.createElement("mn")
        one.setAttribute("mathvariant", "bold")
        one.appendChild(printer.dom.createTextNode("1"))
        return one

    def _entry(self, i, j, **kwargs):
        return sp.S.One


class RowSums(_Formula):
    """``X 1``: the column of row sums.

    >>> RowSums(sp.MatrixSymbol("X", 2, 2)).as_explicit()[1, 0]
    X[1, 0] + X[1, 1]
    """

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0,)
    tex = r"{0} \mathbf{{1}}"
    text = "{0} 𝟏"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape[0], sp.S.One

    def _entry(self, i, j, **kwargs):
        return sp.Add(*[self.args[0][i, k] for k in range(concrete(self.args[0].shape[1]))])


class ColSums(_Formula):
    """``1^T X``: the row of column sums."""

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0,)
    tex = r"\mathbf{{1}}^{{T}} {0}"
    text = "𝟏ᵀ {0}"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return sp.S.One, self.args[0].shape[1]

    def _entry(self, i, j, **kwargs):
        return sp.Add(*[self.args[0][k, j] for k in range(concrete(self.args[0].shape[0]))])


class Total(_Formula):
    """``sum(X)``: the sum of every entry, a 1 x 1 matrix."""

    tex = r"\operatorname{{sum}}\left({0}\right)"
    text = "sum({0})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return sp.S.One, sp.S.One

    def _entry(self, i, j, **kwargs):
        rows, cols = (concrete(s) for s in self.args[0].shape)
        return sp.Add(*[self.args[0][r, c] for r in range(rows) for c in range(cols)])


class Fill(_Formula):
    """A 1 x 1 matrix ``s`` spread over a shape: ``s 1 1^T``."""

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0,)
    tex = r"{0} \mathbf{{1}} \mathbf{{1}}^{{T}}"
    text = "{0} 𝟏 𝟏ᵀ"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[1], self.args[2]

    def _entry(self, i, j, **kwargs):
        return self.args[0][0, 0]


class BroadcastCols(_Formula):
    """``c 1^T``: a column repeated across ``cols`` columns."""

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0,)
    tex = r"{0} \mathbf{{1}}^{{T}}"
    text = "{0} 𝟏ᵀ"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape[0], self.args[1]

    def _entry(self, i, j, **kwargs):
        return self.args[0][i, 0]


class BroadcastRows(_Formula):
    """``1 r``: a row repeated down ``rows`` rows."""

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0,)
    tex = r"\mathbf{{1}} {0}"
    text = "𝟏 {0}"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[1], self.args[0].shape[1]

    def _entry(self, i, j, **kwargs):
        return self.args[0][0, j]


class LogSoftmax(_Formula):
    """Row-wise ``log softmax(X)``: ``X_ij - log sum_k e^{X_ik}``."""

    tex = r"\log \operatorname{{softmax}}\left({0}\right)"
    text = "logsoftmax({0})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    @integer_indices
    def _entry(self, i, j, **kwargs):
        row = [self.args[0][i, k] for k in range(concrete(self.args[0].shape[1]))]
        return row[j] - sp.log(sp.Add(*[Exp(x) for x in row]))


class CausalMask(_Formula):
    """``M``: 1 where query ``i`` may see key ``j`` (``j <= i``), else 0."""

    tex = r"M"
    text = "M"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0], self.args[0]

    def _latex(self, printer) -> str:
        return "M"

    def _sympystr(self, printer) -> str:
        return "M"

    @integer_indices
    def _entry(self, i, j, **kwargs):
        return sp.S.One if j <= i else sp.S.Zero


class Masked(_Formula):
    """``where(M, X, -inf)``: masked scores become ``-inf`` (weight 0 after a softmax)."""

    tex = r"\operatorname{{mask}}_{{{1}}}\left({0}\right)"
    text = "mask({0}, {1})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        keep = self.args[1][i, j]
        if keep in (0, 1):
            return self.args[0][i, j] if keep == 1 else sp.S.NegativeInfinity
        return sp.Piecewise((self.args[0][i, j], sp.Eq(keep, 1)), (sp.S.NegativeInfinity, True))


class Corr(_Formula):
    """Valid 2-D cross-correlation ``(X ⋆ K)_ij = sum_ab X_{i+a, j+b} K_ab`` (a convolution layer).

    >>> X, K = sp.MatrixSymbol("X", 2, 2), sp.MatrixSymbol("K", 2, 1)
    >>> Corr(X, K).as_explicit()
    Matrix([[K[0, 0]*X[0, 0] + K[1, 0]*X[1, 0], K[0, 0]*X[0, 1] + K[1, 0]*X[1, 1]]])
    """

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0, 1)
    tex = r"{0} \star {1}"
    text = "corr({0}, {1})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        (h, w), (kh, kw) = self.args[0].shape, self.args[1].shape
        return h - kh + 1, w - kw + 1

    def _entry(self, i, j, **kwargs):
        X, K = self.args
        kh, kw = (concrete(s) for s in K.shape)
        return sp.Add(*[X[i + a, j + b] * K[a, b] for a in range(kh) for b in range(kw)])


class FullConv(_Formula):
    """Full 2-D convolution ``(G ∗ K)_pq = sum_ab G_{p-a, q-b} K_ab`` (zero outside G): the input gradient of a correlation."""

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0, 1)
    tex = r"{0} \ast_{{\mathrm{{full}}}} {1}"
    text = "fullconv({0}, {1})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        (h, w), (kh, kw) = self.args[0].shape, self.args[1].shape
        return h + kh - 1, w + kw - 1

    @integer_indices
    def _entry(self, p, q, **kwargs):
        G, K = self.args
        (h, w), (kh, kw) = (tuple(concrete(s) for s in m.shape) for m in (G, K))
        return sp.Add(*[
            G[p - a, q - b] * K[a, b]
            for a in range(kh) for b in range(kw)
            if 0 <= p - a < h and 0 <= q - b < w
        ])


def _window(matrix: MatrixExpr, i: int, j: int, k: int) -> list[sp.Expr]:
    return [matrix[i * k + a, j * k + b] for a in range(k) for b in range(k)]


class MaxPool(_Formula):
    """``k x k`` max pooling with stride ``k`` (windows do not overlap)."""

    tex = r"\operatorname{{maxpool}}_{{{1}}}\left({0}\right)"
    text = "maxpool_{1}({0})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        (h, w), k = self.args[0].shape, self.args[1]
        return h / k, w / k

    def _entry(self, i, j, **kwargs):
        return MaxOf(*_window(self.args[0], i, j, concrete(self.args[1])))


class MaxUnpool(_Formula):
    """The gradient of max pooling: each ``G_ij`` routed to its window's (first) maximum in ``X``."""

    tex = r"\operatorname{{unpool}}_{{\max {1},\, {2} \times {2}}}\left({0}\right)"
    text = "unpool_max{2}x{2}({0}; {1})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[1].shape

    @integer_indices
    def _entry(self, p, q, **kwargs):
        G, X, k = self.args[0], self.args[1], concrete(self.args[2])
        i, j = p // k, q // k
        position = (p - i * k) * k + (q - j * k)
        return G[i, j] * IsMax(position, *_window(X, i, j, k))


class AvgPool(_Formula):
    """``k x k`` average pooling with stride ``k``."""

    tex = r"\operatorname{{avgpool}}_{{{1}}}\left({0}\right)"
    text = "avgpool_{1}({0})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        (h, w), k = self.args[0].shape, self.args[1]
        return h / k, w / k

    def _entry(self, i, j, **kwargs):
        k = concrete(self.args[1])
        return sp.Add(*_window(self.args[0], i, j, k)) / k**2


class Upsample(_Formula):
    """``G ⊗ 1_{k x k}``: every entry copied into a ``k x k`` block."""

    precedence = PRECEDENCE["Mul"]  # reads as a product: bracketed inside another product
    wrap = (0,)
    tex = r"{0} \otimes \mathbf{{1}}_{{{1} \times {1}}}"
    text = "upsample_{1}({0})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        (h, w), k = self.args[0].shape, self.args[1]
        return h * k, w * k

    @integer_indices
    def _entry(self, p, q, **kwargs):
        k = concrete(self.args[1])
        return self.args[0][p // k, q // k]


class Flatten(_Formula):
    """``vec(X)^T``: the entries row by row as one row (a feature vector for a dense layer)."""

    tex = r"\operatorname{{vec}}\left({0}\right)^{{T}}"
    text = "vec({0})^T"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        h, w = self.args[0].shape
        return sp.S.One, h * w

    @integer_indices
    def _entry(self, i, j, **kwargs):
        cols = concrete(self.args[0].shape[1])
        return self.args[0][j // cols, j % cols]


class Unflatten(_Formula):
    """The inverse of :class:`Flatten`: a row of ``rows * cols`` entries back into a ``rows x cols`` map."""

    tex = r"\operatorname{{vec}}^{{-1}}\left({0}\right)"
    text = "unvec({0})"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[1], self.args[2]

    @integer_indices
    def _entry(self, i, j, **kwargs):
        return self.args[0][0, i * concrete(self.args[2]) + j]


class Concat(_Formula):
    """``[X, Y]``: the columns of ``X`` followed by those of ``Y`` (DenseNet's feature concatenation)."""

    tex = r"\left[{0},\, {1}\right]"
    text = "[{0}, {1}]"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape[0], self.args[0].shape[1] + self.args[1].shape[1]

    @integer_indices
    def _entry(self, i, j, **kwargs):
        left = concrete(self.args[0].shape[1])
        return self.args[0][i, j] if j < left else self.args[1][i, j - left]


class Columns(_Formula):
    """``G[:, a:b]``: columns ``a`` to ``b - 1`` (0-based)."""

    wrap = (0,)
    tex = r"{0}\left[:,\, {1}:{2}\right]"
    text = "{0}[:, {1}:{2}]"

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape[0], self.args[2] - self.args[1]

    def _entry(self, i, j, **kwargs):
        return self.args[0][i, j + self.args[1]]


# Constructors that simplify while they build -------------------------------------------------


def _is_ones(x: sp.Basic) -> bool:
    return isinstance(x, (Ones, sp.OneMatrix))


def split_scalar(x: sp.Basic) -> tuple[sp.Expr, sp.Basic]:
    """``(c, M)`` with ``x = c M``: the scalar factor of a product pulled out.

    >>> X = sp.MatrixSymbol("X", 2, 2)
    >>> split_scalar(-2 * X)
    (-2, X)
    """
    if not isinstance(x, sp.MatMul):
        return sp.S.One, x
    coefficient, rest = x.as_coeff_mmul()
    return coefficient, rest.args[0] if len(rest.args) == 1 else sp.MatMul(*rest.args)


def ones_like(x: MatrixExpr) -> Ones:
    """The all-ones matrix of ``x``'s shape."""
    return Ones(*x.shape)


def hadamard(*factors: MatrixExpr) -> MatrixExpr:
    """Elementwise product: scalars pulled out, nested products flattened, all-ones factors left out.

    >>> X, Y = sp.MatrixSymbol("X", 2, 2), sp.MatrixSymbol("Y", 2, 2)
    >>> hadamard(Ones(2, 2), X)
    X
    >>> hadamard(-Ones(2, 2), sp.HadamardProduct(X, Y), 3 * X)
    -3*(HadamardProduct(X, Y, X))
    """
    coefficient, kept = sp.S.One, []
    for factor in factors:
        c, matrix = split_scalar(factor)
        coefficient *= c
        if isinstance(matrix, sp.HadamardProduct):
            kept.extend(matrix.args)
        elif not _is_ones(matrix):
            kept.append(matrix)
    if not kept:
        return scaled(coefficient, split_scalar(factors[0])[1])
    return scaled(coefficient, kept[0] if len(kept) == 1 else sp.HadamardProduct(*kept))


def spread(g: MatrixExpr, rows: sp.Expr, cols: sp.Expr) -> MatrixExpr:
    """A 1 x 1 adjoint spread over a shape (``g 1 1^T``); a multiple of ``1`` stays a multiple of ``1``."""
    coefficient, matrix = split_scalar(g)
    return scaled(coefficient, Ones(rows, cols) if _is_ones(matrix) else Fill(matrix, rows, cols))


def rowsum(g: MatrixExpr) -> MatrixExpr:
    """``rowsum(g)`` (broadcast to g's shape), with a scalar factor kept outside: ``rowsum(-y) = -rowsum(y)``."""
    coefficient, matrix = split_scalar(g)
    return scaled(coefficient, RowSum(matrix))


def matmul(*factors: sp.Basic) -> MatrixExpr:
    """Matrix (and scalar) product: nested products flattened, scalars merged in front.

    Built without SymPy's ``doit``, which walks the whole tree: a deep model's adjoints share
    subformulas, and walking them as trees costs exponential time.

    >>> A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 2, 3)
    >>> matmul(transpose(A * B.T), 1 / sp.sqrt(3))
    (sqrt(3)/3)*B*A.T
    """
    coefficient, matrices = sp.S.One, []
    for factor in factors:
        if isinstance(factor, sp.MatMul):
            c, rest = split_scalar(factor)
            coefficient *= c
            matrices.extend(rest.args if isinstance(rest, sp.MatMul) else (rest,))
        elif getattr(factor, "is_Matrix", False):
            matrices.append(factor)
        else:
            coefficient *= factor
    if coefficient == 0:
        return sp.ZeroMatrix(matrices[0].shape[0], matrices[-1].shape[1])
    if coefficient == 1 and len(matrices) == 1:
        return matrices[0]
    head = () if coefficient == 1 else (coefficient,)
    return sp.MatMul(*head, *matrices, evaluate=False)


def scaled(factor: sp.Expr, x: MatrixExpr) -> MatrixExpr:
    """``factor * x``; a factor of 1 leaves ``x`` alone."""
    return x if factor == 1 else matmul(factor, x)


def neg(x: MatrixExpr) -> MatrixExpr:
    """``-x``, merged into a product's coefficient, or taken term by term through a sum."""
    if isinstance(x, sp.MatAdd):
        return add(*[neg(term) for term in x.args])
    return matmul(-1, x)


def transpose(x: MatrixExpr) -> MatrixExpr:
    """``x^T``, pushed through products (``(AB)^T = B^T A^T``) and cancelling ``(x^T)^T``.

    >>> A = sp.MatrixSymbol("A", 2, 3)
    >>> transpose(transpose(A)), transpose(2 * A * A.T)
    (A, 2*A*A.T)
    """
    if isinstance(x, sp.Transpose):
        return x.arg
    if isinstance(x, sp.MatMul):
        c, rest = split_scalar(x)
        parts = rest.args if isinstance(rest, sp.MatMul) else (rest,)
        return matmul(c, *[transpose(p) for p in reversed(parts)])
    if isinstance(x, (Ones, sp.ZeroMatrix)):
        return type(x)(x.shape[1], x.shape[0])
    return sp.Transpose(x)


def add(*terms: MatrixExpr) -> MatrixExpr:
    """A sum of matrix terms (one term is itself), nested sums flattened, zeros dropped."""
    flat: list[MatrixExpr] = []
    for term in terms:
        flat.extend(term.args if isinstance(term, sp.MatAdd) else (term,))
    kept = [t for t in flat if not isinstance(t, sp.ZeroMatrix)] or flat[:1]
    # Positive terms first, so a sum reads O - T rather than -T + O.
    kept.sort(key=lambda t: split_scalar(t)[0].could_extract_minus_sign())
    return kept[0] if len(kept) == 1 else sp.MatAdd(*kept, evaluate=False)


def explicit(expr: MatrixExpr, values: dict[sp.MatrixSymbol, sp.Matrix]) -> sp.Matrix:
    """The explicit matrix of ``expr`` at concrete sizes, each matrix symbol replaced by its value.

    Evaluated bottom-up on explicit matrices: a product is a matrix product of its explicit
    factors, never SymPy's entry-by-entry ``Sum(...).doit()`` (many times slower, and the
    entrywise checks ask for thousands of these).

    >>> A = sp.MatrixSymbol("A", 1, 2)
    >>> explicit(RowSums(A), {A: sp.Matrix([[1, 2]])})
    Matrix([[3]])
    >>> explicit(2 * A.T * A + sp.HadamardProduct(A.T * A, A.T * A), {A: sp.Matrix([[1, 2]])})
    Matrix([
    [3,  8],
    [8, 24]])
    """
    known: dict[sp.Basic, sp.ImmutableMatrix] = {
        symbol: sp.ImmutableMatrix(value) for symbol, value in values.items()
    }
    # Entries written as scalars (A[0, 1] in a coefficient or a matrix literal) get values too.
    entries = {
        symbol[i, j]: value[i, j]
        for symbol, value in values.items()
        for i in range(value.rows)
        for j in range(value.cols)
    }
    return sp.Matrix(_explicit(expr, known, entries))


def _explicit(
    expr: MatrixExpr, known: dict[sp.Basic, sp.ImmutableMatrix], entries: dict[sp.Basic, sp.Expr]
) -> sp.ImmutableMatrix:
    if expr in known:
        return known[expr]
    matrices = [arg for arg in expr.args if getattr(arg, "is_Matrix", False)]
    if isinstance(expr, sp.MatMul) and matrices:
        scalar = sp.Mul(*[arg for arg in expr.args if not getattr(arg, "is_Matrix", False)]).xreplace(entries)
        product = _explicit(matrices[0], known, entries)
        for factor in matrices[1:]:
            product = product * _explicit(factor, known, entries)
        result = product if scalar == 1 else product.applyfunc(lambda entry: scalar * entry)
    elif isinstance(expr, sp.MatAdd):
        terms = [_explicit(arg, known, entries) for arg in expr.args]
        result = terms[0]
        for term in terms[1:]:
            result = result + term
    elif isinstance(expr, sp.HadamardProduct):
        factors = [_explicit(arg, known, entries) for arg in expr.args]
        result = factors[0]
        for factor in factors[1:]:
            result = result.multiply_elementwise(factor)
    elif isinstance(expr, sp.Transpose):
        result = _explicit(expr.arg, known, entries).T
    else:  # a symbol without a value, a literal, or a formula of this module (its own _entry)
        args = [_explicit(arg, known, entries) if getattr(arg, "is_Matrix", False) else arg for arg in expr.args]
        rebuilt = expr if isinstance(expr, (sp.MatrixSymbol, sp.MatrixBase)) else expr.func(*args)
        result = sp.ImmutableMatrix(rebuilt.as_explicit()).xreplace(entries)
    known[expr] = result
    return result
