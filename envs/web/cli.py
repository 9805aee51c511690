"""`agentgym tasks web ...`: validate custom task files, check oracles of suites, export generated tasks.

Mounted by the Web family's plugin declaration (`envs/web/family.py`, mount path "tasks web").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

tasks_app = typer.Typer(help="Web tasks: validate custom task files, check oracles, export generated tasks.",
                  no_args_is_help=True)


def _report(runs: list, console) -> int:
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("task", "oracle", "success", "outcome", "return", "steps", "problems"):
        table.add_column(column)
    failed = 0
    for run in runs:
        failed += not run.ok
        table.add_row(run.task_id, "yes" if run.has_oracle else "no", "yes" if run.success else "NO",
                      f"{run.outcome:.2f}", f"{run.reward:.3f}", str(run.steps),
                      "; ".join(run.errors)[:120] or ("no oracle" if not run.has_oracle else ""))
    console.print(table)
    console.print(f"{len(runs) - failed}/{len(runs)} tasks solved by their oracle")
    return failed


@tasks_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="custom task file (.jsonl, .json, .yaml)")],
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="only these task ids")] = None,
    headed: Annotated[bool, typer.Option(help="show the browser window")] = False,
) -> None:
    """Check a custom task file and run every task's oracle in Chromium; exit 1 if any fails."""
    from agentgym.cli.common import check_input_path, cli_errors, console, fail

    check_input_path(file, "FILE")
    with cli_errors():
        from agentgym.envs.web.env import WebEnv
        from agentgym.envs.web.oracle import run_oracle
        from agentgym.tasks.web.custom import load_custom_tasks

        specs = load_custom_tasks(file)  # a broken file fails here, before Chromium starts
        console.print(f"{file}: {len(specs)} task(s) parsed")
        known = [getattr(spec, "id", None) for spec in specs]
        for task_id in task or []:
            if task_id not in known:
                fail(f"--task {task_id!r}: not in {file} (ids: {', '.join(str(k) for k in known[:10])})")
    with cli_errors(work=True):
        env = WebEnv(suite="custom", task_file=str(file), headless=not headed)
        try:
            ids = task or env.task_ids()
            runs = [run_oracle(env, task_id) for task_id in ids]
        finally:
            env.close()
    if _report(runs, console):
        raise typer.Exit(1)


@tasks_app.command("check-oracles")
def check_oracles(
    suite: Annotated[str, typer.Argument(help="shop | booking | mail | apps | miniwob")] = "apps",
    limit: Annotated[int, typer.Option(min=0, help="tasks per run (0 = all)")] = 10,
    num_tasks: Annotated[int, typer.Option(min=1, help="generated tasks per app")] = 100,
) -> None:
    """Play the oracle of a suite's tasks (MiniWoB: the tasks that have one); exit 1 if any fails."""
    from agentgym.cli.common import cli_errors, console, fail

    if suite not in ("shop", "booking", "mail", "apps", "miniwob"):
        fail(f"SUITE must be shop, booking, mail, apps or miniwob, got {suite!r}")
    with cli_errors(work=True):
        from agentgym.envs.web.env import WebEnv
        from agentgym.envs.web.miniwob import ORACLES
        from agentgym.envs.web.oracle import run_oracle

        kwargs = {} if suite == "miniwob" else {"num_tasks": num_tasks}
        env = WebEnv(suite=suite, **kwargs)
        try:
            ids = sorted(ORACLES) if suite == "miniwob" else env.task_ids()
            ids = ids[:limit] if limit else ids
            runs = [run_oracle(env, task_id, seed=i) for i, task_id in enumerate(ids)]
        finally:
            env.close()
    if _report(runs, console):
        raise typer.Exit(1)


@tasks_app.command("export")
def export(
    suite: Annotated[str, typer.Argument(help="shop | booking | mail | apps")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output JSONL")],
    num_tasks: Annotated[int, typer.Option(min=1, help="tasks per app")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="generator seed")] = 0,
) -> None:
    """Write a suite's generated tasks (goal, subgoals, oracle, hidden spec) as JSONL."""
    from agentgym.cli.common import check_output_path, cli_errors, console

    check_output_path(out, "--out")
    with cli_errors():
        from agentgym.errors import TaskError
        from agentgym.tasks.web.source import web_tasks

        if suite not in ("shop", "booking", "mail", "apps"):
            raise TaskError(f"export writes the generated app suites (shop, booking, mail, apps), not {suite!r}")
        source = web_tasks(suite, num_tasks=num_tasks, generator_seed=seed)
        with out.open("w", encoding="utf-8") as handle:
            for task in source:
                handle.write(json.dumps(task.model_dump(mode="json")) + "\n")
    console.print(f"wrote {len(source)} tasks to {out}")


@tasks_app.command("list")
def list_suites() -> None:
    """The web suites and their task counts."""
    from agentgym.cli.common import console
    from agentgym.envs.web.miniwob import ORACLES
    from agentgym.tasks.web.miniwob import EXCLUDED, all_task_names, playable_task_names
    from agentgym.tasks.web.source import web_tasks

    console.print(f"miniwob: {len(playable_task_names())} playable of {len(all_task_names())} "
                  f"({len(EXCLUDED)} excluded: coordinates, drag, hover, selection, visual-only), {len(ORACLES)} with oracles")
    for name in ("shop", "booking", "mail"):
        console.print(f"{name}: {len(web_tasks(name))} generated tasks (num_tasks=N for more)")
    console.print("custom: suite='custom', task_file=PATH (validate with `agentgym tasks web validate PATH`)")
