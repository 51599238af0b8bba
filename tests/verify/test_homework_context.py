"""The problem's whole forward as context (issue 15): a right answer written in any quantity of the
forward grades correct (proved), a wrong one written so does not, the asked gradient is never
offered, and an instructor adds (``[problem.context]``) or takes away (``forbid``) quantities."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp

from verify.homework import problems
from verify.homework.forward import forward
from verify.homework.problem_file import ProblemFileError, load_problems
from verify.homework.problems import PROBLEMS, Problem, grade

FLASH = r"(A \odot (G V^T - rowsum(G \odot O))) K / sqrt(d_k)"  # FlashAttention's backward, dP - D with D = rowsum(dO * O)

RIGHT = [  # written in the forward's quantities, not (only) the listed ones
    ("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} (A \odot (dA - rowsum(dA \odot A))) K"),
    ("attention:grad_Q", r"(A \odot (G V^T - rowsum((G V^T) \odot A))) K / sqrt(d_k)"),
    ("attention:grad_K", r"(A \odot (dA - rowsum(dA \odot A)))^T Q / sqrt(d_k)"),
    ("attention:grad_V", "A^T dO"),  # FlashAttention's names: dO for G, P for A, dP for dA
    ("attention:grad_V", "P^T dO"),
    ("attention:grad_Q", r"(P \odot (dP - rowsum(dP \odot P))) K / sqrt(d_k)"),
    ("attention:grad_S", r"A \odot (G V^T - rowsum((G V^T) \odot A))"),
    ("attention:grad_S", r"A \odot (G V^T - rowsum(G \odot O))"),  # FlashAttention's D = rowsum(dO ⊙ O), n x d_k summed
    ("bp:delta_hidden", "H_j (1 - H_j) sum_k (T_k - O_k) O_k (1 - O_k) w_kj"),
    ("bp:delta_output_sigmoid", "(T_k - O_k) sigma(net_k) (1 - sigma(net_k))"),
    ("bp:delta_output_linear", "T_k - net_k"),
    ("bp:delta_output_sigmoid", "(T_k - O_k) sigma'(net_k)"),  # the problem's activation f is the sigmoid
    ("bp:delta_output_sigmoid", "(T_k - O_k) f'(net_k)"),
    ("bp:delta_hidden", "f'(net_j) sum_k delta_k w_kj"),
    ("information:grad_z", "softmax(z) - p"),  # there softmax(z) is q
    ("softmax_ce:grad_z", r"\hat{y}_i - y_i"),  # the prediction y-hat is p
    ("perceptron:update_w", "w - eta (y - t) x"),
    ("bp:update_w_output", "w_kj + alpha (T_k - O_k) O_k (1 - O_k) H_j"),  # delta_k written out in O and T
    ("layernorm:grad_X", "(gamma_i g_i - (1/d) sum_j gamma_j g_j - (x_i - mu)/sigma (1/d) sum_j gamma_j g_j xhat_j) / sigma"),
    ("perceptron:update_b", "b - eta (y - t)"),
    # a matrix gradient entry by entry, as notes write it (row i, column j, k summed)
    ("attention:grad_V", r"dV_{ij} = \sum_k A_{ki} G_{kj}"),
    ("attention:grad_A", "sum_k G_ik V_jk"),
    ("attention:grad_S", "A_ij (dA_ij - sum_l dA_il A_il)"),
    ("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} \sum_k dS_{ik} K_{kj}"),
    ("attention:grad_Q", "sum_l dS_il K_lj / sqrt(d_k)"),  # l sums along dS's columns, whatever its declared range
    # FlashAttention's form entry by entry: dP_ik = sum_l G_il V_kl, D_i = sum_l G_il O_il
    ("attention:grad_Q", "sum_k (A_ik (sum_l G_il V_kl) - A_ik sum_l G_il O_il) K_kj / sqrt(d_k)"),
]
WRONG = [  # one sign or one transpose away from a right form
    ("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} (A \odot (dA + rowsum(dA \odot A))) K"),
    ("attention:grad_Q", r"(A \odot (G V^T - rowsum((G V^T) \odot A)))^T K / sqrt(d_k)"),
    ("attention:grad_S", r"A \odot (V G^T - rowsum((G V^T) \odot A))"),
    ("bp:delta_hidden", "H_j (1 - H_j) sum_k (T_k - O_k) O_k (1 + O_k) w_kj"),
    ("bp:delta_output_sigmoid", "(T_k - O_k) sigma(net_k)"),
    ("bp:delta_output_sigmoid", "(T_k - O_k) f'(O_k)"),  # f' at the output, not at the net input
    ("softmax_ce:grad_z", r"y_i - \hat{y}_i"),
    ("perceptron:update_w", "w + eta (y - t) x"),
    ("bp:update_w_output", "w_kj + alpha (T_k - O_k) O_k (1 + O_k) H_j"),
    ("attention:grad_V", "sum_k A_ik G_kj"),  # A, not A^T
    ("attention:grad_S", "A_ij (dA_ij + sum_k dA_ik A_ik)"),
    ("attention:grad_K", "sum_k dS_ik Q_kj / sqrt(d_k)"),  # dS, not dS^T
    ("attention:grad_Q", "sum_k (A_ik (sum_l G_il V_kl) + A_ik sum_l G_il O_il) K_kj / sqrt(d_k)"),
]


def test_a_letter_summed_along_two_lengths_is_refused() -> None:
    g = grade("attention:grad_Q", "sum_k A_ik (sum_k G_ik V_kk) K_kj")
    assert g.verdict == "invalid" and "use a letter for each" in g.feedback, g.feedback


pytestmark = pytest.mark.usefixtures("built_in_only")  # tests/verify/conftest.py


@pytest.mark.parametrize(("problem", "answer"), RIGHT)
def test_a_right_answer_in_the_forwards_quantities_is_proved_correct(problem: str, answer: str) -> None:
    g = grade(problem, answer)
    assert (g.verdict, g.method, g.score) == ("correct", "symbolic", 1.0), g.feedback


@pytest.mark.parametrize(("problem", "answer"), WRONG)
def test_a_wrong_answer_in_the_forwards_quantities_is_wrong(problem: str, answer: str) -> None:
    g = grade(problem, answer)
    assert g.verdict == "incorrect" and g.score < 1, g.feedback


def test_the_flash_attention_form_is_correct_and_its_slips_are_not() -> None:
    g = grade("attention:grad_Q", FLASH)
    assert (g.verdict, g.method) == ("correct", "symbolic"), g.feedback
    for slip in (FLASH.replace("- rowsum", "+ rowsum"), FLASH.replace("G V^T", "V G^T"), FLASH.replace(") K", ")^T K")):
        assert grade("attention:grad_Q", slip).verdict != "correct", slip


def test_dS_K_is_missing_its_scale() -> None:
    assert grade("attention:grad_Q", r"\frac{1}{\sqrt{d_k}} dS K").verdict == "correct"
    g = grade("attention:grad_Q", "dS K")
    assert g.verdict == "incorrect" and "missing a factor 1/sqrt(d_k)" in g.feedback, g.feedback


@pytest.mark.parametrize(("answer", "verdict"), [("p - y", "correct"), ("softmax(z) - y", "correct"),
                                                 ("(p - y)^T", "correct"), ("(p + y)^T", "incorrect"),
                                                 ("p + y", "incorrect"), ("softmax(z) + y", "incorrect")])
def test_softmax_ce_in_vector_form(answer: str, verdict: str) -> None:
    assert grade("softmax_ce:grad_z", answer).verdict == verdict


def test_softmax_of_z_entrywise_is_p_i() -> None:
    assert grade("softmax_ce:grad_z", "softmax(z)_i - y_i").verdict == "correct"
    assert grade("information:grad_z", "softmax(z)_i - p_i").verdict == "correct"  # there softmax(z) is q


def test_an_entrywise_update_in_matrix_form_is_the_whole_matrix() -> None:
    right = grade("bp:update_w_output", r"W + \alpha \delta H^T")
    assert (right.verdict, right.method) == ("correct", "symbolic"), right.feedback
    assert grade("bp:update_w_output", r"W + \alpha \delta H").verdict != "correct"  # H not transposed
    wrong = grade("bp:update_w_output", r"W - \alpha \delta H^T")
    assert wrong.verdict == "incorrect" and "step's sign" in wrong.feedback, wrong.feedback
    assert grade("bp:update_w_hidden", r"W + \alpha \delta I^T").verdict == "correct"


def test_the_written_out_matrix_form_is_the_key_entry_by_entry() -> None:
    """What grading compares: the matrix form, written out, is the key itself at each size."""
    p = problems.problem("bp:update_w_output")
    for number, sizes in enumerate(p.sizes):
        values, words, key, _ = problems._setting(p.id, number)
        W, H, delta = dict(words.matrices)["W"], dict(words.vectors)["H"], dict(words.vectors)["delta"]
        alpha = words.scalars["alpha"]
        assert problems._written_out(p, W + alpha * delta * H.T, sizes, values) == key
        assert problems._written_out(p, W - alpha * delta * H.T, sizes, values) != key
        assert key.shape == (sizes["O"], sizes["H"])


def test_the_asked_gradient_is_never_context() -> None:
    """dL/dA's problem cannot be answered "dA", nor dL/dS's "dS": both are the asked gradient, or
    computed from it."""
    for pid, name in [("attention:grad_A", "dA"), ("attention:grad_A", "dP"), ("attention:grad_A", "dS"),
                      ("attention:grad_S", "dS")]:
        assert name not in PROBLEMS[pid].symbols()
        g = grade(pid, name)
        assert g.verdict == "invalid" and f"unknown symbol '{name}'" in g.feedback, g.feedback


def test_no_forward_quantity_is_the_key() -> None:
    """No quantity offered as context is the asked gradient itself (checked at a random point: a
    name a student could write as the whole answer)."""
    import random

    rng = random.Random(0)
    for p in PROBLEMS.values():
        if not isinstance(p, Problem):
            continue
        values, _, key, _ = problems._setting(p.id, 0)
        for name, use in p.forward().items():
            value = values.get(name)
            if use.kind == "size" or not getattr(value, "is_Matrix", False) or value.shape != key.shape:
                continue
            symbols = sp.Matrix(value).free_symbols | key.free_symbols
            point = {s: sp.Rational(rng.randint(1, 9), 10) for s in symbols}
            gap = (sp.Matrix(value) - key).xreplace(point).evalf(15)
            assert max(abs(complex(x)) for x in gap) > 1e-9, (p.id, name)


def test_public_lists_the_forward_apart_from_the_symbols() -> None:
    d = PROBLEMS["attention:grad_Q"].public()
    assert set(d["symbols"]) == {"dS", "K", "d_k"}
    assert set(d["context"]) == {"Q", "V", "G", "A", "O", "S", "dA", "P", "dO", "dP"} and "dQ" not in d["context"]
    assert d["star"] == "product" and "matrix product" in d["star_rule"]
    assert "answer" not in d and PROBLEMS["attention:grad_Q"].answer not in str(d)


FILE = """[[problem]]
id = "t.q"
entry = "attention"
claim = "grad_Q"
statement = "S = Q K^T / sqrt(d_k), O = softmax(S) V, G = dL/dO. Give dL/dQ in Q, K, V and G."
sizes = [{ n = 2, d_k = 3 }, { n = 3, d_k = 2 }]
answer = "(A .* (G V^T - rowsum((G V^T) .* A))) K / sqrt(d_k)"
forbid = ["dS", "dA"]
entries = "i j"
indices = { i = "n", j = "d_k", k = "n", l = "d_k" }
[problem.symbols]
Q = { kind = "matrix", value = "Q" }
K = { kind = "matrix", value = "K" }
V = { kind = "matrix", value = "V" }
G = { kind = "matrix", value = "G" }
d_k = { kind = "size", value = "d_k" }
"""


def test_a_problem_file_forbids_a_quantity(tmp_path: Path) -> None:
    (tmp_path / "set.toml").write_text(FILE)
    load_problems(tmp_path / "set.toml")
    g = grade("t.q", "dS K / sqrt(d_k)")
    assert g.verdict == "invalid" and "unknown symbol 'dS'" in g.feedback
    assert grade("t.q", r"(A \odot (G V^T - rowsum((G V^T) \odot A))) K / sqrt(d_k)").verdict == "correct"
    assert set(PROBLEMS["t.q"].public()["context"]) == {"A", "O", "S", "P", "dO"}  # dP is dA: forbidden with it
    assert grade("t.q", "dP").verdict == "invalid"
    # FlashAttention's form entry by entry: D_i = sum_l G_il O_il, dP_ik = sum_l G_il V_kl
    assert grade("t.q", "sum_k (A_ik (sum_l G_il V_kl) - A_ik sum_l G_il O_il) K_kj / sqrt(d_k)").verdict == "correct"
    assert grade("t.q", "sum_k (A_ik (sum_l G_il V_kl) + A_ik sum_l G_il O_il) K_kj / sqrt(d_k)").verdict == "incorrect"


def test_a_problem_file_adds_context(tmp_path: Path) -> None:
    (tmp_path / "set.toml").write_text("""[[problem]]
