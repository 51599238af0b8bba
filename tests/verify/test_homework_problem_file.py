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
