"""Class-based layers as hand-written frameworks write them: parameters in self.params, gradients in
self.grads, the forward's input kept on self for the backward."""

import numpy as np


class Linear:
    def __init__(self, in_features=3, out_features=2, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.standard_normal((in_features, out_features)) * 0.1, "b": np.zeros(out_features)}
        self.grads = {}
        self.cache = None

    def forward(self, x):
        self.cache = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad):
        x = self.cache
        self.grads["W"] = x.T @ grad
        self.grads["b"] = grad.sum(axis=0)
        return grad @ self.params["W"].T


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, grad):
        return grad * self.mask


class Sigmoid:
    """Stateless, in the (out, cache) convention, with static methods."""

    @staticmethod
    def forward(x):
        out = 1.0 / (1.0 + np.exp(-x))
        return out, out

    @staticmethod
    def backward(dout, cache):
        out = cache
        return dout * out * (1.0 - out)


class Tanh:
    @staticmethod
    def forward(x):
        y = np.tanh(x)
        return y, y

    @staticmethod
    def backward(dy, y):
        return dy * (1 - y * y)


class Dense:
    """Attributes, not dicts: self.W and self.b, gradients self.dW and self.db."""

    def __init__(self, n_in=2, n_out=2):
        self.W = np.random.randn(n_in, n_out) * np.sqrt(2.0 / n_in)
        self.b = np.zeros((1, n_out))

    def forward(self, X):
        self.X = X
        return X.dot(self.W) + self.b

    def backward(self, dY):
        m = self.X.shape[0]
        self.dW = self.X.T.dot(dY)
        self.db = np.sum(dY, axis=0, keepdims=True)
        return dY.dot(self.W.T) if m else None


class Embedding:
    def __init__(self, vocab=4, dim=2):
        self.params = {"W": np.random.randn(vocab, dim)}
        self.grads = {"W": np.zeros((vocab, dim))}

    def forward(self, idx):
        self.idx = idx
        return self.params["W"][idx]

    def backward(self, dout):
        self.grads["W"] = np.zeros_like(self.params["W"])
        np.add.at(self.grads["W"], self.idx, dout)
        return None


class LayerNorm1D:
    """numpy-ml style: self.parameters and self.gradients, a retain_derived flag with a default."""

    def __init__(self, epsilon=1e-5):
        self.epsilon = epsilon
        self.parameters = {"scaler": None, "intercept": None}
        self.gradients = {"scaler": None, "intercept": None}

    def forward(self, X, retain_derived=True):
        mean = X.mean(axis=1, keepdims=True)
        var = X.var(axis=1, keepdims=True)
        self.std = np.sqrt(var + self.epsilon)
        self.Xn = (X - mean) / self.std
        return self.parameters["scaler"] * self.Xn + self.parameters["intercept"]

    def backward(self, dLdy, retain_grads=True):
        Xn, std, scaler = self.Xn, self.std, self.parameters["scaler"]
        D = Xn.shape[1]
        dXn = dLdy * scaler
        self.gradients["scaler"] = (dLdy * Xn).sum(axis=0)
        self.gradients["intercept"] = dLdy.sum(axis=0)
        return (D * dXn - dXn.sum(axis=1, keepdims=True) - Xn * (dXn * Xn).sum(axis=1, keepdims=True)) / (D * std)


class AffineLayer:
    """Methods in the (out, cache) convention that take self and never use it."""

    def forward(self, x, w, b):
        out = x @ w + b
        return out, (x, w)

    def backward(self, dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.sum(0)


class FullyConnected:
    """A backward that returns every gradient (dx, dW, db) instead of keeping them on self."""

    def __init__(self):
        self.W = np.zeros((2, 2))
        self.b = np.zeros(2)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        return dout @ self.W.T, self.x.T @ dout, dout.sum(axis=0)
