"""A forward written as an expression, read into a computation graph: your own gradients.

The language is the answer language (``verify/homework/answer.lark``, one grammar), read from
its ``program`` start: assignments separated by ``;`` or new lines, the last one naming the loss,
and ``repeat l = 1..N { ... }`` for stacked layers::

    S = Q K^T / sqrt(d_k); A = softmax(S); L = sum(G ⊙ (A V))

Each operation becomes one op of the VJP rule table (graphs/ops.py) through the existing
builder, so everything a catalog model gets follows: reverse mode, the entrywise check, the
compiled torch gradient, the picture and the report.

How it reads:

- **Products.** Juxtaposition, ``@`` and ``*`` between two matrices are the matrix product; a
  constant (a number, a size such as ``d_k``, ``pi``, ``epsilon``) times a tensor scales it.
  ``⊙`` (``\\odot``, ``.*``) is the entrywise product, ``/`` by a tensor entrywise division.
- **Broadcasting**, as NumPy does it: a row (1 x k) added to, multiplied with or dividing an
  n x k matrix applies to every row, a column (n x 1) to every column. ``1 b^T`` is the ones
  column times a row: the same broadcast, written as the lecture writes it. A constant added to
  a tensor is added to every entry (``+ epsilon``).
- **Functions:** ``exp``, ``log``, ``sqrt``, ``sigmoid`` (``sigma``), ``tanh``, ``relu``, ``gelu``,
  ``softmax`` and ``log_softmax`` (of each row), ``sum`` and ``mean`` (of every entry: 1 x 1),
  ``rowsum``/``rowmean`` (a column), ``colsum``/``colmean`` (a row), ``concat(A, B, ...)`` (side by
  side, as heads are joined). Powers: ``X^2`` and higher
  integer powers entrywise, ``X^T`` the transpose, ``X ⋆ K`` valid cross-correlation.
- **Shapes** are declared per input (``X = (n, d)``; a vector ``b = (k,)`` is a column). In a
  ``repeat`` block ``W_l`` is layer l's own ``W_1``, ``W_2``, ... (declared once as ``W_l``), and a
  name assigned in the block is that layer's (``X_1``, ``X_2``, ...).

Bad input is one ``ExpressionError`` line: an unknown name or function, sizes that disagree (and
which), an op without a VJP rule, a loss that is not 1 x 1.

>>> f = read_forward("L = sum((X W - Y) ⊙ (X W - Y))", {"X": "n,d", "W": "d,k", "Y": "n,k"}, wrt=["W"])
>>> m = f.build()
>>> m.sources, m.graph.nodes[m.output]["shape"]
(['W'], (1, 1))
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import sympy as sp
from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from derive.errors import GradproofError
from derive.notation import size as size_symbol
from graphs.graph import GraphBuilder, Model, Tensor

__all__ = ["ExpressionError", "Forward", "claim_formulas", "parse_shape", "read_forward", "register", "size_grid"]

Shape = tuple[sp.Expr, sp.Expr]

# Names that are numbers, not tensors. epsilon is the model constant compile.py gives a value.
_CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "epsilon": sp.Symbol("epsilon", positive=True),
                                  "eps": sp.Symbol("epsilon", positive=True)}
# The lecture's spellings of some rows' names; every other one-argument row is called by its own name.
_ALIASES = {"ln": "log", "sigma": "sigmoid", "rowsum": "row_sum", "rowmean": "row_mean", "colsum": "col_sum",
            "colmean": "col_mean"}


def functions() -> dict[str, str]:
    """The functions a forward may call, each the name of a one-argument row of the rule table
    (graphs/ops.py) without parameters, or one of its lecture spellings: a row added there is a
    function here, with nothing else to write.

    >>> functions()["gelu"], functions()["rowsum"]
    ('gelu', 'row_sum')
    """
    from graphs.ops import RULES

    own = {name: name for name, row in RULES.items() if len(row.args) == 1 and not any(p for _, p in row.examples)}
    return {**own, **{alias: op for alias, op in _ALIASES.items() if op in RULES}}


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_LARGEST_LITERAL = 64  # a literal size; the entrywise check writes every entry out at it
_MOST_STEPS = 20_000  # ops a forward may build (12 encoder layers take about 800)


class ExpressionError(GradproofError, ValueError):
    """A forward expression that cannot be read or built; the message says where and why."""


@dataclass(frozen=True)
class _Rows:
    """``1 b^T``: a row repeated down as many rows as the matrix it meets (a broadcast, not a tensor)."""

    row: Tensor


@dataclass(frozen=True)
class _Const:
    """A number in the forward: a literal, a size, pi, epsilon, or arithmetic of them."""

    value: sp.Expr
    ones: bool = False  # the literal 1, which beside a row is the ones column of ``1 b^T``


def identifier(name: str) -> str:
    """A name as the graph labels it: ``W_{hh}`` is ``W_hh``, ``W_{Q,1}`` is ``W_Q_1``.

    >>> identifier("W_{Q,1}"), identifier("d_k")
    ('W_Q_1', 'd_k')
    """
    text = re.sub(r"[{}]", "", name.strip())
    text = re.sub(r"[,\s]+", "_", text).replace("'", "p")
    if not _IDENTIFIER.match(text):
        raise ExpressionError(f"{name!r} cannot name a tensor; use letters, digits and _ (X, W_1, b_out)")
    return text


def parse_shape(text: str | Sequence[Any]) -> tuple[sp.Expr, ...]:
    """A declared shape, ``"n,d"`` or ``("n", 3)``: sizes are names, positive integers, or sums and
    products of them (``2 d_k``, ``h*w``, ``n+1``). A vector (one size) is a column.

    >>> parse_shape("n, d_k"), parse_shape("k"), parse_shape(["n", 3]), parse_shape("2 d_k, d")
    ((n, d_k), (k, 1), (n, 3), (2*d_k, d))
    """
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else [str(p).strip() for p in text]
    if not 1 <= len(parts) <= 2 or any(not p for p in parts):
        raise ExpressionError(f"a shape is one or two sizes, like n,d or k; got {text!r}")
    dims = [_dimension(part, text) for part in parts]
    return (dims[0], dims[1] if len(dims) == 2 else sp.Integer(1))


def _dimension(part: str, text: object) -> sp.Expr:
    """One size: a sum of products of names and positive integers (no eval of the text)."""
    total: sp.Expr = sp.Integer(0)
    for term in part.split("+"):
        factors = [f for f in re.split(r"\s*\*\s*|\s+", term.strip()) if f]
        if not factors:
            raise ExpressionError(f"a size is a name (n, d_k), a positive integer, or a sum or product of them; got "
                                  f"{part!r} in {text!r}")
        product: sp.Expr = sp.Integer(1)
        for factor in factors:
            if factor.isdigit() and 0 < int(factor) <= _LARGEST_LITERAL:
                product *= sp.Integer(int(factor))
            elif factor.isdigit() and int(factor) > _LARGEST_LITERAL:
                raise ExpressionError(f"a size of {int(factor)} in {text!r}: sizes above {_LARGEST_LITERAL} are named "
                                      "(n, d), so that the checks can take them small and verify can draw them")
            elif _IDENTIFIER.match(factor) and factor not in _CONSTANTS:
                product *= size_symbol(factor)
            else:
                raise ExpressionError(f"a size is a name (n, d_k), a positive integer, or a sum or product of them; "
                                      f"got {factor!r} in {text!r}")
        total += product
    return total


def size_grid(names: Sequence[str], low: int) -> tuple[dict[str, int], ...]:
    """Two assignments of the sizes ``low``, ``low + 1`` (and ``low + 2`` for three sizes or more) in
    which any two sizes differ in at least one (up to nine sizes), and a lone size differs between
    the two: a transpose that square sizes hide, or a factor 1/n where 1/k was due, shows.

    >>> size_grid(("n", "d", "k"), 2)
    ({'n': 2, 'd': 3, 'k': 4}, {'n': 3, 'd': 4, 'k': 2})
    >>> size_grid(("n", "d_k"), 2), size_grid(("n",), 1)
    (({'n': 2, 'd_k': 3}, {'n': 3, 'd_k': 2}), ({'n': 1}, {'n': 2}))
    >>> size_grid((), 1)
    ({},)
    """
    if not names:
        return ({},)
    values = 2 if len(names) <= 2 else 3  # as few distinct values as the sizes need: the checks grow with them
    return ({n: low + k % values for k, n in enumerate(names)},
            {n: low + (k + 1 + k // 3) % values for k, n in enumerate(names)})


def _same(a: sp.Expr, b: sp.Expr) -> bool:
    return sp.expand(sp.sympify(a) - sp.sympify(b)) == 0


def _shape_text(shape: Shape) -> str:
    return f"{shape[0]} x {shape[1]}"


@dataclass(frozen=True)
class Forward:
    """A forward expression with its declared shapes: builds its computation graph at any sizes.

    ``wrt`` are the inputs with a gradient (the others are data); ``domains`` the inputs' kinds
    for drawn examples (verify/strategies.py: ``real``, ``positive``, ``simplex``, ...).
    """

    text: str
    shapes: Mapping[str, tuple[sp.Expr, ...]]
    wrt: tuple[str, ...]
    domains: Mapping[str, str]
    name: str
    program: Tree = field(repr=False, compare=False)

    @property
    def size_names(self) -> tuple[str, ...]:
        """The symbolic sizes of the declared shapes, in order of appearance."""
        names: list[str] = []
        for shape in self.shapes.values():
            for d in shape:
                names += sorted((s.name for s in sp.sympify(d).free_symbols if s.name not in names), key=str)
        return tuple(names)

    def check_sizes(self) -> tuple[dict[str, int], ...]:
        """Two small size assignments for the entrywise check (``size_grid`` from 1)."""
        return size_grid(self.size_names, 1)

    def build(self, sizes: Mapping[str, int] | None = None) -> Model:
        """The computation graph, at symbolic sizes or at the given integers."""
        unknown = set(sizes or {}) - set(self.size_names)
        if unknown:
            raise ExpressionError(f"unknown sizes {', '.join(sorted(unknown))}; this forward has "
                                  f"{', '.join(self.size_names) or 'none'}")
        if not sizes and "_symbolic" in self.__dict__:
            return self.__dict__["_symbolic"]
        given = {size_symbol(k): sp.Integer(v) for k, v in (sizes or {}).items()}
        model = _Reader(self, given).model()
        if not sizes:
            self.__dict__["_symbolic"] = model  # read_forward's check build serves later calls
        return model


def read_forward(
    text: str, shapes: Mapping[str, str | Sequence[Any]], wrt: Iterable[str] | None = None,
    domains: Mapping[str, str] | None = None, name: str | None = None,
) -> Forward:
    """Read a forward expression: parsed once, checked by building it at symbolic sizes.

    ``wrt`` (default: every declared input) names the inputs with a gradient, as declared
    (``W_l`` for every layer's ``W``).

    >>> f = read_forward("S = Q K^T / sqrt(d_k); L = sum(G ⊙ (softmax(S) V))", {n: "n,d_k" for n in "QKVG"}, wrt="QKV")
    >>> f.size_names, [f.build().graph.nodes[n]["op"] for n in ("S", "L")]
    (('n', 'd_k'), ['scale', 'sum'])
    >>> read_forward("L = sum(X W)", {"X": "n,d", "W": "k,m"})
    Traceback (most recent call last):
    ...
    verify.expression.ExpressionError: in 'X W': matmul: inner sizes differ (d and k) (got A: n x d, B: k x m)
    """
    from verify.homework.language import InvalidAnswer, _parser, normalise, split_products

    declared = {identifier(k): parse_shape(v) for k, v in shapes.items()}
    chosen = tuple(identifier(w) for w in (declared if wrt is None else wrt))
    for w in chosen:
        if w not in declared:
            raise ExpressionError(f"--wrt {w}: not a declared input; declared: {', '.join(declared) or 'none'}")
    kinds = {identifier(k): v for k, v in (domains or {}).items()}
    for k, v in kinds.items():
        if k not in declared:
            raise ExpressionError(f"--domain {k}: not a declared input; declared: {', '.join(declared)}")
        _check_domain(k, v)
    lines = [re.sub(r"#.*", "", line).strip() for line in text.replace("\r", "").split("\n")]
    joined = "; ".join(line.rstrip(";") for line in lines if line)
    joined = re.sub(r"([{;])\s*;", r"\1", joined)
    joined = re.sub(r";\s*}", " }", joined)
    if not joined:
        raise ExpressionError("the forward is empty; write it as L = ..., e.g. L = sum((X W - Y) ⊙ (X W - Y))")
    from verify.homework.language import LIMITS, _depth

    try:
        joined = normalise(joined)
        if _depth(joined) > LIMITS["depth"] or re.search(r"(?:-\s*){9}", joined):
            raise ExpressionError(f"the forward nests brackets or signs more than {LIMITS['depth']} deep; name the "
                                  "inner steps (H = ...; L = ...)")
        # XW is X W where both are one-letter tensors (declared, or named by a step): split before parsing
        steps = set(re.findall(r"(?:^|;|\{)\s*([A-Za-z][A-Za-z0-9_]*)\s*=(?!=)", joined))
        joined = split_products(joined, {n for n in (*declared, *steps) if len(n) == 1}, set(declared) | steps)
        tree = _parser("program").parse(joined)
    except InvalidAnswer as error:
        raise ExpressionError(str(error).replace("the answer", "the forward")) from None
    except UnexpectedInput as error:
        raise ExpressionError(f"cannot read the forward at column {error.column}: "
                              f"{error.get_context(joined).splitlines()[0].strip()!r}; write steps as NAME = "
                              "expression, separated by ; or new lines") from None
    def made(kinds: Mapping[str, str]) -> tuple[Forward, Model]:
        digest = hashlib.sha256(repr((joined, sorted(declared.items(), key=str), chosen, sorted(kinds.items()))).encode())
        forward = Forward(joined, declared, chosen, kinds, name or f"expr_{digest.hexdigest()[:10]}", tree)
        try:
            return forward, forward.build()  # every error at symbolic sizes now, not at the first check
        except RecursionError:
            raise ExpressionError("the forward nests too deeply to read; name the inner steps (H = ...; L = ...)") from None

    forward, model = made(kinds)
    positive = _positive_inputs(model, declared, kinds)
    if positive:  # log(X), sqrt(X), 1/X of an input: drawn positive unless its domain is declared
        forward, model = made({**kinds, **dict.fromkeys(positive, "positive")})
    import networkx as nx

    feeding = {model.graph.nodes[n]["label"] for n in nx.ancestors(model.graph, model.output)}
    unused = [w for w in chosen if w not in feeding and not any(_is_layer_of(n, w) for n in feeding)]
    if wrt is not None and unused:
        raise ExpressionError(f"--wrt {unused[0]}: the loss does not depend on it (its gradient is 0); the loss reads "
                              f"{', '.join(sorted(n for n in feeding if n in declared or _declared_as(n, declared))) or 'no input'}")
    return forward


def _positive_inputs(model: Model, declared: Mapping[str, object], kinds: Mapping[str, str]) -> list[str]:
    """Declared inputs without a declared domain that an op takes only positive (log, sqrt, 1/X: the
    rule table's ``domain``), directly."""
    from graphs.ops import RULES

    out = []
    for _, data in model.graph.nodes(data=True):
        if data["op"] == "input" or data["op"] not in RULES:
            continue
        row = RULES[data["op"]]
        for argument, source in zip(row.args, data["args"]):
            label = model.graph.nodes[source]["label"]
            if model.graph.nodes[source]["op"] == "input" and row.domain.get(argument) == "positive" \
                    and label in declared and label not in kinds and label not in out:
                out.append(label)
    return out


def _is_layer_of(label: str, template: str) -> bool:
    """``W_3`` is a layer of ``W_l`` (a repeat's template: one part of the name is the loop letter)."""
    a, b = label.split("_"), template.split("_")
    return len(a) == len(b) and a[0] == b[0] and all(x == y or (x.isdigit() and len(y) == 1) for x, y in zip(a[1:], b[1:]))


def _declared_as(label: str, declared: Mapping[str, object]) -> bool:
    return any(_is_layer_of(label, d) for d in declared)


def _check_domain(name: str, domain: str) -> None:
    from verify.strategies import DOMAINS

    if domain not in DOMAINS:
        raise ExpressionError(f"--domain {name}={domain}: unknown domain; there are {', '.join(sorted(DOMAINS))}")


class _Reader:
    """One walk of the parse tree, recording ops into a GraphBuilder."""

    def __init__(self, forward: Forward, sizes: Mapping[sp.Symbol, sp.Integer]) -> None:
        self.forward = forward
        self.sizes = dict(sizes)
        self.builder = GraphBuilder(forward.name)
        self.bound: dict[str, Tensor | _Const] = {}
        self.loop: tuple[str, int] | None = None
        self.last: str | None = None
        self.steps = 0
        self.here = ""  # the construct being read, quoted in errors

    # --- the program
    def model(self) -> Model:
        self._program(self.forward.program)
        assert self.last is not None  # the grammar has at least one step
        out = self.bound[self.last]
        if isinstance(out, _Const):
            raise ExpressionError(f"the loss {self.last} is a constant; it must depend on an input")
        shape = out.shape
        if not (_same(shape[0], 1) and _same(shape[1], 1)):
            raise ExpressionError(f"the loss {self.last} is {_shape_text(shape)}, not a number (1 x 1); take "
                                  f"sum(...) of it, or sum(G ⊙ ...) with an upstream gradient G")
        sizes = {s.name: self.sizes.get(s, s) for s in map(size_symbol, self.forward.size_names)}
        return self.builder.model(out, self.forward.text, seed="1", sizes=sizes)

    def _program(self, tree: Tree) -> None:
        for step in tree.children:
            if step.data == "assign":
                target, _, value = step.children
                self.here = self._quote(value)
                result = self._eval(value)
                self._assign(self._name(str(target)), result)
            else:  # repeat
                letter, _, low, high, body = step.children
                if self.loop is not None:
                    raise ExpressionError("a repeat inside a repeat is not read; write one repeat per stack")
                first, last = int(low), int(high)
                if not 1 <= first <= last or last - first > 999:
                    raise ExpressionError(f"repeat {letter} = {first}..{last}: the range must run up, from 1, "
                                          "over at most 1000 layers")
                for layer in range(first, last + 1):
                    self.loop = (str(letter), layer)
                    self._program(body)
                self.loop = None

    def _quote(self, tree: Tree) -> str:
        meta = tree.meta if isinstance(tree, Tree) else None
        text = self.forward.text
        return text[meta.start_pos:meta.end_pos] if meta is not None and not meta.empty else ""

    def _name(self, raw: str) -> str:
        """A name with the layer's number put in for the loop letter (``W_l`` in layer 3: ``W_3``)."""
        name = identifier(raw)
        if self.loop is None:
            return name
        letter, layer = self.loop
        parts = name.split("_")
        return "_".join([parts[0]] + [str(layer) if p == letter else p for p in parts[1:]])

    def _assign(self, name: str, value: Tensor | _Const) -> None:
        if isinstance(value, Tensor):
            data = self.builder.graph.nodes[value.node]
            if not data["label"] and data["op"] != "input":  # a new intermediate: it takes the name
                taken = name in self.builder.graph or name in self.forward.shapes
                self._label(value, self._fresh(name) if taken or (self.loop and not self._has_letter(name)) else name)
            # an input or a named tensor assigned again (H = X) is the same tensor under a second name
        self.bound[name] = value
        self.last = name

    def _has_letter(self, name: str) -> bool:
        return self.loop is not None and str(self.loop[1]) in name.split("_")[1:]

    def _fresh(self, name: str) -> str:
        base = f"{name}_{self.loop[1]}" if self.loop is not None else name
        candidate, k = base, 1
        while candidate in self.builder.graph or candidate in self.forward.shapes:
            k += 1
            candidate = f"{base}_{k}" if self.loop is not None else f"{name}_{k}"
        return candidate

    def _label(self, tensor: Tensor, label: str) -> None:
        """Name the intermediate just built (nothing consumes it yet): its node is renamed, and
        formulas refer to it by a symbol from now on."""
        import networkx as nx

        from graphs.graph import value_symbol

        graph = self.builder.graph
        nx.relabel_nodes(graph, {tensor.node: label}, copy=False)
        data = graph.nodes[label]
        data.update(label=label, value=value_symbol(label, data["shape"]))
        object.__setattr__(tensor, "node", label)

    # --- expressions
    def _eval(self, tree: Tree | Token, broadcast: bool = False) -> Tensor | _Const:
        """The value of a subtree. ``1 b^T`` (a row times the ones column) is read only where
        ``broadcast`` says a matrix beside it fixes its number of rows (+, -, ⊙, /)."""
        if isinstance(tree, Token):
            raise ExpressionError(f"cannot read {str(tree)!r} here")
        self.steps += 1
        if self.steps > _MOST_STEPS:
            raise ExpressionError(f"the forward builds more than {_MOST_STEPS} operations")
        handler = getattr(self, f"_do_{tree.data}", None)
        outer, self.here = self.here, self._quote(tree) or self.here
        if handler is None:
            raise ExpressionError(f"{_CONSTRUCTS.get(str(tree.data), str(tree.data))} is not part of a forward "
                                  f"(in {self.here!r}); write the matrix operations")
        result = handler(tree)
        if isinstance(result, _Rows):
            if not broadcast:
                raise ExpressionError(f"{self.here!r} is the ones column times a row: as many rows as the matrix it "
                                      "is added to or multiplies, so write it beside that matrix (X W + 1 b^T)")
            result = result.row
        self.here = outer
        return result

    def _where(self, error: Exception) -> ExpressionError:
        return ExpressionError(f"in {self.here!r}: {error}")

    def _op(self, op: str, *args: Tensor, **params: Any) -> Tensor:
        try:
            return self.builder.apply(op, *args, **params)
        except GradproofError as error:  # a shape the op cannot take, or an op the table lacks
            raise self._where(error) from None

    def _do_number(self, tree: Tree) -> _Const:
        text = str(tree.children[0])
        return _Const(sp.Rational(text) if "e" not in text.lower() else sp.Float(text), ones=text == "1")

    def _do_name(self, tree: Tree) -> Tensor | _Const:
        template = identifier(str(tree.children[0]))  # W_l: every layer's W, as declared
        name = self._name(str(tree.children[0]))
        if name in self.bound:
            return self.bound[name]
        declared = name if name in self.forward.shapes else template
        if declared in self.forward.shapes:
            return self._input(name, declared, self.forward.shapes[declared])
        if name in self.forward.size_names:
            return _Const(self.sizes.get(size_symbol(name), size_symbol(name)))
        if name in _CONSTANTS:
            return _Const(_CONSTANTS[name])
        if name in functions():
            raise ExpressionError(f"{name} is a function (in {self.here!r}); write {name}(...) with its argument")
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}\s*\(", self.forward.text):
            raise ExpressionError(f"unknown function {name!r} (in {self.here!r}); there are "
                                  f"{', '.join(sorted(functions()))}")
        declared = ", ".join(self.forward.shapes) or "none"
        raise ExpressionError(f"unknown name {name!r} (in {self.here!r}); declare its shape (--shape {name}=n,d) or "
                              f"assign it first; declared: {declared}")

    def _input(self, name: str, declared: str, shape: tuple[sp.Expr, ...]) -> Tensor:
        concrete = tuple(sp.sympify(d).xreplace(self.sizes) for d in shape)
        role = "parameter" if declared in self.forward.wrt or name in self.forward.wrt else "constant"
        domain = self.forward.domains.get(declared, self.forward.domains.get(name, "real"))
        tensor = self.builder.input(name, concrete, role=role, domain="positive" if domain in ("positive", "simplex",
                                                                                                 "rate") else "real")
        self.builder.graph.nodes[tensor.node]["kind"] = domain
        self.bound[name] = tensor
        return tensor

    def _pair(self, tree: Tree, broadcast: bool = False) -> tuple[Tensor | _Const, Tensor | _Const]:
        return self._eval(tree.children[0], broadcast), self._eval(tree.children[-1], broadcast)

    def _do_neg(self, tree: Tree) -> Tensor | _Const:
        x = self._eval(tree.children[-1])
        return _Const(-x.value) if isinstance(x, _Const) else self._op("neg", x)

    def _do_add(self, tree: Tree) -> Tensor | _Const:
        return self._sum(*self._pair(tree, broadcast=True), subtract=False)

    def _do_sub(self, tree: Tree) -> Tensor | _Const:
        return self._sum(*self._pair(tree, broadcast=True), subtract=True)

    def _sum(self, a: Tensor | _Const, b: Tensor | _Const, subtract: bool) -> Tensor | _Const:
        if isinstance(a, _Const) and isinstance(b, _Const):
            return _Const(a.value - b.value if subtract else a.value + b.value)
        if isinstance(b, _Const):
            return self._op("shift", a, constant=-b.value if subtract else b.value)
        if isinstance(a, _Const):
            return self._op("shift", self._op("neg", b) if subtract else b, constant=a.value)
        op = self._broadcast(a, b, "add", "add_row", "add_col")
        if op == "add" and subtract:
            return self._op("sub", a, b)
        if op:  # b broadcast over a
            return self._op(op, a, self._op("neg", b) if subtract else b)
        flipped = self._broadcast(b, a, "add", "add_row", "add_col")
        if flipped:  # a broadcast over b
            return self._op(flipped, self._op("neg", b) if subtract else b, a)
        raise self._mismatch("-" if subtract else "+", a, b)

    def _broadcast(self, a: Tensor, b: Tensor, same: str, row: str, col: str) -> str | None:
        """The op that combines ``a`` with ``b`` broadcast to ``a``'s shape, if any."""
        (r, c), (r2, c2) = a.shape, b.shape
        if _same(r, r2) and _same(c, c2):
            return same
        if _same(r2, 1) and _same(c, c2):
            return row
        if _same(c2, 1) and _same(r, r2):
            return col
        return None

    def _mismatch(self, symbol: str, a: Tensor, b: Tensor) -> ExpressionError:
        (r, c), (r2, c2) = a.shape, b.shape
        differ = [f"{x} and {y}" for x, y in ((r, r2), (c, c2)) if not _same(x, y)]
        return ExpressionError(f"in {self.here!r}: {symbol} of a {_shape_text(a.shape)} and a {_shape_text(b.shape)} "
                               f"tensor: sizes {'; '.join(differ)} differ, and neither is a row or column to broadcast")

    def _do_hadamard(self, tree: Tree) -> Tensor | _Const:
        a, b = self._pair(tree, broadcast=True)
        return self._times(a, b, "⊙")

    def _times(self, a: Tensor | _Const, b: Tensor | _Const, symbol: str) -> Tensor | _Const:
        if isinstance(a, _Const) or isinstance(b, _Const):
            return self._scale(a, b)
        op = self._broadcast(a, b, "mul", "mul_row", "mul_col")
        if op:
            return self._op(op, a, b)
        flipped = self._broadcast(b, a, "mul", "mul_row", "mul_col")
        if flipped:
            return self._op(flipped, b, a)
        raise self._mismatch(symbol, a, b)

    def _scale(self, a: Tensor | _Const, b: Tensor | _Const) -> Tensor | _Const:
        if isinstance(a, _Const) and isinstance(b, _Const):
            return _Const(a.value * b.value)
        const, tensor = (a, b) if isinstance(a, _Const) else (b, a)
        assert isinstance(const, _Const) and isinstance(tensor, Tensor)
        if const.value == 1:
            return tensor
        return self._op("scale", tensor, factor=const.value)

    def _product(self, a: Tensor | _Const, b: Tensor | _Const, symbol: str) -> Tensor | _Const:
        if isinstance(a, Tensor) and isinstance(b, _Const) and b.ones:
            raise ExpressionError(f"in {self.here!r}: X 1 (row sums) is written rowsum(X) here")
        if isinstance(a, _Const) and a.ones and isinstance(b, Tensor) and not _same(b.shape[0], 1):
            raise ExpressionError(f"in {self.here!r}: 1 beside a {_shape_text(b.shape)} tensor: the ones column "
                                  "goes before a row (1 b^T); for column sums write colsum(X)")
        if isinstance(a, _Const) and a.ones and isinstance(b, Tensor):
            return _Rows(b)  # 1 b^T: the row, to be broadcast by what it meets
        if isinstance(a, _Const) or isinstance(b, _Const):
            return self._scale(a, b)
        if symbol == "*" and _same(a.shape[0], b.shape[0]) and _same(a.shape[1], b.shape[1]) \
                and (_same(a.shape[1], 1) or _same(a.shape[0], 1)) and not _same(a.shape[1], b.shape[0]):
            return self._op("mul", a, b)  # two same-shape vectors: entry by entry, as answers read *
        return self._op("matmul", a, b)

    def _do_juxtapose(self, tree: Tree) -> Tensor | _Const:
        head = tree.children[0]
        if isinstance(head, Tree) and head.data == "name" and self._is_function(str(head.children[0])):
            return self._apply(str(head.children[0]), [self._eval(tree.children[-1])])  # softplus(X): a row's name
        return self._product(*self._pair(tree), "")

    def _is_function(self, raw: str) -> bool:
        name = identifier(raw)
        return name in functions() and name not in self.bound and name not in self.forward.shapes

    def _do_matmul(self, tree: Tree) -> Tensor | _Const:
        return self._product(*self._pair(tree), "@")

    def _do_mul(self, tree: Tree) -> Tensor | _Const:
        return self._product(*self._pair(tree), "*")

    def _do_div(self, tree: Tree) -> Tensor | _Const:
        a, b = self._pair(tree, broadcast=True)
        if isinstance(b, _Const):
            if b.value == 0:
                raise ExpressionError(f"in {self.here!r}: division by 0")
            return _Const(a.value / b.value) if isinstance(a, _Const) else self._op("scale", a, factor=1 / b.value)
        inverse = self._op("reciprocal", b)
        if isinstance(a, _Const):
            return inverse if a.value == 1 else self._op("scale", inverse, factor=a.value)
        return self._times(a, inverse, "/")

    def _do_pow(self, tree: Tree) -> Tensor | _Const:
        base, exponent = self._pair(tree)
        if isinstance(exponent, Tensor):
            raise ExpressionError(f"in {self.here!r}: a power with a tensor exponent has no VJP rule; write exp(...)")
        if isinstance(base, _Const):
            return _Const(base.value ** exponent.value)
        p = sp.nsimplify(exponent.value)
        if p == 1:
            return base
        if p == sp.Rational(1, 2):
            return self._op("sqrt", base)
        if p == -1:
            return self._op("reciprocal", base)
        if p == sp.Rational(-1, 2):
            return self._op("reciprocal", self._op("sqrt", base))
        if p.is_Integer and 2 <= abs(p) <= 16:  # X^3 = X^2 ⊙ X, X^-3 = 1 / X^3
            result = self._op("square", base)
            for _ in range(abs(int(p)) - 2):
                result = self._op("mul", result, base)
            return result if p > 0 else self._op("reciprocal", result)
        raise ExpressionError(f"in {self.here!r}: no VJP rule for the power {p}; the rules have X^2 (and integer "
                              "powers up to 16), sqrt(X) and 1/X")

    def _do_transpose(self, tree: Tree) -> Tensor | _Const:
        x = self._eval(tree.children[0])
        if isinstance(x, _Const):
            if x.ones:
                raise ExpressionError(f"in {self.here!r}: 1^T X (column sums) is written colsum(X) here")
            return x
        return self._op("transpose", x)

    _do_prime = _do_transpose

    def _do_xcorr(self, tree: Tree) -> Tensor | _Const:
        a, b = self._pair(tree)
        if isinstance(a, _Const) or isinstance(b, _Const):
            raise ExpressionError(f"in {self.here!r}: ⋆ (cross-correlation) takes two tensors")
        return self._op("conv", a, b)

    def _do_sqrt(self, tree: Tree) -> Tensor | _Const:
        return self._apply("sqrt", [self._eval(tree.children[-1])])

    def _do_call1(self, tree: Tree) -> Tensor | _Const:
        return self._apply(str(tree.children[0]), [self._eval(tree.children[-1])])

    def _do_call(self, tree: Tree) -> Tensor | _Const:
        function, arguments = str(tree.children[0]), tree.children[1]
        return self._apply(function, [self._eval(a) for a in arguments.children])

    def _apply(self, function: str, args: list[Tensor | _Const]) -> Tensor | _Const:
        if function == "concat":  # [A, B, C]: features side by side, as multi-head attention joins heads
            if len(args) < 2 or any(isinstance(a, _Const) for a in args):
                raise ExpressionError(f"in {self.here!r}: concat takes two or more tensors")
            joined = args[0]
            for other in args[1:]:
                joined = self._op("concat", joined, other)
            return joined
        known = functions()
        if function not in known:
            raise ExpressionError(f"in {self.here!r}: {function}(...) has no VJP rule; the functions are "
                                  f"{', '.join(sorted(known))}")
        if len(args) != 1:
            raise ExpressionError(f"in {self.here!r}: {function} takes one argument; got {len(args)}")
        (x,) = args
        if isinstance(x, _Const):
            from verify.homework.language import _FUNCTIONS  # sqrt(d_k): a number, as the answers read it

            if function not in _FUNCTIONS:
                raise ExpressionError(f"in {self.here!r}: {function} of a constant; it takes a tensor")
            return _Const(_FUNCTIONS[function](x.value))
        return self._op(known[function], x)


_CONSTRUCTS = {
    "sum_over": "a sum over an index (sum_k)", "extremum_over": "max_j / min_j", "abs": "|x|",
    "indicator": "an indicator", "cases": "cases", "bracketed": "an entry p[i]", "call_entry": "an entry of a call",
    "entry_of": "an entry (...)_i", "frac_entry": "an entry", "derivative": "a derivative f'(x)",
    "glued_e": "a number glued to e (2e)", "call_power": "a power of a function", "ternary": "if/else",
}


# Ops at symbolic sizes up to which the entrywise check is exact at two small sizes; a larger model
# (12 encoder layers: about 800 ops) is compared at random points at size 1 only (12 s for those 800).
_EXACT_UP_TO = 120
# Ops along the longest path: an entry of a deeper chain (tanh of tanh of ... of sums) grows
# geometrically with it, and its zero test with it (8 tanh layers at size 2: minutes).
_EXACT_DEPTH = 16


def register(forward: Forward) -> str:
    """Put the forward among the graph models (graphs.models.MODELS) under its name, so that every
    route that takes a model name (route.py's statuses, check.py, compile.py, draw.py) takes it.

    >>> from graphs.models import MODELS
    >>> name = register(read_forward("L = sum(X ⊙ X)", {"X": "n,d"}, name="demo_square"))
    >>> MODELS[name].check_sizes
    ({'n': 1, 'd': 2}, {'n': 2, 'd': 1})
    """
    from graphs.models import MODELS, ModelSpec

    existing = MODELS.get(forward.name)
    if existing is not None and getattr(existing.build, "__self__", None) != forward:
        raise ExpressionError(f"{forward.name!r} already names a model; give the forward another name")
    import networkx as nx

    graph = forward.build().graph
    ops = sum(1 for _, data in graph.nodes(data=True) if data["op"] != "input")
    if ops <= _EXACT_UP_TO and nx.dag_longest_path_length(graph) <= _EXACT_DEPTH:
        MODELS[forward.name] = ModelSpec(forward.build, forward.check_sizes())
    else:  # a stack of layers: too large or deep to write out entry by entry; checked by numbers in torch
        from graphs.check import NUMERIC_CHECKS

        sizes = forward.check_sizes()
        MODELS[forward.name] = ModelSpec(forward.build, sizes, exact=False)
        NUMERIC_CHECKS[forward.name] = partial(_numeric_check, forward, sizes)
    return forward.name


def claim_formulas(
    forward: Forward, claims: Mapping[str, str], sizes: Mapping[str, int] | None = None,
) -> tuple[Model, dict[str, sp.Basic]]:
    """The forward's model and, for each claim (a matrix expression in the forward's names: its
    inputs and named steps, in the same language), the matrix formula it reads as.

    >>> f = read_forward("H = X W; L = sum(H ⊙ H)", {"X": "n,d", "W": "d,k"})
    >>> model, formulas = claim_formulas(f, {"W": "2 X^T H"})
    >>> formulas["W"]
    2*X.T*H
    """
    from verify.homework.language import InvalidAnswer, _parser, normalise

    given = {size_symbol(k): sp.Integer(v) for k, v in (sizes or {}).items()}
    reader = _Reader(forward, given)
    model = reader.model()
    before = set(model.graph)
    formulas: dict[str, sp.Basic] = {}
    for name, text in claims.items():
        try:
            source = normalise(f"C = {text}")
            (step,) = _parser("program").parse(source).children
        except (InvalidAnswer, UnexpectedInput, ValueError) as error:
            raise ExpressionError(f"the claim for {name} ({text!r}) cannot be read: {str(error).splitlines()[0]}") from None
        reader.here = text
        outer = reader.forward
        reader.forward = Forward(source, forward.shapes, forward.wrt, forward.domains, forward.name, step)
        value = reader._eval(step.children[-1])
        reader.forward = outer
        if isinstance(value, _Const):
            raise ExpressionError(f"the claim for {name} ({text!r}) is a constant, not a gradient")
        formulas[name] = model.graph.nodes[value.node]["value"]
    model.graph.remove_nodes_from(set(model.graph) - before)  # the claims' own nodes: not part of the forward
    return model, formulas


def _numeric_check(forward: Forward, grid: tuple[dict[str, int], ...], draws: int = 3) -> list[Any]:
    """A deep or large forward's model check: all its compiled gradients against torch autograd of
    its op-by-op forward, one autograd call per drawn example (sizes 3 to 5), within verify's
    float64 tolerance taken against the example's largest gradient of any input: a layer whose
    gradient has vanished to rounding (1e-19 beside gradients of 1) is judged by the rounding of the
    whole backward, not by its own size. ``numeric``, or ``failed`` with the input and the sizes."""
    import torch

    from graphs.check import ModelCheck
    from verify.check import TOLERANCES
    from verify.compile import compile_model
    from verify.reference import gradients
    from verify.strategies import make

    tolerance = TOLERANCES[torch.float64]
    compiled = compile_model(forward.name)
    generator = torch.Generator().manual_seed(0)
    for draw in range(draws):
        sizes = {n: 3 + (k + draw) % 3 for k, n in enumerate(forward.size_names)}
        model = forward.build(sizes)
        # weights as initialised (variance 1 / fan_in) unless a domain was declared: a stack of layers
        # fed standard normal weights saturates
        tensors = {data["label"]: make("weight" if data["role"] == "parameter" and data.get("kind", "real") == "real"
                                       else data.get("kind", "real"),
                                       (2, *(int(d) for d in data["shape"])), generator, torch.float64)
                   for _, data in model.graph.nodes(data=True) if data["op"] == "input"}
        tensors = {k: v for k, v in tensors.items() if k in compiled.inputs}
        expected = gradients(partial(_loss_of, model), compiled.targets, tensors)
        got = compiled(**tensors)
        scale = max(float(e.abs().max()) for e in expected) if expected else 0.0
        for target, reference in zip(compiled.targets, expected):
            error = (got[target] - reference).abs()
            if not bool((error <= tolerance.atol * scale + tolerance.rtol * reference.abs()).all()):
                shown = ", ".join(f"{k}={v}" for k, v in sizes.items())
                return [ModelCheck(forward.name, sizes, "failed", f"d{target} at {shown}: the compiled gradient and "
                                   f"torch autograd differ by {float(error.max()):.3g} (largest gradient {scale:.3g})")]
    return [ModelCheck(forward.name, grid[0], "numeric", f"too deep or large to write out entry by entry: every "
                       f"compiled gradient agreed with torch autograd on {draws} drawn examples, sizes 3 to 5")]




def _loss_of(model: Model, **leaves: Any) -> Any:
    from verify.graph_forward import loss

    return loss(model, leaves)
