"""`agentgym tasks counter ...`: list and show the counter family's tasks.

Mounted by agentgym from `Family.commands` ("tasks counter" -> this `app`).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from agentgym.errors import TaskError

from agentgym_counter.tasks import counter_tasks

app = typer.Typer(help="The counter family's generated tasks.", no_args_is_help=True)

NumTasks = Annotated[int, typer.Option("--num-tasks", help="size of the suite (the env's num_tasks)")]


@app.command("list")
def list_tasks(
    split: Annotated[str | None, typer.Option("--split", "-s", help="train | test (default: all)")] = None,
    num_tasks: NumTasks = 60,
) -> None:
    """One line per task: id, split, start, target, budget."""
    source = counter_tasks(num_tasks)
    if split is not None and split not in source.splits():
        typer.echo(f"error: unknown split {split!r}; splits: {', '.join(source.splits())}", err=True)
        raise typer.Exit(2)
    test = set(source.ids("test"))
    for task_id in source.ids(split):
        task = source.get(task_id)
        where = "test" if task_id in test else "train"
        typer.echo(f"{task.id}  {where:5}  start={task.start}  target={task.target}  budget={task.budget}")


@app.command("show")
def show(
    task_id: Annotated[str, typer.Argument(help="e.g. counter-007")],
    gold: Annotated[bool, typer.Option("--gold", help="include the hidden solution")] = False,
    num_tasks: NumTasks = 60,
) -> None:
    """A task as JSON: what the agent sees, or with --gold everything."""
    try:
        task = counter_tasks(num_tasks).get(task_id)
    except TaskError as exc:  # names close ids
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(task.model_dump(mode="json") if gold else task.public(), indent=2))
