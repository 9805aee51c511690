"""Registers every agentgym env with Gymnasium under the `agentgym/` namespace.

Entry points are strings, so registering imports nothing heavy: a family's dependencies load
only when its env is made. `gymnasium.make("agentgym/SWE-v0")` works after `import agentgym`;
`gymnasium.make("agentgym:agentgym/SWE-v0")` imports agentgym by itself.
"""

from __future__ import annotations

import importlib.util

import gymnasium

#: env id -> (entry point, extra that installs its dependencies, one-line description)
ENVS: dict[str, tuple[str, str, str]] = {
    "agentgym/StallOrSubmit-v0": (
        "agentgym.envs.toy.stall_or_submit:StallOrSubmitEnv",
        "",
        "Toy of the G-RA paper: stalling farms a misaligned step critic",
    ),
    "agentgym/SWE-v0": ("agentgym.envs.swe.env:SWEEnv", "swe", "Fix bugs in real Python packages in Docker sandboxes"),
    "agentgym/Web-v0": ("agentgym.envs.web.env:WebEnv", "web", "Browser tasks in Chromium: MiniWoB++, shop, booking, mail"),
    "agentgym/ToolUse-v0": ("agentgym.envs.tool.env:ToolUseEnv", "tool", "Stateful SQLite tool worlds, tau-bench-style"),
    "agentgym/BFCL-v0": ("agentgym.envs.tool.bfcl_env:BFCLEnv", "tool", "Berkeley Function Calling Leaderboard v4"),
    "agentgym/MCP-v0": ("agentgym.envs.tool.mcp_env:MCPEnv", "tool", "Tools served by MCP servers over stdio"),
    "agentgym/SearchQA-v0": ("agentgym.envs.search.env:SearchQAEnv", "search", "Multi-hop QA with BM25/dense search"),
}


def available(env_id: str) -> bool:
    """Whether the module behind an env id exists in this installation."""
    module = ENVS[env_id][0].split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def register_envs() -> None:
    for env_id, (entry_point, _extra, _about) in ENVS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)
