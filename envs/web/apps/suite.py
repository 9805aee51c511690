"""The generated app suites (shop, booking, mail) served on 127.0.0.1 by an in-process server."""

from __future__ import annotations

from typing import Any

from agentgym.errors import TaskError

from ..suite import Check, Suite, WebTask
from . import booking, mail, shop
from .server import AppServer

APPS = ("shop", "booking", "mail")
DEFAULT_TASKS_PER_APP = 100


def _make_app(app: str, spec: dict[str, Any]) -> Any:
    if app == "shop":
        return shop.ShopApp()
    if app == "booking":
        return booking.BookingApp()
    return mail.make_app(spec)


def generate_task(app: str, index: int, seed: int = 0) -> WebTask:
    """Task `index` of an app, generated deterministically from (app, index, seed)."""
    generator = {"shop": shop.generate, "booking": booking.generate, "mail": mail.generate}[app]
    data = generator(index, seed)
    return WebTask(
        id=f"{app}-{index:04d}",
        suite=app,
        prompt=data["goal"],
        start_url=data["start_path"],
        subgoals=list(data["subgoals"]),
        oracle=list(data["oracle"]),
        spec=data["spec"],
        metadata={"app": app, "index": index, "generator_seed": seed,
                  **({"kind": data["spec"]["kind"]} if "kind" in data["spec"] else {})},
    )


class AppSuite(Suite):
    """`suite="shop" | "booking" | "mail"` (one app) or `"apps"` (all three)."""

    def __init__(self, name: str, num_tasks: int = DEFAULT_TASKS_PER_APP, seed: int = 0) -> None:
        self.name = name
        self.apps = APPS if name == "apps" else (name,)
        self.num_tasks = int(num_tasks)
        self.seed = int(seed)
        self.server: AppServer | None = None
        self.app: Any = None
        self._cache: dict[str, WebTask] = {}

    def task_ids(self) -> list[str]:
        return [f"{app}-{i:04d}" for app in self.apps for i in range(self.num_tasks)]

    def get_task(self, task_id: str) -> WebTask:
        if task_id in self._cache:
            return self._cache[task_id]
        app, _, number = task_id.rpartition("-")
        if app not in self.apps or not number.isdigit():
            raise TaskError(f"unknown task {task_id!r} for suite {self.name!r} (ids look like {self.apps[0]}-0007)")
        task = generate_task(app, int(number), self.seed)
        self._cache[task_id] = task
        return task

    def start(self, env: Any, page: Any, task: WebTask, seed: int) -> WebTask:
        if self.server is None:
            self.server = AppServer()
        self.app = _make_app(task.suite, task.spec)
        self.server.app = self.app
        url = self.server.url(task.start_url)
        page.goto(url, wait_until="domcontentloaded")
        return task.model_copy(update={"start_url": url, "allowed_origins": [self.server.origin]})

    def check(self, page: Any, task: WebTask, answer: str | None) -> Check:
        if self.app is None:
            return Check()
        assert self.server is not None
        with self.server.lock:
            if task.suite == "mail":
                done, score, reached, detail = mail.check(self.app, task.spec, answer)
            elif task.suite == "shop":
                done, score, reached, detail = shop.check(self.app, task.spec)
            else:
                done, score, reached, detail = booking.check(self.app, task.spec)
        return Check(done=done, score=score, success=score >= 1.0, subgoals=reached, detail=detail)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
