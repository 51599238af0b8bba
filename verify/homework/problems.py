"""Lecture problems whose answer keys come from derive/ (never typed twice), and their grading.

A problem names a catalog claim; its key is that claim's proven closed form, written out at
concrete sizes by the topic's own builder (``claim.claimed(env)``). A student's answer, read by
the answer language, is written out at the same sizes by mapping each symbol the problem lets a
student use onto the builder's entries (``p_i`` is the i-th entry of the softmax ``env["p"]``),
then compared with the key at random points, at several distinct sizes (a swapped transpose or
a wrong shape shows). Agreement is numeric and reported as such. A wrong answer gets a
counterexample and, where its difference from the key has a known shape (the sign, a constant
factor, a transpose, one of the problem's listed mistakes), a diagnosis with partial credit.

So far: a first set of problems (issue 5 lists more, and a TOML format for instructors).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from derive.catalog import topic
from derive.spec import EnvCache

from .language import InvalidAnswer, Vocabulary, parse

__all__ = ["CREDIT", "PROBLEMS", "Grade", "Problem", "Use", "grade", "problem", "read_answer"]

# Partial credit per diagnosis; an instructor may change it.
CREDIT = {"sign": 0.5, "factor": 0.5, "transpose": 0.5, "mistake": 0.25, "assumption": 0.5}


@dataclass(frozen=True)
class Use:
    """A symbol a student may write, and where its value is in the topic's builder: an indexed
    entry (``p_i`` -> ``env["p"][i]``), a matrix (``A`` -> ``env["A"]``) or a size (``d_k``)."""

    kind: str  # "indexed" | "matrix" | "scalar" | "size"
    env: str | Callable[[Mapping[str, Any]], Any] = ""  # the builder's key (or a function of its entries); a size's name
    rank: int = 1
    meaning: str = ""
    domain: str = ""  # "simplex": entries drawn so that the vector is a probability vector


@dataclass(frozen=True)
class Problem:
    id: str
    entry: str
    claim: str
    statement: str
    uses: Mapping[str, Use]
    sizes: tuple[Mapping[str, int], ...]
    index: str = ""  # the free index of an entrywise answer ("i"); "" for a matrix answer
    indices: Mapping[str, str] = field(default_factory=dict)  # index -> size it runs to
    assumptions: tuple[str, ...] = ()
    mistakes: Mapping[str, str] = field(default_factory=dict)  # a wrong answer -> what it gets wrong

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "statement": self.statement, "assumptions": list(self.assumptions),
                "symbols": {name: use.meaning for name, use in self.uses.items()}}


_SIMPLEX = "sum_i y_i = 1 (y is a probability vector, e.g. one-hot)"
PROBLEMS: dict[str, Problem] = {p.id: p for p in (
    Problem("softmax_ce.grad_z", "softmax_ce", "grad_z",
            "L = -sum_i y_i log p_i with p = softmax(z) and sum_i y_i = 1. Give dL/dz_i.",
            {"p": Use("indexed", "p", meaning="p_i = softmax(z)_i"),
             "y": Use("indexed", "y1", meaning="label y_i", domain="simplex"), "z": Use("indexed", "z", meaning="logit z_i")},
            ({"n": 3, "N": 1}, {"n": 4, "N": 1}), index="i", indices={"i": "n", "j": "n", "k": "n"},
            assumptions=(_SIMPLEX,), mistakes={"y_i - p_i": "sign", "p_i": "the label term is missing"}),
    Problem("softmax_ce.grad_z_general", "softmax_ce", "grad_z_general",
            "L = -sum_i y_i log p_i with p = softmax(z); y is not assumed to sum to 1. Give dL/dz_i.",
            {"p": Use("indexed", "p", meaning="p_i = softmax(z)_i"), "y": Use("indexed", "y", meaning="label y_i"),
             "z": Use("indexed", "z", meaning="logit z_i")},
            ({"n": 3, "N": 1}, {"n": 4, "N": 1}), index="i", indices={"i": "n", "j": "n", "k": "n"},
            mistakes={"p_i - y_i": "assumption"}),
    Problem("bp.delta_output_sigmoid", "bp", "delta_output_sigmoid",
            "Sigmoid output units O_k = sigma(net_k), E = 1/2 sum_k (T_k - O_k)^2. Give delta_k = -dE/dnet_k.",
            {"O": Use("indexed", "O_sigmoid_of_net_k", meaning="output O_k"), "T": Use("indexed", "T", meaning="target T_k")},
            ({"I": 1, "H": 1, "O": 2, "H2": 1}, {"I": 1, "H": 1, "O": 3, "H2": 1}), index="k", indices={"k": "O"},
            mistakes={"(T_k - O_k)": "the derivative of the sigmoid, O_k (1 - O_k), is missing"}),
    Problem("bp.delta_output_linear", "bp", "delta_output_linear",
            "Linear output units O_k = net_k, E = 1/2 sum_k (T_k - O_k)^2. Give delta_k = -dE/dnet_k.",
            {"O": Use("indexed", "O_linear_of_net_k", meaning="output O_k"), "T": Use("indexed", "T", meaning="target T_k")},
            ({"I": 1, "H": 1, "O": 2, "H2": 1}, {"I": 1, "H": 1, "O": 3, "H2": 1}), index="k", indices={"k": "O"},
            mistakes={"(T_k - O_k) O_k (1 - O_k)": "that is the sigmoid output's delta; here the output is linear"}),
    Problem("attention.grad_V", "attention", "grad_V",
            "O = A V with A = softmax(Q K^T / sqrt(d_k)) and upstream gradient G = dL/dO. Give dL/dV.",
            {"A": Use("matrix", "A", meaning="attention weights (n x n)"), "G": Use("matrix", "G", meaning="dL/dO (n x d_k)")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    Problem("perceptron.update_w", "perceptron", "update_w",
            "The perceptron criterion J = (y - t)(w . x + b) for output y and target t. Give the updated weight "
            "w_i after one gradient step with rate eta.",
            {"w": Use("indexed", "w", meaning="weight w_i"), "x": Use("indexed", "x", meaning="input x_i"),
             "t": Use("scalar", "t", meaning="target"), "y": Use("scalar", "y", meaning="output"),
             "eta": Use("scalar", "eta", meaning="learning rate")},
            ({"n": 2}, {"n": 3}), index="i", indices={"i": "n"},
            mistakes={"w_i + eta (y - t) x_i": "the step goes up the gradient: it should be w - eta dJ/dw",
                      "w_i + (t - y) x_i": "the learning rate eta is missing"}),
    Problem("perceptron.update_b", "perceptron", "update_b",
            "The perceptron criterion J = (y - t)(w . x + b). Give the updated bias b after one gradient step with rate eta.",
            {"b": Use("scalar", "b", meaning="bias"), "t": Use("scalar", "t", meaning="target"),
             "y": Use("scalar", "y", meaning="output"), "eta": Use("scalar", "eta", meaning="learning rate")},
            ({"n": 2}, {"n": 3}), mistakes={"b + eta (y - t)": "the step goes up the gradient: it should be b - eta dJ/db"}),
    Problem("kl.grad_q", "information", "grad_q",
            "KL(p || q) = sum_i p_i log(p_i / q_i) with p, q > 0. Give dKL/dq_i.",
            {"p": Use("indexed", "p", meaning="p_i > 0"), "q": Use("indexed", "q", meaning="q_i > 0")},
            ({"n": 2}, {"n": 3}), index="i", indices={"i": "n", "j": "n"}),
    Problem("kl.grad_p", "information", "grad_p",
            "KL(p || q) = sum_i p_i log(p_i / q_i) with p, q > 0. Give dKL/dp_i.",
            {"p": Use("indexed", "p", meaning="p_i > 0"), "q": Use("indexed", "q", meaning="q_i > 0")},
            ({"n": 2}, {"n": 3}), index="i", indices={"i": "n", "j": "n"},
            mistakes={"log(p_i/q_i)": "the product rule's second term, +1, is missing"}),
    Problem("kl.grad_z", "information", "grad_z",
            "KL(p || q) with q = softmax(z) and sum_i p_i = 1. Give dKL/dz_i.",
            {"p": Use("indexed", "p1", meaning="target p_i", domain="simplex"),
             "q": Use("indexed", "q_z", meaning="q_i = softmax(z)_i"), "z": Use("indexed", "z", meaning="logit z_i")},
            ({"n": 3}, {"n": 4}), index="i", indices={"i": "n", "j": "n", "k": "n"}, assumptions=("sum_i p_i = 1",)),
    Problem("attention.grad_A", "attention", "grad_A",
            "O = A V with upstream gradient G = dL/dO. Give dL/dA.",
            {"G": Use("matrix", "G", meaning="dL/dO (n x d_k)"), "V": Use("matrix", "V", meaning="values (n x d_k)")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    Problem("attention.grad_S", "attention", "grad_S",
            "A = softmax(S) row by row, O = A V, upstream gradient G. With dA = G V^T, give dL/dS.",
            {"A": Use("matrix", "A_of_S", meaning="softmax(S), row by row (n x n)"),
             "dA": Use("matrix", lambda e: e["G"] * e["V"].T, meaning="dL/dA = G V^T (n x n)")},
            ({"n": 2, "d_k": 1}, {"n": 3, "d_k": 1}),
            mistakes={"A .* dA": "the row-sum term is missing: dS = A ⊙ (dA - rowsum(dA ⊙ A))"}),
    Problem("attention.grad_Q", "attention", "grad_Q",
            "S = Q K^T / sqrt(d_k). Given dS = dL/dS, give dL/dQ.",
            {"dS": Use("matrix", "dS_closed", meaning="dL/dS (n x n)"), "K": Use("matrix", "K", meaning="keys (n x d_k)"),
             "d_k": Use("size", "d_k", meaning="key width")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    Problem("attention.grad_K", "attention", "grad_K",
            "S = Q K^T / sqrt(d_k). Given dS = dL/dS, give dL/dK.",
            {"dS": Use("matrix", "dS_closed", meaning="dL/dS (n x n)"), "Q": Use("matrix", "Q", meaning="queries (n x d_k)"),
             "d_k": Use("size", "d_k", meaning="key width")},
            ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})),
    Problem("information.grad_entropy", "information", "grad_entropy",
            "H(p) = -sum_i p_i log p_i with p_i > 0. Give dH/dp_i.",
            {"p": Use("indexed", "p", meaning="p_i > 0")}, ({"n": 2}, {"n": 3}), index="i", indices={"i": "n", "j": "n"},
            mistakes={"-log(p_i)": "the product rule's second term, -1, is missing"}),
)}


def _value(use: Use, env: Mapping[str, Any]) -> Any:
    return use.env(env) if callable(use.env) else env[use.env]


def problem(problem_id: str) -> Problem:
    if problem_id not in PROBLEMS:
        raise KeyError(f"no problem {problem_id!r}; there are {', '.join(PROBLEMS)}")
    return PROBLEMS[problem_id]


def _vocabulary(p: Problem, sizes: Mapping[str, int], env: Mapping[str, Any]) -> Vocabulary:
    matrices = {name: sp.MatrixSymbol(name, *_value(use, env).shape) for name, use in p.uses.items() if use.kind == "matrix"}
    scalars = {name: sp.Integer(sizes[use.env]) for name, use in p.uses.items() if use.kind == "size"}
    for name, use in p.uses.items():
        if use.kind == "scalar":
            value = _value(use, env)
            scalars[name] = value[0] if getattr(value, "is_Matrix", False) else value
    indexed = {name: use.rank for name, use in p.uses.items() if use.kind == "indexed"}
    return Vocabulary(scalars=scalars, matrices=matrices, indexed=indexed, indices=dict(p.indices))


def _written_out(p: Problem, answer: sp.Basic, sizes: Mapping[str, int], env: Mapping[str, Any]) -> sp.Matrix:
    """The answer at concrete sizes, in the builder's entry symbols: a matrix like the key."""
    bounds = {sp.Symbol(size, integer=True, positive=True): sp.Integer(sizes[size]) for size in set(p.indices.values())}
    if not p.index:
        replaced = answer.xreplace({sp.MatrixSymbol(n, *_value(u, env).shape): sp.ImmutableMatrix(_value(u, env))
                                    for n, u in p.uses.items() if u.kind == "matrix"})
        replaced = replaced.doit()
        return sp.Matrix(replaced) if getattr(replaced, "is_Matrix", False) else sp.Matrix([[replaced]])

    def entry(i: int) -> sp.Expr:
        at = answer.xreplace({sp.Symbol(p.index, integer=True, positive=True): sp.Integer(i), **bounds}).doit()
        values = {}
        for indexed in at.atoms(sp.Indexed):
            use = p.uses[str(indexed.base)]
            position = [int(k) - 1 for k in indexed.indices]
            if any(k < 0 for k in position):
                raise InvalidAnswer(f"{indexed} is outside the vector")
            values[indexed] = _value(use, env)[tuple(position) if use.rank > 1 else position[0]]
        return at.xreplace(values)

    rows = int(sizes[p.indices[p.index]])
    free = sorted({s.name for s in answer.free_symbols if s.name in p.indices} - {p.index})
    if free:  # free_symbols leaves out the indices a sum binds
        raise InvalidAnswer(f"the index {free[0]} is not summed over; the answer may use only {p.index} freely")
    return sp.Matrix(rows, 1, lambda i, _: entry(i + 1))


