"""Catalog entries written as forwards: one file each, plus one row in ``NAMES``.

An entry file (``rmsnorm.py``) defines ``ENTRY``, a :class:`ForwardEntry`: the forward in the
expression language (verify/expression.py), the shapes and domains of its inputs, its claims (each
input's gradient in the lecture's notation, the same language) and a practitioners' reference (the
forward as a framework computes it, ``torch.nn.functional``). Everything else is derived from it:

- the graph model (registered under the entry's name): matrix form by reverse mode, its status;
- each claim checked entry by entry against the exact derivative at every listed size;
- the numeric check: the compiled gradient against autograd of the practitioners' reference;
- a homework problem per claim, whose key is the derived gradient and whose reference answer is
  the claim.

>>> [entry(name).name for name in NAMES]
['rmsnorm']
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from derive.errors import UnknownEntryError
from derive.types import Status

__all__ = ["NAMES", "ForwardEntry", "check_claims", "entry", "entry_targets", "forward_of", "register_problems"]

# One row per entry: the module under verify/forwards/ that defines ENTRY.
NAMES: tuple[str, ...] = ("rmsnorm",)


@dataclass(frozen=True)
class ForwardEntry:
    """One catalog entry given by its forward; see the module docstring."""

    name: str
    title: str
    forward: str
    shapes: Mapping[str, str]
    claims: Mapping[str, str]  # input -> its gradient dL/dinput, in the lecture's notation
    reference: Callable[..., Any]  # (torch, tensors by name) -> the loss per batch element
    wrt: tuple[str, ...] = ()  # default: the claims' inputs
    domains: Mapping[str, str] = field(default_factory=dict)
    meaning: Mapping[str, str] = field(default_factory=dict)
    source: str = ""  # where the formulas come from


def entry(name: str) -> ForwardEntry:
    """The entry named ``name`` (a row of ``NAMES``)."""
    if name not in NAMES:
        raise UnknownEntryError(f"no forward entry {name!r}; there are {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{name}").ENTRY


def forward_of(item: ForwardEntry) -> Any:
    """The entry's forward, read and registered as the graph model named after the entry."""
    from verify.expression import read_forward, register

    forward = read_forward(item.forward, item.shapes, wrt=item.wrt or tuple(item.claims), domains=item.domains,
                           name=item.name)
    register(forward)
    return forward


def claim_grid(names: tuple[str, ...], top: int = 2) -> tuple[dict[str, int], ...]:
    """Every size from 1 to ``top`` in every combination: what ``proved n<=2, d<=2`` means.

    >>> claim_grid(("n", "d"))
    ({'n': 1, 'd': 1}, {'n': 1, 'd': 2}, {'n': 2, 'd': 1}, {'n': 2, 'd': 2})
    """
    return tuple(dict(zip(names, point)) for point in itertools.product(range(1, top + 1), repeat=len(names)))


def check_claims(item: ForwardEntry, top: int = 2) -> dict[str, Status]:
    """Each claim against the exact derivative of the forward, entry by entry, at every size up to
    ``top``: ``proved n<=2, ...``, or ``failed`` with the entry, the sizes and a point."""
    import sympy as sp

    from derive.proof import compare_matrices
    from graphs.check import explicit_values
    from graphs.matrices import explicit
    from graphs.prove import vjp_entrywise
    from verify.expression import claim_formulas

    forward = forward_of(item)
    grid = claim_grid(forward.size_names, top)
    statuses: dict[str, Status] = {}
    for sizes in grid:
        model, formulas = claim_formulas(forward, item.claims, sizes)
        values = explicit_values(model)
        out = values[model.graph.nodes[model.output]["value"]]
        for name, formula in formulas.items():
            if name in statuses:
                continue
            derived = vjp_entrywise(out, values[model.graph.nodes[name]["value"]], sp.Matrix([[1]]))
            outcome = compare_matrices(derived, explicit(formula, values), where=f"d{name}: ")
            if outcome.kind != "proved":
                shown = ", ".join(f"{k}={v}" for k, v in sizes.items())
                statuses[name] = Status("failed" if outcome.kind == "failed" else "numeric", (sizes,),
                                        f"at {shown}: {outcome.detail}")
    return {name: statuses.get(name, Status("proved_sizes", grid, "the claim against the exact derivative, "
                                            "entry by entry")) for name in item.claims}


def entry_targets(item: ForwardEntry) -> list[Any]:
    """The entry's numeric checks: one verify ``Target`` per claim, its compiled gradient (the graph
    route's) against torch autograd of the practitioners' reference, on Hypothesis inputs."""
    import dataclasses

    from verify.expression_check import forward_targets

    targets = []
    for target in forward_targets(forward_of(item)):
        wrt = target.matrix.adjoints[0]
        targets.append(dataclasses.replace(target, reference=_autograd_of(item, wrt), claim_id=f"grad_{wrt}",
                                           notes=f"against autograd of the reference ({item.source or item.name})"))
    return targets


def _autograd_of(item: ForwardEntry, wrt: str) -> Callable[..., Any]:
    import torch

    from verify.reference import gradient

    return lambda t, sizes: gradient(lambda **leaves: item.reference(torch, leaves), wrt, t)


def register_problems(names: tuple[str, ...] = NAMES) -> list[str]:
    """A homework problem per claim of each entry (``rmsnorm:grad_X``): the key is the derived
    gradient, the claim its reference answer, checked as the problem registers (problem_file.py's
    ``register``: all or none). Registered once per process; returns the ids."""
    from verify.homework.from_forward import forward_problem
    from verify.homework.problem_file import register
    from verify.homework.problems import PROBLEMS

    ids: list[str] = []
    for name in names:
        item = entry(name)
        problems, answers = {}, {}
        for wrt, claim in item.claims.items():
            pid = f"{name}:grad_{wrt}"
            ids.append(pid)
            if pid in PROBLEMS:
                continue
            given = ", ".join(f"{k} ({v})" for k, v in item.meaning.items())
            statement = f"{item.title}: {item.forward.replace('; ', '; ')}. Give dL/d{wrt}." + \
                (f" Here {given}." if given else "")
            problems[pid] = forward_problem(pid, statement, item.forward, item.shapes, wrt, domains=item.domains,
                                            answer=claim)
            answers[pid] = claim
        if problems:
            register(problems, where=f"verify/forwards/{name}.py", answers=answers)
    return ids


def claims_for_report(item: ForwardEntry) -> dict[str, tuple[Any, Status]]:
    """Each claim's matrix formula (at symbolic sizes) and its status, as the report shows them."""
    from verify.expression import claim_formulas

    statuses = check_claims(item)
    _, formulas = claim_formulas(forward_of(item), item.claims)
    return {wrt: (formulas[wrt], statuses[wrt]) for wrt in item.claims}
