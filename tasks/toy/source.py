"""StallOrSubmit tasks: `num_tasks` generated tasks, each with a hidden amount of work to do."""

from __future__ import annotations

from agentgym.task import Task, TaskSource, hidden

PROMPT = (
    "A task needs an unknown amount of work. Tools: work (make progress), noop (do nothing), "
    "submit (hand in; ends the episode). Reply with one tool call per turn."
)


class ToyTask(Task):
    work_needed: int = hidden(3)


def toy_tasks(num_tasks: int = 100, max_work_needed: int = 5) -> TaskSource[ToyTask]:
    """Tasks toy-0 .. toy-{num_tasks-1}; the work each needs is fixed by its index."""
    if num_tasks < 1 or max_work_needed < 1:
        raise ValueError("num_tasks and max_work_needed must be >= 1")
    return TaskSource(
        lambda: [
            ToyTask(id=f"toy-{i}", prompt=PROMPT, work_needed=1 + (i * 7919) % max_work_needed)
            for i in range(num_tasks)
        ],
        name="StallOrSubmit tasks",
    )
