"""Homework problems written from a forward: the key is derived, never typed, and no catalog claim is named.

An instructor gives the forward in the expression language (verify/expression.py), the shapes and
the input whose gradient is asked::

    [[problem]]
    id = "hw.mse"
    statement = "L = sum of squares of X W - Y. Give dL/dW."
    forward = "L = sum((X W - Y) ⊙ (X W - Y))"
    shapes = { X = "n,d", W = "d,k", Y = "n,k" }
    wrt = "W"
    answer = "2 X^T (X W - Y)"

The forward is built at each grading size (graphs/graph.py), its inputs and named steps written
out as explicit matrices of entry symbols (``graphs.check.explicit_values``), and reverse mode's
adjoint of ``wrt`` (``graphs.backprop``) written out in them is the key, exactly as
``graphs.check.check_model`` writes an adjoint out to prove it; the file does not load unless that
check passes at every grading size. ``wrt`` is any input of the built forward (``W_1`` of a
``repeat`` block's ``W_l``). The answers' context is the whole
forward: every declared input and every named step (``S``, ``A``, ``H_1``) may appear in an answer
as a matrix of its shape, and the sizes as numbers (``d_k``).

Sizes: each size of the forward gets 2 or 3, the other way round at the second sizes (``n = 2,
d = 3``, then ``n = 3, d = 2``), so that every size is above 1 (``rowsum(G)`` is not ``G``) and
differs between the two (a missing ``1/sqrt(d_k)`` is a size, not a constant); ``sizes = [...]``
in the file overrides them.

Diagnosed mistakes are generated from the derived gradient's matrix form with verify/mutants.py's
mutation kinds (a factor dropped, a transpose dropped, a product's factors swapped, a term
dropped), each printed back in the answer language and kept only where it reads back as the same
matrix and differs from the key at every size. A sign slip and a constant or size factor (2,
``1/sqrt(d_k)``) are diagnosed by the grader itself.

>>> p = forward_problem("demo.mse", "Give dL/dW.", "L = sum((X W - Y) ⊙ (X W - Y))",
...                     {"X": "n,d", "W": "d,k", "Y": "n,k"}, "W")
>>> p.sizes
({'n': 2, 'd': 3, 'k': 4}, {'n': 3, 'd': 4, 'k': 2})
>>> key_text(p), p.mistakes["X^T (X W - Y)"]
('2 X^T (X W - Y)', 'a factor 2 is missing')
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sympy as sp

from .problems import Problem, Use

__all__ = ["ForwardProblem", "ForwardProblemError", "ForwardSpec", "answer_text", "default_sizes",
           "forward_problem", "generated_mistakes", "key_text", "public"]

_MOST_SIZES, _LARGEST_SIZE = 4, 6  # each size is written out entry by entry and graded at load
_MOST_GENERATED = 12  # generated mistakes kept per problem
_MOST_TRIED = 40  # mutants read back per problem (a deep forward's key has hundreds of places to mutate)


class ForwardProblemError(ValueError):
    """A forward problem that cannot be built: one line, saying what is wrong."""


@dataclass(frozen=True)
class ForwardSpec:
    """What a forward problem is asked on: the forward's text, the declared shapes, the input whose
    gradient is asked and the inputs' domains (as verify/expression.py reads them). Hashable, so
    that settings are built once per spec and sizes."""

    text: str
    shapes: tuple[tuple[str, str], ...]
    wrt: str
    domains: tuple[tuple[str, str], ...] = ()

    def forward(self) -> Any:
        """The forward, read once (``verify.expression.Forward``)."""
        return _read(self)


@lru_cache(maxsize=256)
def _read(spec: ForwardSpec) -> Any:
    from verify.expression import ExpressionError, read_forward

    try:
        # every input with a gradient: wrt may be one layer's input of a repeat (W_1 of W_l)
        return read_forward(spec.text, dict(spec.shapes), wrt=None, domains=dict(spec.domains))
    except ExpressionError as error:
        raise ForwardProblemError(f"the forward does not read: {error}") from None


@dataclass(frozen=True)
class _Setting:
    """A forward at integer sizes: each quantity's explicit matrix, the key and its matrix form."""

    values: Mapping[str, sp.Matrix]
    key: sp.ImmutableMatrix
    formula: sp.Basic  # the key in matrix form (reverse mode's expanded adjoint)
    symbols: Mapping[str, sp.MatrixSymbol]  # each quantity's symbol in formulas
    shapes: Mapping[str, tuple[int, int]]
    inputs: tuple[str, ...]  # the quantities that are the forward's inputs (the others are named steps)
    output: str  # the loss, which no answer needs


