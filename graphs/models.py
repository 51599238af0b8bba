"""The catalog's models as computation graphs, each a pure function of its sizes.

Sizes default to symbols (``n``, ``d_k``), so reverse mode gives formulas valid for every size;
integers give the same graph at concrete sizes for the entrywise checks. Structural counts (the
number of heads, of DenseNet layers) are integers by nature and are fixed per model.

>>> sorted(MODELS)[:3]
['attention', 'avg_pool', 'bp']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

from derive.errors import UnknownEntryError
from derive.notation import size

from .graph import GraphBuilder, Model, Tensor
from .matrices import CausalMask

__all__ = ["CATALOG_MODELS", "ENTRY_MODELS", "MODELS", "ModelSpec", "model", "models_for_entry"]

Sizes = Mapping[str, sp.Expr | int]


def _sizes(defaults: tuple[str, ...], given: Sizes | None) -> dict[str, sp.Expr]:
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise UnknownEntryError(f"unknown sizes {', '.join(sorted(unknown))}; this model has {', '.join(defaults)}")
    return {name: sp.sympify(given[name]) if name in given else size(name) for name in defaults}


def _softmax_ce(b: GraphBuilder, logits: Tensor, labels: Tensor) -> Tensor:
    """``L = -sum(y ∘ log softmax(z))`` (cross-entropy against a probability row)."""
    log_p = b("log_softmax", logits, label="logp")
    return b("scale", b("sum", labels * log_p), factor=-1, label="L")


def _attention(b: GraphBuilder, Q: Tensor, K: Tensor, V: Tensor, d_k: sp.Expr, suffix: str = "", causal: bool = False) -> Tensor:
    S = b("scale", Q @ K.T, factor=1 / sp.sqrt(d_k), label=f"S{suffix}")
    if causal:
        S = b("mask", S, mask=CausalMask(S.shape[0]), label=f"S_M{suffix}")
    A = b("softmax", S, label=f"A{suffix}")
    return b("matmul", A, V, label=f"O{suffix}" if not suffix else f"H{suffix}")


def _layer_norm(b: GraphBuilder, X: Tensor, suffix: str, eps: sp.Expr) -> Tensor:
    mu = b("row_mean", X, label=f"mu{suffix}")
    centred = b("add_col", X, -mu, label=f"Xc{suffix}")
    variance = b("row_mean", b("square", centred), label=f"var{suffix}")
    sigma = b("sqrt", b("shift", variance, constant=eps), label=f"sigma{suffix}")
    Xhat = b("mul_col", centred, b("reciprocal", sigma), label=f"Xhat{suffix}")
    d = X.shape[1]
    gamma = b.input(f"gamma{suffix}", (1, d), meaning="gain")
    beta = b.input(f"beta{suffix}", (1, d), meaning="shift")
    return b("add_row", b("mul_row", Xhat, gamma), beta, label=f"Y{suffix}")


def _ffn(b: GraphBuilder, X: Tensor, hidden: sp.Expr, suffix: str = "") -> Tensor:
    d = X.shape[1]
    W1, b1 = b.input(f"W_1{suffix}", (d, hidden)), b.input(f"b_1{suffix}", (1, hidden))
    W2, b2 = b.input(f"W_2{suffix}", (hidden, d)), b.input(f"b_2{suffix}", (1, d))
    H = b("add_row", X @ W1, b1, label=f"H{suffix}")
    R = b("relu", H, label=f"R{suffix}")
    return b("add_row", R @ W2, b2, label=f"F{suffix}")


def _multihead(b: GraphBuilder, X: Tensor, heads: int, d_k: sp.Expr) -> Tensor:
    d_model = X.shape[1]
    outputs = []
    for h in range(1, heads + 1):
        Q, K, V = (
            b("matmul", X, b.input(f"W_{name}{h}", (d_model, d_k), entries=f"W{name}{h}_"), label=f"{name}{h}")
            for name in ("Q", "K", "V")
        )
        outputs.append(_attention(b, Q, K, V, d_k, suffix=str(h)))
    C = outputs[0]
    for h, H in enumerate(outputs[1:], start=2):
        C = b("concat", C, H, label="C" if h == heads else f"C{h}")
    W_O = b.input("W_O", (heads * d_k, d_model), entries="WO")
    return b("matmul", C, W_O, label="MHA")


def perceptron(sizes: Sizes | None = None) -> Model:
    """The perceptron criterion ``J = (y - t) d`` with ``d = x^T w + b``: its gradient is the update rule."""
    s = _sizes(("n",), sizes)
    b = GraphBuilder("perceptron")
    x = b.input("x", (s["n"], 1), role="constant", meaning="one input pattern")
    w = b.input("w", (s["n"], 1), meaning="weights")
    bias = b.input("b", (1, 1), meaning="bias")
    c = b.input("c", (1, 1), role="constant", meaning="y - t: the output minus the target (0 or +-2)")
    d = b("add", x.T @ w, bias, label="d")
    J = b("mul", c, d, label="J")
    return b.model(J, "Perceptron criterion J = (y - t) d", seed="1", sizes=s,
                   notes=("the update w <- w - eta dJ/dw = w + eta (t - y) x is gradient descent on J",))


def bp(sizes: Sizes | None = None) -> Model:
    """The lecture's three-layer sigmoid network with squared error."""
    s = _sizes(("n_i", "n_h", "n_o"), sizes)
    b = GraphBuilder("bp")
    I = b.input("I", (s["n_i"], 1), role="constant", meaning="input pattern", entries="I")
    Wh = b.input("W_h", (s["n_h"], s["n_i"]), meaning="w_ji: input i -> hidden j", entries="wh")
    bh = b.input("b_h", (s["n_h"], 1), meaning="hidden biases", entries="bh")
    Wo = b.input("W_o", (s["n_o"], s["n_h"]), meaning="w_kj: hidden j -> output k", entries="wo")
    bo = b.input("b_o", (s["n_o"], 1), meaning="output biases", entries="bo")
    T = b.input("T", (s["n_o"], 1), role="constant", meaning="targets", entries="T")
    net_j = b("add", Wh @ I, bh, label="net_j")
    H = b("sigmoid", net_j, label="H")
    net_k = b("add", Wo @ H, bo, label="net_k")
    O = b("sigmoid", net_k, label="O")
    E = b("scale", b("sum", b("square", T - O)), factor=sp.Rational(1, 2), label="E")
    return b.model(E, "Back-propagation network, E = 1/2 sum (T - O)^2", seed="1", sizes=s,
                   notes=("the adjoint of net_k is -delta_k and that of net_j is -delta_j: the lecture's deltas "
                          "are minus the gradient, so its updates add",))


