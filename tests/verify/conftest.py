"""Examples per verify check: 200 in CI and by default (the issue's bar), more with ``thorough``."""

import os
from collections.abc import Iterator

import pytest

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
EXAMPLES = 1000 if PROFILE == "thorough" else 200


@pytest.fixture
def examples() -> int:
    return EXAMPLES

try:  # one thread per worker: see tests/conftest.py
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a dependency; the tests skip without it
    pass


@pytest.fixture
def built_in_only() -> Iterator[None]:
    """The built-in problems only, after a test that loads a problem file: its problems, the
    checked set and the cached settings are put back as they were."""
    from verify.homework import problems
    from verify.homework.problem_file import CHECKED

    before = dict(problems.PROBLEMS)
    yield
    problems.PROBLEMS.clear()
    problems.PROBLEMS.update(before)
    CHECKED.clear()
    problems._setting.cache_clear()
