"""The planted-concept model, trained once per test session (seconds)."""
from __future__ import annotations

import planted
import pytest


@pytest.fixture(scope="session")
def planted_model():
    return planted.trained_model()


@pytest.fixture(scope="session")
def planted_data():
    return planted.dataset(30, seed=5)
