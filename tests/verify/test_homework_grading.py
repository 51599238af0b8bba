"""Grading against keys from derive/: three right spellings per problem pass, the classic mistakes
are diagnosed, and what cannot be read is invalid with a reason."""

from __future__ import annotations

import json

import pytest

from gradproof.cli import main
from verify.homework.problems import CREDIT, PROBLEMS, Problem, grade

RIGHT = {
    "softmax_ce:grad_z": ["p_i - y_i", r"p_{i}-y_{i}", r"\frac{e^{z_i}}{\sum_{k=1}^{n} e^{z_k}} - y_i",
                          "exp(z_i)/sum_k exp(z_k) - y_i"],
    "softmax_ce:grad_z_general": ["p_i sum_k y_k - y_i", r"p_i \sum_k y_k - y_i", "sum_j(y_j) p_i - y_i"],
    "bp:delta_output_sigmoid": ["(T_k - O_k) O_k (1 - O_k)", r"\left(T_k-O_k\right)\cdot O_k\cdot\left(1-O_k\right)",
                                "O_k(1-O_k)(T_k-O_k)"],
    "bp:delta_output_linear": ["T_k - O_k", "-(O_k - T_k)", r"T_{k}-O_{k}"],
    "attention:grad_V": ["A^T G", r"A^\top G", "transpose(A) @ G", "Aᵀ·G"],
    "information:grad_entropy": ["-(log(p_i) + 1)", r"-\ln p_i - 1", "-1 - log(p_i)"],
    "perceptron:update_w": ["w_i - eta (y - t) x_i", "w_i + eta (t - y) x_i", r"w_i + \eta\,(t-y)\,x_i"],
    "perceptron:update_b": ["b - eta (y - t)", "b + eta*(t-y)", r"b + \eta (t - y)"],
    "information:grad_q": ["-p_i/q_i", r"-\frac{p_i}{q_i}", "-p_i q_i^{-1}"],
    "information:grad_p": ["log(p_i/q_i) + 1", r"\ln p_i - \ln q_i + 1", "1 + log(p_i) - log(q_i)"],
    "information:grad_z": ["q_i - p_i", "exp(z_i)/sum_k exp(z_k) - p_i", r"\frac{e^{z_i}}{\sum_k e^{z_k}} - p_i"],
    "attention:grad_A": ["G V^T", r"G V^\top", "G @ transpose(V)"],
    "attention:grad_S": [r"A \odot (dA - rowsum(dA \odot A))", "A .* (dA - rowsum(dA .* A))",
                         "hadamard(A, dA) - hadamard(A, rowsum(hadamard(dA, A)))"],
    "attention:grad_Q": ["dS K / sqrt(d_k)", r"\frac{1}{\sqrt{d_k}} dS K", "d_k^{-1/2} dS @ K", r"\frac{dS K}{\sqrt{d_{k}}}"],
    "attention:grad_K": ["dS^T Q / sqrt(d_k)", r"\frac{dS^\top Q}{\sqrt{d_k}}", "transpose(dS) Q / sqrt(d_k)"],
    "bp:delta_hidden": ["H_j (1 - H_j) sum_k delta_k w_kj", r"H_j(1-H_j)\sum_{k=1}^{K} w_{kj} \delta_k",
                        "sum_k w_kj delta_k H_j (1 - H_j)"],
    "bp:update_w_output": ["w_kj + alpha delta_k H_j", r"w_{kj} + \alpha \delta_k H_j", "w_kj + alpha * H_j * delta_k"],
    "bp:update_w_hidden": ["w_ji + alpha delta_j I_i", r"w_{ji} + \alpha\,\delta_j I_i", "alpha I_i delta_j + w_ji"],
    "layernorm:grad_X": [
        "(gamma_i g_i - (1/d) sum_j gamma_j g_j - xhat_i (1/d) sum_j gamma_j g_j xhat_j) / sigma",
        r"\frac{1}{\sigma}\left(\gamma_i g_i - \frac{1}{d}\sum_j \gamma_j g_j - xhat_i \frac{1}{d} \sum_j \gamma_j g_j xhat_j\right)",
        "(d gamma_i g_i - sum_j gamma_j g_j - xhat_i sum_j gamma_j g_j xhat_j) / (d sigma)"],
    "ffn:grad_W1": ["X^T ((G W_2^T) .* S)", r"X^\top \left( G W_2^\top \odot S \right)", "transpose(X) @ hadamard(S, G @ W_2.T)",
                    r"X^\top ((G W_{2}^\top) \odot S)"],
    "pooling:grad_max": ["g ismax(x_i, x_1, x_2, x_3, x_4)", r"g \cdot \operatorname{ismax}(x_i, x_1, x_2, x_3, x_4)",
                         "ismax(x_i, x_4, x_3, x_2, x_1) * g"],
    "conv:grad_W": ["sum_i sum_j G_ij X_{i+u-1,j+v-1}", r"\sum_{i} \sum_{j} G_{ij} X_{i+u-1, j+v-1}",
                    "sum_j sum_i X_{i+u-1,j+v-1} G_{i,j}"],
    # the lecture's theorems asked as questions (issue 19)
    "positional_encoding:norm": ["d_model / 2", r"\frac{d_{model}}{2}", "0.5 d_model", r"\frac{d_{\mathrm{model}}}{2}"],
    "information:entropy_bound": ["log(n)", r"\ln n", "-log(1/n)"],
    "perceptron:novikoff": ["(R/gamma)^2", r"\frac{R^2}{\gamma^2}", "R^2 gamma^-2"],
    "attention:score_variance": ["sqrt(d_k)", r"\sqrt{d_k}", "d_k^(1/2)", r"\sqrt{d_{k}}"],
}
WRONG = [
    ("positional_encoding:norm", "d_model", "2 times the squared norm", CREDIT["factor"]),
    ("positional_encoding:norm", "1", "one (sin, cos) pair", CREDIT["mistake"]),
    ("positional_encoding:norm", "d_model / 4", "1/2 times the squared norm", CREDIT["factor"]),
    # right at d_model = 4 only: a size's power off, said as such
    ("positional_encoding:norm", "d_model^2 / 8", "d_model/4 times the squared norm", CREDIT["factor"]),
    ("positional_encoding:norm", "d_model^2 / 8 + 1 - d_model / 4", "differs from the squared norm", 0.0),
    ("information:entropy_bound", "n", "a logarithm of n", CREDIT["mistake"]),
    ("information:entropy_bound", "log(2)", "coin", CREDIT["mistake"]),
    ("information:entropy_bound", "-log(n)", "minus the bound", CREDIT["sign"]),
    ("information:entropy_bound", "2 log(n)", "2 times the bound", CREDIT["factor"]),
    ("perceptron:novikoff", "R/gamma", "squared", CREDIT["mistake"]),
    ("perceptron:novikoff", "(gamma/R)^2", "upside down", CREDIT["mistake"]),
    ("perceptron:novikoff", "R^2/gamma", "gamma is squared too", CREDIT["mistake"]),
    ("perceptron:novikoff", "R^2/gamma^3", "differs from the bound", 0.0),
    ("attention:score_variance", "d_k", "missing a factor 1/sqrt(d_k): the answer is sqrt(d_k) times the scale",
     CREDIT["factor"]),
    ("attention:score_variance", "1", "differs from the scale", 0.0),  # a bare number is never told the key's factor
    ("attention:score_variance", r"\boxed{1}", "differs from the scale", 0.0),  # nor one in a wrapper or a label
    ("attention:score_variance", "c = exp(0)", "differs from the scale", 0.0),
    ("positional_encoding:norm", "||PE||^2 = 3", "differs from the squared norm", 0.0),
    ("information:entropy_bound", "-0.5", "differs from the bound", 0.0),
    ("attention:score_variance", "2 sqrt(d_k)", "2 times the scale", CREDIT["factor"]),
    ("attention:score_variance", "d_k^2", "differs from the scale", 0.0),
    ("softmax_ce:grad_z", "y_i - p_i", "sign error", CREDIT["sign"]),
    ("softmax_ce:grad_z", "2 (p_i - y_i)", "constant factor", CREDIT["factor"]),
    ("softmax_ce:grad_z", "p_i", "label term is missing", CREDIT["mistake"]),
    ("softmax_ce:grad_z_general", "p_i - y_i", "assumption the problem does not grant", CREDIT["assumption"]),
    ("bp:delta_output_sigmoid", "(T_k - O_k)", "derivative of the sigmoid", CREDIT["mistake"]),
    ("bp:delta_output_sigmoid", "(O_k - T_k) O_k (1 - O_k)", "sign error", CREDIT["sign"]),
    ("bp:delta_output_linear", "(T_k - O_k) O_k (1 - O_k)", "sigmoid output's delta", CREDIT["mistake"]),
    ("attention:grad_V", "G^T A", "transpose", CREDIT["transpose"]),
    ("attention:grad_V", "A^T G / 2", "constant factor", CREDIT["factor"]),
    ("attention:grad_V", "A G", "differs from the gradient", 0.0),
    ("attention:grad_V", "G^T", "the answer is 3 x 2, but dL/dV is 2 x 3 (n = 2, d_k = 3)", 0.0),
    ("information:grad_entropy", "-log(p_i)", "second term", CREDIT["mistake"]),
    ("information:grad_entropy", "p_i log(p_i)", "differs from the gradient", 0.0),
    ("perceptron:update_w", "w_i + eta (y - t) x_i", "goes up the gradient", CREDIT["mistake"]),
    ("perceptron:update_w", "w_i + (t - y) x_i", "learning rate eta is missing", CREDIT["mistake"]),
    ("perceptron:update_b", "b + eta (y - t)", "goes up the gradient", CREDIT["mistake"]),
    ("information:grad_q", "p_i/q_i", "sign error", CREDIT["sign"]),
    ("information:grad_p", "log(p_i/q_i)", "second term", CREDIT["mistake"]),
    ("information:grad_z", "p_i - q_i", "sign error", CREDIT["sign"]),
    ("attention:grad_A", "V G^T", "differs from the gradient", 0.0),
    ("attention:grad_S", "A .* dA", "row-sum term is missing", CREDIT["mistake"]),
    ("attention:grad_Q", "dS K", "sqrt(d_k) times", CREDIT["factor"]),
    ("attention:grad_Q", "dS^T K / sqrt(d_k)", "differs from the gradient", 0.0),
    ("attention:grad_K", "dS Q / sqrt(d_k)", "differs from the gradient", 0.0),
    ("bp:delta_hidden", "H_j (1 - H_j) sum_k delta_k w_jk", "swapped indices", CREDIT["mistake"]),
    ("bp:delta_hidden", "sum_k delta_k w_kj", "derivative H_j (1 - H_j) is missing", CREDIT["mistake"]),
    ("bp:delta_hidden", "H_j (1 + H_j) sum_k delta_k w_kj", "differs from the gradient", 0.0),
    ("bp:update_w_output", "w_kj - alpha delta_k H_j", "the step's sign", CREDIT["mistake"]),
    ("bp:update_w_output", "w_kj + delta_k H_j", "learning rate alpha is missing", CREDIT["mistake"]),
    ("bp:update_w_hidden", "w_ji - alpha delta_j I_i", "the step's sign", CREDIT["mistake"]),
    ("layernorm:grad_X", "gamma_i g_i / sigma", "only the direct path", CREDIT["mistake"]),
    ("layernorm:grad_X", "(gamma_i g_i - (1/d) sum_j gamma_j g_j) / sigma", "path through sigma", CREDIT["mistake"]),
    ("ffn:grad_W1", "X^T (G W_2^T)", "pattern S, is missing", CREDIT["mistake"]),
    ("ffn:grad_W1", "(G W_2^T .* S)^T X", "transpose", CREDIT["transpose"]),
    ("ffn:grad_W1", "-X^T ((G W_2^T) .* S)", "sign error", CREDIT["sign"]),
    ("conv:grad_W", "sum_i sum_j G_ij X_{i+v-1,j+u-1}", "swapped indices", CREDIT["mistake"]),
    ("pooling:grad_max", "g", "only to the window's maximum", CREDIT["mistake"]),
    ("pooling:grad_max", "g / 4", "average pooling's gradient", CREDIT["mistake"]),
    ("pooling:grad_max", "ismax(x_i, x_1, x_2, x_3, x_4)", "upstream gradient g is missing", CREDIT["mistake"]),
    ("pooling:grad_max", "-g ismax(x_i, x_1, x_2, x_3, x_4)", "sign error", CREDIT["sign"]),
    ("pooling:grad_max", "g ismax(x_i, x_1, x_2)", "differs from the gradient", 0.0),
]


