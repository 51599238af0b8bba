"""Proving claims in worker processes, for ``gradproof derive`` over many entries.

Each claim's proof is independent (its own sizes, its own SymPy work), so claims can be spread
over processes (``gradproof/derive_all.py`` does). A worker keeps each entry's built sizes, so
the claims of one entry that land in one worker share them. The proofs are the same as one at
a time: only where they run changes.
"""

from __future__ import annotations

import os

from .types import Status

__all__ = ["default_jobs", "prove_in_worker"]

_ENVS: dict = {}  # per process: entry name -> its EnvCache


def default_jobs() -> int:
    """One process per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def prove_in_worker(name: str, key: str) -> Status:
    """Prove claim ``key`` of entry ``name`` at its grid, reusing the sizes this process built.

    >>> prove_in_worker("perceptron", "update_w").label
    'proved'
    """
    from .catalog import topic
    from .spec import EnvCache, prove_claim

    t = topic(name)
    envs = _ENVS.setdefault(name, EnvCache(t.build))
    return prove_claim(t, next(c for c in t.claims if c.key == key), envs)
