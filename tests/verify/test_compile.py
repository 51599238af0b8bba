"""Compiled matrix-form gradients agree with torch autograd on every model, batched, float64."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from graphs.models import CATALOG_MODELS, MODELS, model
from verify.compile import compile_gradients, compile_model
from verify.graph_forward import loss

# Concrete sizes for the tensors; the compiled function itself is built at symbolic sizes.
# Each catalog model at the largest of its check sizes (graphs/models.py), where its sizes differ.
SIZES = {name: max(MODELS[name].check_sizes, key=lambda sizes: (len(set(sizes.values())), sum(sizes.values())))
         for name in CATALOG_MODELS}
POSITIVE = {"p", "q"}  # distributions under a log


def _inputs(name: str, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    m = model(name, SIZES[name])
    tensors = {}
    for _node, data in m.graph.nodes(data=True):
        if data["op"] == "input":
            shape = (batch, *(int(s) for s in data["shape"]))
            x = torch.randn(*shape, generator=generator, dtype=torch.float64)
            tensors[data["label"]] = x.abs() + 0.1 if data["label"] in POSITIVE else x
    if m.seed != "1":
        out = m.graph.nodes[m.output]["shape"]
        tensors[m.seed] = torch.randn(batch, *(int(s) for s in out), generator=generator, dtype=torch.float64)
    return tensors


@pytest.mark.parametrize("name", sorted(CATALOG_MODELS))
def test_compiled_gradients_equal_autograd(name: str) -> None:
    generator = torch.Generator().manual_seed(0)
    tensors = _inputs(name, batch=3, generator=generator)
    compiled = compile_model(name)
    m = model(name, SIZES[name])
    leaves = {k: v.clone().requires_grad_(k in compiled.targets) for k, v in tensors.items()}
    total = loss(m, leaves).sum()
    expected = torch.autograd.grad(total, [leaves[t] for t in compiled.targets])
    got = compiled(**tensors)
    for target, reference in zip(compiled.targets, expected):
        torch.testing.assert_close(got[target], reference, rtol=1e-10, atol=1e-10, msg=f"{name}: d{target}")


def test_one_compiled_function_serves_every_size() -> None:
    compiled = compile_model("attention")
    for n, d in ((2, 3), (9, 1)):
        Q, K, V, G = (torch.randn(2, n, d, dtype=torch.float64) for _ in range(4))
        assert compiled(Q=Q, K=K, V=V, G=G)["Q"].shape == (2, n, d)


def test_source_is_kept_and_names_are_checked() -> None:
    compiled = compile_model("softmax_ce")
    assert compiled.source.startswith("def gradients(z, y):")
    from graphs.graph import GraphBuilder

    b = GraphBuilder("hostile")
    x = b.input("__import__", (1, 1))
    with pytest.raises(ValueError, match="cannot be a name in generated code"):
        compile_gradients(b.model(b("sum", x, label="L"), "bad", seed="1"))


def test_a_wrong_rule_gives_a_compiled_gradient_autograd_disagrees_with(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from graphs import ops
    from graphs.matrices import hadamard

    wrong = dataclasses.replace(ops.RULES["softmax"], vjps=(lambda ans, x: lambda g: hadamard(ans, g),))
    monkeypatch.setitem(ops.RULES, "softmax", wrong)
    tensors = _inputs("attention", batch=2, generator=torch.Generator().manual_seed(1))
    compiled = compile_gradients(model("attention"))
    m = model("attention", SIZES["attention"])
    leaves = {k: v.clone().requires_grad_(k == "Q") for k, v in tensors.items()}
    (expected,) = torch.autograd.grad(loss(m, leaves).sum(), [leaves["Q"]])
    assert not torch.allclose(compiled(**tensors)["Q"], expected, rtol=1e-6, atol=1e-6)


def test_forward_of_a_symbolic_size_model_reads_sizes_off_the_tensors() -> None:
    tensors = _inputs("attention", batch=2, generator=torch.Generator().manual_seed(2))
    symbolic, concrete = loss(model("attention"), tensors), loss(model("attention", SIZES["attention"]), tensors)
    torch.testing.assert_close(symbolic, concrete)
