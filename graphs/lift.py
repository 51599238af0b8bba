"""Lift a catalog claim from ``proved n<=N`` to ``proved`` (every size) through the graph route.

derive/ proves each gradient claim entry by entry at listed sizes; the graph route's matrix
form of the same gradient holds at every size when every VJP rule it composes is proved in
index form at symbolic shapes (graphs/prove_index.py). Where both exist, this module *proves*
that they are the same formula: the claim's closed form (its named intermediates, such as
attention's ``dS``, replaced by their own claimed closed forms) and the graph route's fully
expanded adjoint are both written entry by entry at symbolic sizes (:func:`prove_index.entry`),
with the entry's matrix and size names mapped onto the model's, and their difference must reduce
to 0 with :func:`derive.indexcalc.index_zero`. A name that merely matches proves nothing: a claim
whose formula differs (a factor dropped, a transpose swapped) keeps its entrywise label, and so
does a claim without a graph counterpart, or one whose model rests on a rule proved only at
shapes. What is checked: the two formulas' equality at every size, and the rules' index-form
proofs. What is not: that the model's forward is the entry's forward at every size (they are the
same lecture formula, and the entrywise proof at ``n<=N`` corroborates both).

derive/ never imports graphs/, so callers apply :func:`lift` to what ``derive.catalog.derive``
returns.

>>> from derive.catalog import derive
>>> d = lift(derive("attention"))
>>> next(s for s in d.steps if s.key == "grad_Q").status.label
'proved'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache

import sympy as sp

from derive.errors import GradproofError
from derive.indexcalc import index_zero
from derive.types import Derivation, Result, Status, Step

from .backprop import backprop
from .models import model as build_model
from .models import models_for_entry
from .prove_index import entry
from .route import model_rules

__all__ = ["LIFTED", "Lift", "every_size_step_counts", "is_lifted", "lift", "lift_claims"]

# How a lifted status's detail begins (printers show it; is_lifted tells it apart).
LIFTED = "proved at every size: "


@dataclass(frozen=True)
class Lift:
    """The outcome for one claim: ``proved`` with the model and target it was matched with, or
    not, with ``detail`` saying why (no counterpart, a rule proved only at shapes, a residual)."""

    key: str
    proved: bool
    detail: str
    model: str = ""
    target: str = ""


@dataclass(frozen=True)
class _Form:
    """One graph-route gradient: the model, its target's name, what it is of, the expanded adjoint."""

    model: str
    target: str
    wrt: str
    formula: sp.Basic


# Facts a model's forward makes true that an index form cannot see, each as a rewrite of the
# index form applied to both sides (so an equality after it is an equality before it).
def _mask_fact(expr: sp.Expr) -> sp.Expr:
    a, m = sp.IndexedBase("A"), sp.IndexedBase("M")
    expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == a, lambda e: e * m[e.indices])
    # M is 0/1, so M^p = M for every positive power p.
    return expr.replace(lambda e: e.is_Pow and isinstance(e.base, sp.Indexed) and e.base.base == m
                        and e.exp.is_Integer and e.exp > 0, lambda e: e.base)


def _opaque_mask(formula: sp.Basic) -> sp.Basic:
    """The model's causal mask as the matrix ``M`` of the entry's symbols (0/1, by the fact)."""
    from .matrices import CausalMask

    return formula.replace(lambda e: isinstance(e, CausalMask), lambda e: sp.MatrixSymbol("M", *e.shape))


# model -> (the fact in words, a rewrite of the model's formula, a rewrite of both index forms)
_FACTS: dict[str, tuple[str, Callable[[sp.Basic], sp.Basic], Callable[[sp.Expr], sp.Expr]]] = {
    "causal_attention": ("M is a 0/1 mask (M_ij^2 = M_ij) and A_ij = A_ij M_ij (masked entries of A are 0, the "
                         "entry's assumption)", _opaque_mask, _mask_fact),
}


def _plain(name: str) -> str:
    """A name as matched: ``W_2``, ``W2`` and ``dW_2`` all read ``w2``."""
    return name.replace("_", "").replace("^", "").lower()


def _forms(model: str) -> tuple[_Form, ...]:
    """Every gradient of a model's inputs and named tensors, expanded to the seed and forward
    values, with the rules it rests on; once per process and table of rules (a row replaced in
    ``RULES``, a test's wrong rule, gives a new reverse mode)."""
    from .ops import RULES

    return _forms_with(model, tuple(id(row) for row in RULES.values()))


@cache
def _forms_with(model: str, rows: tuple[int, ...]) -> tuple[_Form, ...]:
    m = build_model(model)
    adjoints = backprop(m)
    # The inputs' gradients, then the named tensors inside the model (attention's A and S).
    named = [n for n in adjoints.order if m.graph.nodes[n]["label"] and n not in m.sources and n != m.output]
    forms = []
    for node in [s for s in m.sources if s in adjoints.adjoint] + named:
        label = m.graph.nodes[node]["label"]
        forms.append(_Form(model, f"d{label}", label, adjoints.adjoint[node]))
    return tuple(forms)