@lru_cache(maxsize=256)
def _at(spec: ForwardSpec, sizes: tuple[tuple[str, int], ...]) -> _Setting:
    """The forward built at ``sizes``, its values written out and the key derived."""
    from graphs.backprop import backprop
    from graphs.check import explicit_values
    from graphs.matrices import explicit

    model = spec.forward().build(dict(sizes))
    by_symbol = explicit_values(model)
    values, symbols, shapes = {}, {}, {}
    for node, data in model.graph.nodes(data=True):
        if data["op"] == "input" or data["label"]:
            values[node], symbols[node] = by_symbol[data["value"]], data["value"]
            shapes[node] = tuple(int(s) for s in data["shape"])
    inputs = tuple(node for node, data in model.graph.nodes(data=True) if data["op"] == "input")
    adjoints = backprop(model)
    if spec.wrt not in adjoints.adjoint:  # no path from wrt to the loss: its gradient is 0
        rows, cols = shapes[spec.wrt]
        return _Setting(values, sp.ImmutableMatrix.zeros(rows, cols), sp.ZeroMatrix(rows, cols), symbols, shapes, inputs,
                        model.output)
    formula = adjoints.adjoint[spec.wrt]
    key = sp.ImmutableMatrix(explicit(formula, by_symbol))
    return _Setting(values, key, formula, symbols, shapes, inputs, model.output)


_EXACT_UP_TO = 120  # ops: beyond this the key's check compares numbers (as verify/expression.py's register does)


@lru_cache(maxsize=256)
def _proved_at(spec: ForwardSpec, sizes: tuple[tuple[str, int], ...]) -> str:
    """The key's entrywise check at these sizes (graphs.check.check_model: reverse mode's adjoint
    against the exact derivative of the loss): its kind, or the failure's words."""
    from graphs.check import check_model

    model = spec.forward().build(dict(sizes))
    ops = sum(1 for _, data in model.graph.nodes(data=True) if data["op"] != "input")
    outcome = check_model(model.name, dict(sizes), model=model, exact=ops <= _EXACT_UP_TO, only=(spec.wrt,))
    return outcome.kind if outcome.kind != "failed" else f"failed: {outcome.detail}"


def _proved(spec: ForwardSpec, sizes: Mapping[str, int]) -> None:
    """Refuse a key that its entrywise check fails (a VJP rule wrong for this forward): grading
    against it would mark a class wrong in silence."""
    kind = _proved_at(spec, tuple((n, int(sizes[n])) for n in spec.forward().size_names))
    if kind.startswith("failed"):
        raise ForwardProblemError(f"the derived gradient by {spec.wrt} fails its entrywise check at sizes "
                                  f"{dict(sizes)} ({kind[:160]}); this forward cannot be graded")


def _key(spec: ForwardSpec, sizes: Mapping[str, int]) -> _Setting:
    names = spec.forward().size_names
    return _at(spec, tuple((n, int(sizes[n])) for n in names))


@dataclass(frozen=True)
class _Quantity:
    """A forward quantity's value at the problem's sizes (a ``Use.env``): compared by what it is, so
    that the same file loaded twice is the same problem."""

    spec: ForwardSpec
    name: str

    def __call__(self, env: Mapping[str, Any], sizes: Mapping[str, int]) -> sp.Matrix:
        return sp.Matrix(_key(self.spec, sizes).values[self.name])


