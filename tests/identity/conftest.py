"""Fixtures of the identity tests."""

from __future__ import annotations

import pytest

from tests.conftest import JWT_SECRET


@pytest.fixture
def secret() -> str:
    """The servers' JWT secret."""
    return JWT_SECRET
