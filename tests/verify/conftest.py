"""Examples per verify check: 200 in CI and by default (the issue's bar), more with ``thorough``."""

import os

import pytest

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
EXAMPLES = 1000 if PROFILE == "thorough" else 200


@pytest.fixture
def examples() -> int:
    return EXAMPLES
