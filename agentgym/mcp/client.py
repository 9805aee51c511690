"""MCP client: servers over stdio, their tools as synchronous agentgym tools.

    client = MCPClient([{"command": "mcp-server-time", "args": ["--local-timezone", "UTC"]}])
    toolset = client.toolset()          # agentgym Toolset of SchemaTools
    toolset.call(ToolCall(name="get_current_time", arguments={"timezone": "UTC"}))
    client.close()

The MCP sessions live on one background thread running an asyncio loop; `call` schedules the
request there and waits, so callers (an env's `step`) stay synchronous. A tool result with
`isError` becomes a `ToolError` (the agent's mistake); an invalid-params/unknown-tool protocol
error too; a server that exits, hangs past `call_timeout` or breaks the connection raises
`InfrastructureError`.

A server that fails to start is reported by its cause, never by the SDK's wrapping: "command not
found", "exited with code 3 before the MCP handshake", "did not answer within 60 s", with the
last lines the server wrote to stderr (each server's stderr goes to its own file, or to
`stderr_path`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Mapping
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.errors import InfrastructureError, ToolError
from agentgym.mcp.schema_tool import SchemaTool
from agentgym.tools import Toolset

AGENT_ERROR_CODES = {-32602, -32601}  # invalid params, method not found
STDERR_TAIL_LINES = 5

# The SDK logs a server's malformed output with a traceback; the error we raise says it in one line.
logging.getLogger("mcp").addHandler(logging.NullHandler())

#: the processes the SDK spawned in the current server task (see `_record_spawns`)
_SPAWNED: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("agentgym_mcp_spawned", default=None)


def _record_spawns() -> None:
    """Let each server task see the process the SDK spawned for it, for its exit code. The SDK
    keeps the process to itself; its spawn function is wrapped once (and left alone if absent)."""
    try:
        from mcp.client import stdio
    except ImportError:  # pragma: no cover
        return
    original = getattr(stdio, "_create_platform_compatible_process", None)
    if original is None or getattr(original, "_agentgym_records", False):
        return

    async def create(*args: Any, **kwargs: Any) -> Any:
        process = await original(*args, **kwargs)
        spawned = _SPAWNED.get()
        if spawned is not None:
            spawned.append(process)
        return process

    create._agentgym_records = True  # type: ignore[attr-defined]
    stdio._create_platform_compatible_process = create


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, cancellations last."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
        return sorted(leaves, key=lambda e: isinstance(e, asyncio.CancelledError | GeneratorExit))
    return [exc]


def describe_error(exc: BaseException) -> str:
    """One line for an error, group wrappers removed: `FileNotFoundError: ...`."""
    leaf = leaf_errors(exc)[0]
    text = " ".join(str(leaf).split())
    return f"{type(leaf).__name__}: {text}" if text else type(leaf).__name__


class ServerSpec(BaseModel):
    """MCP stdio server parameters (the same names as the SDK's StdioServerParameters)."""

    model_config = ConfigDict(extra="forbid")

    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | None = None
    name: str | None = None

    def label(self, index: int) -> str:
        return self.name or f"{os.path.basename(self.command)}#{index}"


def content_text(result: Any) -> str:
    """The text of a CallToolResult: text parts joined; other parts summarized; structured content
    as JSON when there is no text."""
    parts: list[str] = []
    for item in getattr(result, "content", None) or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind == "resource":
            resource = getattr(item, "resource", None)
            parts.append(getattr(resource, "text", None) or f"[resource {getattr(resource, 'uri', '')}]")
        else:
            parts.append(f"[{kind} content]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content, default=str))
    return "\n".join(parts)


class _Server:
    def __init__(self, spec: ServerSpec, index: int):
        self.spec = spec
        self.index = index
        self.label = spec.label(index)
        self.session: Any = None
        self.tools: list[Any] = []
        self.task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.stop: asyncio.Event | None = None
        self.dead = False
        self.errlog: IO[str] | None = None
        self.errlog_start = 0
        self.process: Any = None

    def exit_status(self) -> str | None:
        """How the server's process ended ("exited with code 3", "killed by SIGKILL"), or None
        while it runs or when unknown."""
        code = getattr(self.process, "returncode", None)
        if code is None:
            return None
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"


class MCPClient:
    """Connects to one or more MCP servers over stdio."""

    def __init__(
        self,
        servers: Iterable[ServerSpec | Mapping[str, Any]],
        *,
        start_timeout: float = 60.0,
        call_timeout: float = 60.0,
        prefix_names: bool = False,
        stderr_path: str | None = None,
    ):
        self.specs = [s if isinstance(s, ServerSpec) else ServerSpec.model_validate(dict(s)) for s in servers]
        if not self.specs:
            raise ValueError("MCPClient needs at least one server")
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.prefix_names = prefix_names
        self._servers = [_Server(spec, i) for i, spec in enumerate(self.specs)]
        self._routes: dict[str, tuple[_Server, str]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="agentgym-mcp", daemon=True)
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "a") if stderr_path else None  # noqa: SIM115
        for server in self._servers:  # each server's stderr: its own temporary file, or stderr_path
            server.errlog = self._stderr if self._stderr is not None else tempfile.TemporaryFile("w+")  # noqa: SIM115
            server.errlog.flush()
            server.errlog_start = os.fstat(server.errlog.fileno()).st_size
        self._closed = False
        _record_spawns()
        self._thread.start()
        try:
            self._submit(self._start_all(), timeout=start_timeout)
        except InfrastructureError as exc:
            message = str(exc)
            if message.startswith("MCP request timed out"):
                waiting = [s for s in self._servers if s.session is None] or self._servers
                message = "; ".join(
                    f"MCP server {s.label} did not finish the MCP handshake within {start_timeout:g} s"
                    f"{self._stderr_note(s)}" for s in waiting
                )
            self.close()
            raise InfrastructureError(message) from None
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ loop plumbing
    def _submit(self, coro: Any, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            for server in self._servers:  # a hung server is as good as dead: restart on the next reset
                server.dead = True
            raise InfrastructureError(f"MCP request timed out after {timeout:.0f} s") from exc

    async def _start_all(self) -> None:
        ready = []
        for server in self._servers:
            future: asyncio.Future[None] = self._loop.create_future()
            server.stop = asyncio.Event()
            server.task = self._loop.create_task(self._run(server, future))
            ready.append(future)
        results = await asyncio.gather(*ready, return_exceptions=True)
        for server, result in zip(self._servers, results, strict=True):
            if isinstance(result, BaseException):
                if server.task is not None:  # let the server's task finish, so its exit code is known
                    await asyncio.wait([server.task], timeout=10)
                raise InfrastructureError(f"MCP server {server.label} failed to start: {self._start_failure(server, result)}")
        for server in self._servers:
            for t in server.tools:
                name = f"{server.label}_{t.name}" if self.prefix_names else t.name
                if name in self._routes:
                    name = f"{server.label}_{t.name}"
                self._routes[name] = (server, t.name)

    async def _run(self, server: _Server, ready: asyncio.Future[None]) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(command=server.spec.command, args=server.spec.args, env=server.spec.env,
                                       cwd=server.spec.cwd)
        spawned: list[Any] = []
        _SPAWNED.set(spawned)  # this task's context: the spawn wrapper appends the process here
        try:
            async with stdio_client(params, errlog=server.errlog) as (read, write):
                server.process = spawned[0] if spawned else None
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools: list[Any] = []
                    cursor = None
                    while True:
                        from mcp.types import PaginatedRequestParams

                        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
                        tools.extend(page.tools)
                        cursor = page.next_cursor
                        if not cursor:
                            break
                    server.session, server.tools = session, tools
                    ready.set_result(None)
                    assert server.stop is not None
                    await server.stop.wait()
        except BaseException as exc:  # noqa: BLE001 - recorded; surfaced on the next call
            server.error = exc
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
        finally:
            server.session = None

    # ------------------------------------------------------------------ API
    @property
    def tool_names(self) -> list[str]:
        return list(self._routes)

    def alive(self) -> bool:
        return not self._closed and all(
            not s.dead and s.session is not None and s.task is not None and not s.task.done() for s in self._servers
        )

    def schemas(self) -> list[dict[str, Any]]:
        return self.toolset().schemas()

    def toolset(self) -> Toolset:
        tools = []
        by_name = {(s.index, t.name): t for s in self._servers for t in s.tools}
        for name, (server, original) in self._routes.items():
            t = by_name[(server.index, original)]
            tools.append(SchemaTool(name, t.description or "", dict(t.input_schema or {}), self._handler(name)))
        return Toolset(tools)

    def _handler(self, name: str):
        def handler(**arguments: Any) -> str:
            return self.call(name, arguments)

        return handler

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> str:
        """Call a tool; returns its text. ToolError for tool-reported errors, InfrastructureError when
        the server is gone."""
        if self._closed:
            raise InfrastructureError("MCP client is closed")
        if name not in self._routes:
            raise ToolError(f"unknown MCP tool {name!r}")
        server, original = self._routes[name]
        self._check_alive(server)
        result = self._submit(self._call(server, original, arguments or {}), timeout=self.call_timeout)
        text = content_text(result)
        if getattr(result, "is_error", False):
            raise ToolError(text or "the tool reported an error")
        return text

    async def _call(self, server: _Server, name: str, arguments: dict[str, Any]) -> Any:
        from mcp.shared.exceptions import MCPError

        session = server.session
        if session is None:
            raise InfrastructureError(f"MCP server {server.label} is not running")
        try:
            return await session.call_tool(name, arguments)
        except MCPError as exc:
            code = getattr(exc, "code", None)
            if code is None:
                code = getattr(getattr(exc, "error", None), "code", None)
            if code in AGENT_ERROR_CODES and server.task is not None and not server.task.done():
                raise ToolError(str(exc)) from exc
            server.dead = True
            raise InfrastructureError(await self._lost(server, str(exc))) from exc
        except (ToolError, InfrastructureError):
            raise
        except Exception as exc:
            server.dead = True
            raise InfrastructureError(await self._lost(server, describe_error(exc))) from exc

    async def _lost(self, server: _Server, cause: str) -> str:
        """The message for a server lost mid-call: how its process ended (waited for briefly), the
        cause, the end of its stderr."""
        if server.task is not None and not server.task.done():
            await asyncio.wait([server.task], timeout=2)
        status = server.exit_status()
        if status is not None:
            return f"MCP server {server.label} has exited ({status}): {cause}{self._stderr_note(server)}"
        return f"MCP server {server.label}: {cause}{self._stderr_note(server)}"

    def _check_alive(self, server: _Server) -> None:
        if server.dead or server.session is None or server.task is None or server.task.done():
            status = server.exit_status()
            reason = f" ({status})" if status else ""
            reason += f": {describe_error(server.error)}" if server.error else ""
            raise InfrastructureError(f"MCP server {server.label} has exited{reason}{self._stderr_note(server)}")

    # ------------------------------------------------------------------ diagnostics
    def _start_failure(self, server: _Server, exc: BaseException) -> str:
        """Why a server did not start, in one line: the cause (not the SDK's exception groups),
        how its process ended, the end of its stderr."""
        leaf = leaf_errors(exc)[0]
        if isinstance(leaf, FileNotFoundError) and server.process is None:
            where = f" (cwd {server.spec.cwd})" if server.spec.cwd else ""
            return f"command not found: {server.spec.command!r}{where}"
        if isinstance(leaf, PermissionError) and server.process is None:
            return f"cannot execute {server.spec.command!r}: permission denied"
        status = server.exit_status()
        if status is not None:
            cause = f"the server {status} before the MCP handshake completed"
            if "Connection closed" not in str(leaf):
                cause += f" ({describe_error(leaf)})"
            elif status == "exited with code 0":
                cause += " (is it an MCP server speaking stdio?)"
        else:
            cause = describe_error(leaf)
        return cause + self._stderr_note(server)

    def stderr_tail(self, server: _Server | int, lines: int = STDERR_TAIL_LINES) -> str:
        """The last lines a server wrote to stderr since this client started it."""
        server = self._servers[server] if isinstance(server, int) else server
        try:
            if self.stderr_path:
                with open(self.stderr_path, "rb") as handle:
                    handle.seek(server.errlog_start)
                    data = handle.read()[-8192:]
            elif server.errlog is not None and not server.errlog.closed:
                fd = server.errlog.fileno()
                size = os.fstat(fd).st_size
                start = max(server.errlog_start, size - 8192)
                data = os.pread(fd, size - start, start)
            else:
                return ""
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace")
        return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])

    def _stderr_note(self, server: _Server) -> str:
        tail = self.stderr_tail(server)
        return f"; its stderr ends: {tail}" if tail else "; it wrote nothing to stderr"

    def server_pids(self) -> list[int | None]:
        """Process ids of the servers (for tests that kill one)."""
        pids: list[int | None] = []
        for server in self._servers:
            pids.append(_find_pid(server))
        return pids

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def _stop() -> None:
            for server in self._servers:
                if server.stop is not None:
                    server.stop.set()
            tasks = [s.task for s in self._servers if s.task is not None]
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=10)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=5)

        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=20)
            except Exception:  # noqa: BLE001 - closing must not raise
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()
        for server in self._servers:
            if server.errlog is not None and server.errlog is not self._stderr:
                server.errlog.close()
        if self._stderr is not None:
            self._stderr.close()

    def __enter__(self) -> MCPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; envs call close()
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def _find_pid(server: _Server) -> int | None:
    """The server's process id, found through the children of this process (by command line)."""
    children: list[str] = []
    try:
        for task in os.listdir(f"/proc/{os.getpid()}/task"):
            try:
                with open(f"/proc/{os.getpid()}/task/{task}/children") as handle:
                    children += handle.read().split()
            except OSError:
                continue
    except OSError:
        return None
    wanted = os.path.basename(server.spec.command)
    for pid in children:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().split(b"\0")
        except OSError:
            continue
        joined = b" ".join(cmdline).decode(errors="replace")
        if wanted in joined and all(a in joined for a in server.spec.args):
            return int(pid)
    return None
