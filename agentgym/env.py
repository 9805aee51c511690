"""`AgentEnv`: the Gymnasium base class of every agentgym environment, and its closed step pipeline.

A family writes data and hooks; the core owns the loop. What a family provides:

- `components` (class attribute): every reward component it emits, with bounds or labels;
  `outcome`: which component is the outcome and which labels are success;
- a `TaskSource` passed to `__init__` (`tasks=`), from which the core draws the episode's task;
- hooks, all public and all optional except `start_episode`: `start_episode`, `make_tools` (by
  default the env's `@tool` methods), `parse_text_action` (a text grammar; raise
  `ActionParseError` for a malformed attempt), `reply_to_text`, `no_call_message`, `prepare_call`,
  `after_call`, `end_step`, `score_episode`, `episode_metrics`, `end_episode`, `oracle_actions`,
  `execute`, `declared_components`, `save_state` / `load_state` (snapshots, below).

`snapshot()` / `restore(snapshot)` save and restore an episode in progress (`agentgym.snapshot`):
the core saves its own episode state; a family with `save_state`/`load_state` adds its world,
any other family is restored by replaying the reset and the action prefix. A family whose restore
is not exact says so with `snapshot_exact = False` and `snapshot_caveat`.

One `step` runs this pipeline, in this order, and no family overrides it:

1. parse the action (OpenAI message or text): its reasoning separated first and never executed,
   then tool calls in the env's reply format (`tool_parser=` / `reasoning_parser=`, `agentgym.formats`;
   `<tool_call>` blocks by default); else the family grammar on the text without its reasoning;
2. no call: `reply_to_text` (None makes the action invalid, answered by `no_call_message`);
   calls: for each, `prepare_call` -> size check -> the tool -> `after_call`;
3. `end_step(observation, ending)`: components the family can only compute now (e.g. after the
   last call of the episode) are emitted here, before the reward layer sees the step;
4. the step's components: every declared step component zero-filled, the core's
   `action_valid` / `invalid_action` (1 - action_valid) / `repeated_action`, then whatever the family emitted;
5. the reward tracker records them; at the end `score_episode` gives the trajectory components,
   the spec's judges run live, and the report, `success` and metrics go into `info`.

Bad actions never raise. Infrastructure failures (`InfrastructureError` from a hook, a tool or
grading) end the episode with `info["reward_invalid"] = True`, `truncated=True` and every return
0, so trainers can mask them.
"""

from __future__ import annotations

import copy
import hashlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import gymnasium as gym
from gymnasium.utils import seeding

from agentgym.errors import ActionParseError, InfrastructureError, TaskError
from agentgym.formats import ParserUnavailableError, ReplyFormat
from agentgym.outcome import Outcome
from agentgym.parsing import ParsedAction, parse_action
from agentgym.rewards import RewardReport, RewardSpec, RewardTracker, check_dominance, resolve_spec
from agentgym.rewards.components import (
    Component,
    check_spec_components,
    component_bounds,
    step_component,
    trajectory_component,
)
from agentgym.snapshot import EnvSnapshot, ReplayPrefix, SnapshotError
from agentgym.spaces import MAX_TEXT_CHARS, AnyText
from agentgym.task import Task, TaskSource
from agentgym.terminal import strip_controls
from agentgym.tools import ToolCall, ToolResult, Toolset

ComponentValue = float | str
TaskT = TypeVar("TaskT", bound=Task)
R = TypeVar("R")

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent acting in an environment through tools. Call exactly the tools you need; "
    "reply with tool calls in the format you were given."
)

#: Cost components: emitted by the core for every env, the same way, when the reward spec reads
#: them (so a spec without cost terms leaves every record as it was). Tokens are the completion
#: tokens the policy reports with its message (`usage.completion_tokens`, OpenAI style; 0 when
#: it reports none); seconds are the env's wall-clock for the step (not deterministic: a spec
#: reading them makes `agentgym replay --reexec` differ unless it ignores them).
COST_COMPONENTS: tuple[Component, ...] = (
    step_component("cost_tokens", 0, 32768, "completion tokens the policy reported for this turn"),
    step_component("cost_tool_calls", 0, 64, "tool calls in this turn"),
    step_component("cost_turns", 0, 1, "1 per turn (sums to the number of turns)"),
    step_component("cost_seconds", 0, 3600, "the env's wall-clock seconds for this step"),
    trajectory_component("cost_total_tokens", 0, 1_000_000, description="completion tokens over the episode"),
    trajectory_component("cost_total_tool_calls", 0, 10_000, description="tool calls over the episode"),
    trajectory_component("cost_total_turns", 0, 10_000, description="turns of the episode"),
    trajectory_component("cost_total_seconds", 0, 86_400, description="the env's wall-clock seconds over the episode"),
)
COST_NAMES: frozenset[str] = frozenset(c.name for c in COST_COMPONENTS)

