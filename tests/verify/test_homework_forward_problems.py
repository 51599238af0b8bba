"""Homework problems written from a forward (issue 17): no catalog claim, a derived key, the whole
forward as the answers' context, generated mistakes, and one-line errors for a bad file."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verify.homework import problems
from verify.homework.from_forward import (
    ForwardProblem,
    ForwardProblemError,
    forward_problem,
    generated_mistakes,
    key_text,
    public,
)
from verify.homework.problem_file import CHECKED, ProblemFileError, load_problems, unchecked
from verify.homework.problems import CREDIT, PROBLEMS, grade

ROOT = Path(__file__).resolve().parents[2]

MSE = '''[[problem]]
id = "ff.mse"
statement = "L = sum of squares of X W - Y. Give dL/dW."
forward = "L = sum((X W - Y) ⊙ (X W - Y))"
shapes = { X = "n,d", W = "d,k", Y = "n,k" }
wrt = "W"
answer = "2 X^T (X W - Y)"
'''

ATTENTION = '''[[problem]]
id = "ff.keys"
statement = "S = Q K^T / sqrt(d_k), A = softmax(S), O = A V, G = dL/dO. Give dL/dK."
forward = "S = Q K^T / sqrt(d_k); A = softmax(S); O = A V; L = sum(G ⊙ O)"
shapes = { Q = "n,d_k", K = "n,d_k", V = "n,d_k", G = "n,d_k" }
wrt = "K"
answer = "(A ⊙ (G V^T - rowsum((G V^T) ⊙ A)))^T Q / sqrt(d_k)"

[problem.mistakes]
"A^T Q / sqrt(d_k)" = "softmax's backward is missing: dS = A ⊙ (dA - rowsum(dA ⊙ A))"
'''

SOFTMAX = '''[[problem]]
id = "ff.softmax"
statement = "P = softmax(X W + 1 b^T), L = -sum(Y ⊙ log(P)). Give dL/dW."
forward = "P = softmax(X W + 1 b^T); L = -sum(Y ⊙ log(P))"
shapes = { X = "n,d", W = "d,k", b = "k", Y = "n,k" }
wrt = "W"
'''

# dL/dK, written out by hand: the generated mistakes are single slips of it
DK = "(A ⊙ (G V^T - rowsum((G V^T) ⊙ A)))^T Q"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ForwardProblem]]:
    """The three problems above, loaded once from one file (each load derives keys and mistakes);
    the registry is put back as it was afterwards."""
    before = dict(PROBLEMS)
    path = _write(tmp_path_factory.mktemp("forward"), "set.toml", MSE + "\n" + ATTENTION + "\n" + SOFTMAX)
    yield load_problems(path)  # type: ignore[misc]
    PROBLEMS.clear()
    PROBLEMS.update(before)
    CHECKED.clear()
    problems._setting.cache_clear()


def test_the_file_names_no_catalog_claim_and_the_key_is_derived(loaded: dict[str, ForwardProblem]) -> None:
    assert set(loaded) == {"ff.mse", "ff.keys", "ff.softmax"}
    assert all(isinstance(p, ForwardProblem) for p in loaded.values())
    assert key_text(loaded["ff.mse"]) == "2 X^T (X W - Y)"
    assert key_text(loaded["ff.softmax"]) == "X^T (P ⊙ rowsum(Y) - Y)"
    assert key_text(loaded["ff.keys"]) == "1/sqrt(d_k) (A ⊙ (G V^T - rowsum((G V^T) ⊙ A)))^T Q"
    # sizes derived from the forward: every size above 1, each different at the second sizes
    assert loaded["ff.keys"].sizes == ({"n": 2, "d_k": 3}, {"n": 3, "d_k": 2})
    # the key is derived, so there is no symbol mapping to swap: no warning for a missing answer
    assert unchecked(loaded) == []


@pytest.mark.parametrize("answer", ["2 X^T (X W - Y)", "2 X^T X W - 2 X^T Y", "X^T (X W - Y) + X^T (X W - Y)",
                                    "2 * X^T @ (X @ W - Y)", r"2 X^\top (X W - Y)", "(2 (X W - Y)^T X)^T"])
def test_right_answers_in_several_spellings_are_proved_correct(loaded: dict[str, ForwardProblem], answer: str) -> None:
    got = grade("ff.mse", answer)
    assert (got.verdict, got.method) == ("correct", "symbolic"), got.feedback


def test_a_product_written_without_a_space_is_correct(loaded: dict[str, ForwardProblem]) -> None:
    assert grade("ff.mse", "X^T (XW-Y) + X^T (XW-Y)").verdict == "correct"


def test_a_sign_flip_gets_the_sign_message(loaded: dict[str, ForwardProblem]) -> None:
    got = grade("ff.mse", "2 X^T (Y - X W)")
    assert (got.verdict, got.score) == ("incorrect", CREDIT["sign"])
    assert got.feedback.startswith("sign error")


def test_a_dropped_constant_factor_is_diagnosed(loaded: dict[str, ForwardProblem]) -> None:
    got = grade("ff.mse", "X^T (X W - Y)")
    assert (got.verdict, got.score) == ("incorrect", CREDIT["factor"])
    assert "1/2" in got.feedback


@pytest.mark.parametrize(("answer", "said"), [
    (f"{DK[:-2]} Q / sqrt(d_k)".replace(")^T Q", ") Q"), "a transpose is missing: write (A ⊙ (G V^T - rowsum((G V^T) ⊙ A)))^T"),
    ("(G V^T - rowsum((G V^T) ⊙ A))^T Q / sqrt(d_k)", "a factor A is missing"),
    ("(A ⊙ (G V^T))^T Q / sqrt(d_k)", "a term is missing: -rowsum((G V^T) ⊙ A)"),
])
def test_a_generated_mistake_gets_its_message(loaded: dict[str, ForwardProblem], answer: str, said: str) -> None:
    got = grade("ff.keys", answer)
    assert (got.verdict, got.score, got.feedback) == ("incorrect", CREDIT["mistake"], said)


def test_a_missing_scale_is_the_size_factor(loaded: dict[str, ForwardProblem]) -> None:
    got = grade("ff.keys", DK)
    assert got.verdict == "incorrect" and "1/sqrt(d_k)" in got.feedback, got.feedback


def test_the_instructors_mistake_is_said_in_their_words(loaded: dict[str, ForwardProblem]) -> None:
    got = grade("ff.keys", "A^T Q / sqrt(d_k)")
    assert got.feedback == "softmax's backward is missing: dS = A ⊙ (dA - rowsum(dA ⊙ A))"
    assert "A^T Q / sqrt(d_k)" not in loaded["ff.keys"].generated


@pytest.mark.parametrize(("pid", "answer", "methods"), [
    # S and A, named steps; softmax(S) written out is past the exact route's time at n = 3, so sampled there
    ("ff.keys", "(softmax(S) ⊙ (G V^T - rowsum(G V^T ⊙ A)))^T Q / sqrt(d_k)", ("symbolic", "numeric")),
    ("ff.keys", "(A ⊙ (G V^T - rowsum(G ⊙ O)))^T Q / sqrt(d_k)", ("symbolic",)),  # O = A V: FlashAttention's form
    ("ff.softmax", "X^T (P ⊙ rowsum(Y) - Y)", ("symbolic",)),  # P, the forward's softmax
])
def test_an_answer_in_the_forwards_named_steps_is_read(loaded: dict[str, ForwardProblem], pid: str, answer: str,
                                                       methods: tuple[str, ...]) -> None:
    got = grade(pid, answer)
    assert got.verdict == "correct" and got.method in methods, got.feedback


def test_a_wrong_answer_in_a_named_step_is_diagnosed(loaded: dict[str, ForwardProblem]) -> None:
    # right only where the rows of Y sum to 1, which this problem does not grant
    got = grade("ff.softmax", "X^T (P - Y)")
    assert (got.verdict, got.feedback) == ("incorrect", "a factor rowsum(Y) is missing")


def test_a_name_outside_the_forward_is_invalid(loaded: dict[str, ForwardProblem]) -> None:
    got = grade("ff.mse", "2 X^T (X W - Z)")
    assert got.verdict == "invalid" and "Z" in got.feedback


def test_every_generated_mistake_grades_incorrect(loaded: dict[str, ForwardProblem]) -> None:
    p = loaded["ff.softmax"]
    assert len(p.generated) >= 3
    for wrong in p.generated:
        got = grade(p.id, wrong)
        assert (got.verdict, got.feedback) == ("incorrect", p.mistakes[wrong]) or got.score in (
            CREDIT["sign"], CREDIT["factor"]), (wrong, got.feedback)


def test_wrt_may_be_one_layer_of_a_repeat(built_in_only: None) -> None:
    p = forward_problem("ff.layers", "Give dL/dW_1.", "H = X\nrepeat l = 1..2 { H = H W_l }\nL = sum(G ⊙ H)",
                        {"X": "n,d", "W_l": "d,d", "G": "n,d"}, "W_1")
    PROBLEMS[p.id] = p
    assert key_text(p) == "X^T G W_2^T" and sorted(p.context) == ["H_1", "H_2"]
    assert grade(p.id, "X^T G W_2^T").verdict == "correct"
    assert grade(p.id, "X^T G W_2").feedback == "a transpose is missing: write W_2^T"
    assert grade(p.id, "H_1^T G").verdict == "incorrect"  # that is dL/dW_2


def test_a_mutant_equal_to_the_key_is_dropped() -> None:
    # C = X^T X is symmetric: dropping the transpose of C^T in 2 X C + 2 X C^T changes nothing
    p = forward_problem("ff.sym", "Give dL/dX.", "C = X^T X; L = sum(C ⊙ C)", {"X": "n,d"}, "X", generate=False)
    assert key_text(p) == "2 X C + 2 X C^T"
    made = generated_mistakes(p)
    assert "2 X C^T" in made and "2 X C + 2 X C" not in made


@settings(max_examples=8, deadline=None)
@given(st.fractions(min_value=Fraction(-4), max_value=Fraction(4), max_denominator=4))
def test_a_multiple_of_the_key_is_right_only_at_its_own_factor(loaded: dict[str, ForwardProblem], c: Fraction) -> None:
    got = grade("ff.mse", f"({c.numerator}/{c.denominator}) X^T (X W - Y)")
    if c == 2:
        assert got.verdict == "correct"
    elif c == 0:
        assert got.verdict == "incorrect" and got.score == 0
    else:
        assert got.verdict == "incorrect" and got.score > 0, got.feedback


def test_reveal_shows_the_derived_key_and_only_then(loaded: dict[str, ForwardProblem]) -> None:
    p = loaded["ff.softmax"]
    assert "key" not in public(p) and "answer" not in public(p)
    assert "X W + 1 b^T" in public(p)["forward"]
    assert public(p, reveal=True)["key"] == "X^T (P ⊙ rowsum(Y) - Y)"
    # no reference answer in the file: grade(..., reveal=True) shows the derived key
    assert grade("ff.softmax", "X^T P", reveal=True).feedback.endswith("the gradient: X^T (P ⊙ rowsum(Y) - Y)")
    assert "rowsum(Y) - Y)" not in grade("ff.softmax", "X^T P").feedback
    built_in = public(PROBLEMS["attention:grad_V"], reveal=True)
    assert built_in["answer"] == "A^T G" and "key" not in built_in


def test_the_same_file_loaded_twice_is_the_same_problems(loaded: dict[str, ForwardProblem], tmp_path: Path) -> None:
    again = load_problems(_write(tmp_path, "again.toml", MSE))
    assert again["ff.mse"] == loaded["ff.mse"]


def _alone(text: str) -> str:
    """A problem under an id of its own: the module's loaded problems may be registered beside it."""
    return text.replace('id = "ff.mse"', 'id = "ff.alone"')


