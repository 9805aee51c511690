"""A run's reward spec resolved at a training step, for trainers (see `agentgym.rewards.schedules`).

Why: a spec whose weights, gate thresholds or clip bounds are schedules must be resolved by the
trainer at every step, whether the run names the spec by file, passes a mapping, or names a
mode of the env's own default spec. `reward_at_step(env_id, reward, step)` returns what to pass
as the env's `reward=` for that step: the spec at that step (as a mapping, so it is stored in the
record's `env_kwargs` and `reward_spec` as plain JSON) when it has schedules, else `reward`
unchanged (so a run without schedules keeps its records and config hashes exactly as before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.rewards import RewardSpec, resolve_spec


def env_default_reward(env_id: str) -> Any:
    """The default reward of the env class registered as `env_id` (without building the env)."""
    import gymnasium as gym

    from agentgym.family import load_object

    try:
        entry = gym.spec(env_id).entry_point
    except gym.error.Error:
        return "gated"
    target = load_object(entry) if isinstance(entry, str) else entry
    default = getattr(target, "default_reward", None)
    return default if default is not None else "gated"


def reward_at_step(env_id: str, reward: RewardSpec | str | Path | dict | None, step: int) -> Any:
    """What to pass as `reward=` at training step `step` (see the module docstring)."""
    spec = resolve_spec(reward, default=env_default_reward(env_id))
    if not spec.has_schedules:
        return reward
    return spec.at_step(step).model_dump(mode="json", exclude_defaults=True) | {"mode": spec.mode}
