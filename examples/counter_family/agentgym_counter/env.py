"""CounterEnv: reach the target number with add(n) / multiply(n), then submit, within a budget.

Written against agentgym's public hooks only (see `agentgym.env`): the core parses actions, runs
the tools, zero-fills the declared step components, feeds the reward layer and stamps success.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agentgym import (
    AgentEnv,
    EpisodeStart,
    Outcome,
    ToolCall,
    ToolError,
    ToolResult,
    step_component,
    tool,
    trajectory_component,
)
from agentgym.errors import ActionParseError

from agentgym_counter.tasks import ADD_RANGE, MULTIPLY_RANGE, CounterTask, counter_tasks

# the text grammar: "add 3", "multiply(2)", "submit", several separated by ';' or new lines
_VERB = re.compile(r"^\s*(add|multiply|submit)\b", re.IGNORECASE)
_COMMAND = re.compile(
    r"^(?:(add|multiply)(?:\s*\(\s*(-?\d{1,9})\s*\)|\s+(-?\d{1,9}))|(submit)(?:\s*\(\s*\))?)$", re.IGNORECASE
)


class CounterEnv(AgentEnv[CounterTask]):
    """Reach `task.target` from `task.start` with at most `task.budget` operations, then submit."""

    default_reward = Path(__file__).with_name("reward.yaml")
    components = (
        step_component("closer", description="1 when an operation moved the counter closer to the target"),
        step_component("op_error", description="1 when an operation was refused (bad n, budget spent)"),
        trajectory_component("outcome", labels=("reached", "wrong", "no_submit")),
        trajectory_component("closeness", description="1 - |target - final| / (target - start), at least 0"),
    )
    outcome = Outcome(component="outcome", success=("reached",), checklist="closeness")
    default_max_turns = 10

    def __init__(
        self, *, num_tasks: int = 60, max_ops: int = 4, slack: int = 1, suite_seed: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(tasks=counter_tasks(num_tasks, max_ops, slack, suite_seed), **kwargs)
        self.value = 0
        self.ops_used = 0
        self.submitted = False
        self.last_move: tuple[int, int] | None = None

    # ------------------------------------------------------------------ episode
    def start_episode(self, task: CounterTask, options: dict[str, Any]) -> EpisodeStart:
        self.value = task.start
        self.ops_used = 0
        self.submitted = False
        self.last_move = None
        return EpisodeStart(task=task, prompt=task.prompt)

    # ------------------------------------------------------------------ tools
    @tool
    def add(self, n: int) -> str:
        """Add n to the counter.

        Args:
            n: the number to add, from 1 to 9.
        """
        return self._apply("add", n, ADD_RANGE, self.value + n)

    @tool
    def multiply(self, n: int) -> str:
        """Multiply the counter by n.

        Args:
            n: the factor, from 2 to 5.
        """
        return self._apply("multiply", n, MULTIPLY_RANGE, self.value * n)

    @tool
    def submit(self) -> str:
        """Hand in the counter's current value; ends the episode."""
        assert self.task is not None
        self.submitted = True
        self.finish()
        return f"Submitted {self.value} (target {self.task.target})."

    def _apply(self, name: str, n: int, allowed: tuple[int, int], new_value: int) -> str:
        assert self.task is not None
        if self.submitted:
            raise ToolError("the counter was already submitted")
        if not allowed[0] <= n <= allowed[1]:
            raise ToolError(f"{name}(n) needs {allowed[0]} <= n <= {allowed[1]}, got {n}")
        if self.ops_used >= self.task.budget:
            raise ToolError(f"the budget of {self.task.budget} operations is spent; call submit")
        self.last_move = (self.value, new_value)
        self.value = new_value
        self.ops_used += 1
        left = self.task.budget - self.ops_used
        return f"Counter: {self.value} (target {self.task.target}; {left} operation(s) left)."

    # ------------------------------------------------------------------ hooks
    def parse_text_action(self, text: str) -> list[ToolCall] | None:
        """`add 3`, `multiply(2)`, `submit`; several separated by ';' or new lines. Text that does
        not start with a command is not in the grammar (None); a malformed command raises."""
        if not _VERB.match(text):
            return None
        calls = []
        for part in re.split(r"[;\n]", text):
            part = part.strip().rstrip(".").strip()
            if not part:
                continue
            match = _COMMAND.match(part)
            if match is None:
                raise ActionParseError(f"cannot read {part!r}: write e.g. 'add 3', 'multiply 2' or 'submit'")
            if match.group(4):
                calls.append(ToolCall(name="submit"))
            else:
                n = int(match.group(2) or match.group(3))
                calls.append(ToolCall(name=match.group(1).lower(), arguments={"n": n}))
        return calls

    def no_call_message(self) -> str:
        return "Error: no command found. Write e.g. 'add 3', 'multiply 2' or 'submit', or call a tool."

    def after_call(self, call: ToolCall, result: ToolResult) -> None:
        """Score each operation: closer to the target, or refused."""
        assert self.task is not None
        if call.name not in ("add", "multiply"):
            return
        if not result.ok:
            self.emit("op_error", 1.0)
        elif self.last_move is not None:
            before, after = self.last_move
            self.emit("closer", float(abs(self.task.target - after) < abs(self.task.target - before)))

    def end_step(self, observation: str, ending: bool) -> dict[str, Any] | None:
        """Put the counter's state in every step's info (for logs and viewers)."""
        assert self.task is not None
        return {"counter": self.value, "operations_left": self.task.budget - self.ops_used}

    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        assert self.task is not None
        if not self.submitted:
            outcome = "no_submit"
        else:
            outcome = "reached" if self.value == self.task.target else "wrong"
        span = max(1, self.task.target - self.task.start)
        closeness = max(0.0, 1.0 - abs(self.task.target - self.value) / span)
        return {"outcome": outcome, "closeness": closeness}

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {"operations_used": float(self.ops_used)}

    def oracle_actions(self) -> list[ToolCall]:
        assert self.task is not None
        calls = [ToolCall(name=name, arguments={"n": n}) for name, n in self.task.solution]
        return [*calls, ToolCall(name="submit")]