def read_answer(problem_id: str, text: str) -> sp.Basic:
    """An answer as SymPy in the problem's vocabulary (at its first sizes), for typesetting;
    raises ``InvalidAnswer`` as grading would.

    >>> read_answer("attention.grad_V", r"A^\\top G")
    A.T*G
    """
    p = problem(problem_id)
    t = topic(p.entry)
    sizes = p.sizes[0]
    return parse(text, _vocabulary(p, sizes, EnvCache(t.build)(t.check_sizes(dict(sizes)))))


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


def _points(symbols: list[sp.Symbol], rng: random.Random, count: int,
            simplex: Mapping[sp.Symbol, int] | None = None) -> list[dict[sp.Symbol, float]]:
    """Random points respecting the assumptions: positive symbols > 0; the free entries of a
    probability vector of length n in (0, 1/n), so that the last, 1 - the others, is > 0 too."""
    simplex = simplex or {}

    def value(s: sp.Symbol) -> float:
        if s in simplex:
            return rng.uniform(0.01, 1.0 / simplex[s])
        return rng.uniform(0.1, 2.0) if s.is_positive else rng.uniform(-2.0, 2.0)

    return [{s: value(s) for s in symbols} for _ in range(count)]


def _evaluator(m: sp.Matrix, symbols: list[sp.Symbol]) -> Callable[[Mapping[sp.Symbol, float]], list[complex]]:
    """A fast numeric function of the matrix's entries (lambdify with common subexpressions; every
    symbol comes from derive's builders or the problem's vocabulary, never from the student's text,
    and dummify renames them all anyway)."""
    import numpy as np

    from derive.atoms import (
        to_sympy_functions,  # derive's opaque Exp, Sqrt... as SymPy's own
    )

    function = sp.lambdify(symbols, list(to_sympy_functions(m)), modules="numpy", cse=True, dummify=True)

    def evaluate(point: Mapping[sp.Symbol, float]) -> list[complex]:
        with np.errstate(all="ignore"):
            values = function(*[np.complex128(point[s]) for s in symbols])
        return [complex(v) for v in values]

    return evaluate


