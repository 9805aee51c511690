"""Envs as Ray actors: the same rollouts, with env work spread over a Ray cluster.

`RayEnv` is a stand-in for a `gymnasium.Env` whose real env lives in a Ray actor (on any node of
the cluster: `ray.init(address="auto")`). The rollout engine drives it exactly like a local env,
so grouping, bounded concurrency, resume and trajectory files work unchanged; the policy stays in
the driver (e.g. calling a vLLM server), and only observations, actions and info dicts cross the
wire. `run_episodes(..., executor="ray")` uses it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class _EnvActor:
    """Holds one env inside a Ray worker process."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]) -> None:
        import agentgym  # noqa: F401  (registers the envs in the worker)

        self.env = gym.make(env_id, **env_kwargs)

    def describe(self) -> dict[str, Any]:
        unwrapped = self.env.unwrapped
        return {"reward_spec": getattr(unwrapped, "reward_spec", None), "spec": self.env.spec}

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def call(self, name: str, *args: Any) -> Any:
        """Call a method of the unwrapped env (e.g. `oracle_actions`, `task_ids`)."""
        return getattr(self.env.unwrapped, name)(*args)

    def close(self) -> None:
        self.env.close()


class RayEnv:
    """A local handle to an env running in a Ray actor; quacks like `gymnasium.Env` for rollouts."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, *, num_cpus: float = 1) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        self._ray = ray
        self._actor = ray.remote(num_cpus=num_cpus)(_EnvActor).remote(env_id, dict(env_kwargs or {}))
        described = ray.get(self._actor.describe.remote())
        self.reward_spec = described["reward_spec"]
        self.spec = described["spec"]
        self._closed = False

    @property
    def unwrapped(self) -> RayEnv:
        return self

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        return self._ray.get(self._actor.reset.remote(seed, options))

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self._ray.get(self._actor.step.remote(action))

    def oracle_actions(self) -> Any:
        return self._ray.get(self._actor.call.remote("oracle_actions"))

    def truncate(self, reason: str = "truncated by the caller") -> Any:
        return self._ray.get(self._actor.call.remote("truncate", reason))

    def task_ids(self) -> Any:
        return self._ray.get(self._actor.call.remote("task_ids"))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._ray.get(self._actor.close.remote())
            finally:
                self._ray.kill(self._actor)