@dataclass(frozen=True)
class _Constant:
    """A constant of the forward (``epsilon``) as the key holds it."""

    symbol: sp.Symbol

    def __call__(self, env: Mapping[str, Any], sizes: Mapping[str, int]) -> sp.Expr:
        return self.symbol


@dataclass(frozen=True)
class _DerivedKey:
    """The derived key in place of the carrier entry's (a ``Problem.key_from``)."""

    spec: ForwardSpec

    def __call__(self, key: sp.Matrix, env: Mapping[str, Any], sizes: Mapping[str, int]) -> sp.Matrix:
        return sp.Matrix(_key(self.spec, sizes).key)


@dataclass(frozen=True)
class ForwardProblem(Problem):
    """A problem whose key is derived from a forward (``spec``), not taken from a catalog claim.
    ``generated`` are the mistakes generated from the key (the others in ``mistakes`` are the
    instructor's)."""

    spec: ForwardSpec | None = None
    generated: tuple[str, ...] = field(default=(), compare=False)

    def public(self) -> dict[str, Any]:
        """What a student may read: the built-in fields, the forward and the shapes; never the key.

        >>> p = forward_problem("demo.pub", "Give dL/dW.", "L = sum(X W)", {"X": "n,d", "W": "d,k"}, "W")
        >>> d = p.public()
        >>> d["forward"], d["wrt"], "key" in d, sorted(d["symbols"])
        ('L = sum(X W)', 'W', False, ['W', 'X', 'd', 'k', 'n'])
        """
        assert self.spec is not None
        return {**super().public(), "forward": self.spec.text, "shapes": dict(self.spec.shapes), "wrt": self.spec.wrt}


def default_sizes(size_names: Sequence[str]) -> tuple[dict[str, int], ...]:
    """Two grading sizes from 2, 3 and 4, in which any two sizes differ in at least one (so that
    2/n^2 is not taken for 2/(n k)) and every size is above 1 (``rowsum(G)`` is not ``G``).

    >>> default_sizes(("n", "d_k"))
    ({'n': 2, 'd_k': 3}, {'n': 3, 'd_k': 2})
    >>> default_sizes(())
    ({},)
    """
    from verify.expression import size_grid

    return size_grid(size_names, 2)


def _sizes(spec: ForwardSpec, given: Sequence[Mapping[str, Any]] | None) -> tuple[dict[str, int], ...]:
    names = spec.forward().size_names
    if given is None:
        return default_sizes(names)
    if not isinstance(given, list | tuple) or not given or not all(isinstance(s, Mapping) for s in given):
        raise ForwardProblemError("sizes must be a list of tables like { n = 2, d = 3 }")
    if len(given) > _MOST_SIZES:
        raise ForwardProblemError(f"sizes: at most {_MOST_SIZES} tables (each is written out entry by entry)")
    out = []
    for table in given:
        unknown = sorted(set(table) - set(names))
        missing = [n for n in names if n not in table]
        if unknown or missing:
            raise ForwardProblemError(f"sizes {dict(table)}: the forward's sizes are {', '.join(names) or 'none'}"
                                      + (f"; {unknown[0]!r} is not one" if unknown else f"; {missing[0]!r} is missing"))
        if not all(type(v) is int and 1 <= v <= _LARGEST_SIZE for v in table.values()):
            raise ForwardProblemError(f"sizes {dict(table)}: each size is an integer from 1 to {_LARGEST_SIZE}")
        out.append({n: int(table[n]) for n in names})
    return tuple(out)


def _uses(spec: ForwardSpec, sizes: Mapping[str, int]) -> tuple[dict[str, Use], dict[str, Use]]:
    """The declared inputs and sizes (listed symbols), and the forward's named steps (context)."""
    setting = _key(spec, sizes)
    inputs = {name: Use("matrix", _Quantity(spec, name), meaning=f"input {name} ({_dims(spec, name)})")
              for name in setting.inputs}
    for size in spec.forward().size_names:
        if size not in inputs:
            inputs[size] = Use("size", size, meaning="a size of the forward")
    constants = {s for s in setting.key.free_symbols if s.name == "epsilon"}
    for constant in constants:
        inputs.setdefault(constant.name, Use("scalar", _Constant(constant), meaning="the forward's constant"))
    steps = {name: Use("matrix", _Quantity(spec, name), meaning=f"the forward's step {name} ({_dims(spec, name)})")
             for name in setting.shapes if name not in inputs and name in setting.values and name != setting.output}
    return inputs, steps


