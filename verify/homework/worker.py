"""Grade in a worker process that is killed past a time limit (student input is hostile).

The parser already bounds what an answer can ask for; this is the second fence: whatever SymPy or
NumPy does with an answer, the grader waits at most ``seconds`` for it, then kills the worker,
reports the answer ``invalid`` with the reason, and starts a fresh worker for the next answer.
The worker is forked (it inherits the loaded SymPy: no start-up cost per answer) and kept for
as many answers as stay within the limit.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.connection import Connection
from typing import Any, Self

from .problems import Grade, grade

__all__ = ["DEFAULT_SECONDS", "BoundedGrader"]

DEFAULT_SECONDS = 10.0


def _serve(connection: Connection) -> None:
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        problem_id, answer = request
        try:
            connection.send(grade(problem_id, answer).to_json())
        except Exception as error:  # noqa: BLE001 - a bug is reported for this answer, and the worker goes on
            connection.send(Grade(problem_id, "invalid", 0.0, f"the grader failed on this answer: "
                                  f"{type(error).__name__}", method="error").to_json())


class BoundedGrader:
    """``grader(problem, answer)`` grades with a wall-time limit; use as a context manager.

    >>> with BoundedGrader(seconds=30) as grader:
    ...     grader("softmax_ce.grad_z", "p_i - y_i").verdict
    'correct'
    """

    def __init__(self, seconds: float = DEFAULT_SECONDS) -> None:
        self.seconds = seconds
        self._process: Any = None
        self._connection: Connection | None = None

    def _start(self) -> Connection:
        context = mp.get_context("fork")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._connection = parent
        return parent

    def __call__(self, problem_id: str, answer: str) -> Grade:
        connection = self._connection or self._start()
        connection.send((problem_id, answer))
        if connection.poll(self.seconds):
            document = connection.recv()
            return Grade(document["problem"], document["verdict"], document["score"], document["feedback"],
                         document["counterexample"], document["method"])
        self.close()  # stuck: kill it; the next answer gets a fresh worker
        return Grade(problem_id, "invalid", 0.0, f"grading this answer took longer than {self.seconds:g} s; "
                     "simplify it", method="timeout")

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        if self._connection is not None:
            self._connection.close()
        self._process, self._connection = None, None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
