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
        typer.echo(f"unknown world {world!r}; have {', '.join(WORLDS)} (or module:attribute)", err=True)
        raise typer.Exit(2)
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
        typer.echo(f"cannot load {spec!r}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if inspect.isclass(target) or (callable(target) and not isinstance(target, Tool)):
        target = target()
    if isinstance(target, Toolset):
        return target
    if isinstance(target, list | tuple):
        return Toolset(target)
    return Toolset.from_object(target)


def _client(command: str):
    from agentgym.mcp.client import MCPClient

    parts = shlex.split(command)
    if not parts:
        typer.echo("empty server command", err=True)
        raise typer.Exit(2)
    return MCPClient([{"command": parts[0], "args": parts[1:]}])


@app.command("tools")
def tools(
    command: Annotated[str, typer.Argument(help="Server command line, e.g. 'mcp-server-time --local-timezone UTC'")],
) -> None:
    """List an MCP server's tools in the OpenAI tools format (JSON)."""
    client = _client(command)
    try:
        typer.echo(json.dumps(client.schemas(), indent=2))
    finally:
        client.close()


@app.command("call")
def call(
    command: Annotated[str, typer.Argument(help="Server command line")],
    tool: Annotated[str, typer.Argument(help="Tool name")],
    arguments: Annotated[str, typer.Argument(help="Arguments as a JSON object")] = "{}",
) -> None:
    """Call one tool of an MCP server and print its text result (exit 1 on a tool error)."""
    from agentgym.errors import ToolError

    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as exc:
        typer.echo(f"arguments are not JSON: {exc}", err=True)
        raise typer.Exit(2) from exc
    client = _client(command)
    try:
        typer.echo(client.call(tool, parsed))
    except ToolError as exc:
        typer.echo(f"tool error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        client.close()


if __name__ == "__main__":
    app()