def _dims(spec: ForwardSpec, name: str) -> str:
    """A quantity's shape in the forward's size names (``n x d_k``), from the symbolic build."""
    data = _symbolic(spec).graph.nodes[name]
    return " x ".join(str(s) for s in data["shape"])


@lru_cache(maxsize=64)
def _symbolic(spec: ForwardSpec) -> Any:
    """The forward's model at symbolic sizes."""
    return spec.forward().build()


def forward_problem(
    pid: str, statement: str, forward: str, shapes: Mapping[str, str], wrt: str, *,
    sizes: Sequence[Mapping[str, Any]] | None = None, domains: Mapping[str, str] | None = None,
    mistakes: Mapping[str, str] | None = None, answer: str = "", star: str = "product", sign: str = "",
    generate: bool = True,
) -> ForwardProblem:
    """A problem whose key is reverse mode's gradient of ``forward`` by ``wrt`` (an input of the
    built forward: ``W_1`` of a repeat's ``W_l``), with generated mistakes (``generate``) beside
    the instructor's. Not yet registered (problem_file.register checks and registers it).
    ``ForwardProblemError`` (one line) for a forward that does not read or whose key fails its check.

    >>> p = forward_problem("demo.attn", "Give dL/dK.", "S = Q K^T / sqrt(d_k); A = softmax(S); L = sum(G ⊙ (A V))",
    ...                     {n: "n,d_k" for n in "QKVG"}, "K")
    >>> sorted(p.context), p.entry != "attention"
    (['A', 'S'], True)
    """
    if not isinstance(wrt, str) or not wrt.strip():
        raise ForwardProblemError("wrt names one declared input, like wrt = \"W\"")
    if not isinstance(shapes, Mapping) or not shapes or not all(
            isinstance(k, str) and isinstance(v, str | list) for k, v in shapes.items()):
        raise ForwardProblemError("shapes must be a table like { X = \"n,d\", W = \"d,k\" }")
    flat = tuple((k, v if isinstance(v, str) else ",".join(map(str, v))) for k, v in shapes.items())
    spec = ForwardSpec(forward, flat, wrt.strip(), tuple(sorted((domains or {}).items())))
    spec.forward()  # ForwardProblemError when it does not read
    graph = _symbolic(spec).graph
    inputs_there = [n for n, data in graph.nodes(data=True) if data["op"] == "input"]
    if spec.wrt not in inputs_there:
        raise ForwardProblemError(f"wrt = {wrt!r} is not an input of the forward; its inputs are "
                                  f"{', '.join(inputs_there)}")
    chosen = _sizes(spec, sizes)
    entry, claim = "", spec.wrt  # no catalog claim: problems._setting takes the derived key
    try:
        inputs, steps = _uses(spec, chosen[0])
        for at in chosen:
            _proved(spec, at)
    except (ArithmeticError, LookupError, TypeError, ValueError) as error:
        if isinstance(error, ForwardProblemError):
            raise
        raise ForwardProblemError(f"the forward cannot be written out at sizes {chosen[0]}: {error}") from None
    p = ForwardProblem(pid, entry, claim, statement, inputs, chosen, mistakes=dict(mistakes or {}), answer=answer,
                       context=steps, star=star, sign=sign, key_from=_DerivedKey(spec), spec=spec)
    shown = answer or key_text(p)  # what grade(..., reveal=True) shows: the reference answer, else the key
    own = dict(mistakes or {})
    extra = {text: words for text, words in generated_mistakes(p).items() if text not in own} if generate else {}
    return ForwardProblem(pid, entry, claim, statement, inputs, chosen, mistakes={**own, **extra}, answer=shown,
                          context=steps, star=star, sign=sign, key_from=_DerivedKey(spec), spec=spec,
                          generated=tuple(extra))


