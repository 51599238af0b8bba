"""Deliberately wrong formulas, to show that the checker fails them (a check that cannot fail is a
defect: DESIGN.md).

Each mutation is one mistake a student or an engineer makes, applied to the formula a route
compiles:

- ``sign flipped``: the whole gradient negated;
- ``factor dropped``: one factor of a product left out (``1/sqrt(d_k)``, ``O(1-O)``, ``1/N``);
- ``transpose swapped``: a transpose left out (matrix form), or the result transposed (entrywise);
- ``term dropped``: one term of a sum left out (softmax's backward without the row-sum);
- ``wrong index``: an input read at the wrong index (entrywise: entries of one input rotated), or
  a product's operands swapped (matrix form).

A mutation can happen to give the same function (dropping a factor that is 1, transposing a
symmetric result); ``distinct`` tells those apart numerically so that the tests demand failure
only of mutants that are really wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

if TYPE_CHECKING:
    from .check import Candidate
    from .targets import Target

__all__ = ["KINDS", "Mutant", "Site", "entrywise_mutants", "matrix_mutants", "mutants_for", "sites"]

KINDS = ("sign flipped", "factor dropped", "transpose swapped", "term dropped", "wrong index")


@dataclass(frozen=True)
class Mutant:
    kind: str
    where: str  # what was changed, for messages
    formula: object  # an sp.Matrix (entrywise) or {node: local formula} overrides (matrix form)


# --- rewriting one subexpression ----------------------------------------------------------------
def _rewrite_first(expr: sp.Basic, change: Callable[[sp.Basic], sp.Basic | None],
                   matrices_only: bool = False) -> tuple[sp.Basic, str] | None:
    """Apply ``change`` at the first node (preorder) where it applies; the rewritten tree and what changed.

    ``matrices_only`` keeps to matrix subformulas: a shape like ``h - k + 1`` is not a formula to mutate.
    """
    try:
        replaced = change(expr)
    except (TypeError, ValueError, sp.ShapeError):  # the change does not make a well-formed formula here
        replaced = None
    if replaced is not None and replaced != expr:
        return replaced, str(expr)[:60]
    for position, arg in enumerate(expr.args):
        if not isinstance(arg, sp.Basic) or (matrices_only and not getattr(arg, "is_Matrix", False)):
            continue
        inner = _rewrite_first(arg, change, matrices_only)
        if inner is not None:
            args = list(expr.args)
            args[position] = inner[0]
            try:
                return expr.func(*args), inner[1]
            except (TypeError, ValueError, sp.ShapeError):
                continue
    return None


def _drop_factor(node: sp.Basic) -> sp.Basic | None:
    if isinstance(node, sp.Mul) and len(node.args) >= 2:
        coefficient, rest = node.as_coeff_Mul()
        if coefficient not in (1, -1):
            return sp.Mul(sp.sign(coefficient), rest)
        factors = [a for a in node.args if a != -1]
        return sp.Mul(*[a for a in node.args if a is not factors[-1]]) if len(factors) >= 2 else None
    if isinstance(node, sp.MatMul):
        coefficient, matrices = node.as_coeff_matrices()
        if coefficient not in (1, -1):
            return sp.MatMul(*matrices) if len(matrices) > 1 else matrices[0]
        return None
    if isinstance(node, sp.HadamardProduct) and len(node.args) >= 2:
        return node.args[0] if len(node.args) == 2 else sp.HadamardProduct(*node.args[:-1])
    return None


def _drop_term(node: sp.Basic) -> sp.Basic | None:
    if isinstance(node, (sp.Add, sp.MatAdd)) and len(node.args) >= 2:
        return node.func(*node.args[:-1]) if len(node.args) > 2 else node.args[0]
    return None


def _drop_transpose(node: sp.Basic) -> sp.Basic | None:
    return node.arg if isinstance(node, sp.Transpose) else None


def _swap_operands(node: sp.Basic) -> sp.Basic | None:
    """Index confusions of the matrix form: ``A B`` as ``B A``, a sum over rows as one over columns,
    a correlation's image and kernel exchanged."""
    from graphs import matrices as mx

    if isinstance(node, sp.MatMul):
        coefficient, matrices = node.as_coeff_matrices()
        if len(matrices) >= 2:
            swapped = sp.MatMul(*reversed(matrices))
            return swapped if coefficient == 1 else sp.MatMul(coefficient, *reversed(matrices))
    if isinstance(node, mx.RowSums):
        return mx.ColSums(node.args[0]).T
    if isinstance(node, mx.ColSums):
        return mx.RowSums(node.args[0]).T
    if isinstance(node, mx.Corr):
        return mx.Corr(node.args[1], node.args[0])
    if isinstance(node, mx.FullConv):  # commutative: the kernel read transposed instead
        return mx.FullConv(node.args[0], node.args[1].T)
    if isinstance(node, mx.MaxUnpool):  # the gradient routed to each window's minimum
        return mx.MaxUnpool(node.args[0], -node.args[1], node.args[2])
    return None


