"""Every catalog target as a numeric check: its inputs, its reference value, and its two routes.

One row per target, data only (the machinery is in check.py):

- ``inputs``: the tensors the target is a function of, with shapes in the entry's size names and
  a domain from strategies.py. Names are derive's, so derive's entry symbols (``wo_12``) find them.
- ``reference``: the target's value from reference.py (torch.nn.functional + autograd).
- ``entrywise``: derive's closed form at concrete sizes (the claimed side of the claim), compiled
  by ``compile_entries``. Where derive names an entry differently from the tensor (``WQ1__21`` is
  ``W_Q[0, 1, 0]``), an alias says so; ``extra`` supplies symbols that are functions of the inputs
  (FFN's activation pattern ``s``), ``prepare`` turns a general claim into the lecture's case (the
  back-propagation claims hold for any activation ``f``: checked with the sigmoid, and the deep
  recursion with tanh), and ``select`` picks a row of a claim stated per region (max pooling).
- ``matrix``: graphs/' reverse-mode formula for the model that carries the target, compiled by
  ``compile_model`` at symbolic sizes, with ``feed`` arranging the target's tensors as the model's
  inputs and ``value`` turning adjoints into the target (an update rule, a delta's sign).

Targets without a model (second derivatives, a linear-output delta, the positional encoding
identity) have ``matrix = None``; the checker says so instead of skipping silently.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy as sp
import torch

from derive.topics.pooling import windows

from . import reference as ref

__all__ = ["TARGETS", "Alias", "EntrywiseRoute", "Input", "MatrixRoute", "Target", "shape_of", "targets_for"]

Tensors = dict[str, torch.Tensor]
Sizes = Mapping[str, int]
Shape = tuple[str | int, ...] | Callable[[Sizes], tuple[int, ...]]


@dataclass(frozen=True)
class Input:
    """One input tensor of a target (per batch element): name, shape, domain."""

    name: str
    shape: Shape = ()
    domain: str = "real"


def shape_of(item: Input, sizes: Sizes) -> tuple[int, ...]:
    """An input's concrete shape at ``sizes``.

    >>> shape_of(Input("Q", ("n", "d_k")), {"n": 3, "d_k": 2})
    (3, 2)
    """
    if callable(item.shape):
        return tuple(item.shape(sizes))
    return tuple(sizes[s] if isinstance(s, str) else s for s in item.shape)


@dataclass(frozen=True)
class Alias:
    """Entry symbols ``<pattern>_<indices>`` belong to ``tensor``; the pattern's groups are leading
    (1-based) indices: ``Alias(r"WQ(\\d)_", "W_Q")`` puts ``WQ2__31`` at ``W_Q[1, 2, 0]``."""

    pattern: str
    tensor: str


@dataclass(frozen=True)
class EntrywiseRoute:
    sizes: Mapping[str, int]
    aliases: tuple[Alias, ...] = ()
    extra: Callable[[Tensors], Tensors] | None = None
    prepare: Callable[[sp.Matrix], sp.Matrix] | None = None
    select: Callable[[torch.Tensor, Tensors, Sizes], torch.Tensor] | None = None


@dataclass(frozen=True)
class MatrixRoute:
    model: str
    adjoints: tuple[str, ...]  # model input labels whose adjoints make the target
    feed: Callable[[Tensors], Tensors]
    value: Callable[[dict[str, torch.Tensor], Tensors], torch.Tensor] | None = None  # default: the one adjoint
    sizes: Mapping[str, tuple[int, int]] | None = None  # ranges where the model applies, if narrower
    cut: str | None = None  # the model cut at this tensor (an intermediate made an input)
    size_rule: Callable[[dict[str, int]], bool] | None = None  # sizes the model takes, if not all


@dataclass(frozen=True)
class Target:
    entry: str
    name: str
    inputs: tuple[Input, ...]
    reference: Callable[[Tensors, Sizes], torch.Tensor]
    entrywise: EntrywiseRoute
    matrix: MatrixRoute | None
    small: Mapping[str, tuple[int, int]]  # size ranges Hypothesis draws from for the matrix route
    large: Mapping[str, int] = field(default_factory=dict)  # one production-scale point
    size_rule: Callable[[dict[str, int]], bool] | None = None
    notes: str = ""
    claim_id: str = ""  # the claim's id where derive's catalog does not hold it (an entry written as a forward)

    @property
    def key(self) -> str:
        return f"{self.entry}:{self.name}"

    @property
    def claim(self) -> str:
        """The key of derive's claim this target checks: ``entry:claim`` is the id derive, verify and
        the homework problems share.

        >>> targets_for(("softmax_ce:dL/dz",))[0].claim
        'grad_z'
        """
        if self.claim_id:
            return self.claim_id
        from derive.catalog import NAMES

        return _claims(self.entry).get(self.name, "") if self.entry in NAMES else ""


# --- small helpers for feeds: vectors are 1-D per problem in the references, 2-D in the models
def col(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(-1)


def row(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(-2)


def one(x: torch.Tensor) -> torch.Tensor:
    return x[..., None, None]


def _grad(loss: Callable[..., torch.Tensor], wrt: str) -> Callable[[Tensors, Sizes], torch.Tensor]:
    return lambda t, s: ref.gradient(loss, wrt, t)


def _minus(f: Callable[[Tensors, Sizes], torch.Tensor]) -> Callable[[Tensors, Sizes], torch.Tensor]:
    return lambda t, s: -f(t, s)


def _descend(t: Tensors, wrt: str, rate: str, gradient: torch.Tensor) -> torch.Tensor:
    """One gradient-descent step ``t[wrt] - t[rate] * gradient``, the gradient laid out as ``t[wrt]``."""
    value = t[wrt]
    return value - t[rate].reshape(-1, *[1] * (value.dim() - 1)) * gradient.reshape(value.shape)


def _step(loss: Callable[..., torch.Tensor], wrt: str, rate: str) -> Callable[[Tensors, Sizes], torch.Tensor]:
    """The reference's step: autograd's gradient of ``loss``, descended with ``rate``."""
    return lambda t, s: _descend(t, wrt, rate, ref.gradient(loss, wrt, t))


def _graph_step(label: str, wrt: str, rate: str) -> Callable[[dict[str, torch.Tensor], Tensors], torch.Tensor]:
    """The matrix route's step: the model's adjoint of ``label``, descended with ``rate``."""
    return lambda a, t: _descend(t, wrt, rate, a[label])


def _activation(function: Callable[[sp.Expr], sp.Expr]) -> Callable[[sp.Matrix], sp.Matrix]:
    """Replace derive's arbitrary activation ``f`` (an undefined function) by a concrete one."""
    u = sp.Dummy("u")
    return lambda m: m.replace(sp.Function("f"), sp.Lambda(u, function(u))).doit()


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


