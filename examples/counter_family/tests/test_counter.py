"""Tests of the counter family (run: pytest examples/counter_family/tests)."""

from __future__ import annotations

import warnings

import agentgym  # noqa: F401  (registers the installed families, this one included)
import gymnasium as gym
import pytest
from agentgym.conformance import check_conformance
from agentgym.env import RewardSpecWarning

from agentgym_counter.tasks import counter_tasks

ENV_ID = "counter/ReachTarget-v0"


def test_tasks_are_deterministic_and_split():
    a, b = counter_tasks(), counter_tasks()
    assert [t.model_dump() for t in a] == [t.model_dump() for t in b]
    train, test = a.ids("train"), a.ids("test")
    assert train and test and not set(train) & set(test) and len(train) + len(test) == len(a)
    assert counter_tasks(num_tasks=80).ids("test")[: len(test)] == test  # a growing suite keeps its test ids


def test_solution_is_hidden_and_reaches_the_target():
    for task in counter_tasks():
        assert "solution" not in task.public()
        value = task.start
        for name, n in task.solution:
            value = value + n if name == "add" else value * n
        assert value == task.target and len(task.solution) <= task.budget


@pytest.mark.parametrize(
    "text, calls",
    [
        ("add 3", [("add", {"n": 3})]),
        ("Multiply(2)", [("multiply", {"n": 2})]),
        ("add 3; multiply 2\nsubmit", [("add", {"n": 3}), ("multiply", {"n": 2}), ("submit", {})]),
    ],
)
def test_text_grammar(text, calls):
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    assert [(c.name, c.arguments) for c in env.unwrapped.parse_text_action(text)] == calls


def test_malformed_command_is_an_invalid_action_and_prose_is_not_a_command():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("add three")
    assert not info["action_valid"] and "cannot read 'add three'" in obs and not terminated
    obs, *_, info = env.step("I think I should add something")
    assert not info["action_valid"] and obs.startswith("Error: no command found")


def test_gated_spec_passes_the_dominance_check_and_direct_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RewardSpecWarning)
        gym.make(ENV_ID, strict_reward=True)  # raises if any process reward could reverse an outcome
    with pytest.warns(RewardSpecWarning, match="dominance"):
        gym.make(ENV_ID, reward="direct")  # ungated: wrong vs no_submit (gap 0.1) is reversible


def test_stalling_earns_nothing_under_gating():
    env = gym.make(ENV_ID, max_turns=3)
    _, info = env.reset(seed=0, options={"task_id": "counter-022"})
    for action in ("add 1", "add 1", "add 1"):
        _, reward, terminated, truncated, info = env.step(action)
    assert truncated and info["trajectory_components"]["outcome"] == "no_submit"
    assert info["report"].return_gated == 0.0 and info["report"].return_direct > 0.0


def test_conformance():
    report = check_conformance(ENV_ID)
    assert report.passed, [f"{c.name}: {c.detail}" for c in report.failures()]