# --- entrywise: mutate an explicit matrix of scalars --------------------------------------------
def _each_entry(m: sp.Matrix, change: Callable[[sp.Basic], sp.Basic | None]) -> sp.Matrix | None:
    changed = False
    out = []
    for entry in m:
        result = _rewrite_first(entry, change)
        changed = changed or result is not None
        out.append(result[0] if result else entry)
    return sp.Matrix(m.rows, m.cols, out) if changed else None


def _rotate_one_input(m: sp.Matrix) -> tuple[sp.Matrix, str] | None:
    """Read one input at the wrong index: its entries rotated by one (x_1 -> x_2 -> ... -> x_1)."""
    groups: dict[str, list[sp.Symbol]] = {}
    for symbol in sorted(m.free_symbols, key=lambda s: s.name):
        base = symbol.name.rsplit("_", 1)[0] if "_" in symbol.name else ""
        if base:
            groups.setdefault(base, []).append(symbol)
    for base, symbols in groups.items():
        if len(symbols) >= 2:
            rotation = {s: symbols[(k + 1) % len(symbols)] for k, s in enumerate(symbols)}
            return m.xreplace(rotation), f"entries of {base} read one place over"
    return None


def entrywise_mutants(formula: sp.Matrix) -> Iterator[Mutant]:
    """The mutations of an entrywise formula that change it syntactically.

    >>> x, y = sp.symbols("x_1 x_2")
    >>> [m.kind for m in entrywise_mutants(sp.Matrix([[2 * x * y + x, y], [x, 0]]))]
    ['sign flipped', 'factor dropped', 'transpose swapped', 'term dropped', 'wrong index']
    """
    yield Mutant("sign flipped", "the whole result", -formula)
    dropped = _each_entry(formula, _drop_factor)
    if dropped is not None:
        yield Mutant("factor dropped", "the first product of each entry", dropped)
    if formula.rows == formula.cols and formula.rows > 1:
        yield Mutant("transpose swapped", "the result transposed", formula.T)
    elif formula.rows > 1 and formula.cols > 1:  # a vector has no other order to be read in
        yield Mutant("transpose swapped", "the result read in the other order",
                     sp.Matrix(formula.rows, formula.cols, list(formula.T)))
    term = _each_entry(formula, _drop_term)
    if term is not None:
        yield Mutant("term dropped", "the last term of the first sum in each entry", term)
    rotated = _rotate_one_input(formula)
    if rotated is not None:
        yield Mutant("wrong index", rotated[1], rotated[0])


