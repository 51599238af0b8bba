"""verify/expression.py: a forward written as an expression becomes the graph the lecture's models are.

What is checked here is the reading: the ops each construct becomes (broadcasting, constants,
powers), named steps and repeated layers, and that every bad input is one ExpressionError line
that says what is wrong. The routes a forward then takes (proofs, numeric checks, reports) are
tested in test_expression_routes.py.
"""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from graphs.backprop import backprop
from graphs.route import graph_results
from verify.expression import ExpressionError, parse_shape, read_forward, register


def _ops(text: str, shapes: dict[str, str], **kwargs: object) -> list[str]:
    model = read_forward(text, shapes, **kwargs).build()
    return [data["op"] for _, data in model.graph.nodes(data=True) if data["op"] != "input"]


def test_a_bias_row_written_1_b_transpose_is_added_to_every_row() -> None:
    ops = _ops("L = sum(X W + 1 b^T)", {"X": "n,d", "W": "d,k", "b": "k"})
    assert ops == ["matmul", "transpose", "add_row", "sum"]


def test_a_column_subtracted_from_a_matrix_broadcasts_along_the_row() -> None:
    ops = _ops("L = sum(X - rowmean(X))", {"X": "n,d"})
    assert ops == ["row_mean", "neg", "add_col", "sum"]


def test_division_by_a_column_is_entrywise_by_its_reciprocal_broadcast() -> None:
    ops = _ops("L = sum(X / sqrt(rowmean(X ⊙ X) + epsilon))", {"X": "n,d"})
    assert ops == ["mul", "row_mean", "shift", "sqrt", "reciprocal", "mul_col", "sum"]


def test_constants_scale_and_shift_and_are_never_tensors() -> None:
    model = read_forward("L = sum(2 X / sqrt(d) + 1)", {"X": "n,d"}).build()
    scales = [data["params"] for _, data in model.graph.nodes(data=True) if data["op"] in ("scale", "shift")]
    assert scales == [{"factor": 2}, {"factor": 1 / sp.sqrt(sp.Symbol("d", integer=True, positive=True))},
                      {"constant": 1}]


@pytest.mark.parametrize(("power", "ops"), [
    ("2", ["square"]), ("3", ["square", "mul"]), ("-1", ["reciprocal"]), ("1/2", ["sqrt"]),
    ("-1/2", ["sqrt", "reciprocal"]),
])
def test_powers_are_the_rules_that_have_them(power: str, ops: list[str]) -> None:
    assert _ops(f"L = sum(X^({power}))", {"X": "n,d"}) == [*ops, "sum"]


def test_star_between_matrices_is_the_product_and_between_same_shape_vectors_entrywise() -> None:
    assert _ops("L = sum(X * W)", {"X": "n,d", "W": "d,k"}) == ["matmul", "sum"]
    assert _ops("L = sum(a * b)", {"a": "n", "b": "n"}) == ["mul", "sum"]


