"""``check_gradient``: check your own backward (or gradient formula) against torch autograd.

For engineers who write a custom ``torch.autograd.Function`` or derive a gradient by hand (for
NumPy layers, see ``verify.check_layer``). Every entry of every gradient is compared on its own:

    |yours - autograd| <= atol + rtol * |autograd| + spread * (autograd's own rounding at that entry)

with ``atol`` and ``rtol`` from ``verify.check.TOLERANCES`` by dtype (never widened), and the
rounding measured by running autograd again in a companion precision. No tensor-wide scale
enters, so a wrong row next to a row of 1e6 is still wrong. A forward with several outputs
(an LSTM step's ``(h, c)``) has each output checked on its own, with its own seeded upstream
gradient. Integer and boolean inputs (labels, masks) are never differentiated. Your code gets
copies of the inputs: an in-place change is reported, never seen by the caller.

A mismatch raises ``GradientMismatch``, an ``AssertionError`` with fields (phase, output,
input, entry, yours, reference, tolerance, seed, inputs, saved), a message that says which
phase failed (your forward, your backward, or the reference ``fn``), where and by how much,
whether the entry sits on a kink, and a file (``.pt``) with a call that checks the inputs again.
So it works as the body of a pytest test, with Hypothesis driving the inputs either here (pass
a strategy) or in your own ``@given`` test (pass the drawn tensors).
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

from .check import TOLERANCES, Tolerance, companion_dtype
from .failure import GradientMismatch, entry_index, failure_dir
from .numeric_grad import one_sided
from .strategies import InvalidInput

__all__ = ["GradientMismatch", "GradientReport", "InPlaceChange", "check_gradient"]


ULPS = 1  # the absolute floor, in units of the gradient's largest entry (see _compare)


def describe_tolerance(tol: Tolerance) -> str:
    """The per-entry rule, as reports and messages print it.

    >>> describe_tolerance(TOLERANCES[torch.float64])
    "rtol 1e-10 x |autograd| + 16 x (autograd's + your own measured rounding) + 1 eps x the largest |autograd|, entry by entry"
    """
    return (f"rtol {tol.rtol:g} x |autograd| + {tol.spread:g} x (autograd's + your own measured rounding) + {ULPS} eps x "
            "the largest |autograd|, entry by entry")


class InPlaceChange(UserWarning):
    """Your code changed one of its input tensors in place (it was given a copy)."""


@dataclass(frozen=True)
class GradientReport:
    """What a passing ``check_gradient`` compared: examples, largest errors, the tolerance used."""

    examples: int
    max_abs_error: float
    max_rel_error: float
    tolerance: str
    outputs: int = 1
    reference: str = "autograd"
    notes: tuple[str, ...] = field(default_factory=tuple)


def _is_function_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, torch.autograd.Function)


def _outputs(value: Any) -> list[torch.Tensor]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _shapes(inputs: Sequence[Any]) -> str:
    return ", ".join(str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__ for x in inputs)


def _copy(x: Any, dtype: torch.dtype | None = None) -> Any:
    """A copy your code may change: a tensor detached (floating ones cast to ``dtype``), anything else deep-copied."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        return (t.to(dtype) if dtype is not None and t.is_floating_point() else t).clone()
    return copy.deepcopy(x)


def _raised(phase: str, who: str, error: BaseException, inputs: Sequence[torch.Tensor], seed: int) -> GradientMismatch:
    text = f"{who} raised {type(error).__name__}: {str(error) or '(no message)'} (input shapes {_shapes(inputs)})"
    return GradientMismatch(f"{text}\nphase: {phase}", phase=phase, seed=seed, inputs=list(inputs))