# --- the key in the answer language ---------------------------------------------------------------
class _Unprintable(Exception):
    """A formula with a construct the answer language does not write (a column of row sums)."""


def _scalar_text(value: sp.Expr) -> str:
    text = sp.sstr(value)
    return text.replace("**", "^")


def _atom(expr: sp.Basic) -> str:
    text = answer_text(expr)
    simple = isinstance(expr, sp.MatrixSymbol | sp.Transpose)  # X^T and (A + B)^T bind like a symbol
    return text if simple or _is_call(expr) else f"({text})"


def _is_call(expr: sp.Basic) -> bool:
    from derive.notation import RowSum, Softmax
    from graphs.matrices import Apply

    return isinstance(expr, (RowSum, Softmax)) or (isinstance(expr, Apply) and expr.function in _CALLS)


_CALLS = {"exp": "exp", "log": "log", "sqrt": "sqrt", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu"}


def answer_text(expr: sp.Basic) -> str:
    """A matrix formula of reverse mode in the answer language, read back by the grader.

    >>> A, G, V = (sp.MatrixSymbol(n, 2, 2) for n in "AGV")
    >>> from graphs.matrices import add, hadamard, matmul, neg, rowsum
    >>> dS = hadamard(A, add(G * V.T, neg(rowsum(hadamard(G * V.T, A)))))
    >>> answer_text(matmul(1 / sp.sqrt(sp.Symbol("d_k", positive=True)), dS, V))
    '1/sqrt(d_k) (A ⊙ (G V^T - rowsum((G V^T) ⊙ A))) V'
    """
    from derive.notation import RowSum, Softmax
    from graphs.matrices import Apply, BroadcastRows, Ones, neg

    if isinstance(expr, sp.MatrixSymbol):
        return str(expr.name)
    if isinstance(expr, sp.Transpose):
        return f"{_atom(expr.arg)}^T"
    if isinstance(expr, sp.MatMul):
        coefficient, matrices = expr.as_coeff_matrices()
        sign = ""
        if coefficient.could_extract_minus_sign():
            sign, coefficient = "-", -coefficient
        parts = [] if coefficient == 1 else [_scalar_text(coefficient) if coefficient.is_Atom or coefficient.is_Pow
                                             or coefficient.is_Mul else f"({_scalar_text(coefficient)})"]
        return sign + " ".join(parts + [_atom(m) for m in matrices])
    if isinstance(expr, sp.MatAdd):
        out = []
        for number, term in enumerate(expr.args):
            coefficient = term.as_coeff_matrices()[0] if isinstance(term, sp.MatMul) else sp.S.One
            negative = coefficient.could_extract_minus_sign()
            text = answer_text(neg(term) if negative else term)  # -term would fold A A into A**2
            if isinstance(term, sp.MatAdd):
                text = f"({text})"
            out.append(("-" if number == 0 else " - ") + text if negative else (text if number == 0 else " + " + text))
        return "".join(out)
    if isinstance(expr, sp.HadamardProduct):
        return " ⊙ ".join(_atom(a) for a in expr.args)
    if isinstance(expr, RowSum):
        return f"rowsum({answer_text(expr.args[0])})"
    if isinstance(expr, Softmax):
        return f"softmax({answer_text(expr.args[0])})"
    if isinstance(expr, BroadcastRows) and isinstance(expr.args[0], sp.Transpose):
        return f"1 {answer_text(expr.args[0])}"
    if isinstance(expr, Apply):
        if expr.function in _CALLS:
            return f"{_CALLS[expr.function]}({answer_text(expr.args[0])})"
        if expr.function == "reciprocal":
            return f"1/{_atom(expr.args[0])}"
        if expr.function == "square":
            return f"{_atom(expr.args[0])} ⊙ {_atom(expr.args[0])}"
    if isinstance(expr, Ones) and expr.shape == (1, 1):
        return "1"
    raise _Unprintable(type(expr).__name__)


def key_text(p: ForwardProblem) -> str:
    """The derived key in the answer language (or, where it writes a construct the language lacks,
    in graphs/text.py's notation): what ``--reveal`` shows."""
    assert p.spec is not None
    formula = _key(p.spec, p.sizes[0]).formula
    symbolic = _symbolic_formula(p.spec)
    try:
        return answer_text(symbolic if symbolic is not None else formula)
    except _Unprintable:
        from graphs.text import formula_text

        return formula_text(symbolic if symbolic is not None else formula)


@lru_cache(maxsize=256)
def _symbolic_formula(spec: ForwardSpec) -> sp.Basic | None:
    """The key at symbolic sizes (``1/sqrt(d_k)``, not ``sqrt(2)/2``), for showing and for mutating:
    reverse mode's expanded adjoint, tidied (``_tidy``) where the tidy form is the same matrix at
    the default sizes; None where the loss does not depend on ``wrt``."""
    from graphs.backprop import backprop

    raw = backprop(_symbolic(spec)).adjoint.get(spec.wrt)
    if raw is None:
        return None
    tidy = _tidy(raw)
    if tidy == raw:
        return raw
    sizes = default_sizes(spec.forward().size_names)[0]
    setting = _key(spec, sizes)
    point = _point(random.Random(1), set().union(*(sp.Matrix(v).free_symbols for v in setting.values.values())))
    by_symbol = {symbol: _numeric(setting.values[name], point) for name, symbol in setting.symbols.items()}
    try:
        from derive.notation import size
        from graphs.matrices import explicit

        at = {size(n): sp.Integer(v) for n, v in sizes.items()}
        same = explicit(tidy.xreplace(at), by_symbol), explicit(raw.xreplace(at), by_symbol)
        a, b = (_number(m, point) for m in same)
    except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError, NotImplementedError):
        return raw
    return tidy if a is not None and b is not None and len(a) == len(b) and _close(a, b) else raw


