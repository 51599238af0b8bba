"""A fast convolution through np.lib.stride_tricks (im2col without copies), and sliding_window_view pooling."""

import matplotlib  # noqa: F401 - training scripts import plotting at the top
import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view


def _windows(x, HH, WW, stride):
    N, C, H, W = x.shape
    H_out = (H - HH) // stride + 1
    W_out = (W - WW) // stride + 1
    s = x.strides
    return as_strided(x, shape=(N, C, H_out, W_out, HH, WW),
                      strides=(s[0], s[1], s[2] * stride, s[3] * stride, s[2], s[3]), writeable=False)


def conv_forward_strides(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    F, C, HH, WW = w.shape
    cols = _windows(np.ascontiguousarray(xp), HH, WW, stride)
    out = np.einsum("nchwij,fcij->nfhw", cols, w) + b[None, :, None, None]
    return out, (x, w, b, conv_param, xp)


def conv_backward_strides(dout, cache):
    x, w, b, conv_param, xp = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, C, HH, WW = w.shape
    cols = _windows(np.ascontiguousarray(xp), HH, WW, stride)
    db = dout.sum(axis=(0, 2, 3))
    dw = np.einsum("nchwij,nfhw->fcij", cols, dout)
    dxp = np.zeros_like(xp)
    H_out, W_out = dout.shape[2:]
    for i in range(HH):
        for j in range(WW):
            dxp[:, :, i:i + stride * H_out:stride, j:j + stride * W_out:stride] += np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    dx = dxp[:, :, pad:xp.shape[2] - pad, pad:xp.shape[3] - pad]
    return dx, dw, db


def avg_pool_forward(x, pool_param):
    k = pool_param["size"]
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::k, ::k]
    return win.mean(axis=(-1, -2)), (x.shape, k)


def avg_pool_backward(dout, cache):
    shape, k = cache
    dx = np.zeros(shape)
    H_out, W_out = dout.shape[2:]
    dx[:, :, :H_out * k, :W_out * k] = np.repeat(np.repeat(dout, k, axis=2), k, axis=3) / (k * k)
    return dx
