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

__all__ = [
    "DISCRETE",
    "DOMAINS",
    "Domain",
    "Draw",
    "InvalidInput",
    "Labels",
    "as_domain",
    "distinct_sizes",
    "draws",
    "labels",
    "make",
    "make_any",
    "resolve_shape",
    "size_ranges",
    "sizes",
    "tensors",
]


class InvalidInput(ValueError):
    """A generated tensor is outside its stated domain."""


@dataclass(frozen=True)
class Domain:
    """How to draw a tensor of one kind, and how to tell that a tensor is of that kind."""

    description: str
    generate: Callable[[tuple[int, ...], torch.Generator, float], torch.Tensor]  # float64, CPU
    invalid: Callable[[torch.Tensor], str | None]  # what is wrong, or None


def _normal(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=g, dtype=torch.float64) * scale


def _weight(shape: tuple[int, ...], g: torch.Generator, scale: float) -> torch.Tensor:
    # As layers are initialised (LeCun/Xavier): variance 1 / fan_in, fan_in = rows of x @ W.
    fan_in = shape[-2] if len(shape) >= 2 else 1
    return torch.randn(tuple(shape), generator=g, dtype=torch.float64) / fan_in**0.5


def _uniform(low: float, high: float) -> Callable[[tuple[int, ...], torch.Generator, float], torch.Tensor]:
    return lambda shape, g, scale: low + (high - low) * torch.rand(tuple(shape), generator=g, dtype=torch.float64)


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


def distinct_sizes(ranges: Mapping[str, tuple[int, int]]) -> st.SearchStrategy[dict[str, int]]:
    """Sizes in ``ranges``, each one different from those drawn before it where its range has room.

    Built one size at a time from the values still free, so it never rejects (five sizes in
    ranges of two values each still draw at once), and Hypothesis shrinks toward the smallest
    distinct sizes, 1 among them where a range holds it.

    >>> from hypothesis import given
    >>> @given(distinct_sizes({"N": (1, 2), "C": (1, 2), "F": (1, 3)}))
    ... def test(s): assert len({s["N"], s["C"], s["F"]}) == 3
    >>> test()
    """
    names = list(ranges)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, int]:
        used: set[int] = set()
        out: dict[str, int] = {}
        for name in names:
            lo, hi = ranges[name]
            if hi - lo > 4096:  # too wide to list; distinct by chance
                value = draw(st.integers(lo, hi))
            else:
                free = [v for v in range(lo, hi + 1) if v not in used] or list(range(lo, hi + 1))
                value = free[draw(st.integers(0, len(free) - 1))]
            out[name] = value
            used.add(value)
        return out

    return build()


_size_strategy = distinct_sizes  # ``tensors`` takes an argument named ``sizes``


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


Dim = int | str  # a dimension: a fixed size, or the name of a size drawn from ``sizes=``


@dataclass(frozen=True)
class Labels:
    """Integer class labels in ``[0, count)``; ``count`` is a number or the name of a size."""

    count: int | str

    def describe(self) -> str:
        return f"integer labels in [0, {self.count})"


def labels(count: int | str) -> Labels:
    """The domain of class labels (never differentiated): integers in ``[0, count)``.

    >>> labels("C")
    Labels(count='C')
    """
    if not isinstance(count, (int, str)) or isinstance(count, bool) or (isinstance(count, int) and count < 1):
        raise ValueError(f"labels(count): count must be a positive integer or a size name; got {count!r}")
    return Labels(count)


# Discrete domains: never differentiated, made as integer or boolean tensors.
DISCRETE: dict[str, str] = {
    "bool": "a random boolean mask",
    "mask_rows": "a random boolean mask with at least one True per row along the last axis (a padding mask used "
                 "as s[~mask] = -inf: no row fully masked)",
    "index": "non-negative integers below 10",
}

AnyDomain = str | Labels


