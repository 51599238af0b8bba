"""Sinusoidal positional encoding (LECTURE.md section 5).

``PE(pos, 2i) = sin(pos w_i)``, ``PE(pos, 2i + 1) = cos(pos w_i)``, ``w_i = 10000^{-2i/d_model}``.
No gradient here: the claims are the properties the lecture relies on, each checked by SymPy:
every (sin, cos) pair lies on the unit circle (so every entry is bounded by 1 and
``||PE(pos)||^2 = d_model / 2``); a shift by k is a rotation that depends on k only
(``PE(pos + k) = M_k PE(pos)``); and ``PE(pos) . PE(pos + k)`` depends on k only.
Positions and shifts are real symbols, so integer positions are covered.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..notation import size
from ..spec import Claim, IndexForm, Topic, grid, pair_claim
from ..theorems import Certificate, Inequality, Term, inequality_step
from ..types import Sizes, Step, SymbolSpec

_pos, _shift = sp.symbols("pos k", real=True)
_omega = sp.Symbol("omega", positive=True)


def frequencies(d_model: int) -> list[sp.Expr]:
    """``w_i = 10000^{-2i/d_model}`` for i = 0 .. d_model/2 - 1.

    >>> frequencies(4)
    [1, 1/100]
    """
    return [sp.Integer(10000) ** sp.Rational(-2 * i, d_model) for i in range(d_model // 2)]


def encoding(position: sp.Expr, d_model: int) -> sp.Matrix:
    """The column ``PE(position)`` of length ``d_model`` (even)."""
    out = []
    for w in frequencies(d_model):
        out += [sp.sin(position * w), sp.cos(position * w)]
    return sp.Matrix(out)


def _rotation(angle: sp.Expr) -> sp.Matrix:
    return sp.Matrix([[sp.cos(angle), sp.sin(angle)], [-sp.sin(angle), sp.cos(angle)]])


def build(sizes: Sizes) -> dict:
    d_model = 2 * sizes["half_d"]
    pe, shifted = encoding(_pos, d_model), encoding(_pos + _shift, d_model)
    rotation = sp.diag(*[_rotation(_shift * w) for w in frequencies(d_model)])
    pairs = sp.Matrix([pe[2 * i] ** 2 + pe[2 * i + 1] ** 2 for i in range(d_model // 2)])
    return {
        "PE": pe, "forward": sp.Add(*pe),
        "pairs": pairs,
        "norm": sp.Matrix([(pe.T * pe)[0]]),
        "shift": (shifted, rotation * pe),
        "dot": (sp.Matrix([(pe.T * shifted)[0]]), sp.Matrix([sp.Add(*[sp.cos(_shift * w) for w in frequencies(d_model)])])),
        "d_model": d_model,
    }


_GRID = grid(half_d=range(1, 5))
_d = size("d_model")
_i = sp.Symbol("i", integer=True)


_half = size("half_d")  # d_model / 2: d_model is even
_w = sp.IndexedBase("w", positive=True)


def _pythagoras(residual: sp.Expr) -> sp.Expr:
    """cos(x)^2 -> 1 - sin(x)^2 (the claim unit_circle), then sums of constants counted again."""
    from ..indexcalc import canonical_sums, collapse_deltas

    rewritten = residual.replace(
        lambda e: e.is_Pow and isinstance(e.base, sp.cos) and e.exp == 2, lambda e: 1 - sp.sin(e.base.args[0]) ** 2
    )
    return canonical_sums(collapse_deltas(rewritten))


def _pe_pair(position: sp.Expr) -> sp.Matrix:
    return sp.Matrix([sp.sin(position * _omega), sp.cos(position * _omega)])


def _bound(entry: Callable[[sp.Expr], sp.Expr], partner: Callable[[sp.Expr], sp.Expr], name: str) -> Inequality:
    """1 - PE(pos, k)^2 >= 0 for the entries of one kind (sin or cos) at a symbolic frequency w."""
    angle = _pos * _omega
    return Inequality(
        key="entries_bounded",
        statement="every entry of PE lies in [-1, 1]: 1 - PE(pos, k)^2 >= 0",
        reason=f"1 - {name}^2 = (its partner)^2 >= 0 on the unit circle, at a symbolic frequency w, so for every "
        "entry, position and d_model",
        sides=lambda sizes: (sp.S.One, entry(angle) ** 2),
        relation="<=",
        names={f"PE(pos, {'2i' if name == 'sin' else '2i+1'})": entry(angle)},
        assumptions=lambda sizes: {},
        certificate=lambda sizes: Certificate(1 - entry(angle) ** 2, (Term(partner(angle) ** 2),)),
        points=lambda sizes, rng: [{_pos: sp.Rational(rng.randint(-500, 500), 7), _omega: sp.Rational(rng.randint(1, 100), 100)}
                                   for _ in range(12)],
        sizes=({"pair": 1},),
        # The frequency and the position are symbols: this certificate is already the general one.
        symbolic=lambda: Certificate(1 - entry(angle) ** 2, (Term(partner(angle) ** 2),)),
        rests_on=("a square of a real number is >= 0; sin^2 + cos^2 = 1 (the zero test knows it)",),
    )


BOUND_SIN = _bound(sp.sin, sp.cos, "sin")
BOUND_COS = _bound(sp.cos, sp.sin, "cos")


def _facts() -> list[Step]:
    return [inequality_step(BOUND_SIN, BOUND_COS)]


TOPIC = Topic(
    name="positional_encoding",
    title="Sinusoidal positional encoding",
    section="5. Transformer (positional encoding)",
    symbols=(
        SymbolSpec("pos", (), "real (integer positions in use)", "position in the sequence"),
        SymbolSpec("k", (), "real", "a shift"),
        SymbolSpec("d_model", (), "even integer", "model width; PE has d_model entries"),
        SymbolSpec("w_i", (), "positive", "frequency 10000^{-2i/d_model}"),
        SymbolSpec("PE(pos)", ("d_model",), "[-1, 1]", "(sin(pos w_0), cos(pos w_0), sin(pos w_1), ...)"),
    ),
    assumptions=("d_model is even (sizes are given as half_d = d_model / 2)",),
    default_sizes={"half_d": 2},
    grid=_GRID,
    size_limits={"half_d": (1, 8)},
    build=build,
    claims=(
        Claim(
            key="unit_circle",
            statement="PE(pos, 2i)^2 + PE(pos, 2i+1)^2 = 1 for every i: each pair is on the unit "
            "circle, so every entry of PE lies in [-1, 1]",
            reason="sin^2 + cos^2 = 1; proved for one (sin, cos) pair at a symbolic frequency w, and "
            "every pair of PE has that form, so it holds for every i and d_model",
            display=lambda: sp.Eq(sp.sin(_pos * _omega) ** 2 + sp.cos(_pos * _omega) ** 2, 1, evaluate=False),
            derived=lambda e: e["pairs"],
            claimed=lambda e: sp.ones(e["d_model"] // 2, 1),
            index=IndexForm(
                derived=lambda: sp.sin(_pos * _omega) ** 2 + sp.cos(_pos * _omega) ** 2, claimed=lambda: sp.S.One
            ),
        ),
        Claim(
            key="norm",
            statement="||PE(pos)||^2 = d_model / 2 at every position",
            reason="the sum of d_model / 2 pairs, each of squared norm 1; at symbolic d_model, "
            "sum_{i=0}^{d_model/2 - 1} (sin^2(pos w_i) + cos^2(pos w_i)) with cos^2 = 1 - sin^2 (unit_circle)",
            display=lambda: sp.Eq(sp.Symbol("||PE(pos)||^2"), _d / 2, evaluate=False),
            derived=lambda e: e["norm"],
            claimed=lambda e: sp.Matrix([sp.Rational(e["d_model"], 2)]),
            index=IndexForm(
                derived=lambda: sp.Sum(sp.sin(_pos * _w[_i]) ** 2 + sp.cos(_pos * _w[_i]) ** 2, (_i, 0, _half - 1)),
                claimed=lambda: _half,
                assume=_pythagoras,
            ),
        ),
        pair_claim(
            "shift",
            key="relative_shift",
            target="PE(pos + k)",
            wrt="k",
            statement="PE(pos + k) = M_k PE(pos), M_k block-diagonal with rotations "
            "[[cos k w_i, sin k w_i], [-sin k w_i, cos k w_i]] that depend on k only",
            reason="the angle-sum formulas for sin and cos, proved for one pair at a symbolic frequency "
            "(every pair has that form); this is why attention can learn relative positions",
            display=lambda: sp.Eq(_pe_pair(_pos + _shift), _rotation(_shift * _omega) * _pe_pair(_pos), evaluate=False),
            index=IndexForm(
                derived=lambda: _pe_pair(_pos + _shift),
                claimed=lambda: _rotation(_shift * _omega) * _pe_pair(_pos),
            ),
        ),
        pair_claim(
            "dot",
            key="dot_product",
            statement="PE(pos) . PE(pos + k) = sum_i cos(k w_i): it depends on the shift k, not on pos",
            reason="sin a sin b + cos a cos b = cos(a - b), proved for one pair at a symbolic frequency; "
            "the dot product is the sum over the pairs",
            display=lambda: sp.Eq(sp.Symbol("PE(pos) . PE(pos+k)"), sp.Sum(sp.cos(_shift * sp.Indexed("w", _i)), (_i, 0, _d / 2 - 1)), evaluate=False),
            index=IndexForm(
                derived=lambda: (_pe_pair(_pos).T * _pe_pair(_pos + _shift))[0], claimed=lambda: sp.cos(_shift * _omega)
            ),
        ),
    ),
    facts=lambda: _facts(),
)
