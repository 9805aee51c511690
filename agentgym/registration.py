"""Registers every installed family's envs with Gymnasium when `agentgym` is imported.

The envs come from the `agentgym.families` entry-point group (see `agentgym.family`); entry
points are strings, so registering imports nothing heavy: a family's dependencies load only when
its env is made. `gymnasium.make("agentgym/<Name>-v0")` works after `import agentgym`;
`gymnasium.make("agentgym:agentgym/<Name>-v0")` imports agentgym by itself.

The core adds its own ids, which belong to no family: `agentgym/Remote-v0`, a client of an env
served by `agentgym env serve` (see `agentgym.server`).
"""

from __future__ import annotations

import gymnasium

from agentgym.family import available, env_entries, register_families

#: env ids of the core itself (no family): id -> "module:Class"
CORE_ENVS = {"agentgym/Remote-v0": "agentgym.server.client:RemoteEnv"}


def register_envs() -> None:
    """Register every installed family's envs and the core's own ids with Gymnasium (idempotent)."""
    register_families()
    for env_id, entry_point in CORE_ENVS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)


__all__ = ["available", "env_entries", "register_envs"]
