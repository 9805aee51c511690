"""`agentgym/MCP-v0`: a tool env whose tools come from MCP servers started over stdio.

    env = gymnasium.make("agentgym/MCP-v0",
                         servers=[{"command": "mcp-server-git", "args": ["--repository", "/tmp/repo"]}],
                         tasks=[{"id": "log", "prompt": "What is the last commit message of /tmp/repo?",
                                 "gold_calls": [{"name": "git_log", "arguments": {"repo_path": "/tmp/repo"}}],
                                 "required_outputs": ["initial commit"]}])
    obs, info = env.reset()                       # info["tools"]: the servers' tools, OpenAI schema
    env.reset(options={"prompt": "..."})          # free-form session (also the mode without tasks)
    env = gymnasium.make("agentgym/MCP-v0", suite="files")   # built-in tasks for the default server

The agent calls the servers' tools; a reply without a tool call is its final answer and ends the
episode. A server that dies (or hangs past `call_timeout`) ends the episode with
`info["reward_invalid"] = True`; the next `reset` restarts the servers. The default server is
agentgym's own file-system world (`agentgym mcp serve files`, database seed 0); the `files` suite
holds that world's generated tasks, and restarts the server every episode (its tasks change the
world's state).

A task succeeds when the final answer states every required string (as a whole word or value, not
among a list of guesses: `matching.reply_matches`) and, unless `require_calls` is false, every gold
call ran without error. For the built-in `files` suite on the default server the final state of the
world must also equal the gold calls' (the env runs every successful call on a local copy of the
world): gold calls undone, or made beside writes nobody asked for, do not pass.

Components: step `action_valid`, `repeated_action`, `tool_ok` (the call ran without a tool error),
and with a task's `gold_calls` the ToolRL-style `tool_name_match` / `param_name_match` /
`param_value_match` and the CM2-style `checklist`. Trajectory: `outcome` in {success, fail,
no_answer} (tasks only; success is `success`), `answered`. An env without tasks has no outcome
(`outcome` is None: its episodes have no success), and its default spec rewards step components only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError, ToolError
from agentgym.outcome import Outcome
from agentgym.rewards.components import step_component, trajectory_component
from agentgym.tasks.tool.mcp import FREE_FORM_ID, MCPTask, free_form_task
from agentgym.tasks.tool.source import mcp_tasks
from agentgym.tools import ToolCall, ToolResult, Toolset

from .matching import TOOLCALL_COMPONENTS, calls_equal, match_calls, reply_matches, toolcall_scores
from .worlds import WORLDS, World, make_world

HERE = Path(__file__).parent
SYSTEM_PROMPT = ("You are an agent with tools served by MCP servers. Call the tools you need; when you are done, "
                 "reply with your final answer in plain text (no tool call).")


def default_servers() -> list[dict[str, Any]]:
    """agentgym's own file-system world served over MCP (needs only the `mcp` package)."""
    return [{"command": sys.executable, "args": ["-m", "agentgym.envs.tool.cli", "serve", "files"],
             "name": "agentgym-files"}]