# --- matrix form: mutate the local adjoint formulas of graphs/' reverse mode ---------------------
def matrix_mutants(local: dict[str, sp.Basic], order: Sequence[str]) -> Iterator[Mutant]:
    """Mutations of the local adjoint formulas; each kind at the first node of ``order`` (the target's
    own formula first, then the adjoints it is made from) where it applies.

    >>> A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    >>> [m.kind for m in matrix_mutants({"X": sp.MatAdd(A.T * B, B) / 2}, ["X"])]
    ['sign flipped', 'factor dropped', 'transpose swapped', 'term dropped', 'wrong index']
    """
    first = order[0]
    yield Mutant("sign flipped", f"d{first}", {first: -local[first]})
    for kind, change in (("factor dropped", _drop_factor), ("transpose swapped", _drop_transpose),
                         ("term dropped", _drop_term), ("wrong index", _swap_operands)):
        for node in order:
            result = _rewrite_first(local[node], change, matrices_only=True)
            if result is not None:
                yield Mutant(kind, f"in d{node}: {result[1]}", {node: result[0]})
                break


# --- every single change of one matrix formula, with what it removed: a problem's diagnoses -------
@dataclass(frozen=True)
class Site:
    """One mutation at one place of a formula: the whole mutated formula, and the part it removed
    (the dropped factor or term, the transpose left out, the product whose factors were swapped),
    for a message such as "a term is missing: rowsum(dA ⊙ A)"."""

    kind: str
    formula: sp.Basic
    removed: sp.Basic


def _dropped_factors(node: sp.Basic) -> Iterator[tuple[sp.Basic, sp.Basic]]:
    """Each factor of a product left out in turn: a scalar coefficient (``1/sqrt(d_k)``, 2), a
    matrix of a Hadamard product. Leaving out a matrix of a matrix product changes its shape."""
    if isinstance(node, sp.MatMul):
        coefficient, matrices = node.as_coeff_matrices()
        factors = [f for f in sp.Mul.make_args(coefficient) if f not in (1, -1)]
        for factor in factors:
            rest = sp.Mul(*[f for f in sp.Mul.make_args(coefficient) if f is not factor])
            yield (sp.MatMul(rest, *matrices) if rest != 1 or len(matrices) > 1 else matrices[0]), factor
    elif isinstance(node, sp.HadamardProduct):
        for position, factor in enumerate(node.args):
            rest = [a for k, a in enumerate(node.args) if k != position]
            yield (rest[0] if len(rest) == 1 else sp.HadamardProduct(*rest)), factor


def _dropped_terms(node: sp.Basic) -> Iterator[tuple[sp.Basic, sp.Basic]]:
    if isinstance(node, sp.MatAdd):
        for position, term in enumerate(node.args):
            rest = [a for k, a in enumerate(node.args) if k != position]
            yield (rest[0] if len(rest) == 1 else sp.MatAdd(*rest)), term


def _dropped_transposes(node: sp.Basic) -> Iterator[tuple[sp.Basic, sp.Basic]]:
    if isinstance(node, sp.Transpose):
        yield node.arg, node.arg


def _swapped(node: sp.Basic) -> Iterator[tuple[sp.Basic, sp.Basic]]:
    if isinstance(node, sp.MatMul):
        swapped = _swap_operands(node)
        if swapped is not None:
            yield swapped, node


_SITE_CHANGES = (("factor dropped", _dropped_factors), ("transpose swapped", _dropped_transposes),
                 ("term dropped", _dropped_terms), ("wrong index", _swapped))


def _rebuilt(expr: sp.Basic, path: tuple[int, ...], replacement: sp.Basic) -> sp.Basic:
    if not path:
        return replacement
    args = list(expr.args)
    args[path[0]] = _rebuilt(args[path[0]], path[1:], replacement)
    return expr.func(*args)


def _places(expr: sp.Basic, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], sp.Basic]]:
    """Every matrix subformula with its path of argument positions, preorder."""
    yield path, expr
    for position, arg in enumerate(expr.args):
        if isinstance(arg, sp.Basic) and getattr(arg, "is_Matrix", False):
            yield from _places(arg, path + (position,))


