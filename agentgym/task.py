"""Tasks: typed records of what an episode asks, with hidden fields kept from the agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

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