def test_one_letter_names_written_together_are_their_product() -> None:
    assert _ops("L = sum(XW)", {"X": "n,d", "W": "d,k"}) == ["matmul", "sum"]
    assert _ops("L = sum(XW^T)", {"X": "n,d", "W": "k,d"}) == ["transpose", "matmul", "sum"]  # X W^T, as math reads it
    assert _ops("L = sum(Y ⊙ XW)", {"X": "n,n", "W": "n,n", "Y": "n,n"}) == ["matmul", "mul", "sum"]  # Y ⊙ (X W)
    assert _ops("S = X W; L = sum(SS)", {"X": "n,d", "W": "d,n"})[-2:] == ["matmul", "sum"]
    model = read_forward("L = sum(XW ⊙ Y)", {"XW": "n,k", "X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["XW"]).build()
    assert model.sources == ["XW"]  # a declared two-letter name is never split
    with pytest.raises(ExpressionError, match="unknown name 'XV'"):
        read_forward("L = sum(XV)", {"X": "n,d", "W": "d,k"})


def test_named_steps_are_the_graphs_named_tensors_and_the_last_is_the_loss() -> None:
    model = read_forward("S = Q K^T / sqrt(d_k); A = softmax(S)\nL = sum(G ⊙ (A V))",
                         {"Q": "n,d_k", "K": "n,d_k", "V": "n,d_k", "G": "n,d_k"}, wrt=["Q", "K", "V"]).build()
    assert {n for n, data in model.graph.nodes(data=True) if data["label"]} >= {"S", "A", "L", "Q", "K", "V", "G"}
    assert model.output == "L" and model.seed == "1"
    assert model.sources == ["Q", "K", "V"]  # G is data: no gradient
    assert model.graph.nodes["G"]["role"] == "constant"


def test_repeat_gives_each_layer_its_own_weights_and_names_and_chains_them() -> None:
    forward = read_forward("H = X\nrepeat l = 1..3 { H = tanh(H W_l + 1 b_l^T) }\nL = sum(H)",
                           {"X": "n,d", "W_l": "d,d", "b_l": "d"}, wrt=["W_l", "b_l"])
    model = forward.build()
    assert model.sources == ["W_1", "b_1", "W_2", "b_2", "W_3", "b_3"]
    assert [n for n in model.graph if n.startswith("H")] == ["H_1", "H_2", "H_3"]
    adjoints = backprop(model)
    assert set(adjoints.local) >= {"W_1", "W_2", "W_3"}  # the loss reaches every layer


def test_a_weight_without_the_layer_letter_is_shared_by_every_layer() -> None:
    model = read_forward("repeat l = 1..2 { X = tanh(X W) }\nL = sum(X)", {"X": "n,d", "W": "d,d"}).build()
    assert model.sources == ["X", "W"]
    consumers = [model.graph.nodes[n]["op"] for n in model.graph.successors("W")]
    assert consumers == ["matmul", "matmul"]  # one W, read by both layers


def test_shapes_read_sizes_and_sums_and_products_of_them() -> None:
    n, d_k = sp.Symbol("n", integer=True, positive=True), sp.Symbol("d_k", integer=True, positive=True)
    assert parse_shape("n, 2 d_k") == (n, 2 * d_k)
    assert parse_shape("n+1") == (n + 1, 1)
    with pytest.raises(ExpressionError, match="a size is a name"):
        parse_shape("n, __import__('os')")


def test_the_forward_builds_at_integer_sizes_for_the_entrywise_check() -> None:
    forward = read_forward("L = sum(X W)", {"X": "n,d", "W": "d,k"})
    assert forward.build({"n": 2, "d": 3, "k": 1}).graph.nodes["W"]["shape"] == (3, 1)
    assert forward.check_sizes() == ({"n": 1, "d": 2, "k": 3}, {"n": 2, "d": 3, "k": 1})
    with pytest.raises(ExpressionError, match="unknown sizes m"):
        forward.build({"m": 2})


def test_a_registered_forward_takes_the_graph_route_and_is_proved() -> None:
    forward = read_forward("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["W"],
                           name="test_mse_route")
    register(forward)
    (result,) = graph_results(forward.name)
    assert result.target == "dW" and result.status.kind == "proved"


@pytest.mark.parametrize(("text", "shapes", "message"), [
    ("L = sum(foo(X))", {"X": "n,d"}, "unknown function 'foo'"),
    ("L = sum(X Z)", {"X": "n,d"}, "unknown name 'Z'"),
    ("L = sum(X W)", {"X": "n,d", "W": "k,m"}, "inner sizes differ \\(d and k\\)"),
    ("L = sum(X + W)", {"X": "n,d", "W": "k,m"}, "sizes n and k; d and m differ"),
    ("L = sum(abs(X))", {"X": "n,d"}, "abs\\(...\\) has no VJP rule"),
    ("L = sum(max(X, X))", {"X": "n,d"}, "max\\(...\\) has no VJP rule"),
    ("L = X W", {"X": "n,d", "W": "d,k"}, "the loss L is n x k, not a number"),
    ("L = sum(X^X)", {"X": "n,d"}, "tensor exponent"),
    ("L = sum(X^(1/3))", {"X": "n,d"}, "no VJP rule for the power 1/3"),
    ("L = sum(X 1)", {"X": "n,d"}, "rowsum\\(X\\)"),
    ("L = sum(1^T X)", {"X": "n,d"}, "colsum\\(X\\)"),
    ("L = sum_k X", {"X": "n,d"}, "cannot read|not part of a forward"),
    ("L = sum(X", {"X": "n,d"}, "cannot read the forward"),
    ("", {"X": "n,d"}, "the forward is empty"),
    ("repeat l = 1..2 { repeat m = 1..2 { X = X } }\nL = sum(X)", {"X": "n,d"}, "a repeat inside a repeat"),
    ("repeat l = 3..1 { X = X }\nL = sum(X)", {"X": "n,d"}, "the range must run up"),
    ("L = 3", {"X": "n,d"}, "the loss L is a constant"),
    ("L = sum(X) / 0", {"X": "n,d"}, "division by 0"),
    ("L = sum(" + "-" * 600 + "X)", {"X": "n,d"}, "nests brackets or signs"),
    ("L = sum(" + "tanh(" * 200 + "X" + ")" * 200 + ")", {"X": "n,d"}, "nests brackets or signs"),
    ("L = sum(X)", {"X": "99999999999999999999,d"}, "sizes above 64 are named"),
    ("B = 1 b^T; L = sum(B)", {"b": "k"}, "the ones column times a row"),
    ("L = sum(exp(1 b^T))", {"b": "k"}, "the ones column times a row"),
])
def test_bad_forwards_are_one_line_errors_that_say_what_is_wrong(text: str, shapes: dict[str, str], message: str) -> None:
    with pytest.raises(ExpressionError, match=message) as error:
        read_forward(text, shapes)
    assert "\n" not in str(error.value)


def test_bad_declarations_are_one_line_errors() -> None:
    with pytest.raises(ExpressionError, match="--wrt V: not a declared input"):
        read_forward("L = sum(X)", {"X": "n,d"}, wrt=["V"])
    with pytest.raises(ExpressionError, match="--domain X=probability: unknown domain"):
        read_forward("L = sum(X)", {"X": "n,d"}, domains={"X": "probability"})
    with pytest.raises(ExpressionError, match="--wrt W: the loss does not depend on it"):
        read_forward("L = sum(X)", {"X": "n,d", "W": "d,k"}, wrt=["W"])
    with pytest.raises(ExpressionError, match="a shape is one or two sizes"):
        read_forward("L = sum(X)", {"X": "n,d,c"})


_WORDS = ["X", "W", "b", "1", "2", "d", "+", "-", " ", "⊙", "@", "*", "/", "^T", "^2", "(", ")", "sum(", "softmax(",
          "relu(", "exp(", "log(", "rowsum(", ",", ";", "L =", "S =", "S", "repeat l = 1..2 {", "}", "\\frac{", "}{",
          "|", "_i", "'", "sum_k", "max_j", "[", "]", "=", "1e3", "\\sqrt", "\\", "é", "\x00"]


@given(st.lists(st.sampled_from(_WORDS), max_size=24))
def test_any_text_is_read_or_refused_in_one_line_never_a_crash(words: list[str]) -> None:
    try:
        forward = read_forward("".join(words), {"X": "n,d", "W": "d,d", "b": "d"})
    except ExpressionError as error:
        assert "\n" not in str(error) and str(error)
    else:
        assert forward.build().graph.nodes[forward.build().output]["shape"] == (1, 1)


_UNARY = ["exp", "tanh", "sigmoid", "relu", "softmax", "log_softmax", "rowsum", "rowmean"]


@st.composite
def _compositions(draw: st.DrawFn) -> str:
    """A random well-shaped forward over X (n x d) and W (d x d): products, functions, broadcasts."""
    text = "X"
    for _ in range(draw(st.integers(1, 4))):
        step = draw(st.sampled_from(["product", "function", "hadamard", "bias", "scale"]))
        if step == "product":
            text = f"({text}) W"
        elif step == "function":
            function = draw(st.sampled_from(_UNARY))
            text = f"{function}({text})" if not function.startswith("row") else f"X - {function}({text})"
        elif step == "hadamard":
            text = f"({text}) ⊙ X"
        elif step == "bias":
            text = f"({text}) + 1 b^T"
        else:
            text = f"({text}) / sqrt(d)"
    return f"L = sum({text})"


@given(_compositions())
def test_well_shaped_compositions_build_a_scalar_loss_with_an_adjoint_for_every_weight(text: str) -> None:
    model = read_forward(text, {"X": "n,d", "W": "d,d", "b": "d"}).build()
    assert model.graph.nodes[model.output]["shape"] == (1, 1)
    adjoints = backprop(model)
    for source in model.sources:
        assert source in adjoints.local
        assert adjoints.local[source].shape == model.graph.nodes[source]["shape"]


def test_a_row_added_to_the_rule_table_is_a_function_of_the_language_with_nothing_else_written(monkeypatch) -> None:
    """softplus, as a new row would add it: the forward calls it by its name and reverse mode takes its VJP."""
    from graphs import ops
    from graphs.rule import Rule, square_examples

    softplus = Rule("softplus", ("X",), lambda x: ops.Apply(ops.add(ops.ones_like(x), ops.Apply(x, "exp")), "log"),
                    (lambda ans, x: lambda g: ops.hadamard(g, ops.Apply(ops.neg(x), "sigmoid")),),
                    lambda t, x: t.nn.functional.softplus(x), square_examples(1), "log(1 + exp(X))")
    monkeypatch.setitem(ops.RULES, "softplus", softplus)
    model = read_forward("L = sum(softplus(X W))", {"X": "n,d", "W": "d,k"}).build()
    assert [data["op"] for _, data in model.graph.nodes(data=True) if data["op"] != "input"] == ["matmul", "softplus", "sum"]
    assert "W" in backprop(model).local
    with pytest.raises(ExpressionError, match="softplus is a function"):
        read_forward("L = sum(softplus)", {"X": "n,d"})


def test_a_step_the_loss_does_not_use_is_not_run_by_the_op_by_op_forward() -> None:
    import torch

    from verify.graph_forward import loss

    model = read_forward("A = W W; L = sum(X ⊙ X)", {"X": "n,d", "W": "d,d"}).build()
    assert float(loss(model, {"X": torch.ones(2, 3)})) == 6.0  # W is never given: A is not computed


def test_an_input_under_log_or_sqrt_is_drawn_positive_unless_its_domain_is_declared() -> None:
    assert read_forward("L = sum(sqrt(X) + log(Y) ⊙ Z)", {"X": "n,d", "Y": "n,d", "Z": "n,d"}).domains == \
        {"X": "positive", "Y": "positive"}
    assert read_forward("L = sum(sqrt(X))", {"X": "n,d"}, domains={"X": "simplex"}).domains == {"X": "simplex"}