def _scope(key: str) -> str:
    """Claims ``causal_grad_Q`` and ``causal_grad_S`` share a scope: ``causal_``."""
    return key[: key.index("grad_")] if "grad_" in key else key


def _expanded(result: Result, results: tuple[Result, ...]) -> sp.Basic:
    """The claim's closed form with each intermediate it names (``dS``, ``dA``) replaced by that
    claim's own closed form, from claims of the same scope, until none is left."""
    scope = _scope(result.key)
    defs = {r.target.split(" ")[0]: r.closed for r in results if r.key != result.key and _scope(r.key) == scope
            and isinstance(r.closed, sp.MatrixExpr)}
    expr = result.closed
    for _ in range(len(defs) + 1):
        named = {s for s in expr.atoms(sp.MatrixSymbol) if s.name in defs}
        if not named:
            break
        expr = expr.xreplace({s: defs[s.name] for s in named if defs[s.name].shape == s.shape})
    return expr


def _renaming(claim: sp.Basic, form: sp.Basic) -> dict[sp.Basic, sp.Basic] | None:
    """The claim's matrix symbols and sizes onto the model's, by name and shape: ``h`` onto
    ``d_ff`` where ``R: n x h`` is the model's ``R: n x d_ff``. None when the shapes conflict, a
    matrix of the claim is not in the model, or the model would fix a size or tie two (a size onto
    ``2 d_k`` or two sizes onto one): an equality there holds only at those sizes, not at every size."""
    theirs = {s.name: s for s in form.atoms(sp.MatrixSymbol)}
    sizes: dict[sp.Symbol, sp.Expr] = {}
    for mine in claim.atoms(sp.MatrixSymbol):
        other = theirs.get(mine.name)
        if mine.name == "1":  # the lecture's vector of ones, not a matrix of the model
            continue
        if other is None:
            return None
        for a, b in zip(mine.shape, other.shape):
            if isinstance(a, sp.Symbol):
                if not isinstance(b, sp.Symbol) or sizes.setdefault(a, b) != b:
                    return None
            elif a != b:
                return None
    return dict(sizes) if len(set(sizes.values())) == len(sizes) else None


def _compare(claim: sp.Basic, form: _Form) -> tuple[bool, str]:
    """Whether the claim's formula equals the graph's at every size (index form), and what was shown."""
    sizes = _renaming(claim, form.formula)
    if sizes is None:
        return False, f"its matrices are not all in model {form.model} with matching shapes"
    # A matrix named 1 is the lecture's vector of ones: the model's OneMatrix.
    mine = claim.xreplace(sizes)
    mine = mine.xreplace({s: sp.OneMatrix(*s.shape) for s in mine.atoms(sp.MatrixSymbol) if s.name == "1"})
    rows, cols = mine.shape
    transposed = (rows, cols) != tuple(form.formula.shape)
    if transposed and not ((rows, cols) == tuple(reversed(form.formula.shape)) and 1 in (rows, cols)):
        return False, f"shape {rows} x {cols} differs from the graph route's {form.formula.shape[0]} x {form.formula.shape[1]}"
    a, b = sp.symbols("a b", integer=True)
    at = (a if rows != 1 else sp.S.Zero, b if cols != 1 else sp.S.Zero)
    fact = _FACTS.get(form.model)
    theirs = fact[1](form.formula) if fact else form.formula
    try:
        left = entry(mine, *at)
        right = entry(theirs, *(reversed(at) if transposed else at))
    except GradproofError as error:
        return False, f"no index form ({error})"
    if fact:
        left, right = fact[2](left), fact[2](right)
    residual = index_zero(left - right)
    if residual != 0:
        return False, f"the index forms differ by {sp.sstr(residual)[:200]}"
    shown = "its transpose (a column where the graph has a row)" if transposed else "it"
    return True, shown


def _models(key: str, keys: tuple[str, ...], entry_name: str) -> tuple[str, ...]:
    """The entry's models a claim may be matched with: a claim of scope ``causal_`` with the
    models named ``causal_...`` only, a claim without a scope with the models no scope names."""
    scope = _scope(key)
    if scope:
        return tuple(m for m in models_for_entry(entry_name) if m.startswith(scope))
    scopes = {_scope(k) for k in keys} - {""}
    return tuple(m for m in models_for_entry(entry_name) if not any(m.startswith(s) for s in scopes))


def _candidates(result: Result, results: tuple[Result, ...], entry_name: str) -> list[_Form]:
    models = _models(result.key, tuple(r.key for r in results), entry_name)
    return [f for model in models for f in _forms(model) if _plain(f.wrt) == _plain(result.wrt)]


