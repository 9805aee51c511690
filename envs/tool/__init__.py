"""agentgym.envs.tool: tool-use environments.

- `ToolUseEnv` (`agentgym/ToolUse-v0`): stateful SQLite worlds (retail, travel, files) with
  tau-bench-style outcomes (final DB state == state after replaying the gold actions, plus
  required reply content) and scripted or LLM-backed users.
- `BFCLEnv` (`agentgym/BFCL-v0`): the Berkeley Function Calling Leaderboard v4 data, graded by
  our own AST checker (single turn) and by state comparison on BFCL's API classes (multi turn).
- `MCPEnv` (`agentgym/MCP-v0`): tools served by MCP servers over stdio.
"""
