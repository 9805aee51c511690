"""Envs as Ray actors: the same rollouts, with env work spread over a Ray cluster.

`RayEnv` is a stand-in for a `gymnasium.Env` whose real env lives in a Ray actor (on any node of
the cluster: `ray.init` connects to `RAY_ADDRESS`, or to the cluster `ray start` made on this
machine). The rollout engine drives it exactly like a local env, so grouping, bounded
concurrency, resume and trajectory files work unchanged; the policy stays in the driver (e.g.
calling a vLLM server), and only observations, actions and info dicts cross the wire.
`run_episodes(..., executor="ray")` uses it.

Multi-node: actors are placed with Ray's SPREAD strategy, so a run's envs land on every node.
When a node dies (its raylet killed, the machine lost), the actors on it die with it; `RayEnv`
then makes a new actor on a live node and replays the episode so far (the same reset seed and
options, then the same actions) before doing the call that failed. Envs are deterministic given
the seed and the actions (what re-execution relies on), so the episode continues exactly where
it was: no episode is lost and none is played twice. A replay whose observations differ from the
ones already returned (a nondeterministic env) raises `InfrastructureError`, so the episode is
masked rather than silently changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from agentgym.errors import InfrastructureError

logger = logging.getLogger(__name__)


class _EnvActor:
    """Holds one env inside a Ray worker process."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]) -> None:
        import agentgym  # noqa: F401  (registers the envs in the worker)

        self.env = gym.make(env_id, **env_kwargs)

    def describe(self) -> dict[str, Any]:
        import ray

        unwrapped = self.env.unwrapped
        return {"reward_spec": getattr(unwrapped, "reward_spec", None), "spec": self.env.spec,
                "node_id": ray.get_runtime_context().get_node_id()}

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def replay(self, seed: int | None, options: dict[str, Any] | None, actions: list[Any]) -> list[Any]:
        """Reset and replay `actions`; the observations, for the caller to compare."""
        observation, _ = self.env.reset(seed=seed, options=options)
        observations = [observation]
        for action in actions:
            observations.append(self.env.step(action)[0])
        return observations

    def call(self, name: str, *args: Any) -> Any:
        """Call a method of the unwrapped env (e.g. `oracle_actions`, `task_ids`)."""
        return getattr(self.env.unwrapped, name)(*args)

    def close(self) -> None:
        self.env.close()


class RayEnv:
    """A local handle to an env running in a Ray actor; quacks like `gymnasium.Env` for rollouts."""

    #: how many times one call may move its env to another node before it gives up
    max_relocations = 3
    #: seconds a new env actor may wait for a node with a free CPU (e.g. after a node was lost)
    placement_timeout = 300.0

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, *, num_cpus: float = 1) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False)
        self._ray = ray
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.num_cpus = num_cpus
        self.relocations = 0
        self._reset_args: tuple[int | None, dict[str, Any] | None] | None = None
        self._actions: list[Any] = []
        self._observations: list[Any] = []
        self._closed = False
        self._start_actor()

    def _start_actor(self) -> None:
        """A new actor; one placed on a node that has just died (not yet known dead) is placed again."""
        from ray.exceptions import GetTimeoutError, RayActorError

        ray = self._ray
        for attempt in range(self.max_relocations + 1):
            self._actor = ray.remote(num_cpus=self.num_cpus, scheduling_strategy="SPREAD", max_restarts=0)(
                _EnvActor
            ).remote(self.env_id, self.env_kwargs)
            try:
                described = ray.get(self._actor.describe.remote(), timeout=self.placement_timeout)
                break
            except GetTimeoutError as exc:
                ray.kill(self._actor)
                raise InfrastructureError(
                    f"{self.env_id}: no node of the Ray cluster had room for the env within "
                    f"{self.placement_timeout:g}s (each env actor takes {self.num_cpus:g} CPU)"
                ) from exc
            except RayActorError as exc:
                if attempt == self.max_relocations:
                    raise InfrastructureError(f"{self.env_id}: no node could start the env: {exc}") from exc
        self.reward_spec = described["reward_spec"]
        self.spec = described["spec"]
        self.node_id: str = described["node_id"]

    def _relocate(self, cause: BaseException) -> None:
        """A new actor on a live node, brought to where the episode was."""
        dead_node = self.node_id
        self.relocations += 1
        try:
            self._ray.kill(self._actor)
        except Exception:  # noqa: BLE001, S110 - the actor is already gone with its node
            pass
        self._start_actor()
        logger.warning("env actor on node %s died (%s); moved to node %s", dead_node, type(cause).__name__,
                       self.node_id)
        if self._reset_args is None:
            return
        seed, options = self._reset_args
        replayed = self._ray.get(self._actor.replay.remote(seed, options, list(self._actions)))
        if replayed != self._observations:
            raise InfrastructureError(
                f"{self.env_id}: the episode could not be rebuilt on another node after its node died "
                "(replaying its actions gave different observations: the env is not deterministic)"
            )

    def _run(self, submit: Callable[[], Any]) -> Any:
        from ray.exceptions import RayActorError

        for attempt in range(self.max_relocations + 1):
            try:
                return self._ray.get(submit())
            except RayActorError as exc:
                if attempt == self.max_relocations:
                    raise InfrastructureError(f"{self.env_id}: env actor died {attempt + 1} times: {exc}") from exc
                self._relocate(exc)
        raise AssertionError("unreachable")

    @property
    def unwrapped(self) -> RayEnv:
        return self

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._reset_args, self._actions, self._observations = None, [], []
        observation, info = self._run(lambda: self._actor.reset.remote(seed, options))
        self._reset_args, self._observations = (seed, options), [observation]
        return observation, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        result = self._run(lambda: self._actor.step.remote(action))
        self._actions.append(action)
        self._observations.append(result[0])
        return result

    def oracle_actions(self) -> Any:
        return self._run(lambda: self._actor.call.remote("oracle_actions"))

    def truncate(self, reason: str = "truncated by the caller") -> Any:
        return self._run(lambda: self._actor.call.remote("truncate", reason))

    def task_ids(self, split: str | None = None) -> Any:
        return self._run(lambda: self._actor.call.remote("task_ids", split))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._ray.get(self._actor.close.remote())
            except Exception:  # noqa: BLE001 - closing on a dead node: nothing left to close
                logger.debug("closing a Ray env actor failed", exc_info=True)
            finally:
                self._ray.kill(self._actor)