def _close(a: list[complex], b: list[complex]) -> bool:
    import math

    if not all(math.isfinite(abs(x)) for x in a):  # undefined where the gradient is defined
        return False
    scale = max([1.0] + [abs(x) for x in b])
    return all(abs(x - y) <= 1e-9 * scale for x, y in zip(a, b))


def grade(problem_id: str, text: str, points: int = 6, seed: int = 0) -> Grade:
    """Grade one answer: ``correct``, ``incorrect`` (with a counterexample and a diagnosis where one
    fits) or ``invalid`` (with the reason the answer could not be read).

    >>> grade("softmax_ce.grad_z", "p_i - y_i").verdict
    'correct'
    >>> g = grade("softmax_ce.grad_z", "y_i - p_i")
    >>> g.verdict, g.score, "sign" in g.feedback
    ('incorrect', 0.5, True)
    """
    p = problem(problem_id)
    t = topic(p.entry)
    claim = next(c for c in t.claims if c.key == p.claim)
    envs = EnvCache(t.build)
    rng = random.Random(seed)
    for sizes in p.sizes:
        env = envs(t.check_sizes(dict(sizes)))
        try:
            answer = parse(text, _vocabulary(p, sizes, env))
            student = _written_out(p, answer, sizes, env)
        except InvalidAnswer as error:
            return Grade(problem_id, "invalid", 0.0, str(error), method="parse")
        key = sp.Matrix(claim.claimed(env))
        sampler = _Sampler(rng, points, {s: len(_value(u, env)) for u in p.uses.values() if u.domain == "simplex"
                                         for s in sp.Matrix(_value(u, env)).free_symbols})
        if student.shape != key.shape:
            if student.T.shape == key.shape and _agrees(student.T, key, sampler):
                return Grade(problem_id, "incorrect", CREDIT["transpose"], "transposed: the answer is the key's transpose",
                             method="numeric")
            return Grade(problem_id, "incorrect", 0.0, f"the answer has shape {student.shape}; the gradient has shape "
                         f"{key.shape} at {dict(sizes)}", method="shape")
        counter = _counterexample(student, key, sampler)
        if counter is not None:
            return _diagnose(p, student, key, counter, sizes, env, sampler)
    return Grade(problem_id, "correct", 1.0, "correct: agrees with the derived gradient at "
                 f"{points} random points at each of {len(p.sizes)} sizes", method="numeric")


