"""Route 1 applied to route 2: every VJP rule proven entrywise against the exact derivative.

For one rule at one example: the inputs become explicit matrices of symbols (positive where the
rule says so), the forward formula is expanded to its entries, and for each input the
vector-Jacobian product ``sum_ij G_ij d out_ij / d x`` is taken exactly (route 1's derivatives:
``derive.spec.grad``, taken by the zero test on polynomials). The rule's matrix
formula, expanded at the same sizes, must equal it exactly (``derive.proof.compare_matrices``:
``proved``, or ``failed`` with an entry and a point).

These proofs hold at the example shapes only; graphs/prove_index.py proves the same rows at
symbolic shapes (every size), and its table falls back on these for a row it cannot write in
index form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

from derive.atoms import matrix
from derive.proof import Comparison, compare_matrices
from derive.spec import grad

from .matrices import explicit
from .ops import RULES
from .rule import Example, Rule

__all__ = ["RuleProof", "prove_example", "prove_rule", "rule_proofs", "vjp_entrywise"]


@dataclass(frozen=True)
class RuleProof:
    """The outcome of proving one rule at every example of the table."""

    rule: str
    kind: str  # "proved", "numeric" or "failed"
    shapes: tuple[str, ...]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "proved"


def vjp_entrywise(out: sp.Matrix, entries: sp.Matrix, g: sp.Matrix) -> sp.Matrix:
    """``sum_ij g_ij d out_ij / d x`` for every entry ``x``: the VJP, entry by entry.

    >>> x = sp.Matrix([sp.Symbol("x")])
    >>> vjp_entrywise(sp.Matrix([[x[0] ** 2]]), x, sp.Matrix([[3]])).doit()
    Matrix([[6*x]])

    The derivatives are left unevaluated (``derive.spec.grad``): the zero test takes them.
    """
    if not set(entries) & sp.Matrix(g).free_symbols:  # g is constant: one scalar, one derivative per entry
        return grad(sp.Add(*[g[i, j] * out[i, j] for i in range(out.rows) for j in range(out.cols)]), entries)
    pairs = [(g[i, j], out[i, j]) for i in range(out.rows) for j in range(out.cols) if g[i, j] != 0]
    return entries.applyfunc(lambda x: sp.Add(*[weight * sp.Derivative(value, x) for weight, value in pairs]))


def _inputs(rule: Rule, shapes: tuple) -> tuple[list[sp.MatrixSymbol], dict[sp.MatrixSymbol, sp.Matrix]]:
    symbols = [sp.MatrixSymbol(name, *shape) for name, shape in zip(rule.args, shapes)]
    values = {
        symbol: matrix(symbol.name, *symbol.shape, **({"positive": True} if rule.domain.get(symbol.name) == "positive" else {"real": True}))
        for symbol in symbols
    }
    return symbols, values


def prove_example(rule: Rule, example: Example, seed: int = 0) -> Comparison:
    """Prove one rule at one example's shapes: every input's VJP formula against the exact derivative.

    >>> from graphs.ops import rule
    >>> prove_example(rule("matmul"), (((2, 3), (3, 2)), {})).kind
    'proved'
    """
    shapes, params = example
    symbols, values = _inputs(rule, shapes)
    ans = rule.output(*symbols, **params)
    out = explicit(ans, values)
    g_symbol = sp.MatrixSymbol("G", *ans.shape)
    g = matrix("G", *out.shape)
    values_with_g = {**values, g_symbol: g}
    for argnum, symbol in enumerate(symbols):
        derived = vjp_entrywise(out, values[symbol], g)
        where = f"{rule.name} w.r.t. {symbol.name} at {_shapes_text(shapes, params)}: "
        try:
            claimed = explicit(rule.vjp(argnum, ans, symbols, params, g_symbol), values_with_g)
        except (sp.matrices.exceptions.ShapeError, ValueError, IndexError) as error:
            return Comparison("failed", f"{where}the rule's formula cannot be built: {error}")
        outcome = compare_matrices(derived, claimed, seed=seed, where=where)
        if outcome.kind != "proved":
            return outcome
    return Comparison("proved")


def _shapes_text(shapes: tuple, params: Mapping[str, Any]) -> str:
    text = ", ".join("x".join(str(s) for s in shape) for shape in shapes)
    shown = {k: v for k, v in params.items() if not isinstance(v, sp.MatrixBase)}
    return text + (f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else "")


def prove_rule(rule: Rule) -> RuleProof:
    """Prove a rule at every example of its row.

    >>> from graphs.ops import rule
    >>> prove_rule(rule("softmax")).kind
    'proved'
    """
    shown = []
    for seed, example in enumerate(rule.examples):
        outcome = prove_example(rule, example, seed)
        shown.append(_shapes_text(*example))
        if outcome.kind != "proved":
            return RuleProof(rule.name, outcome.kind, tuple(shown), outcome.detail)
    return RuleProof(rule.name, "proved", tuple(shown))


@cache
def rule_proofs(names: tuple[str, ...] | None = None) -> dict[str, RuleProof]:
    """Proofs of the named rules (all of them by default), computed once per process."""
    return {name: prove_rule(RULES[name]) for name in (names or tuple(RULES))}