# --- 1. perceptron ------------------------------------------------------------------------------
_PERCEPTRON = (Input("w", ("n",)), Input("x", ("n",)), Input("b"), Input("y", (), "sign"), Input("t", (), "sign"),
               Input("eta", (), "rate"))


def _perceptron_feed(t: Tensors) -> Tensors:
    return {"x": col(t["x"]), "w": col(t["w"]), "b": one(t["b"]), "c": one(t["y"] - t["t"])}


_PERCEPTRON_SIZES = {"n": (1, 6)}
PERCEPTRON = (
    Target("perceptron", "w <- w - eta dJ/dw", _PERCEPTRON, _step(ref.perceptron_criterion, "w", "eta"),
           EntrywiseRoute({"n": 3}), MatrixRoute("perceptron", ("w",), _perceptron_feed, _graph_step("w", "w", "eta")),
           _PERCEPTRON_SIZES, {"n": 4096}),
    Target("perceptron", "b <- b - eta dJ/db", _PERCEPTRON, _step(ref.perceptron_criterion, "b", "eta"),
           EntrywiseRoute({"n": 3}), MatrixRoute("perceptron", ("b",), _perceptron_feed, _graph_step("b", "b", "eta")),
           _PERCEPTRON_SIZES, {"n": 4096}),
)

# --- 2. back-propagation ------------------------------------------------------------------------
_NET = (Input("I", ("I",)), Input("wh", ("H", "I")), Input("bh", ("H",)), Input("wo", ("O", "H")),
        Input("bo", ("O",)), Input("T", ("O",)))
_BP_SIZES = {"I": (1, 5), "H": (1, 5), "O": (1, 5), "H2": (1, 1)}
_BP_LARGE = {"I": 784, "H": 512, "O": 10, "H2": 1}
_BP_ENTRY = EntrywiseRoute({"I": 2, "H": 3, "O": 4, "H2": 2}, prepare=_activation(_sigmoid))


