"""The whole forward of each problem, as data: the quantities a student may write beyond those listed.

A problem lists the symbols its statement gives (``uses``); a right answer may still be written in
any other quantity of the forward computation: ``1/sqrt(d_k) dS K`` or the FlashAttention form
``(A ⊙ (G V^T - rowsum(G ⊙ O))) K / sqrt(d_k)`` for attention's dL/dQ, ``softmax(z) - y`` or
``p - y`` for softmax cross-entropy. Each table here says, per catalog entry (or per claim where a
claim's builder values differ: attention's dL/dS is graded in the scores S, not in Q and K), where
each such quantity is in the topic's builder, in the same builder symbols as the key, so that the
grader writes an answer in them out exactly as it writes the listed ones.

A table never holds the asked gradient or anything computed from it: ``exclude`` names, per claim,
the quantities downstream of its target (dL/dA's problem cannot be answered "dA"). An instructor's
problem file adds quantities (``[problem.context]``) and removes them (``forbid``).

>>> sorted(forward("attention", "grad_Q").quantities)
['A', 'G', 'K', 'O', 'P', 'Q', 'S', 'V', 'dA', 'dO', 'dP', 'dS', 'd_k']
>>> "dA" in forward("attention", "grad_A").quantities, "dS" in forward("attention", "grad_A").quantities
(False, False)
>>> forward("softmax_ce", "grad_z").applications
{('softmax', 'z'): 'p'}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from derive.atoms import matrix, sigmoid, vector

__all__ = ["FORWARD", "Forward", "Use", "forward"]


@dataclass(frozen=True)
class Use:
    """A symbol a student may write, and where its value is in the topic's builder: an indexed
    entry (``p_i`` -> ``env["p"][i]``), a matrix (``A`` -> ``env["A"]``) or a size (``d_k``)."""

    kind: str  # "indexed" | "matrix" | "scalar" | "size"
    env: str | Callable[[Mapping[str, Any], Mapping[str, int]], Any] = ""  # the builder's key, a function of
    # its entries and the sizes, or a size's name
    rank: int = 1
    meaning: str = ""
    domain: str = ""  # "simplex": entries drawn so that the vector is a probability vector; "binary": 0 or 1

    def same_value(self, other: Use) -> bool:
        """Whether two uses name the same builder value (meanings may be worded differently)."""
        return (self.kind, self.env, self.rank) == (other.kind, other.env, other.rank)


@dataclass(frozen=True)
class Forward:
    """One forward computation's quantities (name -> where it is in the builder), the functions it
    applies (``("softmax", "z") -> "p"``: softmax(z) is the vector p), the activation ``f`` stands
    for, and per claim the quantities that depend on its target (never offered for that claim)."""

    quantities: Mapping[str, Use] = field(default_factory=dict)
    applications: Mapping[tuple[str, str], str] = field(default_factory=dict)
    activation: str = ""
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    claims: tuple[str, ...] = ()  # the claims an entry's table is for (their keys live in its symbols); () all


def _attention_O(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    return e["A"] * e["V"]


def _attention_S(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    return e["Q"] * e["K"].T / sp.sqrt(s["d_k"])


def _dA(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    return e["G"] * e["V"].T


def _scores(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    return matrix("S", s["n"], s["n"])  # the symbols A_of_S is a softmax of


def _O_of_S(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    return e["A_of_S"] * e["V"]


def _net(name: str, size: str) -> Callable[[Mapping[str, Any], Mapping[str, int]], sp.Matrix]:
    """The pre-activations derive's delta claims are stated in (``netk``: output, ``netj``: hidden)."""
    return lambda e, s: vector(name, s[size])


