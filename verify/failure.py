"""What a failed gradient check hands back: ``GradientMismatch`` with its fields, shown inputs, saved files.

A failure is an ``AssertionError`` (so pytest reports it as a failed test, not a crash) whose
fields say where: the phase that failed (``forward``, ``backward``, ``reference`` or
``compare``), the output, the input and the entry, both values, the allowed error, the seed and
sizes of the example, the inputs themselves, and the file they were saved to with a snippet that
checks them again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GradientMismatch", "describe_array", "entry_index", "failure_dir", "save_inputs", "show_inputs"]

SHOWN_ENTRIES = 36  # arrays up to this many entries are printed whole, larger ones summarised


class GradientMismatch(AssertionError):
    """A gradient check failed; ``str()`` explains it, the fields locate it.

    >>> e = GradientMismatch("dx differs", phase="compare", input="x", entry=(0, 1), yours=1.0, reference=2.0)
    >>> isinstance(e, AssertionError), e.phase, e.entry, e.output
    (True, 'compare', (0, 1), None)
    """

    def __init__(self, message: str, *, phase: str = "compare", output: int | None = None,
                 output_name: str | None = None, input: str | int | None = None,
                 entry: tuple[int, ...] | None = None, yours: float | None = None,
                 reference: float | None = None, tolerance: float | None = None, seed: int | None = None,
                 sizes: Mapping[str, int] | None = None, inputs: Any = None, saved: str | None = None,
                 verdicts: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.phase = phase
        self.output = output
        self.output_name = output_name
        self.input = input
        self.entry = entry
        self.yours = yours
        self.reference = reference
        self.tolerance = tolerance
        self.seed = seed
        self.sizes = dict(sizes or {})
        self.inputs = inputs
        self.saved = saved
        self.verdicts = dict(verdicts or {})

    def retold(self, text: str, saved: str | None) -> GradientMismatch:
        """The same failure with the whole message (inputs, where they were saved, how to check
        them again) and the saved file; every field and the cause kept.

        >>> e = GradientMismatch("dx differs", input="x", entry=(0,)).retold("dx differs; saved", "/tmp/f.npz")
        >>> str(e), e.input, e.entry, e.saved
        ('dx differs; saved', 'x', (0,), '/tmp/f.npz')
        """
        fields = {k: getattr(self, k) for k in ("phase", "output", "output_name", "input", "entry", "yours",
                                                "reference", "tolerance", "seed", "sizes", "inputs", "verdicts")}
        final = GradientMismatch(text, saved=saved, **fields)
        final.__cause__ = self.__cause__
        return final


def entry_index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A flat index as an index into ``shape``.

    >>> entry_index(5, (2, 3))
    (1, 2)
    """
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def describe_array(x: Any) -> str:
    """An array for a message: every entry when small, else its shape, dtype and range.

    >>> describe_array(np.array([1.0, 2.5]))
    '[1.0, 2.5]'
    >>> describe_array(np.zeros((10, 10)))
    'shape (10, 10) float64, entries in [0, 0]'
    """
    a = np.asarray(x)
    if a.size <= SHOWN_ENTRIES:
        return str(np.round(a.astype(np.float64), 4).tolist()) if a.dtype.kind in "fc" else str(a.tolist())
    if a.dtype.kind in "biu":
        return f"shape {a.shape} {a.dtype}, entries in [{a.min()}, {a.max()}]"
    return f"shape {a.shape} {a.dtype}, entries in [{a.min():.4g}, {a.max():.4g}]"


def show_inputs(inputs: Mapping[str, Any]) -> str:
    """One line per input for a message.

    >>> print(show_inputs({"x": np.array([1.0])}))
      x: [1.0]
    """
    return "\n".join(f"  {name}: {describe_array(value)}" for name, value in inputs.items())


def failure_dir() -> Path:
    """Where failing inputs are saved: ``$GRADPROOF_FAILURES``, else a folder in the temp directory.

    >>> failure_dir().name in ("gradproof-failures", Path(os.environ.get("GRADPROOF_FAILURES", "x")).name)
    True
    """
    return Path(os.environ.get("GRADPROOF_FAILURES") or Path(tempfile.gettempdir()) / "gradproof-failures")


def save_inputs(inputs: Mapping[str, np.ndarray], folder: Path | None = None) -> str | None:
    """Save the failing inputs as ``.npz`` (named by their content); returns the path, or None if it
    cannot be written (a failure to save never hides the failure itself).

    >>> path = save_inputs({"x": np.arange(3.0)})
    >>> np.load(path)["x"].tolist()
    [0.0, 1.0, 2.0]
    """
    folder = folder or failure_dir()
    digest = hashlib.sha256()
    for name, value in inputs.items():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"inputs-{digest.hexdigest()[:12]}.npz"
        np.savez(path, **{name: np.asarray(value) for name, value in inputs.items()})
    except OSError:
        return None
    return str(path)
