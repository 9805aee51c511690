"""Restore per family: the same actions after a restore give the same observations and components
as the original continuation (every family), and restores from one snapshot are independent."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest

import agentgym  # noqa: F401
from agentgym.snapshot import restore_env, verify_restore


def _maker(env_id: str, **kwargs):
    def make() -> gym.Env:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gym.make(env_id, **kwargs)

    return make


def _oracle(make, seed: int = 0, task_id: str | None = None) -> tuple[list, dict]:
    env = make()
    try:
        options = {"task_id": task_id} if task_id else {}
        _, info = env.reset(seed=seed, options=options)
        return list(env.unwrapped.oracle_actions()), {"task_id": info["task_id"]}
    finally:
        env.close()


@pytest.mark.parametrize("world", ["retail", "files"])
def test_tool_world_restore_reproduces(world):
    make = _maker("agentgym/ToolUse-v0", world=world)
    actions, options = _oracle(make)
    assert len(actions) >= 3
    for turn in (1, len(actions) - 1):
        result = verify_restore(make, actions, seed=0, options=options, turn=turn)
        assert result.mechanism == "state" and result.exact
        assert result.divergence is None, result.divergence


def test_tool_world_restores_are_independent_databases():
    make = _maker("agentgym/ToolUse-v0", world="retail")
    actions, options = _oracle(make)
    env = make()
    env.reset(seed=0, options=options)
    env.step(actions[0])
    snap = env.unwrapped.snapshot()
    start_hash = env.unwrapped.world.state_hash()
    for action in actions[1:]:
        env.step(action)
    assert env.unwrapped.world.state_hash() != start_hash  # the oracle changed the database
    twins = [make(), make()]
    for twin in twins:
        restore_env(twin, snap)
    assert [t.unwrapped.world.state_hash() for t in twins] == [start_hash, start_hash]
    for action in actions[1:]:
        twins[0].step(action)
    assert twins[0].unwrapped.world.state_hash() == env.unwrapped.world.state_hash()
    assert twins[1].unwrapped.world.state_hash() == start_hash  # untouched by its sibling
    assert twins[1].unwrapped.world.db is not twins[0].unwrapped.world.db
    for e in (env, *twins):
        e.close()


def test_search_restore_reproduces():
    make = _maker("agentgym/SearchQA-v0", n_docs=400, n_questions=40, world_seed=2)
    actions, options = _oracle(make, seed=1)
    result = verify_restore(make, actions, seed=1, options=options, turn=1, restores=3)
    assert result.mechanism == "state" and result.divergence is None, result.divergence
    # independence: a search in one restore is not seen by another
    env = make()
    env.reset(seed=1, options=options)
    env.step(actions[0])
    snap = env.unwrapped.snapshot()
    twins = [make(), make()]
    for twin in twins:
        restore_env(twin, snap)
    twins[0].step("<search>another query entirely</search>")
    assert twins[0].unwrapped.n_searches == twins[1].unwrapped.n_searches + 1
    assert twins[1].unwrapped.queries == env.unwrapped.queries
    for e in (env, *twins):
        e.close()


def test_web_restore_by_replay_reproduces():
    from agentgym.envs.web.browser import find_chromium

    try:
        find_chromium()
    except Exception:  # noqa: BLE001
        pytest.skip(reason="Chromium is not installed (apt-get install chromium)")
    make = _maker("agentgym/Web-v0", suite="shop")
    actions, options = _oracle(make)
    assert len(actions) >= 2
    result = verify_restore(make, actions, seed=0, options=options, turn=len(actions) // 2)
    assert result.mechanism == "replay"
    assert result.divergence is None, result.divergence
