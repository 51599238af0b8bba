"""Every row of the VJP table is proven entrywise, and wrong rules are caught."""

from __future__ import annotations

import dataclasses
import random

import pytest
import sympy as sp

from derive.atoms import IsMax, MaxOf, Relu, Step, to_sympy_functions
from derive.errors import GradproofError
from graphs.matrices import (
    ELEMENTWISE,
    Apply,
    Corr,
    Elementwise,
    Fill,
    Ones,
    RowSum,
    Softmax,
    Upsample,
    add,
    hadamard,
    matmul,
    neg,
    register_elementwise,
    scaled,
    transpose,
)
from graphs.ops import RULES, rule
from graphs.prove import prove_example, prove_rule
from graphs.rule import EXAMPLE_SHAPES, ShapeError


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_is_proven_at_its_examples(name: str) -> None:
    proof = prove_rule(RULES[name])
    assert proof.kind == "proved", proof.detail
    assert len(proof.shapes) >= len(EXAMPLE_SHAPES)


@pytest.mark.parametrize("name", sorted(RULES))
def test_examples_cover_a_scalar_a_wide_and_a_tall_shape(name: str) -> None:
    shapes = [tuple(int(s) for s in shape) for shapes, _ in RULES[name].examples for shape in shapes]
    assert any(r < c for r, c in shapes) and any(r > c for r, c in shapes), shapes
    if name not in ("conv", "max_pool", "avg_pool"):  # windows need at least their own size
        assert (1, 1) in shapes


def _flip_sign(row, argnum: int):
    vjps = list(row.vjps)
    original = vjps[argnum]
    vjps[argnum] = lambda *a, **p: (lambda g: neg(original(*a, **p)(g)))
    return dataclasses.replace(row, vjps=tuple(vjps))


@pytest.mark.parametrize(("name", "argnum"), [(n, k) for n in sorted(RULES) for k in range(len(RULES[n].args))])
def test_a_sign_flipped_rule_fails(name: str, argnum: int) -> None:
    proof = prove_rule(_flip_sign(RULES[name], argnum))
    assert proof.kind == "failed"
    assert RULES[name].args[argnum] in proof.detail


def _replace(name: str, argnum: int, wrong) -> object:
    vjps = list(RULES[name].vjps)
    vjps[argnum] = wrong
    return dataclasses.replace(RULES[name], vjps=tuple(vjps))


