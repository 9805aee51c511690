"""A deliberately broken env registered outside agentgym, for the conformance and `module:id` tests.

`broken/PaysEveryone-v0`: its grader marks every episode a success (so a random policy succeeds as
often as the oracle, and a policy that does nothing succeeds too) and it emits a component it does
not declare. `agentgym check` must fail it on exactly those points ("random fails", "no-op scores
the minimum", "components emitted") and pass the rest.

Imported as a top-level module (`broken_family`, with tests/core on PYTHONPATH), so
`agentgym check broken_family:broken/PaysEveryone-v0` registers it by importing this file.
"""

from __future__ import annotations

from typing import Any

import gymnasium

from agentgym import AgentEnv, EpisodeStart, Outcome, Task, TaskSource, tool, trajectory_component

ENV_ID = "broken/PaysEveryone-v0"


class PaysEveryoneEnv(AgentEnv[Task]):
    """One tool, `submit`; every episode passes, whatever the agent did."""

    # no reward spec of its own: the built-in generic spec, which reads a `success` component
    components = (trajectory_component("success", labels=("success", "failure")),)
    outcome = Outcome(component="success", success=("success",))
    default_max_turns = 3

    def __init__(self, **kwargs: Any) -> None:
        tasks = [Task(id=f"broken-{i}", prompt="Call submit.") for i in range(2)]
        super().__init__(tasks=TaskSource(tasks, name="broken tasks"), **kwargs)

    def start_episode(self, task: Task, options: dict[str, Any]) -> EpisodeStart:
        return EpisodeStart(task=task, prompt=task.prompt)

    @tool
    def submit(self) -> str:
        """Hand in; ends the episode."""
        self.emit("bonus", 1.0)  # the second bug: "bonus" is not declared
        self.finish()
        return "Submitted."

    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        return {"success": "success"}  # the first bug: a grader that pays everyone

    def oracle_actions(self) -> list[str]:
        return ['<tool_call>{"name": "submit", "arguments": {}}</tool_call>']


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point=PaysEveryoneEnv)
