"""``gradproof derive`` over many entries, with the work spread over processes.

Phase 1 proves every claim of every entry and checks every graph model, costliest first, one
task per claim or model; phase 2 assembles and renders each entry from those statuses, one
task per entry. Both phases share one pool, so a worker's built sizes and proven VJP rules
serve later tasks. With one process the same functions run in this one, in order. Either way
the output is the same, in the order the entries were named.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from derive.types import Status

__all__ = ["Rendered", "derive_entries", "render_entry"]

Rendered = tuple[list[Any], bool]  # what to print (text blocks, or one JSON document) and whether anything failed
Progress = Callable[[int, int, str], None]


def render_entry(
    name: str,
    as_json: bool,
    sizes: dict[str, int] | None = None,
    proved: dict[str, Status] | None = None,
    statuses: dict[str, Status] | None = None,
    progress: Progress | None = None,
) -> Rendered:
    """Derive one entry (claims in ``proved`` and models in ``statuses`` are not proved again),
    lift the claims the graph route proves at every size (graphs/lift.py), add its matrix-form
    results, and render both.

    >>> blocks, failed = render_entry("perceptron", as_json=False)
    >>> failed, "dL/dw" in blocks[0] or "dw" in blocks[0]
    (False, True)
    """
    from derive.catalog import derive
    from graphs.lift import lift
    from graphs.route import graph_results

    from .render import (
        derivation_json,
        derivation_text,
        matrix_results_json,
        matrix_results_text,
    )

    # derive/ proves entrywise and never imports graphs/: the lift to every size is applied here.
    derivation = lift(derive(name, sizes or None, progress=progress, proved=proved))
    matrix = graph_results(name, statuses)
    failed = not derivation.ok or any(r.status.kind == "failed" for r in matrix)
    if as_json:
        return [{**derivation_json(derivation), "matrix_form": matrix_results_json(matrix)}], failed
    return [derivation_text(derivation)] + ([matrix_results_text(matrix)] if matrix else []), failed


def derive_entries(names: Sequence[str], jobs: int, as_json: bool, progress: Progress | None = None) -> list[Rendered]:
    """Every entry in ``names`` derived and rendered in ``jobs`` processes, in the order given.

    At most ``jobs`` tasks are in flight. The next one is an entry ready to render (all its
    claims and models done) if there is one, else the costliest proof left: rendering overlaps
    the proofs instead of waiting for the last of them.

    >>> [failed for _, failed in derive_entries(["perceptron", "information"], jobs=2, as_json=True)]
    [False, False]
    """
    from derive.catalog import topic
    from derive.parallel import prove_in_worker
    from graphs.models import MODELS, models_for_entry
    from graphs.route import model_status

    # Cost estimates for the order only: a claim by its number of sizes, a model by its checks.
    proofs: list[tuple[int, str, str, str]] = []
    for name in names:
        t = topic(name)
        proofs += [(len(claim.sizes or t.grid), "claim", name, claim.key) for claim in t.claims]
        proofs += [(10 * len(MODELS[m].check_sizes), "model", name, m) for m in models_for_entry(name)]
    proofs.sort(key=lambda task: task[0])  # popped from the end: costliest first
    waiting = {name: sum(1 for task in proofs if task[2] == name) for name in names}
    proved: dict[str, dict[str, Status]] = {name: {} for name in names}
    statuses: dict[str, dict[str, Status]] = {name: {} for name in names}
    ready = [name for name in names if not waiting[name]]
    rendered: dict[str, Rendered] = {}
    total, done = len(proofs) + len(names), 0
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork")) as pool:
        running: dict[Future, tuple[str, str, str]] = {}
        while proofs or ready or running:
            while len(running) < jobs and (ready or proofs):
                if ready:
                    name = ready.pop(0)
                    future = pool.submit(render_entry, name, as_json, None, proved[name], statuses[name])
                    running[future] = ("render", name, "")
                else:
                    _, kind, name, key = proofs.pop()
                    function, argument = (prove_in_worker, (name, key)) if kind == "claim" else (model_status, (key,))
                    running[pool.submit(function, *argument)] = (kind, name, key)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                kind, name, key = running.pop(future)
                done += 1
                if kind == "render":
                    rendered[name] = future.result()
                    continue
                (proved if kind == "claim" else statuses)[name][key] = future.result()
                waiting[name] -= 1
                if not waiting[name]:
                    ready.append(name)
                if progress:
                    progress(done, total, f"{name}:{key}")
    if progress:
        progress(total, total, "done")
    return [rendered[name] for name in names]