# The lecture's classic slips, each as a wrong rule that the proof must reject.
MISTAKES = {
    "softmax without the row-sum term": ("softmax", 0, lambda ans, x: lambda g: hadamard(ans, g)),
    "softmax with the row-sum of g alone": ("softmax", 0, lambda ans, x: lambda g: hadamard(ans, add(g, neg(RowSum(g))))),
    "log-softmax without the softmax term": ("log_softmax", 0, lambda ans, x: lambda g: g),
    "matmul: missing transpose on B": ("matmul", 0, lambda ans, a, b: lambda g: matmul(g, b)),
    "matmul: A^T on the wrong side": ("matmul", 1, lambda ans, a, b: lambda g: transpose(matmul(g, transpose(a)))),
    "sigmoid: O instead of O(1 - O)": ("sigmoid", 0, lambda ans, x: lambda g: hadamard(g, ans)),
    "tanh: 1 - tanh instead of 1 - tanh^2": ("tanh", 0, lambda ans, x: lambda g: hadamard(g, add(Ones(*ans.shape), neg(ans)))),
    "scale: dropped factor": ("scale", 0, lambda ans, x, factor: lambda g: g),
    "square: dropped 2": ("square", 0, lambda ans, x: lambda g: hadamard(g, x)),
    "sqrt: dropped 1/2": ("sqrt", 0, lambda ans, x: lambda g: hadamard(g, sp.HadamardPower(ans, -1))),
    "mask: gradient through masked entries": ("mask", 0, lambda ans, x, mask: lambda g: g),
    "conv: input gradient by correlation (kernel not flipped)": ("conv", 0, lambda ans, x, k: lambda g: Corr(Upsample(g, 1), k)),
    "avg pool: missing 1/k^2": ("avg_pool", 0, lambda ans, x, k: lambda g: Upsample(g, k)),
    "avg pool: 1/(2k), equal to 1/k^2 only at k = 2": ("avg_pool", 0, lambda ans, x, k: lambda g: scaled(sp.Rational(1, 2 * k), Upsample(g, k))),
    "max pool: routed like average pooling": ("max_pool", 0, lambda ans, x, k: lambda g: scaled(sp.Rational(1, k * k), Upsample(g, k))),
    "concat: slices swapped": ("concat", 0, lambda ans, x, y: lambda g: RULES["concat"].vjps[1](ans, x, y)(g)),
    "mean: missing 1/(nm)": ("mean", 0, lambda ans, x: lambda g: Fill(g, *x.shape)),
    "row mean: missing 1/m": ("row_mean", 0, lambda ans, x: lambda g: RULES["row_sum"].vjps[0](ans, x)(g)),
    "add_row: bias gradient not summed over rows": ("add_row", 1, lambda ans, x, r: lambda g: g),
    "mul_col: scale gradient without the input": ("mul_col", 1, lambda ans, x, c: lambda g: RULES["add_col"].vjps[1](ans, x, c)(g)),
    "col mean: missing 1/n": ("col_mean", 0, lambda ans, x: lambda g: RULES["col_sum"].vjps[0](ans, x)(g)),
    "gelu: (1 + tanh)/2 alone, the product rule's second term dropped": (
        "gelu", 0, lambda ans, x: lambda g: hadamard(g, scaled(sp.Rational(1, 2), add(Ones(*x.shape), Apply(
            scaled(sp.sqrt(2 / sp.pi), add(x, scaled(sp.Rational(44715, 10**6), hadamard(x, Apply(x, "square"))))), "tanh"))))),
    "gelu: sigmoid's slope (the GELU(x) ~ x sigma(1.702 x) form)": (
        "gelu", 0, lambda ans, x: lambda g: hadamard(g, Apply(scaled(sp.Rational(1702, 1000), x), "sigmoid"))),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_classic_mistakes_are_caught(mistake: str) -> None:
    name, argnum, wrong = MISTAKES[mistake]
    proof = prove_rule(_replace(name, argnum, wrong))
    assert proof.kind == "failed", mistake


def test_a_failure_names_the_rule_the_input_the_shapes_and_a_point() -> None:
    proof = prove_rule(_replace("softmax", 0, MISTAKES["softmax without the row-sum term"][2]))
    assert proof.detail.startswith("softmax w.r.t. X at ")
    assert "derived" in proof.detail and "claimed" in proof.detail


def test_shape_errors_name_the_op_and_the_shapes() -> None:
    A, B = sp.MatrixSymbol("A", 2, 3), sp.MatrixSymbol("B", 2, 3)
    with pytest.raises(ShapeError, match=r"matmul: inner sizes differ .*A: 2 x 3, B: 2 x 3"):
        rule("matmul").output(A, B)
    with pytest.raises(ShapeError, match="multiples of the window"):
        rule("max_pool").output(sp.MatrixSymbol("X", 3, 4), k=2)
    with pytest.raises(GradproofError, match="no VJP rule for op 'softmaxx'"):
        rule("softmaxx")


def test_a_rule_without_a_gradient_says_which_input() -> None:
    row = dataclasses.replace(RULES["mul"], vjps=(RULES["mul"].vjps[0], None))
    X = sp.MatrixSymbol("X", 1, 1)
    with pytest.raises(GradproofError, match="op mul has no gradient with respect to Y"):
        row.vjp(1, X, [X, X], {}, X)


def _numeric(expr: sp.Expr) -> float:
    expr = to_sympy_functions(expr)
    expr = expr.replace(Relu, lambda x: sp.Max(0, x)).replace(MaxOf, sp.Max)
    return float(sp.N(expr.replace(Step, lambda x: sp.Heaviside(x, 0)).replace(IsMax, lambda *a: 0)))


@pytest.mark.parametrize(("name", "number"), [(n, k) for n in sorted(RULES) for k in range(len(RULES[n].examples))])
def test_torch_forward_matches_the_sympy_forward(name: str, number: int) -> None:
    """The torch column of the table (for verify/) computes what the proven SymPy forward does."""
    torch = pytest.importorskip("torch")
    from graphs.matrices import explicit

    row = RULES[name]
    shapes, params = row.examples[number]
    params = {k: sp.Rational(3, 2) if isinstance(v, sp.Symbol) else v for k, v in params.items()}
    rng = random.Random(7 + number)
    symbols = [sp.MatrixSymbol(arg, *shape) for arg, shape in zip(row.args, shapes)]
    low = 50 if row.domain else -200
    values = {s: sp.Matrix(*s.shape, lambda i, j: sp.Rational(rng.randint(low, 200), 100)) for s in symbols}
    expected = explicit(row.output(*symbols, **params), values).applyfunc(_numeric)

    def tensor(m: sp.Matrix) -> torch.Tensor:
        return torch.tensor([[float(e) for e in m.row(i)] for i in range(m.rows)], dtype=torch.float64)

    params_torch = {k: tensor(sp.Matrix(v)) if isinstance(v, sp.MatrixBase) else v for k, v in params.items()}
    inputs = [tensor(values[s]) for s in symbols]
    got = row.torch(torch, *inputs, **params_torch)
    assert tuple(got.shape) == expected.shape
    torch.testing.assert_close(got, tensor(expected), rtol=1e-12, atol=1e-12)
    batched = row.torch(torch, *[x.unsqueeze(0).repeat(2, 1, 1) for x in inputs], **params_torch)
    torch.testing.assert_close(batched[1], got)


def test_prove_example_reports_a_rule_whose_formula_has_the_wrong_shape() -> None:
    wrong = _replace("matmul", 0, lambda ans, a, b: lambda g: matmul(g, b))
    outcome = prove_example(wrong, (((2, 3), (3, 2)), {}))
    assert outcome.kind == "failed" and "cannot be built" in outcome.detail


def test_mask_softmax_gives_exact_zeros_where_masked() -> None:
    from graphs.matrices import CausalMask, Masked, explicit

    S = sp.MatrixSymbol("S", 2, 2)
    A = explicit(Softmax(Masked(S, CausalMask(2))), {S: sp.Matrix(2, 2, sp.symbols("a b c d", real=True))})
    assert A[0, 1] == 0 and A[0, 0] == 1


def test_text_brackets_products_inside_products() -> None:
    from graphs.matrices import Apply, BroadcastCols, BroadcastRows
    from graphs.text import formula_text

    c, G = sp.MatrixSymbol("c", 2, 1), sp.MatrixSymbol("G", 2, 2)
    assert formula_text(transpose(BroadcastCols(c, 2))) == "(c 𝟏ᵀ)ᵀ"
    assert formula_text(hadamard(G, BroadcastRows(sp.MatrixSymbol("r", 1, 2), 2))) == "G ⊙ (𝟏 r)"
    assert formula_text(hadamard(G, Apply(G, "reciprocal"))) == "G ⊙ (1/G)"
    latex = sp.latex(hadamard(G, BroadcastRows(sp.MatrixSymbol("r", 1, 2), 2)))
    assert latex == r"G \circ \left(\mathbf{1} r\right)"


def test_every_elementwise_row_is_what_apply_reads_and_prints() -> None:
    """The row is the one definition: Apply's entries and spelling are the row's own objects."""
    assert set(ELEMENTWISE) == {name for name, row in RULES.items() if row.elementwise}
    X = sp.MatrixSymbol("X", 1, 1)
    for name, row in RULES.items():
        if row.elementwise:
            assert ELEMENTWISE[name] is row.elementwise
            assert Apply(X, name).as_explicit()[0, 0] == row.elementwise.scalar(X[0, 0])
            assert row.forward(X) == Apply(X, name)


def test_elementwise_spellings_are_unchanged_and_a_second_definition_is_refused() -> None:
    X, Y = sp.MatrixSymbol("X", 2, 2), sp.MatrixSymbol("Y", 2, 2)
    assert sp.latex(Apply(X, "square")) == r"X^{\circ 2}"
    assert sp.latex(Apply(X + Y, "square")) == r"\left(X + Y\right)^{\circ 2}"
    assert sp.latex(Apply(X, "reciprocal")) == r"X^{\circ -1}" and str(Apply(X, "reciprocal")) == "1/X"
    assert sp.latex(Apply(X, "sqrt")) == r"\sqrt{X}" and str(Apply(X + Y, "exp")) == "exp(X + Y)"
    assert sp.latex(Apply(X, "gelu")) == r"\operatorname{GELU}\left(X\right)" and str(Apply(X, "gelu")) == "gelu(X)"
    with pytest.raises(ValueError, match="two elementwise functions named 'exp'"):
        register_elementwise("exp", Elementwise(sp.exp, "e^{{{0}}}", "e^{0}"))
    with pytest.raises(ValueError, match="no elementwise function 'softplus'"):
        Apply(X, "softplus")