def test_max_pooling_is_graded_against_every_argmax_region() -> None:
    """The key is derive's per-region claim as one piecewise column: an answer that routes g to a
    fixed entry is right in one region only, and some random point shows it."""
    assert grade("pooling:grad_max", "g ismax(x_1, x_1, x_2, x_3, x_4)").verdict == "incorrect"
    assert grade("pooling:grad_max", "g ismax(x_i, x_1, x_2, x_3, x_4)", seed=7).verdict == "correct"
    for bad, words in [("g ismax(x_i)", "2 to 16"), ("g max(x_1)", "2 to 16")]:
        g = grade("pooling:grad_max", bad)
        assert g.verdict == "invalid" and words in g.feedback


@pytest.mark.parametrize(("problem", "answer", "words"), [
    ("bp:update_w_output", "w_kj + alpha delta_k H_k", "outside H"),  # k runs past the hidden layer
    ("conv:grad_W", "sum_i sum_j X_ij G_{i+u-1,j+v-1}", "outside G"),
    ("conv:grad_W", "sum_i G_ij X_{i+u-1,j+v-1}", "not summed over"),
    ("conv:grad_W", "X_{i++u,1}", "cannot read the subscript"),
    ("layernorm:grad_X", "gamma_i g_i 2", "number after a factor"),
])
def test_index_mistakes_are_invalid_with_the_reason(problem: str, answer: str, words: str) -> None:
    g = grade(problem, answer)
    assert g.verdict == "invalid" and words in g.feedback, g.feedback


