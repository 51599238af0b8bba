"""Lecture problems whose answer keys come from derive/ (never typed twice), and their grading.

A problem names a catalog claim, and a built-in problem's id is that claim's, ``entry:claim``, as in
``gradproof derive`` and ``gradproof verify``; ``canonical_id`` reads any spelling of an id
(``entry.claim``, a former id such as ``kl.grad_q``), and ``PROBLEMS`` is read in those spellings too.
The problem's key is that claim's proven closed form, written out at
concrete sizes by the topic's own builder (``claim.claimed(env)``). A student's answer, read by
the answer language, is written out at the same sizes by mapping each symbol the problem lets a
student use onto the builder's entries (``p_i`` is the i-th entry of the softmax ``env["p"]``, in
terms of the logits), so that answer and key are matrices in the problem's independent inputs.
They are compared at several distinct sizes (a swapped transpose or a wrong shape shows) by proof
first (decide.py: derive's zero test in every region where the answer's and the key's
comparisons are fixed; a difference only at a witness point certified in interval arithmetic):
``correct`` and ``incorrect`` are then proved, method ``symbolic``. Only where the exact route
cannot reach (atoms it does not model, sizes over its bound, comparisons of computed values) are
they sampled (sampling.py: near, far, and either side of the answer's comparisons), and a
``correct`` verdict says ``numeric``. A wrong answer gets a counterexample and, where it is proved
(or, beyond proof, sampled) to be minus the key, a simple constant times it, its transpose or one
of the problem's listed mistakes, a diagnosis with partial credit. One answer is graded within
``GRADE_SECONDS`` in process. Instructors add problems in TOML (problem_file.py); the numeric
exercises (tables checked exactly) are in exercises.py and graded by id like these.

An answer may use any quantity of the problem's forward beside the listed symbols (forward.py:
``1/sqrt(d_k) (A ⊙ (dA - rowsum(dA ⊙ A))) K`` for dL/dQ, ``p - y`` or ``softmax(z) - y`` for
softmax cross-entropy), each written out in the same builder symbols as the key; an entrywise
problem answered in matrix form (``W + alpha delta H^T``) is compared as the whole matrix. ``*``
between matrices is the matrix product unless the problem says ``star = "elementwise"``; an answer
right only with the other reading is told so. Feedback is in the problem's words (feedback.py) and
never holds the reference answer unless ``grade(..., reveal=True)``.
"""

from __future__ import annotations

import difflib
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from derive.atoms import matrix, scalar, sigmoid, vector
from derive.catalog import topic
from derive.spec import EnvCache
from derive.theorems import Inequality
from derive.topics.attention import unit_variance_scale
from derive.topics.information import ENTROPY_BOUND
from derive.topics.perceptron import NOVIKOFF_BOUND

from .decide import Decision, OutOfTime, canonical, decide, gap
from .feedback import (
    asked,
    entry_words,
    factor_words,
    shape_words,
    star_words,
    valued,
    without_examples,
)
from .forward import Use, forward
from .language import InvalidAnswer, Vocabulary, _row_sum_of, claims, named, parse
from .regions import Domain
from .sampling import counterexample

__all__ = ["CREDIT", "GRADE_SECONDS", "PROBLEMS", "Grade", "Problem", "ProblemError", "Registry", "Use", "canonical_id", "grade",
           "problem", "read_answer", "similar_ids"]

class ProblemError(ValueError):
    """A problem is defined wrongly (not the student's answer): the message names the symbol."""


# Partial credit per diagnosis; an instructor may change it.
# "star": right only with * between matrices read the other way than the problem's rule
CREDIT = {"sign": 0.5, "factor": 0.5, "transpose": 0.5, "mistake": 0.25, "assumption": 0.5, "star": 0.5}


@dataclass(frozen=True)
class Problem:
    id: str
    entry: str
    claim: str
    statement: str
    uses: Mapping[str, Use]
    sizes: tuple[Mapping[str, int], ...]
    index: str = ""  # the free index of an entrywise answer ("i"; "k j" for a matrix entry); "" for a matrix answer
    indices: Mapping[str, str] = field(default_factory=dict)  # index -> size it runs to
    assumptions: tuple[str, ...] = ()
    mistakes: Mapping[str, str] = field(default_factory=dict)  # a wrong answer -> what it gets wrong
    # makes the key and the answer comparable numerically (BP's arbitrary activation f as the sigmoid)
    prepare: Callable[[sp.Matrix], sp.Matrix] | None = None
    # turns a claim stated case by case (max pooling: one row per argmax region) into one key
    key_from: Callable[[sp.Matrix, Mapping[str, Any], Mapping[str, int]], sp.Matrix] | None = None
    # a reference answer (shown only when the instructor asks: grade(..., reveal=True)); not part of what
    # the problem is: the same problem loaded again with its answer written out is the same problem
    answer: str = field(default="", compare=False)
    # forward quantities a student may write beside ``uses``, added to the entry's (forward.py)
    context: Mapping[str, Use] = field(default_factory=dict)
    forbid: tuple[str, ...] = ()  # forward quantities the instructor takes away ("in terms of dS only")
    star: str = "product"  # how * between two matrices reads: "product" (mathematics) or "elementwise" (NumPy)
    sign: str = ""  # what to say of minus the key (a delta's sign convention); "" says "sign error"
    # a matrix answer may also be given entry by entry in these letters (row, column), its matrices
    # then indexed like dS_ik (``dV_ij = sum_k A_ki G_kj``); ``indices`` gives each letter's range
    entries: str = ""
    noun: str = "gradient"  # what the key is, in feedback ("differs from the bound"): a theorem's problem asks no gradient

    def forward(self) -> dict[str, Use]:
        """The quantities a student may write beside the listed symbols: the entry's forward
        (forward.py) and the problem's own ``context``, less what the problem lists or forbids.

        >>> sorted(problem("attention:grad_Q").forward())
        ['A', 'G', 'O', 'P', 'Q', 'S', 'V', 'dA', 'dO', 'dP']
        """
        table = {**forward(self.entry, self.claim).quantities, **self.context}
        gone = [table[name] for name in self.forbid if name in table]  # and their other names (dA's dP)
        return {name: use for name, use in table.items()
                if name not in self.uses and name not in self.forbid and not any(use.same_value(g) for g in gone)}

    def symbols(self) -> dict[str, Use]:
        """Every symbol an answer may use: the listed ones, then the forward's."""
        return {**self.uses, **self.forward()}

    def public(self) -> dict[str, Any]:
        """What a student may read of the problem (never its key nor its reference answer).

        >>> d = problem("softmax_ce:grad_z").public()
        >>> d["star"], "answer" in d, sorted(d["symbols"])
        ('product', False, ['p', 'y', 'z'])
        """
        return {"id": self.id, "statement": self.statement, "assumptions": list(self.assumptions),
                "symbols": {name: use.meaning for name, use in self.uses.items()},
                "context": {name: use.meaning for name, use in self.forward().items()},
                "star": self.star, "star_rule": STAR_RULES[self.star]}


# How * between two matrices reads, in the words `gradproof problems` and feedback use.
STAR_RULES = {"product": "* between two matrices is the matrix product (as in mathematics); write ⊙ or .* for the "
                         "elementwise product. Two vectors of one shape, which no matrix product joins, multiply entry "
                         "by entry (gamma g, gamma * g); an answer that writes @ for the matrix product is read as "
                         "NumPy code: its * is the elementwise product",
              "elementwise": "* between two matrices is the elementwise product (as in NumPy); write @ for the "
                             "matrix product"}


def _sigmoid_activation(m: sp.Matrix) -> sp.Matrix:
    """BP's update claims hold for any activation ``f``; graded with the lecture's sigmoid."""
    u = sp.Dummy("u")
    return m.replace(sp.Function("f"), sp.Lambda(u, 1 / (1 + sp.exp(-u)))).doit()


def _hidden_layer(part: str) -> Callable[[Mapping[str, Any], Mapping[str, int]], sp.Matrix]:
    """The sigmoid network from the hidden pre-activations net_j up, as derive's ``delta_hidden``
    claim writes it: ``H`` (hidden outputs) or ``delta_k`` (output deltas)."""

    def value(env: Mapping[str, Any], sizes: Mapping[str, int]) -> sp.Matrix:
        H = vector("netj", sizes["H"]).applyfunc(sigmoid)
        if part == "H":
            return H
        O = (env["Wo"] * H + env["bo"]).applyfunc(sigmoid)
        return sp.Matrix([(t - o) * o * (1 - o) for t, o in zip(env["T"], O)])

    return value


def _max_pool_key(key: sp.Matrix, env: Mapping[str, Any], sizes: Mapping[str, int]) -> sp.Matrix:
    """derive states max pooling's gradient per argmax region (one row per choice of each window's
    maximum); the key is that, case by case, as one column over X read row by row."""
    import itertools

    from derive.topics.pooling import windows

    X, wins = env["X"], windows(sizes["h"], sizes["w"], sizes["k"], sizes["s"])
    regions = [sp.And(*[X[p] >= X[q] for p, win in zip(choice, wins) for q in win if q != p])
               for choice in itertools.product(*wins)]
    return sp.Matrix([sp.Piecewise(*[(key[r, entry], region) for r, region in enumerate(regions)], (0, True))
                      for entry in range(key.cols)])


def _row_sigma(env: Mapping[str, Any], sizes: Mapping[str, int]) -> sp.Expr:
    """Layer norm's sigma of the first row, sqrt(mean((x - mu)^2) + epsilon)."""
    x = list(env["X"].row(0))
    mu = sp.Add(*x) / len(x)
    return sp.sqrt(sp.Add(*[(v - mu) ** 2 for v in x]) / len(x) + scalar("epsilon", positive=True))


def _bound(theorem: Inequality) -> Callable[[sp.Matrix, Mapping[str, Any], Mapping[str, int]], sp.Matrix]:
    """The key of a problem that asks for a theorem's bound: the greater side of ``lesser <= greater``, at the
    problem's sizes, as derive proves it (``H(p) <= log n`` asks for log n)."""
    def key(_: sp.Matrix, env: Mapping[str, Any], sizes: Mapping[str, int]) -> sp.Matrix:
        return sp.Matrix([theorem.sides(sizes)[0]])
    return key