def _bp_feed(t: Tensors) -> Tensors:
    return {"I": col(t["I"]), "W_h": t["wh"], "b_h": col(t["bh"]), "W_o": t["wo"], "b_o": col(t["bo"]), "T": col(t["T"])}


def _output_error(kind: str) -> Callable[..., torch.Tensor]:
    out = torch.sigmoid if kind == "sigmoid" else (lambda x: x)
    return lambda netk, T, **_: ref.squared_error(T, out(netk))


def _hidden_error(netj: torch.Tensor, wo: torch.Tensor, bo: torch.Tensor, T: torch.Tensor, **_: torch.Tensor) -> torch.Tensor:
    return ref.squared_error(T, torch.sigmoid((wo @ col(torch.sigmoid(netj))).squeeze(-1) + bo))


BP = (
    Target("bp", "delta_k (sigmoid output)", (Input("netk", ("O",)), Input("T", ("O",))),
           _minus(_grad(_output_error("sigmoid"), "netk")), _BP_ENTRY,
           MatrixRoute("bp", ("net_k",), lambda t: {"net_k": col(t["netk"]), "T": col(t["T"])},
                       lambda a, t: -a["net_k"].squeeze(-1), cut="net_k"),
           _BP_SIZES, _BP_LARGE, notes="the model's adjoint of net_k is -delta_k"),
    Target("bp", "delta_k (linear output)", (Input("netk", ("O",)), Input("T", ("O",))),
           _minus(_grad(_output_error("linear"), "netk")), _BP_ENTRY, None, _BP_SIZES, _BP_LARGE,
           notes="no graph model has a linear output layer"),
    Target("bp", "delta_j", (Input("netj", ("H",)), Input("wo", ("O", "H")), Input("bo", ("O",)), Input("T", ("O",))),
           _minus(_grad(_hidden_error, "netj")), _BP_ENTRY,
           MatrixRoute("bp", ("net_j",), lambda t: {"net_j": col(t["netj"]), "W_o": t["wo"], "b_o": col(t["bo"]),
                                                    "T": col(t["T"])},
                       lambda a, t: -a["net_j"].squeeze(-1), cut="net_j"),
           _BP_SIZES, _BP_LARGE, notes="the model's adjoint of net_j is -delta_j"),
    Target("bp", "w_kj(t+1)", (*_NET, Input("alpha", (), "rate")), _step(ref.sigmoid_network, "wo", "alpha"), _BP_ENTRY,
           MatrixRoute("bp", ("W_o",), _bp_feed, _graph_step("W_o", "wo", "alpha")), _BP_SIZES, _BP_LARGE),
    Target("bp", "w_ji(t+1)", (*_NET, Input("alpha", (), "rate")), _step(ref.sigmoid_network, "wh", "alpha"), _BP_ENTRY,
           MatrixRoute("bp", ("W_h",), _bp_feed, _graph_step("W_h", "wh", "alpha")), _BP_SIZES, _BP_LARGE),
    Target("bp", "b_k(t+1)", (*_NET, Input("beta", (), "rate")), _step(ref.sigmoid_network, "bo", "beta"), _BP_ENTRY,
           MatrixRoute("bp", ("b_o",), _bp_feed, _graph_step("b_o", "bo", "beta")), _BP_SIZES, _BP_LARGE),
    Target("bp", "b_j(t+1)", (*_NET, Input("beta", (), "rate")), _step(ref.sigmoid_network, "bh", "beta"), _BP_ENTRY,
           MatrixRoute("bp", ("b_h",), _bp_feed, _graph_step("b_h", "bh", "beta")), _BP_SIZES, _BP_LARGE),
    Target("bp", "delta^(l)", (Input("net1", ("H",)), Input("wa", ("H2", "H")), Input("wb", ("O", "H2")), Input("T", ("O",))),
           _minus(_grad(ref.deep_network, "net1")),
           EntrywiseRoute({"I": 2, "H": 3, "O": 4, "H2": 2}, prepare=_activation(sp.tanh)), None,
           {"I": (1, 1), "H": (1, 5), "O": (1, 5), "H2": (1, 5)}, {"I": 1, "H": 512, "O": 10, "H2": 256},
           notes="derive proves it for any activation f; checked with f = tanh; no graph model has three layers"),
)