def test_a_problem_symbol_named_like_a_function_is_the_symbol() -> None:
    """layer norm's sigma is the symbol wherever it appears (the problem has no sigmoid)."""
    assert grade("layernorm:grad_X", "gamma_i g_i / sigma").verdict == "incorrect"
    assert "only the direct path" in grade("layernorm:grad_X", "gamma_i g_i / sigma").feedback
    assert grade("layernorm:grad_X", "sigma(g_i)").feedback.startswith("differs")


def test_every_problem_has_right_answers_here() -> None:
    from verify.homework.from_forward import ForwardProblem

    # the built-in formula problems (a forward entry's problems, built on demand, have their own tests)
    assert set(RIGHT) == {pid for pid, p in PROBLEMS.items() if isinstance(p, Problem) and not isinstance(p, ForwardProblem)}


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
    g = grade("softmax_ce:grad_z", "y_i - p_i")
    ys = g.counterexample["inputs"]["y"]  # the problem's y, whole: y_3 = 1 - y_1 - y_2
    assert all(0 < y < 1 / 3 for y in ys[:-1]) and 0 < ys[-1] < 1 and abs(sum(ys) - 1) < 1e-5


@pytest.mark.parametrize(("answer", "words"), [
    ("p_i - y_j", "not summed over"), ("q_i", "unknown symbol"), ("__import__('os')", "cannot read"),
    ("9^9^9", "exponent"), ("p_i / 0", "undefined"),
    ("sum_k z_1 + y_k", "the index k is not summed over"),  # k both bound and free: never renamed to i
])
def test_unreadable_answers_are_invalid(answer: str, words: str) -> None:
    g = grade("softmax_ce:grad_z", answer)
    assert g.verdict == "invalid" and g.score == 0.0 and words in g.feedback