def _tidy(expr: sp.Basic) -> sp.Basic:
    """A matrix formula as a person writes it: ``X ⊙ (1/X)`` cancelled, a Hadamard product taken
    through a sum where that cancels (softmax's backward after a log: ``P ⊙ (rowsum(Y) - (1/P) ⊙
    Y)`` is ``P ⊙ rowsum(Y) - Y``), equal terms merged (``2 X^T (X W - Y)``).

    >>> X, Y = sp.MatrixSymbol("X", 2, 2), sp.MatrixSymbol("Y", 2, 2)
    >>> from graphs.matrices import Apply, add, hadamard, matmul, neg
    >>> answer_text(_tidy(add(matmul(X.T, add(X, neg(Y))), matmul(X.T, add(X, neg(Y))))))
    '2 X^T (X - Y)'
    >>> answer_text(_tidy(hadamard(X, add(Y, neg(hadamard(Apply(X, "reciprocal"), Y))))))
    'X ⊙ Y - Y'
    """
    from derive.notation import RowSum
    from graphs.matrices import matmul, scaled, split_scalar, transpose

    if not getattr(expr, "is_Matrix", False) or isinstance(expr, sp.MatrixSymbol) or not expr.args:
        return expr
    args = [_tidy(a) if getattr(a, "is_Matrix", False) else a for a in expr.args]
    if isinstance(expr, sp.HadamardProduct):
        return _tidy_hadamard(args)
    if isinstance(expr, sp.MatAdd):
        return _tidy_add(args)
    if isinstance(expr, sp.MatMul):
        return matmul(*args)
    if isinstance(expr, sp.Transpose):
        return transpose(args[0])
    if isinstance(expr, RowSum):
        coefficient, matrix = split_scalar(args[0])
        return scaled(coefficient, RowSum(matrix))
    return expr.func(*args)


def _reciprocal(x: sp.Basic) -> sp.Basic:
    from graphs.matrices import Apply

    return x.args[0] if isinstance(x, Apply) and x.function == "reciprocal" else Apply(x, "reciprocal")


