"""What a web task suite provides to `WebEnv`: tasks, episode setup, checks and oracles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from agentgym.task import Task, hidden


class WebTask(Task):
    """One web task. `prompt` is the goal text shown to the agent."""

    suite: str
    start_url: str = ""
    allowed_origins: list[str] = Field(default_factory=list)
    subgoals: list[str] = Field(default_factory=list)  # checklist names, in the usual order
    oracle: list[str] | None = hidden(None)
    spec: dict[str, Any] = hidden(default_factory=dict)  # what the success check compares against


@dataclass
class Check:
    """The state of the task after a step."""

    done: bool = False  # the page or app reached a terminal state (purchase made, episode over)
    score: float = 0.0  # outcome in [0, 1] (WebShop-style partial score for the shop)
    success: bool = False
    subgoals: set[str] = field(default_factory=set)
    detail: dict[str, Any] = field(default_factory=dict)


class Suite:
    """Base class; suites override what they need."""

    name = "base"
    root_selector: str | None = None  # observe only below this element
    hide_ids: list[str] = []
    screenshot_selector: str | None = None

    def task_ids(self) -> list[str]:
        raise NotImplementedError  # abstract: each subclass implements it

    def get_task(self, task_id: str) -> WebTask:
        raise NotImplementedError  # abstract: each subclass implements it

    def start(self, env: Any, page: Any, task: WebTask, seed: int) -> WebTask:
        """Set the episode up, navigate to the start page; returns the episode's task (goal filled in)."""
        raise NotImplementedError  # abstract: each subclass implements it

    def check(self, page: Any, task: WebTask, answer: str | None) -> Check:
        raise NotImplementedError  # abstract: each subclass implements it

    def oracle(self, page: Any, task: WebTask) -> list[str] | None:
        return task.oracle

    def close(self) -> None:
        pass


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return "file://" + parts.path.rsplit("/", 1)[0] + "/"
    return f"{parts.scheme}://{parts.netloc}"


def url_allowed(url: str, allowed: list[str]) -> bool:
    """Whether `url` lies inside one of the allowed origins (http origins, or file:// folder prefixes)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file"):
        return False
    for entry in allowed:
        allowed_parts = urlsplit(entry)
        if allowed_parts.scheme != parts.scheme:
            continue
        if parts.scheme == "file":
            prefix = allowed_parts.path if allowed_parts.path.endswith("/") else allowed_parts.path
            if parts.path == allowed_parts.path or (prefix.endswith("/") and parts.path.startswith(prefix)):
                return ".." not in parts.path.split("/")
        elif parts.netloc == allowed_parts.netloc:
            return True
    return False