def _lift_one(result: Result, results: tuple[Result, ...], entry_name: str) -> Lift:
    candidates = _candidates(result, results, entry_name)
    if not candidates:
        return Lift(result.key, False, "no graph-route gradient of the same input")
    if not isinstance(result.closed, sp.MatrixExpr):
        return Lift(result.key, False, "the closed form is not a matrix formula")
    claim = _expanded(result, results)
    reasons = []
    for form in candidates:
        bases = model_rules(form.model)
        partial = [b.text() for b in bases if not b.every_size]
        if partial:
            reasons.append(f"model {form.model} rests on rules not proved at every size: {', '.join(partial)}")
            continue
        ok, shown = _compare(claim, form)
        if not ok:
            reasons.append(f"model {form.model}'s {form.target}: {shown}")
            continue
        assumed = f", assuming {_FACTS[form.model][0]}" if form.model in _FACTS else ""
        rules = ", ".join(b.rule for b in bases)
        return Lift(result.key, True, (
            f"the graph route's {form.target} of model {form.model} is reverse mode (chain rule) over "
            f"{len(bases)} rules, each proved at every size in index form ({rules}); the claim's closed form "
            f"(intermediates replaced by their own closed forms) equals {shown} entry by entry in index form at "
            f"symbolic sizes{assumed}"), form.model, form.target)
    return Lift(result.key, False, "; ".join(reasons))


def lift_claims(derivation: Derivation) -> dict[str, Lift]:
    """For each claim of ``derivation`` proved only at sizes, whether the graph route lifts it.

    >>> from derive.catalog import derive
    >>> lifts = lift_claims(derive("ffn"))
    >>> lifts["grad_W2"].proved, lifts["grad_W2"].model
    (True, 'ffn')
    """
    # Keyed by the closed forms and the rules' proofs too: a changed claim or rule is proved afresh.
    rules = tuple(model_rules(m) for m in models_for_entry(derivation.name))
    key = (derivation.name, tuple((r.key, sp.srepr(r.closed)) for r in derivation.results), rules)
    if key not in _CACHE:
        _CACHE[key] = {r.key: _lift_one(r, derivation.results, derivation.name)
                       for r in derivation.results if r.status.kind == "proved_sizes"}
    return _CACHE[key]


_CACHE: dict[tuple, dict[str, Lift]] = {}


def _lifted(status: Status, how: Lift) -> Status:
    corroboration = f"; corroborated entrywise: {status.label}" + (f" ({status.detail})" if status.detail else "")
    return Status("proved", status.sizes, f"{LIFTED}{how.detail}{corroboration}")


def is_lifted(status: Status) -> bool:
    """Whether a status is one :func:`lift` gave (proved at every size through the graph route).

    >>> is_lifted(Status("proved", (), LIFTED + "...")), is_lifted(Status("proved"))
    (True, False)
    """
    return status.kind == "proved" and status.detail.startswith(LIFTED)


def lift(derivation: Derivation) -> Derivation:
    """A new ``Derivation`` whose claims proved by the graph route at every size are ``proved``
    (the entrywise ``n<=N`` proof kept in the detail as corroboration); every other step as it was.

    >>> from derive.catalog import derive
    >>> d = lift(derive("ffn"))
    >>> step = next(s for s in d.steps if s.key == "grad_W1")
    >>> step.status.label, "corroborated entrywise: proved n<=3, d<=3, h<=3" in step.status.detail
    ('proved', True)
    """
    lifts = {k: v for k, v in lift_claims(derivation).items() if v.proved}
    if not lifts:
        return derivation
    steps = tuple(replace(s, status=_lifted(s.status, lifts[s.key])) if s.key in lifts and s.status.kind == "proved_sizes"
                  else s for s in derivation.steps)
    results = tuple(replace(r, status=_lifted(r.status, lifts[r.key])) if r.key in lifts else r
                    for r in derivation.results)
    return replace(derivation, steps=steps, results=results)


def _count(steps: tuple[Step, ...]) -> int:
    return sum(1 for s in steps if s.status.kind == "proved")


def every_size_step_counts(names: tuple[str, ...] | None = None,
                           derivations: Mapping[str, Derivation] | None = None) -> dict:
    """Steps proved at every size, before and after the lift, per entry and in total, with the
    lift's seconds. ``derivations`` may hold entries already derived (else each is derived here).

    >>> counts = every_size_step_counts(("ffn",))
    >>> counts["entries"]["ffn"]["after"] > counts["entries"]["ffn"]["before"]
    True
    """
    from derive.catalog import NAMES, derive

    entries, seconds = {}, 0.0
    for name in names or NAMES:
        d = derivations[name] if derivations and name in derivations else derive(name)
        start = time.perf_counter()
        lifted = lift(d)
        seconds += time.perf_counter() - start
        entries[name] = {"steps": len(d.steps), "before": _count(d.steps), "after": _count(lifted.steps)}
    return {"entries": entries, "steps": sum(e["steps"] for e in entries.values()),
            "before": sum(e["before"] for e in entries.values()), "after": sum(e["after"] for e in entries.values()),
            "lift_seconds": round(seconds, 2)}