def softmax_ce(sizes: Sizes | None = None) -> Model:
    """Softmax cross-entropy of a logit row ``z`` against a label row ``y``."""
    s = _sizes(("n",), sizes)
    b = GraphBuilder("softmax_ce")
    z = b.input("z", (1, s["n"]), meaning="logits (a row)")
    y = b.input("y", (1, s["n"]), role="constant", meaning="labels (a probability row; one-hot in the lecture)")
    return b.model(_softmax_ce(b, z, y), "Softmax cross-entropy", seed="1", sizes=s,
                   notes=("dL/dz = p rowsum(y) - y; with sum(y) = 1 this is p - y",))


def kl(sizes: Sizes | None = None) -> Model:
    """``KL(p || softmax(z))`` as a function of the logits ``z``."""
    s = _sizes(("n",), sizes)
    b = GraphBuilder("kl")
    z = b.input("z", (1, s["n"]), meaning="logits of q")
    p = b.input("p", (1, s["n"]), role="constant", meaning="the target distribution (a row, p > 0)", domain="positive")
    log_q = b("log_softmax", z, label="logq")
    gap = b("sub", b("log", p), log_q, label="logratio")
    return b.model(b("sum", p * gap, label="KL"), "KL divergence through a softmax", seed="1", sizes=s,
                   notes=("dKL/dz = q rowsum(p) - p; with sum(p) = 1 this is q - p",))