# --- 3. softmax cross-entropy -------------------------------------------------------------------
_CE_SIZES = {"n": (2, 8), "N": (1, 4)}
_CE_LARGE = {"n": 50257, "N": 8}


def _ce_feed(t: Tensors) -> Tensors:
    return {"z": row(t["z"]), "y": row(t["y"])}


SOFTMAX_CE = (
    Target("softmax_ce", "dL/dz (general)", (Input("z", ("n",)), Input("y", ("n",))),
           _grad(ref.cross_entropy, "z"), EntrywiseRoute({"n": 3, "N": 2}),
           MatrixRoute("softmax_ce", ("z",), _ce_feed), _CE_SIZES, _CE_LARGE,
           notes="labels that need not sum to 1"),
    Target("softmax_ce", "dL/dz", (Input("z", ("n",)), Input("y", ("n",), "simplex")),
           _grad(ref.cross_entropy, "z"), EntrywiseRoute({"n": 3, "N": 2}),
           MatrixRoute("softmax_ce", ("z",), _ce_feed), _CE_SIZES, _CE_LARGE),
    Target("softmax_ce", "dL/dZ (batch mean)", (Input("Z", ("N", "n")), Input("Y", ("N", "n"), "simplex")),
           _grad(ref.batch_cross_entropy, "Z"), EntrywiseRoute({"n": 3, "N": 2}),
           MatrixRoute("softmax_ce", ("z",), lambda t: {"z": row(t["Z"]), "y": row(t["Y"])},
                       lambda a, t: a["z"].squeeze(-2) / t["Z"].shape[-2]),
           _CE_SIZES, {"n": 1000, "N": 256}, notes="matrix route: the per-row gradient of the model, over N (the mean)"),
    Target("softmax_ce", "d2L/dz2", (Input("z", ("n",)), Input("y", ("n",), "simplex")),
           lambda t, s: ref.hessian(ref.cross_entropy, "z", t), EntrywiseRoute({"n": 3, "N": 2}), None,
           _CE_SIZES, {"n": 512, "N": 1}, notes="a second derivative: the graph route is first order"),
)

# --- 4. information -----------------------------------------------------------------------------
_INFO_SIZES = {"n": (1, 8)}
_INFO_LARGE = {"n": 50257}
_PQ = (Input("p", ("n",), "positive"), Input("q", ("n",), "positive"))
INFORMATION = (
    Target("information", "dH/dp", (Input("p", ("n",), "positive"),), _grad(ref.entropy, "p"),
           EntrywiseRoute({"n": 3}), MatrixRoute("entropy", ("p",), lambda t: {"p": row(t["p"])}),
           _INFO_SIZES, _INFO_LARGE),
    Target("information", "dKL/dq", _PQ, _grad(ref.kl_divergence, "q"), EntrywiseRoute({"n": 3}),
           MatrixRoute("kl_pq", ("q",), lambda t: {"p": row(t["p"]), "q": row(t["q"])}), _INFO_SIZES, _INFO_LARGE),
    Target("information", "dKL/dp", _PQ, _grad(ref.kl_divergence, "p"), EntrywiseRoute({"n": 3}),
           MatrixRoute("kl_pq", ("p",), lambda t: {"p": row(t["p"]), "q": row(t["q"])}), _INFO_SIZES, _INFO_LARGE),
    Target("information", "dKL/dz", (Input("p", ("n",), "simplex"), Input("z", ("n",))),
           _grad(ref.kl_through_softmax, "z"), EntrywiseRoute({"n": 3}),
           MatrixRoute("kl", ("z",), lambda t: {"p": row(t["p"]), "z": row(t["z"])}), _INFO_SIZES, _INFO_LARGE),
)

# --- 5. attention -------------------------------------------------------------------------------
_QKVG = tuple(Input(name, ("n", "d_k")) for name in ("Q", "K", "V", "G"))
_ATT_SIZES = {"n": (1, 7), "d_k": (1, 5)}
_ATT_LARGE = {"n": 512, "d_k": 64}


def _causal_mask(t: Tensors) -> torch.Tensor:
    n = t["G"].shape[-2]
    return torch.ones(n, n, dtype=t["G"].dtype, device=t["G"].device).tril()