def _output_from_hidden(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    """O_k = sigma(sum_j w_kj H_j + b_k) with H_j = sigma(net_j): the delta_hidden claim's network."""
    H = vector("netj", s["H"]).applyfunc(sigmoid)
    return (e["Wo"] * H + e["bo"]).applyfunc(sigmoid)


def _hidden_from_net(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    return vector("netj", s["H"]).applyfunc(sigmoid)


_ATTENTION = {
    "Q": Use("matrix", "Q", meaning="queries (n x d_k)"), "K": Use("matrix", "K", meaning="keys (n x d_k)"),
    "V": Use("matrix", "V", meaning="values (n x d_k)"), "G": Use("matrix", "G", meaning="dL/dO (n x d_k)"),
    "S": Use("matrix", _attention_S, meaning="scores Q K^T / sqrt(d_k) (n x n)"),
    "A": Use("matrix", "A", meaning="attention weights softmax(S), row by row (n x n)"),
    "O": Use("matrix", _attention_O, meaning="output A V (n x d_k)"),
    "dA": Use("matrix", _dA, meaning="dL/dA = G V^T (n x n)"),
    "dS": Use("matrix", "dS_closed", meaning="dL/dS (n x n)"),
    "d_k": Use("size", "d_k", meaning="key width"),
    # FlashAttention's and many course notes' names: P for the weights, dO and dP for the adjoints
    "P": Use("matrix", "A", meaning="P = A, the attention weights (n x n)"),
    "dO": Use("matrix", "G", meaning="dO = G = dL/dO (n x d_k)"),
    "dP": Use("matrix", _dA, meaning="dP = dA = G V^T (n x n)"),
}

def _causal_O(e: Mapping[str, Any], s: Mapping[str, int]) -> sp.Matrix:
    return e["causal_A"] * e["V"]


_CAUSAL = {
    "A": Use("matrix", "causal_A", meaning="masked attention weights softmax(S), row by row (n x n)"),
    "P": Use("matrix", "causal_A", meaning="P = A, the masked attention weights (n x n)"),
    "O": Use("matrix", _causal_O, meaning="output A V (n x d_k)"),
    "dS": Use("matrix", "causal_dS_closed", meaning="dL/dS (n x n)"),
}

# Per entry, or per "entry:claim" where that claim's builder values differ from the entry's.
FORWARD: dict[str, Forward] = {
    "attention": Forward(_ATTENTION, exclude={"grad_A": ("dA", "dP", "dS")},
                         claims=("grad_V", "grad_A", "grad_Q", "grad_K")),
    # with the causal mask: the masked weights and dS (a masked entry of A is 0, so dS there is 0 too)
    **{f"attention:causal_{claim}": Forward({**_ATTENTION, **_CAUSAL}, exclude={"causal_grad_A": ("dA", "dP", "dS")},
                                            claims=(f"causal_{claim}",))
       for claim in ("grad_V", "grad_A", "grad_Q", "grad_K")},
    # dL/dS is stated for A = softmax(S) with S free: its key is in S's entries, not in Q and K
    "attention:grad_S": Forward({
        "S": Use("matrix", _scores, meaning="scores (n x n)"),
        "A": Use("matrix", "A_of_S", meaning="softmax(S), row by row (n x n)"),
        "V": Use("matrix", "V", meaning="values (n x d_k)"), "G": Use("matrix", "G", meaning="dL/dO (n x d_k)"),
        "O": Use("matrix", _O_of_S, meaning="output A V (n x d_k)"),
        "dA": Use("matrix", _dA, meaning="dL/dA = G V^T (n x n)"),
        "P": Use("matrix", "A_of_S", meaning="P = A = softmax(S) (n x n)"),
        "dO": Use("matrix", "G", meaning="dO = G = dL/dO (n x d_k)"),
        "dP": Use("matrix", _dA, meaning="dP = dA = G V^T (n x n)"),
    }),
    "softmax_ce": Forward(claims=("grad_z", "grad_z_general"), quantities={"p": Use("indexed", "p", meaning="p_i = softmax(z)_i"),
                           "z": Use("indexed", "z", meaning="logit z_i"),
                           # the prediction y-hat of many notes: \hat{y} - y
                           "yhat": Use("indexed", "p", meaning="yhat_i = p_i, the prediction")},
                          applications={("softmax", "z"): "p"}),
    "information:grad_z": Forward({"q": Use("indexed", "q_z", meaning="q_i = softmax(z)_i"),
                                   "z": Use("indexed", "z", meaning="logit z_i")},
                                  applications={("softmax", "z"): "q"}),
    "perceptron": Forward({"d": Use("scalar", "d", meaning="net input d = w . x + b")}, claims=("update_w", "update_b")),
    "bp:delta_output_sigmoid": Forward({"net": Use("indexed", _net("netk", "O"), meaning="net input net_k of output k")},
                                       activation="sigma"),
    "bp:delta_output_linear": Forward({"net": Use("indexed", _net("netk", "O"), meaning="net input net_k = O_k")},
                                      activation="identity"),
    "bp:delta_hidden": Forward({
        "net": Use("indexed", _net("netj", "H"), meaning="net input net_j of hidden unit j"),
        "O": Use("indexed", _output_from_hidden, meaning="output O_k"), "T": Use("indexed", "T", meaning="target T_k"),
        "W": Use("matrix", "Wo", meaning="the matrix of w_kj (outputs x hidden)"),
    }, activation="sigma"),
    "bp:update_w_output": Forward({
        "W": Use("matrix", "Wo", meaning="the matrix of w_kj(t) (outputs x hidden)"),
        "O": Use("indexed", "O", meaning="output O_k"), "T": Use("indexed", "T", meaning="target T_k"),
        "I": Use("indexed", "I", meaning="input I_i"),
    }, activation="sigma"),
    "bp:update_w_hidden": Forward({
        "W": Use("matrix", "Wh", meaning="the matrix of w_ji(t) (hidden x inputs)"),
        "H": Use("indexed", "H", meaning="hidden output H_j"),
        "O": Use("indexed", "O", meaning="output O_k"), "T": Use("indexed", "T", meaning="target T_k"),
    }, activation="sigma"),
    "layernorm": Forward(claims=("grad_X",), quantities={
        "x": Use("indexed", lambda e, s: e["X"].row(0).T, meaning="the row's entries x_i"),
        "mu": Use("scalar", lambda e, s: sp.Add(*e["X"].row(0)) / s["d"], meaning="the row's mean"),
        "xbar": Use("scalar", lambda e, s: sp.Add(*e["X"].row(0)) / s["d"], meaning="the row's mean (x-bar)"),
    }),
}


def forward(entry: str, claim: str) -> Forward:
    """The forward a problem on ``entry:claim`` is asked in, its claim's exclusions applied; none
    for a claim its entry's table is not for (a causal mask's A is not the unmasked one).

    >>> sorted(forward("attention", "causal_grad_Q").quantities) == sorted(forward("attention", "grad_Q").quantities)
    True
    >>> forward("attention", "causal_grad_Q").quantities["A"].env, forward("softmax_ce", "hessian").quantities
    ('causal_A', {})
    >>> "dA" in forward("attention", "causal_grad_A").quantities
    False
    """
    table = FORWARD.get(f"{entry}:{claim}") or FORWARD.get(entry) or Forward()
    if table.claims and claim not in table.claims:
        return Forward()
    excluded = set(table.exclude.get(claim, ()))
    return Forward({k: v for k, v in table.quantities.items() if k not in excluded},
                   {k: v for k, v in table.applications.items() if v not in excluded and k[1] not in excluded},
                   table.activation)