@dataclass
class _Sampler:
    """Where and how many random points to compare at."""

    rng: random.Random
    points: int
    simplex: dict[sp.Symbol, int] = field(default_factory=dict)


def _agrees(a: sp.Matrix, b: sp.Matrix, sampler: _Sampler) -> bool:
    return _counterexample(a, b, sampler) is None


def _counterexample(student: sp.Matrix, key: sp.Matrix, sampler: _Sampler) -> dict[str, Any] | None:
    symbols = sorted(student.free_symbols | key.free_symbols, key=str)
    student_at, key_at = _evaluator(student, symbols), _evaluator(key, symbols)
    for point in _points(symbols, sampler.rng, sampler.points, sampler.simplex):
        got, want = student_at(point), key_at(point)
        if not _close(got, want):
            worst = max(range(len(want)), key=lambda i: abs(got[i] - want[i]))
            return {"inputs": {str(k): round(v, 6) for k, v in point.items()}, "entry": worst,
                    "expected": round(want[worst].real, 10), "yours": round(got[worst].real, 10),
                    "_got": got, "_want": want}
    return None


def _diagnose(p: Problem, student: sp.Matrix, key: sp.Matrix, counter: dict[str, Any], sizes: Mapping[str, int],
              env: Mapping[str, Any], sampler: _Sampler) -> Grade:
    got, want = counter.pop("_got"), counter.pop("_want")
    shown = {k: v for k, v in counter.items()}
    if _close([-x for x in got], want):
        return Grade(p.id, "incorrect", CREDIT["sign"], "sign error: the answer is minus the gradient", shown, "numeric")
    ratios = {round((g / w).real, 9) for g, w in zip(got, want) if abs(w) > 1e-12}
    if len(ratios) == 1 and _agrees(student, key * sp.nsimplify(next(iter(ratios))), sampler):
        factor = next(iter(ratios))
        return Grade(p.id, "incorrect", CREDIT["factor"], f"a constant factor is off: the answer is {factor:g} times "
                     "the gradient", shown, "numeric")
    for wrong, what in p.mistakes.items():
        try:
            mistake = _written_out(p, parse(wrong, _vocabulary(p, sizes, env)), sizes, env)
        except InvalidAnswer:
            continue
        if mistake.shape == student.shape and _agrees(student, mistake, sampler):
            kind = "sign" if what == "sign" else "assumption" if what == "assumption" else "mistake"
            words = {"sign": "sign error: the answer is minus the gradient",
                     "assumption": "uses an assumption the problem does not grant (sum_i y_i = 1)"}.get(what, what)
            return Grade(p.id, "incorrect", CREDIT[kind], words, shown, "numeric")
    return Grade(p.id, "incorrect", 0.0, f"differs from the gradient: at the inputs shown, entry {shown['entry']} "
                 f"should be {shown['expected']:g}, the answer gives {shown['yours']:g}", shown, "numeric")
