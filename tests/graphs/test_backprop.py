"""Reverse mode: every model's adjoints equal the exact derivative (and agree with sympy.diff's),
and with derive/'s closed forms."""

from __future__ import annotations

import dataclasses

import networkx as nx
import pytest
import sympy as sp

from derive.catalog import topic
from derive.proof import compare_matrices
from derive.spec import EnvCache
from graphs import ops
from graphs.backprop import backprop, on_path
from graphs.check import check_all, check_model, explicit_values
from graphs.graph import GraphBuilder
from graphs.matrices import explicit, hadamard
from graphs.models import CATALOG_MODELS, MODELS, model
from graphs.rule import ShapeError

EXACT = sorted(name for name in CATALOG_MODELS if MODELS[name].exact)


@pytest.mark.parametrize("name", EXACT)
def test_model_adjoints_equal_the_exact_derivative_at_small_sizes(name: str) -> None:
    for check in check_all(name):
        assert check.kind == "proved", (check.sizes, check.detail)


@pytest.mark.parametrize("name", EXACT)
def test_model_adjoints_agree_with_sympy_diff(name: str) -> None:
    """Independent of the zero test's own derivatives: SymPy's diff, compared at random points."""
    check = check_model(name, MODELS[name].check_sizes[0], exact=False)
    assert check.kind == "numeric", check.detail


@pytest.mark.slow
def test_encoder_block_agrees_numerically() -> None:
    assert all(check.kind == "numeric" for check in check_all("encoder"))


@pytest.mark.parametrize("name", sorted(CATALOG_MODELS))
def test_every_model_differentiates_at_symbolic_sizes(name: str) -> None:
    m = model(name)
    adjoints = backprop(m)
    for source in m.sources:
        assert source in adjoints.local, f"{name}: no gradient reaches {source}"
        assert adjoints.adjoint[source].shape == m.graph.nodes[source]["shape"]
    shapes = [s for node in m.graph for s in m.graph.nodes[node]["shape"]]
    assert any(not s.is_number for s in shapes), f"{name} was built at concrete sizes"


def _explicit_adjoints(name: str, sizes: dict) -> tuple[dict, dict]:
    m = model(name, sizes)
    adjoints = backprop(m)
    values = explicit_values(m)
    out_shape = tuple(int(s) for s in m.graph.nodes[m.output]["shape"])
    from derive.atoms import matrix

    if m.seed != "1":
        values[adjoints.seed] = matrix(m.seed, *out_shape)
    return {node: explicit(adjoints.adjoint[node], values) for node in adjoints.order}, values


@pytest.mark.parametrize("sizes", [{"n": 2, "d_k": 2}, {"n": 2, "d_k": 1}])
@pytest.mark.parametrize("prefix", ["", "causal_"])
def test_attention_adjoints_are_derives_closed_forms(sizes: dict, prefix: str) -> None:
    name = "causal_attention" if prefix else "attention"
    adjoint, _ = _explicit_adjoints(name, sizes)
    env = EnvCache(topic("attention").build)(sizes)
    for target in ("Q", "K", "V"):
        closed = env[f"{prefix}d{target}"][1]
        assert compare_matrices(adjoint[target], closed).kind == "proved", target


def test_attention_dV_is_the_lecture_formula_at_symbolic_size() -> None:
    adjoints = backprop(model("attention"))
    n, d = sp.Symbol("n", integer=True, positive=True), sp.Symbol("d_k", integer=True, positive=True)
    A, G = sp.MatrixSymbol("A", n, n), sp.MatrixSymbol("G", n, d)
    assert adjoints.adjoint["V"] == A.T * G
    assert str(adjoints.local["Q"]) == "1/sqrt(d_k)*dS*K"


def test_bp_adjoints_of_pre_activations_are_minus_the_lectures_deltas() -> None:
    adjoint, values = _explicit_adjoints("bp", {"n_i": 2, "n_h": 2, "n_o": 2})
    env = EnvCache(topic("bp").build)({"I": 2, "H": 2, "O": 2, "H2": 1})
    mine = {name: values[sp.MatrixSymbol(label, 2, 1)] for name, label in
            (("T", "T"), ("bo", "b_o"), ("netk", "net_k"), ("netj", "net_j"))}
    # derive/ names the entries of its columns T_1, netk_1 ...; ours are T_11, net_k's entries
    renamed = {sp.Symbol(f"{name}_{i + 1}", real=True): column[i] for name, column in mine.items() for i in range(2)}
    delta_k = env["delta_k_sigmoid_claimed"].xreplace(renamed)
    delta_j = env["delta_j_sigmoid_claimed"].xreplace(renamed)
    assert compare_matrices(adjoint["net_k"], -delta_k).kind == "proved"
    assert compare_matrices(adjoint["net_j"], -delta_j).kind == "proved"
    assert compare_matrices(adjoint["net_k"], delta_k).kind == "failed"


