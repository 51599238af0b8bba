"""VJP rules proved at symbolic shapes in index form; wrong rules fail there; models name their rules."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from sympy.matrices.expressions.matexpr import MatrixExpr

from derive.indexcalc import Between, canonical_sums, collapse_in_ranges
from graphs.matrices import (
    Apply,
    ColSums,
    FullConv,
    Ones,
    RowSum,
    RowSums,
    Unflatten,
    Upsample,
    add,
    hadamard,
    matmul,
    neg,
    scaled,
    transpose,
)
from graphs.ops import RULES
from graphs.prove_index import IndexProof, entry, index_proof, proof_row, prove_index, rule_proof_table
from graphs.route import every_size_counts, graph_results, model_rules, model_status

# Rows whose forward has no index form at symbolic sizes, each proved at its example shapes only.
# A new row must be proved in index form or be added here (with a reason in its row). None today.
SHAPE_ONLY: set[str] = set()


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_is_proved_in_index_form_or_listed_as_shape_only(name: str) -> None:
    proof = index_proof(name)
    if name in SHAPE_ONLY:
        assert proof.kind == "unavailable" and RULES[name].shape_only and proof.detail == RULES[name].shape_only
    else:
        assert proof.kind == "proved", proof.detail
        assert len(proof.entries) == len(RULES[name].args)


# The proved entries, read back: the lecture's index formulas, at symbolic sizes.
ENTRIES = {
    "matmul": ("A: n x k, B: k x m", ["dA[a, b] = Sum(B[b, l]*G[a, l], (l, 0, m - 1))",
                                      "dB[a, b] = Sum(A[l, a]*G[l, b], (l, 0, n - 1))"]),
    "add_row": ("X: n x m, r: 1 x m", ["dX[a, b] = G[a, b]", "dr[0, b] = Sum(G[k, b], (k, 0, n - 1))"]),
    "add_col": ("X: n x m, c: n x 1", ["dX[a, b] = G[a, b]", "dc[a, 0] = Sum(G[a, k], (k, 0, m - 1))"]),
    "concat": ("X: n x p, Y: n x q", ["dX[a, b] = G[a, b]", "dY[a, b] = G[a, b + p]"]),
    "mean": ("X: n x m", ["dX[a, b] = G[0, 0]/(m*n)"]),
    "transpose": ("X: n x m", ["dX[a, b] = G[b, a]"]),
    "avg_pool": ("X: h*k x k*w", ["dX[a, b] = G[floor(a/k), floor(b/k)]/k**2"]),
    "flatten": ("X: n x m", ["dX[a, b] = G[0, a*m + b]"]),
    "max_pool": ("X: h*k x k*w", ["dX[a, b] = FirstMax(X, floor(a/k), floor(b/k), a - k*floor(a/k), b - k*floor(b/k), k)"
                                  "*G[floor(a/k), floor(b/k)]"]),
}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_proved_entries_read_as_the_index_formulas(name: str) -> None:
    proof = index_proof(name)
    assert (proof.shapes, list(proof.entries)) == ENTRIES[name]


def test_softmax_entry_keeps_its_row_sum() -> None:
    (text,) = index_proof("softmax").entries
    assert text.startswith("dX[a, b] = (G[a, b] - Sum(exp(X[a, k])*G[a, k], (k, 0, m - 1))")


def test_conv_input_gradient_is_a_full_convolution_with_its_range_indicators() -> None:
    d_x, d_k = index_proof("conv").entries
    assert "Between(a - k, 0, h - r)" in d_x and "G[a - k, b - l]*K[k, l]" in d_x
    assert d_k.startswith("dK[a, b] = Sum(") and "X[a + l, b + k]" in d_k


def test_the_mask_and_relu_proofs_state_what_they_assume() -> None:
    assert any("0 or 1" in a for a in index_proof("mask").assumes)
    assert any("relu'(0) = 0" in a for a in index_proof("relu").assumes)
    assert index_proof("matmul").assumes == ()
    assert index_proof("avg_pool").assumes == ("the windows tile X: (i, a) -> i k + a is a bijection of [0, h) x [0, k) onto [0, kh)",)
    assert "bijection" in index_proof("flatten").assumes[0]


def _replace(name: str, argnum: int, wrong) -> object:
    vjps = list(RULES[name].vjps)
    vjps[argnum] = wrong
    return dataclasses.replace(RULES[name], vjps=tuple(vjps))


def _flip_sign(name: str, argnum: int):
    original = RULES[name].vjps[argnum]
    return _replace(name, argnum, lambda *a, **p: (lambda g: neg(original(*a, **p)(g))))


@pytest.mark.parametrize(("name", "argnum"), [(n, k) for n in sorted(set(RULES) - SHAPE_ONLY) for k in range(len(RULES[n].args))])
def test_a_sign_flipped_rule_fails_at_symbolic_shapes(name: str, argnum: int) -> None:
    proof = prove_index(_flip_sign(name, argnum))
    assert proof.kind == "failed"
    assert f"w.r.t. {RULES[name].args[argnum]} " in proof.detail and "not 0" in proof.detail


class Rot180(MatrixExpr):
    """A kernel turned by 180 degrees: a formula class prove_index does not know (read by ``_entry``)."""

    @property
    def shape(self):
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        rows, cols = self.args[0].shape
        return self.args[0][rows - 1 - i, cols - 1 - j]


WRONG = {
    "matmul without the transpose of B": ("matmul", 0, lambda ans, a, b: lambda g: matmul(g, b), "the formula is n x m"),
    "matmul: A^T G on the wrong side": ("matmul", 1, lambda ans, a, b: lambda g: matmul(g, a), "the formula is n x k"),
    "softmax without its row sum": ("softmax", 0, lambda ans, x: lambda g: hadamard(ans, g), "not 0"),
    "softmax with the row sum of G alone": ("softmax", 0, lambda ans, x: lambda g: hadamard(ans, add(g, neg(RowSum(g)))), "not 0"),
    "tanh with its derivative's sign flipped": (
        "tanh", 0, lambda ans, x: lambda g: hadamard(g, add(Ones(*ans.shape), Apply(ans, "square"))), "not 0"),
    "sigmoid: O instead of O(1 - O)": ("sigmoid", 0, lambda ans, x: lambda g: hadamard(g, ans), "not 0"),
    "bias row summed over the columns": ("add_row", 1, lambda ans, x, r: lambda g: transpose(RowSums(g)), "the formula is 1 x n"),
    "column scale summed over the rows": (
        "mul_col", 1, lambda ans, x, c: lambda g: transpose(ColSums(hadamard(g, x))), "the formula is m x 1"),
    "column bias without its sum": ("add_col", 1, lambda ans, x, c: lambda g: RowSums(hadamard(g, x)), "not 0"),
    "conv kernel not flipped (a full correlation)": (
        "conv", 0, lambda ans, x, k: lambda g: FullConv(g, Rot180(k)), "not 0"),
    "conv kernel gradient as the input's": ("conv", 1, lambda ans, x, k: lambda g: FullConv(g, k), "the formula is h x w"),
    "mean without 1/(nm)": ("mean", 0, lambda ans, x: lambda g: RULES["sum"].vjps[0](ans, x)(g), "not 0"),
    "mask: the gradient through masked entries": ("mask", 0, lambda ans, x, mask: lambda g: g, "not 0"),
    "avg pool without 1/k^2": ("avg_pool", 0, lambda ans, x, k: lambda g: Upsample(g, k), "not 0"),
    "avg pool with 1/(2k), equal to 1/k^2 only at k = 2": (
        "avg_pool", 0, lambda ans, x, k: lambda g: scaled(1 / (2 * k), Upsample(g, k)), "not 0"),
    "max pool routed like average pooling": (
        "max_pool", 0, lambda ans, x, k: lambda g: scaled(1 / k**2, Upsample(g, k)), "not 0"),
    "max pool routed to every entry of the window": ("max_pool", 0, lambda ans, x, k: lambda g: Upsample(g, k), "not 0"),
    "flatten read column by column": (
        "flatten", 0, lambda ans, x: lambda g: transpose(Unflatten(g, x.shape[1], x.shape[0])), "not 0"),
    "concat: Y's slice taken from the start": (
        "concat", 1, lambda ans, x, y: lambda g: RULES["concat"].vjps[0](ans, y, y)(g), "not 0"),
}


@pytest.mark.parametrize("mistake", sorted(WRONG))
def test_wrong_rules_fail_at_symbolic_shapes(mistake: str) -> None:
    name, argnum, wrong, says = WRONG[mistake]
    proof = prove_index(_replace(name, argnum, wrong))
    assert proof.kind == "failed", mistake
    assert says in proof.detail


def test_a_formula_of_an_unknown_class_is_read_through_its_entry() -> None:
    K = sp.MatrixSymbol("K", sp.Symbol("r", integer=True, positive=True), 3)
    i, j = sp.symbols("i j", integer=True)
    assert entry(Rot180(K), i, j) == sp.IndexedBase("K")[K.shape[0] - 1 - i, 2 - j]


@given(n=st.integers(1, 5), offset=st.integers(-3, 3), at=st.integers(-3, 8), ranged=st.booleans())
def test_collapse_in_ranges_agrees_with_the_sum_done_out(n: int, offset: int, at: int, ranged: bool) -> None:
    """Sum_i x_i delta(i + c, j) over i < n: the collapse with its indicator, at concrete values,
    is the sum written out; a stated range of j drops the indicator only when it is implied."""
    size, c, i, j = sp.Symbol("n", integer=True, positive=True), sp.Symbol("c", integer=True), *sp.symbols("i j", integer=True)
    x = sp.IndexedBase("x")
    ranges = {j: (c, size + c - 1)} if ranged else {}
    collapsed = collapse_in_ranges(sp.Sum(x[i] * sp.KroneckerDelta(i + c, j), (i, 0, size - 1)), ranges)
    assert collapsed.has(Between) is not ranged
    direct = sum(x[k] for k in range(n) if k + offset == at)
    value = collapsed.subs({size: n, c: offset, j: at})
    if ranged and not 0 <= at - offset < n:
        return  # outside its stated range the dropped indicator is not claimed
    assert sp.expand(value - direct) == 0


def test_canonical_sums_never_merges_two_indices() -> None:
    b0, b1 = sp.Symbol("_bound0", integer=True), sp.Symbol("_bound1", integer=True)
    y = sp.IndexedBase("y")
    renamed = canonical_sums(sp.Sum(y[b0, b1], (b1, 0, 2), (b0, 0, 3)))
    assert len(renamed.function.indices[0].free_symbols | renamed.function.indices[1].free_symbols) == 2


def test_the_table_lists_every_rule_with_how_it_was_proved() -> None:
    table = rule_proof_table()
    assert [row["rule"] for row in table] == list(RULES)
    json.dumps(table)  # the CLI's --json prints it as it is
    for row in table:
        assert set(row) == {"rule", "status", "sizes", "method", "detail"}
        assert row["status"] == "proved", row
        assert (row["sizes"] == "every") is (row["rule"] not in SHAPE_ONLY)
        assert row["method"] == ("entrywise at shapes" if row["rule"] in SHAPE_ONLY else "index form at symbolic sizes")
    mask = next(r for r in table if r["rule"] == "mask")
    assert mask["detail"].endswith("assuming every mask entry is 0 or 1, and a masked entry (-inf) is a constant")


def test_a_shape_only_row_is_proved_at_its_shapes_and_says_why() -> None:
    row = proof_row(dataclasses.replace(RULES["max_pool"], shape_only="no index form (a test)"))
    assert row["status"] == "proved" and row["method"] == "entrywise at shapes"
    assert row["sizes"][:2] == ["2x2 (k=2)", "4x6 (k=2)"] and row["detail"] == "no index form (a test)"


def test_a_rule_that_fails_in_index_form_and_at_shapes_is_failed_with_both_reasons() -> None:
    row = proof_row(_replace("tanh", 0, WRONG["tanh with its derivative's sign flipped"][2]))
    assert row["status"] == "failed" and row["method"] == "entrywise at shapes"
    assert "derived" in row["detail"] and "index form did not reduce" in row["detail"]


def test_the_table_is_cached_once_per_process() -> None:
    rule_proof_table()
    start = time.perf_counter()
    rule_proof_table()
    assert time.perf_counter() - start < 0.05


def test_every_size_counts() -> None:
    assert every_size_counts() == {"rules": len(RULES), "rules_every_size": len(RULES) - len(SHAPE_ONLY),
                                   "models": 17, "models_every_size": 17}


def test_a_model_on_index_proved_rules_is_proved_at_every_size_and_names_them() -> None:
    status = model_status("attention")
    assert status.label == "proved"
    assert status.detail.startswith("matrix form at every size: reverse mode (chain rule) over 4 rules, each proved "
                                    "at every size in index form (matmul, scale, softmax, transpose)")
    assert "corroborated by 6 checks" in status.detail


def test_a_model_on_a_shape_only_rule_is_proved_only_at_its_checked_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphs.route as route

    monkeypatch.setattr(route, "index_proof", lambda op: IndexProof(op, "unavailable", "", "a test") if op == "max_pool"
                        else index_proof(op))
    status = model_status("max_pool")
    assert status.kind == "proved_sizes" and status.label == "proved (h, w) in {(2, 4), (4, 2)}"
    assert "not at every size" in status.detail and "max_pool (shapes 2x2 (k=2)" in status.detail
    assert model_status("avg_pool").label == "proved"


def test_matrix_results_carry_their_rules() -> None:
    results = graph_results("pooling")
    by_model = {r.model: [(b.rule, b.every_size) for b in r.rules] for r in results}
    assert by_model == {"max_pool": [("max_pool", True)], "avg_pool": [("avg_pool", True)]}
    conv = next(r for r in graph_results("conv") if r.model == "conv_layer")
    assert [b.text() for b in conv.rules] == ["conv (every size)"]
    assert [b.text() for b in model_rules("ffn")] == ["add_row (every size)", "matmul (every size)", "relu (every size)"]
