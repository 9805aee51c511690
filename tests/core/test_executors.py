"""The Ray executor (envs as actors on a local Ray cluster) and policy-requested truncation."""

import gymnasium as gym
import pytest

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy
from agentgym.policy import PolicyOutput
from agentgym.rollout import run_episode, run_episodes
from agentgym.trajectory import read_trajectories

TOY = "agentgym/StallOrSubmit-v0"


@pytest.mark.slow
def test_ray_executor_runs_8_episodes_like_local(tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray.jsonl"
        remote = run_episodes(TOY, RandomPolicy(3), episodes=4, group_size=2, concurrency=2, out=out, executor="ray")
        local = run_episodes(TOY, RandomPolicy(3), episodes=4, group_size=2, concurrency=1)
        oracle = run_episodes(TOY, OraclePolicy(), episodes=2, concurrency=2, executor="ray")
    finally:
        ray.shutdown()
    assert len(remote) == 8 and len(read_trajectories(out).records) == 8
    assert all(r.report is not None and not r.reward_invalid for r in remote)
    # same jobs, same seeds: the Ray actors reproduce the local episodes
    assert [r.task_id for r in remote] == [r.task_id for r in local]
    assert [r.report.return_ for r in remote] == [r.report.return_ for r in local]
    assert all(r.metrics["completed"] == 1.0 for r in oracle)


def test_policy_stop_truncates_with_a_report():
    class FullContext:
        name = "full"

        def __init__(self):
            self.turns = 0

        def describe(self):
            return {"name": self.name}

        def act(self, messages, tools):
            self.turns += 1
            if self.turns == 3:
                return PolicyOutput.from_text("", finish_reason="context_length", meta={"stop": True})
            return PolicyOutput.from_text("work")

    env = gym.make(TOY)
    record = run_episode(env, FullContext(), seed=0, env_id=TOY)
    assert record.truncated and not record.terminated and len(record.steps) == 2
    assert record.end_reason == "truncated_by_caller: policy stopped: context_length"
    assert record.trajectory_components["outcome"] == "no_submit"
    assert record.report is not None and len(record.report.step_rewards) == 2
