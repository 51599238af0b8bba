"""cs231n assignment 1's TwoLayerNet: loss(X, y) returns the loss and a dict of gradients; parameters in self.params."""

# ruff: noqa: UP004 - written as the assignment is (Python 2 compatible classes)
import numpy as np


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1).dot(w) + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return dout.dot(w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T.dot(dout), dout.sum(axis=0)


class TwoLayerNet(object):
    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):
        self.params = {}
        self.reg = reg
        self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b2"] = np.zeros(num_classes)

    def loss(self, X, y=None):
        W1, b1, W2, b2 = self.params["W1"], self.params["b1"], self.params["W2"], self.params["b2"]
        h, cache1 = affine_forward(X, W1, b1)
        a = np.maximum(h, 0)
        scores, cache3 = affine_forward(a, W2, b2)
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        N = X.shape[0]
        loss = -logp[np.arange(N), y].mean() + 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = np.exp(logp)
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {}
        da, grads["W2"], grads["b2"] = affine_backward(dscores, cache3)
        _, grads["W1"], grads["b1"] = affine_backward(da * (h > 0), cache1)
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        return loss, grads
