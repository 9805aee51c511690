"""The generated app suites' tasks (shop, booking, mail): each app's world data and task generator.

Task `<app>-<index>` (e.g. `shop-0007`) is generated deterministically from (app, index, seed).
The web apps that serve these worlds, and their success checks, live in envs/web/apps/.
"""

from __future__ import annotations

from agentgym.errors import TaskError

from ..task import WebTask
from . import booking, mail, shop

APPS = ("shop", "booking", "mail")
DEFAULT_TASKS_PER_APP = 100
_GENERATORS = {"shop": shop.generate, "booking": booking.generate, "mail": mail.generate}


def generate_task(app: str, index: int, seed: int = 0) -> WebTask:
    """Task `index` of an app, generated deterministically from (app, index, seed)."""
    data = _GENERATORS[app](index, seed)
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


def app_task(task_id: str, apps: tuple[str, ...] = APPS, seed: int = 0) -> WebTask:
    """The task with id `<app>-<index>` (any index, also beyond a suite's `num_tasks`)."""
    app, _, number = task_id.rpartition("-")
    if app not in apps or not number.isdigit():
        raise TaskError(f"unknown app task {task_id!r} (ids look like {apps[0]}-0007; apps: {', '.join(apps)})")
    return generate_task(app, int(number), seed)


def app_task_ids(apps: tuple[str, ...] = APPS, num_tasks: int = DEFAULT_TASKS_PER_APP) -> list[str]:
    """`num_tasks` ids per app, interleaved (shop-0000, booking-0000, mail-0000, shop-0001, ...), so
    the first ids of a multi-app suite cover every app."""
    return [f"{app}-{i:04d}" for i in range(num_tasks) for app in apps]
