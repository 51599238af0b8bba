"""Subtly wrong backward passes, each the kind of slip people make (forwards are the right ones)."""


import numpy as np
from right_layers import (  # noqa: F401 - the forwards are shared with the right file
    affine_forward,
    batchnorm_forward,
    conv_forward_naive,
    layernorm_forward,
    lstm_step_forward,
    max_pool_forward_naive,
    relu_forward,
    rnn_step_forward,
    sigmoid,
)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = np.mean(dout, axis=0)  # a mean, not a sum: right only at batch size 1
    return dx, dw, db


def relu_backward(dout, cache):
    x = cache
    return np.where(x > 0, dout, 0.01 * dout)  # the leaky ReLU's slope for a plain ReLU


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (dxhat - xhat * (dxhat * xhat).mean(axis=0)) / std  # the mean of dxhat dropped
    return dx, dgamma, dbeta


def layernorm_backward(dout, cache):
    xhat, gamma, std = cache
    D = xhat.shape[0]  # shape[0] (the batch) where the feature size belongs: right only when N == D
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dxhat = dout * gamma
    dx = (D * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (D * std)
    return dx, dgamma, dbeta


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            g = dout[:, :, i, j]
            dw += np.tensordot(g, window, axes=([0], [0]))
            dxp[:, :, i:i + HH, j:j + WW] += np.tensordot(g, w, axes=([1], [0]))  # stride forgotten: wrong at 2
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def conv_pad_backward_naive(dout, cache):
    """Right at padding 1, broken at padding 0 (x[-0:] is all of x): a bug seen in public code."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            g = dout[:, :, i, j]
            dw += np.tensordot(g, window, axes=([0], [0]))
            dxp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW] += np.tensordot(g, w, axes=([1], [0]))
    dx = dxp[:, :, pad:-pad, pad:-pad] if pad else dxp[:, :, 1:, 1:]  # the "fix" for -0 that is wrong
    return dx, dw, dout.sum(axis=(0, 2, 3))


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    _, _, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + a, j * s + b] = dout[n, c, i, j]  # '=' loses overlapping windows' share
    return dx


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h)  # tanh' is 1 - tanh^2
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    t = np.tanh(next_c)
    dc = dnext_c + dnext_h * (1 - t ** 2)  # the output gate o dropped: only next_h's gradient is wrong
    di, df, do, dg = dc * g, dc * prev_c, dnext_h * t, dc * i
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.log(p[np.arange(N), y]).mean()
    p[np.arange(N), y] -= 1
    return loss, p  # not divided by N: N times too large


def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean() + reg * np.sum(W * W)
    p[np.arange(N), y] -= 1
    dW = X.T @ p / N + reg * W  # d(reg |W|^2) is 2 reg W
    return loss, dW
