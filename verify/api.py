"""``check_gradient``: check your own backward (or gradient formula) against torch autograd.

For engineers who write a custom ``torch.autograd.Function`` or derive a gradient by hand. The
comparison is the one ``gradproof verify`` uses (tolerances from ``verify.check.TOLERANCES`` by
dtype, scaled by the problem's magnitude and autograd's own measured rounding, never widened), and a mismatch raises
``GradientMismatch``, an ``AssertionError`` whose message says which input, which entry, your
value and autograd's, and the inputs that showed it. So it works as the body of a pytest test,
with Hypothesis driving the inputs either here (pass a strategy) or in your own ``@given`` test
(pass the drawn tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

from .check import TOLERANCES, Comparison, Tolerance, companion_dtype, compare

__all__ = ["GradientMismatch", "GradientReport", "check_gradient"]


class GradientMismatch(AssertionError):
    """Your gradient and autograd's differ beyond the tolerance; the message shows where."""


@dataclass(frozen=True)
class GradientReport:
    """What a passing ``check_gradient`` compared: examples, largest errors, the tolerance used."""

    examples: int
    max_abs_error: float
    max_rel_error: float
    tolerance: str


def _is_function_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, torch.autograd.Function)


def _autograd(fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor], wrt: Sequence[int],
              seed: int, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, list[torch.Tensor | None], torch.Tensor]:
    """fn's output, autograd's gradients of the chosen inputs along a seeded upstream, and the upstream;
    with ``dtype``, the floating inputs are cast first (the companion run that measures rounding)."""
    cast = [x.detach().to(dtype) if dtype is not None and x.is_floating_point() else x.detach() for x in inputs]
    leaves = [x.clone().requires_grad_(i in wrt) for i, x in enumerate(cast)]
    out = fn(*leaves)
    g = torch.Generator().manual_seed(seed)
    upstream = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out)  # a random v for J^T v
    grads = torch.autograd.grad(out, [leaves[i] for i in wrt], upstream, allow_unused=True)
    return out, list(grads), upstream


def _example_seed(inputs: Sequence[torch.Tensor], seed: int) -> int:
    """The upstream's seed, a function of the example (so a replayed example sees the same upstream)."""
    total = sum(float(x.detach().double().abs().sum()) for x in inputs if x.numel())
    return (seed + int(total * 1e6)) % 2**31


def _one_example(fn: Callable[..., torch.Tensor], yours: Any, inputs: Sequence[torch.Tensor],
                 wrt: Sequence[int], tolerance: Tolerance | None, seed: int) -> list[Comparison]:
    seed = _example_seed(inputs, seed)
    out, expected, upstream = _autograd(fn, inputs, wrt, seed)
    dtype = out.dtype
    _, companion, _ = _autograd(fn, inputs, wrt, seed, companion_dtype(dtype))
    tol = tolerance or TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    try:
        if _is_function_class(yours):
            mine = [x.detach().clone().requires_grad_(i in wrt) for i, x in enumerate(inputs)]
            forward = yours.apply(*mine)
            if forward.shape != out.shape:
                raise GradientMismatch(f"your forward output has shape {tuple(forward.shape)}, fn's {tuple(out.shape)}")
            companion_out = fn(*[x.detach().to(companion_dtype(dtype)) if x.is_floating_point() else x for x in inputs])
            check_forward = compare(forward.detach().reshape(1, -1), out.detach().reshape(1, -1), tol,
                                    companion=companion_out.detach().reshape(1, -1))
            if not check_forward.passed:
                raise GradientMismatch(_message("the forward output", check_forward, inputs, tol))
            got = torch.autograd.grad(forward, [mine[i] for i in wrt], upstream, allow_unused=True)
        else:
            got = yours(*[x.detach() for x in inputs], upstream)
            got = (got,) if isinstance(got, torch.Tensor) else tuple(got)
            if len(got) == len(inputs) and len(wrt) != len(inputs):
                got = tuple(got[i] for i in wrt)
    except (RuntimeError, TypeError, ValueError, IndexError) as error:
        shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
        raise GradientMismatch(f"your backward raised {type(error).__name__}: {error} (input shapes {shapes})") from error
    if len(got) != len(wrt):
        raise GradientMismatch(f"your backward gave {len(got)} gradients for {len(wrt)} inputs")
    outcomes = []
    for i, mine_g, auto_g, other_g in zip(wrt, got, expected, companion):
        zeros = torch.zeros_like(inputs[i])
        auto_g = zeros if auto_g is None else auto_g
        other_g = zeros if other_g is None else other_g
        mine_g = zeros if mine_g is None else mine_g
        if tuple(mine_g.shape) != tuple(inputs[i].shape):
            raise GradientMismatch(f"the gradient of input {i} has shape {tuple(mine_g.shape)}; the input's is "
                                   f"{tuple(inputs[i].shape)}")
        outcome = compare(mine_g.detach().reshape(1, -1), auto_g.detach().reshape(1, -1), tol,
                          companion=other_g.detach().reshape(1, -1))
        if not outcome.passed:
            raise GradientMismatch(_message(f"the gradient of input {i} (shape {tuple(inputs[i].shape)})",
                                            outcome, inputs, tol, shape=tuple(inputs[i].shape)))
        outcomes.append(outcome)
    return outcomes


