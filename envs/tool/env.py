"""`agentgym/ToolUse-v0`: stateful SQLite tool worlds with a simulated user (tau-bench style).

    env = gymnasium.make("agentgym/ToolUse-v0", world="retail")          # or travel, files, None = all
    env = gymnasium.make("agentgym/ToolUse-v0", task="retail-cancel-000")
    env = gymnasium.make("agentgym/ToolUse-v0", user=my_policy)          # LLM-backed user

The agent acts with the world's tools and talks to the user through `respond(message)` or a plain
text reply; the scripted user answers questions and ends the conversation when the agent's message
asks nothing (an LLM user ends it with ###STOP###).

Tasks come from `agentgym.tasks.tool.source:world_tasks` (the generator reads only the seeded
database); the env computes each task's gold state itself, by replaying the task's gold actions on
a fresh world (a task whose gold actions fail is a `TaskError` at reset).

Components. Step scope: `action_valid`, `repeated_action` (core), `tool_name_match`,
`param_name_match`, `param_value_match` (ToolRL-style, each world call scored against the gold
calls not yet performed), `checklist` (CM2-style: the fraction of checklist items — gold actions
performed exactly, required strings said — newly completed this step; sums to at most 1).
Trajectory scope: `outcome` in {success, state_only, reply_only, fail} (tau-bench: the final
database equals the gold replay's, and every required string appears in the agent's replies),
`state_match`, `reply_match`. Success: outcome `success` (pass^k in `agentgym eval` groups by task).
Doing nothing earns `fail`: on a read-only task (gold state = start state) the state counts only
after at least one gold call made exactly, and a task with no required strings gives no
`reply_only` for any reply.

A required string counts as said when it appears as a whole word or value (`matching.reply_matches`:
"6" is not in "16"; "$1,189.50" states "1189.50"), and not when the replies also name more than
three other values of its kind (a list of every candidate count, time or amount is no answer). A
repeated identical call earns its ToolRL credit once; a checklist item is completed once.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import InfrastructureError, TaskError, ToolError
from agentgym.outcome import Outcome
from agentgym.policy import Policy
from agentgym.rewards.components import step_component, trajectory_component
from agentgym.tasks.tool.source import world_tasks
from agentgym.tasks.tool.worlds import WorldTask
from agentgym.tools import ToolCall, ToolResult, Toolset, tool

from .matching import TOOLCALL_COMPONENTS, calls_equal, match_calls, reply_matches, toolcall_scores
from .users import LLMUser, ScriptedUser, make_user
from .worlds import WORLDS, World, make_world

SYSTEM_PROMPT = """You are a customer-service agent for {description}
Use the tools to look up and change records; never guess ids. Talk to the user with the `respond`
tool (or a plain-text reply): ask for the information you need, ask for confirmation when useful,
and when the request is done tell the user the outcome, including the amounts or values they asked
for. The user ends the conversation once you reply without asking anything."""

#: the longest message the user reads: a longer one is refused (an error for the agent) and never
#: reaches the user, so no message can overflow an LLM user's context and void the episode
MAX_USER_MESSAGE_CHARS = 8000

#: gold state hash per (world, db_seed, gold actions): each gold replay runs once per process
_GOLD_HASHES: dict[tuple[str, int, str], str] = {}

def gold_state_hash(task: WorldTask) -> str:
    """The state hash of a fresh world of the task's database after replaying its gold actions."""
    key = (task.world, task.db_seed, json.dumps(task.gold_actions, sort_keys=True))
    if key not in _GOLD_HASHES:
        world = make_world(task.world, task.db_seed)
        try:
            for index, action in enumerate(task.gold_actions):
                try:
                    world.apply(action["name"], action["arguments"])
                except ToolError as exc:
                    raise TaskError(f"task {task.id}: gold action {index} fails: {exc}") from None
            _GOLD_HASHES[key] = world.state_hash()
        finally:
            world.close()
    return _GOLD_HASHES[key]


