"""Fixtures of the harness tests: the vLLM server shared with tests/gateway, Docker."""

import importlib.util
import sys
from pathlib import Path

import pytest

_NAME = "agentgym_test_vllm_fixtures"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        _NAME, Path(__file__).parents[1] / "gateway" / "vllm_fixtures.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])


@pytest.fixture(scope="session")
def docker_or_skip():
    from agentgym.sandbox.docker_backend import docker_unavailable_reason

    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason=reason)


@pytest.fixture(scope="session")
def harness_or_skip():
    if importlib.util.find_spec("minisweagent") is None:
        pytest.skip(reason="mini-swe-agent is not installed (pip install 'agentgym[harness]')")
