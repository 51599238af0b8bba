"""Grading against keys from derive/: three right spellings per problem pass, the classic mistakes
are diagnosed, and what cannot be read is invalid with a reason."""

from __future__ import annotations

import json

import pytest

from gradproof.cli import main
from verify.homework.problems import CREDIT, PROBLEMS, grade

RIGHT = {
    "softmax_ce.grad_z": ["p_i - y_i", r"p_{i}-y_{i}", r"\frac{e^{z_i}}{\sum_{k=1}^{n} e^{z_k}} - y_i",
                          "exp(z_i)/sum_k exp(z_k) - y_i"],
    "softmax_ce.grad_z_general": ["p_i sum_k y_k - y_i", r"p_i \sum_k y_k - y_i", "sum_j(y_j) p_i - y_i"],
    "bp.delta_output_sigmoid": ["(T_k - O_k) O_k (1 - O_k)", r"\left(T_k-O_k\right)\cdot O_k\cdot\left(1-O_k\right)",
                                "O_k(1-O_k)(T_k-O_k)"],
    "bp.delta_output_linear": ["T_k - O_k", "-(O_k - T_k)", r"T_{k}-O_{k}"],
    "attention.grad_V": ["A^T G", r"A^\top G", "transpose(A) @ G", "Aᵀ·G"],
    "information.grad_entropy": ["-(log(p_i) + 1)", r"-\ln p_i - 1", "-1 - log(p_i)"],
    "perceptron.update_w": ["w_i - eta (y - t) x_i", "w_i + eta (t - y) x_i", r"w_i + \eta\,(t-y)\,x_i"],
    "perceptron.update_b": ["b - eta (y - t)", "b + eta*(t-y)", r"b + \eta (t - y)"],
    "kl.grad_q": ["-p_i/q_i", r"-\frac{p_i}{q_i}", "-p_i q_i^{-1}"],
    "kl.grad_p": ["log(p_i/q_i) + 1", r"\ln p_i - \ln q_i + 1", "1 + log(p_i) - log(q_i)"],
    "kl.grad_z": ["q_i - p_i", "exp(z_i)/sum_k exp(z_k) - p_i", r"\frac{e^{z_i}}{\sum_k e^{z_k}} - p_i"],
    "attention.grad_A": ["G V^T", r"G V^\top", "G @ transpose(V)"],
    "attention.grad_S": [r"A \odot (dA - rowsum(dA \odot A))", "A .* (dA - rowsum(dA .* A))",
                         "hadamard(A, dA) - hadamard(A, rowsum(hadamard(dA, A)))"],
    "attention.grad_Q": ["dS K / sqrt(d_k)", r"\frac{1}{\sqrt{d_k}} dS K", "d_k^{-1/2} dS @ K"],
    "attention.grad_K": ["dS^T Q / sqrt(d_k)", r"\frac{dS^\top Q}{\sqrt{d_k}}", "transpose(dS) Q / sqrt(d_k)"],
}
WRONG = [
    ("softmax_ce.grad_z", "y_i - p_i", "sign error", CREDIT["sign"]),
    ("softmax_ce.grad_z", "2 (p_i - y_i)", "constant factor", CREDIT["factor"]),
    ("softmax_ce.grad_z", "p_i", "label term is missing", CREDIT["mistake"]),
    ("softmax_ce.grad_z_general", "p_i - y_i", "assumption the problem does not grant", CREDIT["assumption"]),
    ("bp.delta_output_sigmoid", "(T_k - O_k)", "derivative of the sigmoid", CREDIT["mistake"]),
    ("bp.delta_output_sigmoid", "(O_k - T_k) O_k (1 - O_k)", "sign error", CREDIT["sign"]),
    ("bp.delta_output_linear", "(T_k - O_k) O_k (1 - O_k)", "sigmoid output's delta", CREDIT["mistake"]),
    ("attention.grad_V", "G^T A", "transpose", CREDIT["transpose"]),
    ("attention.grad_V", "A^T G / 2", "constant factor", CREDIT["factor"]),
    ("attention.grad_V", "A G", "differs from the gradient", 0.0),
    ("attention.grad_V", "G^T", "has shape", 0.0),
    ("information.grad_entropy", "-log(p_i)", "second term", CREDIT["mistake"]),
    ("information.grad_entropy", "p_i log(p_i)", "differs from the gradient", 0.0),
    ("perceptron.update_w", "w_i + eta (y - t) x_i", "goes up the gradient", CREDIT["mistake"]),
    ("perceptron.update_w", "w_i + (t - y) x_i", "learning rate eta is missing", CREDIT["mistake"]),
    ("perceptron.update_b", "b + eta (y - t)", "goes up the gradient", CREDIT["mistake"]),
    ("kl.grad_q", "p_i/q_i", "sign error", CREDIT["sign"]),
    ("kl.grad_p", "log(p_i/q_i)", "second term", CREDIT["mistake"]),
    ("kl.grad_z", "p_i - q_i", "sign error", CREDIT["sign"]),
    ("attention.grad_A", "V G^T", "differs from the gradient", 0.0),
    ("attention.grad_S", "A .* dA", "row-sum term is missing", CREDIT["mistake"]),
    ("attention.grad_Q", "dS K", "constant factor", CREDIT["factor"]),
    ("attention.grad_Q", "dS^T K / sqrt(d_k)", "differs from the gradient", 0.0),
    ("attention.grad_K", "dS Q / sqrt(d_k)", "differs from the gradient", 0.0),
]