def _reference(fn: Callable[..., Any], inputs: Sequence[torch.Tensor], wrt: Sequence[int], upstreams_seed: int,
               dtype: torch.dtype | None = None) -> tuple[list[torch.Tensor], list[list[torch.Tensor]], list[torch.Tensor]]:
    """fn's outputs, autograd's gradients of the chosen inputs for each output (its own seeded upstream,
    the others 0), and the upstreams; with ``dtype``, floating inputs are cast first (the companion run)."""
    leaves = [_copy(x, dtype).requires_grad_(i in wrt) if isinstance(x, torch.Tensor) else _copy(x)
              for i, x in enumerate(inputs)]
    try:
        outs = _outputs(fn(*leaves))
        g = torch.Generator().manual_seed(upstreams_seed)
        upstreams = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(o) if o.is_floating_point()
                     else torch.zeros_like(o) for o in outs]  # a random v for J^T v (none for indices)
        grads = []
        for o, v in zip(outs, upstreams):
            if not (o.is_floating_point() or o.is_complex()) or not o.requires_grad:  # indices, or a constant
                grads.append([torch.zeros_like(leaves[i]) for i in wrt])
                continue
            found = torch.autograd.grad(o, [leaves[i] for i in wrt], v, allow_unused=True, retain_graph=True)
            grads.append([torch.zeros_like(leaves[i]) if d is None else d for i, d in zip(wrt, found)])
    except Exception as error:
        raise _raised("reference", "the reference fn", error, inputs, upstreams_seed) from error
    return [o.detach() for o in outs], grads, upstreams


def _example_seed(inputs: Sequence[torch.Tensor], seed: int) -> int:
    """The upstream's seed, a function of the example (so a replayed example sees the same upstream)."""
    total = sum(float(x.detach().double().abs().sum()) for x in inputs if isinstance(x, torch.Tensor) and x.numel())
    return (seed + int(total * 1e6)) % 2**31


def _validate(inputs: Sequence[Any]) -> list[Any]:
    """The inputs, checked: tensors finite and non-empty; anything else (a stride, a dict of options) is a
    fixed argument, passed along and never differentiated."""
    out = []
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            if isinstance(x, np.ndarray):
                raise TypeError(f"input {i} is a NumPy array: check_gradient checks torch code; for a NumPy layer use "
                                "verify.check_layer(forward, backward, shapes)")
            out.append(x)
            continue
        if x.numel() == 0:
            raise InvalidInput(f"input {i} has shape {tuple(x.shape)}, no entries: a zero-size tensor has no gradient "
                               "to check")
        if (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all()):
            flat = int(torch.nonzero(~torch.isfinite(x.reshape(-1)))[0])
            raise InvalidInput(f"input {i} is {float(x.reshape(-1)[flat])} at entry {entry_index(flat, tuple(x.shape))}: "
                               "gradients are checked at finite inputs only")
        out.append(x)
    return out


def _changed(before: Sequence[Any], after: Sequence[Any]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(before, after))
            if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and not torch.equal(a, b.detach())]


def _kink(fn: Callable[..., Any], inputs: Sequence[torch.Tensor], k: int, upstream: torch.Tensor, which: int,
          flat: int) -> tuple[float, float] | None:
    """The one-sided derivatives of ``<v, fn_k>`` along one input entry, if it sits on a kink or a tie."""
    base = [(x.detach().cpu().double() if x.is_floating_point() else x.detach().cpu())
            if isinstance(x, torch.Tensor) else x for x in inputs]
    v = upstream.detach().cpu().double()

    def phi(t: float) -> np.ndarray:
        moved = [_copy(x) for x in base]
        moved[which].reshape(-1)[flat] += t
        with torch.no_grad():
            return np.array([float((_outputs(fn(*moved))[k].double() * v).sum())])

    try:
        x = float(base[which].reshape(-1)[flat])
        steps = (1e-4 * max(1.0, abs(x)), 1e-7 * max(1.0, abs(x)))
        (l1, r1), (l2, r2) = (one_sided(phi, h) for h in steps)
    except Exception:  # noqa: BLE001 - a reference that cannot run in float64 on the CPU gives no diagnosis
        return None
    gap_big, gap_small = abs(float(r1[0] - l1[0])), abs(float(r2[0] - l2[0]))
    size = 1.0 + abs(float(l2[0])) + abs(float(r2[0]))
    if gap_small > 1e-4 * size and gap_small > 0.5 * gap_big:  # the jump does not shrink with the step
        return float(l2[0]), float(r2[0])
    return None