def test_softmax_ce_gradient_is_p_times_sum_y_minus_y() -> None:
    adjoint, values = _explicit_adjoints("softmax_ce", {"n": 3})
    z = values[sp.MatrixSymbol("z", 1, 3)]
    y = values[sp.MatrixSymbol("y", 1, 3)]
    from derive.concrete import softmax

    p = softmax(z.T).T
    assert compare_matrices(adjoint["z"], p * sum(y) - y).kind == "proved"


def test_a_wrong_rule_makes_the_model_check_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = dataclasses.replace(ops.RULES["softmax"], vjps=(lambda ans, x: lambda g: hadamard(ans, g),))
    monkeypatch.setitem(ops.RULES, "softmax", wrong)
    check = check_model("attention", {"n": 2, "d_k": 1})
    assert check.kind == "failed" and check.detail.startswith("d")


def test_the_walk_visits_only_nodes_between_inputs_and_output() -> None:
    b = GraphBuilder("pruned")
    x = b.input("x", (2, 1), role="constant")
    w = b.input("w", (2, 1))
    unused = b.input("u", (2, 1))
    out = b("sum", b("mul", x, w), label="L")
    b("sum", unused, label="elsewhere")
    m = b.model(out, "pruning", seed="1")
    assert on_path(m.graph, "L") == {"w", "L", "mul#1"}
    assert set(backprop(m).order) == {"w", "L", "mul#1"}


def test_graph_attributes_follow_the_contract() -> None:
    m = model("attention")
    for _, data in m.graph.nodes(data=True):
        assert {"op", "shape", "label"} <= set(data)
    for _, _, data in m.graph.edges(data=True):
        assert "argnum" in data
    assert nx.is_directed_acyclic_graph(m.graph)
    assert m.graph.nodes["A"]["op"] == "softmax"


def test_builder_rejects_bad_shapes_and_names() -> None:
    b = GraphBuilder("bad")
    a = b.input("a", (2, 3))
    with pytest.raises(ShapeError, match="matmul"):
        a @ a
    with pytest.raises(Exception, match="two tensors named 'a'"):
        b.input("a", (1, 1))
    with pytest.raises(Exception, match="scalar seed needs a 1 x 1 output"):
        b.model(a, "not a loss", seed="1")


@pytest.mark.parametrize("name", EXACT)
def test_expanded_adjoints_shown_to_users_equal_the_exact_derivative(name: str) -> None:
    """The expanded forms `gradproof derive` prints are checked too, not only the local ones."""
    from graphs.prove import vjp_entrywise

    sizes = MODELS[name].check_sizes[0]
    m = model(name, sizes)
    adjoint, values = _explicit_adjoints(name, sizes)
    out = values[m.graph.nodes[m.output]["value"]]
    g = sp.Matrix([[1]]) if m.seed == "1" else values[sp.MatrixSymbol(m.seed, *out.shape)]
    for source in m.sources:
        derived = vjp_entrywise(out, values[m.graph.nodes[source]["value"]], g)
        assert compare_matrices(derived, adjoint[source]).kind == "proved", source


def _tiny(build) -> tuple:
    b = GraphBuilder("tiny")
    return b, build(b)


@pytest.mark.parametrize("case", ["softmax @ V", "concat @ W", "conv of a product", "log_softmax @ W"])
def test_unnamed_ops_inside_a_product_are_checked(case: str) -> None:
    b = GraphBuilder("tiny")
    X = b.input("X", (2, 2))
    W = b.input("W", (2, 2))
    if case == "softmax @ V":
        out = b("softmax", X) @ W
    elif case == "log_softmax @ W":
        out = b("log_softmax", X) @ W
    elif case == "concat @ W":
        out = b("concat", X, X.T) @ b.input("W2", (4, 1))
    else:
        out = b("conv", X @ W, b.input("K", (1, 2)))
    m = b.model(b("sum", out, label="L"), case, seed="1")
    assert check_model("tiny", {}, model=m).kind == "proved"


def test_scores_that_stay_minus_infinity_fail_cleanly() -> None:
    from graphs.matrices import CausalMask

    b = GraphBuilder("bad_mask")
    S = b.input("S", (2, 2))
    V = b.input("V", (2, 1))
    out = b("mask", S, mask=CausalMask(2), label="M") @ V  # -inf reaches a product, not a softmax
    m = b.model(b("sum", out, label="L"), "mask without softmax", seed="1")
    assert check_model("bad_mask", {}, model=m).kind == "failed"


def test_intermediate_adjoints_are_checked_by_cutting_the_graph() -> None:
    checks = check_all("attention")
    assert any(c.kind == "proved" for c in checks) and len(checks) > len(MODELS["attention"].check_sizes)
    from graphs.check import cut_at

    cut = cut_at(model("attention", {"n": 2, "d_k": 1}), "A")
    assert set(cut.sources) == {"A", "V"}
