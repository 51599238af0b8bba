"""Examples per verify check: 200 in CI and by default (the issue's bar), more with ``thorough``."""

import os

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
