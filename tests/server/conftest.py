"""Env-server fixtures (the servers themselves are in server_helpers)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from server_helpers import TOY, ThreadServer


@pytest.fixture(scope="module")
def toy_server() -> Iterator[ThreadServer]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dominance.*")
        with ThreadServer(TOY, max_envs=8, session_timeout=300) as server:
            yield server


@pytest.fixture(autouse=True)
def _quiet_dominance_warning() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dominance.*")
        yield
