"""Hypothesis profiles: ``ci`` (derandomized, what CI runs), ``dev`` (default), ``thorough``."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=25, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The tests' tensors are small: one thread each. With several pytest-xdist workers on few cores,
# torch's default of one thread per core per worker oversubscribes the machine (measured 10x
# slower on 2 cores). Set before any test imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` take minutes each: run them with ``GRADPROOF_SLOW=1``."""
    if os.environ.get("GRADPROOF_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow; set GRADPROOF_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text output folds at the terminal's width, and a folded line depends on how long the
    checkout's path is (CI's clone failed 'passed on 8 examples' after a longer path pushed the
    words onto two lines). Tests read what is said; the tests of folding set COLUMNS themselves."""
    monkeypatch.setenv("COLUMNS", "1000")