def _attention_targets(causal: bool) -> tuple[Target, ...]:
    model = "causal_attention" if causal else "attention"
    suffix = " (causal mask)" if causal else ""
    of_inputs = functools.partial(ref.attention_loss, causal=causal)
    qkv = lambda t: {k: t[k] for k in ("Q", "K", "V", "G")}
    entry = EntrywiseRoute({"n": 3, "d_k": 2})
    masked = (lambda a, t: a["A"] * _causal_mask(t)) if causal else None

    def of_qkv(x: str) -> Target:
        return Target("attention", f"d{x}{suffix}", _QKVG, _grad(of_inputs, x), entry, MatrixRoute(model, (x,), qkv),
                      _ATT_SIZES, _ATT_LARGE)

    return (
        of_qkv("V"),
        Target("attention", f"dA{suffix}", (Input("A", ("n", "n")), *_QKVG[2:]),
               _grad(functools.partial(ref.attention_loss_of_weights, causal=causal), "A"), entry,
               MatrixRoute(model, ("A",), lambda t: {k: t[k] for k in ("A", "V", "G")}, masked, cut="A"),
               _ATT_SIZES, _ATT_LARGE,
               notes="with the mask, masked weights are the constant 0: their gradient entries are 0" if causal else ""),
        Target("attention", f"dS{suffix}", (Input("S", ("n", "n")), *_QKVG[2:]),
               _grad(functools.partial(ref.attention_loss_of_scores, causal=causal), "S"), entry,
               MatrixRoute(model, ("S",), lambda t: {k: t[k] for k in ("S", "V", "G")}, cut="S"),
               _ATT_SIZES, _ATT_LARGE),
        of_qkv("Q"),
        of_qkv("K"),
    )


ATTENTION = _attention_targets(False) + _attention_targets(True)

# --- 5. multi-head attention (2 heads in the graph model) ---------------------------------------
_MHA_INPUTS = (
    Input("X", ("n", "d_model"), "normed_rows"),
    *(Input(f"W_{x}", ("heads", "d_model", "d_k"), "weight") for x in ("Q", "K", "V")),
    Input("W_O", lambda s: (s["heads"] * s["d_k"], s["d_model"]), "weight"),
    Input("G", ("n", "d_model")),
)
_MHA_ALIASES = (Alias(r"WQ(\d)_", "W_Q"), Alias(r"WK(\d)_", "W_K"), Alias(r"WV(\d)_", "W_V"), Alias(r"WO", "W_O"))
_MHA_ENTRY = EntrywiseRoute({"n": 3, "d_model": 1, "heads": 2, "d_k": 2}, _MHA_ALIASES)  # 1/sqrt(d_k) != 1
_MHA_SIZES = {"n": (1, 6), "d_model": (1, 6), "heads": (2, 2), "d_k": (1, 4)}
_MHA_LARGE = {"n": 128, "d_model": 64, "heads": 2, "d_k": 32}


def _mha_feed(t: Tensors) -> Tensors:
    fed = {"X": t["X"], "W_O": t["W_O"], "G": t["G"]}
    for x in ("Q", "K", "V"):
        for h in (1, 2):
            fed[f"W_{x}{h}"] = t[f"W_{x}"][:, h - 1]
    return fed


def _heads(x: str) -> MatrixRoute:
    return MatrixRoute("multihead_attention", (f"W_{x}1", f"W_{x}2"), _mha_feed,
                       lambda a, t: torch.stack([a[f"W_{x}1"], a[f"W_{x}2"]], 1))


MULTIHEAD = (
    Target("multihead_attention", "dW_O", _MHA_INPUTS, _grad(ref.multihead_loss, "W_O"), _MHA_ENTRY,
           MatrixRoute("multihead_attention", ("W_O",), _mha_feed), _MHA_SIZES, _MHA_LARGE),
    Target("multihead_attention", "dW_V^h", _MHA_INPUTS, _grad(ref.multihead_loss, "W_V"), _MHA_ENTRY, _heads("V"),
           _MHA_SIZES, _MHA_LARGE),
    Target("multihead_attention", "dW_Q^h", _MHA_INPUTS, _grad(ref.multihead_loss, "W_Q"), _MHA_ENTRY, _heads("Q"),
           _MHA_SIZES, _MHA_LARGE),
    Target("multihead_attention", "dW_K^h", _MHA_INPUTS, _grad(ref.multihead_loss, "W_K"), _MHA_ENTRY, _heads("K"),
           _MHA_SIZES, _MHA_LARGE),
    Target("multihead_attention", "dX", _MHA_INPUTS, _grad(ref.multihead_loss, "X"), _MHA_ENTRY,
           MatrixRoute("multihead_attention", ("X",), _mha_feed), _MHA_SIZES, _MHA_LARGE),
)

