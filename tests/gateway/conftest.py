"""Fixtures of the gateway tests: the shared vLLM server (tests/gateway/vllm_fixtures.py)."""

import importlib.util
import sys
from pathlib import Path

_NAME = "agentgym_test_vllm_fixtures"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("vllm_fixtures.py"))
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
