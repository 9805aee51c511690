"""Registers every installed family's envs with Gymnasium when `agentgym` is imported.

The envs come from the `agentgym.families` entry-point group (see `agentgym.family`); entry
points are strings, so registering imports nothing heavy: a family's dependencies load only when
its env is made. `gymnasium.make("agentgym/<Name>-v0")` works after `import agentgym`;
`gymnasium.make("agentgym:agentgym/<Name>-v0")` imports agentgym by itself.
"""

from __future__ import annotations

from agentgym.family import available, env_entries, register_families

register_envs = register_families

__all__ = ["available", "env_entries", "register_envs"]
