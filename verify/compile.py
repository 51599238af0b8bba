"""Compile a model's matrix-form gradients (graphs/ route) into one batched torch function.

The generated function takes the model's inputs (and the upstream gradient ``G``, unless the
model ends in a scalar loss) as tensors with any leading batch dimensions, on any device and
dtype. It computes every named tensor of the forward from its formula, then every adjoint from
its local formula in the order reverse mode visited them (so ``dA`` is computed once and reused
by ``dS``), and returns the inputs' adjoints by name. Sizes (``n``, ``d_k``) are read off the
inputs' shapes, so one compiled function serves every size.

Code is printed by a subclass of SymPy's ``TorchPrinter`` (no string pasting of formulas). A node
that is an op's forward (``exp(X)``, ``softmax(S)``, ``maxpool_k(X)``) becomes a run-time call of
that op's torch column in graphs/ops.py, the same code verify/graph_forward.py runs for autograd,
so compile.py holds no second copy of any op; VJP-only helpers (full convolution, unpooling,
broadcasts) have a ``_print_<Class>`` method each. The printer fixes what PITFALLS.md measured: transposes
are ``.transpose(-2, -1)`` (batch-safe), scalar powers of sizes are Python arithmetic (sizes
are ints), and every custom class is printed (by its rule, or a method). Names are checked against
``[A-Za-z][A-Za-z0-9_]*`` (rule names against the table) before they reach the generated code. The source is kept on the
function (``compiled.source``) for inspection, and each model is compiled once per process.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import networkx as nx
import sympy as sp
from sympy.printing.pytorch import TorchPrinter

from graphs import matrices as mx
from graphs.backprop import backprop
from graphs.graph import Model, adjoint_symbol
from graphs.models import model as build_model
from graphs.ops import RULES

__all__ = [
    "CONSTANTS",
    "RUNTIME",
    "CompiledEntries",
    "CompiledModel",
    "compile_entries",
    "compile_gradients",
    "compile_model",
]

# Scalar constants of the models and their defaults (torch.nn.functional.layer_norm's eps).
CONSTANTS: dict[str, float] = {"epsilon": 1e-5}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_RULE = re.compile(r"[a-z][a-z0-9_]*\Z")


def _identifier(name: str) -> str:
    """A name safe to appear in generated code, or a ``ValueError`` (sympy#24990: names are code)."""
    if not _NAME.match(name) or keyword.iskeyword(name) or name.startswith("_"):
        raise ValueError(f"{name!r} cannot be a name in generated code; use letters, digits and _")
    return name


def _rule_name(name: str) -> str:
    """A rule's name, checked before it is printed into generated code as ``_rules[name]``."""
    if name not in RULES or not _RULE.match(name):
        raise ValueError(f"{name!r} is no op of the rule table that generated code may call")
    return name


_CLASSES: dict[tuple[tuple[str, int], ...], dict[type, str]] = {}


def _forward_classes() -> dict[type, str]:
    """The matrix class whose node *is* a rule's forward, for every rule whose forward is one.

    Read off the table: a rule qualifies when its forward, built at each of its examples, is a node of
    a class of graphs/matrices.py (or derive/notation.py) whose arguments are the rule's inputs and
    then its parameters, in order, so the rule's torch column takes them as they stand
    (``MaxPool(X, k)`` is ``max_pool``'s ``torch(torch, X, k)``). Elementwise rules share ``Apply``
    and are told apart by its function. Two rules building one class is an error in the table.
    """
    table = tuple((name, id(row)) for name, row in RULES.items())  # the table as it is now (tests patch rows)
    if table in _CLASSES:
        return _CLASSES[table]
    found: dict[type, str] = {}
    for name, row in RULES.items():
        built = {_forward_class(row, example) for example in row.examples}
        if row.elementwise or len(built) != 1 or None in built:
            continue
        (cls,) = built
        if cls in found:
            raise ValueError(f"rules {found[cls]} and {name} both build {cls.__name__}")
        found[cls] = name
    _CLASSES.clear()  # one table at a time
    _CLASSES[table] = found
    return found


def _forward_class(row: Any, example: Any) -> type | None:
    """The class of the rule's forward at one example, if that node is the rule applied as it stands."""
    shapes, params = example
    inputs = [sp.MatrixSymbol(arg, *shape) for arg, shape in zip(row.args, shapes)]
    out = row.forward(*inputs, **params)
    expected = (*inputs, *(sp.sympify(v) for v in params.values()))
    return None if type(out).__module__.startswith("sympy") or out.args != expected else type(out)


class _BatchedTorchPrinter(TorchPrinter):
    """Matrix formulas as torch expressions over the last two dimensions; scalars as Python numbers.

    A node that is an op's forward (``Apply``, ``Softmax``, ``MaxPool``...) is printed as a call of
    that rule's torch column at run time (``_rules["softmax"].torch(torch, S)``): the table's row is
    the one definition of the op, here as in verify/graph_forward.py. Methods below print SymPy's
    own algebra and the VJP-only helpers (full convolution, unpooling, broadcasts, indicators).
    """

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, mx.Apply):
            return self._rule_call(expr.function, expr.args[0])
        name = _forward_classes().get(type(expr)) if isinstance(expr, sp.Basic) else None
        if name is not None:
            return self._rule_call(name, *expr.args)
        return super()._print(expr, **kwargs)

    def _rule_call(self, name: str, *args: sp.Basic) -> str:
        return f"_rules[{_rule_name(name)!r}].torch(torch, " + ", ".join(self._print(a) for a in args) + ")"

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return _identifier(expr.name)

    _print_AdjointSymbol = _print_MatrixSymbol

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return _identifier(expr.name)

    def _print_Integer(self, expr: sp.Integer) -> str:
        return str(int(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"({expr.p}/{expr.q})"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:  # scalars only: sizes are ints
        return f"({self._print(expr.base)})**({self._print(expr.exp)})"

    def _print_Mul(self, expr: sp.Mul) -> str:
        return "(" + " * ".join(self._print(a) for a in expr.args) + ")"

    def _print_Add(self, expr: sp.Add) -> str:
        return "(" + " + ".join(self._print(a) for a in expr.args) + ")"

    def _size(self, value: sp.Expr) -> str:
        return f"int({self._print(value)})"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coefficient, matrices = expr.as_coeff_matrices()
        product = " @ ".join(f"({self._print(m)})" for m in matrices)
        return product if coefficient == 1 else f"({self._print(coefficient)}) * ({product})"

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        # A term -X is subtracted, not multiplied by -1 and added: one pass over the matrix less.
        text = ""
        for term in expr.args:
            coefficient, matrices = term.as_coeff_matrices() if isinstance(term, sp.MatMul) else (1, [term])
            if coefficient == -1:
                text += f" - ({self._print(sp.MatMul(*matrices) if len(matrices) > 1 else matrices[0])})"
            else:
                text += f"{' + ' if text else ''}({self._print(term)})"
        return f"(-{text[3:]})" if text.startswith(" - ") else f"({text})"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return "(" + " * ".join(f"({self._print(t)})" for t in expr.args) + ")"

    def _print_HadamardPower(self, expr: sp.HadamardPower) -> str:
        return f"(({self._print(expr.base)}) ** ({self._print(expr.exp)}))"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"({self._print(expr.arg)}).transpose(-2, -1)"

    def _print_ZeroMatrix(self, expr: sp.ZeroMatrix) -> str:
        return f"_ops.zeros({self._size(expr.shape[0])}, {self._size(expr.shape[1])})"

    def _print_Ones(self, expr: mx.Ones) -> str:
        return f"_ops.ones({self._size(expr.shape[0])}, {self._size(expr.shape[1])})"

    def _call(self, helper: str, *args: sp.Basic) -> str:
        return f"_ops.{helper}(" + ", ".join(self._print(a) for a in args) + ")"

    def _print_Indicator(self, expr: sp.Basic) -> str:
        return self._call("indicator", expr.args[0])

    def _print_RowSum(self, expr: sp.Basic) -> str:
        return self._call("rowsum_broadcast", expr.args[0])

    def _print_Fill(self, expr: mx.Fill) -> str:
        # A 1 x 1, a column or a row, broadcast to the expression's shape.
        return f"_ops.expand({self._print(expr.args[0])}, {self._size(expr.shape[0])}, {self._size(expr.shape[1])})"

    _print_BroadcastCols = _print_BroadcastRows = _print_Fill

    def _print_CausalMask(self, expr: mx.CausalMask) -> str:
        return f"_ops.causal({self._size(expr.shape[0])})"

    def _print_ImmutableDenseMatrix(self, expr: sp.ImmutableDenseMatrix) -> str:
        return f"_ops.constant({[[float(v) for v in expr.row(i)] for i in range(expr.rows)]})"

    _print_ImmutableMatrix = _print_ImmutableDenseMatrix

    def _print_FullConv(self, expr: mx.FullConv) -> str:
        return self._call("fullconv", *expr.args)

    def _print_MaxUnpool(self, expr: mx.MaxUnpool) -> str:
        return self._call("maxunpool", *expr.args)

    def _print_Upsample(self, expr: mx.Upsample) -> str:
        return self._call("upsample", *expr.args)

    def _print_Unflatten(self, expr: mx.Unflatten) -> str:
        return f"_ops.unflatten({self._print(expr.args[0])}, {self._size(expr.shape[0])}, {self._size(expr.shape[1])})"

    def _print_Columns(self, expr: mx.Columns) -> str:
        return f"({self._print(expr.args[0])})[..., {self._size(expr.args[1])}:{self._size(expr.args[2])}]"

    def _print_Diag(self, expr: sp.Basic) -> str:
        return f"torch.diag_embed(({self._print(expr.args[0])})[..., 0])"

    # Scalar functions of the entrywise route (derive/atoms.py and SymPy's own).
    def _function(self, torch_name: str, expr: sp.Basic) -> str:
        return f"torch.{torch_name}(_ops.tensor({self._print(expr.args[0])}))"

    def _print_Exp(self, expr: sp.Basic) -> str:
        return self._function("exp", expr)

    _print_exp = _print_Exp

    def _print_Sqrt(self, expr: sp.Basic) -> str:
        return self._function("sqrt", expr)

    def _print_log(self, expr: sp.Basic) -> str:
        return self._function("log", expr)

    def _print_sin(self, expr: sp.Basic) -> str:
        return self._function("sin", expr)

    def _print_cos(self, expr: sp.Basic) -> str:
        return self._function("cos", expr)

    def _print_tanh(self, expr: sp.Basic) -> str:
        return self._function("tanh", expr)

    def _print_Relu(self, expr: sp.Basic) -> str:
        return self._function("relu", expr)

    def _print_Step(self, expr: sp.Basic) -> str:
        return self._call("indicator", expr.args[0])


class _Runtime:
    """The helpers generated code calls (``_ops.fullconv``...); bound to a device and dtype per call."""

    def __init__(self, torch: Any, like: Any) -> None:
        self.torch, self.like = torch, like

    def tensor(self, x: Any) -> Any:
        """A Python number as a tensor of the run's dtype (torch.exp does not take floats)."""
        return x if isinstance(x, self.torch.Tensor) else self.torch.tensor(x, dtype=self.like.dtype, device=self.like.device)

    def entries(self, values: list[Any], rows: int, cols: int) -> Any:
        """Entries (tensors of the batch shape, or numbers) as one ``(..., rows, cols)`` tensor."""
        tensors = [self.tensor(v) for v in values]
        shape = self.torch.broadcast_shapes(*(t.shape for t in tensors))
        stacked = self.torch.stack([t.expand(shape) for t in tensors], -1)
        return stacked.reshape(*shape, rows, cols)

    def ones(self, rows: int, cols: int) -> Any:
        return self.torch.ones(rows, cols, dtype=self.like.dtype, device=self.like.device)

    def zeros(self, rows: int, cols: int) -> Any:
        return self.torch.zeros(rows, cols, dtype=self.like.dtype, device=self.like.device)

    def constant(self, rows: list[list[float]]) -> Any:
        return self.torch.tensor(rows, dtype=self.like.dtype, device=self.like.device)

    def causal(self, n: int) -> Any:
        return self.torch.ones(n, n, dtype=self.like.dtype, device=self.like.device).tril()

    def shaped(self, x: Any, like: Any) -> Any:
        """``x`` broadcast to the shape of ``like`` (with its batch dimensions) where it lacks them."""
        x = self.tensor(x)
        return x if x.shape == like.shape else x.expand(self.torch.broadcast_shapes(x.shape, like.shape))

    def expand(self, x: Any, rows: int, cols: int) -> Any:
        return x.expand(*x.shape[:-2], rows, cols)

    def indicator(self, x: Any) -> Any:
        return (x > 0).to(x.dtype)

    def rowsum_broadcast(self, x: Any) -> Any:
        return x.sum(-1, keepdim=True).expand_as(x)

    def fullconv(self, g: Any, k: Any) -> Any:
        kh, kw = k.shape[-2], k.shape[-1]
        padded = self.torch.nn.functional.pad(g, (kw - 1, kw - 1, kh - 1, kh - 1))
        return RULES["conv"].torch(self.torch, padded, k.flip(-2, -1))  # a full convolution is a correlation

    def _windows(self, x: Any, k: int) -> Any:
        return x.unfold(-2, k, k).unfold(-2, k, k)  # (..., p, q, k, k)

    def maxunpool(self, g: Any, x: Any, k: int) -> Any:
        windows = self._windows(x, k).flatten(-2)  # (..., p, q, k*k)
        first_max = windows.argmax(-1, keepdim=True)  # torch returns the first maximal index
        routed = self.torch.zeros_like(windows).scatter(-1, first_max, g.unsqueeze(-1))
        return self._unwindow(routed, k)

    def upsample(self, g: Any, k: int) -> Any:
        return g.repeat_interleave(k, -2).repeat_interleave(k, -1)

    def _unwindow(self, blocks: Any, k: int) -> Any:
        *batch, p, q, _ = blocks.shape
        return blocks.reshape(*batch, p, q, k, k).transpose(-3, -2).reshape(*batch, p * k, q * k)

    def unflatten(self, row: Any, rows: int, cols: int) -> Any:
        return row.reshape(*row.shape[:-2], rows, cols)


RUNTIME = _Runtime


@dataclass(frozen=True)
class CompiledModel:
    """A model's gradients as one torch function; ``source`` is the generated code."""

    name: str
    inputs: tuple[str, ...]  # argument names, in order (the seed G last, when there is one)
    targets: tuple[str, ...]  # the inputs whose adjoints come back
    source: str
    function: Callable[..., dict[str, Any]]

    def __call__(self, **tensors: Any) -> dict[str, Any]:
        missing = [name for name in self.inputs if name not in tensors]
        if missing:
            raise TypeError(f"{self.name}: missing inputs {', '.join(missing)}")
        return self.function(**{name: tensors[name] for name in self.inputs})


def _size_bindings(graph: nx.DiGraph, inputs: list[str]) -> list[str]:
    """``n = Q.shape[-2]`` for every size symbol that is some input's whole dimension."""
    lines, bound = [], set()
    for node in inputs:
        for axis, size in zip((-2, -1), graph.nodes[node]["shape"]):
            if isinstance(size, sp.Symbol) and size not in bound:
                bound.add(size)
                lines.append(f"    {_identifier(size.name)} = {_identifier(graph.nodes[node]['label'])}.shape[{axis}]")
    return lines


def compile_gradients(m: Model, overrides: Mapping[str, sp.Basic] | None = None) -> CompiledModel:
    """Generate and compile the gradient function of a model (any sizes: symbolic shapes).

    ``overrides`` replaces the local adjoint formula of named nodes (the mutant tests use it to
    compile deliberately wrong gradients and expect the checker to catch them).

    >>> compiled = compile_gradients(build_model("attention"))
    >>> compiled.inputs, compiled.targets
    (('Q', 'K', 'V', 'G'), ('Q', 'K', 'V'))
    >>> "dS @ " in compiled.source.replace("(", "").replace(")", "")
    True
    """
    printer = _BatchedTorchPrinter()
    graph = m.graph
    adjoints = backprop(m)
    local = {**adjoints.local, **(overrides or {})}
    leaves = [n for n, d in graph.nodes(data=True) if d["op"] == "input" and nx.has_path(graph, n, m.output)]
    arguments = [_identifier(graph.nodes[n]["label"]) for n in leaves]
    seed_name = None if m.seed == "1" else _identifier(m.seed)
    sizes = {s for n in leaves for s in graph.nodes[n]["shape"] if isinstance(s, sp.Symbol)}
    constants = sorted(
        {s.name for n in graph for v in graph.nodes[n]["params"].values() if isinstance(v, sp.Basic) for s in v.free_symbols} - {s.name for s in sizes}
    )
    unknown = [c for c in constants if c not in CONSTANTS]
    if unknown:
        raise ValueError(f"{m.name}: no default for the constants {', '.join(unknown)}; add them to CONSTANTS")
    keywords = [f"{_identifier(c)}={CONSTANTS[c]!r}" for c in constants]
    lines = [f"def gradients({', '.join(arguments + ([seed_name] if seed_name else []) + keywords)}):"]
    lines.append(f"    _ops = _Runtime(torch, {arguments[0]})")
    lines += _size_bindings(graph, leaves)
    targets = [n for n in m.sources if n in adjoints.local]
    backward = [local[n] for n in adjoints.order if graph.nodes[n]["label"] and n != m.output] + [local[n] for n in targets]
    used = {s.name for expr in backward for s in expr.free_symbols}
    forward_lines = []
    for node in reversed(list(nx.topological_sort(graph))):  # the forward: each named tensor the backward reads
        data = graph.nodes[node]
        if data["op"] != "input" and data["label"] and data["label"] in used:
            used |= {s.name for s in data["formula"].free_symbols}
            forward_lines.append(f"    {_identifier(data['label'])} = {printer.doprint(data['formula'])}")
    lines += reversed(forward_lines)
    seed = "_ops.ones(1, 1)" if seed_name is None else seed_name
    for node in adjoints.order:  # the backward, in the order reverse mode took
        data = graph.nodes[node]
        if data["label"] and data["op"] != "input":
            value = seed if node == m.output else printer.doprint(local[node])
            lines.append(f"    {_identifier(adjoint_symbol(data['label'], data['shape']).name)} = {value}")
    # each gradient as its input's shape: a constant one (d sum(X) / dX = 1) carries no batch of its own
    returned = ", ".join(f"{graph.nodes[n]['label']!r}: _ops.shaped({printer.doprint(local[n])}, "
                         f"{_identifier(graph.nodes[n]['label'])})" for n in targets)
    lines.append(f"    return {{{returned}}}")
    source = "\n".join(lines) + "\n"
    import torch

    namespace: dict[str, Any] = {"torch": torch, "_Runtime": _Runtime, "_rules": RULES}
    exec(compile(source, f"<gradproof {m.name}>", "exec"), namespace)  # noqa: S102 - our own printed code
    labels = tuple(graph.nodes[n]["label"] for n in leaves) + ((seed_name,) if seed_name else ())
    return CompiledModel(m.name, labels, tuple(graph.nodes[n]["label"] for n in targets), source, namespace["gradients"])


@cache
def compile_model(name: str) -> CompiledModel:
    """The compiled gradients of a model from graphs/models.py, compiled once per process."""
    return compile_gradients(build_model(name))


@dataclass(frozen=True)
class CompiledEntries:
    """A matrix of scalar formulas (derive's entrywise route) as one batched torch function.

    ``symbols`` are the formula's free symbols in argument order; each takes a tensor of the batch
    shape (one number per problem). ``source`` is the generated code (common subexpressions
    eliminated once, as PITFALLS.md measured ``cse`` to pay 227x at n = 8).
    """

    symbols: tuple[sp.Symbol, ...]
    shape: tuple[int, int]
    source: str
    function: Callable[..., Any]

    def __call__(self, values: Mapping[sp.Symbol, Any]) -> Any:
        missing = [str(s) for s in self.symbols if s not in values]
        if missing:
            raise TypeError(f"no values for {', '.join(missing)}")
        return self.function(*(values[s] for s in self.symbols))


def compile_entries(formula: sp.Matrix, constants: Mapping[str, float] | None = None) -> CompiledEntries:
    """Compile an explicit SymPy matrix into a function of its symbols' batched values.

    Symbols are renamed ``v_0, v_1, ...`` before printing, so no name that came from elsewhere
    reaches the generated code (sympy#24990). Symbols named in ``constants`` are set to numbers.

    >>> import torch
    >>> x, y = sp.symbols("x_1 y", real=True)
    >>> f = compile_entries(sp.Matrix([[x * y, sp.exp(x)], [1, 0]]))
    >>> f({x: torch.tensor([0.0, 1.0]), y: torch.tensor([2.0, 3.0])})[1]
    tensor([[3.0000, 2.7183],
            [1.0000, 0.0000]])
    """
    known = {s: sp.Float(constants[s.name]) for s in formula.free_symbols if constants and s.name in constants}
    formula = formula.xreplace(known) if known else formula
    symbols = tuple(sorted(formula.free_symbols, key=lambda s: s.name))
    renamed = {s: sp.Symbol(f"v_{k}", real=True) for k, s in enumerate(symbols)}
    flat = [entry.xreplace(renamed) for entry in formula]
    shared, reduced = sp.cse(flat, symbols=sp.numbered_symbols("t_"), order="none")
    printer = _BatchedTorchPrinter()
    arguments = [renamed[s].name for s in symbols]
    like = arguments[0] if arguments else "torch.zeros(())"
    lines = [f"def entries({', '.join(arguments)}):", f"    _ops = _Runtime(torch, _ops_like({like}))"]
    lines += [f"    {name} = {printer.doprint(value)}" for name, value in shared]
    lines.append(f"    return _ops.entries([{', '.join(printer.doprint(e) for e in reduced)}], {formula.rows}, {formula.cols})")
    source = "\n".join(lines) + "\n"
    import torch

    def like_of(x: Any) -> Any:
        return x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float64)

    namespace: dict[str, Any] = {"torch": torch, "_Runtime": _Runtime, "_ops_like": like_of}
    exec(compile(source, "<gradproof entries>", "exec"), namespace)  # noqa: S102 - our own printed code
    return CompiledEntries(symbols, (formula.rows, formula.cols), source, namespace["entries"])
