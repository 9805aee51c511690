import asyncio

import gymnasium as gym
import pytest

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy, ScriptedPolicy
from agentgym.metrics import pass_at_k, pass_hat_k, summarize
from agentgym.rollout import EpisodeJob, arun_episodes, plan_jobs, run_episode, run_episodes
from agentgym.trajectory import read_trajectories

TOY = "agentgym/StallOrSubmit-v0"


def test_oracle_episode_record():
    env = gym.make(TOY)
    record = run_episode(env, OraclePolicy(), seed=3, task_id="toy-2", env_id=TOY)
    assert record.terminated and record.metrics["completed"] == 1.0
    assert [s.action for s in record.steps][-1] == "submit"
    assert record.report is not None and record.reward_spec["name"] == "stall_or_submit"
    assert record.versions["gymnasium"] and len(record.config_hash) == 16
    assert sum(s.reward for s in record.steps) == pytest.approx(record.report.return_)


def test_plan_jobs_groups_share_task_and_vary_seed():
    jobs = plan_jobs(["a", "b", "c"], episodes=2, group_size=3, seed=5)
    assert len(jobs) == 6
    groups = {}
    for job in jobs:
        groups.setdefault(job.group_id, []).append(job)
    assert len(groups) == 2
    for members in groups.values():
        assert len({j.task_id for j in members}) == 1
        assert len({j.seed for j in members}) == 3


def test_grouped_concurrent_rollout_writes_and_resumes(tmp_path):
    out = tmp_path / "run.jsonl"
    records = run_episodes(TOY, RandomPolicy(1), episodes=3, group_size=2, concurrency=3, out=out)
    assert len(records) == 6
    assert len(read_trajectories(out).records) == 6
    # a rerun with more episodes only plays the missing ones
    more = run_episodes(TOY, RandomPolicy(1), episodes=4, group_size=2, concurrency=2, out=out)
    stored = read_trajectories(out).records
    assert len(stored) == 8 and len(more) == 2
    assert len({r.key for r in stored}) == 8
    # another policy writing to the same file does not count as done
    other = run_episodes(TOY, RandomPolicy(2), episodes=1, group_size=2, concurrency=1, out=out)
    assert len(other) == 2
    stored = read_trajectories(out).records[:8]
    summary = summarize(stored)
    assert summary["episodes"] == 8 and "pass@2" in summary and "return_gated" in summary


def test_crashing_policy_is_recorded_not_raised():
    class Boom:
        name = "boom"

        def describe(self):
            return {"name": "boom"}

        def act(self, messages, tools):
            raise RuntimeError("model server went away")

    records = asyncio.run(
        arun_episodes(lambda: gym.make(TOY), Boom(), [EpisodeJob("toy-1", 0)], env_id=TOY, concurrency=1)
    )
    assert records[0].reward_invalid and "model server went away" in records[0].error


def test_scripted_policy_conversation_uses_tool_messages():
    env = gym.make(TOY)
    seen = []

    class Spy(ScriptedPolicy):
        def act(self, messages, tools):
            seen.append([m["role"] for m in messages])
            return super().act(messages, tools)

    run_episode(env, Spy(["work", "nonsense", "submit"]), seed=0, env_id=TOY)
    assert seen[0] == ["system", "user"]
    assert seen[1][-2:] == ["assistant", "tool"]
    assert seen[2][-2:] == ["assistant", "user"]  # invalid action: the error comes back as a user turn


def test_pass_estimators():
    assert pass_at_k(4, 0, 2) == 0.0 and pass_at_k(4, 4, 2) == 1.0
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)


def test_interrupted_run_resumes_without_duplicates(tmp_path):
    out = tmp_path / "run.jsonl"
    done = []

    def interrupt_after_three(record):
        done.append(record)
        if len(done) == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-run

    with pytest.raises(KeyboardInterrupt):
        run_episodes(TOY, RandomPolicy(0), episodes=4, group_size=2, concurrency=1, out=out, on_episode=interrupt_after_three)
    first = read_trajectories(out)
    assert len(first.records) == 3 and not first.problems
    rest = run_episodes(TOY, RandomPolicy(0), episodes=4, group_size=2, concurrency=2, out=out)
    assert len(rest) == 5
    stored = read_trajectories(out).records
    assert len(stored) == 8 and len({r.key for r in stored}) == 8
