"""`agentgym mcp`: serve agentgym tool worlds as MCP servers, and inspect MCP servers.

Mounted as `agentgym mcp` by the tool family (`family.py`); `python -m agentgym.envs.tool.cli`
runs the same app without the rest of the CLI (MCP-v0's default server is started this way).
"""

from __future__ import annotations

import json
import shlex
from typing import Annotated

import typer

app = typer.Typer(help="MCP bridge: serve agentgym tool worlds over MCP; list and call MCP servers' tools.",
                  no_args_is_help=True)


@app.command("serve")
def serve(
    world: Annotated[str, typer.Argument(help="Tool world (retail | travel | files) or module:attribute naming a "
                                         "Toolset, a list of tools, an object with @tool methods, or a factory")],
    seed: Annotated[int, typer.Option(help="Database seed of the world")] = 0,
    name: Annotated[str | None, typer.Option(help="Server name (default agentgym-WORLD)")] = None,
) -> None:
    """Serve a tool world's (or any toolset's) tools over stdio, for any MCP client."""
    from agentgym.mcp.server import serve_toolset

    if ":" in world:
        toolset = _load_toolset(world)
        serve_toolset(toolset, name or f"agentgym-{world.split(':')[-1]}")
        return
    from agentgym.envs.tool.worlds import WORLDS, make_world

    if world not in WORLDS:
        from agentgym.cli.common import fail

        fail(f"unknown world {world!r}; have {', '.join(WORLDS)} (or module:attribute)")
    instance = make_world(world, seed)
    serve_toolset(instance.toolset(), name or f"agentgym-{world}", instructions=WORLDS[world].description)


def _load_toolset(spec: str):
    import importlib
    import inspect

    from agentgym.tools import Tool, Toolset

    module_name, _, attr = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        from agentgym.cli.common import fail

        fail(f"cannot load {spec!r}: {exc}")
    if inspect.isclass(target) or (callable(target) and not isinstance(target, Tool)):
        target = target()
    if isinstance(target, Toolset):
        return target
    if isinstance(target, list | tuple):
        return Toolset(target)
    return Toolset.from_object(target)


def _client(command: str, start_timeout: float = 60.0):
    """A started client for a server command line: exit 2 when the command is empty or not found,
    1 (naming the cause and the server's stderr) when the server does not start."""
    import shutil

    from agentgym.cli.common import cli_errors, fail
    from agentgym.mcp.client import MCPClient

    try:
        parts = shlex.split(command)
    except ValueError as exc:
        fail(f"server command {command!r}: {exc}")
    if not parts:
        fail("empty server command")
    if shutil.which(parts[0]) is None:
        fail(f"server command not found: {parts[0]!r} (not an executable file, nor on PATH)")
    with cli_errors():
        return MCPClient([{"command": parts[0], "args": parts[1:]}], start_timeout=start_timeout)


StartTimeoutOpt = Annotated[float, typer.Option(min=0.1, help="seconds to wait for the server's MCP handshake")]


@app.command("tools")
def tools(
    command: Annotated[str, typer.Argument(help="Server command line, e.g. 'mcp-server-time --local-timezone UTC'")],
    start_timeout: StartTimeoutOpt = 60.0,
) -> None:
    """List an MCP server's tools in the OpenAI tools format (JSON)."""
    from agentgym.cli.common import cli_errors

    client = _client(command, start_timeout)
    try:
        with cli_errors(work=True):
            typer.echo(json.dumps(client.schemas(), indent=2))
    finally:
        client.close()


@app.command("call")
def call(
    command: Annotated[str, typer.Argument(help="Server command line")],
    tool: Annotated[str, typer.Argument(help="Tool name")],
    arguments: Annotated[str, typer.Argument(help="Arguments as a JSON object")] = "{}",
    start_timeout: StartTimeoutOpt = 60.0,
) -> None:
    """Call one tool of an MCP server and print its text result (exit 1 on a tool error)."""
    from agentgym.cli.common import EXIT_FAILURE, cli_errors, fail
    from agentgym.errors import ToolError

    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as exc:
        fail(f"arguments are not JSON: {exc}")
    if not isinstance(parsed, dict):
        fail(f"arguments must be a JSON object, got {type(parsed).__name__}")
    client = _client(command, start_timeout)
    try:
        if tool not in client.tool_names:
            import difflib

            close = difflib.get_close_matches(tool, client.tool_names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            fail(f"the server has no tool {tool!r}; {hint}tools: {', '.join(client.tool_names)}")
        with cli_errors(work=True):
            try:
                typer.echo(client.call(tool, parsed))
            except ToolError as exc:
                fail(f"tool error: {exc}", EXIT_FAILURE)
    finally:
        client.close()


if __name__ == "__main__":
    app()
