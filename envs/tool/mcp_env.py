"""`agentgym/MCP-v0`: a tool env whose tools come from MCP servers started over stdio.

    env = gymnasium.make("agentgym/MCP-v0",
                         servers=[{"command": "mcp-server-git", "args": ["--repository", "/tmp/repo"]}],
                         tasks=[{"id": "log", "prompt": "What is the last commit message of /tmp/repo?",
                                 "gold_calls": [{"name": "git_log", "arguments": {"repo_path": "/tmp/repo"}}],
                                 "required_outputs": ["initial commit"]}])
    obs, info = env.reset()                       # info["tools"]: the servers' tools, OpenAI schema
    env.reset(options={"prompt": "..."})          # free-form session (also the mode without tasks)

The agent calls the servers' tools; a reply without a tool call is its final answer and ends the
episode. A server that dies (or hangs past `call_timeout`) ends the episode with
`info["reward_invalid"] = True`; the next `reset` restarts the servers.

Components: step `action_valid`, `repeated_action`, `tool_ok` (the call ran without a tool error),
and with a task's `gold_calls` the ToolRL-style `tool_name_match` / `param_name_match` /
`param_value_match` and the CM2-style `checklist`. Trajectory (tasks only): `outcome` in
{success, fail, no_answer}. Without tasks the default spec rewards step components only.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError
from agentgym.task import Task, hidden, load_task_file
from agentgym.tools import ToolCall, ToolResult, Toolset

from .matching import calls_equal, match_calls, toolcall_scores

HERE = Path(__file__).parent
FREE_FORM_PROMPT = "You are connected to tools served over MCP. Explore them and report what you find."
SYSTEM_PROMPT = ("You are an agent with tools served by MCP servers. Call the tools you need; when you are done, "
                 "reply with your final answer in plain text (no tool call).")


class MCPTask(Task):
    gold_calls: list[dict[str, Any]] = hidden(default_factory=list)
    required_outputs: list[str] = hidden(default_factory=list)
    require_calls: bool = Field(default=True, description="success also needs every gold call performed")


def default_servers() -> list[dict[str, Any]]:
    """agentgym's own file-system world served over MCP (needs only the `mcp` package)."""
    return [{"command": sys.executable, "args": ["-m", "agentgym", "mcp", "serve", "files"], "name": "agentgym-files"}]