def _message(what: str, outcome: Comparison, inputs: Sequence[torch.Tensor], tol: Tolerance,
             shape: tuple[int, ...] | None = None) -> str:
    w = outcome.worst
    if "problem" in w:
        return f"{what}: {w['problem']}"
    entry = w["entry"]
    if shape:
        index = []
        for size in reversed(shape):
            entry, rest = divmod(entry, size)
            index.append(rest)
        entry = tuple(reversed(index))
    shown = "\n".join(
        f"  input {i}: {torch.round(x.detach().double(), decimals=4).tolist() if x.numel() <= 36 else f'shape {tuple(x.shape)}'}"
        for i, x in enumerate(inputs))
    return (
        f"{what} differs from autograd at entry {entry}: yours {w['formula']:.10g}, autograd {w['autograd']:.10g} "
        f"(allowed error {w['allowed']:.3g}; max abs error {outcome.max_abs:.3g}, max rel error "
        f"{outcome.max_rel:.3g}; tolerance {tol.describe()}; scale {w['magnitude']:.3g}, autograd's rounding "
        f"{w['autograd_rounding']:.2g})\n"
        f"on the inputs\n{shown}"
    )


def check_gradient(
    fn: Callable[..., torch.Tensor],
    formula_or_backward: Any,
    strategy: SearchStrategy[tuple[torch.Tensor, ...]] | Sequence[torch.Tensor],
    *,
    wrt: Sequence[int] | None = None,
    examples: int = 100,
    tolerance: Tolerance | None = None,
    seed: int = 0,
) -> GradientReport:
    """Check a backward against autograd of ``fn``; raise ``GradientMismatch`` where they differ.

    ``fn(*inputs)`` is the plain torch forward (autograd differentiates it). ``formula_or_backward``
    is either your ``torch.autograd.Function`` subclass (its forward is checked against ``fn`` and
    its backward against autograd) or a function ``formula(*inputs, grad_output)`` returning the
    gradient of each input in ``wrt`` (default: every input). ``strategy`` is a Hypothesis strategy
    of input tuples (run here for ``examples`` examples, e.g. ``verify.strategies.tensors``), or one
    tuple of tensors (when you draw them in your own ``@given`` test). The upstream gradient is a
    seeded random tensor, so every output entry counts.

    >>> from verify.strategies import tensors
    >>> softmax = lambda z: torch.softmax(z, -1)
    >>> def formula(z, v):
    ...     p = torch.softmax(z, -1)
    ...     return (p * (v - (v * p).sum(-1, keepdim=True)),)
    >>> check_gradient(softmax, formula, tensors((3, 5)), examples=20).examples
    20
    >>> wrong = lambda z, v: (torch.softmax(z, -1) * v,)  # the row-sum term dropped
    >>> check_gradient(softmax, wrong, tensors((3, 5)), examples=20)
    Traceback (most recent call last):
    ...
    verify.api.GradientMismatch: the gradient of input 0 (shape (3, 5)) differs from autograd at entry ...
    """
    state = {"count": 0, "abs": 0.0, "rel": 0.0, "tol": ""}

    def run(inputs: Sequence[torch.Tensor]) -> None:
        inputs = list(inputs)
        chosen = list(range(len(inputs))) if wrt is None else list(wrt)
        outcomes = _one_example(fn, formula_or_backward, inputs, chosen, tolerance, seed)
        state["count"] += 1
        for o in outcomes:
            state["abs"], state["rel"] = max(state["abs"], o.max_abs), max(state["rel"], o.max_rel)
        dtype = inputs[0].dtype if inputs else torch.float64
        state["tol"] = (tolerance or TOLERANCES.get(dtype, TOLERANCES[torch.float32])).describe()

    if isinstance(strategy, SearchStrategy):
        failure: list[BaseException] = []

        def example(inputs: tuple[torch.Tensor, ...]) -> None:
            try:
                run(inputs)
            except GradientMismatch as error:
                failure[:] = [error]
                raise

        runner = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck), print_blob=False)(given(strategy)(example))
        try:
            runner()
        except GradientMismatch:
            raise failure[-1] from None  # the shrunk example's message, without Hypothesis' wrapping
    else:
        run(strategy)
    return GradientReport(state["count"], state["abs"], state["rel"], state["tol"])
