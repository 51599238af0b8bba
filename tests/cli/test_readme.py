"""README's commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_opens_with_install_and_test_commands() -> None:
    install, tests = _readme_commands()
    assert "pip install" in install and "gradproof derive --all" in install
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, tests = _readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_readme_check_gradient_example_runs() -> None:
    """The custom-backward example in README passes as written, and fails with its backward broken."""
    import pytest

    pytest.importorskip("torch")
    from verify.api import GradientMismatch

    text = (ROOT / "README.md").read_text()
    block = next(b.split("```", 1)[0] for b in text.split("```python")[1:] if "check_gradient" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    namespace["test_my_softmax"]()
    broken = block.replace("(g - (g * p).sum(-1, keepdim=True))", "g")
    assert broken != block
    exec(compile(broken, "README.md", "exec"), namespace)  # noqa: S102
    with pytest.raises(GradientMismatch):
        namespace["test_my_softmax"]()


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_link_and_example_path_is_inside_the_repository() -> None:
    """A reader of a clone (or of the code host) finds every file README links or names."""
    import re

    text = _readme()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert links, "README links nothing?"
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        target = (ROOT / link).resolve()
        assert target.is_relative_to(ROOT), f"{link} is outside the repository"
        assert target.exists(), f"README links {link}, which does not exist"
    for path in set(re.findall(r"(?<![\w/.])((?:examples|benchmarks|schemas|verify|derive|graphs|gradproof|tests)/[\w./-]+\.\w+)", text)):
        if not re.search(r"\b(NAME|LANG|FILE|FOLDER)\b", path):  # placeholders, as in verify/forwards/NAME.py
            assert (ROOT / path).exists(), f"README names {path}, which does not exist"


def test_speed_is_one_table_made_from_the_stored_figures() -> None:
    import json
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from run import speed_table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    speed = _readme().split("## Speed\n", 1)[1].split("\n## ", 1)[0]
    figures = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    assert speed_table(figures) in speed, "README's Speed table is not benchmarks/run.py's table of latest.json"
    assert sum(line.startswith("|---") for line in speed.splitlines()) == 1, "one Speed table"


def test_homework_section_documents_every_problem_file_field() -> None:
    from verify.homework import problem_file

    homework = _readme().split("## Homework", 1)[1].split("\n## ", 1)[0]
    for field in sorted(problem_file._FIELDS | problem_file._FORWARD_FIELDS | problem_file._SYMBOL_FIELDS):
        assert f"`{field}`" in homework, f"the TOML field {field!r} is not documented in README's Homework section"
    assert "student,problem,answer" in homework and "examples/class.csv" in homework
    assert "still to come" not in _readme().lower()
