"""Every input domain draws what it promises, and its validator rejects what it must."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings
from hypothesis import strategies as st

from verify.strategies import (
    DOMAINS,
    SCALES,
    InvalidInput,
    distinct_sizes,
    labels,
    make,
    sizes,
    tensors,
)
from verify.targets import TARGETS, shape_of

SHAPES = st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6))


@pytest.mark.parametrize("domain", sorted(DOMAINS))
@given(shape=SHAPES, seed=st.integers(0, 2**31 - 1), scale=st.sampled_from(SCALES))
@settings(max_examples=40)
def test_every_domain_draws_valid_tensors(domain: str, shape: tuple[int, ...], seed: int, scale: float) -> None:
    for dtype in (torch.float64, torch.float32):
        x = make(domain, shape, torch.Generator().manual_seed(seed), dtype, scale=scale)
        assert x.shape == shape and x.dtype == dtype and torch.isfinite(x).all()


def test_the_same_draw_gives_the_same_tensor() -> None:
    a = make("simplex", (3, 4), torch.Generator().manual_seed(5), torch.float64)
    b = make("simplex", (3, 4), torch.Generator().manual_seed(5), torch.float64)
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("domain", "bad"),
    [
        ("simplex", torch.tensor([[0.5, 0.6]])),
        ("simplex", torch.tensor([[1.5, -0.5]])),
        ("positive", torch.tensor([[0.0, 1.0]])),
        ("mask", torch.tensor([[1.0, 0.0], [0.0, 0.0]])),
        ("causal", torch.tensor([[0.0, 0.0], [1.0, 1.0]])),
        ("distinct", torch.tensor([[1.0, 2.0], [3.0, 1.0]])),
        ("one_hot", torch.tensor([[1.0, 1.0]])),
        ("sign", torch.tensor([[0.0, 1.0]])),
        ("pattern", torch.tensor([[0.5, 1.0]])),
        ("spread_rows", torch.tensor([[2.0, 2.0, 2.0]])),
        ("real", torch.tensor([[float("nan")]])),
    ],
)
def test_validators_reject_what_breaks_a_domain(domain: str, bad: torch.Tensor) -> None:
    assert DOMAINS[domain].invalid(bad.to(torch.float64)) is not None


def test_a_broken_generator_is_caught_when_it_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    broken = dataclasses.replace(DOMAINS["simplex"], generate=lambda shape, g, scale: torch.ones(shape))
    monkeypatch.setitem(DOMAINS, "simplex", broken)
    with pytest.raises(InvalidInput, match="simplex"):
        make("simplex", (2, 3), torch.Generator(), torch.float64)


def test_unknown_domain_is_named() -> None:
    with pytest.raises(KeyError, match="no input domain 'sphere'"):
        make("sphere", (2,), torch.Generator(), torch.float64)


def test_random_masks_keep_a_key_in_every_row() -> None:
    for seed in range(50):
        m = make("mask", (6, 5), torch.Generator().manual_seed(seed), torch.float64)
        assert (m.sum(-1) >= 1).all()


def test_distinct_maps_have_no_ties_in_float32() -> None:
    x = make("distinct", (4, 8, 8), torch.Generator().manual_seed(0), torch.float32, scale=0.25)
    flat = x.flatten(-2).sort(-1).values
    assert (flat.diff(dim=-1) > 0.04).all()


@given(sizes({"n": (1, 7), "d_k": (1, 5)}))
def test_sizes_differ_where_they_can(drawn: dict[str, int]) -> None:
    assert drawn["n"] != drawn["d_k"]


@given(sizes({"h": (2, 8), "w": (2, 8), "k": (2, 2)}, rule=lambda s: s["h"] % 2 == 0))
def test_sizes_keep_their_rule(drawn: dict[str, int]) -> None:
    assert drawn["h"] % 2 == 0 and drawn["k"] == 2 and drawn["h"] != drawn["w"]


@given(tensors((2, 3), (3,), domain=("real", "simplex"), dtype=torch.float32))
def test_tensors_for_users(xs: tuple[torch.Tensor, ...]) -> None:
    assert xs[0].shape == (2, 3) and xs[0].dtype == torch.float32
    assert abs(float(xs[1].sum()) - 1) < 1e-6


def test_tensors_needs_one_domain_per_shape() -> None:
    with pytest.raises(ValueError, match="2 shapes but 3 domains"):
        tensors((1,), (2,), domain=("real", "real", "real"))


def test_every_target_input_has_a_known_domain_and_shape() -> None:
    for target in TARGETS:
        for item in target.inputs:
            assert item.domain in DOMAINS, (target.key, item)
            assert all(isinstance(d, int) and d >= 1 for d in shape_of(item, target.entrywise.sizes))


# --- named sizes (issue 16) -------------------------------------------------------------------------
NAMED = {"B": (1, 4), "T": (1, 4), "C": (2, 6)}


@given(tensors(("B", "T", "C"), ("C",), sizes=NAMED))
def test_named_sizes_agree_across_tensors_and_differ_from_each_other(xs: tuple[torch.Tensor, ...]) -> None:
    (b, t, c), (c2,) = xs[0].shape, xs[1].shape
    assert c == c2 and 1 <= b <= 4 and 1 <= t <= 4 and 2 <= c <= 6
    assert len({b, t, c}) == 3


def test_named_sizes_shrink_to_the_smallest_failing_ones() -> None:
    from hypothesis import find

    found = find(tensors(("B", "T", "C"), sizes=NAMED), lambda xs: xs[0].shape[0] > 1)
    assert tuple(found[0].shape) == (2, 1, 3)  # B just past the bound, T at 1, C the smallest left free


def test_one_is_drawn_where_a_range_holds_it() -> None:
    from hypothesis import find

    found = find(tensors(("B", "T"), sizes={"B": (1, 4), "T": (1, 4)}), lambda xs: 1 in xs[0].shape)
    assert 1 in found[0].shape


@given(tensors(("N", "C"), ("N",), ("N",), domain=("real", labels("C"), "bool"), sizes={"N": (1, 5), "C": (1, 4)}))
def test_labels_and_masks(xs: tuple[torch.Tensor, ...]) -> None:
    x, y, mask = xs
    assert y.dtype == torch.int64 and bool(((y >= 0) & (y < x.shape[1])).all())
    assert mask.dtype == torch.bool and mask.shape == y.shape


@given(distinct_sizes({"N": (1, 2), "C": (1, 2), "H": (3, 5), "W": (3, 5), "F": (1, 2)}))
def test_distinct_sizes_never_reject_crowded_ranges(drawn: dict[str, int]) -> None:
    assert len({drawn["N"], drawn["C"]}) == 2 and drawn["H"] != drawn["W"]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: tensors(("N",)), ValueError, "names the size 'N', which sizes= does not give"),
        (lambda: tensors(("N",), sizes={"N": (0, 3)}), ValueError, "zero-size"),
        (lambda: tensors(("N",), sizes={"N": (4, 2)}), ValueError, "low <= high"),
        (lambda: tensors(("N",), sizes={"N": "big"}), ValueError, "an integer or a"),
        (lambda: tensors("N"), TypeError, "a shape is a tuple"),
        (lambda: tensors((2.5,)), ValueError, "neither a size name nor a non-negative integer"),
        (lambda: tensors((2,), domain="sphere"), KeyError, "no input domain 'sphere'"),
        (lambda: tensors((2,), domain=labels("K")), ValueError, r"labels\('K'\) names a size"),
        (lambda: labels(0), ValueError, "positive integer"),
    ],
)
def test_bad_shapes_and_sizes_are_named_up_front(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()