class ToolUseEnv(AgentEnv[WorldTask]):
    """Retail, travel and file-system worlds with tau-bench-style outcomes."""

    default_reward = Path(__file__).with_name("reward.yaml")
    components = (
        *TOOLCALL_COMPONENTS,
        step_component("checklist", description="CM2: fraction of the checklist newly completed this step"),
        trajectory_component("outcome", labels=("success", "state_only", "reply_only", "fail"),
                             description="tau-bench: gold database state and required reply content"),
        trajectory_component("state_match", description="1 when the final database equals the gold replay's"),
        trajectory_component("reply_match", description="fraction of the required strings said to the user"),
    )
    outcome = Outcome(success=("success",), checklist="checklist")
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
        super().__init__(tasks=world_tasks(world, task, suite_seed), **kwargs)
        self.user_spec = user
        self.world: World | None = None
        self.user: ScriptedUser | LLMUser | None = None
        self.replies: list[str] = []
        self.gold_hash = ""
        self.start_hash = ""
        self._pending_gold: list[int] = []
        self._done_items: set[int] = set()
        self._calls: list[tuple[ToolCall, bool]] = []
        self._scored: set[str] = set()
        self._user_done = False

    # ------------------------------------------------------------------ episode
    def start_episode(self, task: WorldTask, options: dict[str, Any]) -> EpisodeStart:
        self.gold_hash = gold_state_hash(task)
        if self.world is not None:
            self.world.close()
        self.world = make_world(task.world, task.db_seed)
        self.start_hash = self.world.state_hash()
        self.user = make_user(task, options.get("user", self.user_spec))
        self.replies = []
        self._pending_gold = list(range(len(task.gold_actions)))
        self._done_items = set()
        self._calls = []
        self._scored = set()
        self._user_done = False
        system = SYSTEM_PROMPT.format(description=WORLDS[task.world].description)
        return EpisodeStart(task=task, prompt=task.prompt, system_prompt=system)

    def make_tools(self) -> Toolset:
        assert self.world is not None
        return Toolset([*self.world.toolset(), self.respond])

    # ------------------------------------------------------------------ talking to the user
    def _talk(self, message: str) -> str:
        assert self.user is not None
        if len(message) > MAX_USER_MESSAGE_CHARS:
            raise ToolError(f"your message is {len(message)} characters; the user reads at most "
                            f"{MAX_USER_MESSAGE_CHARS}. Nothing was sent.")
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

    def reply_to_text(self, text: str) -> str | None:
        if not text.strip():
            return None
        try:
            return self._talk(text)
        except ToolError as exc:
            return f"Error: {exc}"

    # ------------------------------------------------------------------ process components
    def after_call(self, call: ToolCall, result: ToolResult) -> None:
        if call.name != "respond" and call.name in self.toolset and not result.malformed:
            self._score_call(call, result.ok)

    def _score_call(self, call: ToolCall, ok: bool) -> None:
        assert self.task is not None
        gold = self.task.gold_actions
        pending = [gold[i] for i in self._pending_gold]
        pairs = match_calls([call], pending)
        repeat = call.canonical() in self._scored  # a call made before earns nothing again
        self._scored.add(call.canonical())
        if pairs and not repeat:  # an unmatched call scores 0 on each (the core zero-fills declared components)
            for name, value in toolcall_scores([call], [pending[pairs[0][1]]]).items():
                self.emit(name, value)
        self._calls.append((call, ok))
        if ok and pairs and calls_equal(call, pending[pairs[0][1]]):
            index = self._pending_gold.pop(pairs[0][1])
            self._complete(index)

    def _checklist_size(self) -> int:
        assert self.task is not None
        return len(self.task.gold_actions) + len(self.task.required_outputs)

    def _complete(self, item: int) -> None:
        if item not in self._done_items:
            self._done_items.add(item)
            self.emit("checklist", 1.0 / max(1, self._checklist_size()))

    def _check_required(self) -> None:
        assert self.task is not None
        offset = len(self.task.gold_actions)
        for i, said in enumerate(reply_matches(self.task.required_outputs, "\n".join(self.replies))):
            if said:
                self._complete(offset + i)

    # ------------------------------------------------------------------ outcome
    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        assert self.world is not None and self.task is not None
        state_ok = self.world.state_hash() == self.gold_hash
        required = self.task.required_outputs
        # required strings stated as whole words or values, and not among a list of guesses
        found = sum(reply_matches(required, "\n".join(self.replies)))
        reply_ok = found == len(required)
        # Doing nothing must not climb the ladder. On a read-only task the untouched database is
        # the gold state, so the state counts (state_only, the gate) only when the task changes
        # it or the agent made at least one gold call exactly; a reply counts (reply_only) only
        # when the task asks for content (with none required it is vacuously "said").
        gold_calls = len(self.task.gold_actions)
        state_earned = state_ok and (self.gold_hash != self.start_hash or any(i < gold_calls for i in self._done_items))
        reply_earned = reply_ok and bool(required)
        if state_ok and reply_ok and (state_earned or reply_earned):
            outcome = "success"
        elif state_earned:
            outcome = "state_only"
        elif reply_earned:
            outcome = "reply_only"
        else:
            outcome = "fail"
        return {
            "outcome": outcome,
            "state_match": float(state_ok),
            "reply_match": found / len(required) if required else 1.0,
        }

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {
            "state_match": float(trajectory_components.get("state_match", 0.0)),
            "reply_match": float(trajectory_components.get("reply_match", 0.0)),
            "user_ended": float(self._user_done),
            "tool_calls": float(len(self._calls)),
        }

    # ------------------------------------------------------------------ snapshots
    def save_state(self) -> dict[str, Any]:
        """The world's database (an in-memory copy via SQLite's backup API), the user and the scoring state."""
        assert self.world is not None and self.user is not None
        database = sqlite3.connect(":memory:", check_same_thread=False)
        self.world.db.backup(database)
        return {
            "world": (type(self.world), self.world.seed, database),
            "user": _copy_user(self.user),
            "episode": copy.deepcopy({
                "replies": self.replies, "gold_hash": self.gold_hash, "start_hash": self.start_hash,
                "pending_gold": self._pending_gold, "done_items": self._done_items, "calls": self._calls,
                "scored": self._scored, "user_done": self._user_done,
            }),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        world_class, seed, database = state["world"]
        if self.world is not None:
            self.world.close()
        self.world = world_class(seed)
        database.backup(self.world.db)
        self.user = _copy_user(state["user"])
        episode = copy.deepcopy(state["episode"])
        self.replies, self.gold_hash, self.start_hash = episode["replies"], episode["gold_hash"], episode["start_hash"]
        self._pending_gold, self._done_items = episode["pending_gold"], episode["done_items"]
        self._calls, self._scored, self._user_done = episode["calls"], episode["scored"], episode["user_done"]

    def close(self) -> None:
        # the world stays readable after an episode (inspection); it is freed on the next reset or here
        if self.world is not None:
            self.world.close()
            self.world = None
        super().close()

    # ------------------------------------------------------------------ oracle
    def oracle_actions(self) -> list[str | dict[str, Any] | ToolCall | list[ToolCall]]:
        assert self.task is not None
        task = self.task
        actions: list[str | dict[str, Any] | ToolCall | list[ToolCall]] = []
        for item in task.ask_first:
            actions.append(ToolCall(name="respond", arguments={"message": f"Could you please tell me your {item}?"}))
        for action in task.gold_actions:
            actions.append(ToolCall(name=action["name"], arguments=dict(action["arguments"])))
        final = "Your request is complete."
        if task.required_outputs:
            final += " Details: " + ", ".join(task.required_outputs) + "."
        actions.append(ToolCall(name="respond", arguments={"message": final}))
        return actions


def _copy_user(user: ScriptedUser | LLMUser) -> ScriptedUser | LLMUser:
    """A user in the same state, sharing nothing mutable (an LLM user keeps its policy)."""
    if isinstance(user, LLMUser):
        twin = copy.copy(user)
        twin.messages = copy.deepcopy(user.messages)
        return twin
    return copy.deepcopy(user)
