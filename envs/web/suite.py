"""What a web suite provides to `WebEnv` in the browser: episode setup, checks and oracles.

The suites' tasks are task data (`agentgym.tasks.web`); a suite here runs them: it opens a task's
page (serving it when the suite has a server), reads the page or app state into a `Check`, and
plays oracles that read the live page (MiniWoB++).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from agentgym.rewards.components import Component
from agentgym.tasks.web.task import WebTask


@dataclass
class Check:
    """The state of the task after a step."""

    done: bool = False  # the page or app reached a terminal state (purchase made, episode over)
    score: float = 0.0  # the outcome in [0, 1]: the WebShop score for the shop, else 1 for success, 0 otherwise
    subgoals: set[str] = field(default_factory=set)
    detail: dict[str, Any] = field(default_factory=dict)  # numbers become trajectory components (`Suite.components`)


class Suite:
    """Base class; suites override what they need."""

    name = "base"
    root_selector: str | None = None  # observe only below this element
    hide_ids: list[str] = []
    screenshot_selector: str | None = None
    #: the trajectory components the suite's `Check.detail` numbers become (declared by the env)
    components: tuple[Component, ...] = ()

    def start(self, page: Any, task: WebTask, seed: int) -> WebTask:
        """Set the episode up, navigate to the start page; returns the episode's task (goal filled in)."""
        raise NotImplementedError  # abstract: each subclass implements it

    def check(self, page: Any, task: WebTask, answer: str | None) -> Check:
        raise NotImplementedError  # abstract: each subclass implements it

    def oracle(self, page: Any, task: WebTask) -> list[str] | None:
        return task.oracle

    def site_origin(self) -> str | None:
        """The origin of the suite's own server (random port), when it serves pages."""
        return None

    def close(self) -> None:
        pass


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return "file://" + parts.path.rsplit("/", 1)[0] + "/"
    return f"{parts.scheme}://{parts.netloc}"


def _file_path(path: str) -> str | None:
    """The path a browser opens for a file:// URL path: percent-escapes decoded (Chromium resolves
    `%2e%2e` and `%2F` like `..` and `/`), backslashes as slashes; None when it climbs out with `..`."""
    decoded = unquote(unquote(path)).replace("\\", "/")
    if any(part in ("..", ".") for part in decoded.split("/")) or "\x00" in decoded:
        return None
    return posixpath.normpath(decoded) + ("/" if decoded.endswith("/") else "")


def url_allowed(url: str, allowed: list[str]) -> bool:
    """Whether `url` lies inside one of the allowed origins (http origins, or file:// folder prefixes
    and single files)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file"):
        return False
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return False
        path = _file_path(parts.path)
        if path is None:
            return False
    for entry in allowed:
        allowed_parts = urlsplit(entry)
        if allowed_parts.scheme != parts.scheme:
            continue
        if parts.scheme == "file":
            allowed_path = _file_path(allowed_parts.path)
            if allowed_path is None:
                continue
            if path == allowed_path or (allowed_path.endswith("/") and path.startswith(allowed_path)):
                return True
        elif parts.netloc == allowed_parts.netloc:
            return True
    return False
