"""What ``gradproof check-layer`` reads: a layer file's functions and the shapes, sizes and domains
given on the command line. Every bad value raises ``LayerFileError`` with one line that says what
to write instead; nothing here imports torch (the check itself does).

The file is the user's own code, run on their machine: it is imported as a module (its folder on
``sys.path`` while it loads, so its own imports work). Values of ``--param`` are JSON, parsed by
``json.loads``, never evaluated.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["LayerFileError", "StatefulLayerError", "find_pair", "load_module", "parse_domains", "parse_params",
           "parse_shapes", "parse_size_ranges", "stateful_pair"]

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class LayerFileError(ValueError):
    """A bad layer file or command-line value; the message is one line."""


def load_module(path: str) -> ModuleType:
    """Import the layer file at ``path`` (a ``.py`` file) under a private module name.

    >>> load_module("no/such/layers.py")
    Traceback (most recent call last):
    ...
    verify.layer_file.LayerFileError: no/such/layers.py: no such file
    """
    file = Path(path)
    if not file.is_file():
        raise LayerFileError(f"{path}: no such file")
    if file.suffix != ".py":
        raise LayerFileError(f"{path}: a layer file is a Python file ending in .py")
    text = file.read_text(errors="replace")
    if any(line.lstrip().startswith("from .") for line in text.splitlines()):
        return _load_in_package(path, file.resolve())
    spec = importlib.util.spec_from_file_location(f"_gradproof_layer_{abs(hash(str(file.resolve())))}", file)
    if spec is None or spec.loader is None:
        raise LayerFileError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - whatever the file raises is reported as one line
        raise LayerFileError(_import_failed(path, error)) from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


def _import_failed(path: str, error: Exception) -> str:
    """One line for a layer file that failed to import, with what to do for the usual causes.

    >>> _import_failed("layers.py", ModuleNotFoundError("No module named 'seaborn'", name="seaborn"))
    "layers.py: importing it raised ModuleNotFoundError: No module named 'seaborn'; the file imports seaborn, which is \
not installed here: install it, or import it inside the function that uses it (plots, data loading); if it is \
a file of your own, put it beside the layer file"
    """
    first = str(error).splitlines()[0] if str(error) else ""
    text = f"{path}: importing it raised {type(error).__name__}: {first}"
    missing = getattr(error, "name", None)
    if isinstance(error, ModuleNotFoundError) and missing and "." not in missing:
        text += (f"; the file imports {missing}, which is not installed here: install it, or import it inside the "
                 "function that uses it (plots, data loading); if it is a file of your own, put it beside the layer file")
    return text


def _load_in_package(path: str, file: Path) -> ModuleType:
    """A file with relative imports, imported as a module of its package: the package is the topmost folder of
    ``__init__.py`` files above it (cs231n/classifiers/fc_net.py's ``from ..layers import *`` reaches
    cs231n/layers.py), or the file's own folder when it has none, under a private name, so an installed package
    of the same name is never shadowed. That top folder's parent and the file's folder are on ``sys.path`` while
    it loads (``import layers`` beside ``from .layers import *``)."""
    import hashlib
    import importlib
    import importlib.machinery
    import types

    top = file.parent
    while (top / "__init__.py").is_file() and (top.parent / "__init__.py").is_file() and top.parent != top:
        top = top.parent
    root = "_gradproof_pkg_" + hashlib.sha1(str(top).encode()).hexdigest()[:12]
    dotted = ".".join([root, *file.parent.relative_to(top).parts, file.stem])
    added = [p for p in (str(file.parent), str(top.parent)) if p not in sys.path]
    sys.path[:0] = added
    try:
        if root not in sys.modules:
            init = top / "__init__.py"
            spec = importlib.util.spec_from_file_location(root, init, submodule_search_locations=[str(top)]) \
                if init.is_file() else None
            if spec is not None and spec.loader is not None:
                package = importlib.util.module_from_spec(spec)
                sys.modules[root] = package
                spec.loader.exec_module(package)
            else:  # a folder without __init__.py: a bare package of it
                package = types.ModuleType(root)
                package.__path__, package.__package__ = [str(top)], root
                package.__spec__ = importlib.machinery.ModuleSpec(root, None, is_package=True)
                package.__spec__.submodule_search_locations = [str(top)]
                sys.modules[root] = package
        sys.modules.pop(dotted, None)  # the file as it is now, not as an earlier load left it
        return importlib.import_module(dotted)
    except Exception as error:  # noqa: BLE001 - whatever the file raises is reported as one line
        sys.modules.pop(dotted, None)
        raise LayerFileError(_import_failed(path, error)) from None
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def find_pair(module: ModuleType, name: str, loss: bool) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    """``NAME_forward`` and ``NAME_backward`` (or their ``_naive`` forms), or ``NAME`` itself with ``loss``.

    >>> import types
    >>> m = types.ModuleType("m"); m.relu_forward = m.relu_backward = print
    >>> find_pair(m, "relu", False) == (print, print)
    True
    """
    if not NAME.match(name):
        raise LayerFileError(f"NAME must be a Python name like affine or conv; got {name!r}")
    if loss:
        fn = getattr(module, name, None)
        if not callable(fn):
            raise LayerFileError(f"the file has no function {name} (with --loss, NAME is the loss function itself)")
        if isinstance(fn, type):  # cs231n's TwoLayerNet: its loss(self, X, y) method, never the class called
            if callable(getattr(fn, "loss", None)):
                return fn.loss, None
            methods = sorted(n for n, v in vars(fn).items() if callable(v) and not n.startswith("__"))
            raise LayerFileError(f"{name} is a class with no loss method (its methods: {', '.join(methods) or 'none'}); "
                                 f"name the one that returns `loss, grads` with --forward {name}.METHOD")
        return fn, None
    pairs = [(f"{name}_forward{s}", f"{name}_backward{s}") for s in ("", "_naive", "_fast")]
    for fwd, bwd in pairs:
        forward, backward = getattr(module, fwd, None), getattr(module, bwd, None)
        if callable(forward) and callable(backward):
            return forward, backward
    target = getattr(module, name, None)
    if isinstance(target, type) and callable(getattr(target, "backward", None)) and "__call__" in vars(target):
        return target.__call__, target.backward  # class Linear: __call__(self, x) and backward(self, grad)
    functions = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                       and n.endswith(("_forward", "_backward", "_naive")))
    hint = f"; its layers: {', '.join(functions)}" if functions else ""
    if isinstance(target, type):
        methods = sorted(n for n, v in vars(target).items() if callable(v) and not n.startswith("__"))
        hint += (f"; {name} is a class with the methods {', '.join(methods) or '(none)'}: name its forward and backward "
                 f"(--forward {name}.METHOD --backward {name}.METHOD)")
    elif callable(target):
        hint += f"; {name} itself is a function: for `loss, grad = {name}(...)` add --loss"
    raise LayerFileError(f"the file has no pair {name}_forward/{name}_backward{hint}")


def _dims(text: str, what: str) -> tuple[int | str, ...]:
    dims: list[int | str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part.isdigit():
            dims.append(int(part))
        elif all(NAME.match(f.strip()) or f.strip().isdigit() for f in part.split("*")):
            dims.append(part.replace(" ", ""))  # a size name, or a product like 4*H
        else:
            raise LayerFileError(f"{what}: {part!r} is neither a size name, a product like 4*H, nor a number")
    return tuple(dims)


def parse_shapes(items: Sequence[str]) -> dict[str, tuple[int | str, ...]]:
    """``["x=N,D", "b=M", "s="]`` -> ``{"x": ("N", "D"), "b": ("M",), "s": ()}``, in the forward's order.

    >>> parse_shapes(["x=N,D", "w=D,4*H"])
    {'x': ('N', 'D'), 'w': ('D', '4*H')}
    """
    shapes: dict[str, tuple[int | str, ...]] = {}
    for item in items:
        name, sep, dims = item.partition("=")
        name = name.strip()
        if not sep or not NAME.match(name):
            raise LayerFileError(f"--shape wants NAME=DIMS like x=N,D or w=3,4; got {item!r}")
        if name in shapes:
            raise LayerFileError(f"--shape {name} is given twice")
        shapes[name] = _dims(dims, f"--shape {item}")
    if not shapes:
        raise LayerFileError("give the forward's arrays in order with --shape, e.g. --shape x=N,D --shape w=D,M")
    return shapes


def parse_size_ranges(items: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``["N=1:4", "D=3"]`` -> ``{"N": (1, 4), "D": (3, 3)}``.

    >>> parse_size_ranges(["N=1:4", "D=3"])
    {'N': (1, 4), 'D': (3, 3)}
    """
    sizes: dict[str, tuple[int, int]] = {}
    for item in items:
        for pair in filter(None, item.split(",")):
            name, sep, value = pair.partition("=")
            low, colon, high = value.partition(":")
            numbers = (low, high) if colon else (low, low)
            if not sep or not NAME.match(name.strip()) or not all(v.strip().isdigit() for v in numbers):
                raise LayerFileError(f"--size wants NAME=LOW:HIGH or NAME=N like N=1:4 or D=3; got {pair!r}")
            lo, hi = int(numbers[0]), int(numbers[1])
            if lo < 1 or lo > hi:
                raise LayerFileError(f"--size {pair}: want 1 <= LOW <= HIGH (a zero-size array has no entry to check)")
            sizes[name.strip()] = (lo, hi)
    return sizes


