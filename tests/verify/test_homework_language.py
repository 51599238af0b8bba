"""The answer language: equivalent spellings read alike, hostile input is refused quickly and runs nothing."""

from __future__ import annotations

import builtins
import time
from pathlib import Path

import pytest
import sympy as sp

from verify.homework.language import LIMITS, InvalidAnswer, Vocabulary, _parser, parse

BP = Vocabulary(indexed={"O": 1, "T": 1, "H": 1, "w": 2, "delta": 1, "I": 1},
                indices={"k": "n_O", "j": "n_H", "i": "n_I"},
                scalars={"alpha": sp.Symbol("alpha", positive=True), "eta": sp.Symbol("eta", positive=True)})
CE = Vocabulary(indexed={"p": 1, "y": 1, "z": 1}, indices={"i": "n", "j": "n"})
A, G, V, dA = sp.MatrixSymbol("A", 4, 4), sp.MatrixSymbol("G", 4, 3), sp.MatrixSymbol("V", 4, 3), sp.MatrixSymbol("dA", 4, 4)
d_k = sp.Symbol("d_k", positive=True)
ATT = Vocabulary(matrices={"A": A, "G": G, "V": V, "dA": dA}, scalars={"d_k": d_k})


def _same(a: sp.Basic, b: sp.Basic) -> bool:
    if getattr(a, "is_Matrix", False):
        return a.shape == b.shape and sp.simplify((a - b).as_explicit()) == sp.zeros(*a.shape)
    return sp.simplify(sp.expand((a - b).doit())) == 0


@pytest.mark.parametrize(("words", "forms"), [
    (BP, ["(T_k - O_k) O_k (1 - O_k)", r"\left(T_{k}-O_{k}\right) O_{k}\left(1-O_{k}\right)",
          "(T_k − O_k)·O_k·(1 − O_k)", "O_k*(1-O_k)*(T_k-O_k)", r"(T_k - O_k)\cdot O_k \cdot (1 - O_k)"]),
    (BP, ["H_j (1 - H_j) sum_k delta_k w_kj", r"H_j(1-H_j)\sum_{k=1}^{K}\delta_k w_{kj}",
          "H_j*(1-H_j)*sum_k(delta_k*w_{k,j})", "sum_k(w_kj delta_k) H_j (1 - H_j)", "H_j (1 - H_j) sum_{k}(δ_k w_kj)"]),
    (BP, ["w_kj + alpha delta_k H_j", r"w_{kj} + \alpha \delta_k H_j", "w_kj + α*δ_k*H_j"]),
    (CE, ["p_i - y_i", r"p_{i} - y_{i}", "-(y_i - p_i)", "p_i-y_i"]),
    (CE, ["e^{z_i}", r"\exp(z_i)", "exp(z_i)"]),
    (CE, ["1/(1 + exp(-z_i))", "sigmoid(z_i)", r"\sigma(z_i)", r"\frac{1}{1+e^{-z_i}}"]),
    (ATT, ["A^T G", r"A^\top G", r"A^{\top} G", "A.T @ G", "transpose(A) G", r"A^{T}\cdot G", "Aᵀ G", "A' G",
           r"A^{\mathsf T} G", r"A^\intercal G"]),
    (CE, ["p_i - y_i", "(p_i - y_i)/2e-1*0.2", "p_i - y_i + 0*1e-3", "1e0 p_i - 1e-0 y_i", "p_i - y_i + |z_i| - abs(z_i)"]),
    (ATT, ["G V^T", r"G V^{\top}", "G @ transpose(V)"]),
    (ATT, [r"A \odot (dA - rowsum(dA \odot A))", "A .* (dA - rowsum(dA .* A))", "hadamard(A, dA - rowsum(hadamard(dA, A)))",
           "A ∘ (dA − rowsum(dA ∘ A))"]),
    (ATT, [r"\frac{1}{\sqrt{d_k}} A G", "A G / sqrt(d_k)", "1/sqrt(d_k) * A @ G", "d_k^{-1/2} A G"]),
])
def test_equivalent_spellings_read_alike(words: Vocabulary, forms: list[str]) -> None:
    first = parse(forms[0], words)
    for form in forms[1:]:
        assert _same(parse(form, words), first), form