def _tidy_hadamard(args: Sequence[sp.Basic]) -> sp.Basic:
    from graphs.matrices import Ones, hadamard, scaled, split_scalar

    coefficient, product = split_scalar(hadamard(*args))
    if not isinstance(product, sp.HadamardProduct):
        return scaled(coefficient, product)
    factors = list(product.args)
    for factor in list(factors):  # X ⊙ (1/X) is all ones
        if factor in factors and _reciprocal(factor) in factors and factor != _reciprocal(factor):
            factors.remove(factor)
            factors.remove(_reciprocal(factor))
    if not factors:
        return scaled(coefficient, Ones(*product.shape))
    for k, factor in enumerate(factors):  # P ⊙ (A - (1/P) ⊙ Y): through the sum, where a reciprocal cancels
        others = factors[:k] + factors[k + 1:]
        if isinstance(factor, sp.MatAdd) and any(
                _reciprocal(o) in sp.preorder_traversal(term) for o in others for term in factor.args):
            return scaled(coefficient, _tidy_add([_tidy_hadamard([*others, term]) for term in factor.args]))
    return scaled(coefficient, factors[0] if len(factors) == 1 else sp.HadamardProduct(*factors))


def _tidy_add(args: Sequence[sp.Basic]) -> sp.Basic:
    from graphs.matrices import add, scaled, split_scalar

    flat = add(*args)
    terms = flat.args if isinstance(flat, sp.MatAdd) else (flat,)
    merged: dict[sp.Basic, sp.Expr] = {}
    for term in terms:
        coefficient, matrix = split_scalar(term)
        merged[matrix] = merged.get(matrix, sp.S.Zero) + coefficient
    kept = [scaled(c, m) for m, c in merged.items() if c != 0]
    if not kept:
        return sp.ZeroMatrix(*flat.shape)
    return add(*kept)


# --- generated mistakes ---------------------------------------------------------------------------
_MESSAGES = {
    "factor dropped": "a factor {removed} is missing",
    "transpose swapped": "a transpose is missing: write {removed}^T",
    "term dropped": "a term is missing: {removed}",
    "wrong index": "the factors of a product are in the wrong order: {removed}",
}


def generated_mistakes(p: ForwardProblem) -> dict[str, str]:
    """Mistakes generated from the key's matrix form at symbolic sizes (verify/mutants.py's sites),
    each printed in the answer language: kept where the text reads back as the mutated formula and
    differs from the key at every size of ``p``.

    >>> p = forward_problem("demo.k", "Give dL/dK.", "S = Q K^T / sqrt(d_k); A = softmax(S); L = sum(G ⊙ (A V))",
    ...                     {n: "n,d_k" for n in "QKVG"}, "K", generate=False)
    >>> said = generated_mistakes(p)
    >>> said["1/sqrt(d_k) (A ⊙ (G V^T - rowsum((G V^T) ⊙ A))) Q"], said["1/sqrt(d_k) (A ⊙ (G V^T))^T Q"]
    ('a transpose is missing: write (A ⊙ (G V^T - rowsum((G V^T) ⊙ A)))^T', 'a term is missing: -rowsum((G V^T) ⊙ A)')
    """
    from verify.mutants import sites

    assert p.spec is not None
    formula = _symbolic_formula(p.spec)
    if formula is None:
        return {}
    out: dict[str, str] = {}
    tried = 0
    for site in sites(formula):
        if len(out) >= _MOST_GENERATED or tried >= _MOST_TRIED:
            break
        try:
            text = answer_text(site.formula)
            removed = (_scalar_text(site.removed) if not isinstance(site.removed, sp.MatrixExpr) else
                       answer_text(site.removed) if site.kind == "term dropped" else _atom(site.removed))
        except _Unprintable:
            continue
        if text in out:
            continue
        tried += 1
        if not _faithful(p, text, site.formula):
            continue
        out[text] = _MESSAGES[site.kind].format(removed=removed)
    return out


