"""The Web family's task source: `web_tasks(suite=..., ...)` lists a suite's tasks without a browser.

Ids: MiniWoB++ tasks by page name (`click-button`; `miniwob/click-button-v1` and
`miniwob.click-button` name the same task, see `canonical_task_id`), generated app tasks as
`<app>-<index>` (`shop-0007`), custom tasks by the id in their file.
"""

from __future__ import annotations

from pathlib import Path

from agentgym.errors import TaskError
from agentgym.task import TaskSource

from .apps import APPS, DEFAULT_TASKS_PER_APP, app_task, app_task_ids, generate_task
from .custom import custom_web_task, load_custom_tasks
from .miniwob import canonical_name, miniwob_task, miniwob_tasks
from .task import WebTask

SUITES = ("miniwob", "shop", "booking", "mail", "apps", "custom")


def suite_apps(suite: str) -> tuple[str, ...]:
    """The apps of an app suite: one app, or all three for `"apps"`."""
    return APPS if suite == "apps" else (suite,)


def canonical_task_id(suite: str, task_id: str) -> str:
    """The id the suite lists for `task_id` (MiniWoB++ accepts its Farama and BrowserGym names)."""
    return canonical_name(task_id) if suite == "miniwob" else task_id


def _check_kwargs(suite: str, task_file: str | Path | None, num_tasks: int | None) -> None:
    if suite not in SUITES:
        raise TaskError(f"unknown web suite {suite!r}; suites: {', '.join(SUITES)}")
    if suite == "custom" and task_file is None:
        raise TaskError('suite="custom" needs task_file=PATH (format: agentgym.tasks.web.custom)')
    if suite != "custom" and task_file is not None:
        raise TaskError(f'task_file is for suite="custom", not {suite!r}')
    if num_tasks is not None and suite in ("miniwob", "custom"):
        raise TaskError(f"num_tasks is for the generated app suites (shop, booking, mail, apps), not {suite!r}")


def web_tasks(
    suite: str = "miniwob",
    task: str | None = None,
    task_file: str | Path | None = None,
    num_tasks: int | None = None,
    generator_seed: int = 0,
) -> TaskSource[WebTask]:
    """The tasks of a web suite (the env's `suite`, `task`, `task_file`, `num_tasks` kwargs).

    miniwob: the playable MiniWoB++ pages; shop, booking, mail: `num_tasks` generated tasks (100 by
    default); apps: that many of each app, interleaved; custom: the tasks of `task_file`. `task`
    narrows the source to that one task (a MiniWoB++ page excluded from the suite, or an app task
    beyond `num_tasks`, may be named this way). Loaded on first use."""
    _check_kwargs(suite, task_file, num_tasks)
    count = DEFAULT_TASKS_PER_APP if num_tasks is None else int(num_tasks)
    if count < 1:
        raise TaskError(f"num_tasks must be >= 1, got {num_tasks}")

    def load() -> list[WebTask]:
        if suite == "miniwob":
            return [miniwob_task(task)] if task is not None else miniwob_tasks()
        if suite == "custom":
            assert task_file is not None
            tasks = [custom_web_task(spec) for spec in load_custom_tasks(task_file)]
            if task is None:
                return tasks
            chosen = [t for t in tasks if t.id == task]
            if not chosen:
                raise TaskError(f"{task_file}: no task {task!r}; tasks: {', '.join(t.id for t in tasks[:10])}")
            return chosen
        apps = suite_apps(suite)
        if task is not None:
            return [app_task(task, apps, generator_seed)]
        return [generate_task(*_split_id(i), generator_seed) for i in app_task_ids(apps, count)]

    return TaskSource(load, name=f"web suite {suite!r}")


def _split_id(task_id: str) -> tuple[str, int]:
    app, _, number = task_id.rpartition("-")
    return app, int(number)
