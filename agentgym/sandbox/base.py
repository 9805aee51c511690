"""The `Sandbox` protocol and the pieces every backend shares.

A sandbox is an isolated place to run an agent's shell commands: `run(cmd, timeout)` returns
`(exit_code, output)`; files move in and out with `write_file` / `read_file`; `diff` gives the
repository's changes against a base; `reset` brings back a fresh copy; `close` frees everything.
Backends (docker, local bubblewrap) drive the same in-sandbox driver (`driver.py`) over a byte
stream, so behaviour (timeouts, truncation, state between commands) is identical across them.
"""

from __future__ import annotations

import base64
import json
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from agentgym.errors import InfrastructureError

DEFAULT_TIMEOUT = 60.0
DEFAULT_HEAD = 10_000
DEFAULT_TAIL = 10_000
#: Seconds the host waits beyond a command's own timeout before declaring the sandbox dead.
DRIVER_GRACE = 15.0
WORKDIR = "/testbed"


class SandboxError(InfrastructureError):
    """The sandbox itself failed (container died, driver gone): an infrastructure failure."""


class CommandResult(NamedTuple):
    exit_code: int
    output: str


@dataclass
class CommandDetail:
    """Everything known about one command (what `run_detailed` returns)."""

    exit_code: int
    output: str
    timed_out: bool
    truncated_bytes: int
    duration: float


@runtime_checkable
class Sandbox(Protocol):
    """What every backend provides."""

    workdir: str

    def run(self, cmd: str, timeout: float | None = None) -> CommandResult: ...
    def write_file(self, path: str, data: str | bytes, mode: int | None = None) -> None: ...
    def read_file(self, path: str) -> bytes: ...
    def diff(self, base: str = "HEAD", path: str | None = None) -> str: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


def format_output(head: bytes, tail: bytes, dropped: int) -> str:
    """Decode head + tail (binary-safe: undecodable bytes become U+FFFD, NULs are shown as \\0)."""
    text = head.decode("utf-8", errors="replace")
    if dropped > 0:
        text += f"\n[... {dropped} bytes of output truncated ...]\n"
    text += tail.decode("utf-8", errors="replace")
    return text.replace("\x00", "\\0")