def _bound_symbol(theorem: Inequality, name: str) -> Callable[[Mapping[str, Any], Mapping[str, int]], sp.Expr]:
    """A symbol of a theorem's bound by its name (Novikoff's R and gamma), as the key holds it."""
    symbol = next(s for s in theorem.sides({})[0].free_symbols if s.name == name)
    return lambda env, sizes: symbol


def _lecture(entry: str, claim: str, *asked: Any, **options: Any) -> Problem:
    """A built-in problem on catalog claim ``entry:claim``, which is also its id (as in derive and verify)."""
    return Problem(f"{entry}:{claim}", entry, claim, *asked, **options)


_SIMPLEX = "sum_i y_i = 1 (y is a probability vector, e.g. one-hot)"
_BUILT_IN: dict[str, Problem] = {p.id: p for p in (
    _lecture("softmax_ce", "grad_z",
            "L = -sum_i y_i log p_i with p = softmax(z) and sum_i y_i = 1. Give dL/dz_i.",
            {"p": Use("indexed", "p", meaning="p_i = softmax(z)_i"),
             "y": Use("indexed", "y1", meaning="label y_i", domain="simplex"), "z": Use("indexed", "z", meaning="logit z_i")},
            ({"n": 3, "N": 1}, {"n": 4, "N": 1}), index="i", indices={"i": "n", "j": "n", "k": "n"},
            assumptions=(_SIMPLEX,), mistakes={"y_i - p_i": "sign", "p_i": "the label term is missing"}),
    _lecture("softmax_ce", "grad_z_general",
            "L = -sum_i y_i log p_i with p = softmax(z); y is not assumed to sum to 1. Give dL/dz_i.",
            {"p": Use("indexed", "p", meaning="p_i = softmax(z)_i"), "y": Use("indexed", "y", meaning="label y_i"),
             "z": Use("indexed", "z", meaning="logit z_i")},
            ({"n": 3, "N": 1}, {"n": 4, "N": 1}), index="i", indices={"i": "n", "j": "n", "k": "n"},
            mistakes={"p_i - y_i": "assumption"}),
    _lecture("bp", "delta_output_sigmoid",
            "Sigmoid output units O_k = sigma(net_k), E = 1/2 sum_k (T_k - O_k)^2. Give delta_k = -dE/dnet_k.",
            {"O": Use("indexed", "O_sigmoid_of_net_k", meaning="output O_k"), "T": Use("indexed", "T", meaning="target T_k")},
            ({"I": 1, "H": 1, "O": 2, "H2": 1}, {"I": 1, "H": 1, "O": 3, "H2": 1}), index="k", indices={"k": "O"},
            mistakes={"(T_k - O_k)": "the derivative of the sigmoid, O_k (1 - O_k), is missing"}),
    _lecture("bp", "delta_output_linear",
            "Linear output units O_k = net_k, E = 1/2 sum_k (T_k - O_k)^2. Give delta_k = -dE/dnet_k.",
            {"O": Use("indexed", "O_linear_of_net_k", meaning="output O_k"), "T": Use("indexed", "T", meaning="target T_k")},
            ({"I": 1, "H": 1, "O": 2, "H2": 1}, {"I": 1, "H": 1, "O": 3, "H2": 1}), index="k", indices={"k": "O"},
            mistakes={"(T_k - O_k) O_k (1 - O_k)": "that is the sigmoid output's delta; here the output is linear"}),
    _lecture("attention", "grad_V",
            "O = A V with A = softmax(Q K^T / sqrt(d_k)) and upstream gradient G = dL/dO. Give dL/dV.",
            {"A": Use("matrix", "A", meaning="attention weights (n x n)"), "G": Use("matrix", "G", meaning="dL/dO (n x d_k)")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    _lecture("perceptron", "update_w",
            "The perceptron criterion J = (y - t)(w . x + b) for output y and target t. Give the updated weight "
            "w_i after one gradient step with rate eta.",
            {"w": Use("indexed", "w", meaning="weight w_i"), "x": Use("indexed", "x", meaning="input x_i"),
             "t": Use("scalar", "t", meaning="target"), "y": Use("scalar", "y", meaning="output"),
             "eta": Use("scalar", "eta", meaning="learning rate")},
            ({"n": 2}, {"n": 3}), index="i", indices={"i": "n"},
            mistakes={"w_i + eta (y - t) x_i": "the step goes up the gradient: it should be w - eta dJ/dw",
                      "w_i + (t - y) x_i": "the learning rate eta is missing"}),
    _lecture("perceptron", "update_b",
            "The perceptron criterion J = (y - t)(w . x + b). Give the updated bias b after one gradient step with rate eta.",
            {"b": Use("scalar", "b", meaning="bias"), "t": Use("scalar", "t", meaning="target"),
             "y": Use("scalar", "y", meaning="output"), "eta": Use("scalar", "eta", meaning="learning rate")},
            ({"n": 2}, {"n": 3}), mistakes={"b + eta (y - t)": "the step goes up the gradient: it should be b - eta dJ/db"}),
    _lecture("information", "grad_q",
            "KL(p || q) = sum_i p_i log(p_i / q_i) with p, q > 0. Give dKL/dq_i.",
            {"p": Use("indexed", "p", meaning="p_i > 0"), "q": Use("indexed", "q", meaning="q_i > 0")},
            ({"n": 2}, {"n": 3}), index="i", indices={"i": "n", "j": "n"}),
    _lecture("information", "grad_p",
            "KL(p || q) = sum_i p_i log(p_i / q_i) with p, q > 0. Give dKL/dp_i.",
            {"p": Use("indexed", "p", meaning="p_i > 0"), "q": Use("indexed", "q", meaning="q_i > 0")},
            ({"n": 2}, {"n": 3}), index="i", indices={"i": "n", "j": "n"},
            mistakes={"log(p_i/q_i)": "the product rule's second term, +1, is missing"}),
    _lecture("information", "grad_z",
            "KL(p || q) with q = softmax(z) and sum_i p_i = 1. Give dKL/dz_i.",
            {"p": Use("indexed", "p1", meaning="target p_i", domain="simplex"),
             "q": Use("indexed", "q_z", meaning="q_i = softmax(z)_i"), "z": Use("indexed", "z", meaning="logit z_i")},
            ({"n": 3}, {"n": 4}), index="i", indices={"i": "n", "j": "n", "k": "n"}, assumptions=("sum_i p_i = 1",)),
    _lecture("attention", "grad_A",
            "O = A V with upstream gradient G = dL/dO. Give dL/dA.",
            {"G": Use("matrix", "G", meaning="dL/dO (n x d_k)"), "V": Use("matrix", "V", meaning="values (n x d_k)")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    _lecture("attention", "grad_S",
            "A = softmax(S) row by row, O = A V, upstream gradient G. With dA = G V^T, give dL/dS.",
            {"A": Use("matrix", "A_of_S", meaning="softmax(S), row by row (n x n)"),
             "dA": Use("matrix", lambda e, s: e["G"] * e["V"].T, meaning="dL/dA = G V^T (n x n)")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2}),  # d_k > 1: rowsum(G) is not G
            mistakes={"A .* dA": "the row-sum term is missing: dS = A ⊙ (dA - rowsum(dA ⊙ A))"}),
    _lecture("attention", "grad_Q",
            "S = Q K^T / sqrt(d_k). Given dS = dL/dS, give dL/dQ.",
            {"dS": Use("matrix", "dS_closed", meaning="dL/dS (n x n)"), "K": Use("matrix", "K", meaning="keys (n x d_k)"),
             "d_k": Use("size", "d_k", meaning="key width")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    _lecture("attention", "grad_K",
            "S = Q K^T / sqrt(d_k). Given dS = dL/dS, give dL/dK.",
            {"dS": Use("matrix", "dS_closed", meaning="dL/dS (n x n)"), "Q": Use("matrix", "Q", meaning="queries (n x d_k)"),
             "d_k": Use("size", "d_k", meaning="key width")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    _lecture("bp", "delta_hidden",
            "Sigmoid hidden units H_j = sigma(net_j) feed sigmoid output units through weights w_kj (from hidden "
            "unit j to output unit k); the output deltas delta_k are known. Give delta_j = -dE/dnet_j.",
            {"H": Use("indexed", _hidden_layer("H"), meaning="hidden output H_j"),
             "w": Use("indexed", "Wo", rank=2, meaning="weight w_kj from hidden unit j to output unit k"),
             "delta": Use("indexed", _hidden_layer("delta_k"), meaning="output delta delta_k")},
            ({"I": 1, "H": 2, "O": 2, "H2": 1}, {"I": 1, "H": 3, "O": 3, "H2": 1}), index="j", indices={"j": "H", "k": "O"},
            mistakes={"H_j (1 - H_j) sum_k delta_k w_jk": "swapped indices: the weight from hidden unit j to output unit "
                      "k is w_kj, so the sum runs over w_kj with j fixed",
                      "sum_k delta_k w_kj": "the sigmoid's derivative H_j (1 - H_j) is missing"}),
    _lecture("bp", "update_w_output",
            "Back-propagation with learning rate alpha: hidden outputs H_j, output deltas delta_k = -dE/dnet_k. Give the "
            "updated weight w_kj(t+1) from hidden unit j to output unit k.",
            {"w": Use("indexed", "Wo", rank=2, meaning="w_kj(t)"), "delta": Use("indexed", "delta_k", meaning="output delta delta_k"),
             "H": Use("indexed", "H", meaning="hidden output H_j"), "alpha": Use("scalar", "alpha", meaning="learning rate")},
            ({"I": 1, "H": 2, "O": 3, "H2": 1}, {"I": 1, "H": 3, "O": 2, "H2": 1}), index="k j", indices={"k": "O", "j": "H"},
            mistakes={"w_kj - alpha delta_k H_j": "the step's sign: delta_k = -dE/dnet_k already carries the minus, so "
                      "w_kj(t+1) = w_kj + alpha delta_k H_j",
                      "w_kj + delta_k H_j": "the learning rate alpha is missing",
                      "w_kj + alpha delta_k I_j": "the input to w_kj is the hidden output H_j"},
            prepare=_sigmoid_activation),
    _lecture("bp", "update_w_hidden",
            "Back-propagation with learning rate alpha: inputs I_i, hidden deltas delta_j = -dE/dnet_j. Give the updated "
            "weight w_ji(t+1) from input i to hidden unit j.",
            {"w": Use("indexed", "Wh", rank=2, meaning="w_ji(t)"), "delta": Use("indexed", "delta_j", meaning="hidden delta delta_j"),
             "I": Use("indexed", "I", meaning="input I_i"), "alpha": Use("scalar", "alpha", meaning="learning rate")},
            ({"I": 2, "H": 3, "O": 1, "H2": 1}, {"I": 3, "H": 2, "O": 1, "H2": 1}), index="j i", indices={"j": "H", "i": "I"},
            mistakes={"w_ji - alpha delta_j I_i": "the step's sign: delta_j = -dE/dnet_j already carries the minus, so "
                      "w_ji(t+1) = w_ji + alpha delta_j I_i",
                      "w_ji + delta_j I_i": "the learning rate alpha is missing"},
            prepare=_sigmoid_activation),
    _lecture("layernorm", "grad_X",
            "Layer norm of one row x of length d: mu = mean(x), sigma = sqrt(mean((x - mu)^2) + epsilon), "
            "xhat_i = (x_i - mu)/sigma, y_i = gamma_i xhat_i + beta_i, upstream gradient g_i = dL/dy_i. Give dL/dx_i.",
            {"xhat": Use("indexed", lambda e, s: e["Xhat"].row(0).T, meaning="normalised input xhat_i"),
             "g": Use("indexed", lambda e, s: e["G"].row(0).T, meaning="upstream gradient g_i = dL/dy_i"),
             "gamma": Use("indexed", "gamma", meaning="gain gamma_i"),
             "sigma": Use("scalar", _row_sigma, meaning="sqrt(variance + epsilon) of the row"),
             "d": Use("size", "d", meaning="row length")},
            ({"n": 1, "d": 3}, {"n": 1, "d": 4}), index="i", indices={"i": "d", "j": "d", "k": "d"},
            mistakes={"gamma_i g_i / sigma": "only the direct path: the terms through mu and sigma are missing",
                      "(gamma_i g_i - (1/d) sum_j gamma_j g_j) / sigma": "the path through sigma, "
                      "- xhat_i mean_j(gamma_j g_j xhat_j), is missing"}),
    _lecture("ffn", "grad_W1",
            "FFN(X) = max(0, X W_1 + b_1) W_2 + b_2 with upstream gradient G = dL/dFFN(X) and S = 1[X W_1 + b_1 > 0] "
            "the ReLU's pattern (n x h). Give dL/dW_1.",
            {"X": Use("matrix", "X", meaning="input (n x d)"), "G": Use("matrix", "G", meaning="dL/dFFN(X) (n x d)"),
             "W_2": Use("matrix", lambda e, s: matrix("W2_", s["h"], s["d"]), meaning="second weights (h x d)"),
             "S": Use("matrix", lambda e, s: matrix("s", s["n"], s["h"]), meaning="ReLU pattern, 0 or 1 (n x h)",
                      domain="binary")},
            ({"n": 2, "d": 3, "h": 4}, {"n": 4, "d": 2, "h": 3}),
            mistakes={"X^T (G W_2^T)": "the ReLU's derivative, the pattern S, is missing"}),
    _lecture("conv", "grad_W",
            "One channel, stride 1, valid cross-correlation: Y_ij = b + sum_u sum_v W_uv X_{i+u-1,j+v-1}, with "
            "upstream gradient G = dL/dY. Give dL/dW_uv.",
            {"X": Use("indexed", lambda e, s: matrix("X1_", s["oh"] + s["kh"] - 1, s["ow"] + s["kw"] - 1), rank=2,
                      meaning="input X_ij"),
             "G": Use("indexed", lambda e, s: matrix("G1_", s["oh"], s["ow"]), rank=2, meaning="dL/dY_ij")},
            ({"c_in": 1, "c_out": 1, "oh": 2, "ow": 3, "kh": 2, "kw": 2},
             {"c_in": 1, "c_out": 1, "oh": 3, "ow": 2, "kh": 3, "kw": 3}),
            index="u v", indices={"u": "kh", "v": "kw", "i": "oh", "j": "ow"},
            mistakes={"sum_i sum_j G_ij X_{i+v-1,j+u-1}": "swapped indices: W_uv meets X_{i+u-1,j+v-1}"}),
    _lecture("pooling", "grad_max",
            "Max pooling of one 2 x 2 window x_1, x_2, x_3, x_4 (read row by row; stride 2, so each x_i is in one "
            "window): y = max(x_1, x_2, x_3, x_4), upstream gradient g = dL/dy. Give dL/dx_i. Write ismax(a, b, ...) "
            "for 1 where a is the largest of its arguments, else 0.",
            {"x": Use("indexed", lambda e, s: e["X"].reshape(e["X"].rows * e["X"].cols, 1), meaning="x_i, the window's entries"),
             "g": Use("scalar", lambda e, s: e["G"][0, 0], meaning="dL/dy")},
            ({"h": 2, "w": 2, "k": 2, "s": 2, "m": 4},), index="i", indices={"i": "m", "j": "m"},
            mistakes={"g": "the gradient goes only to the window's maximum: g ismax(x_i, x_1, x_2, x_3, x_4)",
                      "g / 4": "that is average pooling's gradient; max pooling routes g to the maximum only",
                      "ismax(x_i, x_1, x_2, x_3, x_4)": "the upstream gradient g is missing"},
            key_from=_max_pool_key),
    _lecture("information", "grad_entropy",
            "H(p) = -sum_i p_i log p_i with p_i > 0. Give dH/dp_i.",
            {"p": Use("indexed", "p", meaning="p_i > 0")}, ({"n": 2}, {"n": 3}), index="i", indices={"i": "n", "j": "n"},
            mistakes={"-log(p_i)": "the product rule's second term, -1, is missing"}),
    # The lecture's theorems, asked as questions (issue 19): each key is the proved theorem's side or value.
    _lecture("positional_encoding", "norm",
            "Sinusoidal positional encoding with d_model even: PE(pos, 2i) = sin(pos / 10000^(2i/d_model)) and "
            "PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model)). Give ||PE(pos)||^2 = sum_j PE(pos, j)^2.",
            {"d_model": Use("size", "d_model", meaning="model width (even)")},
            ({"half_d": 1, "d_model": 2}, {"half_d": 2, "d_model": 4}, {"half_d": 3, "d_model": 6}),
            mistakes={"1": "that is one (sin, cos) pair's sin^2 + cos^2; PE has more than one pair"},
            noun="squared norm"),
    _lecture("information", "entropy_bound",
            "H(p) = -sum_i p_i log p_i (natural log) for a probability vector p on n outcomes. Give the largest "
            "value H(p) can take.",
            {"n": Use("size", "n", meaning="number of outcomes")}, ({"n": 2}, {"n": 3}, {"n": 5}),
            mistakes={"1": "the largest entropy grows with n: at the uniform p_i = 1/n, H = -sum_i (1/n) log(1/n)",
                      "n": "at the uniform p_i = 1/n, H = -sum_i (1/n) log(1/n): a logarithm of n, not n",
                      "log(2)": "that is the largest entropy of a coin (n = 2); the uniform p on n outcomes reaches "
                      "more"},
            key_from=_bound(ENTROPY_BOUND), noun="bound"),
    _lecture("perceptron", "novikoff",
            "Labels y = +-1 (bias folded into x), ||x|| <= R for every sample, and a unit vector w* with "
            "y w*.x >= gamma > 0 for every sample. Starting from w = 0, the perceptron adds y x on each mistake. "
            "Give Novikoff's bound on the number of mistakes it can make.",
            {"R": Use("scalar", _bound_symbol(NOVIKOFF_BOUND, "R"), meaning="radius: ||x|| <= R"),
             "gamma": Use("scalar", _bound_symbol(NOVIKOFF_BOUND, "gamma"), meaning="margin gamma > 0")},
            ({"n": 2},),
            mistakes={"R/gamma": "the bound is squared: (k gamma)^2 <= (w_k.w*)^2 <= ||w_k||^2 <= k R^2",
                      "(gamma/R)^2": "upside down: a wider margin gamma means fewer mistakes",
                      "R^2/gamma": "w_k.w* >= k gamma, squared, gives (k gamma)^2: gamma is squared too"},
            key_from=_bound(NOVIKOFF_BOUND), noun="bound"),
    _lecture("attention", "score_variance",
            "q and k in R^{d_k} have independent entries of mean 0 and variance 1. By what number must the score "
            "q . k be divided so that its variance is 1?",
            {"d_k": Use("size", "d_k", meaning="key width")}, ({"n": 1, "d_k": 2}, {"n": 1, "d_k": 3}, {"n": 1, "d_k": 4}),
            key_from=lambda key, env, sizes: sp.Matrix([unit_variance_scale(sizes)]), noun="scale"),
)}


# Each problem's reference answer: checked to grade correct (tests), shown only with reveal=True.
_ANSWERS = {
    "softmax_ce:grad_z": "p_i - y_i", "softmax_ce:grad_z_general": "p_i sum_k y_k - y_i",
    "bp:delta_output_sigmoid": "(T_k - O_k) O_k (1 - O_k)", "bp:delta_output_linear": "T_k - O_k",
    "attention:grad_V": "A^T G", "perceptron:update_w": "w_i - eta (y - t) x_i", "perceptron:update_b": "b - eta (y - t)",
    "information:grad_q": "-p_i/q_i", "information:grad_p": "log(p_i/q_i) + 1", "information:grad_z": "q_i - p_i", "attention:grad_A": "G V^T",
    "attention:grad_S": "A ⊙ (dA - rowsum(dA ⊙ A))", "attention:grad_Q": "dS K / sqrt(d_k)",
    "attention:grad_K": "dS^T Q / sqrt(d_k)", "bp:delta_hidden": "H_j (1 - H_j) sum_k delta_k w_kj",
    "bp:update_w_output": "w_kj + alpha delta_k H_j", "bp:update_w_hidden": "w_ji + alpha delta_j I_i",
    "layernorm:grad_X": "(gamma_i g_i - (1/d) sum_j gamma_j g_j - xhat_i (1/d) sum_j gamma_j g_j xhat_j) / sigma",
    "ffn:grad_W1": "X^T ((G W_2^T) ⊙ S)", "conv:grad_W": "sum_i sum_j G_ij X_{i+u-1,j+v-1}",
    "pooling:grad_max": "g ismax(x_i, x_1, x_2, x_3, x_4)", "information:grad_entropy": "-log(p_i) - 1",
    "positional_encoding:norm": "d_model / 2", "information:entropy_bound": "log(n)",
    "perceptron:novikoff": "(R/gamma)^2", "attention:score_variance": "sqrt(d_k)",
}
# The lecture's deltas are minus the gradient: minus the key is the gradient itself, named so.
_SIGNS = {"bp:delta_output_sigmoid": "you gave dE/dnet_k; delta_k = -dE/dnet_k",
          "bp:delta_output_linear": "you gave dE/dnet_k; delta_k = -dE/dnet_k",
          "bp:delta_hidden": "you gave dE/dnet_j; delta_j = -dE/dnet_j"}
# Attention's matrix gradients entry by entry, as notes write them (dV_ij = sum_k A_ki G_kj): the
# range of each letter, row i and column j of the answer, k and l summed.
_ENTRIES = {
    "attention:grad_V": {"i": "n", "j": "d_k", "k": "n", "l": "d_k"},
    "attention:grad_A": {"i": "n", "j": "n", "k": "d_k", "l": "n"},
    "attention:grad_S": {"i": "n", "j": "n", "k": "n", "l": "n"},
    "attention:grad_Q": {"i": "n", "j": "d_k", "k": "n", "l": "d_k"},
    "attention:grad_K": {"i": "n", "j": "d_k", "k": "n", "l": "d_k"},
}

# Built-in problems' ids before ids were ``entry:claim`` where the old name was not the entry's: files
# and stores written then still read (``kl.grad_q``); any other ``entry.claim`` reads as ``entry:claim``.
_FORMER = {"kl.grad_q": "information:grad_q", "kl.grad_p": "information:grad_p", "kl.grad_z": "information:grad_z",
           "layernorm.grad_x": "layernorm:grad_X"}


class Registry(dict[str, Any]):
    """Problems by canonical id. Read (``[]``, ``in``, ``get``) in the spellings an id had or may
    have (``kl.grad_q``, ``softmax_ce.grad_z``), so that a file written before ids were
    ``entry:claim`` reads, and an instructor's file cannot take a built-in's former id; iterated,
    and written (a problem file registers its own ids), by the id itself.

    >>> PROBLEMS["kl.grad_q"] is PROBLEMS["information:grad_q"], "softmax_ce.grad_z" in PROBLEMS, "kl.grad_q" in list(PROBLEMS)
    (True, True, False)
    """

    def __missing__(self, key: str) -> Any:
        found = _spelled(self, key)
        if found is None:
            raise KeyError(key)
        return dict.__getitem__(self, found)

    def __contains__(self, key: object) -> bool:
        return _spelled(self, key) is not None

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        found = _spelled(self, key)
        return default if found is None else dict.__getitem__(self, found)


def _spelled(table: Mapping[str, Any], spelling: object) -> str | None:
    """The id in ``table`` that ``spelling`` is: itself, a built-in's former id, or ``entry.claim`` for
    ``entry:claim`` (and the other way round); None when it is none of them."""
    if not isinstance(spelling, str):
        return None
    name = spelling.strip()
    for candidate in (name, _FORMER.get(name, ""), name.replace(".", ":", 1), name.replace(":", ".", 1)):
        if dict.__contains__(table, candidate):
            return candidate
    return None


PROBLEMS = Registry({pid: replace(p, answer=_ANSWERS[pid], sign=_SIGNS.get(pid, ""),
                                  **({"entries": "i j", "indices": _ENTRIES[pid]} if pid in _ENTRIES else {}))
                     for pid, p in _BUILT_IN.items()})


def _value(use: Use, env: Mapping[str, Any], sizes: Mapping[str, int]) -> Any:
    return use.env(env, sizes) if callable(use.env) else env[use.env]


def canonical_id(spelling: str) -> str:
    """The canonical id of a problem, however it is spelled: an id as registered (a built-in's
    ``entry:claim``, an instructor's own from a TOML file), ``entry.claim`` for ``entry:claim`` (and
    the other way round), or a built-in's former id. ``KeyError`` naming the ids it looks like.

    >>> canonical_id("softmax_ce.grad_z"), canonical_id("kl.grad_q"), canonical_id(" bp:step "), canonical_id("KL.grad_q")
    ('softmax_ce:grad_z', 'information:grad_q', 'bp:step', 'information:grad_q')
    >>> canonical_id("softmax_ce:grad_y")
    Traceback (most recent call last):
    ...
    KeyError: "no problem 'softmax_ce:grad_y'; did you mean softmax_ce:grad_z, softmax_ce:grad_z_general? (see 'gradproof problems')"
    """
    name = spelling.strip()
    found = _spelled(PROBLEMS, name)
    if found is not None:
        return found
    spellings = _spellings()
    ways = {name.casefold(), name.replace(".", ":", 1).casefold(), name.replace(":", ".", 1).casefold()}
    folded = {pid for way, pid in spellings.items() if way.casefold() in ways}
    if len(folded) == 1:  # a header a spreadsheet capitalised (KL.grad_q)
        return folded.pop()
    near = similar_ids(name)
    hint = f"did you mean {', '.join(near)}? (see 'gradproof problems')" if near else "see 'gradproof problems'"
    raise KeyError(f"no problem {name!r}; {hint}")


def similar_ids(spelling: str) -> list[str]:
    """Canonical ids that look like ``spelling`` (in any accepted spelling), for "did you mean".

    >>> similar_ids("kl.grad_x")
    ['information:grad_z', 'information:grad_q', 'information:grad_p']
    """
    spellings = _spellings()
    near = difflib.get_close_matches(spelling.strip(), list(spellings), n=3, cutoff=0.6)
    return list(dict.fromkeys(spellings[s] for s in near))


def _spellings() -> dict[str, str]:
    """Every id as written and every former id, each to its canonical id."""
    return {**{pid: pid for pid in PROBLEMS}, **{old: new for old, new in _FORMER.items() if dict.__contains__(PROBLEMS, new)}}


def _known(spelling: str) -> str:
    """The canonical id of a known problem; an unknown one as given (grading then says it is unknown)."""
    try:
        return canonical_id(spelling)
    except KeyError:
        return spelling


def problem(spelling: str) -> Problem:
    """The problem with this id, in any spelling ``canonical_id`` accepts.

    >>> problem("kl.grad_q").id
    'information:grad_q'
    """
    return PROBLEMS[canonical_id(spelling)]


def _resolved(p: Problem, sizes: Mapping[str, int], env: Mapping[str, Any]) -> dict[str, Any]:
    """Each symbol's value at these sizes, the forward's too (``prepare`` applied once here, not to
    every answer)."""
    values = {name: _value(use, env, sizes) for name, use in p.symbols().items() if use.kind != "size"}
    return {name: p.prepare(sp.Matrix(v)) if p.prepare is not None and getattr(v, "is_Matrix", False) else v
            for name, v in values.items()}


def _vocabulary(p: Problem, sizes: Mapping[str, int], values: Mapping[str, Any]) -> Vocabulary:
    symbols = p.symbols()
    matrices = {name: sp.MatrixSymbol(name, *values[name].shape) for name, use in symbols.items() if use.kind == "matrix"}
    scalars = {name: sp.Integer(sizes[use.env]) for name, use in symbols.items() if use.kind == "size"}
    for name, use in symbols.items():
        if use.kind == "scalar":
            value = values[name]
            if getattr(value, "is_Matrix", False):
                if value.shape != (1, 1):  # its first entry would stand for all of it, silently
                    raise ProblemError(f"the scalar {name!r} of {p.id} is given a {value.shape[0]} x {value.shape[1]} "
                                       "value; a scalar needs one entry (or declare it indexed or a matrix)")
                value = value[0, 0]
            scalars[name] = value
    indexed = {name: use.rank for name, use in symbols.items() if use.kind == "indexed"}
    if p.entries:  # A_ki beside A: a matrix read entry by entry
        indexed.update({name: 2 for name in matrices})
    # p_i's vector p, written whole (p - y): a column of the entries; w_kj's matrix w (w + alpha delta H^T)
    vectors = {name: sp.MatrixSymbol(name, len(values[name]), 1) for name, rank in indexed.items()
               if rank == 1 and name not in matrices and name not in scalars}
    vectors |= {name: sp.MatrixSymbol(name, *values[name].shape) for name, rank in indexed.items()
                if rank == 2 and name not in matrices and name not in scalars and getattr(values[name], "is_Matrix", False)}
    table = forward(p.entry, p.claim)
    # softmax(z) is p only where this problem's p and z are the forward's (a problem file may map p elsewhere)
    applications = {(function, argument): result for (function, argument), result in table.applications.items()
                    if all(n in symbols and n in table.quantities and symbols[n].same_value(table.quantities[n])
                           for n in (argument, result))}
    return Vocabulary(scalars=scalars, matrices=matrices, indexed=indexed, indices=dict(p.indices), vectors=vectors,
                      applications=applications, activation=table.activation, star=p.star, asks=asks(p.statement),
                      letters=_letters(symbols, indexed, p.indices))


def _letters(symbols: Mapping[str, Use], indexed: Mapping[str, int], indices: Mapping[str, str]) -> dict[str, str]:
    """Each indexed symbol's index letters as its meaning writes it ("hidden output H_j": j), where
    they are the problem's letters and as many as its indices.

    >>> _letters({"H": Use("indexed", "H", meaning="hidden output H_j")}, {"H": 1}, {"k": "O", "j": "H"})
    {'H': 'j'}
    """
    out = {}
    for name, rank in indexed.items():
        written = re.search(rf"(?<![A-Za-z]){re.escape(name)}_\{{?([a-z]+)\}}?", symbols[name].meaning if name in symbols else "")
        if written and len(written.group(1)) == rank and all(c in indices for c in written.group(1)):
            out[name] = written.group(1)
    return out


def asks(statement: str) -> tuple[tuple[str, int], ...]:
    """What a statement asks for, as a left-hand side may name it, with the sign it carries: "Give
    delta_k = -dE/dnet_k" asks for delta_k, which is minus the derivative by net_k.

    >>> asks("Sigmoid output units. Give delta_k = -dE/dnet_k."), asks("S = Q K^T / sqrt(d_k). Given dS, give dL/dQ.")
    ((('delta', 1), ('d/dnet', -1)), (('d/dQ', 1),))
    >>> asks("Give the updated weight w_kj(t+1) from hidden unit j to output unit k."), asks("Give the updated bias b.")
    ((('w', 1),), ())
    """
    found = re.search(r"\b[Gg]ive (.+?)\.(?:\s|$)", statement)
    # "the updated weight w_kj(t+1) from hidden unit j ...": the formula among the words
    parts = [named(part if " " not in part.strip() else next(
        (w for w in part.split() if re.search(r"[_/]", w)), "")) for part in found.group(1).split("=")] if found else []
    parts = [(sign, form) for sign, form in parts if form]
    return tuple((form, sign * parts[0][0]) for sign, form in parts)


# Atoms an entry of an answer holds unevaluated until ``doit`` (a sum over an index): doit walks the
# whole tree (a third of grading time), so it runs only on entries that hold one of these.
_UNEVALUATED: tuple[type, ...] = (sp.Sum,)


def _wholes(p: Problem, values: Mapping[str, Any]) -> dict[sp.MatrixSymbol, sp.ImmutableMatrix]:
    """Each matrix symbol an answer may hold (a matrix, or an indexed vector written whole) -> its value."""
    out = {}
    for name, use in p.symbols().items():
        if use.kind == "matrix" or use.kind == "indexed" and use.rank == 2 and getattr(values[name], "is_Matrix", False):
            out[sp.MatrixSymbol(name, *values[name].shape)] = sp.ImmutableMatrix(values[name])  # A; w_kj's w
        elif use.kind == "indexed" and use.rank == 1 and getattr(values[name], "is_Matrix", False):
            column = sp.Matrix(values[name]).reshape(len(values[name]), 1)
            out[sp.MatrixSymbol(name, column.rows, 1)] = sp.ImmutableMatrix(column)
    return out


def _explicit(expression: sp.Basic, wholes: Mapping[sp.MatrixSymbol, sp.ImmutableMatrix],
              scalar: Callable[[sp.Expr], sp.Expr] | None = None) -> sp.Matrix:
    """A matrix expression written out with the symbols' values, bottom-up by explicit arithmetic:
    SymPy's own ``doit`` writes a product's entries as Sums and evaluates them through ``apart``
    (seconds for attention's A dS K at n = 3), where a plain product takes milliseconds. A scalar
    part (a sum over an index, an entry p_i) is written out by ``scalar`` where one is given.

    >>> A, B = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("B", 2, 2)
    >>> x = sp.Symbol("x")
    >>> _explicit(x * A.T * B + sp.HadamardProduct(A, B), {A: sp.ImmutableMatrix([[1, 2], [3, 4]]), B: sp.eye(2)}).tolist()
    [[x + 1, 3*x], [2*x, 4*x + 4]]
    """
    if not getattr(expression, "is_Matrix", False):  # a scalar factor: 1/sum_j exp(z_j), alpha
        expression = scalar(expression) if scalar is not None else expression
        return expression.xreplace(wholes).doit() if expression.has(*wholes) else expression
    if isinstance(expression, sp.MatrixSymbol):
        return sp.Matrix(wholes[expression]) if expression in wholes else sp.Matrix(expression.as_explicit())
    if isinstance(expression, sp.MatrixBase):
        return sp.Matrix(expression)
    parts = [_explicit(a, wholes, scalar) for a in expression.args]
    if isinstance(expression, sp.MatAdd):
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total
    if isinstance(expression, sp.MatMul):
        scalar_part = sp.Mul(*[q for q in parts if not getattr(q, "is_Matrix", False)])
        product = None
        for q in parts:
            if getattr(q, "is_Matrix", False):
                product = q if product is None else product * q
        return (product if product is not None else sp.Matrix([[1]])) * scalar_part
    if isinstance(expression, sp.HadamardProduct):
        total = parts[0]
        for part in parts[1:]:
            total = total.multiply_elementwise(part)
        return total
    if isinstance(expression, sp.Transpose):
        return parts[0].T
    # another matrix expression (rowsum, a broadcast, ...): itself over the written-out arguments,
    # entry by entry as it defines them
    rebuilt = type(expression)(*[sp.ImmutableMatrix(q) if getattr(q, "is_Matrix", False) else q for q in parts])
    rows, cols = (int(n) for n in rebuilt.shape)
    return sp.Matrix(rows, cols, lambda i, j: rebuilt._entry(i, j))


def _ranged(p: Problem, answer: sp.Basic, sizes: Mapping[str, int], values: Mapping[str, Any],
            bounds: Mapping[sp.Symbol, sp.Integer]) -> sp.Basic:
    """Each sum over a letter's whole range runs along what it indexes, as a reader takes it:
    ``sum_l G_il O_il`` sums over G's columns whatever range the problem gives the letter l (d_k,
    where l was declared to run to n); a fixed range would silently drop or overrun terms at some
    sizes and grade a right answer wrong. A letter that indexes two different lengths in one sum is
    refused. Bounds other than the whole range (``sum_{k=1}^{i}``) are taken literally."""

    def rebound(summed: sp.Sum) -> sp.Basic:
        limits = []
        for letter, low, high in summed.limits:
            if low != 1 or not isinstance(high, sp.Symbol) or high not in bounds:
                limits.append((letter, low, high))
                continue
            lengths: dict[int, str] = {}
            for indexed in summed.function.atoms(sp.Indexed):
                name = str(indexed.base)
                value = values.get(name)
                if not getattr(value, "is_Matrix", False):
                    continue
                use = p.symbols()[name]
                dims = value.shape if use.kind == "matrix" or use.rank > 1 else (len(value),)
                for position, index in enumerate(indexed.indices):
                    if index == letter and position < len(dims):
                        along = "entries" if len(dims) == 1 else "rows" if position == 0 else "columns"
                        lengths.setdefault(int(dims[position]), f"{name}'s {along}")
            if len(lengths) > 1:
                (a, what_a), (b, what_b) = list(lengths.items())[:2]
                raise InvalidAnswer(f"the sum over {letter} runs along {what_a} ({a}) and {what_b} ({b}): "
                                    "use a letter for each")
            limits.append((letter, low, sp.Integer(next(iter(lengths))) if lengths else high))
        return sp.Sum(summed.function, *limits)

    return answer.replace(lambda e: isinstance(e, sp.Sum), rebound) if answer.has(sp.Sum) else answer


def _written_out(p: Problem, answer: sp.Basic, sizes: Mapping[str, int], values: Mapping[str, Any]) -> sp.Matrix:
    """The answer at concrete sizes, in the builder's entry symbols: a matrix like the key. An
    entrywise problem answered in matrix or vector form (no free index: ``W + alpha delta H^T``)
    is the whole matrix, compared with the key's rows x columns.

    >>> values, words, key, _ = _setting("bp:update_w_output", 0)
    >>> W, H, delta = dict(words.matrices)["W"], dict(words.vectors)["H"], dict(words.vectors)["delta"]
    >>> p = problem("bp:update_w_output")
    >>> _written_out(p, W + words.scalars["alpha"] * delta * H.T, p.sizes[0], values) == key
    True
    """
    bounds = {sp.Symbol(size, integer=True, positive=True): sp.Integer(sizes[size]) for size in set(p.indices.values())}
    by_entry = not p.index and p.entries and not getattr(answer, "is_Matrix", False) and bool(
        {s.name for s in answer.free_symbols} & set(p.entries.split()))
    symbols = p.symbols()

    wholes = _wholes(p, values)

    def written(at: sp.Expr) -> sp.Expr:
        """A scalar with its sizes, sums and entries (p_i, w_kj at numbers) written out; an entry of a
        matrix expression (mean(gamma g) is one of 1^T (gamma ⊙ g)) by explicit arithmetic."""
        at = at.xreplace(bounds)
        if at.has(*_UNEVALUATED):
            at = at.doit()
        if at.has(MatrixElement):
            at = at.replace(lambda e: isinstance(e, MatrixElement) and e.parent.has(*wholes),
                            lambda e: _explicit(e.parent, wholes, written)[int(e.i), int(e.j)])
        entries = {}
        for indexed in at.atoms(sp.Indexed):
            use = symbols[str(indexed.base)]
            vector = values[str(indexed.base)]
            position = [int(k) - 1 for k in indexed.indices]
            shape = vector.shape if use.rank > 1 or use.kind == "matrix" else (len(vector),)
            if any(not 0 <= k < n for k, n in zip(position, shape)):
                raise InvalidAnswer(f"{indexed} is outside {indexed.base} (its shape is {' x '.join(map(str, shape))})")
            entries[indexed] = vector[tuple(position) if len(shape) > 1 else position[0]]
        return at.xreplace(entries)

    if (not p.index and not by_entry) or getattr(answer, "is_Matrix", False):
        if getattr(answer, "is_Matrix", False):
            # a vector form may hold sums over entries (exp(z) / sum_j exp(z_j)): written out like an entry's
            whole = _explicit(_ranged(p, answer, sizes, values, bounds), wholes, written)
            if len(p.index.split()) == 1 and whole.rows == 1 and whole.cols > 1:
                return whole.T  # dL/dz_i for every i, as a row: a vector's layout is a convention, not an error
            return whole
        replaced = answer.xreplace(wholes).doit()
        return sp.Matrix(replaced) if getattr(replaced, "is_Matrix", False) else sp.Matrix([[replaced]])

    free = p.index.split() or p.entries.split()

    def entry(*at_indices: int) -> sp.Expr:
        return written(answer.xreplace({sp.Symbol(f, integer=True, positive=True): sp.Integer(k)
                                        for f, k in zip(free, at_indices)}))

    for summed in answer.atoms(sp.Sum):
        bound_here = [str(limit[0]) for limit in summed.limits if str(limit[0]) in free]
        if bound_here:
            raise InvalidAnswer(f"the answer sums over {bound_here[0]}, its free index; sum over another, e.g. sum_k")
    answer = _ranged(p, answer, sizes, values, bounds)
    # index letters left free: the problem's, or one of the author's own (an integer symbol no size is)
    unbound = sorted({s.name for s in answer.free_symbols if s.name in p.indices or (
        s.is_Symbol and s.is_integer and s.name not in sizes and len(s.name) == 1)} - set(free))
    used = {s.name for s in answer.free_symbols}
    # a letter a sum binds is not the free index renamed (sum_k z_1 + y_k): renaming it would rename the sum's too
    summed_letters = {str(limit[0]) for summed in answer.atoms(sp.Sum) for limit in summed.limits}
    if len(free) == 1 and len(unbound) == 1 and free[0] not in used and unbound[0] not in summed_letters and \
            p.indices.get(unbound[0], p.indices[free[0]]) == p.indices[free[0]]:
        # dL/dz_j = p_j - y_j: the free index under another letter of its range is the same gradient
        answer = answer.xreplace({sp.Symbol(unbound[0], integer=True, positive=True):
                                  sp.Symbol(free[0], integer=True, positive=True)})
        unbound = []
    if unbound:  # free_symbols leaves out the indices a sum binds
        raise InvalidAnswer(f"the index {unbound[0]} is not summed over; the answer may use only {' and '.join(free)} freely")
    rows = int(sizes[p.indices[free[0]]])
    cols = int(sizes[p.indices[free[1]]]) if len(free) > 1 else 1
    return sp.Matrix(rows, cols, lambda i, j: entry(i + 1, j + 1) if len(free) > 1 else entry(i + 1))


def _no_ties(student: sp.Matrix) -> None:
    """Refuse an answer whose value changes only where two real inputs are equal (1[y_i = 1],
    1[y != t]): the inputs are real numbers, so such a set has measure zero, and neither proof nor
    sampling can weigh what the answer says there (p_i - y_i + 1[y_i = 1] would pass as right, though
    it is wrong for a one-hot y). Conditions on index letters (i = j) are decided before this and
    ``x_i = max_j x_j`` is read as x_i >= each x_j, so neither is a tie.

    >>> y = sp.Symbol("y", real=True)
    >>> _no_ties(sp.Matrix([[sp.Piecewise((1, y > 0), (0, True))]]))
    >>> _no_ties(sp.Matrix([[sp.Piecewise((1, sp.Eq(y, 1)), (0, True))]]))
    Traceback (most recent call last):
    ...
    verify.homework.language.InvalidAnswer: the answer changes where y = 1 only, a set of inputs of measure zero that cannot be graded: write the condition with <, <=, > or >=
    """
    for piecewise in student.atoms(sp.Piecewise):
        for _, condition in piecewise.args:
            for tie in getattr(condition, "atoms", lambda *_: ())(sp.Eq, sp.Ne):
                extremum = next((side for side in (tie.lhs, tie.rhs) if isinstance(side, (sp.Max, sp.Min))), None)
                if extremum is not None and ({tie.lhs, tie.rhs} - {extremum}) <= set(extremum.args):
                    continue  # x_2 = max(x_1, x_2, x_3): x_2 >= each of them, a comparison (max pooling's)
                if tie.free_symbols:
                    raise InvalidAnswer(f"the answer changes where {tie.lhs} = {tie.rhs} only, a set of inputs of "
                                        "measure zero that cannot be graded: write the condition with <, <=, > or >=")


def read_answer(problem_id: str, text: str) -> sp.Basic:
    """An answer as SymPy in the problem's vocabulary (at its first sizes), for typesetting;
    raises ``InvalidAnswer`` as grading would.

    >>> read_answer("attention:grad_V", r"A^\\top G")
    A.T*G
    """
    p = problem(problem_id)  # an unknown id is a KeyError naming the ids it looks like
    if not isinstance(p, Problem):
        raise InvalidAnswer("a table of numbers, not a formula")
    return parse(text, _setting(p.id, 0)[1])


@dataclass
class Grade:
    problem: str
    verdict: str  # correct | incorrect | invalid
    score: float
    feedback: str
    counterexample: dict[str, Any] | None = None
    method: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem, "verdict": self.verdict, "score": self.score, "feedback": self.feedback,
                "counterexample": self.counterexample, "method": self.method}

    def _repr_html_(self) -> str:  # Jupyter: verdict, feedback, counterexample (gradproof/notebook.py, on use)
        from gradproof.notebook import grade_html

        return grade_html(self)


# What SymPy or NumPy raise on an answer they cannot take (an attribute or index a construct lacks
# included): the answer is invalid with the reason, never a crash of a class's grading.
_REFUSALS = (TypeError, ValueError, KeyError, ArithmeticError, RecursionError, AttributeError, IndexError,
             NotImplementedError)

GRADE_SECONDS = 8.0  # one answer's wall-clock budget in process; half of it for the exact route


def grade(problem_id: str, text: str, points: int = 6, seed: int = 0, seconds: float = GRADE_SECONDS,
          reveal: bool = False) -> Grade:
    """Grade one answer: ``correct`` (proved equal: method ``symbolic``; or agreeing wherever it was
    sampled, where no proof reaches: ``numeric``), ``incorrect`` (with a counterexample, proved where
    the method says ``symbolic``, and a diagnosis where one fits) or ``invalid`` (with the reason).
    An answer wrong as read but right with ``*`` between matrices read the other way is told so.
    The feedback never holds the reference answer unless ``reveal`` asks for it (at its end).

    >>> g = grade("softmax_ce:grad_z", "p_i - y_i")
    >>> g.verdict, g.method
    ('correct', 'symbolic')
    >>> g = grade("softmax_ce:grad_z", "y_i - p_i")
    >>> g.verdict, g.score, "sign" in g.feedback, g.method
    ('incorrect', 0.5, True, 'symbolic')
    >>> grade("attention:grad_Q", "dS K", reveal=True).feedback
    'missing a factor 1/sqrt(d_k): the answer is sqrt(d_k) times the gradient; the gradient: dS K / sqrt(d_k)'
    """
    deadline = time.monotonic() + seconds
    problem_id = _known(problem_id)
    result = _guarded(problem_id, text, points, seed, deadline, seconds, None)
    p = PROBLEMS.get(problem_id)
    if not isinstance(p, Problem):
        return result
    if result.verdict != "correct" and result.method != "time" and deadline - time.monotonic() > 0.2 \
            and _star_matters(p, text):
        other = "elementwise" if p.star == "product" else "product"
        again = _guarded(problem_id, text, points, seed, deadline, seconds, other)
        if again.verdict == "correct":
            result = Grade(problem_id, "incorrect", CREDIT["star"], star_words(p.star), method=again.method)
    if result.verdict == "correct":
        false = _false_claim(p, text, deadline, seed)
        if false is not None:
            result = Grade(problem_id, "incorrect", 0.0, f"the answer's value is right, but {false} is not so: a "
                           "statement on the way to it is false", method="symbolic")
    if result.verdict == "invalid":
        result.feedback = without_examples(result.feedback, [p.answer])
    if reveal:
        result.feedback = revealed(problem_id, result.feedback)
    return result


def _false_claim(p: Problem, text: str, deadline: float, seed: int) -> str | None:
    """The first statement an answer makes besides its value (a step of its chain, a value its where
    clause gives) that is proved false at the problem's first sizes, in words; None when each is
    proved, or cannot be decided in time (the value itself was graded already)."""
    try:
        stated = claims(text, _words(p.id, 0, None))
    except (InvalidAnswer, *_REFUSALS):
        return None
    values, _, _, _ = _setting(p.id, 0)
    for what, left, right in stated:
        try:
            a, b = (_written_out(p, side, p.sizes[0], values) for side in (left, right))
        except (InvalidAnswer, *_REFUSALS):
            continue
        if a.shape != b.shape:
            return what
        context = _Context(_derived(p.id, 0)[0], random.Random(seed), 6, seed, deadline, deadline)
        if _decided(a, b, context).verdict == "different":
            return what
    return None


def revealed(problem_id: str, feedback: str) -> str:
    """Feedback with the problem's reference answer at its end: what ``--reveal`` shows (the key is
    never in feedback otherwise), to a right answer too, which may see another way to write it. A
    problem without a written answer (a numeric table, a TOML problem without ``answer``) has
    nothing to reveal.

    >>> revealed("information:grad_q", "sign error")
    'sign error; the gradient: -p_i/q_i'
    >>> revealed("perceptron:table_and", "row 2 is wrong")
    'row 2 is wrong'
    """
    p = PROBLEMS.get(_known(problem_id))
    key = getattr(p, "answer", "") if isinstance(p, Problem) else ""
    return f"{feedback}; the {p.noun}: {key}" if key else feedback


def _star_matters(p: Problem, text: str) -> bool:
    """Whether the answer writes * between two matrices, where the rule decides its reading (the
    language says, once it can; until then: a * and a matrix or vector in the problem)."""
    from . import language

    words = _setting(p.id, 0)[1]
    decides = getattr(language, "star_matters", None)
    if decides is not None:
        try:
            return bool(decides(text, words))
        except _REFUSALS:  # unreadable: nothing to re-read
            return False
    return any(s in text for s in ("*", "\\cdot", "\\times", "·", "×")) and bool(dict(words.matrices) or dict(words.vectors))


def _guarded(problem_id: str, text: str, points: int, seed: int, deadline: float, seconds: float,
             star: str | None) -> Grade:
    try:
        return _grade(problem_id, text, points, seed, deadline, star)
    except OutOfTime:
        return Grade(problem_id, "invalid", 0.0, f"the answer took more than {seconds:g} s to grade; write it more "
                     "simply", method="time")
    except ProblemError:
        raise  # the problem is broken, not the answer
    except _REFUSALS as error:  # SymPy or NumPy refusing the answer
        return Grade(problem_id, "invalid", 0.0, f"cannot evaluate the answer: {str(error).splitlines()[0][:100]}",
                     method="parse")


@dataclass
class _Context:
    """What one grading needs beside the matrices: where inputs live, randomness, the deadlines."""

    domain: Domain
    rng: random.Random
    points: int
    seed: int
    exact_until: float  # the exact route gives up here (and sampling takes over)
    deadline: float  # grading gives up here
    star: str | None = None  # * read otherwise than the problem's rule (to tell a student it would be right)


def _words(problem_id: str, number: int, star: str | None) -> Vocabulary:
    words = _setting(problem_id, number)[1]
    return words if star is None else replace(words, star=star)


def _grade(problem_id: str, text: str, points: int, seed: int, deadline: float, star: str | None = None) -> Grade:
    p = problem(problem_id)
    if not isinstance(p, Problem):  # a numeric exercise: a table checked exactly
        from .exercises import grade_exercise

        return grade_exercise(problem_id, text)
    rng = random.Random(seed)
    exact_until = deadline - (deadline - time.monotonic()) / 2
    proved = 0
    for number, sizes in enumerate(p.sizes):
        values, _, key, _ = _setting(problem_id, number)
        try:
            answer = parse(text, _words(problem_id, number, star))
            student = _written_out(p, answer, sizes, values)
            _no_ties(student)
        except InvalidAnswer as error:
            return Grade(problem_id, "invalid", 0.0, str(error), method="parse")
        context = _Context(_derived(problem_id, number)[0], rng, points, seed, exact_until, deadline, star)
        if student.shape != key.shape and key.shape[1] == 1 and student.shape[0] == key.shape[0] \
                and _row_sum_of(answer)[1] is not None:
            student = student[:, :1]  # rowsum(X) asked as a column (dL/dc): the row sums, as forwards read it
        if student.shape != key.shape:
            way = _same(student.T, key, context) if student.T.shape == key.shape else None
            if way is not None:
                return Grade(problem_id, "incorrect", CREDIT["transpose"], "transposed: the answer is the key's "
                             "transpose", method=way)
            # a matrix answer's sizes by name (n = 2); an entrywise one's by its letters' ranges (k = 1..3), since
            # BP's sizes are named like its symbols (H, O)
            shown = ({letter: f"1..{sizes[p.indices[letter]]}" for letter in p.index.split()} if p.index
                     else dict(sizes))
            return Grade(problem_id, "incorrect", 0.0, shape_words(student.shape, key.shape, asked(p.statement, p.index, p.noun),
                                                                   shown), method="shape")
        decision = _decided(student, key, context)
        if decision.verdict == "equal":
            proved += 1
            continue
        if decision.verdict == "different" and decision.point is None:
            return Grade(problem_id, "incorrect", 0.0, f"differs from the {p.noun}: {decision.reason}",
                         method="symbolic")
        if decision.verdict == "different":
            return _diagnose(p, text, student, key, _shown(decision), number, context)
        counter = counterexample(student, key, context.domain, rng, points, deadline)
        if counter is not None:
            return _diagnose(p, text, student, key, counter, number, context)
    at_sizes = f"each of {len(p.sizes)} sizes" if len(p.sizes) > 1 else "its size"
    if proved == len(p.sizes):
        return Grade(problem_id, "correct", 1.0, f"correct: equal to the derived {p.noun}, proved exactly at {at_sizes}",
                     method="symbolic")
    return Grade(problem_id, "correct", 1.0, f"correct: agrees with the derived {p.noun} at "
                 f"{points} or more random points at {at_sizes}, near and far and either side of the answer's "
                 "comparisons; not proved exactly" + (f" ({proved} of the sizes proved)" if proved else ""),
                 method="numeric")


def _names(p: Problem, text: str, number: int) -> set[str]:
    """The forward's quantities an answer wrote, as read (``\\hat{y}`` is yhat, ``softmax(z)`` is p):
    its matrices, vectors and indexed symbols; a scalar quantity by its name in the text."""
    try:
        read = parse(text, _setting(p.id, number)[1])
    except InvalidAnswer:  # read before, so this is not expected; show the listed symbols only
        return set()
    names = {str(m.name) for m in read.atoms(sp.MatrixSymbol)} | {str(b.label) for b in read.atoms(sp.IndexedBase)}
    scalars = {name for name, use in p.forward().items() if use.kind in ("scalar", "size")
               and re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text)}
    return (names & set(p.forward())) | scalars


def _in_words(p: Problem, text: str, counter: Mapping[str, Any], point: Mapping[sp.Symbol, Any], number: int,
              shape: tuple[int, int]) -> dict[str, Any]:
    """A counterexample as the student reads it: the problem's symbols (its listed ones, and the
    forward's the answer wrote) at the witness point, vectors as lists and matrices as rows, sizes
    as numbers, and the entry counted from 1 in the problem's index letters."""
    values = _setting(p.id, number)[0]
    sizes = p.sizes[number]
    written = _names(p, text, number)
    inputs: dict[str, Any] = {}
    for name, use in p.symbols().items():
        if name not in p.uses and name not in written:
            continue
        value = values.get(name)
        if use.kind == "scalar" and getattr(value, "shape", None) == (1, 1):
            value = value[0, 0]  # a bias b stored as a 1 x 1 matrix is one number
        shown = int(sizes[str(use.env)]) if use.kind == "size" else valued(value, point, use.kind == "indexed"
                                                                            and use.rank == 1)
        if shown is not None:
            inputs[name] = shown
    return {"inputs": inputs, "entry": entry_words(int(counter["entry"]), shape, p.index),
            "expected": counter["expected"], "yours": counter["yours"]}


def _decided(a: sp.Matrix, b: sp.Matrix, context: _Context) -> Decision:
    """The exact route within its share of the time; past it, ``unknown`` (sampling takes over)."""
    try:
        return decide(a, b, context.domain, context.exact_until, context.seed)
    except OutOfTime:
        return Decision("unknown", reason="the exact route ran out of time")


def _shown(decision: Decision) -> dict[str, Any]:
    """A witness as the counterexample a student sees (and the exact point, to diagnose with)."""
    point = decision.point or {}
    return {"inputs": {str(k): round(float(v), 6) for k, v in point.items()}, "entry": decision.entry,
            "expected": round(complex(decision.expected).real, 10), "yours": round(complex(decision.yours).real, 10),
            "proved": True, "point": point, "values": (complex(decision.yours), complex(decision.expected))}


def _same(a: sp.Matrix, b: sp.Matrix, context: _Context, witness: dict[str, Any] | None = None) -> str | None:
    """``"symbolic"`` when ``a == b`` is proved, ``"numeric"`` when only sampling agrees, None when
    they differ. A witness point of the answer's error rules most candidates out at once."""
    if witness is not None and "point" in witness and a.shape == b.shape:
        entry = witness["entry"]
        shown = gap(canonical(a[entry]), canonical(b[entry]), witness["point"])
        if shown is not None and shown[0]:
            return None
    decision = _decided(a, b, context)
    if decision.verdict != "unknown":
        return "symbolic" if decision.verdict == "equal" else None
    found = counterexample(a, b, context.domain, context.rng, context.points, context.deadline)
    return "numeric" if found is None else None


def _factor(ratio: complex, exact: bool) -> sp.Expr | None:
    """The constant c with answer = c * key that a ratio shows, when c is a simple number: p/q or
    sqrt(p/q) with q <= 100 and |p| <= 10^4 (a forgotten 2 or 1/sqrt(d_k)); never 0, 1 or -1. None
    otherwise: a factor of 1 + 1e-12 is no slip of the pen, and 0 times the gradient is no constant
    factor. The caller then proves (or samples) answer = c * key.

    >>> _factor(0.5 + 0j, exact=True), _factor(1.7320508075688772 + 0j, exact=True), _factor(1 + 1e-12 + 0j, exact=True)
    (1/2, sqrt(3), None)
    >>> _factor(0j, exact=True) is None
    True
    """
    value = complex(ratio)
    if abs(value.imag) > 1e-12 * abs(value) or value.real == 0:
        return None
    r = value.real
    tolerance = 1e-13 if exact else 1e-7  # relative; the candidate is then proved or sampled anyway
    for candidate in (sp.Rational(r).limit_denominator(100), sp.sign(r) * sp.sqrt(sp.Rational(r * r).limit_denominator(100))):
        p, q = sp.fraction(candidate ** 2 if not candidate.is_Rational else candidate)
        if abs(float(candidate) - r) <= tolerance * abs(r) and abs(p) <= 10**4 and q <= 10**4 and candidate not in (0, 1, -1):
            return candidate
    return None


_POWERS = (sp.Rational(1, 2), sp.Rational(-1, 2), sp.Integer(1), sp.Integer(-1))


def _factors(p: Problem, ratio: complex, number: int, exact: bool) -> list[tuple[sp.Expr, Callable[[int], sp.Expr]]]:
    """Factors the ratio answer/key at the ``number``-th sizes may be: a simple number (``_factor``),
    or one times a size that differs between the problem's sizes, to the power +-1/2 or +-1 (a
    missing 1/sqrt(d_k) is sqrt(d_k) times the gradient). Each with its value at the m-th sizes,
    for the caller to prove at every size.

    >>> [str(f) for f, _ in _factors(problem("attention:grad_Q"), complex(3 ** 0.5), 0, exact=True)]
    ['sqrt(3)', 'sqrt(d_k)', '3/sqrt(d_k)']
    """
    out: list[tuple[sp.Expr, Callable[[int], sp.Expr]]] = []
    constant = _factor(ratio, exact)
    if constant is not None:
        out.append((constant, lambda m: constant))
    varying = sorted(name for name in p.sizes[0] if len({int(sizes[name]) for sizes in p.sizes}) > 1)
    for name in varying:
        for power in _POWERS:
            scale = sp.Integer(p.sizes[number][name]) ** power
            rest = complex(ratio / complex(scale))
            c = sp.Integer(1) if abs(rest - 1) <= 1e-9 else sp.Integer(-1) if abs(rest + 1) <= 1e-9 else _factor(rest, exact)
            if c is not None and c.is_Rational and abs(c.p) <= 10 and c.q <= 10:  # a size times a small fraction
                out.append((c * sp.Symbol(name, positive=True) ** power,
                            lambda m, c=c, name=name, power=power: c * sp.Integer(p.sizes[m][name]) ** power))
    return out


def _diagnose(p: Problem, text: str, student: sp.Matrix, key: sp.Matrix, counter: dict[str, Any], number: int,
              context: _Context) -> Grade:
    """An answer shown wrong: its diagnosis (sign, constant factor, a listed mistake) where one is
    proved (or, beyond the exact route, sampled) to match at every size, with partial credit; else
    0. A factor that is 1/sqrt(3) at d_k = 3 but 1/2 at d_k = 4 is no constant factor. The
    counterexample is in the problem's own symbols (``_in_words``)."""
    proved = counter.pop("proved")
    values = counter.pop("values", None)
    witness = {"point": counter.pop("point"), "entry": counter["entry"]}
    shown = _in_words(p, text, counter, witness["point"], number, key.shape)
    where = f"the entry at {shown['entry']}" if p.index else f"entry {shown['entry']}" if shown["entry"] else "it"

    def credited(kind: str, words: str, way: str) -> Grade:
        return Grade(p.id, "incorrect", CREDIT[kind], words, shown, "symbolic" if proved and way == "symbolic" else "numeric")

    def everywhere(target: Callable[[int, sp.Matrix], sp.Matrix | None]) -> str | None:
        """How ``student == target(m, key at m)`` holds at every size m: here first (with the
        witness, which rules most candidates out at once), then at the others; None if it fails."""
        wanted = target(number, key)
        way = _same(student, wanted, context, witness) if wanted is not None and wanted.shape == student.shape else None
        for other in range(len(p.sizes)):
            if way is None or other == number:
                continue
            values_m, _, key_m, _ = _setting(p.id, other)
            student_m = _written_out(p, parse(text, _words(p.id, other, context.star)), p.sizes[other], values_m)
            wanted_m = target(other, key_m)
            context_m = _Context(_derived(p.id, other)[0], context.rng, context.points, context.seed,
                                 context.exact_until, context.deadline, context.star)
            found = _same(student_m, wanted_m, context_m) if wanted_m is not None and wanted_m.shape == student_m.shape \
                else None
            way = None if found is None else "numeric" if "numeric" in (way, found) else "symbolic"
        return way

    sign = f"sign error: {p.sign}" if p.sign else f"sign error: the answer is minus the {p.noun}"
    # one number at every size (1, \boxed{1}, c = 1, exp(0)) told "minus the bound" or "1/sqrt(d_k) times the
    # scale" would be told the key
    bare = _one_number(p, text, student, number, context.star)
    way = None if bare else everywhere(lambda m, k: -k)
    if way is not None:
        return credited("sign", sign, way)
    yours, expected = values if values is not None else (counter["yours"], counter["expected"])
    if abs(expected) > 1e-30 and not bare:
        for factor, at in _factors(p, complex(yours / expected), number, exact=values is not None):
            way = everywhere(lambda m, k, at=at: k * at(m))
            if way is not None:
                return credited("factor", factor_words(factor, p.noun), way)
    for wrong, _ in _derived(p.id, number)[1]:
        way = everywhere(lambda m, k, wrong=wrong: dict(_derived(p.id, m)[1]).get(wrong))
        if way is not None:
            what = p.mistakes[wrong]
            kind = "sign" if what == "sign" else "assumption" if what == "assumption" else "mistake"
            words = {"sign": sign,
                     "assumption": "uses an assumption the problem does not grant (sum_i y_i = 1)"}.get(what, what)
            return credited(kind, words, way)
    hidden = (" (the same to the digits shown: the difference is a tiny term, proved not zero)"
              if f"{shown['expected']:g}" == f"{shown['yours']:g}" else "")
    return Grade(p.id, "incorrect", 0.0, f"differs from the {p.noun}: at the inputs shown, {where} "
                 f"should be {shown['expected']:g}, the answer gives {shown['yours']:g}{hidden}", shown,
                 "symbolic" if proved else "numeric")


def _one_number(p: Problem, text: str, student: sp.Matrix, number: int, star: str | None) -> bool:
    """Whether the answer is one and the same number at every size of the problem, whatever it is written as
    (``1``, ``\\boxed{1}``, ``c = 1``, ``exp(0)``); ``-log(n)`` is not, as it changes with n.

    >>> _one_number(problem("attention:score_variance"), "exp(0)", sp.Matrix([[1]]), 0, None)
    True
    >>> _one_number(problem("information:entropy_bound"), "-log(n)", sp.Matrix([[-sp.log(2)]]), 0, None)
    False
    """
    entries: set[sp.Expr] = set()
    for m in range(len(p.sizes)):
        try:
            written = student if m == number else _written_out(p, parse(text, _words(p.id, m, star)), p.sizes[m],
                                                                  _setting(p.id, m)[0])
        except (InvalidAnswer, *_REFUSALS):
            return False
        if written.free_symbols:
            return False
        entries |= set(written)
    return len(entries) == 1


# Derived once per problem setting. Keyed by the setting itself (held here, so its id stays its own):
# when a problem file is reloaded, _setting.cache_clear() makes new settings and these follow.
_DERIVED: dict[int, tuple[tuple[Any, ...], Domain, tuple[tuple[str, sp.ImmutableMatrix], ...]]] = {}


def _derived(problem_id: str, number: int) -> tuple[Domain, tuple[tuple[str, sp.ImmutableMatrix], ...]]:
    """Where the problem's inputs live (positive builder symbols, probability vectors' entries) and
    its listed mistakes written out, at its ``number``-th sizes."""
    setting = _setting(problem_id, number)
    known = _DERIVED.get(id(setting))
    if known is not None and known[0] is setting:
        return known[1], known[2]
    p = problem(problem_id)
    values, vocabulary, key, simplex = setting
    symbols = set(key.free_symbols)
    for v in values.values():
        symbols |= sp.Matrix(v).free_symbols if getattr(v, "is_Matrix", False) else sp.sympify(v).free_symbols
    binary = frozenset(s for name, use in p.uses.items() if use.domain == "binary"
                       for s in sp.Matrix(values[name]).free_symbols)
    domain = Domain(frozenset(s for s in symbols if s.is_positive), dict(simplex), binary)
    mistakes = []
    for wrong in p.mistakes:
        try:
            mistakes.append((wrong, sp.ImmutableMatrix(_written_out(p, parse(wrong, vocabulary), p.sizes[number], values))))
        except InvalidAnswer:
            continue
    if len(_DERIVED) > 1024:  # settings a reloaded problem file left behind
        _DERIVED.clear()
    _DERIVED[id(setting)] = (setting, domain, tuple(mistakes))
    return domain, tuple(mistakes)


@cache
def _setting(problem_id: str, number: int) -> tuple[dict[str, Any], Vocabulary, sp.ImmutableMatrix, dict[sp.Symbol, int]]:
    """A problem at its ``number``-th sizes: its symbols' values, the vocabulary, the key (prepared)
    and the probability vectors' entries; built once per process, since every answer needs them."""
    p = problem(problem_id)
    sizes = p.sizes[number]
    if p.entry:
        t = topic(p.entry)
        # a problem may name sizes of its own (pooling's m = k^2 entries) beside the topic's
        env = EnvCache(t.build)(t.check_sizes({k: v for k, v in sizes.items() if k in t.default_sizes}))
        claim = next((c for c in t.claims if c.key == p.claim), None)
        if claim is None and p.key_from is None:
            raise ProblemError(f"{p.id}: {p.entry} has no claim {p.claim!r}, and the problem gives no key_from")
        # a problem on a theorem (an inequality's bound, a moment) has no claim: key_from takes its key from it
        key = sp.Matrix(claim.claimed(env)) if claim is not None else sp.zeros(0, 0)
    else:  # a problem written from a forward (from_forward.py): no catalog claim; key_from derives the key
        env, key = {}, sp.zeros(0, 0)
    if p.key_from is not None:
        key = p.key_from(key, env, sizes)
    if len(p.index.split()) == 1 and key.rows == 1:
        key = key.T  # an entrywise answer is a column; one row of a matrix gradient is asked as one
    if p.prepare is not None:
        key = p.prepare(key)
    simplex = {s: len(_value(u, env, sizes)) for u in p.uses.values() if u.domain == "simplex"
               for s in sp.Matrix(_value(u, env, sizes)).free_symbols}
    values = _resolved(p, sizes, env)
    return values, _vocabulary(p, sizes, values), sp.ImmutableMatrix(key), simplex


def _add_exercises() -> None:
    """The numeric exercises (exercises.py) are graded by id like the formula problems."""
    from .exercises import EXERCISES

    PROBLEMS.update(EXERCISES)  # type: ignore[arg-type]


_add_exercises()
