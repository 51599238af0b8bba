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
