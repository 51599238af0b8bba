"""Compare a route's formula with autograd of the reference, on Hypothesis inputs, and record it.

A check of one target by one route draws examples (sizes, seed, scale: strategies.py), builds a
batch of inputs from each, computes the target with the compiled formula and with the reference
(torch.nn.functional + autograd), and compares them entry by entry:

    |formula - autograd| <= atol * scale + rtol * |autograd| + 16 * rounding

with ``atol`` and ``rtol`` from ``TOLERANCES`` (keyed by dtype, never widened to pass) and
``scale`` the example's magnitude, the largest ``|autograd|`` of the example: an error is judged
against the size of the numbers it is made of, so a gradient of size 1e-6 does not pass a sign
flip under an absolute tolerance of 1e-4. ``rounding`` is autograd's own rounding error on the
example, measured by running the reference again in a companion precision (``Tolerance``): it
covers results that cancel to nearly 0, which carry the rounding of the terms that cancelled. At large sizes (``mode="vjp"``) the check is the
HIPS/JAX one along random directions: ``<u, formula>`` against ``<u, autograd>`` for seeded unit
``u`` (with the upstream gradient ``G`` already random, that is ``<u, J^T v>``), scaled by
``|autograd|``. The first failing example stops the check (Hypothesis then shrinks it to a small
one unless told not to), and its worst entry is shown with both values.

Every check returns a ``Record``: what was checked, where, in which dtype, on how many examples,
the largest errors, the tolerance, the seed, the verdict and the worst input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any, Literal

import sympy as sp
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from derive.catalog import topic
from derive.spec import EnvCache
from graphs.check import cut_at
from graphs.graph import Model
from graphs.models import model as build_model

from .compile import (
    CONSTANTS,
    CompiledEntries,
    CompiledModel,
    compile_entries,
    compile_gradients,
)
from .strategies import Draw, draws, make
from .strategies import sizes as size_strategy
from .targets import Target, locate, shape_of

__all__ = [
    "DTYPES",
    "TOLERANCES",
    "Candidate",
    "Comparison",
    "Record",
    "Tolerance",
    "check",
    "companion_dtype",
    "compare",
    "entrywise_candidate",
    "entrywise_formula",
    "graph_model",
    "inputs_for",
    "matrix_candidate",
    "run_check",
]

Route = Literal["entrywise", "matrix"]
Tensors = dict[str, torch.Tensor]
Candidate = Callable[[Tensors, Mapping[str, int]], torch.Tensor]

DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class Tolerance:
    """``|got - expected| <= atol * scale + rtol * |expected| + spread * rounding``.

    ``scale`` is the example's largest ``|expected|``. ``rounding`` is autograd's own rounding
    error on the example, measured: the reference run again in a companion precision (float32
    for a float64 check, float64 otherwise) on the same inputs, the difference converted to the
    checked dtype's unit. It is the floor for results that cancel to nearly 0 (layer norm of a
    row of 2), and it grows only with the rounding a problem really amplifies: an input of size
    1e6 that is merely routed, or an integer label, adds nothing.
    """

    atol: float
    rtol: float
    spread: float = 16.0

    def describe(self) -> str:
        return f"atol {self.atol:g} x scale + rtol {self.rtol:g} x |autograd| + {self.spread:g} x autograd's own rounding"


# Roundoff of the two computations, each a few hundred operations deep, with sums over up to
# 5e4 terms: about 2^-52 x 5e5 in float64 and 2^-23 x 800 in float32 (half precisions: a few
# hundred units). Printed with every result.
TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(atol=1e-10, rtol=1e-10),
    torch.float32: Tolerance(atol=1e-4, rtol=1e-4),
    torch.float16: Tolerance(atol=1e-2, rtol=1e-2),
    torch.bfloat16: Tolerance(atol=5e-2, rtol=5e-2),
}


def companion_dtype(dtype: torch.dtype) -> torch.dtype:
    """The precision the reference is run in a second time to measure its rounding.

    >>> companion_dtype(torch.float64), companion_dtype(torch.float32)
    (torch.float32, torch.float64)
    """
    return torch.float32 if dtype == torch.float64 else torch.float64


@dataclass
class Comparison:
    """The outcome of comparing one batch: the largest errors (``max_rel`` relative to the
    example's scale, its largest autograd value) and the worst entry."""

    passed: bool
    max_abs: float
    max_rel: float
    worst: dict[str, Any]


def _directions(count: int, size: int, seed: int) -> torch.Tensor:
    # A stream of its own: seeded like the inputs, u would replay Q, K, V and G themselves.
    g = torch.Generator().manual_seed((seed * 0x9E3779B1 + 0x5EED) % 2**63)
    u = torch.randn(count, size, generator=g, dtype=torch.float64)
    return u / u.norm(dim=-1, keepdim=True)


def compare(got: torch.Tensor, expected: torch.Tensor, tolerance: Tolerance, mode: str = "full",
            directions: int = 4, seed: int = 0, companion: torch.Tensor | None = None) -> Comparison:
    """Compare batches entry by entry (``full``) or along random directions (``vjp``).

    ``companion`` is the reference computed again in another precision (see ``Tolerance``).

    >>> e = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    >>> compare(e, e, TOLERANCES[torch.float64]).passed, compare(-e, e, TOLERANCES[torch.float64]).passed
    (True, False)
    """
    batch = expected.shape[0]
    if got.numel() != expected.numel():
        return Comparison(False, math.inf, math.inf, {"problem": f"shape {tuple(got.shape)} vs autograd {tuple(expected.shape)}"})
    dtype = expected.dtype
    got, expected = got.reshape(batch, -1).to(dtype), expected.reshape(batch, -1)
    other = companion.reshape(batch, -1).to(torch.float64) if companion is not None else None
    if mode == "vjp":
        u = _directions(directions, expected.shape[1], seed).to(expected.device)
        scale = (expected.to(torch.float64) @ u.T).abs().amax()
        got, expected = (got.to(torch.float64) @ u.T).to(dtype), (expected.to(torch.float64) @ u.T).to(dtype)
        other = other @ u.T if other is not None else None
    # The example's problems are drawn alike: one whose gradient happens to be tiny is judged
    # against the example's scale, not its own.
    scale = (expected.abs().amax() if mode != "vjp" else scale.to(dtype)).expand(batch, 1)
    rounding = 0.0
    if other is not None:
        measured = float(torch.nan_to_num((expected.to(torch.float64) - other).abs().amax(), nan=0.0, posinf=0.0))
        other_eps = torch.finfo(companion.dtype).eps  # type: ignore[union-attr]
        rounding = measured * min(1.0, torch.finfo(dtype).eps / other_eps)
    error = (got - expected).abs()
    error = torch.where(torch.isnan(error), torch.full_like(error, math.inf), error)
    allowed = tolerance.atol * scale + tolerance.rtol * expected.abs() + tolerance.spread * rounding
    excess = error - allowed
    flat = int(excess.reshape(-1).argmax())
    b, i = divmod(flat, expected.shape[1])
    # Relative to the example's scale (a max-norm relative error): entrywise ratios of near-zero
    # entries would report 1e13 for an error of one rounding.
    relative = error / scale.clamp_min(torch.finfo(dtype).tiny)
    worst = {
        "batch_element": b, "entry": i, "formula": float(got[b, i]), "autograd": float(expected[b, i]),
        "allowed": float(allowed[b, i]), "magnitude": float(scale[b, 0]), "autograd_rounding": rounding,
    }
    return Comparison(bool((excess <= 0).all()), float(error.max()), float(relative.max()), worst)


@dataclass
class Record:
    """One check's result (DESIGN.md's check record)."""

    entry: str
    target: str
    route: str
    device: str
    dtype: str
    examples: int
    max_abs_error: float
    max_rel_error: float
    tolerance: str
    seed: int | None  # Hypothesis' seed; None: its derandomized examples
    passed: bool | None  # None: not run (the route has no formula for this target)
    worst_input: dict[str, Any] = field(default_factory=dict)
    sizes: str = ""
    mode: str = "full"
    note: str = ""
    claim: str = ""  # the entry:claim id derive and the homework problems use, where the target has one

    @property
    def status(self) -> str:
        return "skipped" if self.passed is None else "passed" if self.passed else "FAILED"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("max_abs_error", "max_rel_error"):
            if not math.isfinite(out[key]):
                out[key] = str(out[key])
        out["status"] = self.status
        return out

    def _repr_html_(self) -> str:  # Jupyter: a one-row table (gradproof/notebook.py, imported on use)
        from gradproof.notebook import record_html

        return record_html(self)


# --- the routes' candidates ---------------------------------------------------------------------
_FORMULAS: dict[str, sp.Matrix] = {}


def entrywise_formula(target: Target) -> sp.Matrix:
    """derive's claimed closed form for the target at the route's concrete sizes (built once)."""
    if target.key not in _FORMULAS:
        _FORMULAS[target.key] = _claimed(target)
    return _FORMULAS[target.key]


def _claimed(target: Target) -> sp.Matrix:
    t = topic(target.entry)
    claim = next(c for c in t.claims if c.target == target.name)
    env = EnvCache(t.build)(t.check_sizes(dict(target.entrywise.sizes)))
    formula = claim.claimed(env)
    return target.entrywise.prepare(formula) if target.entrywise.prepare else formula


_COMPILED_ENTRIES: dict[str, CompiledEntries] = {}


def entrywise_candidate(target: Target, formula: sp.Matrix | None = None) -> Candidate:
    """The compiled entrywise formula as a function of the target's tensors (the target's own
    formula is compiled once per process; a given ``formula``, a mutant, each time)."""
    if formula is not None:
        compiled = compile_entries(formula, CONSTANTS)
    else:
        if target.key not in _COMPILED_ENTRIES:
            _COMPILED_ENTRIES[target.key] = compile_entries(entrywise_formula(target), CONSTANTS)
        compiled = _COMPILED_ENTRIES[target.key]
    places = {s: locate(s.name, target.entrywise.aliases) for s in compiled.symbols}

    def run(t: Tensors, sizes: Mapping[str, int]) -> torch.Tensor:
        values = {**t, **(target.entrywise.extra(t) if target.entrywise.extra else {})}
        missing = sorted({name for name, _ in places.values() if name not in values})
        if missing:
            raise KeyError(f"{target.key}: the formula uses {', '.join(missing)}, which the target has no tensor for")
        out = compiled({s: values[name][(slice(None), *index)] for s, (name, index) in places.items()})
        return target.entrywise.select(out, t, sizes) if target.entrywise.select else out

    return run


@cache
def graph_model(name: str, cut: str | None) -> Model:
    m = build_model(name)
    return cut_at(m, cut) if cut else m


@cache
def _compiled(name: str, cut: str | None) -> CompiledModel:
    return compile_gradients(graph_model(name, cut))


def matrix_candidate(target: Target, overrides: Mapping[str, sp.Basic] | None = None) -> Candidate:
    """graphs/' compiled reverse-mode gradients, fed the target's tensors, giving the target."""
    route = target.matrix
    if route is None:
        raise ValueError(f"{target.key} has no matrix route")
    compiled = compile_gradients(graph_model(route.model, route.cut), overrides) if overrides else _compiled(route.model, route.cut)

    def run(t: Tensors, sizes: Mapping[str, int]) -> torch.Tensor:
        adjoints = compiled(**route.feed(t))
        return route.value(adjoints, t) if route.value else adjoints[route.adjoints[0]]

    return run


# --- drawing inputs -----------------------------------------------------------------------------
def inputs_for(target: Target, draw: Draw, batch: int, dtype: torch.dtype, device: str) -> Tensors:
    """The batch of input tensors an example stands for (made on the CPU from its seed, then moved)."""
    g = torch.Generator().manual_seed(draw.seed)
    return {
        item.name: make(item.domain, (batch, *shape_of(item, draw.sizes)), g, dtype, device, draw.scale)
        for item in target.inputs
    }


def _size_label(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def check(
    target: Target,
    route: Route,
    *,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
    examples: int = 50,
    size: Literal["small", "large"] = "small",
    batch: int | None = None,
    candidate: Candidate | None = None,
    shrink: bool = True,
    seed: int | None = None,
) -> Record:
    """Check one target by one route; returns the record (``passed`` None when the route has no formula).

    ``seed`` None draws Hypothesis' derandomized examples (the same every run, as CI wants); an
    integer seeds a different stream. Either way a failure's worst input names the example's own
    generator seed, which rebuilds its tensors exactly (``inputs_for``).

    >>> from verify.targets import targets_for
    >>> r = check(targets_for(("information:dKL/dq",))[0], "matrix", examples=3)
    >>> r.passed, r.route, r.tolerance.startswith("atol 1e-10")
    (True, 'matrix', True)
    """
    tolerance = TOLERANCES[dtype]
    dtype_name = str(dtype).removeprefix("torch.")
    record = Record(target.entry, target.name, route, device, dtype_name, 0, 0.0, 0.0, tolerance.describe(),
                    seed, None, note=target.notes, claim=f"{target.entry}:{target.claim}" if target.claim else "")
    if route == "matrix" and target.matrix is None:
        record.note = target.notes or "no graph model carries this target"
        return record
    if route == "entrywise":
        sizes = st.just(dict(target.entrywise.sizes))
        record.sizes = _size_label(target.entrywise.sizes)
        mode = "full"
    elif size == "large":
        sizes = st.just(dict(target.large))
        record.sizes = _size_label(target.large)
        mode = "vjp"
    else:
        ranges = (target.matrix.sizes if target.matrix and target.matrix.sizes else None) or target.small
        rule = _combined_rule(target, route)
        sizes = size_strategy(ranges, rule)
        record.sizes = ", ".join(f"{k} in [{lo}, {hi}]" for k, (lo, hi) in ranges.items())
        mode = "full"
    record.mode = mode
    batch = batch or (1 if size == "large" and route == "matrix" else 4)
    run = candidate or (entrywise_candidate(target) if route == "entrywise" else matrix_candidate(target))
    state: dict[str, Any] = {"worst": None, "count": 0}

    def one(draw: Draw) -> None:
        tensors = inputs_for(target, draw, batch, dtype, device)
        expected = target.reference(tensors, draw.sizes)
        other = companion_dtype(dtype)
        companion = target.reference({k: v.to(other) for k, v in tensors.items()}, draw.sizes)
        try:
            got = run(tensors, draw.sizes)
            if not isinstance(got, torch.Tensor):
                raise TypeError(f"the formula gave a {type(got).__name__}, not a tensor of the batch")
        except (RuntimeError, ValueError, TypeError, IndexError) as error:  # a wrong formula may not even fit
            got, outcome = None, Comparison(False, math.inf, math.inf, {"problem": f"{type(error).__name__}: {error}"})
        if got is not None:
            outcome = compare(got.detach(), expected.detach(), tolerance, mode, seed=draw.seed,
                              companion=companion.detach())
        state["count"] += 1
        record.max_abs_error = max(record.max_abs_error, outcome.max_abs)
        record.max_rel_error = max(record.max_rel_error, outcome.max_rel)
        if not outcome.passed:
            state["worst"] = {"sizes": draw.sizes, "seed": draw.seed, "scale": draw.scale, **outcome.worst}
            raise AssertionError(f"{target.key} ({route}) differs from autograd")

    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    test = given(draws(sizes))(one)
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    runner = settings(max_examples=examples, deadline=None, derandomize=seed is None, database=None, phases=phases,
                      suppress_health_check=list(HealthCheck), print_blob=False)(test)
    try:
        runner()
        record.passed = True
    except AssertionError:
        record.passed = False
        record.worst_input = state["worst"] or {}
    record.examples = state["count"]
    return record


def _combined_rule(target: Target, route: Route) -> Callable[[dict[str, int]], bool] | None:
    rules = [r for r in (target.size_rule, target.matrix.size_rule if target.matrix else None) if r]
    if not rules:
        return None
    return lambda s: all(r(s) for r in rules)


def run_check(targets: list[Target], routes: tuple[Route, ...] = ("entrywise", "matrix"),
              progress: Callable[[int, int, str], None] | None = None, **options: Any) -> list[Record]:
    """Check many targets by many routes; ``progress(done, total, label)`` before each check."""
    jobs = [(t, r) for t in targets for r in routes]
    records = []
    for done, (t, r) in enumerate(jobs):
        if progress:
            progress(done, len(jobs), f"{t.key} [{r}]")
        records.append(check(t, r, **options))
    if progress:
        progress(len(jobs), len(jobs), "done")
    return records
