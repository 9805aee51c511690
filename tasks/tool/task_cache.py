"""Generated ToolUse tasks kept on disk, so a new process loads the 220-task suite as JSON instead
of regenerating it from the seeded SQLite worlds.

An entry is keyed by a SHA-256 of the generator's own source (this package's `worlds.py` and
`world_data.py`), the pydantic version and the generation arguments (world, count, seed): editing
the generator changes the key, so an entry is never stale. An unreadable entry, or one whose task
count or ids do not match the request, is regenerated. Entries are written to a temporary file and
renamed into place.

Folder: `$AGENTGYM_TASK_CACHE`, else `$XDG_CACHE_HOME/agentgym/tool-tasks`, else
`~/.cache/agentgym/tool-tasks`; `AGENTGYM_TASK_CACHE=off` disables it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
GENERATOR_FILES = ("worlds.py", "world_data.py")


def cache_dir() -> Path | None:
    """Where entries live; None when the cache is disabled."""
    configured = os.environ.get("AGENTGYM_TASK_CACHE")
    if configured is not None and configured.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "agentgym" / "tool-tasks"


@cache
def generator_digest() -> str:
    """SHA-256 of the generator's source files and the pydantic version."""
    digest = hashlib.sha256(metadata.version("pydantic").encode())
    here = Path(__file__).parent
    for name in GENERATOR_FILES:
        digest.update(name.encode())
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def cached_tasks(
    model: type[T], key_parts: Sequence[object], generate: Callable[[], Sequence[T]], expected: int
) -> list[T]:
    """`generate()`, or its stored result for the same generator source and `key_parts`."""
    directory = cache_dir()
    if directory is None:
        return list(generate())
    key = hashlib.sha256(json.dumps([generator_digest(), *map(str, key_parts)]).encode()).hexdigest()[:32]
    path = directory / f"{key}.json"
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            tasks = [model.model_validate(item) for item in stored["tasks"]]
            if stored.get("key") == key and len(tasks) == expected:
                return tasks
            log.warning("regenerating tool tasks: cached entry %s does not match its key", path)
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning("regenerating tool tasks: cached entry %s unusable (%s)", path, exc)
    tasks = list(generate())
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".partial-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump({"key": key, "tasks": [t.model_dump(mode="json") for t in tasks]}, file)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:  # a read-only home: work without the cache
        log.warning("could not cache tool tasks in %s: %s", directory, exc)
    return tasks
