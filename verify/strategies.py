"""Hypothesis strategies for every input domain of the catalog, each validated as it is drawn.

A drawn example is a batch of tensors built by a seeded ``torch.Generator`` from what Hypothesis
chose: the sizes, the seed and a scale. Hypothesis explores and shrinks those few numbers (a
failing case shrinks to small sizes and a small seed), while the tensors themselves can be as large
as a production layer without Hypothesis generating half a million floats one by one. The same
draw gives the same tensors on CPU and CUDA (they are made on the CPU, then moved).

Every domain has a validator; ``make`` runs it on each tensor it builds and raises
``InvalidInput`` if a generator ever breaks its promise (a softmax row that does not sum to 1, a
fully masked row, a pooling window with a tie), so a check never runs on inputs outside the
formula's domain.

>>> import torch
>>> x = make("simplex", (4, 3), torch.Generator().manual_seed(0), torch.float64)
>>> bool(torch.allclose(x.sum(-1), torch.ones(4, dtype=torch.float64)))
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

__all__ = ["DOMAINS", "Domain", "Draw", "InvalidInput", "draws", "make", "sizes", "tensors"]


class InvalidInput(ValueError):
    """A generated tensor is outside its stated domain."""


@dataclass(frozen=True)
class Domain:
    """How to draw a tensor of one kind, and how to tell that a tensor is of that kind."""

    description: str
    generate: Callable[[tuple[int, ...], torch.Generator, float], torch.Tensor]  # float64, CPU
    invalid: Callable[[torch.Tensor], str | None]  # what is wrong, or None


def _normal(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def _weight(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    # As layers are initialised (LeCun/Xavier): variance 1 / fan_in, fan_in = rows of x @ W.
    fan_in = shape[-2] if len(shape) >= 2 else 1
    return torch.randn(*shape, generator=g, dtype=torch.float64) / fan_in**0.5


def _uniform(low: float, high: float) -> Callable[[tuple[int, ...], torch.Generator, float], torch.Tensor]:
    return lambda shape, g, scale: low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)


def _simplex(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    # Scaled logits give both spread-out and nearly one-hot rows; every entry stays > 0.
    return torch.softmax(_normal(shape, g, 2 * scale), -1)


def _one_hot(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    classes = torch.randint(0, shape[-1], shape[:-1], generator=g)
    return torch.nn.functional.one_hot(classes, shape[-1]).to(torch.float64)


def _sign(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=g).to(torch.float64) * 2 - 1


def _pattern(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=g).to(torch.float64)


def _random_mask(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    mask = torch.randint(0, 2, shape, generator=g).to(torch.float64)
    # At least one key per query: a fully masked row has no softmax at all.
    keep = torch.randint(0, shape[-1], shape[:-1], generator=g)
    return mask.scatter(-1, keep.unsqueeze(-1), 1.0)


def _causal_mask(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    return torch.ones(shape, dtype=torch.float64).tril()


MARGIN = 0.05  # distinct entries differ by at least this, far above float32 rounding


def _distinct(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    # A random order of evenly spaced values, jittered by less than half the spacing: no ties.
    count = 1
    for dim in shape[-2:]:
        count *= dim
    batch = shape[:-2]
    order = torch.argsort(torch.rand(*batch, count, generator=g), -1).to(torch.float64)
    jitter = (torch.rand(*batch, count, generator=g, dtype=torch.float64) - 0.5) * MARGIN
    values = (order - count / 2) * (2 * MARGIN) + jitter  # neighbours at least MARGIN apart
    return (values * max(scale, 1.0)).reshape(shape)


def _ties(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    return torch.randint(0, 3, shape, generator=g).to(torch.float64)


def _spread_rows(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    x = _normal(shape, g, scale)
    if shape[-1] == 1:
        return x
    # Layer norm divides by the row's standard deviation: keep it away from 0 (and from eps).
    centred = x - x.mean(-1, keepdim=True)
    spread = centred.std(-1, keepdim=True, unbiased=False)
    return x.mean(-1, keepdim=True) + centred / spread.clamp_min(1e-12) * scale


def _normed_rows(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    # What a Transformer sublayer reads: layer-normed rows (mean 0, deviation 1), whatever the scale.
    x = _spread_rows(shape, g, 1.0)
    return x - x.mean(-1, keepdim=True) if shape[-1] > 1 else x


def _never(x: torch.Tensor) -> str | None:
    return None if torch.isfinite(x).all() else "not finite"


def _check(test: Callable[[torch.Tensor], bool], message: str) -> Callable[[torch.Tensor], str | None]:
    return lambda x: _never(x) or (None if test(x) else message)


def _rows_sum_to_one(x: torch.Tensor) -> bool:
    return bool(torch.allclose(x.sum(-1), torch.ones((), dtype=x.dtype), atol=1e-12)) and bool((x > 0).all())


def _no_ties(x: torch.Tensor) -> bool:
    flat = x.flatten(-2).sort(-1).values
    return flat.shape[-1] < 2 or bool((flat.diff(dim=-1) >= MARGIN * 0.99).all())


def _spread(x: torch.Tensor) -> bool:
    return x.shape[-1] == 1 or bool((x.std(-1, unbiased=False) > 0.05).all())


DOMAINS: dict[str, Domain] = {
    "real": Domain("real numbers, standard normal times the drawn scale", _normal, _never),
    "weight": Domain("layer weights as initialised: normal with variance 1 / fan_in (fan_in = rows)", _weight,
                     _never),
    "positive": Domain("positive reals in [0.05, 3]", _uniform(0.05, 3.0), _check(lambda x: bool((x > 0).all()), "not > 0")),
    "rate": Domain("a learning rate in [0.01, 1]", _uniform(0.01, 1.0), _check(lambda x: bool((x > 0).all()), "not > 0")),
    "simplex": Domain("probability rows: > 0, summing to 1", _simplex, _check(_rows_sum_to_one, "a row is not on the simplex")),
    "one_hot": Domain("one-hot label rows", _one_hot, _check(lambda x: bool((x.sum(-1) == 1).all()), "not one-hot")),
    "sign": Domain("labels in {-1, +1}", _sign, _check(lambda x: bool((x.abs() == 1).all()), "not +-1")),
    "pattern": Domain("0/1 entries", _pattern, _check(lambda x: bool(((x == 0) | (x == 1)).all()), "not 0/1")),
    "mask": Domain("a random 0/1 attention mask with at least one key per row", _random_mask,
                   _check(lambda x: bool((x.sum(-1) >= 1).all()), "a row has no unmasked key")),
    "causal": Domain("the causal mask (1 where key j <= query i)", _causal_mask,
                     _check(lambda x: bool((x.sum(-1) >= 1).all()), "a row has no unmasked key")),
    "distinct": Domain(f"a map with distinct entries, at least {MARGIN} apart (no ties in any window)", _distinct,
                       _check(_no_ties, "two entries are closer than the margin")),
    "ties": Domain("small integers, so that pooling windows have ties", _ties, _never),
    "spread_rows": Domain("rows with standard deviation equal to the scale (well-conditioned for layer norm)",
                          _spread_rows, _check(_spread, "a row is nearly constant")),
    "normed_rows": Domain("layer-normed rows (mean 0, standard deviation 1), as attention reads them",
                          _normed_rows, _check(lambda x: bool(x.abs().max() < 1e3), "out of range")),
    "position": Domain("a position in [0, 100]", _uniform(0.0, 100.0), _never),
    "offset": Domain("an offset in [-20, 20]", _uniform(-20.0, 20.0), _never),
}


def make(domain: str, shape: Sequence[int], generator: torch.Generator, dtype: torch.dtype,
         device: str | torch.device = "cpu", scale: float = 1.0) -> torch.Tensor:
    """A tensor of ``domain`` with ``shape``, checked against the domain after the cast to ``dtype``.

    >>> make("sign", (3,), torch.Generator().manual_seed(1), torch.float32).abs().tolist()
    [1.0, 1.0, 1.0]
    """
    if domain not in DOMAINS:
        raise KeyError(f"no input domain {domain!r}; there are {', '.join(DOMAINS)}")
    value = DOMAINS[domain].generate(tuple(shape), generator, scale).to(dtype)
    problem = DOMAINS[domain].invalid(value.to(torch.float64))
    if problem:
        raise InvalidInput(f"{domain}: {problem} (shape {tuple(shape)}, scale {scale})")
    return value.to(device)


def sizes(ranges: Mapping[str, tuple[int, int]], rule: Callable[[dict[str, int]], bool] | None = None,
          distinct: bool = True) -> st.SearchStrategy[dict[str, int]]:
    """Sizes in ``ranges``; with ``distinct``, sizes that can differ do (so a swapped transpose fails
    with a shape error or a wrong value, not silently at n = d).

    >>> from hypothesis import given
    >>> @given(sizes({"n": (2, 5), "d_k": (2, 5)}))
    ... def test(s): assert s["n"] != s["d_k"]
    >>> test()
    """
    names = list(ranges)
    varying = [n for n in names if ranges[n][0] < ranges[n][1]]

    def ok(drawn: dict[str, int]) -> bool:
        if distinct and len({drawn[n] for n in varying}) < min(len(varying), _room(ranges, varying)):
            return False
        return rule(drawn) if rule else True

    return st.fixed_dictionaries({n: st.integers(*ranges[n]) for n in names}).filter(ok)


def _room(ranges: Mapping[str, tuple[int, int]], names: Sequence[int]) -> int:
    """How many distinct values the ranges can hold together (distinct sizes may be impossible)."""
    values = set()
    for name in names:
        values.update(range(ranges[name][0], ranges[name][1] + 1))
    return len(values)


@dataclass(frozen=True)
class Draw:
    """What Hypothesis chose for one example: sizes, seed and scale (the tensors follow from them)."""

    sizes: dict[str, int]
    seed: int
    scale: float


SCALES = (0.25, 1.0, 3.0)


def draws(size_strategy: st.SearchStrategy[dict[str, int]]) -> st.SearchStrategy[Draw]:
    """One example's sizes, generator seed and input scale.

    >>> from hypothesis import given
    >>> @given(draws(st.just({"n": 2})))
    ... def test(d): assert d.scale in SCALES and d.sizes == {"n": 2}
    >>> test()
    """
    return st.builds(Draw, size_strategy, st.integers(0, 2**31 - 1), st.sampled_from(SCALES))


def tensors(*shapes: Sequence[int], domain: str | Sequence[str] = "real", dtype: torch.dtype = torch.float64,
            device: str = "cpu") -> st.SearchStrategy[tuple[torch.Tensor, ...]]:
    """Tuples of tensors with the given shapes (one domain for all, or one per shape), for your own tests.

    >>> from hypothesis import given
    >>> @given(tensors((2, 3), (3,), domain=("real", "simplex")))
    ... def test(xs): assert xs[0].shape == (2, 3) and abs(float(xs[1].sum()) - 1) < 1e-12
    >>> test()
    """
    domains = [domain] * len(shapes) if isinstance(domain, str) else list(domain)
    if len(domains) != len(shapes):
        raise ValueError(f"{len(shapes)} shapes but {len(domains)} domains")

    def build(seed: int, scale: float) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return tuple(make(d, shape, g, dtype, device, scale) for d, shape in zip(domains, shapes))

    return st.builds(build, st.integers(0, 2**31 - 1), st.sampled_from(SCALES))
