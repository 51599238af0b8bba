"""Feedback that teaches, in the problem's own words (issue 15): counterexamples in the problem's
symbols with entries counted from 1, factors named as sizes, the delta sign convention, shapes as
one sentence, * read the other way, and the key never shown unless the instructor asks."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from verify.homework.feedback import inputs_text
from verify.homework.problem_file import load_problems
from verify.homework.problems import CREDIT, PROBLEMS, Problem, grade

pytestmark = pytest.mark.usefixtures("built_in_only")  # tests/verify/conftest.py


def entry_of(text: str) -> tuple[int, ...]:
    """``(2, 1)``, ``i = 2`` or ``k = 2, j = 1`` as 1-based numbers."""
    return tuple(int(n) for n in re.findall(r"\d+", text))


def test_a_matrix_counterexample_is_in_the_problems_symbols_and_recomputes() -> None:
    """dL/dQ's problem gives dS, K and d_k: the counterexample shows those (never Q, G, V, nor
    builder names), as matrices, and the expected value is (dS K / sqrt(d_k)) at the entry shown,
    counted from 1; the answer's value is (dS^T K / sqrt(d_k)) there."""
    g = grade("attention:grad_Q", "dS^T K / sqrt(d_k)")
    c = g.counterexample
    assert g.verdict == "incorrect" and set(c) == {"inputs", "entry", "expected", "yours"}
    assert list(c["inputs"]) == ["dS", "K", "d_k"]
    dS, K, d_k = np.array(c["inputs"]["dS"]), np.array(c["inputs"]["K"]), c["inputs"]["d_k"]
    assert dS.shape == (K.shape[0], K.shape[0]) and K.shape[1] == d_k
    row, col = entry_of(c["entry"])
    assert re.fullmatch(r"\(\d+, \d+\)", c["entry"]) and 1 <= row <= K.shape[0] and 1 <= col <= d_k
    assert math.isclose((dS @ K / math.sqrt(d_k))[row - 1, col - 1], c["expected"], abs_tol=1e-4)
    assert math.isclose((dS.T @ K / math.sqrt(d_k))[row - 1, col - 1], c["yours"], abs_tol=1e-4)
    assert f"entry {c['entry']}" in g.feedback
    json.dumps(c)  # stored as JSON


def test_an_entrywise_counterexample_names_the_index_and_recomputes() -> None:
    g = grade("bp:delta_output_sigmoid", "(T_k - O_k) O_k (1 + O_k)")
    c = g.counterexample
    assert list(c["inputs"]) == ["O", "T"] and re.fullmatch(r"k = \d+", c["entry"])
    (k,) = entry_of(c["entry"])
    O, T = c["inputs"]["O"][k - 1], c["inputs"]["T"][k - 1]
    assert 0 < O < 1 and math.isclose((T - O) * O * (1 - O), c["expected"], abs_tol=1e-4)
    assert math.isclose((T - O) * O * (1 + O), c["yours"], abs_tol=1e-4)
    assert f"the entry at k = {k}" in g.feedback


def test_a_two_index_counterexample_uses_both_letters() -> None:
    g = grade("bp:update_w_output", "w_kj + alpha delta_k H_j + alpha")
    c = g.counterexample
    assert re.fullmatch(r"k = \d+, j = \d+", c["entry"]) and set(c["inputs"]) == {"w", "delta", "H", "alpha"}
    k, j = entry_of(c["entry"])
    w, delta, H, alpha = (c["inputs"][n] for n in ("w", "delta", "H", "alpha"))
    assert math.isclose(w[k - 1][j - 1] + alpha * delta[k - 1] * H[j - 1], c["expected"], abs_tol=1e-4)


