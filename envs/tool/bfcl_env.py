"""`agentgym/BFCL-v0`: the Berkeley Function Calling Leaderboard v4 as a Gymnasium env.

    env = gymnasium.make("agentgym/BFCL-v0", category="simple")          # or parallel, live, multi_turn, all ...

Single-turn categories: the first action's calls are the answer (a text reply without calls is a
wrong answer); the episode ends after it; graded by our AST checker (`envs/tool/bfcl/checker.py`).
Multi-turn categories: calls run on BFCL's own API classes; a text reply without calls ends the
current user turn, the env checks it (state of every instance equals the gold replay's, gold results
contained in the agent's, at least one call when the gold has some) and sends the next user turn.
A reply with neither calls nor text (empty, or a message dict without content) is, as in every
family, an invalid action answered with the no-tool-call message; the episode goes on.

Components: step `action_valid`, `repeated_action`, ToolRL-style `tool_name_match`,
`param_name_match`, `param_value_match` (single turn: the answer against the gold, emitted with the
answering step; multi turn: each call against the gold calls of the current user turn not yet
made), `turn_correct` (1 per user turn that checks out, emitted when the turn ends; a single-turn
entry is one user turn, checked by the AST checker). Trajectory: `outcome` (correct | incorrect;
success is `correct`), `turn_accuracy` (fraction of user turns that check out), `error_type`
(single turn: the checker's verdict, "none" when correct; declared only when the env has
single-turn categories). Metric `correct`; accuracy per category is the mean of `correct` grouped
by `info["task"]["category"]` (see `accuracy_by_category`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError
from agentgym.mcp.schema_tool import SchemaTool
from agentgym.outcome import Outcome
from agentgym.rewards.components import Component, step_component, trajectory_component
from agentgym.tasks.tool.bfcl import MULTI_TURN, BFCLTask, resolve_categories
from agentgym.tasks.tool.source import bfcl_tasks
from agentgym.tools import ToolCall, ToolResult, Toolset

from .bfcl.checker import ERROR_TYPES, CheckResult, check_calls, gold_calls, openai_tools, tool_name
from .bfcl.multi_turn import BFCLRuntime, contains_unordered, source_to_call, states_equal
from .matching import TOOLCALL_COMPONENTS, calls_equal, match_calls, toolcall_scores

ADDED_FUNCTIONS_PROMPT = "I have updated some more functions you can choose from. What about now?"  # BFCL's wording
SYSTEM_PROMPT = ("You are an expert in composing functions. You are given a question and a set of possible functions. "
                 "Based on the question, make one or more function calls to achieve the purpose.")
MULTI_TURN_SYSTEM = (SYSTEM_PROMPT + " You may call functions over several steps; function results come back to you. "
                     "When you have done everything the current request needs, reply in plain text without a function "
                     "call; the user may then ask for more.")


class BFCLEnv(AgentEnv[BFCLTask]):
    default_reward = Path(__file__).with_name("bfcl_reward.yaml")
    components = (
        *TOOLCALL_COMPONENTS,
        step_component("turn_correct", description="1 when the user turn that just ended checks out"),
        trajectory_component("outcome", labels=("correct", "incorrect"), description="BFCL's verdict"),
        trajectory_component("turn_accuracy", description="fraction of user turns that check out"),
        trajectory_component("error_type", labels=("none", *ERROR_TYPES),
                             description="single turn: the AST checker's error type"),
    )
    outcome = Outcome(success=("correct",))
    default_max_turns = 60

    def __init__(self, *, category: str | list[str] = "simple", sanitize_names: bool = True, **kwargs: Any) -> None:
        tasks = bfcl_tasks(category)
        if len(tasks) == 0:
            raise TaskError(f"no BFCL tasks for category {category!r}")
        self.category = category
        self.categories = resolve_categories(category)
        self.sanitize_names = sanitize_names
        super().__init__(tasks=tasks, **kwargs)
        self.calls: list[dict[str, Any]] = []
        self._names: dict[str, str] = {}  # tool name -> BFCL function name
        self._tool_names: dict[str, str] = {}  # BFCL function name -> tool name
        self._runtime: BFCLRuntime | None = None
        self._gold_runtime: BFCLRuntime | None = None
        self._turn_index = 0
        self._turn_calls: list[dict[str, Any]] = []
        self._pending_gold: list[dict[str, Any]] = []  # multi turn: gold calls of this turn not yet made
        self._results: list[str] = []
        self._turn_ok: list[bool] = []
        self._added: list[dict[str, Any]] = []
        self._check: CheckResult | None = None

    def declared_components(self) -> dict[str, Component]:
        declared = super().declared_components()
        if all(c in MULTI_TURN for c in self.categories):
            del declared["error_type"]  # only single-turn entries have an AST checker verdict
        return declared

    @property
    def multi_turn(self) -> bool:
        assert self.task is not None
        return self.task.category in MULTI_TURN

    def start_episode(self, task: BFCLTask, options: dict[str, Any]) -> EpisodeStart:
        self.calls = []
        self._turn_index = 0
        self._turn_calls = []
        self._pending_gold = []
        self._results = []
        self._turn_ok = []
        self._added = []
        self._check = None
        self._runtime = self._gold_runtime = None
        if task.category in MULTI_TURN:
            long_context = "long_context" in task.category
            self._runtime = BFCLRuntime(task.involved_classes, task.initial_config, long_context)
            self._gold_runtime = BFCLRuntime(task.involved_classes, task.initial_config, long_context)
            self._pending_gold = [source_to_call(s, self._gold_runtime) for s in task.ground_truth[0]]
        first = task.turns[0]
        system = "\n".join(m["content"] for m in first if m["role"] == "system") or None
        prompt = "\n".join(m["content"] for m in first if m["role"] == "user")
        default = MULTI_TURN_SYSTEM if task.category in MULTI_TURN else SYSTEM_PROMPT
        return EpisodeStart(task=task, prompt=prompt, system_prompt=f"{default}\n{system}" if system else default)

    def make_tools(self) -> Toolset:
        assert self.task is not None
        task = self.task
        functions = task.functions + self._added
        schemas = openai_tools(functions, sanitize=self.sanitize_names)
        self._names = {}
        self._tool_names = {}
        tools = []
        for function, schema in zip(functions, schemas, strict=True):
            name = schema["function"]["name"]
            self._names[name] = function["name"]
            self._tool_names[function["name"]] = name
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
    def prepare_call(self, call: ToolCall) -> ToolCall:
        """Record the call under its BFCL name (sanitised tool names map back); a call written with
        the BFCL name of a sanitised tool (e.g. `math.factorial`) runs that tool."""
        original = self._names.get(call.name, call.name)
        record = {"name": original, "arguments": dict(call.arguments)}
        self.calls.append(record)
        if self.multi_turn:
            self._turn_calls.append(record)
        else:
            self.finish()  # single turn: the first action's calls are the answer
        renamed = self._tool_names.get(call.name)
        if call.name not in self.toolset and renamed is not None and renamed in self.toolset:
            return call.model_copy(update={"name": renamed})
        return call

    def after_call(self, call: ToolCall, result: ToolResult) -> None:
        """Multi turn: score the call against the gold calls of the current user turn not yet made."""
        if not self.multi_turn or result.malformed:
            return
        record = {"name": self._names.get(call.name, call.name), "arguments": dict(call.arguments)}
        pairs = match_calls([record], self._pending_gold)
        if pairs:  # an unmatched call scores 0 on each (the core zero-fills declared components)
            gold = self._pending_gold[pairs[0][1]]
            for name, value in toolcall_scores([record], [gold]).items():
                self.emit(name, value)
            if calls_equal(record, gold):
                self._pending_gold.pop(pairs[0][1])

    def reply_to_text(self, text: str) -> str | None:
        """A text reply: single turn, the answer (no call: a wrong answer); multi turn, the end of
        the current user turn. A reply with neither calls nor text (an empty message, a dict with
        no `content`) is no reply: the action is invalid and the agent is told to call a tool."""
        if not text.strip():
            return None
        if not self.multi_turn:
            self.finish()
            return "No function call was made."
        return self._end_user_turn()

    def _end_user_turn(self) -> str:
        assert self.task is not None
        ok = self._check_turn()
        self._turn_ok.append(ok)
        self.emit("turn_correct", float(ok))
        self._turn_index += 1
        self._turn_calls = []
        turns = self.task.turns
        if self._turn_index >= len(turns):
            self.finish()
            return "The conversation is over."
        self._pending_gold = self.gold_turn_calls(self._turn_index)
        added = self.task.held_out.get(str(self._turn_index), [])
        if added:  # miss_func: the held-out functions become available now (info["tools"] has them)
            self._added.extend(added)
            self.refresh_tools()
        message = "\n".join(m["content"] for m in turns[self._turn_index] if m["role"] == "user")
        return message or ADDED_FUNCTIONS_PROMPT

    def end_step(self, observation: str, ending: bool) -> dict[str, Any] | None:
        """Single turn: on the step that ends the episode, the answer's ToolRL scores against the
        gold and `turn_correct` (the AST checker's verdict on the one user turn)."""
        assert self.task is not None
        if ending and not self.multi_turn:
            task = self.task
            self._check = check_calls(task.functions, self.calls, task.ground_truth, task.category)
            self.emit("turn_correct", float(self._check.valid))
            if self.calls:
                for name, value in toolcall_scores(self.calls, gold_calls(task.ground_truth, task.functions)).items():
                    self.emit(name, value)
        return None

    def _check_turn(self) -> bool:
        assert self._runtime is not None and self._gold_runtime is not None and self.task is not None
        gold_sources = self.task.ground_truth[self._turn_index]
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
        assert self.task is not None
        runtime = self._gold_runtime or BFCLRuntime(self.task.involved_classes, self.task.initial_config)
        return [source_to_call(s, runtime) for s in self.task.ground_truth[turn]]

    # ------------------------------------------------------------------ grading
    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        assert self.task is not None
        task = self.task
        if self.multi_turn:
            total = len(task.turns)
            results = self._turn_ok + [False] * (total - len(self._turn_ok))
            correct = all(results)
            return {"outcome": "correct" if correct else "incorrect", "turn_accuracy": sum(results) / total}
        result = self._check or check_calls(task.functions, self.calls, task.ground_truth, task.category)
        return {"outcome": "correct" if result.valid else "incorrect", "turn_accuracy": float(result.valid),
                "error_type": result.error_type or "none"}

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        metrics = {"correct": float(trajectory_components.get("outcome") == "correct")}
        if "turn_accuracy" in trajectory_components:
            metrics["turn_accuracy"] = float(trajectory_components["turn_accuracy"])
        return metrics

    def oracle_actions(self) -> list[str | dict[str, Any] | ToolCall | list[ToolCall]]:
        assert self.task is not None
        task = self.task
        if not self.multi_turn:
            calls = gold_calls(task.ground_truth, task.functions)
            return [[ToolCall(id=f"call_{i}", name=tool_name(c["name"]) if self.sanitize_names else c["name"],
                              arguments=c["arguments"]) for i, c in enumerate(calls)]]
        actions: list[str | dict[str, Any] | ToolCall | list[ToolCall]] = []
        for turn in range(len(task.turns)):
            for call in self.gold_turn_calls(turn):
                actions.append(ToolCall(name=call["name"], arguments=call["arguments"]))
            actions.append("Done with this request.")
        return actions


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