# --- 5. layer norm ------------------------------------------------------------------------------
_LN_INPUTS = (Input("X", ("n", "d"), "spread_rows"), Input("gamma", ("d",)), Input("beta", ("d",)), Input("G", ("n", "d")))
_LN_ENTRY = EntrywiseRoute({"n": 2, "d": 3})
_LN_SIZES = {"n": (1, 6), "d": (2, 8)}
_LN_LARGE = {"n": 512, "d": 768}


def _ln_feed(t: Tensors) -> Tensors:
    return {"X": t["X"], "gamma": row(t["gamma"]), "beta": row(t["beta"]), "G": t["G"]}


LAYERNORM = tuple(
    Target("layernorm", f"d{x}", _LN_INPUTS, _grad(ref.layer_norm_loss, x), _LN_ENTRY,
           MatrixRoute("layernorm", (x,), _ln_feed, lambda a, t, x=x: a[x].reshape(t[x].shape)), _LN_SIZES, _LN_LARGE)
    for x in ("beta", "gamma", "X")
)

# --- 5. feed-forward ----------------------------------------------------------------------------
_FFN_INPUTS = (Input("X", ("n", "d")), Input("W1", ("d", "h")), Input("b1", ("h",)), Input("W2", ("h", "d")),
               Input("b2", ("d",)), Input("G", ("n", "d")))


def _relu_pattern(t: Tensors) -> Tensors:
    return {"s": (t["X"] @ t["W1"] + row(t["b1"]) > 0).to(t["X"].dtype)}


_FFN_ENTRY = EntrywiseRoute({"n": 2, "d": 3, "h": 4}, (Alias(r"W1_", "W1"), Alias(r"W2_", "W2"), Alias(r"b1_", "b1"),
                                                    Alias(r"b2_", "b2")), extra=_relu_pattern)
_FFN_SIZES = {"n": (1, 6), "d": (1, 6), "h": (1, 8)}
_FFN_LARGE = {"n": 512, "d": 256, "h": 1024}


def _ffn_feed(t: Tensors) -> Tensors:
    return {"X": t["X"], "W_1": t["W1"], "b_1": row(t["b1"]), "W_2": t["W2"], "b_2": row(t["b2"]), "G": t["G"]}


FFN = tuple(
    Target("ffn", f"d{label}", _FFN_INPUTS, _grad(ref.ffn_loss, name), _FFN_ENTRY,
           MatrixRoute("ffn", (label,), _ffn_feed, lambda a, t, label=label, name=name: a[label].reshape(t[name].shape)),
           _FFN_SIZES, _FFN_LARGE, notes="derive's s_ij is the activation pattern 1[H_ij > 0], computed from the inputs")
    for label, name in (("W_2", "W2"), ("b_2", "b2"), ("W_1", "W1"), ("b_1", "b1"), ("X", "X"))
)

# --- 3. convolution -----------------------------------------------------------------------------
_CONV_INPUTS = (
    Input("X", lambda s: (s["c_in"], s["oh"] + s["kh"] - 1, s["ow"] + s["kw"] - 1)),
    Input("W", ("c_out", "c_in", "kh", "kw")),
    Input("b", ("c_out",)),
    Input("G", ("c_out", "oh", "ow")),
)
_CONV_ENTRY = EntrywiseRoute({"c_in": 2, "c_out": 2, "oh": 2, "ow": 3, "kh": 2, "kw": 1},
                             (Alias(r"X(\d)_", "X"), Alias(r"W(\d)(\d)_", "W"), Alias(r"G(\d)_", "G")))
_CONV_SIZES = {"c_in": (1, 3), "c_out": (1, 3), "oh": (1, 5), "ow": (1, 5), "kh": (1, 4), "kw": (1, 4)}
# One channel, as the graph model has (the entrywise route covers several channels at small sizes).
_CONV_LARGE = {"c_in": 1, "c_out": 1, "oh": 222, "ow": 222, "kh": 3, "kw": 3}
# The graph model is one channel with a square kernel.
_CONV_MODEL_SIZES = {"c_in": (1, 1), "c_out": (1, 1), "oh": (1, 6), "ow": (1, 6), "kh": (1, 4), "kw": (1, 4)}