@pytest.mark.parametrize(("problem", "answer"), [
    ("bp:delta_output_sigmoid", "(T_k - O_k) O_k"), ("bp:delta_hidden", "H_j sum_k delta_k w_kj"),
    ("ffn:grad_W1", r"X^T (G W_2^T \odot S) + X^T S/1000"), ("conv:grad_W", "sum_i sum_j G_ij X_{i+u-1,j+v-1} + 1"),
    ("softmax_ce:grad_z", "p_i - y_i + max(0, z_i - 100)"), ("perceptron:update_b", "b"),
])
def test_a_counterexample_never_shows_internal_names(problem: str, answer: str) -> None:
    c = grade(problem, answer).counterexample
    p = PROBLEMS[problem]
    assert c and set(c["inputs"]) <= set(p.symbols()), c["inputs"]
    assert not re.search(r"netk|netj|wo_|wh_|G1_|X1_|W2_|\bs_\d", json.dumps(c)), c
    if problem == "perceptron:update_b":
        assert c["entry"] == "" and isinstance(c["inputs"]["b"], float)  # one number, not [[b]]


def test_a_forward_quantity_the_answer_wrote_is_shown() -> None:
    c = grade("bp:delta_hidden", "H_j (1 - H_j) sum_k (T_k - O_k) O_k w_kj").counterexample
    assert {"H", "w", "delta", "O", "T"} <= set(c["inputs"]) and "net" not in c["inputs"]
    assert inputs_text({"O": c["inputs"]["O"]}).startswith("O = [")
    c = grade("softmax_ce:grad_z", r"\hat{y}_i + y_i").counterexample  # read as yhat, shown under that name
    assert c["inputs"]["yhat"] == c["inputs"]["p"] and math.isclose(sum(c["inputs"]["yhat"]), 1, abs_tol=1e-5)


@pytest.mark.parametrize(("problem", "answer", "words", "score"), [
    ("attention:grad_Q", "dS K", "missing a factor 1/sqrt(d_k): the answer is sqrt(d_k) times the gradient", CREDIT["factor"]),
    ("attention:grad_K", "dS^T Q / d_k", "an extra factor 1/sqrt(d_k)", CREDIT["factor"]),
    ("softmax_ce:grad_z", "2 (p_i - y_i)", "off by a constant factor 2: the answer is 2 times the gradient", CREDIT["factor"]),
    ("layernorm:grad_X", "d gamma_i g_i / sigma - sum_j gamma_j g_j / sigma - xhat_i sum_j gamma_j g_j xhat_j / sigma",
     "missing a factor 1/d", CREDIT["factor"]),
])
def test_a_constant_factor_is_named_in_the_problems_terms(problem: str, answer: str, words: str, score: float) -> None:
    g = grade(problem, answer)
    assert g.verdict == "incorrect" and words in g.feedback and g.score == score, g.feedback
    assert "1.73" not in g.feedback and "0.57" not in g.feedback


@pytest.mark.parametrize(("problem", "answer", "words"), [
    ("bp:delta_output_sigmoid", "(O_k - T_k) O_k (1 - O_k)", "you gave dE/dnet_k; delta_k = -dE/dnet_k"),
    ("bp:delta_output_linear", "O_k - T_k", "you gave dE/dnet_k; delta_k = -dE/dnet_k"),
    ("bp:delta_hidden", "-H_j (1 - H_j) sum_k delta_k w_kj", "you gave dE/dnet_j; delta_j = -dE/dnet_j"),
    ("softmax_ce:grad_z", "y_i - p_i", "sign error: the answer is minus the gradient"),
])
def test_a_sign_slip_on_a_delta_names_the_convention(problem: str, answer: str, words: str) -> None:
    g = grade(problem, answer)
    assert (g.verdict, g.score) == ("incorrect", CREDIT["sign"]) and words in g.feedback, g.feedback


def test_a_shape_error_is_one_sentence() -> None:
    g = grade("attention:grad_V", "G^T")
    assert g.feedback == "the answer is 3 x 2, but dL/dV is 2 x 3 (n = 2, d_k = 3)"
    g = grade("bp:update_w_output", r"W^T")
    assert g.verdict == "incorrect" and "(" not in g.feedback.split(",")[0] and "{" not in g.feedback
    assert g.feedback == "the answer is 2 x 3, but the gradient over k and j is 3 x 2 (k = 1..3, j = 1..2)", g.feedback