#: Reasoning components: emitted by the core for every env when the reward spec reads them. The
#: reasoning is what the reply format separates before tool calls are read (`agentgym.formats`);
#: it is never action. Tokens are what the policy reports with its message
#: (`usage.completion_tokens_details.reasoning_tokens`, OpenAI style; 0 when it reports none).
REASONING_COMPONENTS: tuple[Component, ...] = (
    step_component("reasoning_chars", 0, MAX_TEXT_CHARS, "characters of reasoning in this turn's reply"),
    step_component("reasoning_tokens", 0, 4 * MAX_TEXT_CHARS, "reasoning tokens the policy reported for this turn"),
)
REASONING_NAMES: frozenset[str] = frozenset(c.name for c in REASONING_COMPONENTS)

#: Step components every env emits, whatever its family (and the cost components, on demand).
CORE_COMPONENTS: tuple[Component, ...] = (
    step_component("action_valid", description="1 when the action parsed and every call was well-formed"),
    step_component("repeated_action", description="1 when the calls repeat the previous step's exactly"),
    step_component(
        "invalid_action",
        description="1 - action_valid: 1 when the action did not parse, a call was malformed, or it called "
        "no tool and the family did not accept it as text (a format error, for penalties)",
    ),
    *COST_COMPONENTS,
    *REASONING_COMPONENTS,
)


def _reported_tokens(action: Any) -> int:
    """Completion tokens a policy reported with its message (`usage.completion_tokens`), or 0."""
    usage = action.get("usage") if isinstance(action, dict) else None
    count = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(count, bool) or not isinstance(count, int | float) or count < 0:
        return 0
    return int(count)


def _reasoning_tokens(action: Any) -> float:
    """Reasoning tokens a policy reported with its message
    (`usage.completion_tokens_details.reasoning_tokens`), or 0."""
    usage = action.get("usage") if isinstance(action, dict) else None
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    count = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if isinstance(count, bool) or not isinstance(count, int | float) or not 0 <= count <= 4 * MAX_TEXT_CHARS:
        return 0.0
    return float(int(count))


class RewardSpecWarning(UserWarning):
    """A reward spec may let lower levels override the outcome (the dominance check)."""


class GrammarErrorWarning(UserWarning):
    """A family's `parse_text_action` raised something other than `ActionParseError` (a family bug)."""


class UndeclaredComponentWarning(UserWarning):
    """A family emitted a component it does not declare (a family bug; `agentgym check` fails it)."""


@dataclass
class EpisodeStart:
    """What `start_episode` returns: the task (possibly specialised, e.g. seeded) and the prompt."""

    task: Task
    prompt: str
    system_prompt: str | None = None


