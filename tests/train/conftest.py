"""Shared fixtures for trainer tests: the SmolLM2 tokenizer and a tiny random Llama over it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

MODEL_DIR = Path(os.environ.get("AGENTGYM_HOME", Path.home() / ".cache" / "agentgym")) / "models" / "smollm2"


@pytest.fixture(scope="session")
def tokenizer():
    if not (MODEL_DIR / "tokenizer.json").exists():
        pytest.skip(reason=f"no SmolLM2 tokenizer at {MODEL_DIR}: run `agentgym models fetch smollm2`")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL_DIR)


@pytest.fixture(autouse=True)
def _quiet_dominance_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dominance.*")
        yield


