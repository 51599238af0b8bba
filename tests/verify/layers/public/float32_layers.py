"""Layers written for speed in float32, as many training scripts are."""

import numpy as np

DTYPE = np.float32


def dense_forward(x, W, b):
    x = x.astype(DTYPE)
    out = np.dot(x, W.astype(DTYPE)) + b.astype(DTYPE)
    return out, (x, W.astype(DTYPE))


def dense_backward(dout, cache):
    x, W = cache
    dout = dout.astype(DTYPE)
    return dout @ W.T, x.T @ dout, dout.sum(0)


def gelu_forward(x):
    x = np.asarray(x, dtype=np.float32)
    c = np.float32(np.sqrt(2.0 / np.pi))
    inner = c * (x + 0.044715 * x ** 3)
    t = np.tanh(inner)
    out = 0.5 * x * (1.0 + t)
    return out, (x, t, c)


def gelu_backward(dout, cache):
    x, t, c = cache
    dinner = c * (1.0 + 3 * 0.044715 * x ** 2)
    return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t ** 2) * dinner)