def test_sizes_in_the_file_are_used(tmp_path: Path, built_in_only: None) -> None:
    path = _write(tmp_path, "sizes.toml", _alone(MSE).replace('wrt = "W"', 'wrt = "W"\nsizes = [{ n = 4, d = 2, k = 3 }]'))
    assert load_problems(path)["ff.alone"].sizes == ({"n": 4, "d": 2, "k": 3},)


def test_the_example_file_loads(built_in_only: None) -> None:
    loaded = load_problems(ROOT / "examples" / "forward_problems.toml")
    assert set(loaded) == {"hw.mse", "hw.softmax_regression", "hw.attention_queries", "hw.attention_values"}
    assert grade("hw.attention_values", "A G").feedback == "a transpose is missing: write A^T"


def _refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ProblemFileError) as caught:
        load_problems(_write(tmp_path, "bad.toml", text))
    message = str(caught.value)
    assert "\n" not in message and "bad.toml" in message
    return message


@pytest.mark.parametrize(("change", "said"), [
    (("(X W - Y) ⊙ (X W - Y)", "(X V - Y) ⊙ (X W - Y)"), "unknown name 'V'"),
    (('W = "d,k"', 'W = "k,k"'), "inner sizes differ (d and k)"),
    (('answer = "2 X^T (X W - Y)"', 'answer = "X^T (X W - Y)"'), "the reference answer 'X^T (X W - Y)' grades incorrect"),
    (('answer = "2 X^T (X W - Y)"', 'answer = "2 X^T (X W - Q)"'), "the reference answer '2 X^T (X W - Q)' grades invalid"),
    (('wrt = "W"', 'wrt = "V"'), "wrt = 'V' is not an input of the forward; its inputs are X, W, Y"),
    (("L = sum(", "L = sumsq("), "unknown function 'sumsq'"),
    (('wrt = "W"', 'wrt = "W"\nentry = "attention"'), "unknown field 'entry' for a problem from a forward"),
    (('wrt = "W"', 'wrt = "W"\nsizes = [{ n = 2, d = 3 }]'), "'k' is missing"),
    (('- Y)"\n', '- Y)"\n[problem.mistakes]\n"2 X^T X W - 2 X^T Y" = "oops"\n'), "'2 X^T X W - 2 X^T Y' grades correct"),
])
def test_a_bad_file_is_one_line(tmp_path: Path, built_in_only: None, change: tuple[str, str], said: str) -> None:
    message = _refused(tmp_path, _alone(MSE).replace(*change))
    assert said in message and "ff.alone" in message, message
    assert "ff.alone" not in PROBLEMS


