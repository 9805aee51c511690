from __future__ import annotations

import gymnasium as gym
import pytest

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy, ScriptedPolicy
from agentgym.rollout import run_episode, run_episodes
from agentgym.trajectory import TrajectoryWriter

TOY = "agentgym/StallOrSubmit-v0"


@pytest.fixture(scope="session")
def toy_records():
    """Random-policy toy episodes (several seeds, groups of 2) plus oracle and stalling ones."""
    records = run_episodes(TOY, RandomPolicy(7), episodes=4, group_size=2, seed=3)
    records += run_episodes(TOY, OraclePolicy(), episodes=2, seed=11)
    env = gym.make(TOY, max_turns=5)
    try:
        records.append(
            run_episode(
                env,
                ScriptedPolicy(["noop"]),
                seed=5,
                task_id="toy-4",
                env_id=TOY,
                env_kwargs={"max_turns": 5},
            )
        )
    finally:
        env.close()
    return records


@pytest.fixture()
def toy_file(tmp_path, toy_records):
    path = tmp_path / "toy.jsonl"
    with TrajectoryWriter(path, fsync=False) as writer:
        for record in toy_records:
            writer.write(record)
    return path