def attention(sizes: Sizes | None = None, causal: bool = False) -> Model:
    """Scaled dot-product attention ``O = softmax(Q K^T / sqrt(d_k)) V``, upstream gradient ``G``."""
    s = _sizes(("n", "d_k"), sizes)
    b = GraphBuilder("causal_attention" if causal else "attention")
    Q, K, V = (b.input(name, (s["n"], s["d_k"])) for name in ("Q", "K", "V"))
    O = _attention(b, Q, K, V, s["d_k"], causal=causal)
    title = "Scaled dot-product attention" + (" with a causal mask" if causal else "")
    return b.model(O, title, sizes=s)


def causal_attention(sizes: Sizes | None = None) -> Model:
    """Attention with the causal mask ``M`` (query i sees keys j <= i)."""
    return attention(sizes, causal=True)


def multihead_attention(sizes: Sizes | None = None) -> Model:
    """Two-head self-attention with projections ``W_Q^h, W_K^h, W_V^h`` and ``W_O``."""
    s = _sizes(("n", "d_model", "d_k"), sizes)
    b = GraphBuilder("multihead_attention")
    X = b.input("X", (s["n"], s["d_model"]), role="input")
    out = _multihead(b, X, 2, s["d_k"])
    return b.model(out, "Multi-head self-attention (2 heads)", sizes=s)


def layernorm(sizes: Sizes | None = None) -> Model:
    """Layer normalisation of each row, with gain ``gamma`` and shift ``beta`` (rows)."""
    s = _sizes(("n", "d"), sizes)
    b = GraphBuilder("layernorm")
    X = b.input("X", (s["n"], s["d"]), role="input")
    return b.model(_layer_norm(b, X, "", sp.Symbol("epsilon", positive=True)), "Layer normalisation", sizes=s)


def ffn(sizes: Sizes | None = None) -> Model:
    """The position-wise feed-forward network ``relu(X W_1 + b_1) W_2 + b_2``."""
    s = _sizes(("n", "d", "d_ff"), sizes)
    b = GraphBuilder("ffn")
    X = b.input("X", (s["n"], s["d"]), role="input")
    return b.model(_ffn(b, X, s["d_ff"]), "Position-wise feed-forward network", sizes=s)


def encoder(sizes: Sizes | None = None) -> Model:
    """A Transformer encoder block: multi-head attention, Add & Norm, FFN, Add & Norm."""
    s = _sizes(("n", "d_model", "d_k", "d_ff"), sizes)
    b = GraphBuilder("encoder")
    eps = sp.Symbol("epsilon", positive=True)
    X = b.input("X", (s["n"], s["d_model"]), role="input")
    attended = _multihead(b, X, 2, s["d_k"])
    Y1 = _layer_norm(b, b("add", X, attended, label="Z1"), "1", eps)
    F = _ffn(b, Y1, s["d_ff"])
    Y2 = _layer_norm(b, b("add", Y1, F, label="Z2"), "2", eps)
    return b.model(Y2, "Transformer encoder block (2 heads, post-norm)", sizes=s)


def cnn(sizes: Sizes | None = None) -> Model:
    """A small CNN: one k x k convolution, ReLU, 2 x 2 max pooling, a dense layer, softmax CE."""
    s = _sizes(("h", "w", "k", "c"), sizes)
    b = GraphBuilder("cnn")
    X = b.input("X", (s["h"], s["w"]), role="constant", meaning="input image")
    K = b.input("K", (s["k"], s["k"]), meaning="convolution kernel")
    C = b("conv", X, K, label="C")
    R = b("relu", C, label="R")
    P = b("max_pool", R, k=2, label="P")
    f = b("flatten", P, label="f")
    W = b.input("W", (f.shape[1], s["c"]), meaning="dense weights")
    bias = b.input("b", (1, s["c"]), meaning="dense bias")
    z = b("add_row", f @ W, bias, label="z")
    y = b.input("y", (1, s["c"]), role="constant", meaning="labels (a probability row)")
    return b.model(_softmax_ce(b, z, y), "Small CNN: conv, ReLU, max pool, dense, softmax CE", seed="1", sizes=s,
                   notes=("(h - k + 1) and (w - k + 1) must be even for the 2 x 2 pooling",))