@dataclass
class _Outcome:
    passed: bool
    flat: int
    yours: float
    reference: float
    allowed: float
    count: int
    max_abs: float
    max_rel: float
    rounding: float
    kink: tuple[float, float] | None


def _compare(mine: torch.Tensor, auto: torch.Tensor, other: torch.Tensor, tol: Tolerance, dtype: torch.dtype,
             kink_at: Callable[[int], tuple[float, float] | None], subgradients: bool,
             mine_other: torch.Tensor | None = None) -> _Outcome:
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # inf - inf where autograd is inf
        return _compare_arrays(mine, auto, other, tol, dtype, kink_at, subgradients, mine_other)


def _compare_arrays(mine: torch.Tensor, auto: torch.Tensor, other: torch.Tensor, tol: Tolerance, dtype: torch.dtype,
                    kink_at: Callable[[int], tuple[float, float] | None], subgradients: bool,
                    mine_other: torch.Tensor | None) -> _Outcome:
    got = mine.detach().cpu().double().reshape(-1).numpy()
    own = got if mine_other is None else mine_other.detach().cpu().double().reshape(-1).numpy()
    ref = auto.detach().cpu().double().reshape(-1).numpy()
    companion = other.detach().cpu().double().reshape(-1).numpy()
    # autograd's own rounding at each entry, in the checked dtype's unit (see check.Tolerance).
    ratio = min(1.0, torch.finfo(dtype).eps / torch.finfo(companion_dtype(dtype)).eps)
    rounding = np.nan_to_num(np.abs(ref - companion) + np.abs(got - own), nan=0.0, posinf=0.0) * ratio
    # One rounding unit of the gradient's largest entry: the only tensor-wide term, below anything
    # the dtype resolves (a wrong row next to a row of 1e6 in float32 is judged to 0.12, not to 100).
    # Rounding that cancels to near 0 is covered entry by entry, by the measured terms above.
    floor = ULPS * torch.finfo(dtype).eps * (float(np.abs(ref[np.isfinite(ref)]).max()) if np.isfinite(ref).any() else 0.0)
    allowed = floor + tol.rtol * np.abs(ref) + tol.spread * rounding
    # Where autograd itself is not finite (sqrt at 0) only the same value agrees; a NaN never passes as "within".
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    finite = np.isfinite(ref)
    allowed = np.where(finite, np.nan_to_num(allowed, nan=0.0, posinf=0.0), 0.0)
    error = np.where(same, 0.0, np.abs(got - ref))
    error = np.where(np.isnan(error) | (~finite & ~same), np.inf, error)
    bad = error > allowed
    tiny = float(np.finfo(np.float64).tiny)
    kinks: dict[int, tuple[float, float]] = {}
    if bad.any():
        for flat in [int(i) for i in np.argsort(-(error - allowed))[: min(int(bad.sum()), 20)]]:
            sides = kink_at(flat)
            if sides is not None:
                kinks[flat] = sides
        if subgradients and bad.sum() <= 20:
            for flat, (a, b) in kinks.items():
                if min(a, b) - allowed[flat] <= got[flat] <= max(a, b) + allowed[flat]:
                    bad[flat] = False
    worst = int(np.argmax(np.where(bad, error - allowed, -np.inf))) if bad.any() else int(np.argmax(error))
    return _Outcome(not bad.any(), worst, float(got[worst]), float(ref[worst]), float(allowed[worst]), int(bad.sum()),
                    float(error.max()), float((error / np.maximum(np.abs(ref), floor + tiny)).max()), float(rounding[worst]),
                    kinks.get(worst))


