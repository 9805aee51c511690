"""`WebTask`: one web task, whatever its suite (MiniWoB++, shop, booking, mail, custom)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agentgym.task import Task, hidden


class WebTask(Task):
    """One web task. `prompt` is the goal text shown to the agent (MiniWoB++ fills it in at the
    start of each episode: its goal is drawn with the episode's seed)."""

    suite: str
    start_url: str = ""
    allowed_origins: list[str] = Field(default_factory=list)
    subgoals: list[str] = Field(default_factory=list)  # checklist names, in the usual order
    oracle: list[str] | None = hidden(None)
    spec: dict[str, Any] = hidden(default_factory=dict)  # what the success check compares against
