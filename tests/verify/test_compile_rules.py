"""Every row of the rule table, compiled alone, agrees with autograd of its own torch column.

For each rule and each of its examples (``Rule.examples``: the shapes and parameters it is proven
at), a one-op model is recorded with ``GraphBuilder``; verify/compile.py turns its matrix-form VJPs
into a batched torch function, and torch autograd differentiates verify/graph_forward.py's loss
(the rule's torch column) on the same random float64 inputs. The table is walked, not listed, so a
new row is covered the day it is written, and a row whose torch column or printer is missing fails.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from sympy.printing.codeprinter import PrintMethodNotImplementedError

from graphs.graph import GraphBuilder, Model
from graphs.matrices import _Formula
from graphs.ops import RULES
from graphs.rule import Example, Rule
from verify.compile import CompiledModel, compile_gradients
from verify.graph_forward import loss

# A constant parameter (scale's factor c, shift's constant) takes this value: compiled code needs
# numbers for the constants it has no default for, and 3/2 is neither 0 nor 1.
CONSTANT = sp.Rational(3, 2)
CASES = [(name, number) for name in sorted(RULES) for number in range(len(RULES[name].examples))]


def one_op_model(row: Rule, example: Example, then: str | None = None) -> Model:
    """The rule applied once to fresh inputs of the example's shapes; ``L = sum(G ∘ out)``.

    An input the row gives no gradient for (a ``None`` VJP) is data, not a differentiable input.
    ``then`` applies a second, elementwise op to the output (``sum(G ∘ exp(out))``).
    """
    shapes, params = example
    b = GraphBuilder(f"rule_{row.name}")
    inputs = [
        b.input(arg, shape, role="constant" if vjp is None else "input", domain=row.domain.get(arg, "real"))
        for arg, shape, vjp in zip(row.args, shapes, row.vjps)
    ]
    values = {k: CONSTANT if isinstance(v, sp.Symbol) else v for k, v in params.items()}
    out = b.apply(row.name, *inputs, label="Out", **values)
    return b.model(b.apply(then, out) if then else out, f"{row.name} alone" if then is None else f"{then} of {row.name}")


def random_inputs(model: Model, row: Rule, batch: int, seed: int) -> dict[str, Any]:
    """Inputs drawn from each argument's domain (positive ones in [0.5, 2.5)), and the seed ``G``."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for _, data in model.graph.nodes(data=True):
        if data["op"] == "input":
            shape = (batch, *(int(s) for s in data["shape"]))
            if row.domain.get(data["label"]) == "positive":
                tensors[data["label"]] = 0.5 + 2 * torch.rand(*shape, generator=generator, dtype=torch.float64)
            else:
                tensors[data["label"]] = torch.randn(*shape, generator=generator, dtype=torch.float64)
    out = model.graph.nodes[model.output]["shape"]
    tensors[model.seed] = torch.randn(batch, *(int(s) for s in out), generator=generator, dtype=torch.float64)
    return tensors


def compare(model: Model, compiled: CompiledModel, tensors: dict[str, Any]) -> None:
    """Every target's compiled gradient against autograd of the op-by-op forward, to float64 accuracy."""
    assert compiled.targets, f"{model.name}: nothing to differentiate"
    leaves = {k: v.clone().requires_grad_(k in compiled.targets) for k, v in tensors.items()}
    expected = torch.autograd.grad(loss(model, leaves).sum(), [leaves[t] for t in compiled.targets])
    got = compiled(**tensors)
    for target, reference in zip(compiled.targets, expected):
        assert torch.isfinite(reference).all(), f"{model.name}: autograd's d{target} is not finite"
        torch.testing.assert_close(got[target], reference, rtol=1e-10, atol=1e-10, msg=f"{model.name}: d{target}")


_COMPILED: dict[tuple[str, int], tuple[Model, CompiledModel]] = {}


def _compiled(name: str, number: int) -> tuple[Model, CompiledModel]:
    """Each case compiled once per process (Hypothesis runs the comparison many times)."""
    if (name, number) not in _COMPILED:
        model = one_op_model(RULES[name], RULES[name].examples[number])
        _COMPILED[name, number] = model, compile_gradients(model)
    return _COMPILED[name, number]


def test_every_rule_has_a_case_and_every_input_a_target() -> None:
    assert {name for name, _ in CASES} == set(RULES)
    for name, number in CASES:
        row = RULES[name]
        _, compiled = _compiled(name, number)
        assert compiled.targets == tuple(a for a, v in zip(row.args, row.vjps) if v is not None), name


@pytest.mark.parametrize(("name", "number"), CASES)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 3))
def test_compiled_rule_equals_autograd_of_its_torch_column(name: str, number: int, seed: int, batch: int) -> None:
    model, compiled = _compiled(name, number)
    compare(model, compiled, random_inputs(model, RULES[name], batch, seed))


@pytest.mark.parametrize(("name", "number"), CASES)
def test_the_compiled_forward_of_every_rule_is_its_torch_column(name: str, number: int) -> None:
    """A linear op's VJP never reads its output, so alone its forward is never printed: followed by
    exp, whose VJP reads exp(out), the compiled function must compute ``out`` from the formula too."""
    row = RULES[name]
    model = one_op_model(row, row.examples[number], then="exp")
    compiled = compile_gradients(model)
    assert "    Out = " in compiled.source, compiled.source
    compare(model, compiled, random_inputs(model, row, 2, seed=number))


def test_compiled_code_calls_the_rules_torch_column() -> None:
    """No second copy of an op in compile.py: softmax is its row's torch column, run at run time."""
    _, compiled = _compiled("softmax", 1)
    assert "_rules['softmax'].torch(torch, X)" in compiled.source
    _, compiled = _compiled("exp", 1)
    assert "_rules['exp'].torch(torch, " in compiled.source


# The test above must be able to fail: a row without a torch column, a wrong torch column, and a
# forward of a class nothing prints are each caught by the same comparison.


def _patched(monkeypatch: pytest.MonkeyPatch, name: str, **changes: Any) -> Rule:
    row = dataclasses.replace(RULES[name], **changes)
    monkeypatch.setitem(RULES, name, row)
    return row


def _check_fresh(row: Rule, number: int = 1, seed: int = 0, then: str | None = None) -> None:
    model = one_op_model(row, row.examples[number], then)
    compare(model, compile_gradients(model), random_inputs(model, row, 2, seed))


def test_a_rule_without_a_torch_column_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    row = _patched(monkeypatch, "tanh", torch=None)
    with pytest.raises(TypeError, match="not callable"):
        _check_fresh(row)


def test_a_rule_whose_torch_column_disagrees_with_its_vjp_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    row = _patched(monkeypatch, "sigmoid", torch=lambda t, x: t.tanh(x))  # sigma' = s(1 - s) is not tanh'
    with pytest.raises(AssertionError, match="dX"):
        _check_fresh(row)


class _Unprinted(_Formula):
    """A matrix class no printer knows, built with an argument the rule does not have."""

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape


def test_a_rule_whose_forward_nothing_prints_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    row = _patched(monkeypatch, "neg", forward=lambda x: _Unprinted(x, 0))
    _check_fresh(row)  # alone, neg's gradient never reads its output: nothing to print
    with pytest.raises(PrintMethodNotImplementedError):
        _check_fresh(row, then="exp")
