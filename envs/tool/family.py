"""The tool family's plugin declaration (loaded on every `import agentgym`: data only)."""

from agentgym.family import EnvEntry, Family

FAMILY = Family(
    name="tool",
    description="Tool-use envs: SQLite tool worlds, the Berkeley Function Calling Leaderboard, MCP servers",
    envs=(
        EnvEntry(
            id="agentgym/ToolUse-v0",
            entry_point="agentgym.envs.tool.env:ToolUseEnv",
            description="Stateful SQLite tool worlds with a simulated user (tau-bench style)",
            tasks="agentgym.tasks.tool.source:world_tasks",
        ),
        EnvEntry(
            id="agentgym/BFCL-v0",
            entry_point="agentgym.envs.tool.bfcl_env:BFCLEnv",
            description="Berkeley Function Calling Leaderboard v4 (AST checker, multi-turn state checks)",
            tasks="agentgym.tasks.tool.source:bfcl_tasks",
        ),
        EnvEntry(
            id="agentgym/MCP-v0",
            entry_point="agentgym.envs.tool.mcp_env:MCPEnv",
            description="Tools served by MCP servers over stdio; tasks or free-form sessions",
            tasks="agentgym.tasks.tool.source:mcp_tasks",
            # free-form by default (no oracle): check plays the built-in tasks of the default server
            check_kwargs={"suite": "files"},
        ),
    ),
    commands={"mcp": "agentgym.envs.tool.cli:app"},
    extra="tool",
)