def test_a_file_registers_all_its_problems_or_none(tmp_path: Path, built_in_only: None) -> None:
    bad = SOFTMAX.replace('wrt = "W"', 'wrt = "W"\nanswer = "X^T (P - Y)"').replace("ff.softmax", "ff.bad")
    message = _refused(tmp_path, _alone(MSE) + "\n" + bad)
    assert "ff.bad" in message and "grades incorrect" in message
    assert "ff.alone" not in PROBLEMS and "ff.bad" not in PROBLEMS


def test_a_key_that_fails_its_entrywise_check_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from graphs import ops
    from graphs.matrices import hadamard

    # softmax's VJP without its row-sum term: reverse mode's key would be wrong for every student
    wrong = dataclasses.replace(ops.RULES["softmax"], vjps=(lambda ans, x: lambda g: hadamard(ans, g),))
    monkeypatch.setitem(ops.RULES, "softmax", wrong)
    with pytest.raises(ForwardProblemError, match="fails its entrywise check"):
        forward_problem("ff.wrong_rule", "Give dL/dQ.", "S = Q K^T; A = softmax(S); L = sum(G ⊙ (A V))",
                        {n: "n,d_k" for n in "QKVG"}, "Q", generate=False)


def _formulas() -> st.SearchStrategy:
    """Matrix formulas as reverse mode builds them (graphs.matrices' constructors), over three 2 x 2
    matrices, in the constructs the answer language reads."""
    import sympy as sp

    from derive.notation import Softmax
    from graphs.matrices import add, hadamard, matmul, neg, rowsum, transpose

    leaves = st.sampled_from([sp.MatrixSymbol(name, 2, 2) for name in "ABC"])
    factors = st.sampled_from([sp.Integer(2), sp.Rational(1, 2), 1 / sp.sqrt(3), sp.Integer(-3)])

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        pairs = st.tuples(children, children)
        return st.one_of(pairs.map(lambda t: matmul(*t)), pairs.map(lambda t: add(*t)),
                         pairs.map(lambda t: add(t[0], neg(t[1]))), pairs.map(lambda t: hadamard(*t)),
                         children.map(transpose), children.map(rowsum), children.map(Softmax),
                         st.tuples(factors, children).map(lambda t: matmul(*t)))

    return st.recursive(leaves, extend, max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(_formulas())
def test_a_printed_formula_reads_back_as_itself(formula: object) -> None:
    import random

    import sympy as sp

    from graphs.matrices import explicit
    from verify.homework.from_forward import answer_text
    from verify.homework.language import Vocabulary, parse

    matrices = {name: sp.MatrixSymbol(name, 2, 2) for name in "ABC"}
    rng = random.Random(0)
    values = {m: sp.ImmutableMatrix(2, 2, [sp.Rational(rng.randint(-9, 9), rng.randint(1, 5)) for _ in range(4)])
              for m in matrices.values()}
    text = answer_text(formula)
    read = parse(text, Vocabulary(matrices=matrices))
    difference = explicit(formula, values) - explicit(read, values)
    assert all(abs(complex(sp.N(e, 30))) < 1e-20 for e in difference), (text, formula, read)


def test_sizes_never_coincide_so_a_factor_of_the_wrong_size_is_caught() -> None:
    """mean over n x k entries: 2/(n k) is right; 2/n^2 and 2/k^2 are not, whatever n and k were."""
    from verify.homework.problem_file import register as register_problems

    p = forward_problem("t.mse_mean", "Give dL/dW.", "L = mean((X W - Y) ⊙ (X W - Y))",
                        {"X": "n,d", "W": "d,k", "Y": "n,k"}, "W")
    assert all(len(set(sizes.values())) == 3 for sizes in p.sizes)
    register_problems({"t.mse_mean": p})
    assert grade("t.mse_mean", "2/(n k) X^T (X W - Y)").verdict == "correct"
    for wrong in ("2/(n^2) X^T (X W - Y)", "2/(k^2) X^T (X W - Y)"):
        assert grade("t.mse_mean", wrong).verdict == "incorrect", wrong
    assert "missing a factor 1/k" in grade("t.mse_mean", "2/n X^T (X W - Y)").feedback


def test_rowsum_written_for_a_column_gradient_is_the_column_of_row_sums() -> None:
    """In answers rowsum(X) is the lecture's broadcast; asked for a column (dL/dc), it is the row sums."""
    from verify.homework.problem_file import register as register_problems

    p = forward_problem("t.colscale", "Give dL/dc.", "Y = X ⊙ c; L = sum(G ⊙ Y)", {"X": "n,d", "c": "n", "G": "n,d"}, "c")
    register_problems({"t.colscale": p})
    assert grade("t.colscale", "rowsum(G ⊙ X)").verdict == "correct"
    assert grade("t.colscale", "rowsum(G)").verdict == "incorrect"
    assert "the answer is" in grade("t.colscale", "G ⊙ X").feedback  # a matrix is still no column
