"""Proving many entries' claims at once, one claim per process, for ``gradproof derive --all``.

Each claim's proof is independent (its own sizes, its own SymPy work), so the claims of every
entry are spread over worker processes, the costliest (by the number of sizes in its grid) first;
``derive(name, proved=...)`` then assembles each entry from the statuses without proving again.
The proofs are the same as one at a time: only where they run changes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from .types import Status

__all__ = ["default_jobs", "prove_entries"]


def default_jobs() -> int:
    """One process per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _prove(name: str, key: str) -> Status:
    from .catalog import topic
    from .spec import prove_claim

    t = topic(name)
    return prove_claim(t, next(c for c in t.claims if c.key == key))


def prove_entries(names: Sequence[str], jobs: int,
                  progress: Callable[[int, int, str], None] | None = None) -> dict[str, dict[str, Status]]:
    """Every claim of every entry in ``names``, proved in ``jobs`` processes: name -> key -> status.

    >>> statuses = prove_entries(["perceptron", "information"], jobs=2)
    >>> sorted(statuses), all(s.kind in {"proved", "proved_sizes"} for s in statuses["information"].values())
    (['information', 'perceptron'], True)
    """
    from .catalog import topic

    tasks = [(name, claim.key, len(claim.sizes or topic(name).grid)) for name in names for claim in topic(name).claims]
    tasks.sort(key=lambda task: -task[2])
    out: dict[str, dict[str, Status]] = {name: {} for name in names}
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork")) as pool:
        futures = {pool.submit(_prove, name, key): (name, key) for name, key, _ in tasks}
        for done, future in enumerate(as_completed(futures)):
            name, key = futures[future]
            out[name][key] = future.result()
            if progress:
                progress(done + 1, len(tasks), f"{name}:{key}")
    return out
