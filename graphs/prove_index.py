"""Every VJP rule proved at symbolic shapes, in index notation: true for every size.

For one rule: its inputs become matrix symbols of symbolic sizes (``A: n x k``), the forward
output's entry ``out[i, j]`` is written in index form (sums over ``k = 0..K-1``), and the exact
VJP entry is ``dX[a, b] = sum_ij G[i, j] d out[i, j] / d X[a, b]``: ``sympy.diff`` of ``X[i, k]``
by ``X[a, b]`` gives Kronecker deltas, which ``derive.indexcalc.collapse_in_ranges`` resolves
with explicit range indicators (dropped only where the ranges of ``a`` and ``b`` prove them).
The rule's own matrix formula (the VJP column of graphs/ops.py, not a copy of it) is translated
to its entry ``(a, b)`` by :func:`entry`, and the difference must reduce to 0 with
``derive.indexcalc.index_zero`` (sums compared summand by summand, then the rational zero test).

A rule whose forward cannot be written at symbolic sizes (pooling windows of symbolic width,
``vec``'s floor division) says so in its row (``Rule.shape_only``) and keeps its entrywise
proofs at the row's example shapes (graphs/prove.py); :func:`rule_proof_table` lists both kinds.

>>> index_proof("matmul").kind
'proved'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from derive.atoms import Exp, Step
from derive.errors import GradproofError
from derive.indexcalc import Between, canonical_sums, collapse_in_ranges, index_diff, index_zero
from derive.notation import RowSum, Softmax, size

from .matrices import (
    Apply,
    AvgPool,
    BroadcastCols,
    BroadcastRows,
    ColSums,
    Columns,
    Concat,
    Corr,
    Fill,
    Flatten,
    FullConv,
    Indicator,
    LogSoftmax,
    Masked,
    MaxPool,
    MaxUnpool,
    Ones,
    RowSums,
    Total,
    Unflatten,
    Upsample,
)
from .ops import RULES
from .rule import Rule

__all__ = [
    "FirstMax", "IndexProof", "NoIndexForm", "MASKED", "entry", "index_proof", "proof_row", "prove_index", "rule_proof_table",
    "every_size_rules", "table_seconds",
]

# The value of a masked entry (-inf in torch): a constant, independent of every input entry.
MASKED = sp.Symbol("masked")
_DEFAULT_SHAPES = (("n", "m"),)


class NoIndexForm(GradproofError):
    """A matrix formula this module cannot write entry by entry at symbolic sizes."""


@dataclass(frozen=True)
class IndexProof:
    """One rule at symbolic shapes: ``proved`` (every size), ``failed`` (a residual that did not
    reduce to 0, or a formula of the wrong shape), or ``unavailable`` (no index form: ``detail``
    says why). ``entries`` holds each input's VJP entry as proved, for reading."""

    rule: str
    kind: str
    shapes: str  # "A: n x k, B: k x m"
    detail: str = ""
    entries: tuple[str, ...] = ()
    assumes: tuple[str, ...] = ()  # what the index form takes as given (a 0/1 mask)

    @property
    def ok(self) -> bool:
        return self.kind == "proved"


def _fresh(name: str = "k") -> sp.Dummy:
    return sp.Dummy(name, integer=True)


def _total(summand: sp.Expr, index: sp.Symbol, count: sp.Expr) -> sp.Expr:
    """``sum_{index=0}^{count-1} summand``; a range of one is the entry at 0, not a sum."""
    if count == 1:
        return summand.subs(index, 0)
    return sp.Sum(summand, (index, 0, count - 1))


