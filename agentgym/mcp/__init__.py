"""The MCP bridge (needs the `mcp` package: `pip install agentgym[tool]`).

- Client side: `MCPClient(servers)` starts MCP servers over stdio and exposes their tools as
  agentgym tools (`client.toolset()`), callable synchronously: the MCP sessions run on a
  background asyncio loop thread. A server that dies raises `InfrastructureError`.
- Server side: `serve_toolset(toolset, name)` serves any agentgym `Toolset` as an MCP server
  over stdio (`agentgym mcp serve WORLD`).
- `SchemaTool`: a tool described by a JSON schema instead of type hints (MCP servers' tools, function-calling benchmarks' function docs).
"""

from agentgym.mcp.schema_tool import SchemaTool

__all__ = ["MCPClient", "SchemaTool", "ServerSpec", "serve_toolset"]


def __getattr__(name: str):  # lazy: importing agentgym.mcp must not import the mcp SDK
    if name in ("MCPClient", "ServerSpec"):
        from agentgym.mcp import client

        return getattr(client, name)
    if name == "serve_toolset":
        from agentgym.mcp.server import serve_toolset

        return serve_toolset
    raise AttributeError(name)