class DriverChannel:
    """JSON-lines request/response with the driver over a byte transport.

    `send(bytes)` writes; `recv(timeout) -> bytes` returns the next chunk ('' at EOF) or raises
    TimeoutError. One request at a time (a lock), so a sandbox may be shared by threads.
    """

    def __init__(
        self, send: Callable[[bytes], None], recv: Callable[[float], bytes], describe: Callable[[], str]
    ):
        self._send = send
        self._recv = recv
        self._describe = describe
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self.dead: str | None = None

    def _readline(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            idx = self._buffer.find(b"\n")
            if idx >= 0:
                line = bytes(self._buffer[: idx + 1])
                del self._buffer[: idx + 1]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            chunk = self._recv(remaining)
            if not chunk:
                raise EOFError
            self._buffer += chunk

    def wait_ready(self, timeout: float = 30.0) -> dict:
        return self._read_reply(timeout)

    def _read_reply(self, timeout: float) -> dict:
        try:
            line = self._readline(timeout)
        except TimeoutError:
            self.dead = "driver did not answer in time"
            raise SandboxError(
                f"sandbox driver did not answer within {timeout:.0f} s ({self._describe()})"
            ) from None
        except (EOFError, OSError) as exc:
            self.dead = "driver connection closed"
            raise SandboxError(
                f"sandbox died: driver connection closed ({self._describe()}): {exc or 'EOF'}"
            ) from None
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            self.dead = "driver sent garbage"
            raise SandboxError(f"sandbox driver sent an unreadable reply: {line[:200]!r}") from None

    def request(self, payload: dict, timeout: float) -> dict:
        with self._lock:
            if self.dead:
                raise SandboxError(f"sandbox is dead ({self.dead}; {self._describe()})")
            try:
                self._send(json.dumps(payload).encode() + b"\n")
            except OSError as exc:
                self.dead = "driver connection broken"
                raise SandboxError(
                    f"sandbox died: cannot send to driver ({self._describe()}): {exc}"
                ) from None
            return self._read_reply(timeout)


class DriverSandbox:
    """Shared implementation on top of a `DriverChannel`; backends provide `_channel` and lifecycle."""

    workdir: str = WORKDIR
    default_timeout: float = DEFAULT_TIMEOUT
    head_bytes: int = DEFAULT_HEAD
    tail_bytes: int = DEFAULT_TAIL
    _channel: DriverChannel | None = None

    def _ch(self) -> DriverChannel:
        if self._channel is None:
            raise SandboxError("sandbox is closed")
        return self._channel

    def run_detailed(
        self, cmd: str, timeout: float | None = None, *, head: int | None = None, tail: int | None = None
    ) -> CommandDetail:
        """Run `cmd`; keeps `head` + `tail` bytes of output (defaults: the sandbox's limits)."""
        timeout = float(timeout if timeout is not None else self.default_timeout)
        head = self.head_bytes if head is None else head
        tail = self.tail_bytes if tail is None else tail
        resp = self._ch().request(
            {"op": "run", "cmd": cmd, "timeout": timeout, "head": head, "tail": tail},
            timeout=timeout + DRIVER_GRACE,
        )
        if not resp.get("ok"):
            raise SandboxError(f"sandbox could not run the command: {resp.get('error')}")
        head = base64.b64decode(resp["head"])
        tail = base64.b64decode(resp["tail"])
        output = format_output(head, tail, int(resp["dropped"]))
        if resp["timed_out"]:
            output += f"\n[command timed out after {timeout:g} s; its process group was killed]"
        return CommandDetail(
            int(resp["exit_code"]),
            output,
            bool(resp["timed_out"]),
            int(resp["dropped"]),
            float(resp["duration"]),
        )

    def run(self, cmd: str, timeout: float | None = None) -> CommandResult:
        d = self.run_detailed(cmd, timeout)
        return CommandResult(d.exit_code, d.output)

    def _abs(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.workdir.rstrip('/')}/{path}"

    def write_file(self, path: str, data: str | bytes, mode: int | None = None) -> None:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        resp = self._ch().request(
            {"op": "write", "path": self._abs(path), "data": base64.b64encode(raw).decode(), "mode": mode},
            timeout=DRIVER_GRACE + len(raw) / 1e6,
        )
        if not resp.get("ok"):
            raise FileNotFoundError(f"cannot write {path}: {resp.get('error')}")

    def read_file(self, path: str, limit: int | None = None) -> bytes:
        resp = self._ch().request(
            {"op": "read", "path": self._abs(path), "limit": limit}, timeout=DRIVER_GRACE
        )
        if not resp.get("ok"):
            raise FileNotFoundError(f"cannot read {path}: {resp.get('error')}")
        return base64.b64decode(resp["data"])

    def ping(self) -> bool:
        try:
            return bool(self._ch().request({"op": "ping"}, timeout=5).get("ok"))
        except SandboxError:
            return False

    def diff(self, base: str = "HEAD", path: str | None = None) -> str:
        """`git diff` of the working tree (untracked files included) against `base`, binary-safe."""
        repo = shlex.quote(path or self.workdir)
        out = "/tmp/.agentgym-diff.patch"
        cmd = (
            f'cd {repo} && idx=$(mktemp) && cp .git/index "$idx" 2>/dev/null; '
            f'GIT_INDEX_FILE="$idx" git add -A >/dev/null 2>&1 && '
            f'GIT_INDEX_FILE="$idx" git -c core.quotepath=off diff --cached --binary {shlex.quote(base)} > {out}; '
            f'rc=$?; rm -f "$idx"; exit $rc'
        )
        d = self.run_detailed(cmd, timeout=60)
        if d.exit_code != 0:
            raise SandboxError(f"git diff failed in the sandbox ({d.exit_code}): {d.output[-500:]}")
        data = self.read_file(out)
        self.run(f"rm -f {out}", timeout=30)
        return data.decode("utf-8", errors="replace")

    # context manager sugar
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # type: ignore[attr-defined]