def _shown(inputs: Sequence[Any]) -> str:
    def one(x: Any) -> str:
        if not isinstance(x, torch.Tensor):
            return repr(x)[:200]
        if x.numel() <= 36:
            return str(torch.round(x.detach().cpu().double(), decimals=4).tolist())
        d = x.detach().cpu().double()
        return f"shape {tuple(x.shape)} {str(x.dtype).removeprefix('torch.')}, entries in [{float(d.min()):.4g}, {float(d.max()):.4g}]"

    return "\n".join(f"  input {i}: {one(x)}" for i, x in enumerate(inputs))


def _mismatch(what: str, k: int, outputs: int, outcome: _Outcome, shape: tuple[int, ...], tol: Tolerance,
              dtype: torch.dtype, subgradients: bool) -> str:
    entry = entry_index(outcome.flat, shape)
    where = f"output {k}: " if outputs > 1 else "output 0 (the only one): "
    text = (f"{where}{what} differs from autograd at entry {entry}: yours {outcome.yours:.10g}, autograd "
            f"{outcome.reference:.10g} (|difference| {abs(outcome.yours - outcome.reference):.3g}, allowed "
            f"{outcome.allowed:.3g}; {outcome.count} of {int(np.prod(shape)) if shape else 1} entries differ; max abs "
            f"error {outcome.max_abs:.3g}, max rel error {outcome.max_rel:.3g}; tolerance {describe_tolerance(tol)}; "
            f"autograd's rounding here {outcome.rounding:.2g})")
    if outcome.kink is not None:
        a, b = outcome.kink
        text += (f"\nthis input entry sits on a kink or a tie: the derivative from the left is {a:.6g}, from the right "
                 f"{b:.6g}; any value between them is a valid subgradient"
                 + ("" if subgradients else " (pass subgradients=True to accept one)"))
    if dtype in (torch.float32, torch.float16, torch.bfloat16):
        text += (f"\n{str(dtype).removeprefix('torch.')} resolves only about {tol.rtol:g} relative; if the difference "
                 "is that small, check in float64, where the tolerance is "
                 f"{TOLERANCES[torch.float64].rtol:g}")
    return text


def _yours(fn: Callable[..., Any], yours: Any, inputs: Sequence[torch.Tensor], wrt: Sequence[int],
           ups: list[torch.Tensor], outs: list[torch.Tensor] | None, k: int, tol: Tolerance, dtype: torch.dtype,
           fields: dict[str, Any], notes: list[str] | None) -> list[Any]:
    """Your gradients for output k (upstream ``ups``), run on copies cast to ``dtype``; with ``outs``
    (the main run) your forward is checked too and in-place changes are noted."""
    __tracebackhide__ = True
    function = _is_function_class(yours)
    mine = [_copy(x, dtype).requires_grad_(i in wrt and function) if isinstance(x, torch.Tensor) else _copy(x)
            for i, x in enumerate(inputs)]
    cast = [_copy(x, dtype) for x in inputs]
    seed = fields["seed"]
    if function:
        try:
            forward = _outputs(yours.apply(*mine))
        except Exception as error:
            raise _raised("forward", "your forward", error, inputs, seed) from error
        if outs is not None:
            if len(forward) != len(outs):
                raise GradientMismatch(f"your forward gave {len(forward)} outputs; fn gives {len(outs)}",
                                       phase="forward", **fields)
            if k == 0:
                _check_forward(fn, inputs, forward, outs, tol, dtype, fields)
        try:
            pairs = [(f, u) for f, u in zip(forward, ups) if isinstance(f, torch.Tensor) and f.requires_grad]
            got: list[Any] = list(torch.autograd.grad([f for f, _ in pairs], [mine[i] for i in wrt],
                                                      [u.to(f.dtype) for f, u in pairs], allow_unused=True)
                                  if pairs else [None] * len(wrt))
        except Exception as error:
            raise _raised("backward", "your backward", error, inputs, seed) from error
    else:
        try:
            result = yours(*mine, *ups)
        except Exception as error:
            raise _raised("backward", "your backward", error, inputs, seed) from error
        got = [result] if isinstance(result, torch.Tensor) or result is None else list(result)
        if len(got) == len(inputs) and len(wrt) != len(inputs):
            got = [got[i] for i in wrt]
    if notes is not None:
        for i in _changed(cast, mine):
            note = f"your code changed input {i} in place (it was given a copy; the caller's tensor is intact)"
            if note not in notes:
                notes.append(note)
    return got


