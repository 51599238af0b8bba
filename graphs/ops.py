"""The VJP rule table: one row per op, data only (the machinery is in rule.py, prove.py, backprop.py).

Each VJP is curried as in HIPS autograd: ``lambda ans, *args, **params: lambda g: adjoint``,
and reuses the forward output ``ans`` where the math allows (exp, sigmoid, tanh, softmax, sqrt,
reciprocal). Every row is proven entrywise against the exact derivative by ``graphs.prove`` at its
example shapes, and at symbolic shapes in index form by ``graphs.prove_index`` (its ``symbolic``
shapes; a test walks the whole table). Torch forwards take the ``torch`` module first and accept any leading
batch dimensions; a mask is a 0/1 tensor, a pooling window an int. The torch column is the op's
only torch code: verify/graph_forward.py runs it for autograd, and verify/compile.py's generated
gradients call it for every forward they need. An elementwise row (``_elementwise``) also carries
the op's scalar SymPy function and its LaTeX and text spelling, which ``Apply`` reads: adding an
op is adding a row here, nothing else.

>>> sorted(RULES)[:4]
['add', 'add_col', 'add_row', 'avg_pool']
"""

from __future__ import annotations

import sympy as sp

from derive.atoms import Exp, Relu, Sqrt, sigmoid
from derive.notation import size

from .matrices import (
    Apply,
    AvgPool,
    BroadcastCols,
    BroadcastRows,
    ColSums,
    Columns,
    Concat,
    Corr,
    Elementwise,
    Flatten,
    FullConv,
    Indicator,
    LogSoftmax,
    Masked,
    MaxPool,
    MaxUnpool,
    RowSums,
    Softmax,
    Total,
    Unflatten,
    Upsample,
    add,
    hadamard,
    matmul,
    neg,
    ones_like,
    register_elementwise,
    rowsum,
    scaled,
    spread,
    transpose,
)
from .rule import EXAMPLE_SHAPES, Rule, square_examples

__all__ = ["RULES", "rule"]


def _differ(a: sp.Expr, b: sp.Expr) -> bool:
    return sp.expand(sp.sympify(a) - sp.sympify(b)) != 0


def _same(*shapes) -> str | None:
    return "inputs must have one shape" if any(_differ(s[k], shapes[0][k]) for s in shapes for k in (0, 1)) else None


def _matmul(a, b) -> str | None:
    return f"inner sizes differ ({a[1]} and {b[0]})" if _differ(a[1], b[0]) else None


def _with_row(x, r) -> str | None:
    return "the second input must be a row with as many columns" if _differ(r[0], 1) or _differ(r[1], x[1]) else None


def _with_col(x, c) -> str | None:
    return "the second input must be a column with as many rows" if _differ(c[1], 1) or _differ(c[0], x[0]) else None


def _concat(x, y) -> str | None:
    return "inputs must have as many rows" if _differ(x[0], y[0]) else None


def _mask(x, mask) -> str | None:
    return "the mask must have the scores' shape" if any(_differ(a, b) for a, b in zip(x, mask.shape)) else None


def _pool(x, k) -> str | None:
    sizes = [s for s in x if isinstance(s, (int, sp.Integer))]
    return f"sizes must be multiples of the window {k}" if any(int(s) % k for s in sizes) else None


def _elementwise(name: str, scalar, tex: str, text: str, torch, vjp, summary: str, domain: str = "real", power=None) -> Rule:
    """An op applied entry by entry, all of it in one row: ``scalar`` (the SymPy function of one
    entry) with its LaTeX and text spelling (``{0}`` is the argument; ``power`` the operator
    spelling on a bare symbol) is what ``Apply(X, name)`` reads; then its torch forward and VJP."""
    return Rule(name, ("X",), lambda x: Apply(x, name), (vjp,), torch, square_examples(1), summary, {"X": domain},
                elementwise=Elementwise(scalar, tex, text, power))


