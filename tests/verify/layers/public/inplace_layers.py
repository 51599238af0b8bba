"""Layers that work in place, as memory-conscious code does: the backward writes into dout."""

import numpy as np


def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out, x


def relu_backward(dout, cache):
    x = cache
    dout[x <= 0] = 0
    return dout


def center_forward(x):
    x -= x.mean(axis=0)  # in place on the caller's array
    return x.copy(), None


def center_backward(dout, cache):
    return dout - dout.mean(axis=0)


def scale_shift_forward(x, gamma, beta):
    out = np.empty_like(x)
    np.multiply(x, gamma, out=out)
    out += beta
    return out, (x, gamma)


def scale_shift_backward(dout, cache):
    x, gamma = cache
    dgamma = np.einsum("nd,nd->d", dout, x)
    dbeta = dout.sum(0)
    dout *= gamma
    return dout, dgamma, dbeta