def parse_domains(items: Sequence[str]) -> dict[str, Any]:
    """``["y=labels:C", "m=bool", "v=positive"]`` -> domains for ``check_layer``.

    >>> parse_domains(["y=labels:C", "m=bool"])
    {'y': Labels(count='C'), 'm': 'bool'}
    """
    from .strategies import DISCRETE, DOMAINS, labels

    domains: dict[str, Any] = {}
    for item in items:
        name, sep, value = (p.strip() for p in item.partition("="))
        if not sep or not NAME.match(name):
            raise LayerFileError(f"--domain wants NAME=DOMAIN like y=labels:C or mask=bool; got {item!r}")
        kind, _, count = value.partition(":")
        if kind == "labels":
            if not count or not (count.isdigit() and int(count) >= 1 or NAME.match(count)):
                raise LayerFileError(f"--domain {item}: labels need a count, a number or a size name (labels:C)")
            domains[name] = labels(int(count) if count.isdigit() else count)
        elif value in DOMAINS or value in DISCRETE:
            domains[name] = value
        else:
            known = ", ".join([*DOMAINS, *DISCRETE, "labels:COUNT"])
            raise LayerFileError(f"--domain {item}: no domain {value!r}; there are {known}")
    return domains


def parse_params(items: Sequence[str]) -> tuple[Any, ...]:
    """``--param`` values, JSON each (``'{"stride": 1, "pad": 0}'``, ``0.1``, ``'"train"'``).

    >>> parse_params(['{"stride": 2}', "0.5"])
    ({'stride': 2}, 0.5)
    """
    out = []
    for item in items:
        try:
            out.append(json.loads(item))
        except json.JSONDecodeError as error:
            raise LayerFileError(f"--param wants a JSON value like '{{\"stride\": 1, \"pad\": 0}}' or 0.1; got {item!r} "
                                 f"({error.msg})") from None
    return tuple(out)


