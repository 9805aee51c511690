"""`agentgym/Remote-v0` behaves like the local env: same records, same reports, replay and
re-execution unchanged, the same errors for the same mistakes."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest
from server_helpers import TOY

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy
from agentgym.errors import TaskError
from agentgym.replay.reexec import reexec_result
from agentgym.rewards import RewardReport
from agentgym.rollout import run_episodes
from agentgym.server.wire import decode, encode
from agentgym.trajectory import TrajectoryWriter, read_trajectories

#: fields that name the run, not the episode's content
RUN_FIELDS = {"episode_id", "env_id", "env_kwargs", "config_hash", "started_at", "duration_s", "run_id"}


def content(record: Any) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    for name in RUN_FIELDS:
        data.pop(name, None)
    for step in data["steps"]:
        step.pop("timing", None)
    data["metrics"].pop("cost_seconds", None)  # wall time spent in the env: differs run to run
    return data


def remote_kwargs(server: Any, transport: str) -> dict[str, Any]:
    return {"url": server.url, "env_id": TOY, "transport": transport}


@pytest.mark.parametrize("transport", ["ws", "http"])
def test_remote_records_equal_local_records(toy_server, transport):
    plan = dict(episodes=3, group_size=2, seed=5)
    local = run_episodes(TOY, RandomPolicy(3), **plan) + run_episodes(TOY, OraclePolicy(), episodes=2, seed=9)
    remote = run_episodes("agentgym/Remote-v0", RandomPolicy(3), env_kwargs=remote_kwargs(toy_server, transport),
                          concurrency=3, **plan)
    remote += run_episodes("agentgym/Remote-v0", OraclePolicy(), episodes=2, seed=9,
                           env_kwargs=remote_kwargs(toy_server, transport))
    assert len(remote) == len(local) == 8
    assert all(r.error is None for r in remote)
    assert any(len(r.steps) > 1 for r in remote) and len({r.report.return_ for r in remote}) > 1
    for ours, theirs in zip(remote, local, strict=True):
        assert isinstance(ours.report, RewardReport)
        assert content(ours) == content(theirs)


def test_remote_records_replay_and_reexecute_unchanged(toy_server, tmp_path):
    kwargs = remote_kwargs(toy_server, "ws")
    records = run_episodes("agentgym/Remote-v0", RandomPolicy(1), episodes=3, seed=2, env_kwargs=kwargs)
    path = tmp_path / "remote.jsonl"
    with TrajectoryWriter(path, fsync=False) as writer:
        for record in records:
            writer.write(record)
    loaded = read_trajectories(path).records
    assert [content(r) for r in loaded] == [content(r) for r in records]
    for record in loaded:
        through_server = reexec_result(record)  # gym.make(record.env_id, **record.env_kwargs, reward=record spec)
        assert through_server.ok, through_server.divergence or through_server.error
        in_process = reexec_result(record, lambda r: gym.make(TOY))
        assert in_process.ok, in_process.divergence or in_process.error
    local = run_episodes(TOY, RandomPolicy(1), episodes=1, seed=4)[0]
    against_server = reexec_result(local, env=gym.make("agentgym/Remote-v0", **kwargs))
    assert against_server.ok, against_server.divergence or against_server.error


def test_remote_env_answers_like_the_local_env(toy_server):
    remote = gym.make("agentgym/Remote-v0", url=toy_server.url, env_id=TOY)
    local = gym.make(TOY)
    try:
        assert remote.unwrapped.reward_spec == local.unwrapped.reward_spec
        assert remote.unwrapped.task_ids() == local.unwrapped.task_ids()
        for env in (remote, local):
            observation, info = env.reset(seed=1, options={"task_id": "toy-2"})
        assert remote.unwrapped.oracle_actions() == [encode(a) for a in local.unwrapped.oracle_actions()]
        message = {"role": "assistant", "content": "",
                   "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "work", "arguments": "{}"}}]}
        assert remote.step(message)[:4] == local.step(message)[:4]
        ours, theirs = remote.unwrapped.truncate("context full"), local.unwrapped.truncate("context full")
        assert ours[:4] == theirs[:4] and ours[4]["report"] == theirs[4]["report"]
        assert ours[4]["truncation_reason"] == "context full"
        with pytest.raises(gym.error.ResetNeeded):  # raised by the served env, re-raised as its own type
            remote.unwrapped.step("submit")
        with pytest.raises(TaskError, match="nope"):
            remote.reset(seed=0, options={"task_id": "nope"})
    finally:
        remote.close()
        local.close()


def test_a_client_for_another_env_id_is_refused(toy_server):
    with pytest.raises(ValueError, match="serves agentgym/StallOrSubmit-v0"):
        gym.make("agentgym/Remote-v0", url=toy_server.url, env_id="agentgym/SomethingElse-v0")


def test_a_client_with_another_reward_spec_gets_an_env_built_with_it(toy_server):
    env = gym.make("agentgym/Remote-v0", url=toy_server.url, env_id=TOY, reward="direct")
    local = gym.make(TOY, reward="direct")
    try:
        assert env.unwrapped.reward_spec == local.unwrapped.reward_spec
        assert env.unwrapped.reward_spec.mode == "direct"
    finally:
        env.close()
        local.close()


def test_wire_round_trip_keeps_models_and_non_finite_floats():
    report = RewardReport.model_validate({"mode": "gated", "return": 1.5, "return_gated": 1.5, "return_direct": 2.0,
                                          "return_outcome": 1.0, "step_rewards": [0.5, 1.0]})
    payload = {"report": report, "spans": [(0, 3)], "x": float("nan"), "inf": float("-inf")}
    import json

    back = decode(json.loads(json.dumps(encode(payload), allow_nan=False)))
    assert back["report"] == report and isinstance(back["report"], RewardReport)
    assert back["spans"] == [[0, 3]] and back["inf"] == float("-inf") and back["x"] != back["x"]
    forged = {"__agentgym_model__": "os:system", "data": {"a": 1}}
    assert decode(forged) == {"a": 1}  # only agentgym's own models are rebuilt
