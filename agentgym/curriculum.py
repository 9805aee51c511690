"""Curricula: which tasks a trainer plays next, from a task difficulty field or the policy's success.

Why: staged training (easy tasks first, then harder ones; or tasks the policy solves about half
the time, where GRPO groups carry the most signal) needs the order of tasks to depend on the task
and on the policy's progress. A curriculum works over one named split of an env's tasks (the
task source's `splits()`: `train`, `dev`, ...).

The interface (`Curriculum`), which a trainer drives once per step:

- `next_tasks(n, rng)`: the task ids of the next `n` groups;
- `update(records)`: the finished episodes of those groups (their `task_id` and success);
- `state()`: a JSON-able summary for the metrics log.

Two built-ins:

- `DifficultyCurriculum`: tasks ordered by a difficulty field (`task.<field>` or
  `task.metadata[<field>]`: a number, a label of `labels` (easy < medium < hard by default), or a
  mapping with a `score`); the pool starts with the easiest `start_fraction` of the tasks and grows
  linearly to all of them over `ramp_steps` calls of `next_tasks`; tasks are drawn from the pool.
- `SuccessRateCurriculum`: each task's running success rate (an exponential moving average,
  `prior` before it was played); tasks are drawn with weight ``p (1 - p) + floor``, highest for the
  tasks the policy solves about half the time.

`make_curriculum(name, env_id, env_kwargs, split=...)` builds either from an env's task source.
`GRPOConfig(curriculum="difficulty" | "success_rate", curriculum_split=...)` uses them in training;
`agentgym train grpo --curriculum difficulty` on the command line.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agentgym.errors import TaskError
from agentgym.outcome import success_of
from agentgym.trajectory import EpisodeRecord

DEFAULT_LABELS: tuple[str, ...] = ("trivial", "easy", "medium", "hard", "expert")
CURRICULA: tuple[str, ...] = ("difficulty", "success_rate")


class Curriculum(ABC):
    """Chooses the tasks of the next groups (see the module docstring)."""

    def __init__(self, task_ids: Sequence[str]) -> None:
        if not task_ids:
            raise TaskError("a curriculum needs at least one task")
        self.task_ids = list(task_ids)

    @abstractmethod
    def next_tasks(self, n: int, rng: np.random.Generator) -> list[str]:
        """The task ids of the next `n` groups."""

    def update(self, records: Sequence[EpisodeRecord]) -> None:  # noqa: B027 - optional hook
        """Learn from finished episodes (a curriculum that does not adapt ignores them)."""

    def state(self) -> dict[str, Any]:
        return {}


def difficulty_value(task: Any, field: str = "difficulty", labels: Sequence[str] = DEFAULT_LABELS) -> float:
    """A task's difficulty as a number (see the module docstring); raises `TaskError` without one."""
    value = getattr(task, field, None)
    if value is None:
        value = (getattr(task, "metadata", None) or {}).get(field)
    if isinstance(value, Mapping):
        value = value.get("score", value.get("level"))
    if isinstance(value, str):
        if value in labels:
            return float(list(labels).index(value))
        try:
            return float(value)
        except ValueError:
            raise TaskError(
                f"task {getattr(task, 'id', '?')!r}: difficulty label {value!r} is not one of {list(labels)}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TaskError(
            f"task {getattr(task, 'id', '?')!r} has no numeric {field!r} (as a field or in metadata); "
            "a difficulty curriculum needs one on every task"
        )
    return float(value)


class DifficultyCurriculum(Curriculum):
    """Easiest tasks first; the pool grows to every task over `ramp_steps` calls."""

    def __init__(
        self, difficulties: Mapping[str, float], *, start_fraction: float = 0.25, ramp_steps: int = 10
    ) -> None:
        if not 0.0 < start_fraction <= 1.0:
            raise ValueError(f"start_fraction must be in (0, 1], got {start_fraction!r}")
        if ramp_steps < 1:
            raise ValueError(f"ramp_steps must be >= 1, got {ramp_steps!r}")
        ordered = sorted(difficulties, key=lambda t: (difficulties[t], t))
        super().__init__(ordered)
        self.difficulties = dict(difficulties)
        self.start_fraction = start_fraction
        self.ramp_steps = ramp_steps
        self.calls = 0

    def pool(self) -> list[str]:
        """The tasks drawn from now: the easiest fraction, growing with each call."""
        progress = min(self.calls / self.ramp_steps, 1.0)
        fraction = self.start_fraction + (1.0 - self.start_fraction) * progress
        return self.task_ids[: max(1, math.ceil(fraction * len(self.task_ids)))]

    def next_tasks(self, n: int, rng: np.random.Generator) -> list[str]:
        pool = self.pool()
        self.calls += 1
        return [pool[int(i)] for i in rng.integers(len(pool), size=n)]

    def state(self) -> dict[str, Any]:
        pool = self.pool()
        return {"curriculum_pool": len(pool), "curriculum_max_difficulty": self.difficulties[pool[-1]]}


class SuccessRateCurriculum(Curriculum):
    """Tasks drawn with weight p(1-p) + floor, p the task's running success rate."""

    def __init__(
        self, task_ids: Sequence[str], *, prior: float = 0.5, decay: float = 0.5, floor: float = 0.02
    ) -> None:
        super().__init__(task_ids)
        if not 0.0 <= prior <= 1.0 or not 0.0 < decay <= 1.0 or floor <= 0.0:
            raise ValueError("prior must be in [0, 1], decay in (0, 1], floor > 0")
        self.rates = dict.fromkeys(self.task_ids, prior)
        self.decay = decay
        self.floor = floor

    def weights(self) -> np.ndarray:
        p = np.array([self.rates[t] for t in self.task_ids])
        w = p * (1.0 - p) + self.floor
        return w / w.sum()

    def next_tasks(self, n: int, rng: np.random.Generator) -> list[str]:
        picks = rng.choice(len(self.task_ids), size=n, p=self.weights())
        return [self.task_ids[int(i)] for i in picks]

    def update(self, records: Sequence[EpisodeRecord]) -> None:
        by_task: dict[str, list[float]] = {}
        for record in records:
            success = None if record.reward_invalid else success_of(record)
            if success is not None and record.task_id in self.rates:
                by_task.setdefault(record.task_id, []).append(float(success))
        for task_id, values in by_task.items():
            observed = sum(values) / len(values)
            self.rates[task_id] = (1.0 - self.decay) * self.rates[task_id] + self.decay * observed

    def state(self) -> dict[str, Any]:
        rates = list(self.rates.values())
        return {"curriculum_mean_rate": float(np.mean(rates))}


def make_curriculum(
    name: str,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    split: str | None = None,
    field: str = "difficulty",
    **options: Any,
) -> Curriculum:
    """A built-in curriculum over `split` of the env's task source (`agentgym.family.task_source`)."""
    from agentgym.family import task_source

    if name not in CURRICULA:
        raise ValueError(f"curriculum must be one of {', '.join(CURRICULA)}, got {name!r}")
    source = task_source(env_id, dict(env_kwargs or {}))
    if source is None:
        raise TaskError(f"{env_id} has no task source to build a curriculum from")
    if split is not None and split not in source.splits():
        raise TaskError(f"unknown split {split!r}; splits: {', '.join(source.splits())}")
    ids = source.ids(split)
    if name == "difficulty":
        return DifficultyCurriculum({t: difficulty_value(source.get(t), field) for t in ids}, **options)
    return SuccessRateCurriculum(ids, **options)