# --- class layers that keep their state on self --------------------------------------------------------
# Where hand-written frameworks keep a layer's parameters and their gradients (cs231n-style nets, numpy-ml,
# d2l's from-scratch chapters): a dict on the instance, or attributes (self.W and self.dW).
PARAM_DICTS = ("params", "parameters", "weights")
GRAD_DICTS = ("grads", "gradients", "grad")


# What a class layer's adapter takes: any arguments (the layer's own methods check theirs).
ANY_ARGUMENTS = inspect.Signature([inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)])


class StatefulLayerError(LookupError):
    """A class layer whose state ``check_layer`` cannot set or read; the message says where it looked."""


def _method_parts(method: Callable[..., Any]) -> tuple[Any, str, list[inspect.Parameter]] | None:
    """``(owner, method name, parameters after self)`` for a method written ``def forward(self, ...)``: the owner
    is the instance of a bound method, else the class its ``__qualname__`` names in its module; None otherwise."""
    function = getattr(method, "__func__", method)
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    if not parameters or parameters[0].name != "self":
        return None  # a function or a @staticmethod: the (out, cache) convention as it is
    if inspect.ismethod(method):
        return method.__self__, function.__name__, parameters[1:]
    path = getattr(function, "__qualname__", "").split(".")
    if len(path) < 2 or "<locals>" in path:
        return None
    owner: Any = getattr(function, "__globals__", {}).get(path[0])
    for part in path[1:-1]:
        owner = getattr(owner, part, None)
    return (owner, path[-1], parameters[1:]) if isinstance(owner, type) else None


SHARED_ENTRIES = 65_536  # larger arrays of a layer's template are shared, read-only, not copied per call