def test_cli_check_and_problems(capsys) -> None:
    assert main(["check", "softmax_ce:grad_z", "p_i - y_i", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"schema", "version", "problem", "verdict", "score", "feedback", "counterexample", "method"}
    assert doc["schema"] == "gradproof/check" and doc["verdict"] == "correct"
    assert main(["check", "softmax_ce:grad_z", "y_i - p_i"]) == 0  # exit 0 whatever the verdict
    out = capsys.readouterr().out
    assert out.startswith("incorrect (0.5): sign error") and "counterexample: at" in out
    assert main(["problems", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["problems"]
    assert [p["id"] for p in listed] == list(PROBLEMS)
    from verify.homework.from_forward import ForwardProblem

    for p in listed:  # a formula problem also lists its forward's quantities and how * reads
        extra = {"context", "star", "star_rule"} if isinstance(PROBLEMS[p["id"]], Problem) else set()
        if isinstance(PROBLEMS[p["id"]], ForwardProblem):  # and a problem written from a forward, the forward
            extra |= {"forward", "shapes", "wrt"}
        assert set(p) == {"id", "statement", "symbols", "assumptions"} | extra, p
    assert main(["check", "nope", "x"]) == 2


def test_proof_first_then_sampling() -> None:
    """Right answers in the fragment derive decides are proved equal, wrong ones proved different
    at a witness point (both ``symbolic``); an answer the exact route cannot split into regions
    (it compares the softmax p_i, not an input, with a number) is only sampled and says so."""
    proved = grade("softmax_ce:grad_z", "p_i - y_i")
    assert proved.method == "symbolic" and "proved exactly" in proved.feedback
    rewritten = grade("layernorm:grad_X", "(d gamma_i g_i - sum_j gamma_j g_j - xhat_i sum_j gamma_j g_j xhat_j) / (d sigma)")
    assert (rewritten.verdict, rewritten.method) == ("correct", "symbolic")
    sampled = grade("softmax_ce:grad_z", "p_i - y_i + max(0, p_i - 2)")  # p_i < 1: the max is always 0
    assert (sampled.verdict, sampled.method) == ("correct", "numeric") and "not proved" in sampled.feedback
    wrong = grade("softmax_ce:grad_z", "y_i - p_i")
    assert (wrong.verdict, wrong.method) == ("incorrect", "symbolic")


@pytest.mark.parametrize(("problem", "answer"), [
    ("softmax_ce:grad_z", "p_i - y_i + ismax(z_i, 3)"),  # wrong only past the default sampling range
    ("softmax_ce:grad_z", "p_i - y_i + max(0, z_i - 2)"),
    ("information:grad_q", "-p_i/q_i + ismax(q_i, 2)"),
    ("pooling:grad_max", "g ismax(x_i, x_1, x_2, x_3, x_4) + ismax(x_i, x_1, x_2, x_3, x_4) ismax(g, 2)"),
    ("softmax_ce:grad_z", "p_i - y_i + 1/100000000000"),  # below the numeric tolerance: the symbolic step shows it
])
def test_wrong_answers_hiding_from_the_sample_are_caught(problem: str, answer: str) -> None:
    assert grade(problem, answer).verdict == "incorrect"


@pytest.mark.parametrize(("problem", "answer", "words"), [
    ("information:grad_q", "ismax(sqrt(-q_1), 0)", "cannot evaluate"),
    ("information:grad_q", "max(sqrt(-q_1), 0)", "cannot evaluate"),
    ("information:grad_q", "((((2^64)^64)^64)^64)", ""),
    ("softmax_ce:grad_z", "sum_i p_i", "sums over i, its free index"),
    ("conv:grad_W", "sum_i sum_j G_ij X_{i+u-1,j+v-1} + sum_u 0", "sums over u"),
])
def test_answers_sympy_cannot_evaluate_are_invalid_not_a_crash(problem: str, answer: str, words: str) -> None:
    g = grade(problem, answer)
    assert g.verdict == "invalid" and words in g.feedback


def test_the_exact_route_is_bounded_by_the_size_of_the_common_denominator() -> None:
    """A difference whose numerator could exceed TERMS terms never reaches the zero test (a power
    of a sum of 5 inputs to 64 would be about 800,000); it is still shown wrong at a point."""
    import sympy as sp

    from verify.homework.decide import TERMS, Domain, decide, terms_bound

    z = sp.symbols("z1:6", real=True)
    huge, small = 1 / sp.Add(*z) ** 64, 1 / sp.Add(*z) ** 2
    assert terms_bound(huge)[1] > TERMS >= terms_bound(small)[1]
    assert decide(sp.Matrix([huge]), sp.Matrix([huge]), Domain()).verdict == "equal"  # the same expression
    assert decide(sp.Matrix([huge + z[0] - z[0] * 1]), sp.Matrix([huge * 1]), Domain()).verdict == "equal"
    assert decide(sp.Matrix([huge]), sp.Matrix([1 / sp.expand(sp.Add(*z) ** 3) ** 21 / sp.Add(*z)]), Domain()).verdict \
        == "unknown"  # equal, but too large to prove
    assert decide(sp.Matrix([huge]), sp.Matrix([z[0]]), Domain()).verdict == "different"
    assert grade("information:grad_q", "-p_i/q_i + ((p_1+p_2+q_1+q_2+p_i+q_i)^4+1)^4").verdict in ("incorrect", "invalid")


def test_layer_norms_sigma_before_a_bracket_is_the_symbol() -> None:
    answer = "1/sigma (gamma_i g_i - (1/d) sum_j gamma_j g_j - xhat_i (1/d) sum_j gamma_j g_j xhat_j)"
    assert grade("layernorm:grad_X", answer).verdict == "correct"


def test_a_theorem_problems_key_is_the_proved_theorem() -> None:
    """The keys of the theorem questions come from derive: the bound side of H(p) <= log n and of Novikoff's
    theorem, and the scale whose square is E[(q . k)^2]; a wrong theorem would give a wrong key."""
    import sympy as sp

    from derive.topics.attention import unit_variance_scale
    from derive.topics.information import ENTROPY_BOUND
    from verify.homework.problems import _setting

    assert [_setting("information:entropy_bound", m)[2][0] for m in range(3)] == [sp.log(2), sp.log(3), sp.log(5)]
    assert ENTROPY_BOUND.sides({"n": 4})[0] == sp.log(4)
    assert [unit_variance_scale({"d_k": d}) for d in (1, 4, 9)] == [1, 2, 3]
    r, gamma = (sp.Symbol(name, positive=True) for name in ("R", "gamma"))
    assert _setting("perceptron:novikoff", 0)[2][0] == r**2 / gamma**2


def test_a_theorem_problem_offers_no_unrelated_forward() -> None:
    """Novikoff's question is in R and gamma: the perceptron's net input d is no symbol of it."""
    g = grade("perceptron:novikoff", "w")
    assert g.verdict == "invalid" and "this problem uses R, gamma" in g.feedback


@pytest.mark.parametrize(("problem", "answer", "meant"), [
    ("attention:score_variance", "sqrt(d)", "d_k"), ("positional_encoding:norm", "d/2", "d_model"),
    ("attention:grad_Q", "dS K / sqrt(d)", "d_k"),
])
def test_d_for_a_named_size_is_not_taken_for_a_derivative(problem: str, answer: str, meant: str) -> None:
    """'d' alone where the problem names d_k or d_model: it was told to write what the derivative equals."""
    g = grade(problem, answer)
    assert g.verdict == "invalid" and f"did you mean {meant}?" in g.feedback and "derivative" not in g.feedback
