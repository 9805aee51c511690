"""Serve any agentgym `Toolset` as an MCP server over stdio.

    from agentgym.mcp.server import serve_toolset
    serve_toolset(world.toolset(), name="agentgym-retail")     # blocks; speaks MCP on stdin/stdout

Tool schemas are the toolset's own JSON schemas; a call runs `Toolset.call`, so argument
validation and error observations are exactly the env's: an agent mistake comes back as a result
with `isError: true` and the explanation as text.
"""

from __future__ import annotations

import json
from typing import Any

from agentgym.tools import ToolCall, Toolset


def build_server(toolset: Toolset, name: str = "agentgym", version: str = "0.1.0", instructions: str | None = None) -> Any:
    """A low-level MCP `Server` whose tools are the toolset's."""
    import mcp.types as types
    from mcp.server.lowlevel import Server

    listed = [
        types.Tool(name=s["function"]["name"], description=s["function"].get("description") or "",
                   input_schema=s["function"].get("parameters") or {"type": "object", "properties": {}})
        for s in toolset.schemas()
    ]

    async def on_list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        result = toolset.call(ToolCall(name=params.name, arguments=arguments))
        structured = None
        if result.ok:
            try:
                value = json.loads(result.content)
                structured = value if isinstance(value, dict) else None
            except ValueError:
                structured = None
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.content)],
            structured_content=structured,
            is_error=not result.ok,
        )

    return Server(name, version=version, instructions=instructions, on_list_tools=on_list_tools,
                  on_call_tool=on_call_tool)


async def serve_toolset_async(toolset: Toolset, name: str = "agentgym", **kwargs: Any) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(toolset, name, **kwargs)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def serve_toolset(toolset: Toolset, name: str = "agentgym", **kwargs: Any) -> None:
    """Serve over stdio until the client disconnects."""
    import anyio

    anyio.run(lambda: serve_toolset_async(toolset, name, **kwargs))