def _fresh_value(value: Any) -> Any:
    """A layer attribute for one call: containers copied one level, arrays copied (large ones shared read-only,
    so a change in place fails loudly instead of leaking into the next call)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.size <= SHARED_ENTRIES:
            return value.copy()
        view = value.view()
        view.flags.writeable = False
        return view
    if isinstance(value, dict):
        return {k: _fresh_value(v) if isinstance(v, np.ndarray) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh_value(v) if isinstance(v, np.ndarray) else v for v in value]
    return value


def _light_copy(template: Any) -> Any:
    """A copy of a layer instance for one call: its own attributes and containers, arrays as ``_fresh_value``."""
    layer = copy.copy(template)
    if hasattr(layer, "__dict__"):
        layer.__dict__.update({k: _fresh_value(v) for k, v in vars(template).items()})
    return layer


def _on_fresh(fresh: Callable[[], Any], method: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``method`` called on a fresh instance each time, named as the method (messages and snippets say
    ``Affine.forward``); ``__wrapped__`` keeps its signature and file."""

    def call(*args: Any) -> Any:
        return getattr(fresh(), name)(*args)

    function = getattr(method, "__func__", method)
    call.__name__, call.__qualname__ = function.__name__, function.__qualname__
    call.__wrapped__ = function  # type: ignore[attr-defined]
    signature = inspect.signature(function)
    call.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])  # type: ignore[attr-defined]
    return call