def as_domain(domain: object) -> AnyDomain:
    """A domain as written by hand: a name, ``labels(C)``, ``"labels:C"`` or ``("labels", C)``.

    >>> as_domain("labels:C"), as_domain(("labels", 3)), as_domain("bool")
    (Labels(count='C'), Labels(count=3), 'bool')
    """
    if isinstance(domain, str) and domain.startswith("labels:"):
        count = domain.removeprefix("labels:").strip()
        return labels(int(count) if count.isdigit() else count)
    if isinstance(domain, tuple) and len(domain) == 2 and domain[0] == "labels":
        return labels(domain[1])
    _check_domain(domain)  # type: ignore[arg-type]
    return domain  # type: ignore[return-value]


def _check_domain(domain: AnyDomain) -> None:
    if isinstance(domain, Labels):
        return
    if not isinstance(domain, str) or (domain not in DOMAINS and domain not in DISCRETE):
        known = ", ".join([*DOMAINS, *DISCRETE, "labels(count)"])
        raise KeyError(f"no input domain {domain!r}; there are {known}")


def is_discrete(domain: AnyDomain) -> bool:
    """Whether inputs of ``domain`` are integers or booleans (labels, ids, masks), never differentiated.

    >>> is_discrete("real"), is_discrete("bool"), is_discrete(labels(3))
    (False, True, True)
    """
    return isinstance(domain, Labels) or domain in DISCRETE


def size_ranges(sizes: Mapping[str, int | tuple[int, int]] | None) -> dict[str, tuple[int, int]]:
    """``{"N": (1, 4), "D": 3}`` -> ``{"N": (1, 4), "D": (3, 3)}``, validated (sizes start at 1).

    >>> size_ranges({"N": (1, 4), "D": 3})
    {'N': (1, 4), 'D': (3, 3)}
    >>> size_ranges({"N": (0, 4)})
    Traceback (most recent call last):
    ...
    ValueError: size 'N': (0, 4) includes 0; a zero-size array has no entry to check, start the range at 1
    """
    out: dict[str, tuple[int, int]] = {}
    for name, value in (sizes or {}).items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"size names are non-empty strings; got {name!r}")
        if isinstance(value, range) and value.step == 1 and len(value):
            value = (value.start, value.stop - 1)  # range(1, 5) is 1..4
        try:
            lo, hi = (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ValueError(f"size {name!r}: want an integer or a (low, high) pair; got {value!r}") from None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) or lo > hi:
            raise ValueError(f"size {name!r}: want an integer or a (low, high) pair with low <= high; got {value!r}")
        if lo < 1:
            raise ValueError(f"size {name!r}: {value!r} includes {lo}; a zero-size array has no entry to check, "
                             "start the range at 1")
        out[name] = (lo, hi)
    return out


def _factors(dim: str) -> list[str]:
    return [f.strip() for f in dim.split("*")]


def _check_shape(shape: Sequence[Dim], ranges: Mapping[str, tuple[int, int]]) -> None:
    if isinstance(shape, (str, int)) or not isinstance(shape, Sequence):
        raise TypeError(f"a shape is a tuple of sizes, like (3, 4) or ('N', 'D'); got {shape!r}")
    for dim in shape:
        if isinstance(dim, str):
            for factor in _factors(dim):  # a product such as "4*H" (an LSTM's gates) or "C*H*W"
                if factor.isdigit():
                    continue
                if factor not in ranges:
                    raise ValueError(f"shape {tuple(shape)} names the size {factor!r}, which sizes= does not give; "
                                     f"add e.g. sizes={{{factor!r}: (1, 4)}}")
        elif not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            raise ValueError(f"shape {tuple(shape)}: {dim!r} is neither a size name nor a non-negative integer")


def resolve_shape(shape: Sequence[Dim], drawn: Mapping[str, int]) -> tuple[int, ...]:
    """A shape with its size names (or products of them, ``"4*H"``) replaced by the drawn sizes.

    >>> resolve_shape(("B", 3, "C", "4*C"), {"B": 2, "C": 5})
    (2, 3, 5, 20)
    """
    def size(dim: Dim) -> int:
        if not isinstance(dim, str):
            return int(dim)
        value = 1
        for factor in _factors(dim):
            value *= int(factor) if factor.isdigit() else drawn[factor]
        return value

    return tuple(size(d) for d in shape)