def _faithful(p: ForwardProblem, text: str, formula: sp.Basic) -> bool:
    """Whether ``text`` reads back, at every size of ``p``, as ``formula`` written out, and differs
    from the key there (a mutant equal to the key cannot be told apart from a right answer). Both
    are evaluated at a random point from the quantities' numeric values, bottom-up: writing the
    entries out symbolically first takes seconds for attention at n = 3."""
    from derive.notation import size
    from graphs.matrices import explicit

    from .language import InvalidAnswer, parse
    from .problems import _vocabulary, _written_out

    assert p.spec is not None
    rng = random.Random(0)
    for sizes in p.sizes:
        setting = _key(p.spec, sizes)
        symbolic = _resolved_values(p, sizes)
        point = _point(rng, set().union(*(sp.Matrix(v).free_symbols if getattr(v, "is_Matrix", False)
                                          else sp.sympify(v).free_symbols for v in symbolic.values())))
        values = {name: _numeric(v, point) for name, v in symbolic.items()}
        by_symbol = {symbol: values[name] for name, symbol in setting.symbols.items() if name in values}
        try:
            read = _written_out(p, parse(text, _vocabulary(p, sizes, symbolic)), sizes, values)
            wanted = explicit(formula.xreplace({size(n): sp.Integer(v) for n, v in sizes.items()}), by_symbol)
            key = explicit(setting.formula, by_symbol)
        except (InvalidAnswer, ArithmeticError, LookupError, TypeError, ValueError, AttributeError,
                NotImplementedError, RecursionError):
            return False
        if not read.shape == wanted.shape == key.shape == setting.key.shape:
            return False
        a, b, c = (_number(m, point) for m in (read, wanted, key))
        if a is None or b is None or c is None or not _close(a, b) or _close(a, c):
            return False
    return True


def _resolved_values(p: ForwardProblem, sizes: Mapping[str, int]) -> dict[str, Any]:
    from .problems import _resolved

    return _resolved(p, sizes, {})


def _point(rng: random.Random, symbols: set[sp.Symbol]) -> dict[sp.Symbol, sp.Float]:
    """A random point: positive entries (and epsilon) in (0.5, 2), the others in (-2, 2)."""
    return {s: sp.Float(rng.uniform(0.5, 2.0) if s.is_positive else rng.uniform(-2.0, 2.0), 30)
            for s in sorted(symbols, key=str)}


def _numeric(value: Any, point: Mapping[sp.Symbol, sp.Float]) -> Any:
    """A quantity's value at the point, entry by entry (a matrix stays a matrix)."""
    if getattr(value, "is_Matrix", False):
        return sp.Matrix(value).applyfunc(lambda e: sp.N(e.xreplace(point), 30))
    return sp.N(sp.sympify(value).xreplace(point), 30)


def _number(m: sp.Matrix, point: Mapping[sp.Symbol, sp.Float]) -> list[complex] | None:
    try:
        return [complex(sp.N(e.xreplace(point).doit(), 30)) for e in m]
    except (TypeError, ValueError, ArithmeticError):
        return None


def _close(a: list[complex], b: list[complex]) -> bool:
    scale = 1.0 + max((abs(x) for x in a + b), default=0.0)
    return all(abs(x - y) <= 1e-12 * scale for x, y in zip(a, b))


def public(p: Any, reveal: bool = False) -> dict[str, Any]:
    """What ``gradproof problems`` shows of any problem; with ``reveal`` (``--reveal``), the key too:
    a forward problem's derived key (``key``) and, where the instructor wrote one, the reference
    answer (``answer``). A built-in or catalog problem shows its reference answer.

    >>> p = forward_problem("demo.rev", "Give dL/dW.", "L = sum((X W - Y) ⊙ (X W - Y))",
    ...                     {"X": "n,d", "W": "d,k", "Y": "n,k"}, "W", answer="2 X^T (X W - Y)")
    >>> "key" in public(p), public(p, reveal=True)["key"], public(p, reveal=True)["answer"]
    (False, '2 X^T (X W - Y)', '2 X^T (X W - Y)')
    """
    shown = p.public()
    if not reveal:
        return shown
    if isinstance(p, ForwardProblem):
        shown["key"] = key_text(p)
    if getattr(p, "answer", ""):
        shown["answer"] = p.answer
    return shown

