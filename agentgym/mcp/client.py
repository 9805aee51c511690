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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.errors import InfrastructureError, ToolError
from agentgym.mcp.schema_tool import SchemaTool
from agentgym.tools import Toolset

AGENT_ERROR_CODES = {-32602, -32601}  # invalid params, method not found


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
        self._stderr = open(stderr_path or os.devnull, "a") if stderr_path else tempfile.TemporaryFile("w+")  # noqa: SIM115
        self._closed = False
        self._thread.start()
        try:
            self._submit(self._start_all(), timeout=start_timeout)
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
                raise InfrastructureError(f"MCP server {server.label} failed to start: {type(result).__name__}: {result}")
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
        try:
            async with stdio_client(params, errlog=self._stderr) as (read, write):
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
            raise InfrastructureError(f"MCP server {server.label}: {exc}") from exc
        except (ToolError, InfrastructureError):
            raise
        except Exception as exc:
            server.dead = True
            raise InfrastructureError(f"MCP server {server.label} failed: {type(exc).__name__}: {exc}") from exc

    def _check_alive(self, server: _Server) -> None:
        if server.dead or server.session is None or server.task is None or server.task.done():
            reason = f": {type(server.error).__name__}: {server.error}" if server.error else ""
            raise InfrastructureError(f"MCP server {server.label} has exited{reason}")

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