def _pool_examples():
    """Windows of 2 and of 3: with k = 2 alone, 1/k^2 and 1/(2k) could not be told apart."""
    return tuple((((k * r, k * c),), {"k": k}) for k in (2, 3) for r, c in EXAMPLE_SHAPES if k * r * k * c <= 54)


def _planes(pool, x, k: int):
    """torch's 2-D ``pool`` (which takes ``(N, C, H, W)``) of every matrix of ``x``, whatever batch
    dimensions lead: the batched convention the compiled gradients take as well."""
    out = pool(x.reshape(-1, 1, *x.shape[-2:]), k)
    return out.reshape(*x.shape[:-2], *out.shape[-2:])


def _row_examples():
    return tuple((((r, c), (1, c)), {}) for r, c in EXAMPLE_SHAPES)


def _col_examples():
    return tuple((((r, c), (r, 1)), {}) for r, c in EXAMPLE_SHAPES)


_GELU_C, _GELU_A = sp.sqrt(2 / sp.pi), sp.Rational(44715, 10**6)  # exact, as the tanh form's constants


def _gelu_slope(x):
    """GELU'(X) = (1 + T) / 2 + c X ∘ (1 - T^2) ∘ (1 + 3a X^2) / 2, T = tanh(c (X + a X^3)), in matrix ops."""
    t = Apply(scaled(_GELU_C, add(x, scaled(_GELU_A, hadamard(x, Apply(x, "square"))))), "tanh")
    ones = ones_like(x)
    return add(scaled(sp.Rational(1, 2), add(ones, t)), scaled(_GELU_C / 2, hadamard(
        x, add(ones, neg(Apply(t, "square"))), add(ones, scaled(3 * _GELU_A, Apply(x, "square"))))))


_MASKS = {  # a general 0/1 mask per example shape, every row keeping at least one entry
    (1, 1): sp.ImmutableMatrix([[1]]),
    (2, 3): sp.ImmutableMatrix([[1, 0, 1], [0, 1, 0]]),
    (3, 2): sp.ImmutableMatrix([[1, 0], [1, 1], [0, 1]]),
}

# Symbolic shapes of the index-form proofs (graphs/prove_index.py): a row or a column beside X.
_ROW_SYMBOLIC = ((("n", "m"), (1, "m")), {})
_COL_SYMBOLIC = ((("n", "m"), ("n", 1)), {})

