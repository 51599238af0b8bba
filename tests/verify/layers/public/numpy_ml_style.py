"""numpy-ml style: layers are objects with parameters in a dict and a retain_derived flag; here the
functional core they call, with keyword-only and default arguments and type hints."""

from __future__ import annotations

import numpy as np

EPS: float = 1e-5  # a module-level constant the layer reads


def layernorm_forward(X: np.ndarray, scaler: np.ndarray, intercept: np.ndarray, *, epsilon: float = EPS
                      ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    mean = X.mean(axis=1, keepdims=True)
    var = X.var(axis=1, keepdims=True)
    std = np.sqrt(var + epsilon)
    Xn = (X - mean) / std
    Y = scaler * Xn + intercept
    return Y, (Xn, std, scaler)


def layernorm_backward(dLdy: np.ndarray, cache: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    Xn, std, scaler = cache
    D = Xn.shape[1]
    dXn = dLdy * scaler
    dX = (D * dXn - dXn.sum(axis=1, keepdims=True) - Xn * (dXn * Xn).sum(axis=1, keepdims=True)) / (D * std)
    dScaler = (dLdy * Xn).sum(axis=0)
    dIntercept = dLdy.sum(axis=0)
    return dX, dScaler, dIntercept


def softplus_forward(z: np.ndarray, beta: float = 1.0) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    return np.logaddexp(0.0, beta * z) / beta, (z, beta)


def softplus_backward(dout: np.ndarray, cache: tuple[np.ndarray, float]) -> np.ndarray:
    z, beta = cache
    return dout / (1.0 + np.exp(-beta * z))


def leaky_relu_forward(z, alpha=0.3):
    out = z.copy()
    out[z < 0] *= alpha
    return out, (z, alpha)


def leaky_relu_backward(dout, cache):
    z, alpha = cache
    dz = np.ones_like(z)
    dz[z < 0] = alpha
    return dout * dz


def elu_forward(z, alpha=1.0):
    return np.where(z > 0, z, alpha * (np.exp(z) - 1)), (z, alpha)


def elu_backward(dout, cache):
    z, alpha = cache
    return dout * np.where(z > 0, np.ones_like(z), alpha * np.exp(z))
