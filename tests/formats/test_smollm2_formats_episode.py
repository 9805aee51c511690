"""End to end: SmolLM2 (transformers, in-process) plays a short episode under two parser settings,
and the records name the parsers, keep the exact sampled ids, say each turn's layout, and never
execute what the reply format calls reasoning."""

from __future__ import annotations

import importlib.util
import warnings

import gymnasium as gym
import pytest

import agentgym  # noqa: F401 - registers the envs
from agentgym.baselines.agent.drift import loss_mask
from agentgym.policy import make_policy
from agentgym.rollout import run_episode

SETTINGS = {
    # vLLM's Hermes class with SmolLM2's tokenizer (the built-in format when vLLM is not installed)
    "hermes": "tool_parser=hermes",
    # DeepSeek-R1's rule: the template opened the reasoning, so a reply without `</think>` is all reasoning
    "pythonic+deepseek_r1": "tool_parser=builtin:pythonic&reasoning_parser=builtin:deepseek_r1",
}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_smollm2_episode_under_a_parser_setting(smollm2_path, setting):
    policy = make_policy(f"hf:{smollm2_path}?max_tokens=16&temperature=0&{SETTINGS[setting]}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0", max_turns=2)
    try:
        record = run_episode(env, policy, seed=0, catch=False)
    finally:
        env.close()
    formats = record.policy["formats"]
    if setting == "hermes":
        expected = "vllm:hermes" if importlib.util.find_spec("vllm") is not None else "builtin:hermes"
        assert formats == {"tool_parser": expected, "reasoning_parser": "builtin:think"}
    else:
        assert formats == {"tool_parser": "builtin:pythonic", "reasoning_parser": "builtin:deepseek_r1"}
    assert len(record.steps) == 2 and record.error is None
    assert [s.policy_meta["layout"] for s in record.steps][0] == "start"
    assert record.steps[1].policy_meta["layout"] in ("extends", "restarts")
    for step in record.steps:
        tokens = step.tokens
        assert tokens is not None and tokens.completion_token_ids and len(tokens.logprobs) == len(
            tokens.completion_token_ids)
        usage = step.message["usage"]
        assert usage["completion_tokens"] == len(tokens.completion_token_ids)
        if setting != "hermes":  # no `</think>` from this model: every reply is reasoning, nothing runs
            assert "</think>" not in step.message.get("reasoning_content", "") + step.message["content"]
            assert step.message["content"] == "" and step.tool_calls == [] and not step.action_valid
            assert step.message["reasoning_content"]
            (start, end), = step.policy_meta["reasoning"]["token_spans"]
            assert start == 0 and end >= len(tokens.completion_token_ids) - 1  # all but the end-of-turn token
            assert usage["completion_tokens_details"]["reasoning_tokens"] == end - start
    turns = [(s.tokens.prompt_token_ids, s.tokens.completion_token_ids) for s in record.steps]
    sequences = loss_mask(turns)
    sampled = [i for ids, mask in sequences for i, m in zip(ids, mask, strict=True) if m]
    assert sampled == [i for _, completion in turns for i in completion]
    assert len(sequences) == (1 if record.steps[1].policy_meta["layout"] == "extends" else 2)