class AgentEnv(gym.Env[str, str], Generic[TaskT]):
    """Base class for multi-turn, tool-using LLM environments (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 0}
    default_reward: ClassVar[RewardSpec | str | Path | dict | None] = None
    #: every reward component the family emits (the core adds CORE_COMPONENTS and spec judges)
    components: ClassVar[tuple[Component, ...]] = ()
    #: how an episode succeeds; None for an env without a notion of success
    outcome: ClassVar[Outcome | None] = None
    default_max_turns: ClassVar[int] = 20
    max_argument_chars: ClassVar[int] = 100_000
    max_observation_chars: ClassVar[int] = 100_000
    #: a restore reproduces the original continuation exactly (False: say why in `snapshot_caveat`)
    snapshot_exact: ClassVar[bool] = True
    snapshot_caveat: ClassVar[str] = ""

    def __init__(
        self,
        *,
        tasks: TaskSource[TaskT] | None = None,
        split: str | None = None,
        max_turns: int | None = None,
        reward: RewardSpec | str | Path | dict | None = None,
        emission: str = "terminal",
        render_mode: str | None = None,
        strict_reward: bool = False,
        judge_models: Any = None,
        tool_parser: str | None = None,
        reasoning_parser: str | None = None,
        parser_tokenizer: Any = None,
    ) -> None:
        try:  # the model's reply format (agentgym.formats): reasoning separated, then calls read
            self.reply_format = ReplyFormat.from_names(tool_parser, reasoning_parser, tokenizer=parser_tokenizer)
        except ParserUnavailableError as exc:
            raise ValueError(str(exc)) from None
        if emission not in ("terminal", "dense"):
            raise ValueError(f"emission must be 'terminal' or 'dense', got {emission!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.max_turns = int(self.default_max_turns if max_turns is None else max_turns)
        if self.max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns!r}")
        self.tasks: TaskSource[TaskT] | None = tasks
        if split is not None and tasks is not None and split not in tasks.splits():
            raise TaskError(f"unknown split {split!r}; splits: {', '.join(tasks.splits())}")
        self.split = split
        default = self.default_reward if self.default_reward is not None else "gated"
        self.reward_spec: RewardSpec = resolve_spec(reward, default=default)
        self.judges = self._build_judges(judge_models)
        self.declared: dict[str, Component] = self.declared_components()
        check_spec_components(self.reward_spec, self.declared, owner=type(self).__name__)
        bounds = component_bounds(self.declared, self.reward_spec)
        for message in check_dominance(self.reward_spec, bounds, self.max_turns, strict=strict_reward):
            warnings.warn(f"{type(self).__name__}: {message}", RewardSpecWarning, stacklevel=2)
        read = set().union(*self.reward_spec.component_names().values())
        self._costs_read = COST_NAMES & read  # cost components are emitted only when the spec reads them
        self._step_zeros = {
            n: 0.0 for n, c in self.declared.items()
            if c.scope == "step" and not c.categorical and (n not in COST_NAMES or n in self._costs_read)
        }  # fmt: skip
        self._cost_totals = dict.fromkeys(("tokens", "tool_calls", "seconds"), 0.0)
        self._reasoning_read = REASONING_NAMES & read  # emitted only when the spec reads them
        for name in REASONING_NAMES - self._reasoning_read:
            self._step_zeros.pop(name, None)
        self.emission = emission
        self.render_mode = render_mode
        self.observation_space = AnyText()
        self.action_space = AnyText()
        self.task: TaskT | None = None
        self.turn = 0
        self.transcript: list[dict[str, Any]] = []
        self.last_report: RewardReport | None = None
        self.last_action: ParsedAction | None = None
        self.last_step_seconds = 0.0
        self.emitted_names: set[str] = set()  # what the family emitted this episode (conformance)
        self.undeclared_emissions: set[str] = set()
        self._active = False
        self._toolset: Toolset | None = None
        self._tools_changed = False
        self._tracker: RewardTracker | None = None
        self._pending: dict[str, ComponentValue] = {}
        self._finish_requested = False
        self._previous_calls: str | None = None
        self._replay_seed: int | None = None  # the reset and actions since: snapshots by replay
        self._replay_options: dict[str, Any] = {}
        self._actions: list[Any] = []
        self._last_observation = ""

    # ================================================================== hooks for families
    def start_episode(self, task: TaskT, options: dict[str, Any]) -> EpisodeStart:
        """Set up the episode for `task` (sandbox, page, world state) and return its prompt."""
        raise NotImplementedError(f"{type(self).__name__} must implement start_episode")  # abstract: every family implements it

    def select_task(self, task_id: str | None, options: dict[str, Any]) -> TaskT:
        """The episode's task: `task_id` from the task source, or one drawn with the episode's
        seeded RNG from `options["split"]` (default: the env's `split`, else every task)."""
        if self.tasks is None:
            raise TaskError(f"{type(self).__name__} has no task source; pass tasks= to AgentEnv.__init__")
        if task_id is not None:
            return self.tasks.get(task_id)
        return self.tasks.sample(self.np_random, options.get("split", self.split))

    def make_tools(self) -> Toolset:
        """The tools of the current episode; by default the env's `@tool` methods."""
        return Toolset.from_object(self)

    def parse_text_action(self, text: str) -> list[ToolCall] | None:
        """A family's own text grammar (e.g. `click("12")`); None when the text is not in it.

        Raise `ActionParseError("...")` for text that attempts an action in the grammar but is
        malformed: the action is invalid and the message is shown to the agent."""
        return None

    def reply_to_text(self, text: str) -> str | None:
        """Observation for an action with no tool call (e.g. a message to a user); None makes
        the action invalid and the agent gets `no_call_message()`."""
        return None

    def no_call_message(self) -> str:
        """The observation for an action that called no tool and was not accepted as text."""
        names = ", ".join(self.toolset.names)
        return (
            "Error: no tool call found in your reply. Call one of the tools ("
            f'{names}) as <tool_call>{{"name": ..., "arguments": {{...}}}}</tool_call>.'
        )

    def prepare_call(self, call: ToolCall) -> ToolCall:
        """A chance to rewrite a parsed call before it runs (e.g. map a sanitised tool name back)."""
        return call

    def after_call(self, call: ToolCall, result: ToolResult) -> None:
        """Called after each tool call with its result; families score calls here with `emit`."""

    def end_step(self, observation: str, ending: bool) -> dict[str, Any] | None:
        """Called once per step after every call ran and before the reward layer sees the step.

        `ending`: the episode ends with this step (finished, or at the turn limit). Components
        that can only be computed now (e.g. a score over all the episode's calls) are emitted
        here. Returns extra `info` keys for this step, or None."""
        return None

    def score_episode(self, truncated: bool) -> dict[str, ComponentValue]:
        """Trajectory-scope components at the end of the episode (the outcome label and others)."""
        return {}

    def episode_metrics(self, trajectory_components: dict[str, ComponentValue]) -> dict[str, float]:
        """Family-specific metrics of a finished episode for `agentgym eval` (the core adds
        `success`, `turns` and the checklist)."""
        return {}

    def end_episode(self) -> None:
        """Release per-episode resources (after the last step, or on the next reset)."""

    def oracle_actions(self) -> list[str | dict[str, Any] | ToolCall | list[ToolCall]] | None:
        """The gold solution of the current episode as actions (text, assistant messages, tool
        calls or lists of them), when the task has one."""
        return None

    def save_state(self) -> Any:
        """The family's episode state for a snapshot (a copy, never a live reference: the episode
        goes on after it). None (the default): no family state, the snapshot restores by replay."""
        return None

    def load_state(self, state: Any) -> None:
        """Put the family back into `state` (from `save_state`) without aliasing it: several envs
        may be restored from one snapshot. Set up whatever `start_episode` would (a world, a page)."""
        raise SnapshotError(f"{type(self).__name__} returns a state from save_state but has no load_state")

    def declared_components(self) -> dict[str, Component]:
        """Every component this env may emit: the core's, the family's `components`, and one per
        judge of the reward spec. Override only when the set depends on the env's configuration."""
        declared = {c.name: c for c in CORE_COMPONENTS}
        declared.update({c.name: c for c in self.components})
        if self.judges is not None:
            declared.update({c.name: c for c in self.judges.components()})
        return declared

    def execute(self, work: Callable[[], R]) -> R:
        """Run one piece of env work (reset, step, close). Override to run it where the env's
        resources live, e.g. on the thread that owns a browser."""
        return work()

    def default_system_prompt(self) -> str:
        return DEFAULT_SYSTEM_PROMPT

    # ================================================================== helpers for families
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

    def refresh_tools(self) -> None:
        """Rebuild the toolset (the tools changed mid-episode); the step's info carries the new list."""
        self._toolset = self.make_tools()
        self._tools_changed = True

    @property
    def toolset(self) -> Toolset:
        if self._toolset is None:
            self._toolset = self.make_tools()
        return self._toolset

    def task_ids(self, split: str | None = None) -> list[str] | None:
        """The ids of this env's tasks (of `split` when given), or None without a task source."""
        return self.tasks.ids(split) if self.tasks is not None else None

    # ================================================================== Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        return self.execute(lambda: self._reset(seed, options))

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return self.execute(lambda: self._step(action))

    def close(self) -> None:
        def work() -> None:
            if self._active:
                self._active = False
                self.end_episode()

        self.execute(work)
        super().close()

    def snapshot(self) -> EnvSnapshot:
        """The current episode's state after `self.turn` turns (see `agentgym.snapshot`)."""
        return self.execute(self._snapshot)

    def restore(self, snapshot: EnvSnapshot, *, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Put this env into `snapshot`'s state; returns (the last observation, info) as `reset` does.

        `seed`: reseed the env's RNG after restoring, so sibling continuations draw different env
        randomness; None keeps the snapshot's RNG state (an exact re-execution)."""
        return self.execute(lambda: self._restore(snapshot, seed))

    def truncate(
        self, reason: str = "truncated by the caller"
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """End the current episode now, as truncated (e.g. the agent's context window is full).

        Returns a step-shaped tuple whose info carries the final report; trajectory components
        are computed as at the turn limit (e.g. outcome "no_submit")."""
        if not self._active or self._tracker is None:
            raise gym.error.ResetNeeded("no episode in progress")

        def work() -> tuple[str, float, bool, bool, dict[str, Any]]:
            info: dict[str, Any] = {
                "components": {}, "action_valid": False, "tool_calls": [], "tool_results": [],
                "turn": self.turn, "truncation_reason": reason,
            }  # fmt: skip
            self.transcript.append({"role": "user", "content": f"[episode truncated: {reason}]"})
            reward = self._finalize(True, None, info)
            return f"Episode truncated: {reason}.", float(reward), False, True, info

        return self.execute(work)

    # ================================================================== the pipeline
    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        if self._active:
            self._active = False
            self.end_episode()
        options = dict(options or {})
        self._replay_seed, self._replay_options, self._actions = seed, copy.deepcopy(options), []
        task_id = options.pop("task_id", None)
        task = self.select_task(task_id, options)
        self.turn = 0
        self.last_report = None
        self.last_action = None
        self._pending = {}
        self._finish_requested = False
        self._previous_calls = None
        self.emitted_names = set()
        start = self.start_episode(task, options)
        self.task = start.task  # type: ignore[assignment]
        self._toolset = self.make_tools()
        self._tools_changed = False
        self._tracker = RewardTracker(self.reward_spec, emission=self.emission, noise_key=f"{start.task.id}/{seed}")
        self._cost_totals = dict.fromkeys(("tokens", "tool_calls", "seconds"), 0.0)
        system_prompt = start.system_prompt or self.default_system_prompt()
        self.transcript = [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": start.prompt},
        ]
        self._active = True
        self._last_observation = start.prompt
        info = {
            "task": start.task.public(),
            "task_id": start.task.id,
            "tools": self._toolset.schemas(),
            "system_prompt": system_prompt,
            "max_turns": self.max_turns,
        }
        return start.prompt, info

    def _step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if not self._active or self._tracker is None:
            raise gym.error.ResetNeeded("call reset() before step(); the episode has ended or never started")
        started = time.perf_counter()
        self._actions.append(_copy_action(action))
        self.turn += 1
        self._pending = {}
        self._finish_requested = False
        parsed = self._parse(action)
        self.last_action = parsed
        results: list[ToolResult] = []
        infra_error: InfrastructureError | None = None
        action_valid = False

        # 1-2. the action: a parse error, plain text, or tool calls
        try:
            if parsed.errors:
                observation = "Error: could not parse your tool call(s): " + "; ".join(parsed.errors)
            elif not parsed.calls:
                reply = self.reply_to_text(parsed.text)
                observation, action_valid = (self.no_call_message(), False) if reply is None else (reply, True)
            else:
                for index, call in enumerate(parsed.calls):
                    if not call.id:
                        call.id = f"call_{self.turn}_{index}"
                    call = self.prepare_call(call)
                    result = self._run_call(call)
                    results.append(result)
                    self.after_call(call, result)
                action_valid = not any(r.malformed for r in results)
                observation = self._join_results(results)
        except InfrastructureError as exc:
            infra_error, observation = exc, ""
        observation = self._clip_observation(observation)

        # 3. late components, before the reward layer sees the step
        ending = infra_error is None and (self._finish_requested or self.turn >= self.max_turns)
        extra_info: dict[str, Any] = {}
        if infra_error is None:
            try:
                extra_info = self.end_step(observation, ending) or {}
            except InfrastructureError as exc:
                infra_error = exc
        if infra_error is not None:
            observation = (
                f"Infrastructure error: {infra_error}. The episode has ended; its reward is marked invalid."
            )

        # 4. the step's components: declared zeros, the core's, the family's
        canonical = "|".join(c.canonical() for c in parsed.calls) if parsed.calls else None
        components: dict[str, ComponentValue] = dict(self._step_zeros)
        components["action_valid"] = float(action_valid)
        components["invalid_action"] = 1.0 - float(action_valid)
        components["repeated_action"] = float(canonical is not None and canonical == self._previous_calls)
        self._add_costs(components, action, len(parsed.calls), time.perf_counter() - started)
        if self._reasoning_read:
            reasoning = {"reasoning_chars": float(len(parsed.reasoning)), "reasoning_tokens": _reasoning_tokens(action)}
            components.update({k: v for k, v in reasoning.items() if k in self._reasoning_read})
        self._note_emitted(self._pending)
        components.update(self._pending)
        self._previous_calls = canonical

        # 5. the reward layer
        reward = self._tracker.step(components)
        terminated = self._finish_requested and infra_error is None
        truncated = infra_error is not None or (not terminated and self.turn >= self.max_turns)
        info: dict[str, Any] = {
            "components": components,
            "action_valid": action_valid,
            "tool_calls": [c.model_dump() for c in parsed.calls],
            "tool_results": [r.model_dump() for r in results],
            "turn": self.turn,
            **extra_info,
        }
        if self._tools_changed:  # the caller's tool list must grow with the env's
            info["tools"] = self.toolset.schemas()
            self._tools_changed = False
        if parsed.reasoning:  # separated before the calls were read; never executed
            info["reasoning"] = parsed.reasoning
        self._record_turn(parsed, results, observation)
        self._last_observation = observation
        if terminated or truncated:
            reward += self._finalize(truncated, infra_error, info)
        self.last_step_seconds = time.perf_counter() - started
        if self.render_mode == "human":
            print(self.render_turn(-1))
        return observation, float(reward), terminated, truncated, info

    def _finalize(
        self, truncated: bool, infra_error: InfrastructureError | None, info: dict[str, Any]
    ) -> float:
        """Trajectory components, live judges and the report; returns the final reward correction."""
        assert self._tracker is not None
        trajectory: dict[str, ComponentValue] = {}
        if infra_error is None:
            try:
                trajectory = dict(self.score_episode(truncated))
                trajectory.update(self._trajectory_costs())
            except InfrastructureError as exc:
                infra_error = exc
        self._note_emitted(trajectory)
        invalid = infra_error is not None
        scored: dict[str, Any] = dict(trajectory)
        judgments: dict[str, Any] = {}
        if self.judges is not None and not invalid:
            judged = self.judges.judge_episode(self.transcript, self.task, self._tracker.n_steps)
            judgments = judged.judgments
            if judged.invalid:
                invalid, infra_error = True, InfrastructureError("judge failed: " + "; ".join(judged.errors))
            else:
                self._tracker.add_step_components(judged.step_components)
                scored.update(judged.trajectory)
        report, correction = self._tracker.finish(scored, reward_invalid=invalid)
        if report.reward_invalid and not invalid:  # a lazy component failed while scoring
            invalid = True
            infra_error = InfrastructureError("; ".join(report.warnings) or "a reward component was unavailable")
        # judges called lazily during scoring have filled `judgments`; record their scores
        trajectory.update({k: v["score"] for k, v in judgments.items() if isinstance(v, dict) and v.get("valid")})
        success = None if invalid or self.outcome is None else self.outcome.is_success(trajectory)
        metrics: dict[str, float] = {}
        if not invalid:
            metrics = {"turns": float(self.turn), **self._cost_metrics()}
            if success is not None:
                metrics["success"] = float(success)
            checklist = self.outcome.checklist if self.outcome is not None else None
            if checklist is not None:
                if checklist in trajectory:
                    metrics["checklist"] = float(trajectory[checklist])
                else:
                    metrics["checklist"] = float(sum(float(s.get(checklist, 0.0)) for s in self._tracker.steps))
            metrics.update(self.episode_metrics(trajectory))
        self.last_report = report
        info.update(
            report=report,
            trajectory_components=trajectory,
            metrics=metrics,
            success=success,
            reward_invalid=invalid,
        )
        if judgments:
            info["judgments"] = judgments
        if invalid:
            info["infrastructure_error"] = str(infra_error)
        self._active = False
        self.end_episode()
        return correction

    # ================================================================== snapshots
    #: the core's per-episode state a snapshot carries (deep-copied); a new per-episode attribute
    #: of the core belongs here, or restored episodes lose it
    _SNAPSHOT_ATTRS: ClassVar[tuple[str, ...]] = (
        "task", "turn", "transcript", "_previous_calls", "emitted_names", "_last_observation", "_cost_totals",
    )

    def _config_key(self) -> str:
        text = f"{self.max_turns}|{self.emission}|{self.reward_spec.model_dump_json()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _snapshot(self) -> EnvSnapshot:
        if not self._active or self._tracker is None:
            raise SnapshotError("snapshot() needs an episode in progress (after reset, before it ends)")
        core = {name: copy.deepcopy(getattr(self, name)) for name in self._SNAPSHOT_ATTRS if hasattr(self, name)}
        core["_tracker"] = _copy_tracker(self._tracker)
        core["np_random"] = copy.deepcopy(self.np_random)
        replay = ReplayPrefix(self._replay_seed, copy.deepcopy(self._replay_options),
                              tuple(_copy_action(a) for a in self._actions))
        family_state = self.save_state()
        return EnvSnapshot(
            env_class=f"{type(self).__module__}:{type(self).__qualname__}",
            config_key=self._config_key(),
            turn=self.turn,
            mechanism="replay" if family_state is None else "state",
            exact=bool(self.snapshot_exact),
            caveat=self.snapshot_caveat,
            core=core,
            family_state=family_state,
            replay=replay,
        )

    def _restore(self, snapshot: EnvSnapshot, seed: int | None) -> tuple[str, dict[str, Any]]:
        here = f"{type(self).__module__}:{type(self).__qualname__}"
        if snapshot.env_class != here:
            raise SnapshotError(f"the snapshot is of {snapshot.env_class}, this env is {here}")
        if snapshot.config_key != self._config_key():
            raise SnapshotError("the snapshot was taken with another max_turns, emission or reward spec")
        assert snapshot.replay is not None
        if snapshot.mechanism == "replay":
            self._reset(snapshot.replay.seed, copy.deepcopy(snapshot.replay.options))
            for turn, action in enumerate(snapshot.replay.actions, 1):
                self._step(_copy_action(action))
                if not self._active:
                    raise SnapshotError(f"replaying the snapshot's actions ended the episode at turn {turn}")
        else:
            if self._active:
                self._active = False
                self.end_episode()
            core = snapshot.core
            self.task = copy.deepcopy(core["task"])  # before load_state: the family may read it
            self.load_state(snapshot.family_state)
            for name in self._SNAPSHOT_ATTRS:
                if name in core:
                    setattr(self, name, copy.deepcopy(core[name]))
            self._tracker = _copy_tracker(core["_tracker"])
            self.np_random = copy.deepcopy(core["np_random"])
            self._replay_seed = snapshot.replay.seed
            self._replay_options = copy.deepcopy(snapshot.replay.options)
            self._actions = [_copy_action(a) for a in snapshot.replay.actions]
            self.last_report, self.last_action = None, None
            self._pending, self._finish_requested = {}, False
            self._toolset = self.make_tools()
            self._tools_changed = False
            self._active = True
        if seed is not None:
            self.np_random, _ = seeding.np_random(seed)
        assert self.task is not None
        info = {
            "task": self.task.public(),
            "task_id": self.task.id,
            "tools": self.toolset.schemas(),
            "system_prompt": self.transcript[0]["content"] if self.transcript else "",
            "max_turns": self.max_turns,
            "turn": self.turn,
            "snapshot": snapshot.describe(),
        }
        return self._last_observation, info

    # ================================================================== costs
    def _add_costs(self, components: dict[str, ComponentValue], action: Any, calls: int, seconds: float) -> None:
        """Count this step's costs; emit the step cost components the spec reads."""
        tokens = _reported_tokens(action)
        totals = self._cost_totals
        totals["tokens"] += tokens
        totals["tool_calls"] += calls
        totals["seconds"] += seconds
        if not self._costs_read:
            return
        step_costs = {"cost_tokens": float(tokens), "cost_tool_calls": float(calls), "cost_turns": 1.0,
                      "cost_seconds": float(seconds)}  # fmt: skip
        components.update({k: v for k, v in step_costs.items() if k in self._costs_read})

    def _trajectory_costs(self) -> dict[str, ComponentValue]:
        """The episode's cost totals the spec reads, as trajectory components."""
        totals = self._cost_totals
        costs = {"cost_total_tokens": totals["tokens"], "cost_total_tool_calls": totals["tool_calls"],
                 "cost_total_turns": float(self.turn), "cost_total_seconds": totals["seconds"]}  # fmt: skip
        return {k: v for k, v in costs.items() if k in self._costs_read}

    def _cost_metrics(self) -> dict[str, float]:
        """Cost metrics of every episode (for `agentgym eval` and the HTML report).

        Wall-clock seconds join them only when the spec reads a seconds cost: `info` must stay a
        function of the seed and the actions (Gymnasium's determinism check, re-execution)."""
        totals = self._cost_totals
        metrics = {"cost_tool_calls": totals["tool_calls"]}
        if {"cost_seconds", "cost_total_seconds"} & self._costs_read:
            metrics["cost_seconds"] = totals["seconds"]
        if totals["tokens"]:
            metrics["cost_tokens"] = totals["tokens"]
        return metrics

    # ================================================================== internals
    def _build_judges(self, models: Any) -> Any:
        if not self.reward_spec.judges:
            return None
        from agentgym.policy import make_judge_model
        from agentgym.rewards.judges import LiveJudges

        judges = LiveJudges(self.reward_spec, resolve=make_judge_model, models=models)
        judges.runner  # noqa: B018  built now: an unresolvable or probe-refused judge is a construction error
        return judges

    def _note_emitted(self, values: dict[str, Any]) -> None:
        for name in values:
            if name not in self.emitted_names:
                self.emitted_names.add(name)
                if name not in self.declared and name not in self.undeclared_emissions:
                    self.undeclared_emissions.add(name)
                    warnings.warn(
                        f"{type(self).__name__} emitted component {name!r}, which it does not declare",
                        UndeclaredComponentWarning,
                        stacklevel=4,
                    )

    def _parse(self, action: Any) -> ParsedAction:
        fmt = self.reply_format
        parsed = parse_action(action, reply_format=fmt, tools=self.toolset.schemas() if fmt.needs_tools else None)
        if not parsed.calls and not parsed.errors and parsed.text:
            try:
                family_calls = self.parse_text_action(parsed.text)
            except ActionParseError as exc:
                parsed.errors.append(str(exc))
                return parsed
            except Exception as exc:  # noqa: BLE001 - a grammar bug must not crash a step: the agent's
                # text was unreadable to it; say so, and warn so the family's tests and checks see it
                warnings.warn(f"{type(self).__name__}.parse_text_action raised {type(exc).__name__}: {exc}",
                              GrammarErrorWarning, stacklevel=4)
                parsed.errors.append(f"your reply could not be read ({type(exc).__name__})")
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

    def _clip_observation(self, observation: str) -> str:
        """Terminal control sequences stripped, then head and tail kept within the limit."""
        observation = strip_controls(observation)
        if len(observation) <= self.max_observation_chars:
            return observation
        half = self.max_observation_chars // 2
        dropped = len(observation) - 2 * half
        return f"{observation[:half]}\n[... {dropped} characters truncated ...]\n{observation[-half:]}"

    @staticmethod
    def _join_results(results: list[ToolResult]) -> str:
        if len(results) == 1:
            return results[0].content
        return "\n\n".join(f"[{r.name}] {r.content}" for r in results)

    def _record_turn(self, parsed: ParsedAction, results: list[ToolResult], observation: str) -> None:
        message: dict[str, Any] = {"role": "assistant", "content": parsed.text}
        if parsed.reasoning:  # kept apart from the content: reasoning is recorded, never action
            message["reasoning_content"] = parsed.reasoning
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

    # ================================================================== inspection
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


def _copy_tracker(tracker: RewardTracker) -> RewardTracker:
    """A reward tracker in the same state sharing nothing mutable (the spec is shared, read-only)."""
    twin = copy.copy(tracker)
    for name, value in vars(tracker).items():
        if name not in ("spec", "compiled"):
            setattr(twin, name, copy.deepcopy(value))
    return twin


def _copy_action(action: Any) -> Any:
    """A copy of an action for the replay prefix; an action too deep or odd to copy is kept as
    given (a bad action never makes a step raise)."""
    try:
        return copy.deepcopy(action)
    except Exception:  # noqa: BLE001 - RecursionError on absurd nesting, TypeError on uncopyable objects
        return action