@pytest.mark.parametrize(("text", "words", "reason"), [
    ("A G^T", ATT, "the inner sizes"),
    ("p_k - y_i", CE, "index k is not summed over"),
    ("w_k - 1", BP, "w takes 2 indexes"),
    ("q_i", CE, "unknown symbol 'q_i'"),
    ("A^2", ATT, "powers of matrices"),
    ("A / G", ATT, "cannot divide"),
    ("p_i^T", CE, "only a matrix or vector has a transpose"),
    (r"\frac{\partial L}{\partial z_i}", CE, "cannot read 'partial'"),
    ("", CE, "empty"),
    ("p_i +", CE, "cannot read the answer"),
])
def test_mistakes_in_writing_get_a_reason(text: str, words: Vocabulary, reason: str) -> None:
    with pytest.raises(InvalidAnswer, match=reason):
        parse(text, words)


SENTINEL = Path("/tmp/gradproof-homework-pwned")
HOSTILE = [
    "__import__('os').system('touch /tmp/gradproof-homework-pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "p_i.__class__",
    "eval('1')", "exec('import os')", "lambda: 1", "import os", "os.system('ls')", "globals()", "locals()",
    "open('/etc/passwd').read()", "getattr(p_i, 'func')", "p_i; import os", "p_i # comment", "`ls`", "$(ls)",
    "p_i\x00", "\\input{/etc/passwd}", "\\include{x}", "\\def\\x{1}", "\\write18{ls}", "\\catcode",
    "9^9^9^9", "2^2^2^2^2", "10^{100}", "p_i^{1000000}", "9" * 50, "1" * 13 + ".5",
    "(" * 5000 + "p_i" + ")" * 5000, "{" * 100 + "p_i" + "}" * 100, "p_i + " * 1000 + "p_i",
    "p_i" + " " * 1_000_000, "x" * 1_000_000,
    "р_i - y_i",  # Cyrillic р
    "p_i − у_i",  # Cyrillic у
    "p\u200b_i", "p_i\u202e - y_i", "ｐ_i", "p_i ＋ y_i",
    "0/0", "1/0", "log(0)", "p_i/0",
    "sum_k sum_k sum_k", "max(p_i)", "sqrt(p_i, y_i)", "relu()", "softmax(p_i)",
    "1e999999999999", "1e-999999999", "9e99999 ^ 9e99999", "|" * 1000 + "p_i" + "|" * 1000, "|-" * 600 + "p_i" + "|" * 600,
    "p_i'" * 400, "|p_i| y_i |p_i|", "2e-p_i",
]


def test_at_least_forty_hostile_inputs() -> None:
    assert len(HOSTILE) >= 40


@pytest.mark.parametrize("text", HOSTILE, ids=[repr(t[:30]) for t in HOSTILE])
def test_hostile_input_is_invalid_quickly_and_runs_nothing(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _parser()  # built before the traps are set
    def trap(*args, **kwargs):
        raise AssertionError("the answer reached eval/sympify")
    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(sp, "sympify", trap)
    monkeypatch.setattr("sympy.parsing.sympy_parser.parse_expr", trap)
    start = time.perf_counter()
    with pytest.raises(InvalidAnswer) as caught:
        parse(text, CE)
    assert time.perf_counter() - start < 2.0
    assert len(str(caught.value)) < 200 and "\n" not in str(caught.value)
    assert not SENTINEL.exists()


def test_long_but_legal_answers_do_not_hit_recursion() -> None:
    chain = " + ".join(["p_i"] * 250)
    assert parse(chain, CE) == 250 * sp.IndexedBase("p", real=True)[sp.Symbol("i", integer=True, positive=True)]
    assert parse("(" * LIMITS.depth + "p_i" + ")" * LIMITS.depth, CE) is not None


def test_an_unknown_symbol_is_answered_with_the_problems_own_index_letters() -> None:
    from verify.homework.problems import grade

    feedback = grade("bp:delta_output_linear", "X_k").feedback
    assert "T_k" in feedback and "O_k" in feedback and "_i" not in feedback


@pytest.mark.parametrize(("answer", "verdict"), [
    ("p_i - y_i + min(0, z_i) - min(z_i, 0)", "correct"), (r"p_i - y_i + \min(0, z_i - 100) + max(0, 100 - z_i)", "correct"),
    ("p_i - y_i + min(0, z_i)", "incorrect")])
def test_min_is_read_like_max(answer: str, verdict: str) -> None:
    from verify.homework.problems import grade

    assert grade("softmax_ce:grad_z", answer).verdict == verdict
