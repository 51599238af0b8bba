"""Independent torch implementations of the lecture's networks; their gradients come from autograd.

Written the way practitioners write them (``F.cross_entropy`` with probabilities, ``F.kl_div``,
``F.scaled_dot_product_attention``, ``F.layer_norm``, ``F.conv2d``, ``F.max_pool2d``, projections
as in ``nn.MultiheadAttention``), with no code shared with derive/ or graphs/: this is the side of
a check that knows nothing about our formulas. Every function takes a leading batch dimension
and returns one value per batch element (a loss) or the batch of values (an output); weights are
batched too, so one call checks many independent problems. Vectors are 1-D per batch element.

``gradient`` and ``hessian`` turn a loss into the quantity a catalog target names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "LAYER_NORM_EPS",
    "attention_loss",
    "attention_loss_of_scores",
    "attention_loss_of_weights",
    "avg_pool_loss",
    "batch_cross_entropy",
    "conv_loss",
    "cross_entropy",
    "deep_network",
    "entropy",
    "ffn_loss",
    "gradient",
    "gradients",
    "hessian",
    "kl_divergence",
    "kl_through_softmax",
    "layer_norm_loss",
    "max_pool_loss",
    "multihead_loss",
    "perceptron_criterion",
    "positional_encoding",
    "sigmoid_network",
    "squared_error",
]

Tensors = dict[str, torch.Tensor]
LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default


def gradient(loss: Callable[..., torch.Tensor], wrt: str, values: Tensors) -> torch.Tensor:
    """d loss / d values[wrt] for every batch element (the losses are independent, so their sum's
    gradient is each one's gradient).

    >>> x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> gradient(lambda x: (x ** 2).sum(-1), "x", {"x": x})
    tensor([[2., 4.]], dtype=torch.float64)
    """
    (grad,) = gradients(loss, (wrt,), values)
    return grad


def gradients(loss: Callable[..., torch.Tensor], wrt: Sequence[str], values: Tensors) -> tuple[torch.Tensor, ...]:
    """d loss / d values[w] for each ``w`` of ``wrt``, from one backward pass.

    >>> x, y = (torch.tensor([[1.0, 2.0]], dtype=torch.float64) for _ in range(2))
    >>> [g.tolist() for g in gradients(lambda x, y: (x * y).sum(-1), ("x", "y"), {"x": x, "y": 3 * y})]
    [[[3.0, 6.0]], [[1.0, 2.0]]]
    """
    leaves = {k: (v.detach().clone().requires_grad_(k in wrt)) for k, v in values.items()}
    return torch.autograd.grad(loss(**leaves).sum(), [leaves[w] for w in wrt])


def hessian(loss: Callable[..., torch.Tensor], wrt: str, values: Tensors) -> torch.Tensor:
    """The Hessian of a loss of one vector, per batch element (``torch.func``).

    >>> z = torch.zeros(1, 2, dtype=torch.float64)
    >>> hessian(lambda z: (z ** 2).sum(-1), "z", {"z": z})[0]
    tensor([[2., 0.],
            [0., 2.]], dtype=torch.float64)
    """
    names = list(values)

    def one(*args: torch.Tensor) -> torch.Tensor:
        return loss(**{n: a[None] for n, a in zip(names, args)})[0]

    return torch.func.vmap(torch.func.hessian(one, argnums=names.index(wrt)))(*values.values())


def _matvec(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (W @ x.unsqueeze(-1)).squeeze(-1)


def perceptron_criterion(w: torch.Tensor, x: torch.Tensor, b: torch.Tensor, y: torch.Tensor, t: torch.Tensor,
                         **_: Any) -> torch.Tensor:
    """``J = (y - t)(w . x + b)``: zero when the output y equals the target t."""
    return (y - t) * ((w * x).sum(-1) + b)


def squared_error(T: torch.Tensor, O: torch.Tensor) -> torch.Tensor:
    """``E = 1/2 sum (T - O)^2``."""
    return 0.5 * F.mse_loss(O, T, reduction="none").sum(-1)


def sigmoid_network(I: torch.Tensor, wh: torch.Tensor, bh: torch.Tensor, wo: torch.Tensor, bo: torch.Tensor,
                    T: torch.Tensor, **_: Any) -> torch.Tensor:
    """The lecture's three-layer sigmoid network's error for one pattern."""
    hidden = torch.sigmoid(_matvec(wh, I) + bh)
    return squared_error(T, torch.sigmoid(_matvec(wo, hidden) + bo))


def deep_network(net1: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor, T: torch.Tensor,
                 activation: Callable[[torch.Tensor], torch.Tensor] = torch.tanh, **_: Any) -> torch.Tensor:
    """Two more layers on top of the first pre-activation ``net1``, no biases, any activation."""
    net2 = _matvec(wa, activation(net1))
    net3 = _matvec(wb, activation(net2))
    return squared_error(T, activation(net3))


def cross_entropy(z: torch.Tensor, y: torch.Tensor, **_: Any) -> torch.Tensor:
    """Softmax cross-entropy of logits against probability labels (``F.cross_entropy``)."""
    return F.cross_entropy(z, y, reduction="none")


def batch_cross_entropy(Z: torch.Tensor, Y: torch.Tensor, **_: Any) -> torch.Tensor:
    """The mean over a mini-batch of rows, as ``F.cross_entropy`` reduces by default."""
    batch, rows, classes = Z.shape
    per_row = F.cross_entropy(Z.reshape(-1, classes), Y.reshape(-1, classes), reduction="none")
    return per_row.reshape(batch, rows).mean(-1)


def entropy(p: torch.Tensor, **_: Any) -> torch.Tensor:
    """``H(p) = -sum p log p`` (``torch.special.entr``, 0 at p = 0)."""
    return torch.special.entr(p).sum(-1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, **_: Any) -> torch.Tensor:
    """``KL(p || q)`` with ``F.kl_div`` (which takes log q and p)."""
    return F.kl_div(q.log(), p, reduction="none").sum(-1)


def kl_through_softmax(p: torch.Tensor, z: torch.Tensor, **_: Any) -> torch.Tensor:
    """``KL(p || softmax(z))`` from logits, with ``log_softmax`` (stable)."""
    return F.kl_div(F.log_softmax(z, -1), p, reduction="none").sum(-1)


def _causal(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.ones(n, n, dtype=torch.bool, device=like.device).tril()


def attention_loss(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, G: torch.Tensor, causal: bool = False,
                   **_: Any) -> torch.Tensor:
    """``sum(G * softmax(Q K^T / sqrt(d_k)) V)`` with ``F.scaled_dot_product_attention``."""
    return (G * F.scaled_dot_product_attention(Q, K, V, is_causal=causal)).sum((-2, -1))


def attention_loss_of_scores(S: torch.Tensor, V: torch.Tensor, G: torch.Tensor, causal: bool = False,
                             **_: Any) -> torch.Tensor:
    """The same loss as a function of the scores (masked scores are -inf, as in SDPA)."""
    if causal:
        S = S.masked_fill(~_causal(S.shape[-1], S), float("-inf"))
    return (G * (F.softmax(S, -1) @ V)).sum((-2, -1))


def attention_loss_of_weights(A: torch.Tensor, V: torch.Tensor, G: torch.Tensor, causal: bool = False,
                              **_: Any) -> torch.Tensor:
    """The loss as a function of the attention weights; with a mask, masked weights are held at 0."""
    if causal:
        A = A * _causal(A.shape[-1], A)
    return (G * (A @ V)).sum((-2, -1))


def multihead_loss(X: torch.Tensor, W_Q: torch.Tensor, W_K: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor,
                   G: torch.Tensor, **_: Any) -> torch.Tensor:
    """Self-attention with per-head projections ``W_Q[h]`` (d_model x d_k), heads concatenated, then ``W_O``."""
    project = lambda W: torch.einsum("bnm,bhmk->bhnk", X, W)
    heads = F.scaled_dot_product_attention(project(W_Q), project(W_K), project(W_V))  # (b, h, n, d_k)
    concatenated = heads.transpose(1, 2).flatten(-2)  # (b, n, h d_k)
    return (G * (concatenated @ W_O)).sum((-2, -1))


def layer_norm_loss(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, G: torch.Tensor,
                    **_: Any) -> torch.Tensor:
    """``sum(G * LayerNorm(X))`` per row, with a gain and shift of each problem's own."""
    normalised = F.layer_norm(X, X.shape[-1:], eps=LAYER_NORM_EPS)
    return (G * (normalised * gamma.unsqueeze(-2) + beta.unsqueeze(-2))).sum((-2, -1))


def ffn_loss(X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor, b2: torch.Tensor,
             G: torch.Tensor, **_: Any) -> torch.Tensor:
    """``sum(G * (relu(X W1 + b1) W2 + b2))``."""
    hidden = F.relu(X @ W1 + b1.unsqueeze(-2))
    return (G * (hidden @ W2 + b2.unsqueeze(-2))).sum((-2, -1))


def conv_loss(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor, G: torch.Tensor, **_: Any) -> torch.Tensor:
    """``sum(G * conv2d(X, W, b))`` with a kernel per problem: the batch becomes groups."""
    batch, c_in, height, width = X.shape
    c_out = W.shape[1]
    out = F.conv2d(X.reshape(1, batch * c_in, height, width), W.reshape(batch * c_out, *W.shape[2:]),
                   b.reshape(batch * c_out), groups=batch)
    return (G * out.reshape(batch, c_out, *out.shape[-2:])).sum((-3, -2, -1))


def max_pool_loss(X: torch.Tensor, G: torch.Tensor, k: int, s: int, **_: Any) -> torch.Tensor:
    """``sum(G * max_pool2d(X))`` for one channel."""
    return (G * F.max_pool2d(X.unsqueeze(1), k, s).squeeze(1)).sum((-2, -1))


def avg_pool_loss(X: torch.Tensor, G: torch.Tensor, k: int, s: int, **_: Any) -> torch.Tensor:
    """``sum(G * avg_pool2d(X))`` for one channel."""
    return (G * F.avg_pool2d(X.unsqueeze(1), k, s).squeeze(1)).sum((-2, -1))


def positional_encoding(position: torch.Tensor, d_model: int) -> torch.Tensor:
    """``PE(pos)``: sin and cos of ``pos / 10000^(2i/d_model)``, interleaved, per batch element.

    >>> positional_encoding(torch.zeros(1, dtype=torch.float64), 4)[0]
    tensor([0., 1., 0., 1.], dtype=torch.float64)
    """
    frequency = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=position.dtype, device=position.device) / d_model)
    angles = position.unsqueeze(-1) * frequency
    return torch.stack([angles.sin(), angles.cos()], -1).flatten(-2)
