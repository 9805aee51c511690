"""snapshot()/restore() on the core and the toy: exact continuation, independence, errors, replay."""

from __future__ import annotations

from typing import Any

import pytest
from snapshot_helpers import make_toy

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.rewards.components import trajectory_component
from agentgym.snapshot import SnapshotError, restore_env, verify_restore
from agentgym.task import Task, TaskSource
from agentgym.tools import tool


def _continue(env, actions):
    out = []
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(action)
        metrics = {k: v for k, v in (info.get("metrics") or {}).items() if not k.endswith("seconds")}  # wall clock
        out.append((observation, reward, terminated, truncated, info["components"],
                    info.get("trajectory_components"), metrics))
        if terminated or truncated:
            break
    return out


def test_toy_restore_reproduces_the_continuation():
    # pass_prob 0.5: the submit draws from the env's RNG, which the snapshot carries
    original = make_toy(pass_prob=0.5)
    original.reset(seed=3)
    for action in ["work", "noop", "work"]:
        original.step(action)
    snap = original.unwrapped.snapshot()
    assert (snap.mechanism, snap.exact, snap.turn) == ("state", True, 3)
    rest = ["work", "work", "work", "submit"]
    expected = _continue(original, rest)
    assert expected[-1][5]["outcome"] in ("tests_pass", "tests_fail")
    restored = make_toy(pass_prob=0.5)
    observation, info = restore_env(restored, snap)
    assert observation == "Worked. Units of work done: 2."
    assert info["turn"] == 3 and info["snapshot"]["mechanism"] == "state"
    assert _continue(restored, rest) == expected
    assert restored.unwrapped.transcript == original.unwrapped.transcript
    assert restored.unwrapped.last_report.model_dump() == original.unwrapped.last_report.model_dump()


def test_verify_restore_on_the_toy_finds_no_divergence():
    result = verify_restore(lambda: make_toy(pass_prob=0.5), ["work"] * 4 + ["submit"], seed=11, restores=3)
    assert result.divergence is None and result.exact and result.turn == 2


def test_restores_are_independent_and_the_snapshot_does_not_follow_the_original():
    original = make_toy()
    original.reset(seed=0)
    original.step("work")
    snap = original.unwrapped.snapshot()
    original.step("work")
    original.step("work")  # the original goes on: the snapshot must not see it
    envs = [make_toy() for _ in range(3)]
    for env in envs:
        restore_env(env, snap)
    envs[0].step("work")
    envs[0].step("work")
    envs[1].step("noop")
    assert [e.unwrapped.work_done for e in envs] == [3, 1, 1]
    assert [e.unwrapped.turn for e in envs] == [3, 2, 1]
    assert len(envs[2].unwrapped._tracker.steps) == 1
    # restoring the same env again from the snapshot puts it back
    restore_env(envs[0], snap)
    assert envs[0].unwrapped.work_done == 1 and envs[0].unwrapped.turn == 1


def test_restore_with_a_seed_reseeds_the_env_rng():
    original = make_toy(pass_prob=0.5)
    original.reset(seed=5)
    original.step("work")
    snap = original.unwrapped.snapshot()
    draws = set()
    for seed in range(12):
        env = make_toy(pass_prob=0.5)
        restore_env(env, snap, seed=seed)
        draws.add(float(env.unwrapped.np_random.random()))
    assert len(draws) == 12
    same = [make_toy(pass_prob=0.5) for _ in range(2)]
    for env in same:
        restore_env(env, snap)
    assert same[0].unwrapped.np_random.random() == same[1].unwrapped.np_random.random()


def test_snapshot_and_restore_refuse_what_they_cannot_do():
    env = make_toy()
    with pytest.raises(SnapshotError, match="episode in progress"):
        env.unwrapped.snapshot()
    env.reset(seed=0)
    env.step("submit")
    with pytest.raises(SnapshotError, match="episode in progress"):
        env.unwrapped.snapshot()
    env.reset(seed=0)
    snap = env.unwrapped.snapshot()
    with pytest.raises(SnapshotError, match="max_turns"):
        make_toy(max_turns=3).unwrapped.restore(snap)
    with pytest.raises(SnapshotError, match="reward spec"):
        make_toy(reward="direct").unwrapped.restore(snap)


class _CounterTask(Task):
    pass


class _Counter(AgentEnv[_CounterTask]):
    """A family without save_state: restored by replaying the action prefix."""

    components = (trajectory_component("success"),)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(tasks=TaskSource([_CounterTask(id="c", prompt="count")]), **kwargs)
        self.count = 0
        self.resets = 0

    def start_episode(self, task: _CounterTask, options: dict[str, Any]) -> EpisodeStart:
        self.count = 0
        self.resets += 1
        return EpisodeStart(task=task, prompt="count")

    @tool
    def add(self, n: int) -> str:
        """Add n."""
        self.count += n
        return f"count={self.count} draw={self.np_random.integers(1000)}"


def test_a_family_without_state_hooks_is_restored_by_replay():
    call = '<tool_call>{"name": "add", "arguments": {"n": %d}}</tool_call>'
    original = _Counter()
    original.reset(seed=4)
    original.step(call % 2)
    original.step(call % 3)
    snap = original.snapshot()
    assert snap.mechanism == "replay" and snap.replay is not None and len(snap.replay.actions) == 2
    expected = original.step(call % 5)[0]
    twin = _Counter()
    observation, info = twin.restore(snap)
    assert twin.resets == 1 and twin.count == 5 and twin.turn == 2
    assert observation.startswith("count=5")
    assert twin.step(call % 5)[0] == expected

