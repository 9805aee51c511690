"""Fixtures for the reward-layer tests."""

from __future__ import annotations

import pytest
from _reward_cases import STALL_SPEC

from agentgym.rewards import RewardSpec


@pytest.fixture
def stall_spec() -> RewardSpec:
    return RewardSpec.model_validate(STALL_SPEC)
