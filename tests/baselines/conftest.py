"""Fixtures of the baselines tests: SmolLM2's tokenizer (the checkpoint and the one vLLM server of
the session come from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tokenizer(smollm2_dir):
    from agentgym.baselines.policies.base import load_tokenizer

    return load_tokenizer(str(smollm2_dir))
