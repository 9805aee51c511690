"""`AgentEnv`: the Gymnasium base class of every agentgym environment.

A family implements a few hooks (`_start_episode`, its `@tool` methods, `_trajectory_components`)
and gets the rest here: action parsing (raw text or OpenAI assistant messages), argument
validation with explanatory error observations, step components (`action_valid`,
`repeated_action` plus whatever tools `emit`), the turn limit, the reward layer (gated by default),
the episode's reward report, the transcript and `render()`.

Bad actions never raise. Infrastructure failures (`InfrastructureError` from a tool or from
grading) end the episode with `info["reward_invalid"] = True`, `truncated=True` and every return 0,
so trainers can mask them.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym

from agentgym.errors import ActionParseError, InfrastructureError, TaskError
from agentgym.parsing import ParsedAction, parse_action
from agentgym.rewards import RewardReport, RewardSpec, RewardTracker, check_dominance, resolve_spec
from agentgym.spaces import AnyText
from agentgym.task import Task
from agentgym.tools import ToolCall, ToolResult, Toolset

ComponentValue = float | str
DEFAULT_SYSTEM_PROMPT = (
    "You are an agent acting in an environment through tools. Call exactly the tools you need; "
    "reply with tool calls in the format you were given."
)


class RewardSpecWarning(UserWarning):
    """A reward spec may let lower levels override the outcome (see RESEARCH.md §1)."""


@dataclass
class EpisodeStart:
    """What `_start_episode` returns: the task and the first observation."""

    task: Task
    prompt: str
    system_prompt: str | None = None


class AgentEnv(gym.Env[str, str]):
    """Base class for multi-turn, tool-using LLM environments (see DESIGN.md)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 0}
    default_reward: ClassVar[RewardSpec | str | Path | dict | None] = None
    component_bounds: ClassVar[dict[str, tuple[float, float]]] = {}
    default_max_turns: ClassVar[int] = 20
    max_argument_chars: ClassVar[int] = 100_000
    max_observation_chars: ClassVar[int] = 100_000

    def __init__(
        self,
        *,
        max_turns: int | None = None,
        reward: RewardSpec | str | Path | dict | None = None,
        emission: str = "terminal",
        render_mode: str | None = None,
        strict_reward: bool = False,
    ) -> None:
        if emission not in ("terminal", "dense"):
            raise ValueError(f"emission must be 'terminal' or 'dense', got {emission!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.max_turns = int(max_turns or self.default_max_turns)
        if self.max_turns < 1:
            raise ValueError("max_turns must be >= 1")
        default = self.default_reward if self.default_reward is not None else "gated"
        self.reward_spec: RewardSpec = resolve_spec(reward, default=default)
        bounds = {
            name: (0.0, 1.0) for name in getattr(self.reward_spec, "judges", None) or {}
        }  # judges score in [0, 1]
        bounds.update(self.component_bounds)
        for message in check_dominance(self.reward_spec, bounds, self.max_turns, strict=strict_reward):
            warnings.warn(f"{type(self).__name__}: {message}", RewardSpecWarning, stacklevel=2)
        self.emission = emission
        self.render_mode = render_mode
        self.observation_space = AnyText()
        self.action_space = AnyText()
        self.task: Task | None = None
        self.turn = 0
        self.transcript: list[dict[str, Any]] = []
        self.last_report: RewardReport | None = None
        self.last_step_seconds = 0.0
        self._active = False
        self._toolset: Toolset | None = None
        self._tracker: RewardTracker | None = None
        self._pending: dict[str, ComponentValue] = {}
        self._finish_requested = False
        self._previous_calls: str | None = None

    # ------------------------------------------------------------------ hooks for families
    def _start_episode(self, task_id: str | None, options: dict[str, Any]) -> EpisodeStart:
        """Pick (with `self.np_random` when `task_id` is None) and set up a task."""
        raise NotImplementedError  # abstract: every family implements it

    def _tools(self) -> Toolset:
        """The tools of the current episode; by default the env's `@tool` methods."""
        return Toolset.from_object(self)

    def _parse_text_action(self, text: str) -> list[ToolCall] | None:
        """A family's own text grammar (e.g. `click("12")`); None when it does not apply.

        Raise `ActionParseError("...")` for text that is an attempted action in the grammar but
        malformed: the action is invalid and the message is shown to the agent."""
        return None

    def _on_plain_text(self, text: str) -> str | None:
        """Reply to an action with no tool call; None makes it an invalid action."""
        return None

    def _trajectory_components(self, truncated: bool) -> dict[str, ComponentValue]:
        """Trajectory-scope components at the end of the episode (e.g. the outcome label)."""
        return {}

    def _episode_metrics(self, trajectory_components: dict[str, ComponentValue]) -> dict[str, float]:
        """Per-episode metrics for `agentgym eval` (success, resolved, completed, ...)."""
        return {}

    def _end_episode(self) -> None:
        """Release per-episode resources (after the last step, or on the next reset)."""

    def task_ids(self) -> list[str] | None:
        """The ids of this env's tasks, when it has a fixed list (used for grouped sampling)."""
        return None

    def oracle_actions(self) -> list[str | dict[str, Any]] | None:
        """The gold solution of the current episode as a list of actions, if the task has one."""
        return None

    # ------------------------------------------------------------------ helpers for families
    def _pick_task_id(self, task_id: str | None, ids: Sequence[str], known: Container[str] | None = None,
                      hint: str = "") -> str:
        """The requested task id, or one drawn from `ids` with the episode's seeded RNG (so the
        same seed gives the same task). An id not in `known` (default: `ids`) is a `TaskError`."""
        if task_id is None:
            return ids[int(self.np_random.integers(len(ids)))]
        if task_id not in (ids if known is None else known):
            raise TaskError(f"unknown task id {task_id!r}" + (f" ({hint})" if hint else ""))
        return task_id

    # ------------------------------------------------------------------ helpers for tools
    def emit(self, name: str, value: ComponentValue) -> None:
        """Record a step-scope reward component for the current step (summed if emitted twice)."""
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, int | float) and isinstance(self._pending.get(name), int | float):
            self._pending[name] = float(self._pending[name]) + float(value)
        else:
            self._pending[name] = value if isinstance(value, str) else float(value)

    def finish(self) -> None:
        """End the episode after this step (the agent submitted or answered)."""
        self._finish_requested = True

    @property
    def toolset(self) -> Toolset:
        if self._toolset is None:
            self._toolset = self._tools()
        return self._toolset

    def default_system_prompt(self) -> str:
        return DEFAULT_SYSTEM_PROMPT

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        if self._active:
            self._end_episode()
        options = dict(options or {})
        task_id = options.pop("task_id", None)
        self._active = False
        start = self._start_episode(task_id, options)
        self.task = start.task
        self.turn = 0
        self.last_report = None
        self._pending = {}
        self._finish_requested = False
        self._previous_calls = None
        self._toolset = self._tools()
        self._tracker = RewardTracker(self.reward_spec, emission=self.emission)
        system_prompt = start.system_prompt or self.default_system_prompt()
        self.transcript = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": start.prompt},
        ]
        self._active = True
        info = {
            "task": start.task.public(),
            "task_id": start.task.id,
            "tools": self._toolset.schemas(),
            "system_prompt": system_prompt,
            "max_turns": self.max_turns,
        }
        return start.prompt, info

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not self._active or self._tracker is None:
            raise gym.error.ResetNeeded("call reset() before step(); the episode has ended or never started")
        started = time.perf_counter()
        self.turn += 1
        self._pending = {}
        self._finish_requested = False
        parsed = self._parse(action)
        results: list[ToolResult] = []
        infra_error: InfrastructureError | None = None
        action_valid = False

        if parsed.errors:
            observation = "Error: could not parse your tool call(s): " + "; ".join(parsed.errors)
        elif not parsed.calls:
            try:
                reply = self._on_plain_text(parsed.text)
            except InfrastructureError as exc:
                infra_error, reply = exc, None
            if reply is None:
                observation = self._no_call_message()
            else:
                observation, action_valid = reply, True
        else:
            for index, call in enumerate(parsed.calls):
                if not call.id:
                    call.id = f"call_{self.turn}_{index}"
                try:
                    results.append(self._run_call(call))
                except InfrastructureError as exc:
                    infra_error = exc
                    break
            action_valid = not any(r.malformed for r in results)
            observation = self._join_results(results)

        if infra_error is not None:
            observation = (
                f"Infrastructure error: {infra_error}. The episode has ended; its reward is marked invalid."
            )

        canonical = "|".join(c.canonical() for c in parsed.calls) if parsed.calls else None
        components: dict[str, ComponentValue] = {
            "action_valid": float(action_valid),
            "repeated_action": float(canonical is not None and canonical == self._previous_calls),
        }
        components.update(self._pending)
        self._previous_calls = canonical

        if len(observation) > self.max_observation_chars:
            half = self.max_observation_chars // 2
            dropped = len(observation) - 2 * half
            observation = (
                f"{observation[:half]}\n[... {dropped} characters truncated ...]\n{observation[-half:]}"
            )

        reward = self._tracker.step(components)
        terminated = self._finish_requested and infra_error is None
        truncated = infra_error is not None or (not terminated and self.turn >= self.max_turns)
        info: dict[str, Any] = {
            "components": components,
            "action_valid": action_valid,
            "tool_calls": [c.model_dump() for c in parsed.calls],
            "tool_results": [r.model_dump() for r in results],
            "turn": self.turn,
        }
        self._record_turn(parsed, results, observation)

        if terminated or truncated:
            reward += self._finalize(truncated, infra_error, info)
        self.last_step_seconds = time.perf_counter() - started
        if self.render_mode == "human":
            print(self.render_turn(-1))
        return observation, float(reward), terminated, truncated, info

    def truncate(
        self, reason: str = "truncated by the caller"
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """End the current episode now, as truncated (e.g. the agent's context window is full).

        Returns a step-shaped tuple whose info carries the final report; trajectory components
        are computed as at the turn limit (e.g. outcome "no_submit")."""
        if not self._active or self._tracker is None:
            raise gym.error.ResetNeeded("no episode in progress")
        info: dict[str, Any] = {
            "components": {},
            "action_valid": False,
            "tool_calls": [],
            "tool_results": [],
            "turn": self.turn,
            "truncation_reason": reason,
        }
        self.transcript.append({"role": "user", "content": f"[episode truncated: {reason}]"})
        reward = self._finalize(True, None, info)
        return f"Episode truncated: {reason}.", float(reward), False, True, info

    def _finalize(
        self, truncated: bool, infra_error: InfrastructureError | None, info: dict[str, Any]
    ) -> float:
        """Compute trajectory components and the report; returns the final reward correction."""
        assert self._tracker is not None
        trajectory: dict[str, ComponentValue] = {}
        if infra_error is None:
            try:
                trajectory = self._trajectory_components(truncated)
            except InfrastructureError as exc:
                infra_error = exc
        invalid = infra_error is not None
        report, correction = self._tracker.finish(trajectory, reward_invalid=invalid)
        if (
            report.reward_invalid and not invalid
        ):  # a component failed at scoring time (e.g. a judge timed out)
            invalid = True
            infra_error = InfrastructureError(
                "; ".join(report.warnings) or "a reward component was unavailable"
            )
        metrics = {} if invalid else self._episode_metrics(trajectory)
        self.last_report = report
        info.update(
            report=report,
            trajectory_components=trajectory,
            metrics=metrics,
            reward_invalid=invalid,
        )
        if invalid:
            info["infrastructure_error"] = str(infra_error)
        self._active = False
        self._end_episode()
        return correction

    def _parse(self, action: Any) -> ParsedAction:
        parsed = parse_action(action)
        if not parsed.calls and not parsed.errors and parsed.text:
            try:
                family_calls = self._parse_text_action(parsed.text)
            except ActionParseError as exc:
                parsed.errors.append(str(exc))
                return parsed
            if family_calls:
                parsed.calls = family_calls
        return parsed

    def _run_call(self, call: ToolCall) -> ToolResult:
        size = len(str(call.arguments))
        if size > self.max_argument_chars:
            return ToolResult(
                content=f"Error: arguments of '{call.name}' are {size} characters; the limit is "
                f"{self.max_argument_chars}.",
                ok=False,
                error_kind="oversize",
                name=call.name,
                tool_call_id=call.id,
            )
        return self.toolset.call(call)

    def _no_call_message(self) -> str:
        names = ", ".join(self.toolset.names)
        return (
            "Error: no tool call found in your reply. Call one of the tools ("
            f'{names}) as <tool_call>{{"name": ..., "arguments": {{...}}}}</tool_call>.'
        )

    @staticmethod
    def _join_results(results: list[ToolResult]) -> str:
        if len(results) == 1:
            return results[0].content
        return "\n\n".join(f"[{r.name}] {r.content}" for r in results)

    def _record_turn(self, parsed: ParsedAction, results: list[ToolResult], observation: str) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": parsed.text}
        if parsed.calls:
            message["tool_calls"] = [c.to_openai() for c in parsed.calls]
        self.transcript.append(message)
        if results and len(results) == len(parsed.calls):
            for r in results:
                self.transcript.append(
                    {"role": "tool", "tool_call_id": r.tool_call_id, "name": r.name, "content": r.content}
                )
        else:
            self.transcript.append({"role": "user", "content": observation})

    # ------------------------------------------------------------------ inspection
    def render(self) -> str | None:
        text = "\n".join(self.render_turn(i) for i in range(len(self.transcript)))
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def render_turn(self, index: int) -> str:
        message = self.transcript[index]
        role = message["role"]
        body = message.get("content") or ""
        for call in message.get("tool_calls", []):
            body += f"\n  -> {call['function']['name']}({call['function']['arguments']})"
        return f"[{role}] {body}"

    def close(self) -> None:
        if self._active:
            self._active = False
            self._end_episode()
        super().close()
