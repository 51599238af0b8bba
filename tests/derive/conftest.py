"""Shared, cached derivations: each catalog entry is derived once per test session."""

from functools import cache

import pytest

from derive import derive
from derive.types import Derivation


@cache
def derived(name: str) -> Derivation:
    return derive(name)


@pytest.fixture(scope="session")
def derivation_of():
    return derived
