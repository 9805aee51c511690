"""An agentgym env as a SkyRL-Gym text env: SkyRL's own generator loop drives agentgym episodes.

    from agentgym.baselines.adapters.skyrl_gym import register_skyrl_env
    register_skyrl_env()              # skyrl_gym.make("agentgym", env_config=..., extras=...) now works

SkyRL's `SkyRLGymGenerator.agent_loop` makes one env per trajectory with
`skyrl_gym.make(env_class, env_config=cfg.environment.skyrl_gym[env_class], extras=row)`, calls
`init(prompt)` and then `step(model_text)` until `done`. `AgentGymTextEnv` maps that onto one
agentgym episode:

- `env_config` (or the row's `extras`, which win): `env_id` (any agentgym id, including
  `agentgym/Remote-v0` with `url` in `env_kwargs` to use an env server), `env_kwargs`;
  per row: `task_id`, `seed`. SkyRL puts its generator's `max_turns` into `extras`; it becomes the
  env's `max_turns`.
- `init` resets the env and returns the env's own conversation (system prompt with the tools in
  the Hermes `<tools>` convention agentgym's parser reads, then the task prompt); the dataset's
  prompt only carries the row (SkyRL datasets need one).
- `step(text)` steps the env with the model's text: the reward is agentgym's per-step reward
  (the episode's rewards sum to `RewardReport.return_` under the env's reward mode), the
  observation comes back as a user turn (tool results wrapped in `<tool_response>`), and the
  step's `info` (components, and at the end the report, success, metrics) is the metadata.
- An episode agentgym marks `reward_invalid` (infrastructure failed) has every reward 0 and
  `reward_invalid: 1.0` in `get_metrics()`: SkyRL has no masking of its own, so filter on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from agentgym.baselines.agent.chat import tools_system_prompt

DEFAULT_NAME = "agentgym"


def _plain(value: Any) -> Any:
    """OmegaConf containers (what SkyRL passes) as plain dicts/lists."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, DictConfig | ListConfig):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:
        pass
    return value


def _base_text_env() -> type:
    from skyrl_gym.envs.base_text_env import BaseTextEnv

    return BaseTextEnv


def register_skyrl_env(name: str = DEFAULT_NAME) -> str:
    """Register `AgentGymTextEnv` in `skyrl_gym`'s registry under `name` (idempotent); returns the name."""
    import skyrl_gym

    if name not in skyrl_gym.registry:
        skyrl_gym.register(id=name, entry_point=f"{__name__}:AgentGymTextEnv")
    return name


def observation_messages(observation: str, info: Mapping[str, Any]) -> list[dict[str, str]]:
    """The env's reply as the next user turn (tool results in `<tool_response>` blocks)."""
    results = info.get("tool_results") or []
    if results and len(results) == len(info.get("tool_calls") or []):
        body = "\n".join(f"<tool_response>\n{r['content']}\n</tool_response>" for r in results)
    else:
        body = observation
    return [{"role": "user", "content": body}]


class AgentGymTextEnv(_base_text_env()):  # type: ignore[misc]
    """One agentgym episode behind SkyRL-Gym's `init` / `step` / `close` (see the module docstring)."""

    def __init__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        config = dict(_plain(env_config) or {})
        row = dict(_plain(extras) or {})
        self.env_id: str = row.get("env_id") or config.get("env_id") or ""
        if not self.env_id:
            raise ValueError("AgentGymTextEnv needs env_id (in the env config or the row's extras)")
        env_kwargs = {**dict(config.get("env_kwargs") or {}), **dict(row.get("env_kwargs") or {})}
        if row.get("max_turns") is not None:
            env_kwargs["max_turns"] = int(row["max_turns"])
        import agentgym  # noqa: F401  (registers the env ids)

        self.env_kwargs = env_kwargs
        self.env = gym.make(self.env_id, **env_kwargs)
        self.max_turns = int(getattr(self.env.unwrapped, "max_turns", env_kwargs.get("max_turns", 20)) or 20)
        self.task_id: str | None = row.get("task_id")
        self.seed: int | None = None if row.get("seed") is None else int(row["seed"])
        self.final_info: dict[str, Any] = {}
        self.total_reward = 0.0

    def init(self, prompt: Any) -> tuple[list[dict[str, str]], dict[str, Any]]:
        options = {"task_id": self.task_id} if self.task_id is not None else None
        observation, info = self.env.reset(seed=self.seed, options=options)
        self.turns = 0
        self.total_reward = 0.0
        self.final_info = {}
        system = info.get("system_prompt") or ""
        if info.get("tools"):
            system = f"{system}\n\n{tools_system_prompt(info['tools'])}".strip()
        conversation = [{"role": "system", "content": system}, {"role": "user", "content": str(observation)}]
        return conversation, {"task_id": info.get("task_id"), "tools": info.get("tools", [])}

    def step(self, action: str) -> dict[str, Any]:
        self.turns += 1
        observation, reward, terminated, truncated, info = self.env.step(action)
        done = bool(terminated or truncated)
        self.total_reward += float(reward)
        metadata: dict[str, Any] = {
            "components": info.get("components", {}),
            "action_valid": info.get("action_valid"),
            "turn": info.get("turn"),
        }
        if done:
            self.final_info = info
            report = info.get("report")
            metadata.update(
                report=report.model_dump(mode="json") if report is not None else None,
                success=info.get("success"),
                metrics=info.get("metrics", {}),
                reward_invalid=bool(info.get("reward_invalid", False)),
                trajectory_components=info.get("trajectory_components", {}),
            )
        return {
            "observations": [] if done else observation_messages(str(observation), info),
            "reward": float(reward),
            "done": done,
            "metadata": metadata,
        }

    def get_metrics(self) -> dict[str, Any]:
        info = self.final_info
        metrics: dict[str, Any] = {k: float(v) for k, v in (info.get("metrics") or {}).items()}
        metrics["return"] = self.total_reward
        metrics["reward_invalid"] = float(bool(info.get("reward_invalid", False)))
        if info.get("success") is not None:
            metrics["success"] = float(info["success"])
        return metrics

    def close(self) -> None:
        self.env.close()