class MCPEnv(AgentEnv):
    """Tools from MCP servers; optional tasks with gold calls and required answer content."""

    default_reward = HERE / "mcp_reward.yaml"
    free_form_reward = HERE / "mcp_free_form_reward.yaml"
    component_bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "tool_ok": (0.0, 1.0), "checklist": (0.0, 1.0), "tool_name_match": (0.0, 1.0),
        "param_name_match": (0.0, 1.0), "param_value_match": (0.0, 1.0),
    }
    default_max_turns = 20

    def __init__(
        self,
        *,
        servers: Sequence[Mapping[str, Any]] | None = None,
        tasks: Sequence[Mapping[str, Any] | MCPTask] | str | Path | None = None,
        restart_per_episode: bool = False,
        prefix_names: bool = False,
        start_timeout: float = 60.0,
        call_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        if tasks is None and kwargs.get("reward") is None:
            kwargs["reward"] = self.free_form_reward
        super().__init__(**kwargs)
        self.servers = [dict(s) for s in (servers or default_servers())]
        if isinstance(tasks, str | Path):
            self._tasks = {t.id: t for t in load_task_file(tasks, MCPTask)}
        else:
            parsed = [t if isinstance(t, MCPTask) else MCPTask.model_validate(dict(t)) for t in (tasks or [])]
            self._tasks = {t.id: t for t in parsed}
        self._ids = list(self._tasks)
        self.restart_per_episode = restart_per_episode
        self.prefix_names = prefix_names
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.client: Any = None
        self._pending_gold: list[int] = []
        self._done_items: set[int] = set()
        self.final_answer: str | None = None

    # ------------------------------------------------------------------ servers
    def _ensure_client(self) -> None:
        from agentgym.mcp.client import MCPClient

        if self.client is not None and (self.restart_per_episode or not self.client.alive()):
            self.client.close()
            self.client = None
        if self.client is None:
            self.client = MCPClient(self.servers, start_timeout=self.start_timeout, call_timeout=self.call_timeout,
                                    prefix_names=self.prefix_names)

    def task_ids(self) -> list[str] | None:
        return list(self._ids) or None

    def _start_episode(self, task_id: str | None, options: dict[str, Any]) -> EpisodeStart:
        self._ensure_client()
        prompt = options.get("prompt")
        if prompt is not None or not self._tasks:
            if task_id is not None:
                raise TaskError(f"unknown task id {task_id!r}: this MCP env has no tasks")
            task = MCPTask(id="free-form", prompt=str(prompt or FREE_FORM_PROMPT))
        else:
            task_id = self._pick_task_id(task_id, self._ids, self._tasks, hint=f"have {', '.join(self._ids[:5])}")
            task = self._tasks[task_id]
        self._pending_gold = list(range(len(task.gold_calls)))
        self._done_items = set()
        self.final_answer = None
        return EpisodeStart(task=task, prompt=task.prompt, system_prompt=options.get("system_prompt", SYSTEM_PROMPT))

    def _tools(self) -> Toolset:
        return self.client.toolset()

    @property
    def mtask(self) -> MCPTask:
        assert isinstance(self.task, MCPTask)
        return self.task

    # ------------------------------------------------------------------ steps
    def _run_call(self, call: ToolCall) -> ToolResult:
        result = super()._run_call(call)
        if not result.malformed:
            self.emit("tool_ok", float(result.ok))
            if self.mtask.gold_calls:
                self._score(call, result.ok)
        return result

    def _score(self, call: ToolCall, ok: bool) -> None:
        gold = self.mtask.gold_calls
        pending = [gold[i] for i in self._pending_gold]
        pairs = match_calls([call], pending)
        scores = toolcall_scores([call], [pending[pairs[0][1]]]) if pairs else {
            "tool_name_match": 0.0, "param_name_match": 0.0, "param_value_match": 0.0}
        for name, value in scores.items():
            self.emit(name, value)
        if ok and pairs and calls_equal(call, pending[pairs[0][1]]):
            self._complete(self._pending_gold.pop(pairs[0][1]))

    def _complete(self, item: int) -> None:
        if item not in self._done_items:
            self._done_items.add(item)
            total = len(self.mtask.gold_calls) + len(self.mtask.required_outputs)
            self.emit("checklist", 1.0 / max(1, total))

    def _on_plain_text(self, text: str) -> str | None:
        if not text.strip():
            return None
        self.final_answer = text
        offset = len(self.mtask.gold_calls)
        for i, required in enumerate(self.mtask.required_outputs):
            if required.lower() in text.lower():
                self._complete(offset + i)
        self.finish()
        return "Final answer received."

    # ------------------------------------------------------------------ outcome
    def _trajectory_components(self, truncated: bool) -> dict[str, float | str]:
        task = self.mtask
        if task.id == "free-form" and not task.gold_calls and not task.required_outputs:
            return {"answered": float(self.final_answer is not None)}
        if self.final_answer is None:
            return {"outcome": "no_answer", "answered": 0.0}
        said = self.final_answer.lower()
        replies_ok = all(r.lower() in said for r in task.required_outputs)
        calls_ok = not task.require_calls or not self._pending_gold
        return {"outcome": "success" if replies_ok and calls_ok else "fail", "answered": 1.0}

    def _episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        metrics = {"answered": float(trajectory_components.get("answered", 0.0)), "turns": float(self.turn)}
        if "outcome" in trajectory_components:
            metrics["success"] = float(trajectory_components["outcome"] == "success")
        return metrics

    def oracle_actions(self) -> list[str | dict[str, Any]] | None:
        task = self.mtask
        if not task.gold_calls and not task.required_outputs:
            return None
        import json

        actions: list[str | dict[str, Any]] = [
            f"<tool_call>{json.dumps({'name': c['name'], 'arguments': c.get('arguments', {})})}</tool_call>"
            for c in task.gold_calls
        ]
        actions.append("Final answer: " + "; ".join(task.required_outputs or ["done"]))
        return actions

    def close(self) -> None:
        super().close()
        if self.client is not None:
            self.client.close()
            self.client = None
