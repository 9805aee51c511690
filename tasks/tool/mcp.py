"""MCP-v0 tasks: a prompt, the gold tool calls and the strings the final answer must contain.

Tasks come from a list (dicts or `MCPTask`), a JSONL file, or a built-in suite (`SUITES`):
`files` is the file-system world's generated tasks on database seed 0, the world that MCP-v0's
default server (`agentgym mcp serve files`) serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from agentgym.errors import TaskError
from agentgym.task import Task, hidden, load_task_file

FREE_FORM_ID = "free-form"
FREE_FORM_PROMPT = "You are connected to tools served over MCP. Explore them and report what you find."


class MCPTask(Task):
    gold_calls: list[dict[str, Any]] = hidden(default_factory=list)
    required_outputs: list[str] = hidden(default_factory=list)
    require_calls: bool = Field(default=True, description="success also needs every gold call performed")


def free_form_task(prompt: str | None = None) -> MCPTask:
    """The task of a free-form session: a prompt, nothing to check."""
    return MCPTask(id=FREE_FORM_ID, prompt=str(prompt or FREE_FORM_PROMPT))


def files_suite() -> list[MCPTask]:
    """The file-system world's generated tasks on database seed 0 (what the default server serves)."""
    from .worlds import generate_tasks

    return [
        MCPTask(id=f"mcp-{t.id}", prompt=t.prompt, gold_calls=t.gold_actions, required_outputs=t.required_outputs,
                metadata={"world": "files", "kind": t.kind})
        for t in generate_tasks("files")
        if t.db_seed == 0
    ]


SUITES = {"files": files_suite}


def load_mcp_tasks(
    tasks: Sequence[Mapping[str, Any] | MCPTask] | str | Path | None = None, suite: str | None = None
) -> list[MCPTask]:
    """The tasks of a list, a JSONL file and/or a built-in suite (in that order)."""
    if suite is not None and suite not in SUITES:
        raise TaskError(f"unknown MCP task suite {suite!r}; have {', '.join(SUITES)}")
    out: list[MCPTask] = []
    if isinstance(tasks, str | Path):
        out.extend(load_task_file(tasks, MCPTask))
    elif tasks is not None:
        out.extend(t if isinstance(t, MCPTask) else MCPTask.model_validate(dict(t)) for t in tasks)
    if suite is not None:
        out.extend(SUITES[suite]())
    return out