def entry(expr: sp.Basic, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    """Entry ``(i, j)`` of a matrix formula of graphs/matrices.py at symbolic sizes, in index form:
    a matrix symbol ``X`` becomes ``X[i, j]`` (an ``Indexed``), a product a sum over its inner
    size.

    >>> n, k, m = size("n"), size("k"), size("m")
    >>> A, B = sp.MatrixSymbol("A", n, k), sp.MatrixSymbol("B", k, m)
    >>> i, j = sp.symbols("i j", integer=True)
    >>> e = entry(A * B.T.T, i, j)
    >>> (e.function, e.limits[0][1:])
    (A[i, _k]*B[_k, j], (0, k - 1))
    """
    if isinstance(expr, sp.MatrixSymbol):
        return sp.IndexedBase(expr.name)[i, j]
    if isinstance(expr, MatrixElement):
        return entry(expr.parent, *expr.indices)
    for kinds, write in _WRITERS:
        if isinstance(expr, kinds):
            return write(expr, i, j)
    if isinstance(expr, sp.MatrixExpr) and hasattr(expr, "_entry"):
        try:
            value = expr._entry(i, j)
        except (ValueError, TypeError, IndexError) as error:
            raise NoIndexForm(f"{type(expr).__name__} has no entry at symbolic sizes ({error})") from None
        return value.replace(lambda e: isinstance(e, MatrixElement), lambda e: entry(e.parent, *e.indices))
    raise NoIndexForm(f"no index form for {type(expr).__name__}")


def _matmul(expr: sp.MatMul, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    scalars = sp.Mul(*[a for a in expr.args if not getattr(a, "is_Matrix", False)])
    factors = [a for a in expr.args if getattr(a, "is_Matrix", False)]
    indices = [i] + [_fresh() for _ in factors[1:]] + [j]
    product = sp.Mul(*[entry(f, indices[n], indices[n + 1]) for n, f in enumerate(factors)])
    for n, factor in enumerate(factors[:-1]):
        product = _total(product, indices[n + 1], factor.shape[1])
    return scalars * product


def _corr(expr: Corr, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    x, k = expr.args
    a, b = _fresh("a"), _fresh("b")
    return _total(_total(entry(x, i + a, j + b) * entry(k, a, b), b, k.shape[1]), a, k.shape[0])


def _full_conv(expr: FullConv, p: sp.Expr, q: sp.Expr) -> sp.Expr:
    # G zero outside its own range: the indicators say where G[p - a, q - b] is an entry of G.
    g, k = expr.args
    (h, w), a, b = g.shape, _fresh("a"), _fresh("b")
    inside = Between(p - a, 0, h - 1) * Between(q - b, 0, w - 1)
    return _total(_total(entry(g, p - a, q - b) * entry(k, a, b) * inside, b, k.shape[1]), a, k.shape[0])


def _concat(expr: Concat, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    x, y = expr.args
    left, right = x.shape[1], y.shape[1]
    return entry(x, i, j) * Between(j, 0, left - 1) + entry(y, i, j - left) * Between(j, left, left + right - 1)


def _row_total(x: sp.Basic, i: sp.Expr, write=lambda e: e) -> sp.Expr:
    k = _fresh()
    return _total(write(entry(x, i, k)), k, x.shape[1])


def _softmax(expr: Softmax, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    x = expr.args[0]
    return Exp(entry(x, i, j)) / _row_total(x, i, Exp)


def _log_softmax(expr: LogSoftmax, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    x = expr.args[0]
    return entry(x, i, j) - sp.log(_row_total(x, i, Exp))


def _masked(expr: Masked, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    # With a 0/1 mask entry m: m x + (1 - m) masked is x where kept and the constant elsewhere.
    keep = entry(expr.args[1], i, j)
    return keep * entry(expr.args[0], i, j) + (1 - keep) * MASKED


def _total_all(expr: Total, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    x = expr.args[0]
    r, c = _fresh("r"), _fresh("c")
    return _total(_total(entry(x, r, c), c, x.shape[1]), r, x.shape[0])


def _col_total(expr: ColSums, i: sp.Expr, j: sp.Expr) -> sp.Expr:
    x, k = expr.args[0], _fresh()
    return _total(entry(x, k, j), k, x.shape[0])


_WRITERS: tuple[tuple[Any, Any], ...] = (
    ((sp.ZeroMatrix,), lambda e, i, j: sp.S.Zero),
    ((sp.OneMatrix, Ones), lambda e, i, j: sp.S.One),
    ((sp.Identity,), lambda e, i, j: sp.KroneckerDelta(i, j)),
    ((sp.MatMul,), _matmul),
    ((sp.MatAdd,), lambda e, i, j: sp.Add(*[entry(a, i, j) for a in e.args])),
    ((sp.HadamardProduct,), lambda e, i, j: sp.Mul(*[entry(a, i, j) for a in e.args])),
    ((sp.Transpose,), lambda e, i, j: entry(e.arg, j, i)),
    ((Apply,), lambda e, i, j: e.spelling.scalar(entry(e.args[0], i, j))),
    ((Indicator,), lambda e, i, j: Step(entry(e.args[0], i, j))),
    ((RowSums, RowSum), lambda e, i, j: _row_total(e.args[0], i)),
    ((ColSums,), _col_total),
    ((Total,), _total_all),
    ((Fill,), lambda e, i, j: entry(e.args[0], 0, 0)),
    ((BroadcastCols,), lambda e, i, j: entry(e.args[0], i, 0)),
    ((BroadcastRows,), lambda e, i, j: entry(e.args[0], 0, j)),
    ((Softmax,), _softmax),
    ((LogSoftmax,), _log_softmax),
    ((Masked,), _masked),
    ((Corr,), _corr),
    ((FullConv,), _full_conv),
    ((Concat,), _concat),
    ((Columns,), lambda e, i, j: entry(e.args[0], i, j + e.args[1])),
    ((MaxUnpool,), lambda e, p, q: entry(e.args[0], sp.floor(p / e.args[2]), sp.floor(q / e.args[2]))
     * _window_position(e.args[1], p, q, e.args[2])),
    ((Upsample,), lambda e, p, q: entry(e.args[0], sp.floor(p / e.args[1]), sp.floor(q / e.args[1]))),
    ((Unflatten,), lambda e, i, j: entry(e.args[0], 0, i * e.args[2] + j)),
)


class FirstMax(sp.Function):
    """``FirstMax(X, i, j, a, b, k)``: 1 when entry ``(a, b)`` of the ``k x k`` window ``(i, j)`` of
    ``X`` is its first maximum, else 0. Opaque, and locally constant in ``X`` (its derivative is 0
    wherever the maximum is strict), as ``derive.atoms.IsMax`` is at concrete sizes."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero


def _window_position(x: sp.Basic, p: sp.Expr, q: sp.Expr, k: sp.Expr) -> sp.Expr:
    """``FirstMax`` of the window holding ``X[p, q]``, at ``X[p, q]``'s place in it."""
    i, j = sp.floor(p / k), sp.floor(q / k)
    return FirstMax(sp.Symbol(x.name), i, j, p - k * i, q - k * j, k)


def _tiled_loss(ans: sp.Basic) -> tuple[sp.Expr, str] | None:
    """``sum_ij G[i, j] out[i, j]`` for an op whose output entries tile its input, summed over the
    input's entries instead (each is in exactly one output entry), with the bijection it uses.

    Average pooling: ``(i, a) -> i k + a`` maps ``[0, H) x [0, k)`` onto ``[0, kH)``, so
    ``sum_i sum_a F(i, i k + a) = sum_p F(floor(p / k), p)``; ``vec``: ``(r, c) -> r m + c`` maps
    ``[0, n) x [0, m)`` onto ``[0, nm)``.
    """
    p, q = _fresh("p"), _fresh("q")
    if isinstance(ans, AvgPool):
        x, k = ans.args
        g = sp.IndexedBase("G")[sp.floor(p / k), sp.floor(q / k)]
        loss = _total(_total(g * entry(x, p, q) / k**2, q, x.shape[1]), p, x.shape[0])
        return loss, "the windows tile X: (i, a) -> i k + a is a bijection of [0, h) x [0, k) onto [0, kh)"
    if isinstance(ans, MaxPool):
        # max over a window = sum over it of (first-maximum indicator) x entry, exactly.
        x, k = ans.args
        g = sp.IndexedBase("G")[sp.floor(p / k), sp.floor(q / k)]
        loss = _total(_total(g * _window_position(x, p, q, k) * entry(x, p, q), q, x.shape[1]), p, x.shape[0])
        return loss, ("the windows tile X, and a window's maximum is the sum of its entries times a first-maximum "
                      "indicator that is constant wherever the maximum is strict (ties go to the first, as in PyTorch)")
    if isinstance(ans, Flatten):
        x = ans.args[0]
        loss = _total(_total(sp.IndexedBase("G")[0, p * x.shape[1] + q] * entry(x, p, q), q, x.shape[1]), p, x.shape[0])
        return loss, "vec is a bijection: (r, c) -> r m + c maps [0, n) x [0, m) onto [0, nm)"
    return None


# What a formula's index form takes as given, by the classes in it: said with the proof.
_ASSUMES: tuple[tuple[type, str], ...] = (
    (Masked, "every mask entry is 0 or 1, and a masked entry (-inf) is a constant"),
    (Indicator, "relu'(0) = 0, PyTorch's convention (Step is 1 for x > 0, else 0)"),
)


def _assumptions(*formulas: sp.Basic) -> tuple[str, ...]:
    return tuple(text for kind, text in _ASSUMES if any(f.has(kind) or isinstance(f, kind) for f in formulas))


def _shapes(rule: Rule) -> tuple[tuple[tuple[sp.Expr, sp.Expr], ...], dict[str, Any]]:
    """The rule's symbolic shapes (its row's ``symbolic``; every input ``n x m`` by default)."""
    shapes, params = rule.symbolic or (_DEFAULT_SHAPES * len(rule.args), {})
    return tuple(tuple(size(s) if isinstance(s, str) else sp.sympify(s) for s in shape) for shape in shapes), dict(params)


def _shape_text(rule: Rule, shapes) -> str:
    return ", ".join(f"{name}: {r} x {c}" for name, (r, c) in zip(rule.args, shapes))


def _scalar_loss(out: sp.Expr, rows: sp.Expr, cols: sp.Expr, i: sp.Symbol, j: sp.Symbol) -> sp.Expr:
    """``sum_ij G[i, j] out[i, j]``. An output entry that is itself a sum (a product, a
    correlation) has its sum moved outside, so the deltas of ``i`` and ``j`` are resolved
    first and the result reads as the rule does (``sum_k G[a, k] B[b, k]``)."""
    g = sp.IndexedBase("G")[i if rows != 1 else 0, j if cols != 1 else 0]
    inner, limits = out, ()
    if isinstance(out, sp.Sum) and not any({i, j} & (lo.free_symbols | hi.free_symbols) for _, lo, hi in out.limits):
        inner, limits = out.function, out.limits
    loss = _total(_total(g * inner, j, cols), i, rows)
    return sp.Sum(loss, *limits) if limits else loss


def _readable(expr: sp.Expr, sizes: set[str]) -> str:
    """Bound indices named k, l, ... (SymPy's dummies print with a leading underscore), never a
    size's name: ``A: n x k`` must not read as if ``k`` were also the index of a sum."""
    expr = canonical_sums(expr)
    names = iter([name for name in "klmnorstuvwxyz" if name not in sizes and name not in ("a", "b")])
    renames = {s: sp.Symbol(next(names, s.name), integer=True) for s in sorted(
        (s for s in expr.free_symbols | {lim[0] for e in sp.preorder_traversal(expr) if isinstance(e, sp.Sum) for lim in e.limits}
         if s.name.startswith("_bound")), key=lambda s: s.name)}
    return sp.sstr(expr.xreplace(renames))


def prove_index(rule: Rule) -> IndexProof:
    """Prove a rule's VJP formulas at symbolic shapes (see the module docstring).

    >>> from graphs.ops import rule
    >>> proof = prove_index(rule("matmul"))
    >>> proof.kind, proof.shapes
    ('proved', 'A: n x k, B: k x m')
    >>> proof.entries[0]
    'dA[a, b] = Sum(B[b, l]*G[a, l], (l, 0, m - 1))'
    """
    if rule.shape_only:
        return IndexProof(rule.name, "unavailable", "", rule.shape_only)
    shapes, params = _shapes(rule)
    text = _shape_text(rule, shapes)
    symbols = [sp.MatrixSymbol(name, *shape) for name, shape in zip(rule.args, shapes)]
    sizes = {s.name for shape in shapes for n in shape for s in sp.sympify(n).free_symbols}
    try:
        ans = rule.output(*symbols, **params)
        i, j, a, b = sp.symbols("i j a b", integer=True)
        tiled = _tiled_loss(ans)
        loss = tiled[0] if tiled else _scalar_loss(entry(ans, i, j), *ans.shape, i, j)
        g_symbol = sp.MatrixSymbol("G", *ans.shape)
    except NoIndexForm as error:
        return IndexProof(rule.name, "unavailable", text, str(error))
    entries, formulas = [], [ans]
    for argnum, symbol in enumerate(symbols):
        rows, cols = symbol.shape
        at = (a if rows != 1 else sp.S.Zero, b if cols != 1 else sp.S.Zero)
        ranges = {s: (sp.S.Zero, n - 1) for s, n in zip(at, symbol.shape) if s.is_Symbol}
        derived = collapse_in_ranges(index_diff(loss, sp.IndexedBase(symbol.name)[at]), ranges)
        where = f"{rule.name} w.r.t. {symbol.name} at {text}"
        try:
            formula = rule.vjp(argnum, ans, symbols, params, g_symbol)
            formulas.append(formula)
            claimed = collapse_in_ranges(entry(formula, *at), ranges)
        except NoIndexForm as error:
            return IndexProof(rule.name, "unavailable", text, f"{where}: {error}")
        if any(sp.expand(x - y) != 0 for x, y in zip(formula.shape, symbol.shape)):
            return IndexProof(rule.name, "failed", text, f"{where}: the formula is {formula.shape[0]} x {formula.shape[1]}")
        residual = index_zero(derived - claimed)
        if residual != 0:
            return IndexProof(rule.name, "failed", text, f"{where}: d{symbol.name}[{at[0]}, {at[1]}] - formula "
                              f"reduces to {_readable(residual, sizes)}, not 0")
        entries.append(f"d{symbol.name}[{at[0]}, {at[1]}] = {_readable(claimed, sizes)}")
    assumes = _assumptions(*formulas) + ((tiled[1],) if tiled else ())
    return IndexProof(rule.name, "proved", text, entries=tuple(entries), assumes=assumes)


def index_proof(name: str) -> IndexProof:
    """:func:`prove_index` of the table's row ``name``, once per process and row: a row replaced in
    ``RULES`` (a test's wrong rule) is proved afresh, never read from the cache of the old one."""
    return _proof_of(RULES[name])


_PROOFS: dict[int, tuple[Rule, IndexProof]] = {}  # by the row's identity (rows hold dicts: unhashable)


def _proof_of(rule: Rule) -> IndexProof:
    if id(rule) not in _PROOFS or _PROOFS[id(rule)][0] is not rule:
        _PROOFS[id(rule)] = (rule, prove_index(rule))
    return _PROOFS[id(rule)][1]


_TIMING: list[float] = []  # seconds of the first table of this process


def proof_row(rule: Rule, proof: IndexProof | None = None) -> dict[str, Any]:
    """One row of :func:`rule_proof_table`: the index-form proof when it holds, else the rule's
    entrywise proofs at its example shapes (and why there is no index-form proof).

    >>> proof_row(RULES["transpose"])["detail"]
    'X: n x m; dX[a, b] = G[b, a]'
    """
    from .prove import prove_rule

    proof = proof or prove_index(rule)
    if proof.ok:
        return {"rule": rule.name, "status": "proved", "sizes": "every", "method": "index form at symbolic sizes",
                "detail": "; ".join([proof.shapes, *proof.entries, *(f"assuming {a}" for a in proof.assumes)])}
    shaped = prove_rule(rule)
    reason = proof.detail if proof.kind == "unavailable" else f"index form did not reduce: {proof.detail}"
    return {"rule": rule.name, "status": shaped.kind, "sizes": list(shaped.shapes), "method": "entrywise at shapes",
            "detail": reason if shaped.ok else f"{shaped.detail} ({reason})"}


@cache
def _table() -> tuple[dict[str, Any], ...]:
    start = time.perf_counter()
    rows = tuple(proof_row(rule, index_proof(name)) for name, rule in RULES.items())
    _TIMING.append(time.perf_counter() - start)
    return rows


def rule_proof_table() -> list[dict[str, Any]]:
    """Every rule of the VJP table with how it was proved, for ``gradproof rules [--json]``.

    Rows are ``{"rule", "status", "sizes", "method", "detail"}``: ``sizes`` is ``"every"`` for a
    proof in index form at symbolic sizes, else the list of shapes of the entrywise proofs.
    Computed once per process.

    >>> row = next(r for r in rule_proof_table() if r["rule"] == "softmax")
    >>> row["status"], row["sizes"], row["method"]
    ('proved', 'every', 'index form at symbolic sizes')
    """
    return [dict(row) for row in _table()]


def table_seconds() -> float | None:
    """Seconds the first :func:`rule_proof_table` of this process took (None before it ran)."""
    return _TIMING[0] if _TIMING else None


def every_size_rules() -> tuple[str, ...]:
    """Names of the rules proved at every size (in index form).

    >>> "matmul" in every_size_rules()
    True
    """
    return tuple(row["rule"] for row in _table() if row["sizes"] == "every")


def main() -> None:
    """Print the table and the counts (``python -m graphs.prove_index``)."""
    from .route import every_size_counts

    for row in rule_proof_table():
        sizes = "every size" if row["sizes"] == "every" else "shapes " + ", ".join(row["sizes"])
        print(f"{row['rule']:<12} {row['status']:<8} {sizes}")
    print(f"table proved in {table_seconds():.1f} s")
    counts = every_size_counts()
    print(f"rules proved at every size: {counts['rules_every_size']} of {counts['rules']}; "
          f"model matrix forms resting only on them: {counts['models_every_size']} of {counts['models']}")


if __name__ == "__main__":
    main()
