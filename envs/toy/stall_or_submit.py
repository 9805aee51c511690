"""StallOrSubmit: the toy of the G-RA paper that shows why ungated step rewards collapse completion.

Actions: `work` (progress on the task), `noop` (nothing), `submit` (ends the episode). A step
critic pays `critic_reward` for work *and*, misaligned, for noop. Submitting passes with
probability `pass_prob` once the task's hidden amount of work is done, otherwise fails. With the
default numbers, under D-RA (direct) stalling to the turn cap earns c*T while submitting at the
last turn earns c*(T-1) + E[outcome] < c*T, so a learner stops submitting; under G-RA (gated) a
run that never submits earns nothing, so a learner submits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.outcome import Outcome
from agentgym.rewards.components import Component, step_component, trajectory_component
from agentgym.tasks.toy.source import ToyTask, toy_tasks
from agentgym.tools import ToolCall, tool

_BARE_ACTION = re.compile(r"^\s*(work|noop|submit)\s*(\(\s*\))?\s*\.?\s*$", re.IGNORECASE)


class StallOrSubmitEnv(AgentEnv[ToyTask]):
    """A three-action env whose critic can be farmed by stalling."""

    default_reward = Path(__file__).with_name("reward.yaml")
    components = (
        step_component("critic", description="the step critic's payment (for work and, misaligned, noop)"),
        trajectory_component("outcome", labels=("tests_pass", "tests_fail", "no_submit")),
        trajectory_component("work_done", 0.0, 1e6, description="units of work done"),
    )
    outcome = Outcome(success=("tests_pass",))
    default_max_turns = 20

    def __init__(
        self,
        *,
        critic_reward: float = 1.0,
        pass_prob: float = 0.3,
        num_tasks: int = 100,
        max_work_needed: int = 5,
        **kwargs: Any,
    ) -> None:
        self.critic_reward = float(critic_reward)
        self.pass_prob = float(pass_prob)
        super().__init__(tasks=toy_tasks(num_tasks, max_work_needed), **kwargs)
        self.work_done = 0
        self.submitted = False
        self.passed = False

    def declared_components(self) -> dict[str, Component]:
        declared = super().declared_components()
        declared["critic"] = step_component("critic", min(0.0, self.critic_reward), max(0.0, self.critic_reward))
        return declared

    def start_episode(self, task: ToyTask, options: dict[str, Any]) -> EpisodeStart:
        self.work_done = 0
        self.submitted = False
        self.passed = False
        return EpisodeStart(task=task, prompt=task.prompt)

    def save_state(self) -> dict[str, Any]:
        return {"work_done": self.work_done, "submitted": self.submitted, "passed": self.passed}

    def load_state(self, state: dict[str, Any]) -> None:
        self.work_done, self.submitted, self.passed = state["work_done"], state["submitted"], state["passed"]

    @tool
    def work(self) -> str:
        """Do one unit of work on the task."""
        self.work_done += 1
        self.emit("critic", self.critic_reward)
        return f"Worked. Units of work done: {self.work_done}."

    @tool
    def noop(self) -> str:
        """Do nothing this turn."""
        self.emit("critic", self.critic_reward)  # the misaligned part of the critic
        return "Nothing happened."

    @tool
    def submit(self) -> str:
        """Hand in the task; ends the episode."""
        assert self.task is not None
        self.submitted = True
        ready = self.work_done >= self.task.work_needed
        self.passed = ready and bool(self.np_random.random() < self.pass_prob)
        self.finish()
        return "Submitted: tests pass." if self.passed else "Submitted: tests fail."

    def parse_text_action(self, text: str) -> list[ToolCall] | None:
        match = _BARE_ACTION.match(text)
        return [ToolCall(name=match.group(1).lower())] if match else None

    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        if not self.submitted:
            outcome = "no_submit"
        else:
            outcome = "tests_pass" if self.passed else "tests_fail"
        return {"outcome": outcome, "work_done": float(self.work_done)}

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {"completed": float(self.submitted)}

    def oracle_actions(self) -> list[str | dict[str, Any]]:
        assert self.task is not None
        return ["work"] * self.task.work_needed + ["submit"]