class MCPEnv(AgentEnv[MCPTask]):
    """Tools from MCP servers; optional tasks with gold calls and required answer content."""

    default_reward = HERE / "mcp_reward.yaml"
    free_form_reward = HERE / "mcp_free_form_reward.yaml"
    components = (
        step_component("tool_ok", description="1 when the call ran without a tool error"),
        *TOOLCALL_COMPONENTS,
        step_component("checklist", description="CM2: fraction of the gold calls / required strings newly done"),
        trajectory_component("outcome", labels=("success", "fail", "no_answer"),
                             description="tasks: the answer holds the required strings and every gold call ran"),
        trajectory_component("answered", description="1 when the agent gave a final answer"),
    )
    outcome = Outcome(success=("success",), checklist="checklist")
    default_max_turns = 20

    def __init__(
        self,
        *,
        servers: Sequence[Mapping[str, Any]] | None = None,
        tasks: Sequence[Mapping[str, Any] | MCPTask] | str | Path | None = None,
        suite: str | None = None,
        restart_per_episode: bool | None = None,
        prefix_names: bool = False,
        start_timeout: float = 60.0,
        call_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        source = mcp_tasks(tasks, suite)
        if source is None:
            self.outcome = None  # free-form sessions only: nothing decides success
            if kwargs.get("reward") is None:
                kwargs["reward"] = self.free_form_reward
        super().__init__(tasks=source, **kwargs)
        self.servers = [dict(s) for s in (servers or default_servers())]
        self.restart_per_episode = suite is not None if restart_per_episode is None else restart_per_episode
        self.prefix_names = prefix_names
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.client: Any = None
        self._pending_gold: list[int] = []
        self._done_items: set[int] = set()
        self._scored: set[str] = set()
        self.final_answer: str | None = None
        self._shadow: World | None = None  # a local copy of the served world (see `_mirrored_world`)
        self._shadow_ok = True
        self._gold_hash = ""

    # ------------------------------------------------------------------ servers
    def _ensure_client(self) -> None:
        from agentgym.mcp.client import MCPClient

        if self.client is not None and (self.restart_per_episode or not self.client.alive()):
            self.client.close()
            self.client = None
        if self.client is None:
            self.client = MCPClient(self.servers, start_timeout=self.start_timeout, call_timeout=self.call_timeout,
                                    prefix_names=self.prefix_names)

    def select_task(self, task_id: str | None, options: dict[str, Any]) -> MCPTask:
        """A task of the task list, or a free-form session: `options["prompt"]`, or any reset of an
        env without tasks."""
        prompt = options.get("prompt")
        if prompt is None and self.tasks is not None:
            return super().select_task(task_id, options)
        if task_id is not None:
            why = "this MCP env has no tasks" if self.tasks is None else "a free-form prompt was given"
            raise TaskError(f"unknown task id {task_id!r}: {why}")
        return free_form_task(prompt)

    def start_episode(self, task: MCPTask, options: dict[str, Any]) -> EpisodeStart:
        self._ensure_client()
        self._pending_gold = list(range(len(task.gold_calls)))
        self._done_items = set()
        self._scored = set()
        self.final_answer = None
        self._start_shadow(task)
        return EpisodeStart(task=task, prompt=task.prompt, system_prompt=options.get("system_prompt", SYSTEM_PROMPT))

    def make_tools(self) -> Toolset:
        return self.client.toolset()

    # ------------------------------------------------------------------ the served world's state
    def _mirrored_world(self, task: MCPTask) -> str | None:
        """The world a task's outcome also checks the state of: a built-in suite task (its
        metadata names the world) played on the default server, which serves that world fresh
        every episode under its own tool names. Every call the server runs without error is run on
        a local copy too (same code, same seed), so the final state is known: gold calls made and
        then undone, or made beside other writes, do not pass."""
        world = task.metadata.get("world")
        if (world == "files" and world in WORLDS and self.servers == default_servers()
                and self.restart_per_episode and not self.prefix_names):
            return world
        return None

    def _start_shadow(self, task: MCPTask) -> None:
        if self._shadow is not None:
            self._shadow.close()
            self._shadow = None
        self._shadow_ok = True
        world = self._mirrored_world(task)
        if world is None:
            return
        self._gold_hash = _gold_hash(world, task)
        self._shadow = make_world(world, 0)  # the default server's seed

    # ------------------------------------------------------------------ steps
    def after_call(self, call: ToolCall, result: ToolResult) -> None:
        assert self.task is not None
        if not result.malformed:
            self.emit("tool_ok", float(result.ok))
            if self.task.gold_calls:
                self._score(call, result.ok)
            if self._shadow is not None and result.ok and not self._shadow.toolset().call(call).ok:
                self._shadow_ok = False  # the copy disagrees with the server: the state is unknown

    def _score(self, call: ToolCall, ok: bool) -> None:
        assert self.task is not None
        gold = self.task.gold_calls
        pending = [gold[i] for i in self._pending_gold]
        pairs = match_calls([call], pending)
        repeat = call.canonical() in self._scored  # a call made before earns nothing again
        self._scored.add(call.canonical())
        if pairs and not repeat:  # an unmatched call scores 0 on each (the core zero-fills declared components)
            for name, value in toolcall_scores([call], [pending[pairs[0][1]]]).items():
                self.emit(name, value)
        if ok and pairs and calls_equal(call, pending[pairs[0][1]]):
            self._complete(self._pending_gold.pop(pairs[0][1]))

    def _complete(self, item: int) -> None:
        assert self.task is not None
        if item not in self._done_items:
            self._done_items.add(item)
            total = len(self.task.gold_calls) + len(self.task.required_outputs)
            self.emit("checklist", 1.0 / max(1, total))

    def reply_to_text(self, text: str) -> str | None:
        assert self.task is not None
        if not text.strip():
            return None
        self.final_answer = text
        offset = len(self.task.gold_calls)
        for i, said in enumerate(reply_matches(self.task.required_outputs, text)):
            if said:
                self._complete(offset + i)
        self.finish()
        return "Final answer received."

    # ------------------------------------------------------------------ outcome
    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        assert self.task is not None
        task = self.task
        if task.id == FREE_FORM_ID and not task.gold_calls and not task.required_outputs:
            return {"answered": float(self.final_answer is not None)}
        if self.final_answer is None:
            return {"outcome": "no_answer", "answered": 0.0}
        # the required strings stated (whole words or values, not among a list of guesses)
        replies_ok = all(reply_matches(task.required_outputs, self.final_answer))
        calls_ok = not task.require_calls or not self._pending_gold
        state_ok = self._shadow is None or (self._shadow_ok and self._shadow.state_hash() == self._gold_hash)
        success = replies_ok and calls_ok and state_ok
        return {"outcome": "success" if success else "fail", "answered": 1.0}

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {"answered": float(trajectory_components.get("answered", 0.0))}

    def oracle_actions(self) -> list[str | dict[str, Any] | ToolCall | list[ToolCall]] | None:
        assert self.task is not None
        task = self.task
        if not task.gold_calls and not task.required_outputs:
            return None
        actions: list[str | dict[str, Any] | ToolCall | list[ToolCall]] = [
            f"<tool_call>{json.dumps({'name': c['name'], 'arguments': c.get('arguments', {})})}</tool_call>"
            for c in task.gold_calls
        ]
        actions.append("Final answer: " + "; ".join(task.required_outputs or ["done"]))
        return actions

    def close(self) -> None:
        super().close()
        if self._shadow is not None:
            self._shadow.close()
            self._shadow = None
        if self.client is not None:
            self.client.close()
            self.client = None


_GOLD_HASHES: dict[tuple[str, str], str] = {}


def _gold_hash(world: str, task: MCPTask) -> str:
    """The state of a fresh world (seed 0) after the task's gold calls."""
    key = (world, json.dumps(task.gold_calls, sort_keys=True))
    if key not in _GOLD_HASHES:
        replay = make_world(world, 0)
        try:
            for index, call in enumerate(task.gold_calls):
                try:
                    replay.apply(call["name"], call.get("arguments", {}))
                except ToolError as exc:
                    raise TaskError(f"task {task.id}: gold call {index} fails: {exc}") from None
            _GOLD_HASHES[key] = replay.state_hash()
        finally:
            replay.close()
    return _GOLD_HASHES[key]
