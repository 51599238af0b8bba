"""Instructors' TOML problem files: keys from the catalog, checked as a whole when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradproof.cli import main
from verify.homework.problem_file import ProblemFileError, load_problems
from verify.homework.problems import PROBLEMS, _setting, grade

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "problems.toml"
GOOD = """[[problem]]
id = "t.kl"
entry = "information"
claim = "grad_q"
statement = "Give dKL/dq_i."
sizes = [{ n = 2 }, { n = 3 }]
index = "i"
indices = { i = "n" }
[problem.symbols]
p = { kind = "indexed", value = "p" }
q = { kind = "indexed", value = "q" }
[problem.mistakes]
"p_i/q_i" = "sign"
"""


pytestmark = pytest.mark.usefixtures("built_in_only")  # tests/verify/conftest.py


def test_the_example_file_grades_like_the_built_in_problems() -> None:
    loaded = load_problems(EXAMPLE)
    assert list(loaded) == ["hw3.softmax_grad", "hw3.attention_values"]
    assert grade("hw3.softmax_grad", r"p_i - y_i").verdict == "correct"
    wrong = grade("hw3.softmax_grad", "p_i")
    assert (wrong.verdict, wrong.feedback) == ("incorrect", "the label term -y_i is missing")
    assert grade("hw3.softmax_grad", "y_i - p_i").feedback.startswith("sign error")
    assert grade("hw3.attention_values", "A^T G").verdict == "correct"
    assert "transpose" in grade("hw3.attention_values", "G^T A").feedback
    assert grade("hw3.attention_values", "A G").verdict == "incorrect"


@pytest.mark.parametrize(("change", "words"), [
    (("information", "nope"), "no catalog entry 'nope'"),
    (('claim = "grad_q"', 'claim = "grad_x"'), "has no claim 'grad_x'"),
    (('value = "q"', 'value = "qq"'), "information has no entry 'qq'"),
    (('kind = "indexed", value = "p"', 'kind = "vector", value = "p"'), "needs kind"),
    (('index = "i"', 'index = "j"'), "free index 'j' is not in indices"),
    (('id = "t.kl"', 'id = "kl.grad_q"'), "already taken"),
    (('"p_i/q_i"', '"r_i"'), "unknown symbol 'r_i'"),
    (("statement", "statment"), "unknown field 'statment'"),
    (("[[problem]]", "[[problme]]"), "no [[problem]] tables"),
    (("sizes = [", "sizes = ["), ""),  # unchanged: loads
])
def test_a_bad_file_is_refused_naming_the_problem(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    path = tmp_path / "set.toml"
    path.write_text(GOOD.replace(*change))
    if not words:
        assert list(load_problems(path)) == ["t.kl"]
        return
    with pytest.raises(ProblemFileError, match="set.toml") as error:
        load_problems(path)
    assert words in str(error.value)
    assert "t.kl" not in PROBLEMS  # nothing half-registered


def test_not_toml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("[[problem]\nid = ")
    with pytest.raises(ProblemFileError, match="not valid TOML"):
        load_problems(tmp_path / "x.toml")


def test_cli_grades_against_a_problem_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.csv").write_text("student,hw3.softmax_grad,kl.grad_q\nann,p_i - y_i,-p_i/q_i\n")
    assert main(["grade", str(EXAMPLE), str(tmp_path / "a.csv"), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "results.csv").read_text().count(",correct,") == 2
    assert main(["problems", "--set", str(EXAMPLE), "--json"]) == 0
    assert "hw3.attention_values" in capsys.readouterr().out
    (tmp_path / "bad.toml").write_text(GOOD.replace('value = "q"', 'value = "qq"'))
    assert main(["grade", str(tmp_path / "bad.toml"), str(tmp_path / "a.csv"), "-o", str(tmp_path / "o2")]) == 2
    assert "information has no entry 'qq'" in capsys.readouterr().err


@pytest.mark.parametrize(("change", "words"), [
    (('q = { kind = "indexed", value = "q" }', 'q = { kind = "indexed", value = "q", rank = "x" }'), "rank is 1 or 2"),
    (('indices = { i = "n" }', 'indices = "x"'), "indices must be a table"),
    (('indices = { i = "n" }', 'indices = { i = "nope" }'), "'nope', which is not in every table of sizes"),
    (('index = "i"', 'index = "i j k"'), "one free index"),
    (('"p_i/q_i" = "sign"', 'x = 1'), "mistakes must be a table"),
    (("sizes = [{ n = 2 }, { n = 3 }]", "sizes = [{ n = 0 }]"), "positive integers"),
])
def test_wrong_field_types_are_refused_before_grading(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    path = tmp_path / "set.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ProblemFileError) as error:
        load_problems(path)
    assert words in str(error.value)


def test_a_file_loads_whole_or_not_at_all(tmp_path: Path) -> None:
    second = GOOD.replace('id = "t.kl"', 'id = "t.kl2"').replace('value = "q"', 'value = "qq"')
    path = tmp_path / "set.toml"
    path.write_text(GOOD + "\n" + second)
    with pytest.raises(ProblemFileError, match="t.kl2"):
        load_problems(path)
    assert "t.kl" not in PROBLEMS  # the first, good problem was not left behind
    path.write_text(GOOD + "\n" + second.replace('value = "qq"', 'value = "q"'))
    assert list(load_problems(path)) == ["t.kl", "t.kl2"]  # fixed, it loads


def test_a_built_in_problem_is_never_replaced(tmp_path: Path) -> None:
    from verify.homework.problem_file import register

    built_in = PROBLEMS["kl.grad_q"]
    (tmp_path / "set.toml").write_text(GOOD)
    impostor = {**load_problems(tmp_path / "set.toml")}["t.kl"]
    import dataclasses

    with pytest.raises(ProblemFileError, match="already taken"):
        register({"kl.grad_q": dataclasses.replace(impostor, id="kl.grad_q", statement="other")})
    assert PROBLEMS["kl.grad_q"] is built_in


def test_a_list_of_non_tables_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text("problem = [1]\n")
    with pytest.raises(ProblemFileError, match="no \\[\\[problem\\]\\] tables"):
        load_problems(tmp_path / "x.toml")


# The checks of issue 14: a file that would grade wrong in silence does not load.
ANSWERED = GOOD.replace('index = "i"', 'index = "i"\nanswer = "-p_i/q_i"')


def refused(tmp_path: Path, text: str, name: str = "set.toml") -> str:
    """Load ``text``; it must be refused in one line naming the file; nothing of it stays registered."""
    before = dict(PROBLEMS)
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ProblemFileError) as error:
        load_problems(path)
    message = str(error.value)
    assert name in message and "\n" not in message
    assert PROBLEMS == before
    return message


def test_a_file_with_reference_answers_loads(tmp_path: Path) -> None:
    (tmp_path / "set.toml").write_text(ANSWERED)
    assert list(load_problems(tmp_path / "set.toml")) == ["t.kl"]
    assert grade("t.kl", "-p_i/q_i").verdict == "correct"


def test_swapped_symbols_are_caught_by_the_reference_answer(tmp_path: Path) -> None:
    swapped = ANSWERED.replace('value = "p"', 'value = "P"').replace('value = "q"', 'value = "p"').replace(
        'value = "P"', 'value = "q"')
    message = refused(tmp_path, swapped)
    assert "t.kl" in message and "reference answer '-p_i/q_i' grades incorrect" in message
    assert "symbol mapping" in message


def test_a_wrong_reference_answer_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, ANSWERED.replace('answer = "-p_i/q_i"', 'answer = "-q_i/p_i"'))
    assert "t.kl: the reference answer '-q_i/p_i' grades incorrect" in message
    message = refused(tmp_path, ANSWERED.replace('answer = "-p_i/q_i"', 'answer = "-p_i/r_i"'))
    assert "grades invalid: unknown symbol 'r_i'" in message


def test_a_mistake_equal_to_the_key_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, GOOD.replace('"p_i/q_i" = "sign"', '"-p_i/q_i" = "sign"'))
    assert "t.kl: the mistake '-p_i/q_i' grades correct" in message
    # written differently, still the key: the grader decides, not the spelling
    message = refused(tmp_path, GOOD.replace('"p_i/q_i" = "sign"', '"-(p_i q_i)/q_i^2" = "x"'))
    assert "grades correct" in message


@pytest.mark.parametrize(("change", "words"), [
    (('q = { kind = "indexed", value = "q" }', 'q = { kind = "scalar", value = "q" }'),
     "symbol 'q' (scalar) is mapped to 'q', a vector (2 x 1)"),
    (('q = { kind = "indexed", value = "q" }', 'q = { kind = "matrix", value = "KL" }'),
     "symbol 'q' (matrix) is mapped to 'KL', a scalar"),
    (('q = { kind = "indexed", value = "q" }', 'q = { kind = "indexed", value = "KL" }'),
     "an indexed symbol needs a vector"),
    (('q = { kind = "indexed", value = "q" }', 'q = { kind = "size", value = "mm" }'),
     "symbol 'q' is the size 'mm', which is not in the sizes"),
    (('index = "i"', 'index = "i"'), ""),  # control: with the extra size m, it loads
    (('indices = { i = "n" }', 'indices = { i = "m" }'), "index = 'i' gives 3 x 1 (i runs to m = 3)"),
    (('value = "q" }', 'value = "q", rnak = 2 }'), "unknown field 'rnak'"),
    (('value = "q" }', 'value = "q", domain = "simplx" }'), "domain is"),
    (('value = "q" }', 'value = "q", rank = true }'), "rank is 1 or 2"),
    (('id = "t.kl"', 'id = 3'), "id must be a string"),
    (('index = "i"', 'index = "i"\nanswer = ["-p_i/q_i"]'), "answer must be a string"),
    (("m = 3 }, { n = 3", "m = 100000000 }, { n = 3"), "sizes up to 64"),
])
def test_a_mapping_of_the_wrong_shape_is_refused(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    text = GOOD.replace("sizes = [{ n = 2 }, { n = 3 }]", "sizes = [{ n = 2, m = 3 }, { n = 3, m = 3 }]")
    assert change[0] in text
    text = text.replace(*change)
    if not words:
        (tmp_path / "set.toml").write_text(text)
        assert list(load_problems(tmp_path / "set.toml")) == ["t.kl"]
        return
    message = refused(tmp_path, text)
    assert words in message, message


MATRIX_CLAIM = """[[problem]]
id = "t.att"
entry = "attention"
claim = "grad_V"
statement = "O = A V, G = dL/dO. Give dL/dV."
sizes = [{ n = 2, d_k = 3 }]
[problem.symbols]
A = { kind = "matrix", value = "A" }
G = { kind = "matrix", value = "G" }
"""


def test_an_entrywise_index_on_a_matrix_claim_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ok.toml").write_text(MATRIX_CLAIM)
    assert list(load_problems(tmp_path / "ok.toml")) == ["t.att"]  # control: as a matrix answer it loads
    PROBLEMS.pop("t.att")
    _setting.cache_clear()
    entrywise = MATRIX_CLAIM.replace("[problem.symbols]", 'index = "i"\nindices = { i = "n" }\n[problem.symbols]').replace(
        'kind = "matrix", value = "A"', 'kind = "indexed", value = "A", rank = 2').replace(
        'kind = "matrix", value = "G"', 'kind = "indexed", value = "G", rank = 2')
    message = refused(tmp_path, entrywise)
    assert "t.att: attention:grad_V's key is 2 x 3" in message and "index = 'i' gives 2 x 1" in message
    assert "use two free indices" in message
    # two indices whose sizes are the key's the other way round
    swapped = entrywise.replace('index = "i"\nindices = { i = "n" }', 'index = "k j"\nindices = { k = "d_k", j = "n" }')
    assert "index = 'k j' gives 3 x 2" in refused(tmp_path, swapped)
    # and the right two indices load, with a reference answer that grades correct
    fixed = entrywise.replace('index = "i"\nindices = { i = "n" }',
                              'index = "k j"\nindices = { k = "n", j = "d_k", m = "n" }\nanswer = "sum_m A_mk G_mj"')
    (tmp_path / "fixed.toml").write_text(fixed)
    assert list(load_problems(tmp_path / "fixed.toml")) == ["t.att"]


def test_a_matrix_mapped_to_a_rank_one_index_is_refused(tmp_path: Path) -> None:
    text = MATRIX_CLAIM.replace('kind = "matrix", value = "A"', 'kind = "indexed", value = "A"')
    assert "symbol 'A' (indexed) is mapped to 'A', a matrix (2 x 2) at sizes {'n': 2, 'd_k': 3}: its entries need two indices" in refused(
        tmp_path, text)


def test_a_later_failure_unregisters_the_earlier_problems(tmp_path: Path) -> None:
    second = ANSWERED.replace('id = "t.kl"', 'id = "t.kl2"').replace('answer = "-p_i/q_i"', 'answer = "p_i/q_i"')
    message = refused(tmp_path, ANSWERED + "\n" + second)
    assert "t.kl2: the reference answer 'p_i/q_i'" in message
    assert "t.kl" not in PROBLEMS
    # fixed (and different from before in its first problem), it loads and grades by the new file
    fixed = ANSWERED.replace('"p_i/q_i" = "sign"', '"p_i" = "x"') + "\n" + second.replace('answer = "p_i/q_i"', 'answer = "-p_i/q_i"')
    (tmp_path / "set.toml").write_text(fixed)
    assert list(load_problems(tmp_path / "set.toml")) == ["t.kl", "t.kl2"]
    assert grade("t.kl", "p_i").feedback == "x"


@pytest.mark.parametrize("text", [
    "a = " + "[" * 100_000 + "]" * 100_000,
    "a = " + "{b = " * 50_000 + "1" + "}" * 50_000,
    "a" + ".b" * 300_000 + " = 1",  # tomllib would take minutes and gigabytes on this
    "[" + "a." * 300_000 + "b]",
    '"a"' + '."a"' * 40 + " = 1",
    "# " + "x" * 1_100_000,
])
def test_hostile_toml_is_one_line(tmp_path: Path, text: str) -> None:
    message = refused(tmp_path, text)
    assert any(words in message for words in ("nested too deeply", "dotted key of more than", "larger than 1 MB"))


def test_a_dotted_key_and_dots_in_prose_still_load(tmp_path: Path) -> None:
    prose = "x.y.z = 1\n" + ANSWERED.replace('statement = "Give dKL/dq_i."',
                                              'statement = "' + "Give dKL/dq_i. " * 40 + 'Note: 0.5. a.b.c.d."')
    (tmp_path / "set.toml").write_text(prose)
    assert list(load_problems(tmp_path / "set.toml")) == ["t.kl"]


def test_unreadable_paths_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "latin1.toml").write_bytes(b'statement = "caf\xe9"\n')
    assert "not UTF-8" in refused_path(tmp_path / "latin1.toml")
    assert "it is a directory" in refused_path(tmp_path)
    assert "no such file" in refused_path(tmp_path / "missing.toml")


def refused_path(path: Path) -> str:
    with pytest.raises(ProblemFileError) as error:
        load_problems(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    return str(error.value)


def test_the_cli_reports_a_bad_file_in_one_line_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(ANSWERED.replace('answer = "-p_i/q_i"', 'answer = "-q_i/p_i"'))
    (tmp_path / "a.csv").write_text("student,t.kl\nann,-p_i/q_i\n")
    for argv in (["problems", "--set", str(bad)], ["check", "--set", str(bad), "t.kl", "-p_i/q_i"],
                 ["grade", str(bad), str(tmp_path / "a.csv"), "-o", str(tmp_path / "out")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "reference answer '-q_i/p_i' grades incorrect" in err, (argv, err)


def test_a_problem_without_a_reference_answer_loads_with_a_warning(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "set.toml").write_text("\n".join(line for line in ANSWERED.splitlines() if not line.startswith("answer")))
    assert main(["check", "--set", str(tmp_path / "set.toml"), "t.kl", "-p_i/q_i"]) == 0
    assert "t.kl gives no reference answer" in capsys.readouterr().err
    (tmp_path / "set.toml").write_text(ANSWERED)  # the same problem with its answer: checked, no warning
    assert main(["check", "--set", str(tmp_path / "set.toml"), "t.kl", "-p_i/q_i"]) == 0
    assert "no reference answer" not in capsys.readouterr().err