_ROWS: tuple[Rule, ...] = (
    Rule("add", ("X", "Y"), lambda x, y: add(x, y), (lambda ans, x, y: lambda g: g, lambda ans, x, y: lambda g: g),
         lambda t, x, y: x + y, square_examples(2), "X + Y", check=_same),
    Rule("sub", ("X", "Y"), lambda x, y: add(x, neg(y)), (lambda ans, x, y: lambda g: g, lambda ans, x, y: lambda g: neg(g)),
         lambda t, x, y: x - y, square_examples(2), "X - Y", check=_same),
    Rule("neg", ("X",), neg, (lambda ans, x: lambda g: neg(g),), lambda t, x: -x, square_examples(1), "-X"),
    Rule("scale", ("X",), lambda x, factor: scaled(factor, x), (lambda ans, x, factor: lambda g: scaled(factor, g),),
         lambda t, x, factor: x * float(factor),
         tuple((shapes, {"factor": sp.Symbol("c", real=True)}) for shapes, _ in square_examples(1)),
         "c X for a constant c", symbolic=((("n", "m"),), {"factor": sp.Symbol("c", real=True)})),
    Rule("shift", ("X",), lambda x, constant: add(x, scaled(constant, ones_like(x))),
         (lambda ans, x, constant: lambda g: g,), lambda t, x, constant: x + float(constant),
         tuple((shapes, {"constant": sp.Symbol("c", real=True)}) for shapes, _ in square_examples(1)),
         "X + c for a constant c (the epsilon under a square root)", symbolic=((("n", "m"),), {"constant": sp.Symbol("c", real=True)})),
    Rule("mul", ("X", "Y"), lambda x, y: hadamard(x, y),
         (lambda ans, x, y: lambda g: hadamard(g, y), lambda ans, x, y: lambda g: hadamard(g, x)),
         lambda t, x, y: x * y, square_examples(2), "X ∘ Y (Hadamard)", check=_same),
    Rule("matmul", ("A", "B"), lambda a, b: matmul(a, b),
         (lambda ans, a, b: lambda g: matmul(g, transpose(b)), lambda ans, a, b: lambda g: matmul(transpose(a), g)),
         lambda t, a, b: a @ b, tuple((((r, c), (c, r)), {}) for r, c in EXAMPLE_SHAPES), "A B", check=_matmul,
         symbolic=((("n", "k"), ("k", "m")), {})),
    Rule("transpose", ("X",), transpose, (lambda ans, x: lambda g: transpose(g),),
         lambda t, x: x.transpose(-2, -1), square_examples(1), "X^T"),
    _elementwise("exp", Exp, r"\exp\left({0}\right)", "exp({0})", lambda t, x: t.exp(x),
                 lambda ans, x: lambda g: hadamard(g, ans), "exp(X), entry by entry"),
    _elementwise("log", sp.log, r"\log\left({0}\right)", "log({0})", lambda t, x: t.log(x),
                 lambda ans, x: lambda g: hadamard(g, Apply(x, "reciprocal")), "log(X) for X > 0", "positive"),
    _elementwise("sqrt", Sqrt, r"\sqrt{{{0}}}", "sqrt({0})", lambda t, x: t.sqrt(x),
                 lambda ans, x: lambda g: scaled(sp.Rational(1, 2), hadamard(g, Apply(ans, "reciprocal"))),
                 "sqrt(X) for X > 0", "positive"),
    _elementwise("reciprocal", lambda x: 1 / x, r"\left({0}\right)^{{\circ -1}}", "1/({0})", lambda t, x: t.reciprocal(x),
                 lambda ans, x: lambda g: neg(hadamard(g, Apply(ans, "square"))), "1 / X, entry by entry", "positive",
                 power=(r"{0}^{{\circ -1}}", "1/{0}")),
    _elementwise("square", lambda x: x**2, r"\left({0}\right)^{{\circ 2}}", "({0})^2", lambda t, x: x * x,
                 lambda ans, x: lambda g: scaled(2, hadamard(g, x)), "X ∘ X", power=(r"{0}^{{\circ 2}}", "{0}²")),
    _elementwise("sigmoid", sigmoid, r"\sigma\left({0}\right)", "sigmoid({0})", lambda t, x: t.sigmoid(x),
                 lambda ans, x: lambda g: hadamard(g, ans, add(ones_like(ans), neg(ans))), "sigma(X) = 1 / (1 + e^{-X})"),
    _elementwise("tanh", sp.tanh, r"\tanh\left({0}\right)", "tanh({0})", lambda t, x: t.tanh(x),
                 lambda ans, x: lambda g: hadamard(g, add(ones_like(ans), neg(Apply(ans, "square")))), "tanh(X)"),
    _elementwise("relu", Relu, r"\operatorname{{relu}}\left({0}\right)", "relu({0})", lambda t, x: t.relu(x),
                 lambda ans, x: lambda g: hadamard(g, Indicator(x)), "max(0, X); relu'(0) = 0, as PyTorch"),
    _elementwise("gelu", lambda x: x * (1 + sp.tanh(_GELU_C * (x + _GELU_A * x**3))) / 2, r"\operatorname{{GELU}}\left({0}\right)",
                 "gelu({0})", lambda t, x: t.nn.functional.gelu(x, approximate="tanh"),
                 lambda ans, x: lambda g: hadamard(g, _gelu_slope(x)), "GELU, tanh form: X ∘ (1 + tanh(sqrt(2/pi) (X + 0.044715 X^3))) / 2"),
    Rule("softmax", ("X",), lambda x: Softmax(x),
         (lambda ans, x: lambda g: hadamard(ans, add(g, neg(rowsum(hadamard(g, ans))))),),
         lambda t, x: t.softmax(x, -1), square_examples(1), "softmax of each row"),
    Rule("log_softmax", ("X",), lambda x: LogSoftmax(x),
         (lambda ans, x: lambda g: add(g, neg(hadamard(Softmax(x), rowsum(g)))),),
         lambda t, x: t.log_softmax(x, -1), square_examples(1), "log softmax of each row"),
    Rule("sum", ("X",), lambda x: Total(x),
         (lambda ans, x: lambda g: spread(g, *x.shape),),
         lambda t, x: x.sum((-2, -1), keepdim=True), square_examples(1), "sum of all entries (1 x 1)"),
    Rule("mean", ("X",), lambda x: scaled(1 / (x.shape[0] * x.shape[1]), Total(x)),
         (lambda ans, x: lambda g: scaled(1 / (x.shape[0] * x.shape[1]), spread(g, *x.shape)),),
         lambda t, x: x.mean((-2, -1), keepdim=True), square_examples(1), "mean of all entries (1 x 1)"),
    Rule("row_sum", ("X",), lambda x: RowSums(x), (lambda ans, x: lambda g: BroadcastCols(g, x.shape[1]),),
         lambda t, x: x.sum(-1, keepdim=True), square_examples(1), "X 1: the column of row sums"),
    Rule("row_mean", ("X",), lambda x: scaled(1 / x.shape[1], RowSums(x)),
         (lambda ans, x: lambda g: scaled(1 / x.shape[1], BroadcastCols(g, x.shape[1])),),
         lambda t, x: x.mean(-1, keepdim=True), square_examples(1), "the column of row means"),
    Rule("col_sum", ("X",), lambda x: ColSums(x), (lambda ans, x: lambda g: BroadcastRows(g, x.shape[0]),),
         lambda t, x: x.sum(-2, keepdim=True), square_examples(1), "1^T X: the row of column sums"),
    Rule("col_mean", ("X",), lambda x: scaled(1 / x.shape[0], ColSums(x)),
         (lambda ans, x: lambda g: scaled(1 / x.shape[0], BroadcastRows(g, x.shape[0])),),
         lambda t, x: x.mean(-2, keepdim=True), square_examples(1),
         "the row of column means (batch norm's mean over the batch)"),
    Rule("add_row", ("X", "r"), lambda x, r: add(x, BroadcastRows(r, x.shape[0])),
         (lambda ans, x, r: lambda g: g, lambda ans, x, r: lambda g: ColSums(g)),
         lambda t, x, r: x + r, _row_examples(), "X + 1 r: a row (a bias) added to every row", check=_with_row,
         symbolic=_ROW_SYMBOLIC),
    Rule("add_col", ("X", "c"), lambda x, c: add(x, BroadcastCols(c, x.shape[1])),
         (lambda ans, x, c: lambda g: g, lambda ans, x, c: lambda g: RowSums(g)),
         lambda t, x, c: x + c, _col_examples(), "X + c 1^T: a column added to every column", check=_with_col,
         symbolic=_COL_SYMBOLIC),
    Rule("mul_row", ("X", "r"), lambda x, r: hadamard(x, BroadcastRows(r, x.shape[0])),
         (lambda ans, x, r: lambda g: hadamard(g, BroadcastRows(r, x.shape[0])), lambda ans, x, r: lambda g: ColSums(hadamard(g, x))),
         lambda t, x, r: x * r, _row_examples(), "X ∘ (1 r): every row scaled entrywise (layer norm's gain)", check=_with_row,
         symbolic=_ROW_SYMBOLIC),
    Rule("mul_col", ("X", "c"), lambda x, c: hadamard(x, BroadcastCols(c, x.shape[1])),
         (lambda ans, x, c: lambda g: hadamard(g, BroadcastCols(c, x.shape[1])), lambda ans, x, c: lambda g: RowSums(hadamard(g, x))),
         lambda t, x, c: x * c, _col_examples(), "X ∘ (c 1^T): row i scaled by c_i", check=_with_col,
         symbolic=_COL_SYMBOLIC),
    Rule("mask", ("X",), lambda x, mask: Masked(x, mask), (lambda ans, x, mask: lambda g: hadamard(g, mask),),
         lambda t, x, mask: x.masked_fill(mask == 0, float("-inf")),
         tuple(((shape,), {"mask": _MASKS[shape]}) for shape in EXAMPLE_SHAPES),
         "where(M, X, -inf): masked scores before a softmax", check=_mask,
         symbolic=((("n", "m"),), {"mask": sp.MatrixSymbol("M", size("n"), size("m"))})),
    Rule("concat", ("X", "Y"), lambda x, y: Concat(x, y),
         (lambda ans, x, y: lambda g: Columns(g, 0, x.shape[1]),
          lambda ans, x, y: lambda g: Columns(g, x.shape[1], x.shape[1] + y.shape[1])),
         lambda t, x, y: t.cat([x, y], -1), tuple((((r, c), (r, c + 1)), {}) for r, c in EXAMPLE_SHAPES),
         "[X, Y]: features side by side (DenseNet)", check=_concat,
         symbolic=((("n", "p"), ("n", "q")), {})),
    Rule("conv", ("X", "K"), lambda x, k: Corr(x, k),
         (lambda ans, x, k: lambda g: FullConv(g, k), lambda ans, x, k: lambda g: Corr(x, g)),
         lambda t, x, k: (x.unfold(-2, k.shape[-2], 1).unfold(-2, k.shape[-1], 1) * k[..., None, None, :, :]).sum((-2, -1)),
         tuple((((r + 1, c + 1), (2, 2)), {}) for r, c in EXAMPLE_SHAPES) + ((((3, 4), (1, 3)), {}),),
         "X ⋆ K: valid 2-D cross-correlation (a convolution layer)",
         symbolic=((("h", "w"), ("r", "s")), {})),
    Rule("max_pool", ("X",), lambda x, k: MaxPool(x, k), (lambda ans, x, k: lambda g: MaxUnpool(g, x, k),),
         lambda t, x, k: _planes(t.nn.functional.max_pool2d, x, k),
         _pool_examples() + ((((2, 3),), {"k": 1}),),
         "k x k max pooling, stride k; ties go to the first maximum", check=_pool,
         symbolic=(((size("k") * size("h"), size("k") * size("w")),), {"k": size("k")})),
    Rule("avg_pool", ("X",), lambda x, k: AvgPool(x, k), (lambda ans, x, k: lambda g: scaled(1 / sp.sympify(k) ** 2, Upsample(g, k)),),
         lambda t, x, k: _planes(t.nn.functional.avg_pool2d, x, k),
         _pool_examples(),
         "k x k average pooling, stride k", check=_pool,
         symbolic=(((size("k") * size("h"), size("k") * size("w")),), {"k": size("k")})),
    Rule("flatten", ("X",), lambda x: Flatten(x), (lambda ans, x: lambda g: Unflatten(g, *x.shape),),
         lambda t, x: x.flatten(-2).unsqueeze(-2), square_examples(1), "vec(X)^T: a map as one row"),
)

RULES: dict[str, Rule] = {r.name: r for r in _ROWS}
for _row in _ROWS:
    if _row.elementwise:
        register_elementwise(_row.name, _row.elementwise)


def rule(name: str) -> Rule:
    """The table's row for ``name``, or an error listing the ops there are.

    >>> rule("softmax").args
    ('X',)
    """
    try:
        return RULES[name]
    except KeyError:
        from derive.errors import GradproofError

        raise GradproofError(f"no VJP rule for op {name!r}; the table has {', '.join(sorted(RULES))}") from None