def _one_example(fn: Callable[..., Any], yours: Any, inputs: list[torch.Tensor], wrt: Sequence[int],
                 tolerance: Tolerance | None, seed: int, subgradients: bool, notes: list[str],
                 diagnose: bool = True) -> list[_Outcome]:
    __tracebackhide__ = True
    seed = _example_seed(inputs, seed)
    outs, expected, upstreams = _reference(fn, inputs, wrt, seed)
    dtype = next((o.dtype for o in outs if o.is_floating_point()), torch.float64)
    _, companion, _ = _reference(fn, inputs, wrt, seed, companion_dtype(dtype))
    tol = tolerance or TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    fields = {"seed": seed, "inputs": list(inputs)}
    for k, o in enumerate(outs):
        if o.is_floating_point() and not bool(torch.isfinite(o).all()):
            raise GradientMismatch(f"the reference fn gives a non-finite output {k} on finite inputs (input shapes "
                                   f"{_shapes(inputs)}): there is no gradient to compare there", phase="reference",
                                   output=k, **fields)
    outcomes = []
    for k in range(len(outs)):
        ups = [v if j == k else torch.zeros_like(v) for j, v in enumerate(upstreams)]
        got = _yours(fn, yours, inputs, wrt, ups, outs, k, tol, dtype, fields, notes)
        try:  # your own rounding: the same code once more in the companion precision
            other = companion_dtype(dtype)
            rounding = _yours(fn, yours, inputs, wrt, [u.to(other) for u in ups], None, k, tol, other, fields, None)
        except Exception:  # noqa: BLE001 - code that runs in one dtype only: no measurement, said in the notes
            rounding = [None] * len(wrt)
            note = "your code did not run in the companion precision, so its own rounding was not measured"
            if note not in notes:
                notes.append(note)
        if len(got) != len(wrt):
            raise GradientMismatch(f"your backward gave {len(got)} gradients for {len(wrt)} inputs", phase="backward",
                                   output=k, **fields)
        for i, mine_g, auto_g, other_g, mine_other in zip(wrt, got, expected[k], companion[k], rounding):
            shape = tuple(inputs[i].shape)
            mine_g = torch.zeros_like(inputs[i], dtype=auto_g.dtype) if mine_g is None else mine_g
            if not isinstance(mine_g, torch.Tensor):
                raise GradientMismatch(f"the gradient of input {i} is a {type(mine_g).__name__}, not a tensor",
                                       phase="backward", output=k, input=i, **fields)
            if tuple(mine_g.shape) != shape:
                raise GradientMismatch(f"output {k}: the gradient of input {i} has shape {tuple(mine_g.shape)}; the "
                                       f"input's is {shape}", phase="backward", output=k, input=i, **fields)
            if not isinstance(mine_other, torch.Tensor) or tuple(mine_other.shape) != shape:
                mine_other = mine_g
            outcome = _compare(mine_g, auto_g, other_g, tol, dtype,
                               (lambda flat, i=i, k=k: _kink(fn, inputs, k, upstreams[k], i, flat))
                               if diagnose or subgradients else (lambda flat: None), subgradients,
                               mine_other)
            outcomes.append(outcome)
            if not outcome.passed:
                what = f"the gradient of input {i} (shape {shape})"
                raise GradientMismatch(
                    _mismatch(what, k, len(outs), outcome, shape, tol, dtype, subgradients) + "\non the inputs\n"
                    + _shown(inputs), output=k, input=i, entry=entry_index(outcome.flat, shape), yours=outcome.yours,
                    reference=outcome.reference, tolerance=outcome.allowed, **fields)
    return outcomes


