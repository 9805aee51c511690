"""Record fields every trainer relies on: `end_reason` on every finished record, and the env's
`information_spans` saved on each step."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym

from agentgym import AgentEnv, EpisodeStart, Outcome, Task, TaskSource, tool, trajectory_component
from agentgym.errors import InfrastructureError
from agentgym.policy import PolicyOutput
from agentgym.rollout import run_episode
from agentgym.trajectory import EpisodeRecord, TrajectoryWriter, end_reason_of, read_trajectories


class SpansEnv(AgentEnv[Task]):
    """`search` returns text with one <information> block; `submit` ends; `explode` fails the infra."""

    components = (trajectory_component("success", labels=("success", "failure")),)
    outcome = Outcome(component="success", success=("success",))
    default_max_turns = 2

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            tasks=TaskSource([Task(id="t0", prompt="Search, then submit.")], name="spans"), **kwargs
        )
        self.submitted = False

    def start_episode(self, task: Task, options: dict[str, Any]) -> EpisodeStart:
        self.submitted = False
        return EpisodeStart(task=task, prompt=task.prompt)

    @tool
    def search(self, query: str) -> str:
        """Search."""
        return f"Results for {query}: <information>retrieved text</information> end"

    @tool
    def submit(self) -> str:
        """Hand in."""
        self.submitted = True
        self.finish()
        return "Submitted."

    @tool
    def explode(self) -> str:
        """Infrastructure failure."""
        raise InfrastructureError("sandbox died")

    def end_step(self, observation: str, ending: bool) -> dict[str, Any]:
        start = observation.find("<information>")
        if start < 0:
            return {"information_spans": []}
        end = observation.find("</information>") + len("</information>")
        return {"information_spans": [(start, end)]}

    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        return {"success": "success" if self.submitted else "failure"}


def call(name: str, **arguments: Any) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


class Scripted:
    name = "scripted"

    def __init__(self, *actions: str) -> None:
        self.actions = list(actions)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def act(self, messages, tools) -> PolicyOutput:
        action = self.actions.pop(0)
        if action == "STOP":
            return PolicyOutput.from_text("", finish_reason="context_length", meta={"stop": True})
        if action == "CRASH":
            raise RuntimeError("policy server went away")
        return PolicyOutput.from_text(action)


def play(*actions: str) -> EpisodeRecord:
    env = SpansEnv()
    try:
        return run_episode(env, Scripted(*actions), seed=0, env_id="test/Spans-v0")
    finally:
        env.close()


def test_end_reason_terminated():
    record = play(call("submit"))
    assert record.terminated and record.end_reason == "terminated"


def test_end_reason_turn_limit():
    record = play(call("search", query="a"), call("search", query="b"))
    assert record.truncated and not record.terminated and record.end_reason == "turn_limit"


def test_end_reason_truncated_by_caller():
    record = play(call("search", query="a"), "STOP")
    assert record.end_reason == "truncated_by_caller: policy stopped: context_length"


def test_end_reason_infrastructure_error():
    record = play(call("explode"))
    assert record.reward_invalid and record.end_reason == "infrastructure_error"
    assert "sandbox died" in (record.error or "")


def test_end_reason_crash():
    record = play(call("search", query="a"), "CRASH")
    assert record.reward_invalid and record.end_reason == "crash" and record.error.startswith("crash")


def test_end_reason_of_precedence():
    assert end_reason_of(terminated=True, truncated=True, infrastructure_error="x") == "infrastructure_error"
    assert (
        end_reason_of(terminated=False, truncated=True, truncation_reason="full")
        == "truncated_by_caller: full"
    )
    assert end_reason_of(terminated=False, truncated=False) == "crash"


def test_information_spans_saved_and_round_trip(tmp_path):
    record = play(call("search", query="a"), call("submit"))
    first, second = record.steps
    assert first.information_spans is not None and len(first.information_spans) == 1
    start, end = first.information_spans[0]
    assert first.observation[start:end] == "<information>retrieved text</information>"
    assert second.information_spans == []
    path = tmp_path / "run.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.write(record)
    (loaded,) = read_trajectories(path).records
    assert loaded.steps[0].information_spans == [(start, end)]
    assert loaded.end_reason == "terminated"


def test_env_without_spans_leaves_the_field_unset():
    env = gym.make("agentgym/StallOrSubmit-v0", max_turns=1)
    try:
        record = run_episode(env, Scripted("work"), seed=0)
    finally:
        env.close()
    assert record.steps[0].information_spans is None and record.end_reason == "turn_limit"