def make_any(domain: AnyDomain, shape: Sequence[int], generator: torch.Generator, dtype: torch.dtype,
             device: str | torch.device = "cpu", scale: float = 1.0,
             drawn: Mapping[str, int] | None = None) -> torch.Tensor:
    """``make`` for every domain: a float domain in ``dtype``, labels as int64, ``bool`` as bool.

    >>> g = torch.Generator().manual_seed(0)
    >>> y = make_any(labels("C"), (6,), g, torch.float64, drawn={"C": 3})
    >>> y.dtype, bool(((y >= 0) & (y < 3)).all())
    (torch.int64, True)
    """
    if isinstance(domain, Labels):
        count = (drawn or {})[domain.count] if isinstance(domain.count, str) else domain.count
        return torch.randint(0, count, tuple(shape), generator=generator).to(device)
    if domain == "bool":
        return (torch.randint(0, 2, tuple(shape), generator=generator) == 1).to(device)
    if domain == "mask_rows":
        mask = torch.randint(0, 2, tuple(shape), generator=generator) == 1
        if len(shape) == 0:
            return torch.ones((), dtype=torch.bool).to(device)
        if shape[-1] > 0:  # one True per row at a random place: no row is fully masked
            keep = torch.randint(0, shape[-1], tuple(shape[:-1]), generator=generator)
            mask = mask.scatter(-1, keep.unsqueeze(-1), True)
        return mask.to(device)
    if domain == "index":
        return torch.randint(0, 10, tuple(shape), generator=generator).to(device)
    return make(domain, shape, generator, dtype, device, scale)


def tensors(*shapes: Sequence[Dim], domain: AnyDomain | Sequence[AnyDomain] = "real",
            dtype: torch.dtype = torch.float64, device: str = "cpu",
            sizes: Mapping[str, int | tuple[int, int]] | None = None,
            distinct: bool = True) -> st.SearchStrategy[tuple[torch.Tensor, ...]]:
    """Tuples of tensors with the given shapes (one domain for all, or one per shape), for your own tests.

    A dimension is a number or the name of a size in ``sizes`` (a number or a ``(low, high)`` range).
    Sizes are drawn per example, distinct where the ranges allow (so a transpose or a ``1 / shape[0]``
    that is right only at square shapes fails), and Hypothesis shrinks a failure to the smallest sizes.
    Discrete domains (``labels(count)``, ``"bool"``) give integer and boolean tensors.

    >>> from hypothesis import given
    >>> @given(tensors((2, 3), (3,), domain=("real", "simplex")))
    ... def test(xs): assert xs[0].shape == (2, 3) and abs(float(xs[1].sum()) - 1) < 1e-12
    >>> test()
    >>> @given(tensors(("B", "T", "C"), ("C",), sizes={"B": (1, 4), "T": (1, 4), "C": (2, 6)}))
    ... def test(xs): assert xs[0].shape[-1] == xs[1].shape[0] and xs[0].shape[0] != xs[0].shape[1]
    >>> test()
    """
    domains = [domain] * len(shapes) if isinstance(domain, (str, Labels)) else list(domain)
    if len(domains) != len(shapes):
        raise ValueError(f"{len(shapes)} shapes but {len(domains)} domains")
    domains = [as_domain(d) for d in domains]
    ranges = size_ranges(sizes)
    for shape in shapes:
        _check_shape(shape, ranges)
    for d in domains:
        if isinstance(d, Labels) and isinstance(d.count, str) and d.count not in ranges:
            raise ValueError(f"labels({d.count!r}) names a size that sizes= does not give")

    def build(drawn: dict[str, int], seed: int, scale: float) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return tuple(make_any(d, resolve_shape(shape, drawn), g, dtype, device, scale, drawn)
                     for d, shape in zip(domains, shapes))

    if not ranges:
        drawn_sizes: st.SearchStrategy[dict[str, int]] = st.just({})
    elif distinct:
        drawn_sizes = _size_strategy(ranges)
    else:
        drawn_sizes = st.fixed_dictionaries({n: st.integers(*r) for n, r in ranges.items()})
    return st.builds(build, drawn_sizes, st.integers(0, 2**31 - 1), st.sampled_from(SCALES))