def _check_forward(fn: Callable[..., Any], inputs: Sequence[torch.Tensor], forward: list[torch.Tensor],
                   outs: list[torch.Tensor], tol: Tolerance, dtype: torch.dtype, fields: dict[str, Any]) -> None:
    other = [_copy(x, companion_dtype(dtype)) for x in inputs]
    with torch.no_grad():
        companion = _outputs(fn(*other))
    for k, (mine, ref, comp) in enumerate(zip(forward, outs, companion)):
        if tuple(mine.shape) != tuple(ref.shape):
            raise GradientMismatch(f"your forward output {k} has shape {tuple(mine.shape)}, fn's {tuple(ref.shape)}",
                                   phase="forward", output=k, **fields)
        outcome = _compare(mine, ref, comp, tol, dtype, lambda flat: None, False)
        if not outcome.passed:
            shape = tuple(ref.shape)
            raise GradientMismatch(_mismatch(f"the forward output {k} (shape {shape})", k, len(outs), outcome, shape,
                                             tol, dtype, False) + "\non the inputs\n" + _shown(inputs),
                                   phase="forward", output=k, entry=entry_index(outcome.flat, shape),
                                   yours=outcome.yours, reference=outcome.reference, tolerance=outcome.allowed, **fields)


def _save(inputs: Sequence[torch.Tensor]) -> str | None:
    digest = hashlib.sha256()
    for x in inputs:
        if not isinstance(x, torch.Tensor):
            digest.update(repr(x).encode())
            continue
        digest.update(x.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes() if x.dtype != torch.bool
                      else x.detach().cpu().numpy().tobytes())
    try:
        folder = failure_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"inputs-{digest.hexdigest()[:12]}.pt"
        torch.save([x.detach().cpu() if isinstance(x, torch.Tensor) else x for x in inputs], path)
    except Exception:  # noqa: BLE001 - a disk or pickling problem never hides the failure being reported
        return None
    return str(path)


def _finish(error: GradientMismatch, fn: Any, yours: Any, save: bool, device: str) -> GradientMismatch:
    inputs = error.inputs or []
    path = _save(inputs) if save and inputs else None
    text = str(error)
    if error.seed is not None:
        text += f"\nupstream seed {error.seed}"
    name = getattr(yours, "__name__", "yours")
    fn_name = getattr(fn, "__name__", "fn")
    if path:
        load = f"[x.to({device!r}) for x in torch.load({path!r})]" if device != "cpu" else f"torch.load({path!r})"
        text += f"\nsaved to {path}; check them again with\n  verify.check_gradient({fn_name}, {name}, {load})"
    return error.retold(text, path)


