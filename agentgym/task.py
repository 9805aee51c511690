"""Tasks: typed records of what an episode asks (hidden fields kept from the agent), task files,
and `TaskSource`, the list of an env's tasks with its train/test splits."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.errors import TaskError

T = TypeVar("T", bound="Task")


def hidden(default: Any = None, **kwargs: Any) -> Any:
    """A task field the agent must not see (gold answers, patches, tests)."""
    kwargs.setdefault("json_schema_extra", {})["hidden"] = True
    if "default_factory" in kwargs:
        return Field(**kwargs)
    return Field(default, **kwargs)


class Task(BaseModel):
    """Base task. Families subclass it and mark answers with `hidden(...)`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    prompt: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def hidden_fields(cls) -> set[str]:
        return {
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("hidden")
        }

    def public(self) -> dict[str, Any]:
        """The task as the agent may see it (`info["task"]`)."""
        return self.model_dump(exclude=self.hidden_fields(), mode="json")


def iter_task_file(path: str | Path, task_type: type[T]) -> Iterator[T]:
    """Read a JSONL task file; a broken line raises `TaskError` naming file, line and field."""
    path = Path(path)
    if not path.exists():
        raise TaskError(f"task file not found: {path}")
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield task_type.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TaskError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "record"
                raise TaskError(f"{path}:{line_no}: {where}: {first['msg']}") from None


def load_task_file(path: str | Path, task_type: type[T]) -> list[T]:
    tasks = list(iter_task_file(path, task_type))
    ids = [t.id for t in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TaskError(f"{path}: duplicate task ids: {', '.join(duplicates[:5])}")
    return tasks


# ---------------------------------------------------------------------- task sources
def stable_fraction(task_id: str) -> float:
    """A number in [0, 1) fixed by the task id alone (same on every machine and Python run)."""
    digest = hashlib.sha256(task_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class TaskSource(Generic[T]):
    """The tasks of an env, listable without building the env: ids, lookup, seeded draws, splits.

    `tasks` is a sequence or mapping of tasks, or a zero-argument loader called on first use
    (so listing the registered envs never loads a large task file). Splits: either given
    (`splits={"train": [...ids], "test": [...ids]}`) or derived from each task id's stable hash,
    `test_fraction` of the ids going to "test" and the rest to "train". A hashed split never moves
    a task between splits when other tasks are added or removed, so held-out results stay
    comparable as a suite grows.
    """

    def __init__(
        self,
        tasks: Sequence[T] | Mapping[str, T] | Callable[[], Sequence[T] | Mapping[str, T]],
        *,
        splits: Mapping[str, Sequence[str]] | None = None,
        test_fraction: float = 0.2,
        name: str = "tasks",
    ) -> None:
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
        self.name = name
        self.test_fraction = test_fraction
        self._source = tasks
        self._given_splits = {k: list(v) for k, v in splits.items()} if splits is not None else None
        self._tasks: dict[str, T] | None = None
        self._splits: dict[str, list[str]] | None = None

    # ------------------------------------------------------------------ loading
    def _load(self) -> dict[str, T]:
        if self._tasks is None:
            source = self._source() if callable(self._source) else self._source
            items = list(source.values()) if isinstance(source, Mapping) else list(source)
            tasks: dict[str, T] = {}
            for task in items:
                if task.id in tasks:
                    raise TaskError(f"{self.name}: duplicate task id {task.id!r}")
                tasks[task.id] = task
            self._tasks = tasks
        return self._tasks

    def _split_map(self) -> dict[str, list[str]]:
        if self._splits is None:
            ids = list(self._load())
            if self._given_splits is not None:
                known = set(ids)
                for split, members in self._given_splits.items():
                    unknown = [i for i in members if i not in known]
                    if unknown:
                        raise TaskError(f"{self.name}: split {split!r} names unknown task ids {unknown[:3]}")
                self._splits = self._given_splits
            else:
                test = [i for i in ids if stable_fraction(i) < self.test_fraction]
                held = set(test)
                self._splits = {"train": [i for i in ids if i not in held], "test": test}
        return self._splits

    # ------------------------------------------------------------------ queries
    def splits(self) -> list[str]:
        """The split names (e.g. ["train", "test"])."""
        return list(self._split_map())

    def ids(self, split: str | None = None) -> list[str]:
        """Task ids in a stable order; only those of `split` when given."""
        if split is None:
            return list(self._load())
        splits = self._split_map()
        if split not in splits:
            raise TaskError(f"{self.name}: unknown split {split!r}; splits: {', '.join(splits)}")
        return list(splits[split])

    def get(self, task_id: str) -> T:
        """The task with this id; `TaskError` naming close ids when there is none."""
        tasks = self._load()
        task = tasks.get(task_id)
        if task is None:
            close = difflib.get_close_matches(task_id, list(tasks), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; {len(tasks)} tasks, e.g. {', '.join(list(tasks)[:3])}"
            raise TaskError(f"{self.name}: unknown task id {task_id!r}{hint}")
        return task

    def sample(self, rng: np.random.Generator, split: str | None = None) -> T:
        """One task drawn with `rng` (an env's seeded `np_random`: same seed, same task)."""
        ids = self.ids(split)
        if not ids:
            where = f" in split {split!r}" if split else ""
            raise TaskError(f"{self.name}: no tasks{where}")
        return self._load()[ids[int(rng.integers(len(ids)))]]

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._load()

    def __iter__(self) -> Iterator[T]:
        return iter(self._load().values())