def sites(formula: sp.Basic) -> Iterator[Site]:
    """Every single mutation of a matrix formula, kind by kind, each place from the outside in:
    each factor, term and transpose left out in turn, each product's factors swapped. Shapes are
    not checked here (a dropped transpose may not fit): the caller keeps what it can evaluate.

    >>> A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    >>> [(s.kind, str(s.formula), str(s.removed)) for s in sites(A.T * B + 2 * B)]
    [('factor dropped', 'B + A.T*B', '2'), ('transpose swapped', 'A*B + 2*B', 'A'), ('term dropped', 'A.T*B', '2*B'), \
('term dropped', '2*B', 'A.T*B'), ('wrong index', '2*B + B*A.T', 'A.T*B')]
    """
    places = list(_places(formula))
    for kind, change in _SITE_CHANGES:
        for path, node in places:
            try:
                found = list(change(node))
            except (TypeError, ValueError, sp.ShapeError):
                continue
            for replacement, removed in found:
                try:
                    yield Site(kind, _rebuilt(formula, path, replacement), removed)
                except (TypeError, ValueError, sp.ShapeError):  # not a well-formed formula here
                    continue


# --- a target's mutants, compiled, with whether each is really a different function -------------
def mutants_for(target: Target, route: str) -> list[tuple[Mutant, Candidate, bool]]:
    """Every mutant of a target's formula on one route, compiled, and whether it differs from the
    correct formula at a random point (at the largest sizes the route draws, so that a factor
    like ``1/sqrt(d_k)`` is not 1 there).

    >>> from verify.targets import targets_for
    >>> [(m.kind, distinct) for m, _, distinct in mutants_for(targets_for(("attention:dQ",))[0], "matrix")][:2]
    [('sign flipped', True), ('factor dropped', True)]
    """
    import networkx as nx
    import torch

    from graphs.backprop import backprop

    from .check import (
        entrywise_candidate,
        entrywise_formula,
        graph_model,
        inputs_for,
        matrix_candidate,
    )
    from .strategies import Draw

    if route == "entrywise":
        sizes = dict(target.entrywise.sizes)
        correct = entrywise_candidate(target)
        built = [(m, entrywise_candidate(target, m.formula)) for m in entrywise_mutants(entrywise_formula(target))]
    else:
        assert target.matrix is not None
        ranges = target.matrix.sizes or target.small
        sizes = _largest(ranges, target, route)
        m = graph_model(target.matrix.model, target.matrix.cut)
        adjoints = backprop(m)
        own = target.matrix.adjoints[0]
        upstream = nx.descendants(m.graph, own)
        order = [own] + [n for n in reversed(adjoints.order) if n in upstream and m.graph.nodes[n]["label"]
                         and n != m.output]
        correct = matrix_candidate(target)
        built = [(mu, matrix_candidate(target, mu.formula)) for mu in matrix_mutants(dict(adjoints.local), order)]
    # A batch of 16: with labels in {-1, 1}, y - t is 0 in half the problems, and a probe of two
    # would often see every gradient vanish.
    tensors = inputs_for(target, Draw(sizes, seed=12345, scale=1.0), 16, torch.float64, "cpu")
    right = correct(tensors, sizes)
    out = []
    for mutant, candidate in built:
        try:
            wrong = candidate(tensors, sizes)
            distinct = wrong.shape != right.shape or bool(
                ((wrong - right).abs() > 1e-9 * (1 + right.abs().max())).any())
        except Exception:  # noqa: BLE001 - a mutant that does not even run is certainly wrong
            distinct = True
        out.append((mutant, candidate, distinct))
    return out


def _largest(ranges: dict, target: Target, route: str) -> dict[str, int]:
    """The largest sizes in ``ranges`` that the target's size rules accept."""
    import itertools

    from .check import _combined_rule

    rule = _combined_rule(target, route)  # type: ignore[arg-type]
    names = list(ranges)
    for values in itertools.product(*[range(ranges[n][1], ranges[n][0] - 1, -1) for n in names]):
        sizes = dict(zip(names, values))
        if rule is None or rule(sizes):
            return sizes
    raise ValueError(f"{target.key}: no sizes in {ranges} satisfy its rules")
