"""Run a task's oracle actions through a `WebEnv` and report what they earned."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class OracleRun:
    task_id: str
    has_oracle: bool
    success: bool = False
    outcome: float = 0.0
    reward: float = 0.0
    steps: int = 0
    terminated: bool = False
    reward_invalid: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.has_oracle and self.success and not self.errors and not self.reward_invalid


def run_oracle(env: Any, task_id: str, seed: int = 0) -> OracleRun:
    """Reset `env` (a WebEnv, possibly wrapped) on `task_id`, play its oracle, collect the result."""
    base = env.unwrapped
    env.reset(seed=seed, options={"task_id": task_id})
    actions = base.oracle_actions()
    run = OracleRun(task_id=task_id, has_oracle=actions is not None)
    if actions is None:
        return run
    total = 0.0
    info: dict[str, Any] = {}
    terminated = truncated = False
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        text = obs["text"] if isinstance(obs, dict) else obs
        total += reward
        run.steps += 1
        if not info.get("action_valid") or any(not r.get("ok", True) for r in info.get("tool_results", [])):
            run.errors.append(f"step {run.steps} {action}: {text.splitlines()[0][:200] if text else ''}")
        if terminated or truncated:
            break
    if not (terminated or truncated):
        # the oracle ended without the page ending the episode: grade the state by answering nothing
        run.errors.append("the oracle's actions did not end the episode")
        obs, reward, terminated, truncated, info = env.step('answer("")')
        total += reward
    run.terminated = bool(terminated)
    run.reward = total
    run.reward_invalid = bool(info.get("reward_invalid"))
    run.outcome = float(info.get("trajectory_components", {}).get("outcome", 0.0))
    run.success = bool(info.get("success"))
    return run