def _conv_feed(t: Tensors) -> Tensors:
    return {"X": t["X"][:, 0], "K": t["W"][:, 0, 0], "G": t["G"][:, 0]}


CONV = (
    Target("conv", "dW", _CONV_INPUTS, _grad(ref.conv_loss, "W"), _CONV_ENTRY,
           MatrixRoute("conv_layer", ("K",), _conv_feed, lambda a, t: a["K"][:, None, None], _CONV_MODEL_SIZES),
           _CONV_SIZES, _CONV_LARGE),
    Target("conv", "dX", _CONV_INPUTS, _grad(ref.conv_loss, "X"), _CONV_ENTRY,
           MatrixRoute("conv_layer", ("X",), _conv_feed, lambda a, t: a["X"][:, None], _CONV_MODEL_SIZES),
           _CONV_SIZES, _CONV_LARGE),
    Target("conv", "db", _CONV_INPUTS, _grad(ref.conv_loss, "b"), _CONV_ENTRY, None, _CONV_SIZES, _CONV_LARGE,
           notes="the one-channel graph model has no bias"),
)

# --- 3. pooling ---------------------------------------------------------------------------------
_POOL_INPUTS = (
    Input("X", ("h", "w"), "distinct"),
    Input("G", lambda s: ((s["h"] - s["k"]) // s["s"] + 1, (s["w"] - s["k"]) // s["s"] + 1)),
)
_POOL_SIZES = {"h": (2, 8), "w": (2, 8), "k": (2, 3), "s": (1, 3)}
_POOL_MODEL_SIZES = {"h": (2, 8), "w": (2, 8), "k": (2, 2), "s": (2, 2)}
_POOL_LARGE = {"h": 224, "w": 224, "k": 2, "s": 2}


def _pool_rule(s: dict[str, int]) -> bool:
    return s["k"] <= min(s["h"], s["w"])


def _even(s: dict[str, int]) -> bool:
    return s["h"] % 2 == 0 and s["w"] % 2 == 0


def _max_region(table: torch.Tensor, t: Tensors, sizes: Sizes) -> torch.Tensor:
    """derive states max pooling's gradient per region (one argmax per window): pick the region the
    input is in, from the argmax of each window (in the order derive enumerates them)."""
    wins = windows(sizes["h"], sizes["w"], sizes["k"], sizes["s"])
    region = torch.zeros(t["X"].shape[0], dtype=torch.long, device=table.device)
    for win in wins:
        values = torch.stack([t["X"][:, i, j] for i, j in win], -1)
        region = region * len(win) + values.argmax(-1)
    return table[torch.arange(table.shape[0], device=table.device), region]


def _pool_pick(pool: str) -> Callable[..., torch.Tensor]:
    loss = ref.max_pool_loss if pool == "max" else ref.avg_pool_loss
    return lambda t, s: ref.gradient(functools.partial(loss, k=s["k"], s=s["s"]), "X", t)


POOLING = (
    Target("pooling", "dX (max pooling)", _POOL_INPUTS, _pool_pick("max"),
           EntrywiseRoute({"h": 2, "w": 3, "k": 2, "s": 1}, select=_max_region),
           MatrixRoute("max_pool", ("X",), lambda t: {"X": t["X"], "G": t["G"]}, sizes=_POOL_MODEL_SIZES,
                       size_rule=_even),
           _POOL_SIZES, _POOL_LARGE, size_rule=_pool_rule,
           notes="inputs without ties (entries at least a margin apart); ties have a test of their own"),
    Target("pooling", "dX (average pooling)", (Input("X", ("h", "w")), _POOL_INPUTS[1]), _pool_pick("avg"),
           EntrywiseRoute({"h": 4, "w": 3, "k": 2, "s": 1}),
           MatrixRoute("avg_pool", ("X",), lambda t: {"X": t["X"], "G": t["G"]}, sizes=_POOL_MODEL_SIZES,
                       size_rule=_even),
           _POOL_SIZES, _POOL_LARGE, size_rule=_pool_rule),
)

# --- 5. positional encoding ---------------------------------------------------------------------
POSITIONAL = (
    Target("positional_encoding", "PE(pos + k)", (Input("pos", (), "position"), Input("k", (), "offset")),
           lambda t, s: ref.positional_encoding(t["pos"] + t["k"], 2 * s["half_d"]),
           EntrywiseRoute({"half_d": 2}), None, {"half_d": (1, 4)}, {"half_d": 256},
           notes="an identity, not a gradient: the rotation of PE(pos) against PE computed at pos + k"),
)

TARGETS: tuple[Target, ...] = (
    PERCEPTRON + BP + SOFTMAX_CE + INFORMATION + ATTENTION + MULTIHEAD + LAYERNORM + FFN + CONV + POOLING + POSITIONAL
)


def targets_for(names: tuple[str, ...] = ()) -> list[Target]:
    """The targets of catalog entries (all when ``names`` is empty). ``entry:claim`` picks one by
    derive's claim (the id derive and the homework problems use; ``entry.claim`` too), and
    ``entry:target`` by the target's name as ``gradproof list`` shows it.

    >>> [t.name for t in targets_for(("perceptron",))]
    ['w <- w - eta dJ/dw', 'b <- b - eta dJ/db']
    >>> [t.name for t in targets_for(("softmax_ce:grad_z", "softmax_ce.grad_z", "softmax_ce:dL/dz"))]
    ['dL/dz']
    """
    if not names:
        return list(TARGETS)
    chosen: list[Target] = []
    for name in names:
        entry, target = _split(name)
        found = [t for t in TARGETS if t.entry == entry and (not target or target in (t.name, t.claim))]
        if not found:
            from derive.catalog import close_matches

            known = [t.claim for t in TARGETS if t.entry == entry]
            near = close_matches(entry)
            hint = (f"; {entry} has targets {', '.join(f'{entry}:{k}' for k in known)}" if known
                    else f"; did you mean {', '.join(near)}?" if near else "; see 'gradproof list'")
            if known and _a_statement_of(entry, target):  # a theorem or identity: no gradient to run numerically
                hint = (f": {entry}:{target} is a statement, not a gradient, so there is nothing to check against "
                        f"autograd; 'gradproof derive {entry}' proves it"
                        + hint)
            raise KeyError(f"no catalog target {name!r}{hint}")
        chosen += [t for t in found if t not in chosen]
    return chosen


def _a_statement_of(entry: str, key: str) -> bool:
    """Whether ``key`` is one of the entry's claims without a numeric target, or one of its theorems."""
    from derive.catalog import topic
    from derive.spec import fact_steps

    t = topic(entry)
    return any(c.key == key and not c.target for c in t.claims) or any(s.key == key for s in fact_steps(t))


def _split(name: str) -> tuple[str, str]:
    """``entry:claim`` (or ``entry:target``) into its parts; ``entry.claim`` as ``entry:claim``."""
    entry, colon, target = name.strip().partition(":")
    if not colon and "." in entry:
        entry, _, target = entry.partition(".")
    return entry, target


@functools.cache
def _claims(entry: str) -> dict[str, str]:
    """A catalog entry's claims by the name of the target each one states (``dL/dz`` -> ``grad_z``)."""
    from derive.catalog import topic

    return {c.target: c.key for c in topic(entry).claims if c.target}


_ENTRY = re.compile(r"(?P<base>.+)_(?P<index>\d+|\{\d+(?:,\d+)*\})\Z")


def locate(symbol: str, aliases: tuple[Alias, ...]) -> tuple[str, tuple[int, ...]]:
    """The tensor and (0-based) index of one of derive's entry symbols.

    >>> locate("wo_12", ())
    ('wo', (0, 1))
    >>> locate("WQ2__31", (Alias(r"WQ(\\d)_", "W_Q"),))
    ('W_Q', (1, 2, 0))
    >>> locate("eta", ())
    ('eta', ())
    """
    match = _ENTRY.match(symbol)
    if not match:
        return symbol, ()
    base, index = match["base"], match["index"]
    numbers = [int(i) for i in index.strip("{}").split(",")] if index.startswith("{") else [int(c) for c in index]
    for alias in aliases:
        found = re.fullmatch(alias.pattern, base)
        if found:
            return alias.tensor, tuple(int(g) - 1 for g in found.groups()) + tuple(i - 1 for i in numbers)
    return base, tuple(i - 1 for i in numbers)
