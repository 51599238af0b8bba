"""Every catalog target passes on both routes in both dtypes, and every wrong formula fails."""

from __future__ import annotations

import dataclasses
import math

import pytest

torch = pytest.importorskip("torch")

from derive.catalog import NAMES, topic
from verify.check import DTYPES, TOLERANCES, check, compare, matrix_candidate
from verify.mutants import mutants_for
from verify.targets import TARGETS, targets_for

from .conftest import EXAMPLES

ROUTED = [(t, r) for t in TARGETS for r in ("entrywise", "matrix") if r == "entrywise" or t.matrix is not None]
IDS = [f"{t.key}[{r}]" for t, r in ROUTED]
# Formulas with nothing to get wrong but the sign: db = dd = c (the perceptron's bias gradient is an input).
BARE = {("perceptron:b <- b - eta dJ/db", "matrix")}


def test_every_catalog_target_has_a_row() -> None:
    catalog = {(name, target) for name in NAMES for target in topic(name).targets}
    assert {(t.entry, t.name) for t in TARGETS} == catalog


def test_most_targets_have_a_matrix_route() -> None:
    without = sorted(t.key for t in TARGETS if t.matrix is None)
    # Each of these says why in its notes: second order, no such model, or not a gradient.
    assert without == ["bp:delta^(l)", "bp:delta_k (linear output)", "conv:db", "positional_encoding:PE(pos + k)",
                       "softmax_ce:d2L/dz2"]
    assert all(t.notes for t in TARGETS if t.matrix is None)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize(("target", "route"), ROUTED, ids=IDS)
def test_correct_formula_passes(target, route, dtype: str) -> None:
    record = check(target, route, dtype=DTYPES[dtype], examples=EXAMPLES)
    assert record.passed, f"{target.key} [{route}, {dtype}]: {record.worst_input}"
    assert record.examples >= EXAMPLES
    assert record.max_abs_error < math.inf


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize(("target", "route"), ROUTED, ids=IDS)
def test_every_wrong_formula_fails(target, route, dtype: str) -> None:
    mutants = mutants_for(target, route)
    wrong = [(m, candidate) for m, candidate, distinct in mutants if distinct]
    least = 1 if (target.key, route) in BARE else 2
    assert len(wrong) >= least, f"{target.key} [{route}]: too few mutants: {[m.kind for m, _, _ in mutants]}"
    assert wrong[0][0].kind == "sign flipped"
    for mutant, candidate in wrong:
        record = check(target, route, dtype=DTYPES[dtype], examples=EXAMPLES, candidate=candidate, shrink=False)
        assert record.passed is False, f"{target.key} [{route}, {dtype}]: {mutant.kind} ({mutant.where}) not caught"


def test_the_issues_mutants_are_among_them() -> None:
    """The issue's examples: 1/sqrt(d_k) dropped, softmax's row-sum dropped, O(1-O) dropped."""
    by_kind = {m.kind: m.where for m, _, _ in mutants_for(targets_for(("attention:dQ",))[0], "matrix")}
    assert "sqrt(d_k)" in by_kind["factor dropped"]
    assert "dS" in by_kind["term dropped"]
    sigmoid = {m.kind: m for m, _, d in mutants_for(targets_for(("bp:delta_k (sigmoid output)",))[0], "entrywise")}
    assert {"factor dropped", "term dropped", "sign flipped"} <= set(sigmoid)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_attention_at_production_size(dtype: str) -> None:
    """n = 512, d_k = 64 on the CPU, along random directions; a wrong formula fails there too."""
    for name in ("attention:dQ", "attention:dK", "attention:dV", "attention:dQ (causal mask)"):
        target = targets_for((name,))[0]
        record = check(target, "matrix", dtype=DTYPES[dtype], examples=2, size="large")
        assert record.passed and record.mode == "vjp" and record.sizes == "n=512, d_k=64", record
    target = targets_for(("attention:dK",))[0]
    mutant = next(c for m, c, d in mutants_for(target, "matrix") if m.kind == "term dropped")
    assert check(target, "matrix", dtype=DTYPES[dtype], examples=2, size="large", candidate=mutant).passed is False


def test_a_wrong_reference_fails_too() -> None:
    """The comparison is symmetric in what it trusts: a broken reference is reported, not absorbed."""
    target = targets_for(("softmax_ce:dL/dz",))[0]
    broken = dataclasses.replace(target, reference=lambda t, s: target.reference(t, s) * 1.001)
    record = check(broken, "matrix", examples=10)
    assert record.passed is False
    worst = record.worst_input
    assert worst["formula"] != worst["autograd"] and {"sizes", "seed", "scale"} <= set(worst)


