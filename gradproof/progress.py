"""A one-line progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``Progress("attention")(done, total, what)`` redraws ``attention [####    ] 3/8 grad_Q``.

    Silent when the stream is not a terminal, so pipes, files and tests see clean output.

    >>> import io
    >>> Progress("x", stream=io.StringIO())(1, 2, "step")  # not a terminal: draws nothing
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 24) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.active = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.active:
            return
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + " " * (self.width - filled)
        self.stream.write(f"\r\x1b[2K{self.label} [{bar}] {done}/{total} {what}")
        if done >= total:
            self.stream.write("\r\x1b[2K")
        self.stream.flush()
