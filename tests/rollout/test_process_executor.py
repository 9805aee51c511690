"""The process executor plays the same episodes as the local executor, and loses none when a
worker process dies mid-run; the direct path and per-job envs of the rollout engine."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import time

import gymnasium as gym
import pytest

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy
from agentgym.rollout import CallSite, EpisodeJob, plan_jobs, run_episode, run_episodes, run_jobs
from agentgym.trajectory import read_trajectories

TOY = "agentgym/StallOrSubmit-v0"
TOOL = "agentgym/ToolUse-v0"
VOLATILE = {"episode_id", "started_at", "duration_s", "timing"}


def comparable(record) -> dict:
    """A record without what differs between two plays of the same episode (ids, clocks)."""
    data = record.model_dump(mode="json")
    for key in VOLATILE:
        data.pop(key, None)
    for step in data["steps"]:
        step.pop("timing", None)
    data.get("policy", {}).pop("traceback", None)
    data["metrics"] = {k: v for k, v in data["metrics"].items() if not k.endswith("seconds")}  # clocks
    return data


def test_process_executor_records_match_local(tmp_path):
    local_out, process_out = tmp_path / "local.jsonl", tmp_path / "process.jsonl"
    kwargs = dict(episodes=4, group_size=2, seed=7, run_id="same")
    local = run_episodes(TOY, RandomPolicy(3), concurrency=2, out=local_out, **kwargs)
    process = run_episodes(TOY, RandomPolicy(3), concurrency=2, out=process_out, executor="process", **kwargs)
    assert len(process) == 8 and len(read_trajectories(process_out).records) == 8
    assert [comparable(r) for r in process] == [comparable(r) for r in local]
    # written as they finished, the same set of episodes
    stored = read_trajectories(process_out).records
    assert sorted(comparable(r)["seed"] for r in stored) == sorted(r.seed for r in local)
    # a rerun has nothing left to play; a larger plan plays only the new episodes
    assert (
        run_episodes(TOY, RandomPolicy(3), concurrency=2, out=process_out, executor="process", **kwargs) == []
    )
    more = run_episodes(
        TOY, RandomPolicy(3), concurrency=2, out=process_out, executor="process", **{**kwargs, "episodes": 5}
    )
    assert len(more) == 2 and len({r.key for r in read_trajectories(process_out).records}) == 10


def test_process_executor_oracle_tool_episodes_match_local():
    kwargs = dict(episodes=4, seed=1, run_id="r")
    local = run_episodes(TOOL, OraclePolicy(), **kwargs)
    process = run_episodes(TOOL, OraclePolicy(), concurrency=2, executor="process", **kwargs)
    assert [comparable(r) for r in process] == [comparable(r) for r in local]
    assert all(r.success for r in process)


class SlowRandom(RandomPolicy):
    """A random policy slow enough (20 ms a turn) that a worker can be killed mid-episode."""

    def for_episode(self, seed):
        policy = SlowRandom(seed)
        return policy

    def act(self, messages, tools):
        time.sleep(0.02)
        return super().act(messages, tools)


def test_killed_worker_loses_no_episode_and_writes_none_twice(tmp_path):
    out = tmp_path / "run.jsonl"
    killed: list[int] = []

    def kill_a_worker(record):
        if not killed:
            workers = [p for p in multiprocessing.active_children() if p.name == "agentgym-episode-worker"]
            assert workers, "no worker process to kill"
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    records = run_episodes(
        TOY,
        SlowRandom(5),
        episodes=6,
        group_size=2,
        concurrency=2,
        out=out,
        executor="process",
        on_episode=kill_a_worker,
        run_id="k",
    )
    assert killed
    stored = read_trajectories(out).records
    assert len(records) == 12 and len(stored) == 12
    assert len({r.key for r in stored}) == 12  # every planned episode once: none lost, none twice
    assert not any(r.error for r in stored)
    local = run_episodes(TOY, SlowRandom(5), episodes=6, group_size=2, concurrency=1, run_id="k")
    assert sorted(map(str, (comparable(r) for r in stored))) == sorted(
        map(str, (comparable(r) for r in local))
    )


def test_a_job_that_keeps_killing_its_worker_is_recorded_as_infrastructure_error():
    class KillsItsProcess(RandomPolicy):
        def for_episode(self, seed):
            return KillsItsProcess(seed)

        def act(self, messages, tools):
            if self.seed == 2 and multiprocessing.parent_process() is not None:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().act(messages, tools)

    records = run_episodes(TOY, KillsItsProcess(0), episodes=4, concurrency=2, executor="process")
    assert len(records) == 4
    failed = [r for r in records if r.error]
    assert [r.seed for r in failed] == [2]
    assert failed[0].end_reason == "infrastructure_error" and failed[0].reward_invalid


def test_direct_path_matches_the_plain_loop_and_async_engine():
    direct = run_episodes(TOY, RandomPolicy(9), episodes=3, group_size=2, seed=4, concurrency=1, run_id="d")
    threaded = run_episodes(TOY, RandomPolicy(9), episodes=3, group_size=2, seed=4, concurrency=3, run_id="d")
    env = gym.make(TOY)
    loop = [
        run_episode(
            env,
            RandomPolicy(9),
            seed=r.seed,
            task_id=r.task_id,
            group_id=r.group_id,
            sample_index=r.sample_index,
            env_id=TOY,
            run_id="d",
        )
        for r in direct
    ]
    env.close()
    assert len(direct) == 6
    assert [comparable(r) for r in direct] == [comparable(r) for r in loop]
    assert [comparable(r) for r in threaded] == [comparable(r) for r in loop]


@pytest.mark.parametrize("executor,concurrency", [("local", 1), ("local", 3), ("process", 2)])
def test_jobs_may_each_name_their_env(tmp_path, executor, concurrency):
    toy = [
        dataclasses.replace(j, env_id=TOY, env_kwargs={"max_turns": 3})
        for j in plan_jobs(None, episodes=2, seed=0)
    ]
    tool = [dataclasses.replace(j, env_id=TOOL) for j in plan_jobs(None, episodes=2, seed=0)]
    out = tmp_path / "mix.jsonl"
    records = run_jobs(toy + tool, OraclePolicy(), concurrency=concurrency, executor=executor, out=out)
    assert [r.env_id for r in records] == [TOY, TOY, TOOL, TOOL]
    assert records[0].env_kwargs == {"max_turns": 3} and records[2].env_kwargs == {}
    assert all(r.success for r in records[2:])
    # resume matches each job against its own env's records
    assert run_jobs(toy + tool, OraclePolicy(), concurrency=concurrency, executor=executor, out=out) == []
    with pytest.raises(ValueError, match="every job must name its env"):
        run_jobs([EpisodeJob(None, 0)], OraclePolicy())


def test_call_site_goes_inline_for_fast_calls_and_back_for_a_slow_one():
    import asyncio

    site = CallSite()

    async def calls():
        for _ in range(CallSite.FAST_CALLS):
            await site.call(lambda: None)
        fast = site.inline
        await site.call(time.sleep, CallSite.SLOW_S * 2)
        return fast

    assert asyncio.run(calls()) is True
    assert not site.inline and site.slow
