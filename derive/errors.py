"""The error hierarchy: every error a user can cause says what was wrong and what to do."""

from __future__ import annotations

__all__ = ["GradproofError", "UnknownEntryError", "SizeError"]


class GradproofError(Exception):
    """Base of every error gradproof raises on purpose; the CLI prints its message in one line."""


class UnknownEntryError(GradproofError, KeyError):
    """A catalog name that does not exist; the message names the close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class SizeError(GradproofError, ValueError):
    """Sizes that a derivation cannot be built at (unknown name, out of range, not an integer)."""
