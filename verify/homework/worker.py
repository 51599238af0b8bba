"""Grade in a worker process that is killed past a time limit (student input is hostile).

The parser already bounds what an answer can ask for; this is the second fence: whatever SymPy or
NumPy does with an answer, the grader waits at most ``seconds`` for it, then kills the worker,
reports the answer ``invalid`` with the reason, and starts a fresh worker for the next answer.
The worker is forked (it inherits the loaded SymPy: no start-up cost per answer) and kept for
as many answers as stay within the limit.

Workers die with the process that started them: each closes the parent's ends of every pipe it
inherited (its own and its siblings', which used to keep each other's pipes open, so that no
worker saw end-of-file when the parent was killed), and on Linux asks the kernel for SIGKILL when
its parent dies (``PR_SET_PDEATHSIG``). Stop signals (Ctrl-C's SIGINT, SIGTERM, SIGHUP) are the
parent's to handle: a worker ignores them, so that a signal sent to the whole process group stops
the run instead of killing the workers under answers that would then be graded "worker stopped".

A worker that dies under an answer (the OOM killer, ``kill -9`` of its process) is replaced and the
answer graded once more; only a second death makes it ``invalid``, "the grader's worker stopped".

The time limit counts only time the grader could run: when this process was stopped (Ctrl-Z,
``kill -STOP``, a suspended machine) and resumed, the time it stood still is not charged to the
answers being graded, which would otherwise be stored ``invalid`` (too slow) for good.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
import weakref
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any, Self

from .problems import Grade, grade

__all__ = ["DEFAULT_SECONDS", "DEFAULT_WORKERS", "BoundedGrader", "BoundedPool"]

DEFAULT_SECONDS = 10.0
# one per core this process may use (affinity, where the OS reports it); SymPy grading is CPU-bound
DEFAULT_WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


# the parent's ends of the workers' pipes; a forked worker closes every one it inherited
_PARENT_ENDS: weakref.WeakSet[Connection] = weakref.WeakSet()
_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# a wait that returns this much later than asked means this process was stopped (or the machine
# slept): the excess is not charged to the answers being graded
_STALL = 1.0
# an answer whose worker died under it (killed from outside, the OOM killer) is graded once more in
# a fresh worker before it is called invalid: a kill is not a verdict, and the store would keep it
_RETRIES = 1


def _die_with_parent(parent: int) -> None:
    """In a worker: SIGKILL when the parent dies (Linux), and none of the parent's pipe ends kept."""
    for end in list(_PARENT_ENDS):
        end.close()
    for stop in _STOP_SIGNALS:  # Ctrl-C, SIGTERM to the group: the parent's to handle; it closes the workers
        signal.signal(stop, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc to ask: the closed pipe ends still end the worker at EOF
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _serve(connection: Connection, parent: int | None = None) -> None:
    if parent is not None:
        _die_with_parent(parent)
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        problem_id, answer = request
        try:
            document = grade(problem_id, answer).to_json()
        except Exception as error:  # noqa: BLE001 - a bug is reported for this answer, and the worker goes on
            document = Grade(problem_id, "invalid", 0.0, f"the grader failed on this answer: {type(error).__name__}",
                             method="error").to_json()
        try:
            connection.send(document)
        except OSError:  # the parent is gone (killed): nothing to report to, and no traceback on its terminal
            return


def _charged(asked: float, took: float) -> float:
    """The seconds of a wait charged to the answers being graded: what it took, unless it took
    ``_STALL`` longer than asked. Then this process was stopped (the workers with it, as Ctrl-Z
    stops the whole group) or the machine slept, for an unknown part of the wait: none of it is
    charged, so an answer gets at most one wait more than its limit, never a wrong ``timeout``.

    >>> _charged(2.0, 0.5), _charged(2.0, 2.01), _charged(2.0, 60.0)
    (0.5, 2.01, 0.0)
    """
    return took if took <= asked + _STALL else 0.0


class BoundedGrader:
    """``grader(problem, answer)`` grades with a wall-time limit; use as a context manager.

    >>> with BoundedGrader(seconds=30) as grader:
    ...     grader("softmax_ce:grad_z", "p_i - y_i").verdict
    'correct'
    """

    def __init__(self, seconds: float = DEFAULT_SECONDS) -> None:
        self.seconds = seconds
        self._process: Any = None
        self._connection: Connection | None = None

    def _start(self) -> Connection:
        context = mp.get_context("fork")
        parent, child = context.Pipe()
        _PARENT_ENDS.add(parent)
        self._process = context.Process(target=_serve, args=(child, os.getpid()), daemon=True)
        self._process.start()
        child.close()
        self._connection = parent
        return parent

    def __call__(self, problem_id: str, answer: str) -> Grade:
        for attempt in range(1 + _RETRIES):
            self.send(problem_id, answer)
            spent = 0.0
            while spent < self.seconds:
                asked = self.seconds - spent
                start = time.monotonic()
                if self.connection.poll(asked):
                    result = self.receive(problem_id)
                    if result.method == "error" and self._connection is None and attempt < _RETRIES:
                        break  # the worker died under it: once more in a fresh one
                    return result
                spent += _charged(asked, time.monotonic() - start)
            else:
                return self.give_up(problem_id)
        raise AssertionError("unreachable: the last attempt returns")

    @property
    def connection(self) -> Connection:
        return self._connection or self._start()

    def send(self, problem_id: str, answer: str) -> None:
        self.connection.send((problem_id, answer))

    def receive(self, problem_id: str) -> Grade:
        try:
            document = self.connection.recv()
        except (EOFError, OSError):  # the worker died (out of memory, say): this answer only
            self.close()
            return Grade(problem_id, "invalid", 0.0, "the grader's worker stopped on this answer", method="error")
        return Grade(document["problem"], document["verdict"], document["score"], document["feedback"],
                     document["counterexample"], document["method"])

    def give_up(self, problem_id: str) -> Grade:
        """Kill the stuck worker (the next answer gets a fresh one) and call the answer invalid."""
        self.close()
        return Grade(problem_id, "invalid", 0.0, f"grading this answer took longer than {self.seconds:g} s; "
                     "simplify it", method="timeout")

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        if self._connection is not None:
            _PARENT_ENDS.discard(self._connection)
            self._connection.close()
        self._process, self._connection = None, None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BoundedPool:
    """Several ``BoundedGrader`` workers at once, each answer still under its own time limit.

    ``grade(tasks)`` takes ``(tag, problem, answer)`` and yields ``(tag, grade, seconds)`` as answers
    finish (not in input order); a stuck worker is killed and replaced, as with one grader.

    >>> with BoundedPool(seconds=30, workers=2) as pool:
    ...     sorted((tag, g.verdict) for tag, g, _ in pool.grade([(1, "information:grad_q", "-p_i/q_i"), (2, "information:grad_q", "p_i")]))
    [(1, 'correct'), (2, 'incorrect')]
    """

    def __init__(self, seconds: float = DEFAULT_SECONDS, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.graders = [BoundedGrader(seconds) for _ in range(workers)]

    @property
    def seconds(self) -> float:
        """The time limit per answer, held by the graders (their give-up message states it)."""
        return self.graders[0].seconds

    @seconds.setter
    def seconds(self, value: float) -> None:
        for grader in self.graders:
            grader.seconds = value

    def grade(self, tasks: Iterable[tuple[Any, str, str]]) -> Iterator[tuple[Any, Grade, float]]:
        pending = iter(tasks)
        busy: dict[int, list[Any]] = {}  # grader index -> [tag, problem, seconds charged, task, retries]
        last = time.monotonic()  # until when time has been charged
        while True:
            for index, grader in enumerate(self.graders):
                if index not in busy:
                    task = next(pending, None)
                    if task is not None:
                        grader.send(task[1], task[2])
                        # charged from now on; the task kept for a retry if the worker dies under it
                        busy[index] = [task[0], task[1], last - time.monotonic(), task, 0]
            if not busy:
                return
            asked = max(0.0, self.seconds - max(state[2] for state in busy.values()))
            start = time.monotonic()
            ready = wait([self.graders[i].connection for i in busy], timeout=asked)
            now = time.monotonic()
            # the time outside the wait (the caller storing a result) is charged as it is
            charged = max(0.0, start - last) + _charged(asked, now - start)
            last = now
            for index in list(busy):
                busy[index][2] += charged
                tag, problem_id, spent, task, tries = busy[index]
                grader = self.graders[index]
                if grader.connection in ready:
                    result = grader.receive(problem_id)
                    if result.method == "error" and grader._connection is None and tries < _RETRIES:
                        grader.send(task[1], task[2])  # the worker died under it: once more in a fresh one
                        busy[index] = [tag, problem_id, 0.0, task, tries + 1]
                        continue
                elif spent >= self.seconds:
                    result = grader.give_up(problem_id)
                else:
                    continue
                del busy[index]
                yield tag, result, spent

    def close(self) -> None:
        for grader in self.graders:
            grader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
