"""`agentgym/ToolUse-v0`: stateful SQLite tool worlds with a simulated user (tau-bench style).

    env = gymnasium.make("agentgym/ToolUse-v0", world="retail")          # or travel, files, None = all
    env = gymnasium.make("agentgym/ToolUse-v0", task="retail-cancel-000")
    env = gymnasium.make("agentgym/ToolUse-v0", user=my_policy)          # LLM-backed user

The agent acts with the world's tools and talks to the user through `respond(message)` or a plain
text reply; the scripted user answers questions and ends the conversation when the agent's message
asks nothing (an LLM user ends it with ###STOP###).

Components. Step scope: `action_valid`, `repeated_action` (core), `tool_name_match`,
`param_name_match`, `param_value_match` (ToolRL-style, each world call scored against the gold
calls not yet performed), `checklist` (CM2-style: the fraction of checklist items — gold actions
performed exactly, required strings said — newly completed this step; sums to at most 1).
Trajectory scope: `outcome` in {success, state_only, reply_only, fail} (tau-bench: the final
database equals the gold replay's, and every required string appears in the agent's replies),
`state_match`, `reply_match`. Metrics: `success` (pass^k in `agentgym eval` groups by task).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import InfrastructureError, TaskError
from agentgym.policy import Policy
from agentgym.tasks.tool.worlds import WorldTask, generate_tasks
from agentgym.tools import ToolCall, ToolResult, Toolset, tool

from .matching import calls_equal, match_calls, toolcall_scores
from .users import LLMUser, ScriptedUser, make_user
from .worlds import WORLDS, World, make_world

SYSTEM_PROMPT = """You are a customer-service agent for {description}
Use the tools to look up and change records; never guess ids. Talk to the user with the `respond`
tool (or a plain-text reply): ask for the information you need, ask for confirmation when useful,
and when the request is done tell the user the outcome, including the amounts or values they asked
for. The user ends the conversation once you reply without asking anything."""

_GOLD_HASHES: dict[tuple[str, int, str], str] = {}


class ToolUseEnv(AgentEnv):
    """Retail, travel and file-system worlds with tau-bench-style outcomes."""

    default_reward = Path(__file__).with_name("reward.yaml")
    component_bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "checklist": (0.0, 1.0),
        "tool_name_match": (0.0, 1.0),
        "param_name_match": (0.0, 1.0),
        "param_value_match": (0.0, 1.0),
    }
    default_max_turns = 30

    def __init__(
        self,
        *,
        world: str | None = None,
        task: str | list[str] | None = None,
        user: str | Policy | None = "scripted",
        suite_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if world is not None and world not in WORLDS:
            raise ValueError(f"unknown world {world!r}; have {', '.join(WORLDS)}")
        tasks = generate_tasks(world, seed=suite_seed)
        self._tasks: dict[str, WorldTask] = {t.id: t for t in tasks}
        if task is not None:
            wanted = [task] if isinstance(task, str) else list(task)
            missing = [t for t in wanted if t not in self._tasks]
            if missing:
                raise TaskError(f"unknown task id(s) {missing}; e.g. {next(iter(self._tasks))}")
            self._tasks = {t: self._tasks[t] for t in wanted}
        self._ids = list(self._tasks)
        self.user_spec = user
        self.world: World | None = None
        self.user: ScriptedUser | LLMUser | None = None
        self.replies: list[str] = []
        self._pending_gold: list[int] = []
        self._done_items: set[int] = set()
        self._calls: list[tuple[ToolCall, bool]] = []
        self._user_done = False

    # ------------------------------------------------------------------ episode
    def task_ids(self) -> list[str]:
        return list(self._ids)

    def _start_episode(self, task_id: str | None, options: dict[str, Any]) -> EpisodeStart:
        task_id = self._pick_task_id(task_id, self._ids, self._tasks)
        task = self._tasks[task_id]
        if self.world is not None:
            self.world.close()
        self.world = make_world(task.world, task.db_seed)
        self.user = make_user(task, options.get("user", self.user_spec))
        self.replies = []
        self._pending_gold = list(range(len(task.gold_actions)))
        self._done_items = set()
        self._calls = []
        self._user_done = False
        system = SYSTEM_PROMPT.format(description=WORLDS[task.world].description)
        return EpisodeStart(task=task, prompt=task.prompt, system_prompt=system)

    def _tools(self) -> Toolset:
        assert self.world is not None
        return Toolset([*self.world.toolset(), self.respond])

    @property
    def wtask(self) -> WorldTask:
        assert isinstance(self.task, WorldTask)
        return self.task

    # ------------------------------------------------------------------ talking to the user
    def _talk(self, message: str) -> str:
        assert self.user is not None
        self.replies.append(message)
        self._check_required()
        if self._user_done:
            return "The user has left the conversation."
        try:
            answer = self.user.reply(message)
        except Exception as exc:  # the simulated user is infrastructure
            raise InfrastructureError(f"user simulator failed: {type(exc).__name__}: {exc}") from exc
        if answer.done:
            self._user_done = True
            self.finish()
        return f"User: {answer.text}"

    @tool
    def respond(self, message: str) -> str:
        """Send a message to the user and get their answer.

        Args:
            message: what to tell or ask the user.
        """
        return self._talk(message)

    def _on_plain_text(self, text: str) -> str | None:
        if not text.strip():
            return None
        return self._talk(text)

    # ------------------------------------------------------------------ process components
    def _run_call(self, call: ToolCall) -> ToolResult:
        result = super()._run_call(call)
        if call.name != "respond" and call.name in self.toolset and not result.malformed:
            self._score_call(call, result.ok)
        return result

    def _score_call(self, call: ToolCall, ok: bool) -> None:
        gold = self.wtask.gold_actions
        pending = [gold[i] for i in self._pending_gold]
        pairs = match_calls([call], pending)
        scores = toolcall_scores([call], [pending[pairs[0][1]]] if pairs else [])
        if not pairs:
            scores = {"tool_name_match": 0.0, "param_name_match": 0.0, "param_value_match": 0.0}
        for name, value in scores.items():
            self.emit(name, value)
        self._calls.append((call, ok))
        if ok and pairs and calls_equal(call, pending[pairs[0][1]]):
            index = self._pending_gold.pop(pairs[0][1])
            self._complete(index)

    def _checklist_size(self) -> int:
        return len(self.wtask.gold_actions) + len(self.wtask.required_outputs)

    def _complete(self, item: int) -> None:
        if item not in self._done_items:
            self._done_items.add(item)
            self.emit("checklist", 1.0 / max(1, self._checklist_size()))

    def _check_required(self) -> None:
        said = "\n".join(self.replies).lower()
        offset = len(self.wtask.gold_actions)
        for i, text in enumerate(self.wtask.required_outputs):
            if text.lower() in said:
                self._complete(offset + i)

    # ------------------------------------------------------------------ outcome
    def gold_state_hash(self) -> str:
        task = self.wtask
        key = (task.world, task.db_seed, repr(task.gold_actions))
        if key not in _GOLD_HASHES:
            world = make_world(task.world, task.db_seed)
            try:
                for action in task.gold_actions:
                    world.apply(action["name"], action["arguments"])
                _GOLD_HASHES[key] = world.state_hash()
            finally:
                world.close()
        return _GOLD_HASHES[key]

    def _trajectory_components(self, truncated: bool) -> dict[str, float | str]:
        assert self.world is not None
        state_ok = self.world.state_hash() == self.gold_state_hash()
        required = self.wtask.required_outputs
        said = "\n".join(self.replies).lower()
        found = sum(1 for r in required if r.lower() in said)
        reply_ok = found == len(required)
        outcome = "success" if state_ok and reply_ok else "state_only" if state_ok else "reply_only" if reply_ok else "fail"
        return {
            "outcome": outcome,
            "state_match": float(state_ok),
            "reply_match": found / len(required) if required else 1.0,
        }

    def _episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {
            "success": float(trajectory_components.get("outcome") == "success"),
            "state_match": float(trajectory_components.get("state_match", 0.0)),
            "reply_match": float(trajectory_components.get("reply_match", 0.0)),
            "user_ended": float(self._user_done),
            "tool_calls": float(len(self._calls)),
            "turns": float(self.turn),
        }

    def _end_episode(self) -> None:
        pass  # the world stays readable after the episode (inspection); freed on the next reset

    def close(self) -> None:
        if self.world is not None:
            self.world.close()
            self.world = None
        super().close()

    # ------------------------------------------------------------------ oracle
    def oracle_actions(self) -> list[str | dict[str, Any]]:
        task = self.wtask
        actions: list[str | dict[str, Any]] = []
        for item in task.ask_first:
            actions.append(_message("respond", {"message": f"Could you please tell me your {item}?"}))
        for action in task.gold_actions:
            actions.append(_message(action["name"], action["arguments"]))
        final = "Your request is complete."
        if task.required_outputs:
            final += " Details: " + ", ".join(task.required_outputs) + "."
        actions.append(_message("respond", {"message": final}))
        return actions


def _message(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": "", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}