def stateful_pair(forward: Callable[..., Any], backward: Callable[..., Any] | None, names: Sequence[str],
                  ) -> tuple[Callable[..., Any], Callable[..., Any] | None] | None:
    """For a class layer written ``forward(self, x) -> out`` and ``backward(self, dout) -> dx`` (its
    parameters in ``self.params`` or attributes, their gradients in ``self.grads`` or ``self.dW``): a
    ``forward(*arrays) -> (out, layer)`` and ``backward(dout, layer) -> {name: gradient}`` pair in the
    (out, cache) convention, or None for any other pair. The arrays named in ``names`` that are not
    parameters of the forward method are set on a fresh instance (``Class()``, or a copy of a bound
    method's instance) before each forward; everything after the arrays goes to the forward method.
    With ``backward`` None, ``forward`` is a ``loss, grads = self.loss(X, y)`` method (cs231n's
    ``TwoLayerNet.loss``): the same, its grads returned as they are.

    >>> import numpy as np
    >>> class Scale:
    ...     def __init__(self):
    ...         self.params, self.grads = {"w": np.ones(2)}, {}
    ...     def forward(self, x):
    ...         self.x = x
    ...         return x * self.params["w"]
    ...     def backward(self, dout):
    ...         self.grads["w"] = dout * self.x
    ...         return dout * self.params["w"]
    >>> fwd, bwd = stateful_pair(Scale().forward, Scale().backward, ["x", "w"])
    >>> out, layer = fwd(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    >>> out.tolist(), {k: v.tolist() for k, v in bwd(np.ones(2), layer).items()}
    ([3.0, 8.0], {'x': [3.0, 4.0], 'w': [1.0, 2.0]})
    """
    if callable(forward) and not inspect.isroutine(forward) and not isinstance(forward, type):
        forward = forward.__call__  # the layer instance itself (--forward layer): its __call__
    front = _method_parts(forward)
    back = _method_parts(backward) if backward is not None else None
    if front is None or backward is not None and (back is None or front[0] is not back[0] and not (
            not isinstance(front[0], type) and not isinstance(back[0], type) and type(front[0]) is type(back[0]))):
        return None
    owner, forward_name, parameters = front
    backward_name, back_parameters = (back[1], back[2]) if back is not None else ("", [])
    ups = [p for p in back_parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    if backward is not None and not ups:
        return None
    cls = owner if isinstance(owner, type) else type(owner)
    title = cls.__name__

    template: list[Any] = []

    def build() -> Any:
        if not isinstance(owner, type):
            return owner
        import numpy as np

        state = np.random.get_state()  # a constructor drawing weights leaves the caller's generator as it was
        try:
            return owner()
        except TypeError as error:
            raise StatefulLayerError(f"{title}() raised TypeError: {error}; a class layer is built with no arguments: "
                                     f"give {title}.__init__ defaults, or check an instance's methods from Python "
                                     f"(check_layer(layer.forward, layer.backward, ...))") from None
        finally:
            np.random.set_state(state)

    def fresh() -> Any:
        # Built once (cs231n's TwoLayerNet() draws 3072 x 100 weights: 13 ms, against the thousands of forward
        # calls a numerical derivative makes), then copied for each call so that no call sees another's state.
        if not template:
            template.append(build())
        return _light_copy(template[0])

    if ups and ups[-1].name.endswith("cache"):  # methods in the (out, cache) convention: each runs on a fresh instance
        fresh()
        return _on_fresh(fresh, forward, forward_name), _on_fresh(fresh, backward, backward_name)
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.default is p.empty]
    inputs = [n for n in names if n in positional] or list(names[:len(required)])
    state = [n for n in names if n not in inputs]

    def put(layer: Any, name: str, value: Any) -> None:
        for holder in PARAM_DICTS:
            found = getattr(layer, holder, None)
            if isinstance(found, dict) and name in found:
                found[name] = value
                return
        if name in vars(layer) if hasattr(layer, "__dict__") else hasattr(layer, name):
            setattr(layer, name, value)
            return
        raise StatefulLayerError(f"{title} has no parameter {name!r}: looked for self.{name} and self.params[{name!r}] "
                                 f"({', '.join(f'self.{h}' for h in PARAM_DICTS)}); the arrays of shapes= are the "
                                 f"forward's arguments ({', '.join(positional) or 'none'}) and then the layer's "
                                 "parameters, by their names")

    def take(layer: Any, name: str) -> Any:
        keys = (name, f"d{name}", f"d_{name}", f"grad_{name}", f"{name}_grad")
        for holder in GRAD_DICTS:
            found = getattr(layer, holder, None)
            if isinstance(found, dict):
                for key in keys:
                    if key in found:
                        return found[key]
        for key in keys[1:]:
            if hasattr(layer, key):
                return getattr(layer, key)
        raise StatefulLayerError(f"{title}.{backward_name} left no gradient for {name!r}: looked in self.grads[{name!r}] "
                                 f"(and {', '.join(f'self.{h}' for h in GRAD_DICTS[1:])}, keys d{name}, grad_{name}) "
                                 f"and at self.d{name}, self.grad_{name}")

    def stateful_forward(*args: Any) -> tuple[Any, ...]:
        layer = fresh()
        given = dict(zip(names, args))
        for name in state:
            put(layer, name, given[name])
        result = getattr(layer, forward_name)(*[given[n] for n in inputs], *args[len(names):])
        outputs = list(result) if len(ups) > 1 and isinstance(result, (tuple, list)) else [result]
        return (*outputs, layer)

    def stateful_backward(*args: Any) -> dict[str, Any]:
        *douts, layer = args
        back_result = getattr(layer, backward_name)(*douts)
        grads: dict[str, Any] = {}
        if state and isinstance(back_result, (tuple, list)) and len(back_result) == len(names):
            return dict(zip(names, back_result))  # `return dx, dW, db`: every gradient returned, none kept on self
        if state and isinstance(back_result, dict):
            return back_result  # {"x": dx, "W": dW}: matched by name as a function's dict is
        if len(inputs) == 1:
            grads[inputs[0]] = back_result
        elif inputs:
            grads.update(zip(inputs, back_result if isinstance(back_result, (tuple, list)) else [back_result]))
        for name in state:
            grads[name] = take(layer, name)
        return grads

    def stateful_loss(*args: Any) -> Any:
        layer = fresh()
        given = dict(zip(names, args))
        for name in state:
            put(layer, name, given[name])
        return getattr(layer, forward_name)(*[given[n] for n in inputs], *args[len(names):])

    for wrapper, method in ((stateful_forward, forward), (stateful_backward, backward), (stateful_loss, forward)):
        if method is None:
            continue
        function = getattr(method, "__func__", method)
        wrapper.__name__, wrapper.__qualname__ = function.__name__, function.__qualname__
        wrapper.__wrapped__ = function  # type: ignore[attr-defined]
        wrapper.__signature__ = ANY_ARGUMENTS  # type: ignore[attr-defined]
    probe = fresh()  # a class that cannot be built, or lacks a parameter, says so before any example is drawn
    for name in state:
        put(probe, name, None)
    if backward is None:
        return stateful_loss, None
    return stateful_forward, stateful_backward
