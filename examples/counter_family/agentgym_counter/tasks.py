"""Counter tasks: reach a target number from a start value with add/multiply, within a budget.

Tasks are generated, not stored: task `counter-007` is the same on every machine, because its
random generator is seeded by `suite_seed` and the task index alone. This module imports nothing
from the env (rollouts list tasks through `counter_tasks` without building an env).
"""

from __future__ import annotations

import random
from typing import Literal

from agentgym import Task, TaskSource, hidden

Op = tuple[Literal["add", "multiply"], int]
ADD_RANGE = (1, 9)  # add(n): 1 <= n <= 9
MULTIPLY_RANGE = (2, 5)  # multiply(n): 2 <= n <= 5

PROMPT = (
    "The counter shows {start}. Make it show exactly {target}, then call submit. Tools: add(n) with "
    "1 <= n <= 9, multiply(n) with 2 <= n <= 5, submit(). You may use at most {budget} add/multiply "
    "operations; the counter never goes down. Reply with tool calls, or with commands such as "
    "'add 3' or 'multiply 2; submit'."
)


class CounterTask(Task):
    """Public: where the counter starts, the target, the operation budget. Hidden: a solution."""

    start: int
    target: int
    budget: int
    solution: list[Op] = hidden(default_factory=list)


def make_task(index: int, *, suite_seed: int = 0, max_ops: int = 4, slack: int = 1) -> CounterTask:
    """Task `index` of the suite: 2..max_ops random operations applied to a random start value;
    the budget is the solution's length plus `slack`."""
    rng = random.Random(f"counter:{suite_seed}:{index}")  # str seeds are stable across runs and machines
    start = value = rng.randint(1, 9)
    solution: list[Op] = []
    for _ in range(rng.randint(2, max_ops)):
        if rng.random() < 0.5:
            n = rng.randint(*ADD_RANGE)
            solution.append(("add", n))
            value += n
        else:
            n = rng.randint(*MULTIPLY_RANGE)
            solution.append(("multiply", n))
            value *= n
    budget = len(solution) + slack
    return CounterTask(
        id=f"counter-{index:03d}",
        prompt=PROMPT.format(start=start, target=value, budget=budget),
        start=start,
        target=value,
        budget=budget,
        solution=solution,
    )


def counter_tasks(
    num_tasks: int = 60, max_ops: int = 4, slack: int = 1, suite_seed: int = 0
) -> TaskSource[CounterTask]:
    """The suite: tasks counter-000 .. counter-{num_tasks-1}, split train/test by id hash (20% test).

    Called by the env and, with the env's keyword arguments it accepts, by `agentgym run`/`eval`
    to list tasks without building an env."""
    if num_tasks < 1 or max_ops < 2 or slack < 0:
        raise ValueError("need num_tasks >= 1, max_ops >= 2, slack >= 0")
    return TaskSource(
        lambda: [make_task(i, suite_seed=suite_seed, max_ops=max_ops, slack=slack) for i in range(num_tasks)],
        name="counter tasks",
    )