def test_record_fields() -> None:
    record = check(targets_for(("information:dKL/dz",))[0], "matrix", examples=5, dtype=torch.float32)
    doc = record.to_json()
    for key in ("entry", "target", "route", "device", "dtype", "examples", "max_abs_error", "max_rel_error",
                "tolerance", "seed", "passed", "worst_input", "status"):
        assert key in doc
    assert doc["dtype"] == "float32" and doc["status"] == "passed", doc
    assert "0.0001" in doc["tolerance"] and "own rounding" in doc["tolerance"], doc["tolerance"]


def test_route_without_formula_is_reported_not_passed() -> None:
    record = check(targets_for(("softmax_ce:d2L/dz2",))[0], "matrix")
    assert record.passed is None and record.status == "skipped" and "second derivative" in record.note


def test_compare_scales_with_the_problem() -> None:
    tol = TOLERANCES[torch.float64]
    tiny = torch.tensor([[1e-8, -2e-8]], dtype=torch.float64)
    assert compare(tiny, tiny, tol).passed
    assert not compare(-tiny, tiny, tol).passed  # an absolute tolerance would have let this through
    assert compare(tiny + 1e-19, tiny, tol).passed
    assert not compare(torch.full_like(tiny, math.nan), tiny, tol).passed
    assert not compare(tiny[:, :1], tiny, tol).passed
    # Cancellation: autograd's own rounding, measured in float32 (1e-8 here), is a floor in its
    # float64 units (1e-8 x 2^-52 / 2^-23 = 1.9e-17 per unit, 16 units allowed).
    companion = (tiny + 1e-8).to(torch.float32)
    assert compare(tiny + 2e-16, tiny, tol, companion=companion).passed
    assert not compare(tiny + 2e-16, tiny, tol).passed
    assert not compare(tiny + 1e-15, tiny, tol, companion=companion).passed


def test_routed_inputs_do_not_loosen_the_tolerance() -> None:
    """Review finding: max pooling's map reaches 7e3 at 224 x 224; an input floor let 0.99 x dX pass
    in float32. The measured rounding of a routing gradient is 0."""
    target = targets_for(("pooling:dX (max pooling)",))[0]
    right = matrix_candidate(target)
    shrunk = lambda t, s: 0.99 * right(t, s)
    record = check(target, "matrix", dtype=torch.float32, examples=5, size="large", candidate=shrunk, shrink=False)
    assert record.passed is False


def test_directions_are_not_the_inputs() -> None:
    """Review finding: seeded like the inputs, the random directions replayed Q, K, V and G."""
    from verify.check import _directions, inputs_for
    from verify.strategies import Draw

    target = targets_for(("attention:dQ",))[0]
    draw = Draw({"n": 16, "d_k": 8}, 3, 1.0)
    tensors = inputs_for(target, draw, 1, torch.float64, "cpu")
    u = _directions(4, 16 * 8, draw.seed)
    for x in tensors.values():
        v = x.reshape(-1) / x.norm()
        assert (u @ v).abs().max() < 0.5


def test_directional_mode_sees_a_wrong_entry() -> None:
    tol = TOLERANCES[torch.float32]
    g = torch.randn(1, 1000, generator=torch.Generator().manual_seed(0))
    wrong = g.clone()
    wrong[0, 17] += 1.0
    assert compare(g, g, tol, mode="vjp").passed and not compare(wrong, g, tol, mode="vjp").passed


def test_max_pooling_at_ties_routes_to_the_first_maximum() -> None:
    """Ties are off the strategy of the main checks; here autograd (torch's CPU kernel) and our
    first-maximum convention meet on inputs full of ties."""
    target = targets_for(("pooling:dX (max pooling)",))[0]
    tied = dataclasses.replace(target, inputs=(dataclasses.replace(target.inputs[0], domain="ties"), target.inputs[1]))
    assert check(tied, "matrix", examples=50).passed


def test_matrix_candidate_needs_a_route() -> None:
    with pytest.raises(ValueError, match="no matrix route"):
        matrix_candidate(targets_for(("softmax_ce:d2L/dz2",))[0])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_agrees_with_autograd_and_cpu() -> None:
    for target in targets_for(("attention", "layernorm", "softmax_ce")):
        for route in ("entrywise", "matrix"):
            record = check(target, route, device="cuda", examples=20, size="small")
            assert record.passed is not False, record
    from verify.check import inputs_for
    from verify.strategies import Draw

    target = targets_for(("attention:dQ",))[0]
    draw = Draw({"n": 512, "d_k": 64}, 7, 1.0)
    cpu = matrix_candidate(target)(inputs_for(target, draw, 2, torch.float64, "cpu"), draw.sizes)
    gpu = matrix_candidate(target)(inputs_for(target, draw, 2, torch.float64, "cuda"), draw.sizes)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-10)
