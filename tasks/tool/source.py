"""Task sources of the tool family's envs (named by the EnvEntry declarations in envs/tool/family.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentgym.errors import TaskError
from agentgym.task import TaskSource

from .bfcl import BFCLTask, load_bfcl, resolve_categories
from .mcp import MCPTask, load_mcp_tasks
from .world_data import WORLD_NAMES
from .worlds import WorldTask, generate_tasks


def world_tasks(
    world: str | None = None, task: str | list[str] | None = None, suite_seed: int = 0
) -> TaskSource[WorldTask]:
    """ToolUse-v0: the generated tasks of one world (every world's when None), optionally only the
    ids in `task`."""
    if world is not None and world not in WORLD_NAMES:
        raise ValueError(f"unknown world {world!r}; have {', '.join(WORLD_NAMES)}")
    wanted = None if task is None else ([task] if isinstance(task, str) else list(task))

    def load() -> list[WorldTask]:
        tasks = generate_tasks(world, seed=suite_seed, shared=True)  # read-only: envs never change a task
        if wanted is None:
            return tasks
        by_id = {t.id: t for t in tasks}
        missing = [t for t in wanted if t not in by_id]
        if missing:
            raise TaskError(f"unknown task id(s) {missing}; e.g. {next(iter(by_id))}")
        return [by_id[t] for t in wanted]

    return TaskSource(load, name="ToolUse-v0 tasks")


def bfcl_tasks(category: str | list[str] = "simple") -> TaskSource[BFCLTask]:
    """BFCL-v0: the BFCL v4 entries of one or more categories (aliases and groups allowed)."""
    resolve_categories(category)  # an unknown category fails here, before any data is read
    return TaskSource(lambda: load_bfcl(category), name=f"BFCL-v0 tasks ({category})")


def mcp_tasks(
    tasks: Sequence[Mapping[str, Any] | MCPTask] | str | Path | None = None, suite: str | None = None
) -> TaskSource[MCPTask] | None:
    """MCP-v0: the given tasks and/or a built-in suite; None for a free-form env (no tasks)."""
    if suite is None and (tasks is None or (not isinstance(tasks, str | Path) and len(tasks) == 0)):
        return None
    return TaskSource(lambda: load_mcp_tasks(tasks, suite), name="MCP-v0 tasks")