def densenet(sizes: Sizes | None = None) -> Model:
    """A DenseNet block of two layers: each layer sees every earlier feature (concatenated)."""
    s = _sizes(("n", "d", "g"), sizes)
    b = GraphBuilder("densenet")
    X = b.input("X_0", (s["n"], s["d"]), role="input", entries="X")
    features = X
    for layer in (1, 2):
        W = b.input(f"W_{layer}", (features.shape[1], s["g"]), meaning=f"layer {layer} weights (growth rate g)")
        H = b("relu", features @ W, label=f"H_{layer}")
        features = b("concat", features, H, label=f"X_{layer}")
    return b.model(features, "DenseNet block (2 layers, growth rate g)", sizes=s)


def entropy(sizes: Sizes | None = None) -> Model:
    """The entropy ``H(p) = -sum(p ∘ log p)`` of a positive row ``p``."""
    s = _sizes(("n",), sizes)
    b = GraphBuilder("entropy")
    p = b.input("p", (1, s["n"]), meaning="a distribution (a row, p > 0)", domain="positive")
    return b.model(b("scale", b("sum", p * b("log", p, label="logp")), factor=-1, label="H"), "Entropy", seed="1",
                   sizes=s, notes=("dH/dp = -(log p + 1), for any positive p (sum(p) = 1 is not used)",))


def kl_pq(sizes: Sizes | None = None) -> Model:
    """``KL(p || q) = sum(p ∘ (log p - log q))`` as a function of both positive rows."""
    s = _sizes(("n",), sizes)
    b = GraphBuilder("kl_pq")
    p = b.input("p", (1, s["n"]), meaning="the target distribution (a row, p > 0)", domain="positive")
    q = b.input("q", (1, s["n"]), meaning="the model distribution (a row, q > 0)", domain="positive")
    gap = b("sub", b("log", p), b("log", q), label="logratio")
    return b.model(b("sum", p * gap, label="KL"), "KL divergence of two distributions", seed="1", sizes=s)


def conv_layer(sizes: Sizes | None = None) -> Model:
    """One valid 2-D cross-correlation ``C = X ⋆ K`` (one channel), upstream gradient ``G``."""
    s = _sizes(("h", "w", "k"), sizes)
    b = GraphBuilder("conv_layer")
    X = b.input("X", (s["h"], s["w"]), role="input", meaning="input map")
    K = b.input("K", (s["k"], s["k"]), meaning="kernel")
    return b.model(b("conv", X, K, label="C"), "Convolution layer (one channel)", sizes=s)


def _pool(op: str, title: str) -> Callable[[Sizes | None], Model]:
    def build(sizes: Sizes | None = None) -> Model:
        s = _sizes(("h", "w"), sizes)
        b = GraphBuilder(op)
        X = b.input("X", (s["h"], s["w"]), role="input", meaning="input map (h and w even)")
        return b.model(b(op, X, k=2, label="P"), title, sizes=s,
                       notes=("2 x 2 windows, stride 2; at a tie max pooling routes the gradient to the first maximum",)
                       if op == "max_pool" else ("2 x 2 windows, stride 2",))

    build.__doc__ = f"{title}: 2 x 2 windows, stride 2, upstream gradient ``G``."
    return build


max_pool = _pool("max_pool", "Max pooling")
avg_pool = _pool("avg_pool", "Average pooling")