def check_gradient(
    fn: Callable[..., Any],
    formula_or_backward: Any,
    strategy: SearchStrategy[tuple[torch.Tensor, ...]] | Sequence[torch.Tensor],
    *,
    wrt: Sequence[int] | None = None,
    examples: int = 100,
    tolerance: Tolerance | None = None,
    seed: int = 0,
    subgradients: bool = False,
    save: bool = True,
) -> GradientReport:
    """Check a backward against autograd of ``fn``; raise ``GradientMismatch`` where they differ.

    ``fn(*inputs)`` is the plain torch forward (autograd differentiates it); it may return a tuple
    of outputs. ``formula_or_backward`` is either your ``torch.autograd.Function`` subclass (its
    forward is checked against ``fn`` and its backward against autograd) or a function
    ``formula(*inputs, *grad_outputs)`` returning the gradient of each input in ``wrt`` (default:
    every floating-point input; integer and boolean ones are never differentiated). ``strategy``
    is a Hypothesis strategy of input tuples (run here for ``examples`` examples, e.g.
    ``verify.strategies.tensors``), or one tuple of tensors (when you draw them in your own
    ``@given`` test). Each output is checked with its own seeded random upstream gradient (the
    others 0), so every output entry counts and a failure names its output. With
    ``subgradients=True`` an entry sitting on a kink or tie passes when it lies between the
    one-sided derivatives.

    >>> from verify.strategies import tensors
    >>> softmax = lambda z: torch.softmax(z, -1)
    >>> def formula(z, v):
    ...     p = torch.softmax(z, -1)
    ...     return (p * (v - (v * p).sum(-1, keepdim=True)),)
    >>> check_gradient(softmax, formula, tensors((3, 5)), examples=20).examples
    20
    >>> wrong = lambda z, v: (torch.softmax(z, -1) * v,)  # the row-sum term dropped
    >>> check_gradient(softmax, wrong, tensors((3, 5)), examples=20, save=False)
    Traceback (most recent call last):
    ...
    verify.failure.GradientMismatch: output 0 (the only one): the gradient of input 0 (shape (3, 5)) differs from ...
    """
    __tracebackhide__ = True
    state: dict[str, Any] = {"count": 0, "abs": 0.0, "rel": 0.0, "tol": "", "outputs": 1}
    notes: list[str] = []

    def run(inputs: Sequence[Any], diagnose: bool = True) -> None:
        __tracebackhide__ = True
        tensors = _validate(list(inputs))
        chosen = [i for i, x in enumerate(tensors) if isinstance(x, torch.Tensor) and (x.is_floating_point() or
                                                                                     x.is_complex())] \
            if wrt is None else list(wrt)
        bad = [i for i in chosen if not (0 <= i < len(tensors) and isinstance(tensors[i], torch.Tensor))]
        if bad:
            raise ValueError(f"wrt={list(chosen)}: {bad[0]} is not the index of a tensor input")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InPlaceChange)  # collected in notes, warned once below
            outcomes = _one_example(fn, formula_or_backward, tensors, chosen, tolerance, seed, subgradients, notes,
                                    diagnose)
        state["count"] += 1
        for o in outcomes:
            state["abs"], state["rel"] = max(state["abs"], o.max_abs), max(state["rel"], o.max_rel)
        dtype = next((x.dtype for x in tensors if isinstance(x, torch.Tensor) and x.is_floating_point()), torch.float64)
        state["tol"] = describe_tolerance(tolerance or TOLERANCES.get(dtype, TOLERANCES[torch.float32]))
        state["outputs"] = max(1, len(outcomes) // max(1, len(chosen)))

    def device_of(inputs: Sequence[Any]) -> str:
        return next((str(x.device) for x in inputs if isinstance(x, torch.Tensor)), "cpu")

    if isinstance(strategy, SearchStrategy):
        failure: list[GradientMismatch] = []

        def example(inputs: tuple[torch.Tensor, ...]) -> None:
            try:
                run(inputs, diagnose=False)  # kinks are looked for once, on the shrunk example
            except GradientMismatch as error:
                failure[:] = [error]
                raise

        runner = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck), print_blob=False,
                          report_multiple_bugs=False)(given(strategy)(example))
        try:
            runner()
        except Exception:
            if not failure:
                raise
            last = failure[-1]
            try:
                run(last.inputs)
            except GradientMismatch as error:
                last = error
            device = device_of(last.inputs or [])
            raise _finish(last, fn, formula_or_backward, save, device) from last.__cause__
    else:
        try:
            run(strategy)
        except GradientMismatch as error:
            raise _finish(error, fn, formula_or_backward, save, device_of(list(strategy))) from error.__cause__
    for note in notes:
        warnings.warn(note, InPlaceChange, stacklevel=2)
    return GradientReport(state["count"], state["abs"], state["rel"], state["tol"], state["outputs"], "autograd",
                          tuple(notes))