id = "t.kl"
entry = "information"
claim = "grad_q"
statement = "KL(p || q). Give dKL/dq_i."
sizes = [{ n = 2 }, { n = 3 }]
index = "i"
indices = { i = "n" }
answer = "-p_i/q_i"
[problem.symbols]
q = { kind = "indexed", value = "q" }
[problem.context]
p = { kind = "indexed", value = "p", meaning = "the target p_i" }
""")
    load_problems(tmp_path / "set.toml")
    assert grade("t.kl", "-p_i/q_i").verdict == "correct"
    assert PROBLEMS["t.kl"].public()["context"] == {"p": "the target p_i"}


@pytest.mark.parametrize(("change", "words"), [
    ('forbid = ["dS", "dA"]', 'forbid = ["dSS"]'),
    ('forbid = ["dS", "dA"]', 'forbid = ["Q"]'),
    ('forbid = ["dS", "dA"]', 'forbid = "dS"'),
])
def test_a_bad_forbid_is_refused(tmp_path: Path, change: str, words: str) -> None:
    (tmp_path / "set.toml").write_text(FILE.replace(change, words))
    with pytest.raises(ProblemFileError, match="forbid"):
        load_problems(tmp_path / "set.toml")


def test_context_tables_are_data_per_entry_or_claim() -> None:
    assert forward("attention", "grad_Q").quantities["dS"].env == "dS_closed"
    assert forward("attention", "grad_S").quantities["A"].env == "A_of_S"  # S free: its key is in S
    assert "dS" not in forward("attention", "grad_S").quantities
    assert forward("bp", "delta_output_sigmoid").activation == "sigma"


def test_a_causal_problem_gets_the_masked_forward(tmp_path: Path) -> None:
    """A problem on the causal claim is graded in the masked weights: its A is the masked softmax,
    so the FlashAttention form is right there too; a claim no table is for gets no context."""
    (tmp_path / "set.toml").write_text("""[[problem]]
id = "t.cq"
entry = "attention"
claim = "causal_grad_Q"
statement = "Causal attention (future positions masked). Give dL/dQ."
sizes = [{ n = 2, d_k = 3 }, { n = 3, d_k = 2 }]
answer = "dS K / sqrt(d_k)"
[problem.symbols]
dS = { kind = "matrix", value = "causal_dS_closed" }
K = { kind = "matrix", value = "K" }
d_k = { kind = "size", value = "d_k" }
""")
    load_problems(tmp_path / "set.toml")
    assert grade("t.cq", FLASH).verdict == "correct"
    assert grade("t.cq", FLASH.replace("- rowsum", "+ rowsum")).verdict == "incorrect"
    assert forward("attention", "causal_grad_S").quantities == {}  # A there is softmax of free scores: no table
    assert forward("softmax_ce", "grad_Z_batch").quantities == {}