def test_reveal_ends_the_feedback_with_the_key_and_only_then() -> None:
    for answer in ("A G", "A^T G", "@"):
        hidden, shown = grade("attention:grad_V", answer), grade("attention:grad_V", answer, reveal=True)
        assert "A^T G" not in hidden.feedback.replace(answer, "")
        assert shown.feedback == hidden.feedback + "; the gradient: A^T G"


def test_every_problem_has_a_reference_answer_that_grades_correct() -> None:
    for pid, p in PROBLEMS.items():
        if isinstance(p, Problem):
            assert p.answer, pid
            g = grade(pid, p.answer)
            assert (g.verdict, g.method) == ("correct", "symbolic"), (pid, g.feedback)


UNREADABLE = [r"\partial L", "p_i +", "f'(x)", "(((", "q_q", r"\nabla"]


def test_feedback_never_tells_the_key() -> None:
    """For every problem and a batch of wrong and unreadable answers, the feedback holds neither
    the reference answer nor any example ("e.g. ...") that would grade correct."""
    examples: dict[str, set[str]] = {}
    for pid, p in PROBLEMS.items():
        if not isinstance(p, Problem):
            continue
        for answer in [*UNREADABLE, "0", "1"]:
            g = grade(pid, answer)
            assert g.verdict != "correct"
            assert re.sub(r"\s", "", p.answer) not in re.sub(r"\s", "", g.feedback), (pid, answer, g.feedback)
            examples.setdefault(pid, set()).update(m.strip() for m in re.findall(r"e\.g\.,? ([^;]+?)(?:;|$)", g.feedback))
    for pid, found in examples.items():
        for example in found:
            assert grade(pid, example).verdict != "correct", (pid, example)


def test_star_between_matrices_read_the_other_way_is_named() -> None:
    """The rule is the matrix product; an answer right only with * as the elementwise product is
    told exactly that (and a problem file may take NumPy's rule)."""
    g = grade("attention:grad_S", "A * (dA - rowsum(dA * A))")
    assert g.verdict == "incorrect" and g.feedback.startswith("right if * meant the elementwise product; here * is "
                                                              "the matrix product"), g.feedback
    assert grade("attention:grad_V", "A^T * G").verdict == "correct"  # * as the product, as in mathematics
    assert PROBLEMS["attention:grad_S"].public()["star"] == "product"


NUMPY = """[[problem]]
id = "t.s"
entry = "attention"
claim = "grad_S"
statement = "A = softmax(S) row by row, dA = dL/dA. Give dL/dS (* is elementwise, @ the matrix product)."
sizes = [{ n = 2, d_k = 1 }, { n = 3, d_k = 1 }]
star = "elementwise"
sign = "the gradient flows the other way"
answer = "A * (dA - rowsum(dA * A))"
[problem.symbols]
A = { kind = "matrix", value = "A_of_S" }
V = { kind = "matrix", value = "V" }
G = { kind = "matrix", value = "G" }

[[problem]]
id = "t.v"
entry = "attention"
claim = "grad_V"
statement = "O = A @ V, G = dL/dO. Give dL/dV (* is elementwise, @ the matrix product)."
sizes = [{ n = 2, d_k = 3 }, { n = 3, d_k = 2 }]
star = "elementwise"
answer = "A^T @ G"
[problem.symbols]
A = { kind = "matrix", value = "A" }
G = { kind = "matrix", value = "G" }
"""


def test_a_problem_file_may_take_numpys_star(tmp_path: Path) -> None:
    (tmp_path / "set.toml").write_text(NUMPY)
    load_problems(tmp_path / "set.toml")
    assert PROBLEMS["t.s"].public()["star"] == "elementwise" and "NumPy" in PROBLEMS["t.s"].public()["star_rule"]
    assert grade("t.s", "A * (G @ V^T - rowsum((G @ V^T) * A))").verdict == "correct"
    g = grade("t.s", "-A * (dA - rowsum(dA * A))")
    assert "sign error: the gradient flows the other way" in g.feedback
    g = grade("t.v", "A^T * G")
    assert g.verdict == "incorrect" and g.feedback.startswith("right if * meant the matrix product"), g.feedback
    assert grade("t.v", "A^T @ G").verdict == "correct"
