"""Accurate float64 numerical derivatives of a user's own forward, with their error estimates.

The reference for a NumPy layer with no torch twin. Each partial derivative of a vector of scalar
losses ``phi(t)`` (one per output, ``<dout_k, out_k(x + t e_j)>``) is Ridders' extrapolation of
central differences (Numerical Recipes' ``dfridr``, the method derivcheck uses): steps ``h, h/2,
h/4, ...``, a Neville table that cancels the ``h^2, h^4, ...`` terms, and the table's own error
estimate, which the comparison adds to its tolerance. Where the estimate stays poor (a kink or a
tie within the first steps) the extrapolation is redone from a step 1000 times smaller.

One-sided differences (``one_sided``) tell a kink from a smooth point: at a kink the left and
right derivatives differ by an amount that does not shrink with the step.

What is not checked: that ``phi`` is deterministic (a forward that draws random numbers has no
derivative to estimate), and derivatives along several entries at once (each entry is its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["NumericGradient", "entry_phi", "numeric_gradient", "one_sided", "ridders"]

Phi = Callable[[float], np.ndarray]
EPS = float(np.finfo(np.float64).eps)


def ridders(phi: Phi, h: float, *, con: float = 2.0, levels: int = 6, safe: float = 2.0,
            enough: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``phi'(0)`` for a vector-valued ``phi`` by Ridders' extrapolation; returns (value, error estimate).

    The table grows until rounding takes over, or until the estimate is at most ``enough`` (the
    rounding floor the caller adds anyway: a layer linear in an input is done after 4 calls).

    >>> value, error = ridders(lambda t: np.array([np.sin(1.0 + t)]), 0.1)
    >>> bool(abs(value[0] - np.cos(1.0)) < 1e-12), bool(error[0] < 1e-9)
    (True, True)
    """
    table: list[list[np.ndarray]] = [[(phi(h) - phi(-h)) / (2 * h)]]
    best = table[0][0].copy()
    error = np.full_like(best, np.inf)
    done = np.zeros(best.shape, dtype=bool)
    for i in range(1, levels):
        h /= con
        row = [(phi(h) - phi(-h)) / (2 * h)]
        factor = con * con
        for j in range(1, i + 1):
            row.append((row[j - 1] * factor - table[i - 1][j - 1]) / (factor - 1))
            factor *= con * con
            estimate = np.maximum(np.abs(row[j] - row[j - 1]), np.abs(row[j] - table[i - 1][j - 1]))
            better = (estimate <= error) & ~done
            best = np.where(better, row[j], best)
            error = np.where(better, estimate, error)
        table.append(row)
        # Rounding has taken over once the diagonal moves away by more than the error: stop there.
        done |= (np.abs(row[i] - table[i - 1][i - 1]) >= safe * error) | (error <= enough)
        if done.all():
            break
    return best, error


def one_sided(phi: Phi, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The left and right difference quotients of ``phi`` at 0 with step ``h`` (a kink shows as a gap).

    >>> left, right = one_sided(lambda t: np.array([abs(t)]), 1e-6)
    >>> float(left[0]), float(right[0])
    (-1.0, 1.0)
    """
    base = phi(0.0)
    return (base - phi(-h)) / h, (phi(h) - base) / h


@dataclass(frozen=True)
class NumericGradient:
    """Partial derivatives of the K losses with respect to one array: ``value[k]`` has the array's
    shape, ``error[k]`` the error estimate of each entry."""

    value: np.ndarray
    error: np.ndarray


def _step(x: float) -> float:
    # Relative to the entry's size (a step of 1e-2 on an entry of 1e4 is lost in rounding), at
    # least 1e-2 so that entries near 0 still move by more than rounding.
    return 1e-2 * max(1.0, abs(x))


def entry_phi(losses: Callable[[list[np.ndarray]], np.ndarray], arrays: list[np.ndarray], which: int,
              entry: int) -> Phi:
    """``t -> losses(arrays with entry ``entry`` of array ``which`` moved by t)`` (the arrays are not changed).

    >>> phi = entry_phi(lambda a: np.array([float((a[0] ** 2).sum())]), [np.ones(3)], 0, 1)
    >>> float(phi(1.0)[0])
    6.0
    """
    work = list(arrays)
    moved = arrays[which].astype(np.float64, copy=True)
    flat = moved.reshape(-1)
    base = float(flat[entry])
    work[which] = moved

    def phi(t: float) -> np.ndarray:
        flat[entry] = base + t
        try:
            return np.asarray(losses(work), dtype=np.float64)
        finally:
            flat[entry] = base

    return phi


# Rounding in phi (about eps * scale, scale the sum of |terms| of each loss) divided by the
# smallest step Ridders takes (h / 2^5), times a few for the extrapolation: the error estimate is
# never below this, since the table's own estimate can be 0 when its entries agree by chance.
NOISE = 128.0


def numeric_gradient(losses: Callable[[list[np.ndarray]], np.ndarray], arrays: list[np.ndarray],
                     which: int, scale: np.ndarray | float = 0.0) -> NumericGradient:
    """The partial derivatives of ``losses(arrays)`` (a vector of K scalars) with respect to ``arrays[which]``.

    ``losses`` must not change the arrays it is given (pass it copies if the code it runs might).
    ``scale`` (per loss: the sum of the absolute terms it adds up) sets the rounding floor of the
    error estimate.

    >>> g = numeric_gradient(lambda a: np.array([float((a[0] ** 3).sum())]), [np.array([1.0, 2.0])], 0)
    >>> np.round(g.value, 9).tolist()
    [[3.0, 12.0]]
    """
    x = arrays[which]
    count = len(np.atleast_1d(np.asarray(losses(list(arrays)))))
    values = np.zeros((count, x.size))
    errors = np.zeros((count, x.size))
    for entry in range(x.size):
        phi = entry_phi(losses, arrays, which, entry)
        h = _step(float(x.reshape(-1)[entry]))
        floor = NOISE * EPS * scale / h
        value, error = ridders(phi, h, enough=floor)
        error = np.maximum(error, floor)
        poor = ~(error <= 1e-6 * np.maximum(1.0, np.abs(value)))  # NaN too: a step left the forward's domain
        if poor.any():  # a kink, a tie or a domain edge within the first steps: start again much closer
            value2, error2 = ridders(phi, h * 1e-3)
            error2 = np.maximum(error2, NOISE * EPS * scale / (h * 1e-3))
            better = (error2 < error) | (~np.isfinite(error) & np.isfinite(error2))
            value, error = np.where(better, value2, value), np.where(better, error2, error)
        values[:, entry], errors[:, entry] = value, error
    shape = (count, *x.shape)
    return NumericGradient(values.reshape(shape), errors.reshape(shape))
