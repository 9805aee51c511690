"""The `Sandbox` protocol and the pieces every backend shares.

A sandbox is an isolated place to run an agent's shell commands: `run(cmd, timeout)` returns
`(exit_code, output)`; files move in and out with `write_file` / `read_file`; `diff` gives the
repository's changes against a base; `reset` brings back a fresh copy; `close` frees everything.
Backends (docker, local bubblewrap) drive the same in-sandbox driver (`driver.py`) over a byte
stream, so behaviour (timeouts, truncation, state between commands, limits) is identical across
them.

The machinery's own work in a sandbox (`exec`, `export_tree`, `diff`, `kill_all`) never goes
through the agent's shell: fixed environment, absolute tool paths, nothing the agent exported.

Errors: `SandboxError` (an `InfrastructureError`) is a failure of the machinery: the engine, the
container, the driver. `SandboxCrashed` (a `SandboxError`) is a sandbox that died of something its
agent did inside it, as the backend reports it (e.g. the container's memory limit was hit and the
kernel killed the driver): a caller that knows better (e.g. an env grading code in the sandbox) turns it into an agent outcome.
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
#: git options for machinery commands in a repository the agent controls: no hooks, no fsmonitor,
#: no untracked cache, no pager, no quoting of paths
GIT_SAFE = (
    "-c core.hooksPath=/dev/null -c core.fsmonitor=false -c core.untrackedCache=false "
    "-c core.pager=cat -c core.quotepath=off -c diff.external="
)
#: files no diff should carry (what the images' global gitignore lists)
GENERATED_FILES = ("__pycache__/", "*.pyc", "*.pyo", ".pytest_cache/", "*.egg-info/")


#: What `export_tree` leaves out: version control, bytecode (never graded, and a planted `.pyc`
#: would run instead of its source).
TREE_EXCLUDES = (".git", "__pycache__", "*.pyc", "*.pyo")


class SandboxError(InfrastructureError):
    """The sandbox itself failed (container died, driver gone): an infrastructure failure."""


class SandboxCrashed(SandboxError):
    """The sandbox died of something its agent did (e.g. it ran out of memory), as its backend says.

    Still a `SandboxError` (callers that do not handle it keep the old behaviour), but an agent
    outcome for those that do: `cause` says what happened, in words for the agent."""

    def __init__(self, message: str, cause: str):
        super().__init__(message)
        self.cause = cause


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of agent text, whatever it holds: lone surrogates from undecodable bytes
    (U+DC80..U+DCFF) become those bytes again, any other lone surrogate becomes '?'."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        elif 0xD800 <= code <= 0xDFFF:
            out += b"?"
        else:
            out += ch.encode("utf-8")
    return bytes(out)


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


@dataclass
class ExecResult:
    """A machinery command's result (`DriverSandbox.exec`): full stdout (up to a limit), stderr tail."""

    exit_code: int
    stdout: bytes
    stderr: str
    timed_out: bool
    truncated: bool


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

    def death_cause(self) -> str | None:
        """Why the sandbox died, when its backend can tell that its agent caused it (else None)."""
        return None

    def _request(self, payload: dict, timeout: float) -> dict:
        try:
            return self._ch().request(payload, timeout=timeout)
        except SandboxCrashed:
            raise
        except SandboxError as exc:
            try:
                cause = self.death_cause()
            except Exception:  # noqa: BLE001 - the engine itself may be gone: keep the original error
                cause = None
            if cause:
                raise SandboxCrashed(f"the sandbox died: {cause} ({exc})", cause) from None
            raise

    def run_detailed(
        self, cmd: str, timeout: float | None = None, *, head: int | None = None, tail: int | None = None
    ) -> CommandDetail:
        """Run `cmd`; keeps `head` + `tail` bytes of output (defaults: the sandbox's limits)."""
        timeout = float(timeout if timeout is not None else self.default_timeout)
        head = self.head_bytes if head is None else head
        tail = self.tail_bytes if tail is None else tail
        resp = self._request(
            {
                "op": "run",
                "cmd_b64": base64.b64encode(encode_text(cmd)).decode(),
                "timeout": timeout,
                "head": head,
                "tail": tail,
            },
            timeout=timeout + DRIVER_GRACE,
        )
        if not resp.get("ok"):
            raise SandboxError(f"sandbox could not run the command: {resp.get('error')}")
        head = base64.b64decode(resp["head"])
        tail = base64.b64decode(resp["tail"])
        output = format_output(head, tail, int(resp["dropped"]))
        if resp["timed_out"]:
            output += f"\n[command timed out after {timeout:g} s; every process it started was killed]\n"
        for note in resp.get("notes") or ():
            output += f"{'' if output.endswith(chr(10)) or not output else chr(10)}[{note}]\n"
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

    def exec(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 60.0,
        stdin: bytes | None = None,
        limit: int = 64_000_000,
    ) -> ExecResult:
        """Run `argv` for the machinery: a fixed environment (plus `env`), not the agent's shell.

        stdout is returned whole up to `limit` bytes (`truncated` past it, the command killed)."""
        payload: dict = {
            "op": "exec",
            "argv": list(argv),
            "env": env or {},
            "cwd": cwd or self.workdir,
            "timeout": timeout,
            "limit": limit,
            "stdin": base64.b64encode(stdin).decode() if stdin else None,
        }
        resp = self._request(payload, timeout=timeout + DRIVER_GRACE + (len(stdin or b"") + limit) / 5e7)
        if not resp.get("ok"):
            raise SandboxError(f"sandbox could not run {argv[0]}: {resp.get('error')}")
        return ExecResult(
            int(resp["exit_code"]),
            base64.b64decode(resp["stdout"]),
            base64.b64decode(resp["stderr"]).decode("utf-8", "replace"),
            bool(resp["timed_out"]),
            bool(resp.get("truncated")),
        )

    def kill_all(self) -> int:
        """Kill every process in the sandbox but its driver (the agent's leftovers); returns how many."""
        return int(self._request({"op": "killall"}, timeout=DRIVER_GRACE + 10).get("killed", 0))

    def export_tree(
        self,
        path: str | None = None,
        *,
        excludes: tuple[str, ...] = TREE_EXCLUDES,
        max_file_bytes: int = 10_000_000,
        limit: int = 100_000_000,
        timeout: float = 120.0,
    ) -> tuple[bytes, bool]:
        """A tar of the tree at `path` (default: the workdir) as the sandbox holds it, made by the
        machinery (`exec`): `excludes` (names, at any depth) and files over `max_file_bytes` left out,
        unreadable files skipped. Returns (tar bytes, complete); complete is False when the tar
        would exceed `limit` bytes, took longer than `timeout` or could not be made (what is in
        the tree is its owner's doing: only a dead sandbox raises)."""
        prune = " -o ".join(f"-name {shlex.quote(e)}" for e in excludes)
        root = shlex.quote(path or self.workdir)
        archive = (
            f"{{ find . \\( {prune} \\) -prune -o -type f -size +{max(1, max_file_bytes // 1024)}k -o -print0 "
            "| tar --null --no-recursion -T - --ignore-failed-read --warning=none -S -cf -; }"
            if excludes
            else "tar --ignore-failed-read --warning=none -S -cf - ."
        )
        # the tree's root may have been made unreadable by its owner, whose rights we have
        script = f"chmod u+rwx {root} 2>/dev/null; cd {root} || exit 3; {archive}"
        res = self.exec(["/bin/sh", "-c", script], timeout=timeout, limit=limit)
        complete = not res.truncated and not res.timed_out and res.exit_code in (0, 1)
        return res.stdout, complete

    def _abs(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.workdir.rstrip('/')}/{path}"

    def write_file(self, path: str, data: str | bytes, mode: int | None = None) -> None:
        raw = encode_text(data) if isinstance(data, str) else bytes(data)
        resp = self._request(
            {"op": "write", "path": self._abs(path), "data": base64.b64encode(raw).decode(), "mode": mode},
            timeout=DRIVER_GRACE + len(raw) / 1e6,
        )
        if not resp.get("ok"):
            raise FileNotFoundError(f"cannot write {path}: {resp.get('error')}")

    def read_file(self, path: str, limit: int | None = None) -> bytes:
        resp = self._request(
            {"op": "read", "path": self._abs(path), "limit": limit}, timeout=DRIVER_GRACE + 10
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
        """`git diff` of the working tree (untracked files included) against `base`, binary-safe.

        Run by the machinery with git's hooks, fsmonitor, external diff and textconv off and a
        throwaway index; the agent's exports and shell state play no part."""
        repo = path or self.workdir
        ignore = "\\n".join(GENERATED_FILES)
        script = (
            'd=$(mktemp -d) || exit 3; trap \'rm -rf "$d"\' EXIT; cp .git/index "$d/index" 2>/dev/null; '
            f'printf "{ignore}\\n" > "$d/ignore"; '
            f'GIT_INDEX_FILE="$d/index" git {GIT_SAFE} -c core.excludesFile="$d/ignore" add -A >/dev/null 2>&1 && '
            f'GIT_INDEX_FILE="$d/index" git {GIT_SAFE} diff --cached --binary --no-ext-diff --no-textconv '
            f"--no-color {shlex.quote(base)}"
        )
        res = self.exec(["/bin/sh", "-c", script], cwd=repo, timeout=60)
        if res.exit_code != 0 or res.truncated:
            raise SandboxError(f"git diff failed in the sandbox ({res.exit_code}): {res.stderr[-500:]}")
        return res.stdout.decode("utf-8", errors="replace")

    # context manager sugar
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # type: ignore[attr-defined]
