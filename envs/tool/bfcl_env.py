"""`agentgym/BFCL-v0`: the Berkeley Function Calling Leaderboard v4 as a Gymnasium env.

    env = gymnasium.make("agentgym/BFCL-v0", category="simple")          # or parallel, live, multi_turn, all ...

Single-turn categories: the first action's calls are the answer (a reply without calls is a wrong
answer); the episode ends after it; graded by our AST checker (`envs/tool/bfcl/checker.py`).
Multi-turn categories: calls run on BFCL's own API classes; a reply without calls ends the current
user turn, the env checks it (state of every instance equals the gold replay's, gold results
contained in the agent's, at least one call when the gold has some) and sends the next user turn.

Components: step `action_valid`, `repeated_action`, ToolRL-style `tool_name_match`,
`param_name_match`, `param_value_match` (single turn: against the gold answer), `turn_correct`
(multi turn: 1 per user turn that checks out, emitted when the turn ends). Trajectory: `outcome`
(correct | incorrect), `turn_accuracy` (multi turn). Metric `correct`; accuracy per category is
the mean of `correct` grouped by `info["task"]["category"]` (see `accuracy_by_category`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError
from agentgym.mcp.schema_tool import SchemaTool
from agentgym.tasks.tool.bfcl import MULTI_TURN, BFCLTask, load_bfcl
from agentgym.tools import ToolCall, ToolResult, Toolset

from .bfcl.checker import check_calls, gold_calls, openai_tools, tool_name
from .bfcl.multi_turn import BFCLRuntime, contains_unordered, source_to_call, states_equal
from .matching import toolcall_scores

ADDED_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"  # BFCL's wording
SYSTEM_PROMPT = ("You are an expert in composing functions. You are given a question and a set of possible functions. "
                 "Based on the question, make one or more function calls to achieve the purpose.")
MULTI_TURN_SYSTEM = (SYSTEM_PROMPT + " You may call functions over several steps; function results come back to you. "
                     "When you have done everything the current request needs, reply in plain text without a function "
                     "call; the user may then ask for more.")


class BFCLEnv(AgentEnv):
    default_reward = Path(__file__).with_name("bfcl_reward.yaml")
    component_bounds: ClassVar[dict[str, tuple[float, float]]] = {
        "tool_name_match": (0.0, 1.0), "param_name_match": (0.0, 1.0), "param_value_match": (0.0, 1.0),
        "turn_correct": (0.0, 1.0),
    }
    default_max_turns = 60

    def __init__(self, *, category: str | list[str] = "simple", sanitize_names: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        tasks = load_bfcl(category)
        if not tasks:
            raise TaskError(f"no BFCL tasks for category {category!r}")
        self.category = category
        self._tasks = {t.id: t for t in tasks}
        self._ids = list(self._tasks)
        self.sanitize_names = sanitize_names
        self.calls: list[dict[str, Any]] = []
        self._names: dict[str, str] = {}
        self._runtime: BFCLRuntime | None = None
        self._gold_runtime: BFCLRuntime | None = None
        self._turn_index = 0
        self._turn_calls: list[dict[str, Any]] = []
        self._results: list[str] = []
        self._turn_ok: list[bool] = []
        self._added: list[dict[str, Any]] = []
        self._tools_changed = False

    def task_ids(self) -> list[str]:
        return list(self._ids)

    @property
    def btask(self) -> BFCLTask:
        assert isinstance(self.task, BFCLTask)
        return self.task

    @property
    def multi_turn(self) -> bool:
        return self.btask.category in MULTI_TURN

    def _start_episode(self, task_id: str | None, options: dict[str, Any]) -> EpisodeStart:
        task_id = self._pick_task_id(task_id, self._ids, self._tasks, hint="BFCL")
        task = self._tasks[task_id]
        self.calls = []
        self._turn_index = 0
        self._turn_calls = []
        self._results = []
        self._turn_ok = []
        self._added = []
        self._tools_changed = False
        self._runtime = self._gold_runtime = None
        if task.category in MULTI_TURN:
            long_context = "long_context" in task.category
            self._runtime = BFCLRuntime(task.involved_classes, task.initial_config, long_context)
            self._gold_runtime = BFCLRuntime(task.involved_classes, task.initial_config, long_context)
        first = task.turns[0]
        system = "\n".join(m["content"] for m in first if m["role"] == "system") or None
        prompt = "\n".join(m["content"] for m in first if m["role"] == "user")
        default = MULTI_TURN_SYSTEM if task.category in MULTI_TURN else SYSTEM_PROMPT
        return EpisodeStart(task=task, prompt=prompt, system_prompt=f"{default}\n{system}" if system else default)

    def _tools(self) -> Toolset:
        task = self.btask
        functions = task.functions + self._added
        schemas = openai_tools(functions, sanitize=self.sanitize_names)
        self._names = {}
        tools = []
        for function, schema in zip(functions, schemas, strict=True):
            name = schema["function"]["name"]
            self._names[name] = function["name"]
            self._names.setdefault(function["name"], function["name"])
            # multi turn: calls run as BFCL runs them (the API classes check their own arguments)
            tools.append(SchemaTool(name, schema["function"]["description"], schema["function"]["parameters"],
                                    self._handler(function["name"]), validate=task.category not in MULTI_TURN))
        return Toolset(tools)

    def _handler(self, original: str):
        def handler(**arguments: Any) -> str:
            if self._runtime is None:
                return "Function call recorded."
            text, _ok = self._runtime.execute(original, arguments)
            self._results.append(text)
            return text

        return handler

    # ------------------------------------------------------------------ calls
    def _run_call(self, call: ToolCall) -> ToolResult:
        original = self._names.get(call.name, call.name)
        record = {"name": original, "arguments": dict(call.arguments)}
        self.calls.append(record)
        if self.multi_turn:
            self._turn_calls.append(record)
            if call.name not in self.toolset and original in self.toolset:
                call = ToolCall(id=call.id, name=original, arguments=call.arguments)
            return super()._run_call(call)
        result = super()._run_call(call)
        self.finish()
        return result

    def _on_plain_text(self, text: str) -> str | None:
        if not self.multi_turn:
            self.finish()
            return "No function call was made."
        return self._end_user_turn()

    def _end_user_turn(self) -> str:
        ok = self._check_turn()
        self._turn_ok.append(ok)
        self.emit("turn_correct", float(ok))
        self._turn_index += 1
        self._turn_calls = []
        turns = self.btask.turns
        if self._turn_index >= len(turns):
            self.finish()
            return "The conversation is over."
        added = self.btask.held_out.get(str(self._turn_index), [])
        if added:  # miss_func: the held-out functions become available now
            self._added.extend(added)
            self._toolset = self._tools()
            self._tools_changed = True
        message = "\n".join(m["content"] for m in turns[self._turn_index] if m["role"] == "user")
        return message or ADDED_FUNCTIONS_PROMPT

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        if self._tools_changed:  # tell the caller the tool list grew (policies should use info["tools"])
            info["tools"] = self.toolset.schemas()
            self._tools_changed = False
        return obs, reward, terminated, truncated, info

    def _check_turn(self) -> bool:
        assert self._runtime is not None and self._gold_runtime is not None
        gold_sources = self.btask.ground_truth[self._turn_index]
        gold_results = [self._gold_runtime.execute_source(s) for s in gold_sources]
        if gold_sources and not self._turn_calls:
            return False
        if not gold_sources:
            return True
        same, _ = states_equal(self._runtime, self._gold_runtime)
        if not same:
            return False
        contained, _ = contains_unordered(gold_results, self._results)
        return contained

    def gold_turn_calls(self, turn: int) -> list[dict[str, Any]]:
        """Gold calls of a multi-turn entry's turn as {"name", "arguments"} (positional args named)."""
        runtime = self._gold_runtime or BFCLRuntime(self.btask.involved_classes, self.btask.initial_config)
        return [source_to_call(s, runtime) for s in self.btask.ground_truth[turn]]

    # ------------------------------------------------------------------ grading
    def _trajectory_components(self, truncated: bool) -> dict[str, float | str]:
        task = self.btask
        if self.multi_turn:
            total = len(task.turns)
            results = self._turn_ok + [False] * (total - len(self._turn_ok))
            correct = all(results)
            return {"outcome": "correct" if correct else "incorrect", "turn_accuracy": sum(results) / total}
        result = check_calls(task.functions, self.calls, task.ground_truth, task.category)
        return {"outcome": "correct" if result.valid else "incorrect", "error_type": result.error_type or "none"}

    def _finalize(self, truncated: bool, infra_error: Any, info: dict[str, Any]) -> float:
        if not self.multi_turn and self.calls:
            scores = toolcall_scores(self.calls, gold_calls(self.btask.ground_truth, self.btask.functions))
            for name, value in scores.items():
                self.emit(name, value)
        return super()._finalize(truncated, infra_error, info)

    def _episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        metrics = {"correct": float(trajectory_components.get("outcome") == "correct")}
        if "turn_accuracy" in trajectory_components:
            metrics["turn_accuracy"] = float(trajectory_components["turn_accuracy"])
        return metrics

    def oracle_actions(self) -> list[str | dict[str, Any]]:
        task = self.btask
        if not self.multi_turn:
            calls = gold_calls(task.ground_truth, task.functions)
            return [_message([(tool_name(c["name"]) if self.sanitize_names else c["name"], c["arguments"]) for c in calls])]
        actions: list[str | dict[str, Any]] = []
        for turn in range(len(task.turns)):
            for call in self.gold_turn_calls(turn):
                actions.append(_message([(call["name"], call["arguments"])]))
            actions.append("Done with this request.")
        return actions

    def close(self) -> None:
        super().close()


def _message(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    import json

    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(calls)]}


def accuracy_by_category(records: Iterable[Any]) -> dict[str, float]:
    """Mean `correct` per BFCL category over episode records (reward_invalid ones excluded)."""
    totals: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if getattr(r, "reward_invalid", False):
            continue
        metrics = getattr(r, "metrics", {}) or {}
        if "correct" not in metrics:
            continue
        task = getattr(r, "task", None) or {}
        task_id = getattr(r, "task_id", "") or ""
        category = task.get("category") or (task_id.rsplit("_", 1)[0] if "_" in task_id else "unknown")
        totals[category].append(float(metrics["correct"]))
    return {c: sum(v) / len(v) for c, v in sorted(totals.items())}
