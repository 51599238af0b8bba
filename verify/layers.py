"""``check_layer``: check a NumPy layer's backward as it is written, at drawn shapes.

Two conventions, the ones assignments and hand-written training code use:

- **layer**: ``out, cache = forward(*arrays, *params)`` and ``grads = backward(dout, cache)``.
  Several outputs are ``out_1, ..., out_K, cache = forward(...)`` with ``backward(dout_1, ...,
  dout_K, cache)`` (an LSTM step's ``next_h, next_c``). ``grads`` is one array (one input), a
  tuple in the order of the inputs (``None`` where an input gets no gradient), or a dict keyed
  by input name (``"W1"`` or ``"dW1"``).
- **loss**: ``loss, grads = forward(*arrays, *params)`` (no ``backward``); ``grads`` is the
  gradient of the scalar loss with respect to the first float inputs (or those named in ``wrt``).

Each output is checked on its own, with its own seeded random upstream gradient (the others 0),
against a reference: autograd of a torch ``reference`` when one is given, else an accurate
float64 numerical derivative of your own forward (Ridders' extrapolation, numeric_grad.py),
whose error estimate enters the tolerance. Every entry is compared on its own:

    |yours - reference| <= atol + rtol * |reference| + spread * (reference's error estimate
                             + your own measured rounding) + floor * (largest |reference| of the tensor)

with a ``floor`` of 1e-9 (float64), far below any real mistake, so one large entry never hides
a wrong small one. Integer and boolean inputs (labels, masks) are
drawn from their domains and never differentiated. Your code always gets copies: an in-place
change to an input is reported, never seen by the caller or the next call.

A failure raises ``GradientMismatch`` (an ``AssertionError``) naming the phase (``forward``,
``backward``, ``reference`` or ``compare``), the output, the input, the entry and both values,
with the inputs saved to an ``.npz`` file and a call that checks them again.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, assume, find, given, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from .failure import (
    GradientMismatch,
    describe_array,
    entry_index,
    save_inputs,
    show_inputs,
)
from .layer_file import StatefulLayerError, stateful_pair
from .numeric_grad import entry_phi, numeric_gradient, one_sided
from .strategies import (
    SCALES,
    Labels,
    as_domain,
    distinct_sizes,
    is_discrete,
    make_any,
    resolve_shape,
    size_ranges,
)

__all__ = ["InPlaceChange", "LayerArgumentError", "LayerReport", "LayerTolerance", "check_layer"]


class LayerArgumentError(ValueError, TypeError, KeyError):
    """A bad argument to ``check_layer`` (shapes, sizes, domains, wrt, outputs, ...), found before any of
    your code runs. It is a ValueError, TypeError and KeyError too (what these checks raised before), so
    a caller can tell it from a bug inside the check, which is never one of these."""

    __str__ = BaseException.__str__


class InPlaceChange(UserWarning):
    """Your forward or backward changed one of its input arrays in place."""


@dataclass(frozen=True)
class LayerTolerance:
    """``|yours - reference| <= atol + rtol * |reference| + spread * (error estimate + your rounding)
    + floor * max |reference|``, entry by entry."""

    atol: float
    rtol: float
    floor: float
    spread: float = 16.0

    def describe(self) -> str:
        return (f"atol {self.atol:g} + rtol {self.rtol:g} x |reference| + {self.spread:g} x (the reference's error "
                f"estimate + your own measured rounding) + {self.floor:g} x the largest |reference|, entry by entry")


# The numerical reference is good to about 1e-10 relative on smooth layers (Ridders); its own
# estimate covers the rest, so rtol stays far below any real mistake (a missing term of 1e-4).
# In float32 your backward carries about 1e-7 of rounding per operation, measured and added.
TOLERANCES: dict[Any, LayerTolerance] = {
    np.dtype(np.float64): LayerTolerance(atol=1e-12, rtol=1e-7, floor=1e-9),
    np.dtype(np.float32): LayerTolerance(atol=1e-12, rtol=1e-4, floor=16 * float(np.finfo(np.float32).eps)),
}


@dataclass
class LayerReport:
    """What a passing ``check_layer`` compared."""

    examples: int
    outputs: list[str]
    inputs: list[str]
    reference: str
    tolerance: str
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    max_reference_error: float = 0.0
    sizes_seen: list[dict[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


NUMERIC = "numerical derivative of your forward (Ridders' extrapolation of central differences, float64)"
AUTOGRAD = "autograd of your torch reference (float64)"


@dataclass
class _Spec:
    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    names: list[str]
    shapes: dict[str, tuple[Any, ...]]
    domains: dict[str, Any]
    wrt: list[str]
    wrt_given: bool
    output_names: list[Any] | None  # names of the outputs in order, or the indices of those checked
    dtype: np.dtype
    tolerance: LayerTolerance
    reference: Callable[..., Any] | None
    subgradients: bool
    name: str
    tensors: bool = False  # your code gets torch tensors (a layer written in torch, llm.c's LayerNorm)

    @property
    def loss(self) -> bool:
        return self.backward is None


# --- calling the user's code, phase by phase ------------------------------------------------------
SEED = 20_261_130  # numpy's global generator is reseeded to this for every call of your forward


@contextmanager
def _same_random_numbers() -> Iterator[None]:
    """Every forward call draws the same random numbers from ``np.random`` (dropout without a seed of
    its own stays checkable); the caller's generator state is put back afterwards."""
    state = np.random.get_state()
    np.random.seed(SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def _folders(*functions: Any) -> list[str]:
    """The folders of the files that define ``functions`` (a bound or static method's too)."""
    found: list[str] = []
    for function in functions:
        function = getattr(function, "__func__", function)
        function = getattr(function, "__wrapped__", function)  # a class layer's adapter: the file of the class
        file = getattr(function, "__globals__", {}).get("__file__")
        if isinstance(file, str) and file:
            folder = os.path.dirname(os.path.abspath(file))
            if folder not in found:
                found.append(folder)
    return found


@contextmanager
def _beside_your_files(spec: _Spec) -> Iterator[None]:
    """Your layer file's folder on ``sys.path`` while your code runs, as when it runs as a script: an import
    inside a function (``from layers import batchnorm_forward`` in a spatial batchnorm) finds its sibling
    files. Only folders not already there are added, and they are taken out again afterwards."""
    added = [f for f in _folders(spec.forward, spec.backward, spec.reference) if f not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)


def _copies(arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    return [np.array(a, copy=True) for a in arrays.values()]


def _given(spec: _Spec, arrays: list[np.ndarray]) -> list[Any]:
    """What your code is called with: the arrays, or torch tensors sharing their memory (``tensors=True``)."""
    return [torch.from_numpy(a) for a in arrays] if spec.tensors else arrays


def _fresh(params: Sequence[Any]) -> list[Any]:
    """Copies of the params for one call (a forward may update a bn_param's running mean)."""
    try:
        return copy.deepcopy(list(params))
    except Exception:  # noqa: BLE001 - a param that cannot be copied (a lock, a module) is passed as it is
        return list(params)


def _shapes_text(arrays: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in arrays.items())


class _Refused(Exception):
    """The first, simplest example was refused by your forward's own assert (outside Hypothesis, no reject())."""


class _OutOfTime(BaseException):
    """Raised inside the Hypothesis run once the time budget is spent: a BaseException, so Hypothesis stops at
    once (no shrinking, no more draws) instead of calling it a failure."""


# Names a Python 2 layer file uses (cs231n's 2016 assignments): what Python 3 calls them.
PYTHON2 = {"xrange": "range", "unicode": "str", "basestring": "str", "long": "int", "raw_input": "input",
           "iteritems": "items()", "itervalues": "values()", "iterkeys": "keys()", "has_key": "`key in d`"}


def _takes_self(spec: _Spec, phase: str) -> bool:
    """Whether the function of ``phase`` is a method's plain function (its first parameter ``self``)."""
    import inspect

    function = spec.backward if phase == "backward" else spec.forward
    try:
        first = next(iter(inspect.signature(function).parameters), None)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return first == "self" and not inspect.ismethod(function)


def _raised(spec: _Spec, phase: str, what: str, error: BaseException, arrays: Mapping[str, np.ndarray],
            params: Sequence[Any], context: dict[str, Any]) -> GradientMismatch:
    message = str(error) or "(no message)"
    text = (f"{spec.name}: {what} raised {type(error).__name__}: {message}\n"
            f"phase: {phase}; input shapes {_shapes_text(arrays)}; params {_params_text(params)}")
    floats = [n for n, a in arrays.items() if np.asarray(a).dtype.kind == "f"]
    if isinstance(error, IndexError) and "arrays used as indices must be of integer" in message:
        first = floats[0] if floats else "y"
        text += (f"\nhint: an input used as indices is drawn as floats ({', '.join(floats)}); declare it as labels, "
                 f"e.g. domains={{'{first}': labels('V')}} (integers below the size V), or 'index' (gradproof "
                 f"check-layer: --domain {first}=labels:V)")
    elif phase == "forward" and not spec.tensors and isinstance(error, (TypeError, AttributeError)) and (
            "torch" in getattr(spec.forward, "__globals__", {})
            or any(t in message for t in ("'int' object is not callable", "'numpy.ndarray' object has no attribute",
                                          "keepdim"))):
        text += ("\nhint: check_layer gives your code NumPy arrays; a layer written for torch tensors (x.size(), "
                 "tensor methods) gets tensors with tensors=True (gradproof check-layer --torch)")
    elif isinstance(error, NameError) and getattr(error, "name", None) in PYTHON2:
        text += (f"\nhint: {error.name} is Python 2 (your file runs under Python 3): write "
                 f"{PYTHON2[error.name]} instead")
    elif isinstance(error, AttributeError) and getattr(error, "name", None) in PYTHON2:
        text += (f"\nhint: .{error.name}() is Python 2 (your file runs under Python 3): write "
                 f".{PYTHON2[error.name]} instead")
    elif isinstance(error, TypeError) and "required positional argument" in message and _takes_self(spec, phase):
        text += ("\nhint: your forward and backward are methods taking self, given here without an instance: pass an "
                 "instance's methods (layer = Linear(); check_layer(layer.forward, layer.backward, ...))")
    elif isinstance(error, TypeError) and ("'float' object cannot be interpreted as an integer" in message
                                           or "slice indices must be integers" in message):
        text += ("\nhint: a size computed with / is a float in Python 3 (Python 2's / on integers floored): write // "
                 "for an output size, e.g. H_out = 1 + (H + 2 * pad - HH) // stride")
    elif isinstance(error, TypeError) and "'invert'" in message:
        text += ("\nhint: a mask used as ~mask must be boolean; declare it domains={'mask': 'mask_rows'} (at least "
                 "one True per row along the last axis) or 'bool'")
    return GradientMismatch(text, phase=phase, inputs=dict(arrays), **context)


def _params_text(params: Sequence[Any]) -> str:
    return repr(tuple(params)) if params else "()"


def _call_forward(spec: _Spec, arrays: Mapping[str, np.ndarray], params: Sequence[Any],
                  context: dict[str, Any], phase: str = "forward") -> Any:
    __tracebackhide__ = True
    try:
        with np.errstate(all="ignore"), _same_random_numbers(), _beside_your_files(spec):
            return spec.forward(*_given(spec, _copies(arrays)), *_fresh(params))
    except Exception as error:
        what = "your forward" if phase == "forward" else "your forward (run by the numerical reference)"
        raise _raised(spec, phase, what, error, arrays, params, context) from error


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        a = np.asarray(value)
    except Exception:  # noqa: BLE001 - a value that is no array at all is reported by the caller
        return None
    return a if a.dtype.kind in "biuf" else None


def _split_forward(spec: _Spec, result: Any, arrays: Mapping[str, np.ndarray], context: dict[str, Any]
                   ) -> tuple[list[np.ndarray], Any]:
    """The forward's outputs (as float arrays) and its cache (layer) or its gradients (loss)."""
    if spec.loss:
        if not isinstance(result, (tuple, list)) or len(result) < 2:
            raise GradientMismatch(f"{spec.name}: the loss convention wants `loss, grads = f(...)`; your function "
                                   f"returned a {type(result).__name__}", phase="forward", inputs=dict(arrays), **context)
        loss = _as_array(result[0])
        if loss is None or loss.size != 1:
            raise GradientMismatch(f"{spec.name}: the loss (the first value returned) should be one number; it is "
                                   f"{describe_array(result[0]) if loss is not None else type(result[0]).__name__}",
                                   phase="forward", inputs=dict(arrays), **context)
        grads = result[1] if len(result) == 2 else tuple(result[1:])
        return [loss.reshape(()).astype(np.float64)], grads
    if not isinstance(result, (tuple, list)) or len(result) < 2:
        raise GradientMismatch(f"{spec.name}: the layer convention wants `out, cache = forward(...)`; your forward "
                               f"returned a {type(result).__name__}", phase="forward", inputs=dict(arrays), **context)
    returned = list(result[:-1])
    chosen = list(range(len(returned)))
    if spec.output_names:
        if all(isinstance(o, int) for o in spec.output_names):  # indices: the outputs your backward gets a dout for
            bad = [o for o in spec.output_names if not -len(returned) <= o < len(returned)]
            if bad:
                raise GradientMismatch(f"{spec.name}: outputs={spec.output_names!r} selects output {bad[0]}; your "
                                       f"forward returns {len(returned)} output(s) before its cache",
                                       phase="forward", inputs=dict(arrays), **context)
            chosen = [o % len(returned) for o in spec.output_names]
        elif len(spec.output_names) > len(returned):
            raise GradientMismatch(f"{spec.name}: outputs= names {len(spec.output_names)} outputs "
                                   f"({', '.join(spec.output_names)}); your forward returns {len(returned)} before its "
                                   "cache", phase="forward", inputs=dict(arrays), **context)
        else:  # names for the first outputs; the ones after them are extras your backward never sees
            chosen = list(range(len(spec.output_names)))
    outputs = []
    for k in chosen:
        value = returned[k]
        a = _as_array(value)
        if a is None:
            raise GradientMismatch(f"{spec.name}: output {k} of your forward is a {type(value).__name__}, not an array",
                                   phase="forward", inputs=dict(arrays), **context)
        outputs.append(a)
    return outputs, result[-1]


def _check_finite_outputs(spec: _Spec, outputs: list[np.ndarray], names: list[str],
                          arrays: Mapping[str, np.ndarray], context: dict[str, Any]) -> None:
    for k, out in enumerate(outputs):
        bad = ~np.isfinite(out.astype(np.float64))
        if bad.any():
            where = entry_index(int(np.flatnonzero(bad)[0]), out.shape)
            raise GradientMismatch(
                f"{spec.name}: output {k} ({names[k]}) of your forward is {out.reshape(-1)[bad.reshape(-1)][0]} at "
                f"entry {where} on finite inputs ({_shapes_text(arrays)}); a gradient is checked only where the "
                "forward is finite" + _mask_hint(spec, arrays), phase="forward", output=k, output_name=names[k], entry=where,
                inputs=dict(arrays), **context)


def _mask_hint(spec: _Spec, arrays: Mapping[str, np.ndarray], mismatch: bool = False) -> str:
    """A boolean mask with a row all False (a fully masked softmax row) is the usual cause of a NaN output. After
    a mismatch it is one cause among others: shrinking makes every mask all False, a padded sequence's loss mask
    included, where the row is in the layer's domain and the hint must not send the user away from a real bug."""
    empty = [n for n, a in arrays.items() if spec.domains.get(n) == "bool" and np.ndim(a) >= 1
             and (~np.asarray(a).any(axis=-1)).any()]
    if not empty:
        return ""
    return (f"\nhint: the boolean mask {empty[0]!r} has a row that is all False; if a fully masked row is outside "
            f"your layer's domain (s[~mask] = -inf, or a backward that ignores the mask), declare "
            f"domains={{{empty[0]!r}: 'mask_rows'}} (at least one True per row)"
            + ("; if it is inside (a loss mask over padded time steps), your gradient differs there: check how your "
               "backward uses the mask" if mismatch else ""))


_SKIP = object()  # an input the loss function returns no gradient for


def _by_shape(names: list[str], values: list[Any], arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Which input each returned gradient is for: the first unused one of its shape, else the next in order."""
    chosen: list[str] = []
    for value in values:
        shape = np.shape(value) if value is not None else None
        free = [n for n in names if n not in chosen]
        same = [n for n in free if np.shape(arrays[n]) == shape]
        chosen.append((same or free)[0])
    return chosen


def _grad_list(spec: _Spec, grads: Any, arrays: Mapping[str, np.ndarray], context: dict[str, Any],
               notes: list[str]) -> dict[str, np.ndarray]:
    """Your gradients, one per input in ``wrt``, validated (count, shape, numbers); None is 0."""
    who = "your function's gradients" if spec.loss else "your backward"
    if isinstance(grads, Mapping):
        def key_of(name: str) -> Any:
            return next((k for k in (name, f"d{name}", f"d_{name}", f"grad_{name}") if k in grads), None)

        matched = [n for n in spec.wrt if key_of(n) is not None]
        if not matched and spec.wrt_given and len(grads) == len(spec.wrt):
            values = list(grads.values())  # keys of its own (dW, db for W1, b1): wrt= names them in the dict's order
        elif not matched or (spec.wrt_given and len(matched) < len(spec.wrt)):
            name = next(n for n in spec.wrt if key_of(n) is None)
            raise GradientMismatch(
                f"{spec.name}: {who} gave a dict with keys {sorted(map(str, grads))}; none is the gradient of input "
                f"{name!r} ({name!r} or 'd{name}'); name the inputs of shapes= as its keys do, or pass wrt=[...] "
                "naming the inputs it holds gradients for, in the dict's order", phase="backward", input=name,
                inputs=dict(arrays), **context)
        else:
            # The dict's keys say which inputs it differentiates (W1, b1, W2, b2, not the data X): the others
            # get no gradient to compare.
            values = [grads[key_of(n)] if n in matched else _SKIP for n in spec.wrt]
    else:
        if grads is None or isinstance(grads, (np.ndarray, torch.Tensor, float, int, np.generic)):
            values = [grads]
        elif isinstance(grads, (tuple, list)):
            values = list(grads)
        else:
            raise GradientMismatch(f"{spec.name}: {who} returned a {type(grads).__name__}, not arrays",
                                   phase="backward", inputs=dict(arrays), **context)
        while len(values) > len(spec.wrt) and len(values) > len(spec.names) and values[-1] is None:
            values.pop()  # `return dx, dw, db, None`: no gradient for a trailing param
        if len(values) != len(spec.wrt):
            if len(values) == len(spec.names):  # one per input, in order (dpred, None): keep those of wrt
                values = [v for n, v in zip(spec.names, values) if n in spec.wrt]
            elif spec.loss and len(values) < len(spec.wrt) and not spec.wrt_given:
                targets = _by_shape(spec.wrt, values, arrays)  # loss, dW: the inputs with the gradients' shapes
                for target, value in zip(targets, values):
                    others = [n for n in spec.wrt if n not in targets and np.shape(arrays[n]) == np.shape(value)]
                    if others:  # cross_entropy(y, y_pred) returning d/dy_pred: the shape alone cannot tell
                        note = (f"matched by shape: the gradient your function returned is taken as that of {target!r}, "
                                "the first input of its shape; if it is the gradient of "
                                f"{' or '.join(map(repr, others))}, say so with wrt={[others[0]]!r} (gradproof check-layer "
                                f"--wrt {others[0]})")
                        if note not in notes:
                            notes.append(note)
                values = [values[targets.index(n)] if n in targets else _SKIP for n in spec.wrt]
            else:
                raise GradientMismatch(
                    f"{spec.name}: {who} returned {len(values)} gradient(s); the inputs to differentiate are "
                    f"{', '.join(spec.wrt)} ({len(spec.wrt)}); pass wrt=[...] to name the ones it returns",
                    phase="backward", inputs=dict(arrays), **context)
    out: dict[str, np.ndarray] = {}
    for name, value in zip(spec.wrt, values):
        if value is _SKIP:
            continue
        shape = np.shape(arrays[name])
        if value is None:
            notes.append(f"the gradient of {name} was None; taken as 0")
            out[name] = np.zeros(shape)
            continue
        a = _as_array(value)
        if a is None:
            raise GradientMismatch(f"{spec.name}: the gradient of {name} is a {type(value).__name__}, not an array",
                                   phase="backward", input=name, inputs=dict(arrays), **context)
        if a.shape != shape:
            # (1, D) for a (D,) bias holds the same numbers; a transposed or wrong-size gradient does not.
            if a.size == int(np.prod(shape)) and tuple(d for d in a.shape if d != 1) == tuple(d for d in shape if d != 1):
                a = a.reshape(shape)
            else:
                turned = " (its transpose: a transposed product, x.T @ dout for dout.T @ x?)" \
                    if len(shape) == 2 and a.shape == shape[::-1] else ""
                raise GradientMismatch(f"{spec.name}: the gradient of input {name!r} has shape {a.shape}; {name} has "
                                       f"shape {shape}{turned}", phase="backward", input=name, inputs=dict(arrays),
                                       **context)
        out[name] = a
    return out


# --- references --------------------------------------------------------------------------------------
def _losses(spec: _Spec, params: Sequence[Any], upstreams: list[np.ndarray], context: dict[str, Any]
            ) -> Callable[[list[np.ndarray]], np.ndarray]:
    """``values -> [<dout_k, out_k(values)> for each output k]``, run on copies of the values."""

    def losses(values: list[np.ndarray]) -> np.ndarray:
        current = dict(zip(spec.names, values))
        result = _call_forward(spec, current, params, context, phase="reference")
        outputs, _ = _split_forward(spec, result, current, context)
        if len(outputs) != len(upstreams) or any(np.shape(o) != u.shape for o, u in zip(outputs, upstreams)):
            raise GradientMismatch(f"{spec.name}: your forward's outputs changed shape when an input entry moved "
                                   "slightly", phase="reference", inputs=dict(current), **context)
        return np.array([float(np.sum(np.asarray(o, dtype=np.float64) * u)) for o, u in zip(outputs, upstreams)])

    return losses


def _float64(spec: _Spec, arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    return [a.astype(np.float64) if n in spec.wrt else a for n, a in arrays.items()]


def _output_precision(spec: _Spec, result: Any) -> np.dtype | None:
    """The lowest float precision (float32, float16) among your forward's outputs, or None for float64."""
    values = [result[0]] if spec.loss else list(result[:-1])
    worst = None
    for value in values:
        if isinstance(value, torch.Tensor):
            kind = value.dtype if value.dtype.is_floating_point else None
            dtype = np.dtype(str(kind).removeprefix("torch.")) if kind in (torch.float32, torch.float16) else None
        else:
            dtype = getattr(value, "dtype", None)
            dtype = np.dtype(dtype) if dtype is not None and np.dtype(dtype).kind == "f" else None
        if dtype is not None and dtype.itemsize < 8 and (worst is None or dtype.itemsize < worst.itemsize):
            worst = dtype
    return worst


def _numeric_reference(spec: _Spec, arrays: Mapping[str, np.ndarray], params: Sequence[Any],
                       upstreams: list[np.ndarray], context: dict[str, Any], wanted: Sequence[str] | None = None,
                       precision: list[np.dtype] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per input in ``wanted`` (default ``wrt``): (K x shape derivatives of ``<dout_k, out_k>``, their error
    estimates). A forward whose outputs are float32 on float64 inputs rounds them to float32: that rounding,
    not float64's, is then the noise floor of the estimate (and the dtype is appended to ``precision``)."""
    losses = _losses(spec, params, upstreams, context)
    values = _float64(spec, arrays)
    current = dict(zip(spec.names, values))
    result = _call_forward(spec, current, params, context, phase="reference")
    outputs, _ = _split_forward(spec, result, current, context)
    scale = np.array([float(np.sum(np.abs(np.asarray(o, dtype=np.float64) * u))) for o, u in zip(outputs, upstreams)])
    low = _output_precision(spec, result)
    if low is not None:
        scale = scale * (float(np.finfo(low).eps) / float(np.finfo(np.float64).eps))
        if precision is not None:
            precision.append(low)
    found = {}
    for name in (spec.wrt if wanted is None else wanted):
        g = numeric_gradient(losses, values, spec.names.index(name), scale)
        found[name] = (g.value, g.error)
    return found


def _torch_reference(spec: _Spec, arrays: Mapping[str, np.ndarray], params: Sequence[Any],
                     upstreams: list[np.ndarray], context: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Autograd of the torch reference; the 'error estimate' is its rounding, measured in float32."""
    runs = []
    for dtype in (torch.float64, torch.float32):
        leaves = [torch.tensor(a, dtype=dtype, requires_grad=True) if n in spec.wrt else torch.as_tensor(a)
                  for n, a in arrays.items()]
        try:
            out = spec.reference(*leaves, *_fresh(params))  # type: ignore[misc]
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            per_output = []
            for o, u in zip(outs, upstreams):
                wanted = [leaves[spec.names.index(n)] for n in spec.wrt]
                grads = torch.autograd.grad(o, wanted, torch.as_tensor(u, dtype=o.dtype).reshape(o.shape),
                                            retain_graph=True, allow_unused=True)
                per_output.append([np.zeros(arrays[n].shape) if g is None else g.detach().double().numpy()
                                   for n, g in zip(spec.wrt, grads)])
        except Exception as error:
            raise _raised(spec, "reference", "your torch reference", error, arrays, params, context) from error
        if len(outs) != len(upstreams):
            raise GradientMismatch(f"{spec.name}: your torch reference gave {len(outs)} outputs; your forward gives "
                                   f"{len(upstreams)}", phase="reference", inputs=dict(arrays), **context)
        runs.append(per_output)
    found = {}
    for i, name in enumerate(spec.wrt):
        value = np.stack([runs[0][k][i] for k in range(len(upstreams))])
        other = np.stack([runs[1][k][i] for k in range(len(upstreams))])
        rounding = np.abs(value - other) * (np.finfo(np.float64).eps / np.finfo(np.float32).eps)
        found[name] = (value, rounding)
    return found


# --- one example ------------------------------------------------------------------------------------
def _upstreams(outputs: list[np.ndarray], seed: int, loss: bool) -> list[np.ndarray]:
    if loss:
        return [np.ones(())]
    g = np.random.default_rng(seed)
    return [g.standard_normal(o.shape) for o in outputs]


def _inplace(spec: _Spec, before: Mapping[str, np.ndarray], after: list[np.ndarray], who: str,
             notes: list[str]) -> None:
    for (name, a), b in zip(before.items(), after):
        if not np.array_equal(a, b, equal_nan=True):
            note = f"{who} changed input {name!r} in place (your code was given a copy; the caller's array is intact)"
            if note not in notes:
                notes.append(note)
                warnings.warn(f"{spec.name}: {note}", InPlaceChange, stacklevel=4)


def _run_backward(spec: _Spec, arrays: Mapping[str, np.ndarray], params: Sequence[Any], k: int,
                  upstreams: list[np.ndarray], dtype: np.dtype, context: dict[str, Any],
                  notes: list[str]) -> dict[str, np.ndarray]:
    """Your gradients for output k (its upstream, the others 0), from a fresh forward's cache."""
    __tracebackhide__ = True
    given_arrays = {n: (a.astype(dtype) if n in spec.wrt or np.asarray(a).dtype.kind == "f" else a)
                    for n, a in arrays.items()}
    copies = _copies(given_arrays)
    try:
        with np.errstate(all="ignore"), _same_random_numbers(), _beside_your_files(spec):
            result = spec.forward(*_given(spec, copies), *_fresh(params))
    except Exception as error:
        raise _raised(spec, "forward", "your forward", error, given_arrays, params, context) from error
    _inplace(spec, given_arrays, copies, "your forward", notes)
    _, rest = _split_forward(spec, result, given_arrays, context)
    if spec.loss:
        return _grad_list(spec, rest, given_arrays, context, notes)
    douts = [(u if i == k else np.zeros_like(u)).astype(dtype) for i, u in enumerate(upstreams)]
    sent = [d.copy() for d in douts]
    _check_arity(spec, len(sent), given_arrays, context)
    try:
        with np.errstate(all="ignore"), _beside_your_files(spec):
            grads = spec.backward(*_given(spec, sent), rest)  # type: ignore[misc]
    except Exception as error:
        raise _raised(spec, "backward", "your backward", error, given_arrays, params, context) from error
    if any(not np.array_equal(a, b) for a, b in zip(douts, sent)):
        note = "your backward changed dout in place (harmless here, but a caller reusing dout would see it)"
        if note not in notes:
            notes.append(note)
    return _grad_list(spec, grads, given_arrays, context, notes)


def _check_arity(spec: _Spec, count: int, arrays: Mapping[str, np.ndarray], context: dict[str, Any]) -> None:
    """A backward that takes a different number of upstream gradients than the outputs it is given (a forward
    returning ``out, lse, cache`` to a ``backward(dout, cache)``) is told so, never called to raise."""
    import inspect

    try:
        signature = inspect.signature(spec.backward)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*([None] * count), None)
    except TypeError:
        positional = [p for p in signature.parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        takes = len(positional) - 1
        if spec.output_names:
            advice = f"outputs={spec.output_names!r} selects {count}"
        else:
            advice = ("pass outputs=[...] to select the ones it takes (names for the first outputs, or their indices, "
                      "e.g. outputs=['out'] or outputs=[0])")
        raise GradientMismatch(
            f"{spec.name}: your forward returns {count} output(s) before its cache, and your backward takes "
            f"{takes} upstream gradient(s) (its parameters: {', '.join(signature.parameters)}); {advice}",
            phase="backward", inputs=dict(arrays), **context) from None


def _kink(spec: _Spec, losses: Callable[[list[np.ndarray]], np.ndarray], values: list[np.ndarray], which: int,
          flat: int, k: int) -> tuple[float, float] | None:
    """The one-sided derivatives at an entry if it sits on a kink or tie (they differ at every step)."""
    phi = entry_phi(losses, values, which, flat)
    x = float(values[which].reshape(-1)[flat])
    gaps = []
    sides = None
    for h in (1e-4 * max(1.0, abs(x)), 1e-7 * max(1.0, abs(x))):
        left, right = one_sided(phi, h)
        gaps.append(abs(right[k] - left[k]))
        sides = (float(left[k]), float(right[k]))
    assert sides is not None
    size = 1.0 + abs(sides[0]) + abs(sides[1])
    # Smooth: the gap shrinks with the step (1000x here); at a kink it stays the jump.
    if gaps[1] > 1e-4 * size and gaps[1] > 0.5 * gaps[0]:
        return sides
    return None


def _compare(spec: _Spec, k: int, name: str, yours: np.ndarray, reference: np.ndarray, estimate: np.ndarray,
             rounding: np.ndarray, kink_at: Callable[[int], tuple[float, float] | None]
             ) -> tuple[bool, dict[str, Any]]:
    tol = spec.tolerance
    ref = reference.astype(np.float64).reshape(-1)
    got = yours.astype(np.float64).reshape(-1)
    # Your own rounding is NaN where your float64 run is: it then allows nothing (a NaN never passes).
    floor = tol.spread * (estimate.reshape(-1) + np.nan_to_num(rounding.reshape(-1), nan=0.0, posinf=0.0))
    allowed = tol.atol + tol.rtol * np.abs(ref) + floor + tol.floor * (float(np.abs(ref).max()) if ref.size else 0.0)
    error = np.abs(got - ref)
    error = np.where(np.isnan(error), np.inf, error)
    bad = error > allowed
    kinks: dict[int, tuple[float, float]] = {}
    if bad.any():
        order = np.argsort(-(error - allowed))
        for flat in [int(i) for i in order[: min(int(bad.sum()), 20)]]:
            sides = kink_at(flat)
            if sides is not None:
                kinks[flat] = sides
        if spec.subgradients and bad.sum() <= 20:
            for flat, (lo, hi) in kinks.items():
                lo, hi = min(lo, hi), max(lo, hi)
                if lo - allowed[flat] <= got[flat] <= hi + allowed[flat]:
                    bad[flat] = False
    worst = int(np.argmax(np.where(bad, error - allowed, -np.inf))) if bad.any() else int(np.argmax(error))
    info = {
        "flat": worst, "yours": float(got[worst]) if got.size else 0.0, "reference": float(ref[worst]) if ref.size else 0.0,
        "allowed": float(allowed[worst]) if ref.size else 0.0, "estimate": float(estimate.reshape(-1)[worst]) if ref.size else 0.0,
        "rounding": float(rounding.reshape(-1)[worst]) if ref.size else 0.0, "count": int(bad.sum()), "size": int(ref.size),
        "kink": kinks.get(worst), "max_abs": float(error.max()) if error.size else 0.0,
        "max_rel": float(error.max() / max(float(np.abs(ref).max()), tol.atol)) if error.size else 0.0,
        "max_estimate": float(estimate.max()) if estimate.size else 0.0,
    }
    return not bad.any(), info


def _mismatch_text(spec: _Spec, k: int, output_names: list[str], name: str, shape: tuple[int, ...],
                   info: dict[str, Any], reference_kind: str) -> str:
    entry = entry_index(info["flat"], shape)
    out = f"output {k} ({output_names[k]})" if len(output_names) > 1 else f"output {output_names[k]!r}"
    text = (f"{spec.name}: {out}: the gradient of input {name!r} (shape {shape}) differs at entry {entry}: "
            f"yours {info['yours']:.10g}, reference {info['reference']:.10g} "
            f"(|difference| {abs(info['yours'] - info['reference']):.3g}, allowed {info['allowed']:.3g}); "
            f"{info['count']} of {info['size']} entries differ")
    text += f"\nreference: {reference_kind}; its error estimate here {info['estimate']:.2g}"
    if info["kink"] is not None:
        lo, hi = info["kink"]
        text += (f"\nthis entry sits on a kink or a tie: the derivative from the left is {lo:.6g}, from the right "
                 f"{hi:.6g}; any value between them is a valid subgradient"
                 + ("" if spec.subgradients else " (pass subgradients=True to accept one)"))
    if spec.dtype == np.dtype(np.float32):
        text += ("\nfloat32 resolves only about 1e-4 relative (here your own rounding measured "
                 f"{info['rounding']:.2g}); if the difference is that small, check in float64 (dtype=np.float64)")
    return text


def _one_example(spec: _Spec, arrays: dict[str, np.ndarray], params: Sequence[Any], seed: int,
                 sizes: Mapping[str, int], report: LayerReport, diagnose: bool = True) -> None:
    __tracebackhide__ = True
    context: dict[str, Any] = {"seed": seed, "sizes": sizes}
    result = _call_forward(spec, arrays, params, context)
    outputs, _ = _split_forward(spec, result, arrays, context)
    names = _output_names(spec, len(outputs))
    _check_finite_outputs(spec, outputs, names, arrays, context)
    again, _ = _split_forward(spec, _call_forward(spec, arrays, params, context), arrays, context)
    if len(again) != len(outputs) or any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(again, outputs)):
        raise GradientMismatch(f"{spec.name}: your forward gives different outputs on the same inputs (does it draw "
                               "random numbers from a generator of its own? give it a fixed seed through its params); "
                               "a derivative cannot be checked then", phase="forward", inputs=dict(arrays), **context)
    upstreams = _upstreams(outputs, seed, spec.loss)
    reference_kind = AUTOGRAD if spec.reference is not None else NUMERIC
    first: dict[str, np.ndarray] | None = None
    wanted = list(spec.wrt)
    if spec.loss:  # the gradients your function returns say which inputs are compared: no reference for the rest
        first = _run_backward(spec, arrays, params, 0, upstreams, spec.dtype, context, report.notes)
        wanted = [n for n in spec.wrt if n in first]
        if report.examples == 0:  # the report names the inputs whose gradients are compared (not the data X)
            report.inputs = list(wanted)
    if spec.reference is not None:
        refs = _torch_reference(spec, arrays, params, upstreams, context)
    else:
        precision: list[np.dtype] = []
        refs = _numeric_reference(spec, arrays, params, upstreams, context, wanted, precision)
        if precision:
            note = (f"your forward returns {precision[0]} outputs on float64 inputs: the numerical reference carries "
                    f"{precision[0]} rounding (eps {np.finfo(precision[0]).eps:.2g} relative to the outputs) as its "
                    "noise floor, not float64's")
            reference_kind = f"{NUMERIC}; {note}"
            if note not in report.notes:
                report.notes.append(note)
    values = _float64(spec, arrays)
    losses = _losses(spec, params, upstreams, context)
    for name, (value, estimate) in refs.items():
        bad = ~(np.isfinite(value) & np.isfinite(estimate))
        if bad.any():
            k, *where = (int(i) for i in np.argwhere(bad)[0])
            raise GradientMismatch(
                f"{spec.name}: the reference derivative for input {name!r} at entry {tuple(where)} (output {k}) is not "
                "finite: your forward is not finite at or near these inputs; draw them from a domain where it is "
                "defined (domains=)", phase="reference", input=name, entry=tuple(where), output=k,
                inputs=dict(arrays), **context)

    verdicts: dict[str, str] = {}
    failures = []
    for k in range(len(outputs)):
        grads = first if first is not None and k == 0 else _run_backward(spec, arrays, params, k, upstreams,
                                                                          spec.dtype, context, report.notes)
        rounding = {n: np.zeros(np.shape(arrays[n])) for n in grads}
        if spec.dtype != np.dtype(np.float64):  # your own rounding: the same code in float64
            exact = _run_backward(spec, arrays, params, k, upstreams, np.dtype(np.float64), context, report.notes)
            rounding = {n: np.abs(grads[n].astype(np.float64) - exact[n].astype(np.float64)) for n in grads}
        failed = None
        for name in spec.wrt:
            if name not in grads:  # loss convention: an input the function returns no gradient for
                continue
            value, estimate = refs[name]
            which = spec.names.index(name)
            passed, info = _compare(spec, k, name, grads[name], value[k], estimate[k], rounding[name],
                                    (lambda flat, w=which, k=k: _kink(spec, losses, values, w, flat, k))
                                    if diagnose or spec.subgradients else (lambda flat: None))
            report.max_abs_error = max(report.max_abs_error, info["max_abs"])
            report.max_rel_error = max(report.max_rel_error, info["max_rel"])
            report.max_reference_error = max(report.max_reference_error, info["max_estimate"])
            if not passed and failed is None:
                failed = (name, info)
        if failed is None:
            verdicts[names[k]] = "passed"
        else:
            name, info = failed
            shape = tuple(np.shape(arrays[name]))
            verdicts[names[k]] = f"FAILED: d{name} at entry {entry_index(info['flat'], shape)}"
            failures.append((k, name, info, shape))
    if failures:
        k, name, info, shape = failures[0]
        text = _mismatch_text(spec, k, names, name, shape, info, reference_kind)
        if len(names) > 1:
            text += "\nverdict per output: " + "; ".join(f"{n}: {v}" for n, v in verdicts.items())
        text += _mask_hint(spec, arrays, mismatch=True)
        text += "".join(f"\n{note}" for note in report.notes if note.startswith(f"matched by shape: the gradient your "
                                                                            f"function returned is taken as that of {name!r}"))
        if f"the gradient of {name} was None; taken as 0" in report.notes:
            # cs231n's template starts from `dx, dw, db = None, None, None`: an unwritten gradient fails, and
            # a deliberate None (a target that needs none) is left out with wrt=.
            rest = [n for n in spec.wrt if n != name]
            text += (f"\nyour backward returned None for {name!r}, taken as 0; if {name} needs no gradient (a target, "
                     f"a constant), leave it out: wrt={rest!r} (gradproof check-layer --wrt {','.join(rest)})")
        raise GradientMismatch(text, output=k, output_name=names[k], input=name, entry=entry_index(info["flat"], shape),
                               yours=info["yours"], reference=info["reference"], tolerance=info["allowed"],
                               inputs=dict(arrays), verdicts=verdicts, **context)
    report.outputs = names


def _output_names(spec: _Spec, count: int) -> list[str]:
    if spec.loss:
        return ["loss"]
    if spec.output_names and all(isinstance(o, int) for o in spec.output_names):
        return [f"out{o}" for o in spec.output_names]
    if spec.output_names and len(spec.output_names) == count:
        return list(spec.output_names)
    return ["out"] if count == 1 else [f"out{k}" for k in range(count)]


# --- drawing examples -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Example:
    sizes: dict[str, int]
    params: tuple[Any, ...]
    seed: int
    scale: float


def _draw_param(draw: Callable[[st.SearchStrategy[Any]], Any], value: Any) -> Any:
    if isinstance(value, st.SearchStrategy):
        return draw(value)
    if isinstance(value, dict) and any(isinstance(v, st.SearchStrategy) for v in value.values()):
        return {k: draw(v) if isinstance(v, st.SearchStrategy) else v for k, v in value.items()}
    return value


def _examples(ranges: dict[str, tuple[int, int]], params: Sequence[Any],
              where: Callable[..., bool] | None) -> st.SearchStrategy[_Example]:
    drawn_sizes = distinct_sizes(ranges) if ranges else st.just({})

    @st.composite
    def build(draw: Callable[[st.SearchStrategy[Any]], Any]) -> _Example:
        chosen = tuple(_draw_param(draw, p) for p in params)
        # A few tries at sizes that suit the params (a stride of 2 fits half the sizes): rejecting the
        # params with them would leave the rarer params (stride 2) all but undrawn.
        for _ in range(1 if where is None else 8):
            sizes = draw(drawn_sizes)
            if where is None or where(sizes, *chosen):
                break
        else:
            assume(False)
        return _Example(sizes, chosen, draw(st.integers(0, 2**31 - 1)), draw(st.sampled_from(SCALES)))

    return build()


def _simplest(strategy: st.SearchStrategy[Any]) -> Any:
    elements = getattr(strategy, "elements", None)
    if isinstance(elements, Sequence) and elements:  # sampled_from and just: their first value
        return elements[0]
    return find(strategy, lambda _: True, settings=settings(database=None, max_examples=5,
                                                            phases=[Phase.generate, Phase.shrink]))


def _pilot(ranges: dict[str, tuple[int, int]], params: Sequence[Any],
           where: Callable[..., bool] | None) -> _Example | None:
    """The simplest example (the smallest distinct sizes, first params, seed 0), or None if ``where`` refuses it."""
    used: set[int] = set()
    sizes = {}
    for name, (lo, hi) in ranges.items():
        sizes[name] = next((v for v in range(lo, min(hi, lo + 64) + 1) if v not in used), lo)
        used.add(sizes[name])
    try:
        chosen = tuple(_draw_param(_simplest, p) for p in params)
        if where is not None and not where(sizes, *chosen):
            return None
    except Exception:  # noqa: BLE001 - no simplest example to be had: Hypothesis alone then
        return None
    return _Example(sizes, chosen, 0, 1.0)


def _arrays_for(spec: _Spec, example: _Example) -> dict[str, np.ndarray]:
    g = torch.Generator().manual_seed(example.seed)
    out = {}
    for name in spec.names:
        t = make_any(spec.domains[name], resolve_shape(spec.shapes[name], example.sizes), g, torch.float64,
                     scale=example.scale, drawn=example.sizes)
        a = t.numpy()
        domain = spec.domains[name]
        if (isinstance(domain, Labels) or domain == "index") and a.size >= 2 and example.seed % 2 == 0:
            # A repeated index is the case where `dW[x] += dout` loses a term that np.add.at keeps: every
            # other example (the first, simplest one too) has one, which distinct random ids rarely give.
            a = a.copy()
            a.reshape(-1)[-1] = a.reshape(-1)[0]
        out[name] = a.astype(spec.dtype) if a.dtype.kind == "f" else a
    return out


def _validate_given(inputs: Mapping[str, Any], names: list[str]) -> dict[str, np.ndarray]:
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ValueError(f"inputs= lacks {', '.join(missing)}; it must hold every array of shapes=")
    arrays = {}
    for name in names:
        a = np.asarray(inputs[name])
        if a.size == 0:
            raise ValueError(f"input {name!r} has shape {a.shape}, no entries: a zero-size array has no gradient to check")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            where = entry_index(int(np.flatnonzero(~np.isfinite(a))[0]), a.shape)
            raise ValueError(f"input {name!r} is {a.reshape(-1)[~np.isfinite(a.reshape(-1))][0]} at entry {where}: "
                             "gradients are checked at finite inputs only")
        arrays[name] = a
    return arrays


def _build_spec(forward: Callable[..., Any], backward: Callable[..., Any] | None, shapes: Mapping[str, Any],
                domains: Mapping[str, Any] | None, wrt: Sequence[str] | None, outputs: Sequence[str] | None,
                dtype: Any, tolerance: LayerTolerance | None, reference: Callable[..., Any] | None,
                subgradients: bool, ranges: dict[str, tuple[int, int]]) -> _Spec:
    if not callable(forward):
        raise TypeError(f"forward must be a function; got {type(forward).__name__}")
    if backward is not None and not callable(backward):
        raise TypeError(f"backward must be a function or None (the loss convention); got {type(backward).__name__}")
    if not isinstance(shapes, Mapping) or not shapes:
        raise ValueError("shapes must be a dict of input name -> shape, like {'x': ('N', 'D'), 'w': ('D', 'M')}")
    names = list(shapes)
    try:  # a class layer keeping its state on self (forward(self, x), backward(self, dout)): the (out, cache) pair
        pair = stateful_pair(forward, backward, names)
    except StatefulLayerError as error:
        raise ValueError(str(error)) from None
    if pair is not None:
        forward, backward = pair
    domains = dict(domains or {})
    unknown = sorted(set(domains) - set(names))
    if unknown:
        raise ValueError(f"domains= names {', '.join(unknown)}, which shapes= does not have")
    from .strategies import _check_shape

    for name in names:
        domains[name] = as_domain(domains.get(name, "real"))
        _check_shape(shapes[name], ranges)
        d = domains[name]
        if isinstance(d, Labels) and isinstance(d.count, str) and d.count not in ranges:
            raise ValueError(f"labels({d.count!r}) for input {name!r} names a size that sizes= does not give")
    floats = [n for n in names if not is_discrete(domains[n])]
    if wrt is not None:
        bad = [n for n in wrt if n not in floats]
        if bad:
            raise ValueError(f"wrt= names {', '.join(map(repr, bad))}: not a float input of shapes= ({', '.join(floats)})")
    if outputs is not None:
        if isinstance(outputs, (str, int)):
            outputs = [outputs]
        if not all(isinstance(o, str) for o in outputs) and not all(
                isinstance(o, int) and not isinstance(o, bool) for o in outputs):
            raise ValueError(f"outputs= is a list of names (of the first outputs, in order) or of indices (the "
                             f"outputs to check); got {outputs!r}")
    np_dtype = np.dtype(dtype)
    if np_dtype not in TOLERANCES:
        raise ValueError(f"dtype {np_dtype} is not supported; use float64 or float32")
    name = getattr(forward, "__name__", "layer")
    if backward is not None:
        back = getattr(backward, "__name__", "<lambda>")
        # conv_backward_naive, batchnorm_backward_alt: the layer the user named (conv, batchnorm), not conv_naive
        name = back.split("_backward")[0] if back.isidentifier() and "_backward" in back[1:] else \
            back if back.isidentifier() else name.replace("_forward", "")
        qualified = getattr(backward, "__qualname__", "")
        if back == "backward" and qualified.endswith(".backward") and "<" not in qualified:
            name = qualified.removesuffix(".backward")  # llm.c's LayerNorm.backward: LayerNorm
    return _Spec(forward, backward, names, {n: tuple(shapes[n]) for n in names}, domains,
                 list(wrt) if wrt is not None else floats, wrt is not None, list(outputs) if outputs else None,
                 np_dtype, tolerance or TOLERANCES[np_dtype], reference, subgradients, name)


def _snippet(spec: _Spec, path: str | None, params: Sequence[Any]) -> str:
    def called(function: Any, default: str) -> str:  # LayerNorm.forward, not forward; a nested function by name
        qualified = getattr(function, "__qualname__", "")
        return qualified if qualified and "<" not in qualified else getattr(function, "__name__", default)

    fwd = called(spec.forward, "forward")
    bwd = called(spec.backward, "backward") if spec.backward else None
    args = f"{fwd}, {bwd}" if bwd else f"{fwd}"
    source = f"dict(np.load({path!r}))" if path else "{...}"
    extra = f", params={tuple(params)!r}" if params else ""
    return f"verify.check_layer({args}, inputs={source}{extra})"


def _finish(spec: _Spec, error: GradientMismatch, params: Sequence[Any], save: bool) -> GradientMismatch:
    arrays = error.inputs if isinstance(error.inputs, dict) else {}
    path = save_inputs(arrays) if save and arrays else None
    text = str(error)
    if error.sizes:
        text += "\nsizes " + ", ".join(f"{k}={v}" for k, v in error.sizes.items())
    text += f"; seed {error.seed}" if error.seed is not None else ""
    text += "\non the inputs\n" + show_inputs(arrays)
    text += ("\nsaved to " + path if path else "") + "\ncheck them again with\n  " + _snippet(spec, path, params)
    return error.retold(text, path)


def check_layer(
    forward: Callable[..., Any],
    backward: Callable[..., Any] | None = None,
    shapes: Mapping[str, Sequence[int | str]] | None = None,
    *,
    params: Sequence[Any] = (),
    sizes: Mapping[str, int | tuple[int, int]] | None = None,
    domains: Mapping[str, Any] | None = None,
    examples: int = 25,
    reference: Callable[..., Any] | None = None,
    wrt: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    dtype: Any = np.float64,
    tolerance: LayerTolerance | None = None,
    subgradients: bool = False,
    where: Callable[..., bool] | None = None,
    seed: int | None = None,
    inputs: Mapping[str, Any] | None = None,
    save: bool = True,
    budget: float | None = 60.0,
    tensors: bool = False,
) -> LayerReport:
    """Check a NumPy layer's backward against a reference at drawn shapes; raise ``GradientMismatch`` if wrong.

    ``forward(*arrays, *params)`` takes the arrays in the order of ``shapes`` (name -> shape, each
    dimension a number or a size name drawn from ``sizes``, a number or a ``(low, high)`` range),
    then ``params`` (fixed values, Hypothesis strategies, or dicts holding strategies, drawn per
    example). ``backward(dout, cache)`` returns one gradient per float input (see the module doc);
    with ``backward=None`` the forward is ``loss, grads = f(...)``. ``domains`` gives an input's
    kind: a name from ``verify.strategies.DOMAINS`` (default ``"real"``), ``labels(count)``,
    ``"bool"`` or ``"mask_rows"`` (a boolean mask with a True in every row along the last axis, for
    ``s[~mask] = -inf``; never differentiated). ``outputs`` names the forward's first outputs (the
    ones after them are extras, ``out, lse, cache`` to a ``backward(dout, cache)``) or gives the
    indices of those the backward takes a gradient for. In the loss convention a dict of gradients
    keyed by input names says which inputs are compared (the data ``X`` is not). ``where(sizes, *params)`` keeps the examples it accepts
    (a convolution's sizes that its stride divides). ``reference`` is an optional torch forward
    (autograd is then the reference); otherwise a float64 numerical derivative of your forward
    is. ``inputs`` checks one given set of arrays instead of drawing (what a failure's snippet
    does). ``seed`` None runs Hypothesis' derandomized examples (the same every run). The simplest
    example runs first; if it shows that ``examples`` of them would take more than ``budget``
    seconds, fewer are drawn (at least 5) and the report's notes say so; so do they when the budget runs
    out later on. Bad arguments raise ``LayerArgumentError`` (a ValueError, TypeError and KeyError).
    ``tensors=True`` gives your forward and backward torch tensors (sharing the arrays' memory) instead
    of NumPy arrays, for a layer written in torch (llm.c's ``LayerNorm.forward``); they may return either.
    A class layer's methods (``Linear.forward``/``Linear.backward``, or an instance's) that keep their state on
    ``self`` are checked too: the arrays of ``shapes`` that the forward method does not take are set as the
    layer's parameters (``self.params[name]`` or ``self.name``), and their gradients read back from
    ``self.grads`` or ``self.d<name>`` (see ``verify.layer_file.stateful_pair``); so is a ``loss(self, X, y)``
    method returning ``loss, grads`` (cs231n's ``TwoLayerNet.loss``). Sizes your forward refuses with its own
    ``assert`` are set aside, and the notes say how many.

    >>> def affine_forward(x, w, b):
    ...     return x @ w + b, (x, w)
    >>> def affine_backward(dout, cache):
    ...     x, w = cache
    ...     return dout @ w.T, x.T @ dout, dout.sum(axis=0)
    >>> shapes = {"x": ("N", "D"), "w": ("D", "M"), "b": ("M",)}
    >>> r = check_layer(affine_forward, affine_backward, shapes, sizes={"N": (1, 3), "D": (1, 3), "M": (1, 3)},
    ...                 examples=5)
    >>> r.examples, r.reference.startswith("numerical derivative")
    (5, True)
    >>> def wrong_backward(dout, cache):
    ...     x, w = cache
    ...     return dout @ w.T, x.T @ dout, dout.mean(axis=0)  # mean, not sum
    >>> check_layer(affine_forward, wrong_backward, shapes, sizes={"N": (1, 3), "D": (1, 3), "M": (1, 3)},
    ...             examples=5, save=False)
    Traceback (most recent call last):
    ...
    verify.failure.GradientMismatch: wrong: output 'out': the gradient of input 'b' (shape (...)) differs at entry ...
    """
    __tracebackhide__ = True
    try:
        spec, params, ranges, given_arrays = _arguments(forward, backward, shapes, params, sizes, domains, examples,
                                                        reference, wrt, outputs, dtype, tolerance, subgradients,
                                                        inputs, tensors)
    except LayerArgumentError:
        raise
    except (ValueError, TypeError, KeyError) as error:  # our own argument checks, before any of your code runs
        text = str(error).strip("'\"") if isinstance(error, KeyError) else str(error)
        missing = re.search(r"names the size '([A-Za-z_][A-Za-z0-9_]*)', which sizes= does not give", text)
        if missing:  # the same advice for the command line, where sizes= is --size
            text += f" (gradproof check-layer: --size {missing.group(1)}=1:4)"
        raise LayerArgumentError(text) from None
    return _run(spec, params, ranges, given_arrays, examples, where, seed, save, budget)


def _arguments(forward: Any, backward: Any, shapes: Any, params: Any, sizes: Any, domains: Any, examples: Any,
               reference: Any, wrt: Any, outputs: Any, dtype: Any, tolerance: Any, subgradients: bool, inputs: Any,
               tensors: bool = False) -> tuple[_Spec, tuple[Any, ...], dict[str, tuple[int, int]], dict[str, np.ndarray] | None]:
    """``check_layer``'s arguments, validated (every problem a ValueError, TypeError or KeyError)."""
    # One dict (a conv_param) or one number (reg) is one extra argument, not a sequence of them.
    params = tuple(params) if isinstance(params, (tuple, list)) else (params,)
    if shapes is not None and not isinstance(shapes, Mapping) and isinstance(shapes, (list, tuple)):
        shapes = {f"input{i}": shape for i, shape in enumerate(shapes)}  # unnamed: input0, input1, ...
    if inputs is not None:
        shapes = shapes or {k: np.shape(v) for k, v in inputs.items()}
        # Given arrays say their own kind: integers (labels, ids) and booleans (masks) are never differentiated.
        inferred = {k: ("bool" if np.asarray(v).dtype == bool else "index") for k, v in inputs.items()
                    if np.asarray(v).dtype.kind in "biu"}
        domains = {**inferred, **dict(domains or {})}
    if shapes is None:
        raise ValueError("check_layer needs shapes= (name -> shape) or inputs= (name -> array)")
    if isinstance(shapes, Mapping):  # {"b": "M"} or {"b": 5}: a vector
        shapes = {k: (v,) if isinstance(v, (int, str)) and not isinstance(v, bool) else v for k, v in shapes.items()}
    if not isinstance(examples, int) or examples < 1:
        raise ValueError(f"examples must be a positive integer; got {examples!r}")
    ranges = size_ranges(sizes)
    spec = _build_spec(forward, backward, shapes, domains, wrt, outputs, dtype, tolerance, reference, subgradients,
                       ranges)
    given_arrays = _validate_given(inputs, spec.names) if inputs is not None else None
    spec.tensors = bool(tensors)
    _check_forward_arguments(spec, len(params))
    return spec, params, ranges, given_arrays


def _check_forward_arguments(spec: _Spec, count: int) -> None:
    """A forward that cannot take the arrays of ``shapes=`` and the ``params=`` after them (a batchnorm run
    without its bn_param) is a bad argument, said before any of your code runs, never a failed gradient."""
    import inspect

    try:
        signature = inspect.signature(spec.forward, follow_wrapped=False)  # a class layer's adapter takes *args
    except (TypeError, ValueError):  # a builtin or a C function: calling it tells
        return
    arrays = len(spec.names)
    try:
        signature.bind(*([None] * (arrays + count)))
        return
    except TypeError:
        pass
    positional = [p for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in positional if p.default is p.empty]
    called = f"{getattr(spec.forward, '__qualname__', spec.name)}{signature}"
    if required[:1] == ["self"] and _takes_self(spec, "forward"):
        raise LayerArgumentError(
            f"{spec.name}: your forward {called} is a method taking self, given without an instance (a class defined "
            "inside a function cannot be built from its name): pass an instance's methods (layer = Linear(); "
            "check_layer(layer.forward, layer.backward, ...))")
    keywords = [p.name for p in signature.parameters.values() if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if keywords and len(required) <= arrays + count:
        raise LayerArgumentError(
            f"{spec.name}: your forward {called} needs the keyword-only argument(s) {', '.join(keywords)}, and params= "
            "(--param) are passed by position: give them defaults, or a forward that passes them "
            f"(def {spec.name}_checked(x, ...): return {getattr(spec.forward, '__name__', 'forward')}(x, ..., "
            f"{keywords[0]}=...))")
    if len(required) > arrays + count:
        missing = required[arrays + count:]
        example = "'{\"mode\": \"train\"}'" if any(m.endswith("_param") for m in missing) else "0.1"
        raise LayerArgumentError(
            f"{spec.name}: your forward {called} also needs {', '.join(missing)} after the {arrays} array(s) of shapes= "
            f"({', '.join(spec.names)})" + (f" and the {count} param(s) given" if count else "")
            + f"; give {'it' if len(missing) == 1 else 'them'} with params=(...) (gradproof check-layer: --param JSON "
            f"once per argument, e.g. --param {example}), or add {'it' if len(missing) == 1 else 'them'} to shapes= "
            "if an array")
    raise LayerArgumentError(
        f"{spec.name}: your forward {called} takes {len(positional)} positional argument(s); shapes= gives "
        f"{arrays} array(s) ({', '.join(spec.names)}) and params= {count} more; give the forward's arrays in order, "
        "then its other arguments")


def _refused_text(spec: _Spec, refused: list[tuple[dict[str, int], tuple[Any, ...], str]], every: bool) -> str:
    """What your forward's own asserts refused: the first refusal's message, sizes and params."""
    sizes, params, message = refused[0]
    where = ", ".join(f"{k}={v}" for k, v in sizes.items()) or "the given shapes"
    shown = f" and params {_params_text(params)}" if params else ""
    if every:
        return (f"{spec.name}: your forward refused every example drawn with its own assert ({message}, at sizes "
                f"{where}{shown}); choose sizes it accepts (fixed ones with --size NAME=VALUE, or sizes= and where= from "
                "Python)")
    return (f"{len(refused)} drawn example(s) set aside: your forward refused them with its own assert ({message}, "
            f"at sizes {where}{shown})")


def _run(spec: _Spec, params: tuple[Any, ...], ranges: dict[str, tuple[int, int]],
         given_arrays: dict[str, np.ndarray] | None, examples: int, where: Callable[..., bool] | None,
         seed: int | None, save: bool, budget: float | None) -> LayerReport:
    __tracebackhide__ = True
    report = LayerReport(0, [], list(spec.wrt), AUTOGRAD if spec.reference is not None else NUMERIC,
                         spec.tolerance.describe())
    if given_arrays is not None:
        try:
            _one_example(spec, given_arrays, tuple(params), 0, {}, report)
        except GradientMismatch as error:
            raise _finish(spec, error, params, save) from error.__cause__
        report.examples = 1
        return report

    failure: list[GradientMismatch] = []

    started = time.perf_counter()
    failing: list[_Example] = []
    out_of_time: list[_Example] = []
    refused: list[tuple[dict[str, int], tuple[Any, ...], str]] = []

    def example(ex: _Example) -> None:
        if failing and budget is not None and ex != failing[-1] and time.perf_counter() - started > 2 * budget:
            # Shrinking past twice the budget: other candidates are set aside (never called passed), so
            # Hypothesis ends with the smallest failure found so far, which it replays for real.
            reject()
        if not failing and budget is not None and report.examples >= 5 and time.perf_counter() - started > budget:
            # The budget is spent (examples slower than the first, simplest one): the rest are set aside, cheaply,
            # and the notes say how many were checked.
            out_of_time.append(ex)
            raise _OutOfTime
        arrays = _arrays_for(spec, ex)
        try:
            _one_example(spec, arrays, ex.params, ex.seed, ex.sizes, report, diagnose=False)
        except GradientMismatch as error:
            if error.phase == "forward" and isinstance(error.__cause__, AssertionError):
                # Your forward's own assert (cs231n's conv: 'width does not work') says these sizes are outside its
                # domain: the example is set aside, and the notes say so; a check that none passes is bad input.
                refused.append((dict(ex.sizes), ex.params, f"AssertionError: {error.__cause__}".rstrip(": ")))
                if ex is pilot:
                    raise _Refused from None
                reject()
            error.params = ex.params  # type: ignore[attr-defined]
            failure[:] = [error]
            failing[:] = [ex]
            raise
        report.examples += 1
        if ex.sizes not in report.sizes_seen:
            report.sizes_seen.append(dict(ex.sizes))

    def failed(last: GradientMismatch) -> GradientMismatch:
        try:  # once more on the shrunk example, looking for kinks and ties this time
            _one_example(spec, dict(last.inputs), getattr(last, "params", params), last.seed or 0, last.sizes, report)
        except GradientMismatch as again:
            again.params = getattr(last, "params", params)  # type: ignore[attr-defined]
            last = again
        return _finish(spec, last, getattr(last, "params", params), save)

    strategy = _examples(ranges, tuple(params), where)
    count = examples
    pilot = _pilot(ranges, tuple(params), where) if budget is not None else None
    if pilot is not None:  # the smallest example first: it times the rest, and a failure there is already shrunk
        began = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InPlaceChange)
                example(pilot)
        except GradientMismatch:
            last = failure[-1]
            raise failed(last) from last.__cause__
        except _Refused:
            pilot = None  # refused by your forward's assert: Hypothesis draws them all, untimed
        took = time.perf_counter() - began
        count = examples - 1 if pilot is not None else examples
        if pilot is not None and budget is not None and took * count > budget:
            count = max(min(count, 4), int(budget / max(took, 1e-9)))
            report.notes.append(f"checked {count + 1} of {examples} examples: one took {took:.2g} s and the budget is "
                                f"{budget:g} s (budget=None checks them all)")
    if count > 0:
        test = given(strategy)(example)
        if seed is not None:
            test = hypothesis_seed(seed)(test)
        runner = settings(max_examples=count, deadline=None, database=None, derandomize=seed is None,
                          suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False,
                          phases=[Phase.explicit, Phase.generate, Phase.shrink])(test)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InPlaceChange)  # reported once, below, not per example
                runner()
        except _OutOfTime:
            pass  # the note below says how many were checked
        except Unsatisfiable:
            if refused:
                raise LayerArgumentError(_refused_text(spec, refused, every=True)) from None
            raise LayerArgumentError("no example satisfies where= at these sizes and params; widen sizes= or "
                                         "relax where=") from None
        except Exception:
            if not failure:
                raise
            last = failure[-1]
            raise failed(last) from last.__cause__
    if refused and report.examples == 0:
        raise LayerArgumentError(_refused_text(spec, refused, every=True))
    if refused:
        report.notes.append(_refused_text(spec, refused, every=False))
    elapsed = time.perf_counter() - started
    if budget is not None and elapsed > 2 * budget and not out_of_time and pilot is not None:
        # The first, smallest example timed the rest, and larger sizes took longer: say what the run really took.
        report.notes = [n for n in report.notes if not n.startswith("checked ")]
        report.notes.append(f"checked {report.examples} of {examples} examples in {elapsed:.3g} s, over the budget of "
                            f"{budget:g} s: the first, smallest one took {took:.2g} s and larger sizes longer (at least 5 "
                            "are checked; narrower size ranges run faster, budget=None checks them all)")
    if out_of_time:
        report.notes = [n for n in report.notes if not n.startswith("checked ")]
        report.notes.append(f"checked {report.examples} of {examples} examples: the time budget of {budget:g} s ran "
                            f"out after {time.perf_counter() - started:.3g} s (budget=None checks them all)")
    for note in report.notes:
        if "in place" in note and "dout" not in note:
            warnings.warn(f"{spec.name}: {note}", InPlaceChange, stacklevel=3)  # at the call of check_layer
    if not report.outputs:
        report.outputs = ["loss"] if spec.loss else ["out"]
    return report
