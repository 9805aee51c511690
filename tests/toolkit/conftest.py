"""Fixtures for the reward-design toolkit tests: the SmolLM2 tokenizer (the trainer's policy tests
use a tiny random model over it)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

MODEL_DIR = Path(os.environ.get("AGENTGYM_HOME", Path.home() / ".cache" / "agentgym")) / "models" / "smollm2"


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    if not (MODEL_DIR / "tokenizer.json").exists() or not (MODEL_DIR / "config.json").exists():
        pytest.skip(reason=f"no SmolLM2 at {MODEL_DIR}: run `agentgym models fetch smollm2`")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return MODEL_DIR


@pytest.fixture(scope="session")
def tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(autouse=True)
def _quiet_dominance_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dominance.*")
        yield
