"""How a catalog entry is written down (``Topic``, ``Claim``) and turned into a ``Derivation``.

A topic module is data plus pure builders: ``build(sizes)`` returns the entries and the
forward scalar at concrete sizes; each ``Claim`` says how to get the derived side (usually a
gradient of that scalar) and the claimed side (the lecture's closed form) from them. The
machinery that proves claims lives here and in ``proof.py``; topic modules hold none.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import sympy as sp

from .errors import SizeError
from .proof import Comparison, combine, compare_matrices, index_status
from .types import Derivation, Result, Sizes, Status, Step, SymbolSpec

__all__ = [
    "Claim",
    "EnvCache",
    "IndexForm",
    "Lazy",
    "LazyEnv",
    "Topic",
    "derive_topic",
    "grad",
    "grid",
    "pair_claim",
    "prove_claim",
]

Env = Mapping[str, Any]


class Lazy:
    """A value of a topic's environment that is computed on first use (gradients are costly,
    and each claim needs only a few of them)."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        self.compute = compute


class LazyEnv(dict):
    """A dict whose ``Lazy`` values are computed once, when first read.

    >>> env = LazyEnv(a=1, b=Lazy(lambda: 2 + 2))
    >>> env["b"], env["a"]
    (4, 1)
    """

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, Lazy):
            value = value.compute()
            self[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default
MatrixOf = Callable[[Env], sp.Matrix]


def grad(scalar: sp.Expr, entries: sp.Matrix) -> sp.Matrix:
    """The gradient of a scalar with respect to every entry, in the entries' shape, unevaluated.

    The proofs take the derivatives themselves, on polynomials (``grouped.py``), many times
    faster than ``sympy.diff`` builds them as trees; ``doit()`` gives SymPy's.

    >>> import sympy as sp
    >>> x = sp.Matrix(sp.symbols("x1 x2", real=True))
    >>> grad(x[0] ** 2 * x[1], x).T
    Matrix([[Derivative(x1**2*x2, x1), Derivative(x1**2*x2, x2)]])
    >>> grad(x[0] ** 2 * x[1], x).doit().T
    Matrix([[2*x1*x2, x1**2]])
    """
    scalar = sp.sympify(scalar)
    free = scalar.free_symbols

    def derivative(entry: sp.Expr) -> sp.Expr:
        if not entry.is_Symbol:
            return sp.Derivative(scalar, entry)
        # What Derivative(scalar, entry) builds, without its checks (each walks the whole scalar).
        return sp.Expr.__new__(sp.Derivative, scalar, sp.Tuple(entry, sp.S.One)) if entry in free else sp.S.Zero

    return entries.applyfunc(derivative)


def grid(**ranges: Sequence[int]) -> tuple[dict[str, int], ...]:
    """Every combination of sizes: ``grid(n=range(1, 5))`` is n = 1, 2, 3, 4.

    >>> grid(n=[1, 2], d_k=[1, 2])
    ({'n': 1, 'd_k': 1}, {'n': 1, 'd_k': 2}, {'n': 2, 'd_k': 1}, {'n': 2, 'd_k': 2})
    """
    names = list(ranges)
    return tuple(dict(zip(names, values)) for values in itertools.product(*ranges.values()))


@dataclass(frozen=True)
class IndexForm:
    """A claim at symbolic sizes, with ``Indexed``/``Sum``; proved when the difference reduces to 0.

    ``assume`` substitutes a stated assumption (e.g. ``sum(y) = 1``) into what is left; the claim's
    reason must say so.
    """

    derived: Callable[[], sp.Basic]  # an expression, or a matrix for a claim about several entries
    claimed: Callable[[], sp.Basic]
    assume: Callable[[sp.Expr], sp.Expr] | None = None


@dataclass(frozen=True)
class Claim:
    """One checked statement of a derivation.

    ``target`` is set for the results a user asks for (``dL/dz``); other claims are steps on
    the way (an identity, a lemma). ``display`` gives the lecture's notation as a SymPy
    ``Eq``; ``derived`` and ``claimed`` give both sides at concrete sizes.
    """

    key: str
    statement: str
    reason: str
    display: Callable[[], sp.Basic]
    derived: MatrixOf
    claimed: MatrixOf
    target: str | None = None
    wrt: str = ""
    index: IndexForm | None = None
    sizes: tuple[Mapping[str, int], ...] | None = None  # default: the topic's grid


def pair_claim(env_key: str, *, form: Callable[[], sp.Basic] | None = None, **fields: Any) -> Claim:
    """A claim whose two sides are the environment's pair ``env[env_key] = (derived, claimed)``.

    With ``form``, the display is ``target = form()`` (a matrix symbol named after the target
    when the form is a matrix expression); otherwise pass ``display`` among ``fields``.

    >>> import sympy as sp
    >>> c = pair_claim("dV", key="grad_V", target="dV", statement="dV = A^T G", reason="linear",
    ...                form=lambda: sp.MatrixSymbol("A", 2, 2).T * sp.MatrixSymbol("G", 2, 3))
    >>> c.derived({"dV": ("derived", "claimed")}), str(c.display())
    ('derived', 'Eq(dV, A.T*G)')
    """
    if form is not None:
        name = fields.get("target") or fields["key"]

        def display() -> sp.Basic:
            rhs = form()
            lhs = sp.MatrixSymbol(name, *rhs.shape) if getattr(rhs, "is_Matrix", False) else sp.Symbol(name)
            return sp.Eq(lhs, rhs, evaluate=False)

        fields["display"] = display
    return Claim(derived=lambda e: e[env_key][0], claimed=lambda e: e[env_key][1], **fields)


@dataclass(frozen=True)
class Topic:
    """A catalog entry before it is derived: metadata, builders and claims."""

    name: str
    title: str
    section: str
    symbols: tuple[SymbolSpec, ...]
    assumptions: tuple[str, ...]
    default_sizes: Mapping[str, int]
    grid: tuple[Mapping[str, int], ...]
    build: Callable[[Sizes], Env]
    claims: tuple[Claim, ...]
    tables: Callable[[], Mapping[str, Any]] | None = None
    # Exact checks on concrete data (a training trace, a bound): each returns a finished Step.
    facts: Callable[[], Sequence[Step]] | None = None
    size_limits: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # Sizes that are each in range but do not fit together: returns what is wrong, or None.
    size_rule: Callable[[Mapping[str, int]], str | None] | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(claim.target for claim in self.claims if claim.target)

    def check_sizes(self, sizes: Mapping[str, int]) -> dict[str, int]:
        """Complete ``sizes`` with the defaults and reject names and values this topic cannot take."""
        unknown = sorted(set(sizes) - set(self.default_sizes))
        if unknown:
            raise SizeError(
                f"{self.name} has no size {', '.join(unknown)}; its sizes are "
                f"{', '.join(self.default_sizes)}"
            )
        merged = {**self.default_sizes, **sizes}
        for name, value in merged.items():
            low, high = self.size_limits.get(name, (1, 6))
            if not isinstance(value, int) or not low <= value <= high:
                raise SizeError(
                    f"{self.name}: size {name}={value!r} is out of range; use an integer from "
                    f"{low} to {high} (entrywise proofs grow fast with size)"
                )
        problem = self.size_rule(merged) if self.size_rule else None
        if problem:
            raise SizeError(f"{self.name}: {problem}")
        return merged


@cache
def _proved_facts(facts: Callable[[], Sequence[Step]]) -> tuple[Step, ...]:
    return tuple(facts())


def fact_steps(topic: Topic) -> tuple[Step, ...]:
    """A topic's facts (its theorems, its exact checks on data), proved once per process: ``derive
    information:gibbs`` finds the key among them, then derives the entry without proving them again.

    >>> from derive.catalog import topic
    >>> [s.key for s in fact_steps(topic("attention"))], fact_steps(topic("ffn"))
    (['score_variance'], ())
    """
    return _proved_facts(topic.facts) if topic.facts else ()


class EnvCache:
    """Builds each size once and keeps it: several claims (and tests) share the same entries."""

    def __init__(self, build: Callable[[Sizes], Env]) -> None:
        self._build = build
        self._cache: dict[tuple[tuple[str, int], ...], Env] = {}

    def __call__(self, sizes: Mapping[str, int]) -> Env:
        key = tuple(sorted(sizes.items()))
        if key not in self._cache:
            self._cache[key] = LazyEnv(self._build(sizes))
        return self._cache[key]


def prove_claim(
    topic: Topic,
    claim: Claim,
    envs: Callable[[Mapping[str, int]], Env] | None = None,
    extra_sizes: Sequence[Mapping[str, int]] = (),
) -> Status:
    """Check one claim at every size of its grid (and at symbolic size, when it has an index form).

    >>> from derive.catalog import topic
    >>> softmax = topic("softmax_ce")
    >>> prove_claim(softmax, softmax.claims[0]).kind in {"proved", "proved_sizes"}
    True
    """
    envs = envs or EnvCache(topic.build)
    sizes_list = list(claim.sizes or topic.grid) + [s for s in extra_sizes if s not in (claim.sizes or topic.grid)]
    outcomes: list[tuple[Mapping[str, int], Comparison]] = []
    for seed, sizes in enumerate(sizes_list):
        env = envs(sizes)
        outcome = compare_matrices(claim.derived(env), claim.claimed(env), seed=seed)
        outcomes.append((sizes, outcome))
        if outcome.kind == "failed":
            break
    index_proved = None
    if claim.index is not None and all(o.kind != "failed" for _, o in outcomes):
        index_proved = index_status(claim.index.derived(), claim.index.claimed(), claim.index.assume)
    return combine(outcomes, index_proved)


def derive_topic(
    topic: Topic,
    sizes: Mapping[str, int] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    proved: Mapping[str, Status] | None = None,
) -> Derivation:
    """Prove every claim of a topic and assemble the ``Derivation``.

    ``sizes`` picks the concrete sizes at which the entrywise results are shown (and also
    proved, on top of the topic's grid). ``progress(done, total, key)`` is called before each claim.
    ``proved`` holds statuses already established by ``prove_claim`` (in other processes, say)
    for claims at the topic's grid; those claims are not proved again.

    >>> from derive.catalog import topic
    >>> d = derive_topic(topic("information"))
    >>> d.ok and "dKL/dq" in d.targets
    True
    """
    shown = topic.check_sizes(sizes or {})
    envs = EnvCache(topic.build)
    steps: list[Step] = []
    results: list[Result] = []
    for number, claim in enumerate(topic.claims):
        if progress:
            progress(number, len(topic.claims), claim.key)
        extra = [shown] if sizes else []
        status = proved[claim.key] if proved and claim.key in proved and not sizes else prove_claim(topic, claim, envs, extra)
        display = claim.display()
        steps.append(Step(claim.statement, display, claim.reason, status, claim.key))
        if claim.target:
            closed = display.rhs if isinstance(display, sp.Equality) else display
            # An index form is a result only where it was proved; otherwise it is not shown.
            index = claim.index.claimed() if claim.index and status.kind == "proved" else None
            results.append(
                Result(
                    target=claim.target,
                    wrt=claim.wrt,
                    closed=closed,
                    entrywise=claim.claimed(envs(shown)),
                    entrywise_sizes=shown,
                    index=index,
                    status=status,
                    key=claim.key,
                )
            )
    steps.extend(fact_steps(topic))
    if progress:
        progress(len(topic.claims), len(topic.claims), "done")
    env = envs(shown)
    return Derivation(
        name=topic.name,
        title=topic.title,
        section=topic.section,
        symbols=topic.symbols,
        assumptions=topic.assumptions,
        forward=env.get("forward", sp.S.Zero),
        forward_sizes=shown,
        steps=tuple(steps),
        results=tuple(results),
        tables=dict(topic.tables()) if topic.tables else {},
    )
