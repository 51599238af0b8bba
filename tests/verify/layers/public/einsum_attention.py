"""Single-head scaled dot-product attention, batched, written with np.einsum."""

import numpy as np


def softmax(s, axis=-1):
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)


def attention_forward(Q, K, V):
    d = Q.shape[-1]
    scores = np.einsum("bqd,bkd->bqk", Q, K) / np.sqrt(d)
    P = softmax(scores)
    out = np.einsum("bqk,bkd->bqd", P, V)
    return out, (Q, K, V, P)


def attention_backward(dout, cache):
    Q, K, V, P = cache
    d = Q.shape[-1]
    dV = np.einsum("bqk,bqd->bkd", P, dout)
    dP = np.einsum("bqd,bkd->bqk", dout, V)
    dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True))
    dS /= np.sqrt(d)
    dQ = np.einsum("bqk,bkd->bqd", dS, K)
    dK = np.einsum("bqk,bqd->bkd", dS, Q)
    return dQ, dK, dV
