"""Instructors' TOML problem files: keys from the catalog, checked as a whole when loaded."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def built_in_only() -> Iterator[None]:
    before = dict(PROBLEMS)
    yield
    PROBLEMS.clear()
    PROBLEMS.update(before)
    _setting.cache_clear()


def test_the_example_file_grades_like_the_built_in_problems() -> None:
    loaded = load_problems(EXAMPLE)
    assert list(loaded) == ["hw3.softmax_grad", "hw3.attention_values"]
    assert grade("hw3.softmax_grad", r"p_i - y_i").verdict == "correct"
    wrong = grade("hw3.softmax_grad", "p_i")
    assert (wrong.verdict, wrong.feedback) == ("incorrect", "the label term -y_i is missing")
    assert grade("hw3.softmax_grad", "y_i - p_i").feedback.startswith("sign error")
    assert grade("hw3.attention_values", "A^T G").verdict == "correct"
    assert "transpose" in grade("hw3.attention_values", "G^T A").feedback


@pytest.mark.parametrize(("change", "words"), [
    (("information", "nope"), "no catalog entry 'nope'"),
    (('claim = "grad_q"', 'claim = "grad_x"'), "has no claim 'grad_x'"),
    (('value = "q"', 'value = "qq"'), "KeyError: qq"),
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
    assert "KeyError: qq" in capsys.readouterr().err


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