@dataclass(frozen=True)
class ModelSpec:
    """A model's builder and the concrete sizes at which its adjoints are checked entrywise."""

    build: Callable[..., Model]
    check_sizes: tuple[dict[str, int], ...]
    exact: bool = True  # False: too large for the zero test; compared at random points (numeric)


MODELS: dict[str, ModelSpec] = {
    "perceptron": ModelSpec(perceptron, ({"n": 1}, {"n": 3})),
    "bp": ModelSpec(bp, ({"n_i": 2, "n_h": 2, "n_o": 1}, {"n_i": 1, "n_h": 2, "n_o": 2})),
    "softmax_ce": ModelSpec(softmax_ce, ({"n": 1}, {"n": 3})),
    "kl": ModelSpec(kl, ({"n": 1}, {"n": 3})),
    "attention": ModelSpec(attention, ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 1})),
    "causal_attention": ModelSpec(causal_attention, ({"n": 2, "d_k": 2}, {"n": 3, "d_k": 1})),
    "multihead_attention": ModelSpec(multihead_attention, ({"n": 2, "d_model": 2, "d_k": 1},)),
    "layernorm": ModelSpec(layernorm, ({"n": 2, "d": 3}, {"n": 1, "d": 2})),
    "ffn": ModelSpec(ffn, ({"n": 2, "d": 2, "d_ff": 3},)),
    # ~19k operations per gradient entry even at n = 1: its blocks are checked exactly as models
    # of their own (multihead_attention, layernorm, ffn); the whole block numerically.
    "encoder": ModelSpec(encoder, ({"n": 1, "d_model": 2, "d_k": 1, "d_ff": 1},), exact=False),
    "cnn": ModelSpec(cnn, ({"h": 3, "w": 5, "k": 2, "c": 2}, {"h": 5, "w": 3, "k": 2, "c": 1})),
    "densenet": ModelSpec(densenet, ({"n": 2, "d": 2, "g": 1},)),
    "entropy": ModelSpec(entropy, ({"n": 1}, {"n": 3})),
    "kl_pq": ModelSpec(kl_pq, ({"n": 1}, {"n": 3})),
    "conv_layer": ModelSpec(conv_layer, ({"h": 3, "w": 4, "k": 2}, {"h": 4, "w": 3, "k": 3})),
    "max_pool": ModelSpec(max_pool, ({"h": 2, "w": 4}, {"h": 4, "w": 2})),
    "avg_pool": ModelSpec(avg_pool, ({"h": 2, "w": 4}, {"h": 4, "w": 2})),
}

# The catalog's own models. MODELS also takes forwards registered at run time (verify/expression.py).
CATALOG_MODELS: tuple[str, ...] = tuple(MODELS)

# catalog entry -> the models that carry its gradients
ENTRY_MODELS: dict[str, tuple[str, ...]] = {
    "perceptron": ("perceptron",),
    "bp": ("bp",),
    "softmax_ce": ("softmax_ce",),
    "information": ("entropy", "kl_pq", "kl"),
    "attention": ("attention", "causal_attention"),
    "multihead_attention": ("multihead_attention",),
    "layernorm": ("layernorm",),
    "ffn": ("ffn",),
    "conv": ("conv_layer", "cnn"),
    "pooling": ("max_pool", "avg_pool"),
}


def model(name: str, sizes: Sizes | None = None) -> Model:
    """Build a model by name (symbolic sizes unless given).

    >>> model("attention", {"n": 2, "d_k": 3}).graph.nodes["A"]["shape"]
    (2, 2)
    """
    if name not in MODELS:
        raise UnknownEntryError(f"no graph model {name!r}; there are {', '.join(sorted(MODELS))}")
    return MODELS[name].build(sizes)


def models_for_entry(name: str) -> tuple[str, ...]:
    """The models of a catalog entry, or of a model name itself; ``()`` when it has none."""
    return ENTRY_MODELS.get(name) or ((name,) if name in MODELS else ())