def test_every_problem_has_right_answers_here() -> None:
    assert set(RIGHT) == set(PROBLEMS)


@pytest.mark.parametrize(("problem", "answer"), [(p, a) for p, answers in RIGHT.items() for a in answers])
def test_right_answers_in_any_spelling(problem: str, answer: str) -> None:
    g = grade(problem, answer)
    assert (g.verdict, g.score) == ("correct", 1.0), g.feedback


@pytest.mark.parametrize(("problem", "answer", "words", "score"), WRONG)
def test_classic_mistakes_are_diagnosed(problem: str, answer: str, words: str, score: float) -> None:
    g = grade(problem, answer)
    assert g.verdict == "incorrect" and words in g.feedback and g.score == score, g.feedback
    if g.method == "numeric" and score < 0.5 and "transpose" not in g.feedback:
        assert g.counterexample and {"inputs", "expected", "yours"} <= set(g.counterexample)


def test_a_counterexample_respects_the_assumptions() -> None:
    g = grade("softmax_ce.grad_z", "y_i - p_i")
    ys = [v for k, v in g.counterexample["inputs"].items() if k.startswith("y_")]
    assert all(0 < y < 1 / 3 for y in ys) and sum(ys) < 1  # y_3 = 1 - y_1 - y_2 > 0 as well


@pytest.mark.parametrize(("answer", "words"), [
    ("p_i - y_j", "not summed over"), ("q_i", "unknown symbol"), ("__import__('os')", "cannot read"),
    ("9^9^9", "too large"), ("p_i / 0", "undefined"),
])
def test_unreadable_answers_are_invalid(answer: str, words: str) -> None:
    g = grade("softmax_ce.grad_z", answer)
    assert g.verdict == "invalid" and g.score == 0.0 and words in g.feedback


def test_cli_check_and_problems(capsys) -> None:
    assert main(["check", "softmax_ce.grad_z", "p_i - y_i", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"problem", "verdict", "score", "feedback", "counterexample", "method"} and doc["verdict"] == "correct"
    assert main(["check", "softmax_ce.grad_z", "y_i - p_i"]) == 0  # exit 0 whatever the verdict
    out = capsys.readouterr().out
    assert out.startswith("incorrect (0.5): sign error") and "counterexample: at" in out
    assert main(["problems", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in listed] == list(PROBLEMS) and all({"id", "statement", "symbols", "assumptions"} == set(p)
                                                                for p in listed)
    assert main(["check", "nope", "x"]) == 2
