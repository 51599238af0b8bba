"""cs231n assignment 2's fc_net.py: a class whose loss(X, y) returns the loss and a dict of gradients, with its
parameters in self.params, importing the package's layers relatively."""
# ruff: noqa: UP004, UP029 - written as the assignment is (Python 2 compatible classes)

from builtins import object

import numpy as np

from ..layers import *  # noqa: F403


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
        h, cache1 = affine_forward(X, W1, b1)  # noqa: F405
        a, cache2 = relu_forward(h)  # noqa: F405
        scores, cache3 = affine_forward(a, W2, b2)  # noqa: F405
        if y is None:
            return scores
        loss, grads = 0, {}
        loss, dscores = softmax_loss(scores, y)  # noqa: F405
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        da, grads["W2"], grads["b2"] = affine_backward(dscores, cache3)  # noqa: F405
        dh = relu_backward(da, cache2)  # noqa: F405
        _, grads["W1"], grads["b1"] = affine_backward(dh, cache1)  # noqa: F405
        grads["W1"] += self.reg * W1
        grads["W2"] += self.reg * W2
        return loss, grads
