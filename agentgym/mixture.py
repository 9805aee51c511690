"""Env mixtures: one run over several envs with mixture weights (generalist-agent training and eval).

A mixture is a list of (env id, weight). `EnvMixture.allocate(groups, seed)` draws, for each of
`groups` task groups, the env it is played in (a seeded multinomial draw with the normalised
weights), so the share of each env is its weight within sampling error. `run_mixture` then plays
each env's groups with `agentgym.rollout.run_episodes` (one call per env, one after the other,
all appending to the same trajectory file), so every record keeps its own `env_id`, and a group
never mixes envs or tasks: each group is planned inside one env's call, and the key that
identifies a group (`agentgym.metrics.group_key`: env id, env kwargs, run, policy, task, group
id) names the env and the task. Seeds never repeat across envs: env i's episodes take the seeds
after env i-1's.

On the command line, `--env ID:WEIGHT` (repeatable) on `agentgym run`, `agentgym eval` and
`agentgym train grpo`; in Python::

    mixture = EnvMixture.parse(["my_pkg:my/EnvA-v0:0.7", "agentgym/SomeEnv-v0:0.3"])
    records = run_mixture(mixture, policy, groups=20, group_size=4, out="mix.jsonl")
    per_env = mixture_summary(records)   # the metrics of each env, and its share

A weight is optional (1 when left out); weights are normalised to sum to 1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.trajectory import EpisodeRecord


class MixtureError(ValueError):
    """A mixture is malformed (an empty list, a bad weight, the same env twice)."""


@dataclass(frozen=True)
class MixtureEntry:
    """One env of a mixture and its (unnormalised) weight."""

    env_id: str
    weight: float = 1.0
    env_kwargs: dict[str, Any] = field(default_factory=dict, compare=False)


def parse_entry(text: str) -> MixtureEntry:
    """`ID:WEIGHT` or `ID` (weight 1). The id itself may contain ':' (`my_pkg:my/Env-v0`): only a
    last part that reads as a number is the weight."""
    text = text.strip()
    head, sep, tail = text.rpartition(":")
    weight = 1.0
    if sep:
        try:
            weight = float(tail)
        except ValueError:  # no weight: the ':' belongs to the id (module:id)
            head = text
    else:
        head = text
    if not head:
        raise MixtureError(f"--env {text!r}: expected ID:WEIGHT (e.g. agentgym/NAME-v0:0.5)")
    if not math.isfinite(weight) or weight <= 0:
        raise MixtureError(f"--env {text!r}: the weight must be a positive number, got {tail!r}")
    return MixtureEntry(head, weight)


class EnvMixture:
    """Envs with mixture weights (see the module docstring)."""

    def __init__(self, entries: Sequence[MixtureEntry]) -> None:
        entries = list(entries)
        if not entries:
            raise MixtureError("a mixture needs at least one env")
        repeated = [e for e, n in Counter(x.env_id for x in entries).items() if n > 1]
        if repeated:
            raise MixtureError(f"env {repeated[0]!r} appears twice in the mixture; give it one weight")
        for entry in entries:
            if not math.isfinite(entry.weight) or entry.weight <= 0:
                raise MixtureError(
                    f"env {entry.env_id!r}: the weight must be a positive number, got {entry.weight!r}"
                )
        self.entries = entries

    @classmethod
    def parse(cls, texts: Sequence[str], env_kwargs: dict[str, Any] | None = None) -> EnvMixture:
        """From `ID:WEIGHT` strings; `env_kwargs` go to every env."""
        return cls(
            [MixtureEntry(e.env_id, e.weight, dict(env_kwargs or {})) for e in map(parse_entry, texts)]
        )

    @property
    def env_ids(self) -> list[str]:
        return [e.env_id for e in self.entries]

    @property
    def weights(self) -> dict[str, float]:
        """Normalised weights (summing to 1), by env id."""
        total = sum(e.weight for e in self.entries)
        return {e.env_id: e.weight / total for e in self.entries}

    def allocate(self, groups: int, seed: int = 0) -> dict[str, int]:
        """How many of `groups` task groups each env plays: each group's env drawn with the weights."""
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise MixtureError(f"groups must be a positive integer, got {groups!r}")
        rng = np.random.default_rng([seed, 0x6D6978])  # its own stream: not the plan's task draw
        probabilities = np.array(list(self.weights.values()))
        drawn = rng.choice(len(self.entries), size=groups, p=probabilities / probabilities.sum())
        counts = Counter(int(i) for i in drawn)
        return {e.env_id: counts.get(i, 0) for i, e in enumerate(self.entries)}

    def describe(self) -> str:
        return " + ".join(f"{env}:{w:.3g}" for env, w in self.weights.items())


def run_mixture(
    mixture: EnvMixture,
    policy: Any,
    *,
    groups: int,
    group_size: int = 1,
    seed: int = 0,
    concurrency: int = 1,
    out: str | Path | None = None,
    resume: bool = True,
    run_id: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    executor: str = "local",
    task_ids: dict[str, Sequence[str]] | None = None,
) -> list[EpisodeRecord]:
    """Play `groups` task groups of `group_size` samples over the mixture (see the module docstring).

    `task_ids` may restrict an env to some tasks (by env id). Each env's share is played by one
    `run_episodes` call; with `out`, all of them append to that file (each owns it while it plays)."""
    from agentgym.rollout import run_episodes

    allocation = mixture.allocate(groups, seed)
    records: list[EpisodeRecord] = []
    next_seed = seed
    for entry in mixture.entries:
        count = allocation[entry.env_id]
        if count == 0:
            continue
        records.extend(
            run_episodes(
                entry.env_id,
                policy,
                episodes=count,
                task_ids=(task_ids or {}).get(entry.env_id),
                group_size=group_size,
                seed=next_seed,
                concurrency=concurrency,
                env_kwargs=dict(entry.env_kwargs),
                out=out,
                resume=resume,
                run_id=run_id,
                on_episode=on_episode,
                executor=executor,
            )  # fmt: skip
        )
        next_seed += count * group_size
    return records


def mixture_summary(records: Sequence[EpisodeRecord]) -> dict[str, dict[str, Any]]:
    """Per env: `agentgym.metrics.summarize` of its episodes, plus `share` (its fraction of all)."""
    from agentgym.metrics import summarize

    by_env: dict[str, list[EpisodeRecord]] = {}
    for record in records:
        by_env.setdefault(record.env_id, []).append(record)
    total = max(len(records), 1)
    return {env: {"share": len(rs) / total, **summarize(rs)} for env, rs in by_env.items()}


def groups_are_pure(records: Sequence[EpisodeRecord]) -> bool:
    """Every group (by `agentgym.metrics.group_key`) holds one env and one task."""
    from agentgym.metrics import group_key

    seen: dict[tuple[str, ...], tuple[str, str]] = {}
    for record in records:
        key = group_key(record)
        if key is None:
            continue
        if seen.setdefault(key, (record.env_id, record.task_id)) != (record.env_id, record.task_id):
            return False
    return True


def collect_step(
    mixture: EnvMixture,
    policy: Any,
    *,
    groups: int,
    group_size: int,
    seed: int,
    step: int,
    env_kwargs: dict[str, Any],
    concurrency: int = 1,
    run_id: str | None = None,
    task_ids: Callable[[str], Sequence[str] | None] | None = None,
) -> list[EpisodeRecord]:
    """One training step's rollouts over the mixture: each env's groups planned (`plan_jobs`) and
    played (`arun_episodes`) on their own, its reward spec resolved at `step`
    (`agentgym.reward_schedule`). `task_ids(env_id)` gives an env's task list (default: all)."""
    import asyncio

    import gymnasium as gym

    from agentgym.family import list_task_ids
    from agentgym.reward_schedule import reward_at_step
    from agentgym.rollout import arun_episodes, plan_jobs

    allocation = mixture.allocate(groups, seed)
    records: list[EpisodeRecord] = []
    next_seed = seed
    for entry in mixture.entries:
        count = allocation[entry.env_id]
        if count == 0:
            continue
        kwargs = {**env_kwargs, **entry.env_kwargs}
        if "reward" in kwargs:
            kwargs["reward"] = reward_at_step(entry.env_id, kwargs["reward"], step)
        ids = (
            task_ids(entry.env_id)
            if task_ids is not None
            else list_task_ids(entry.env_id, kwargs, kwargs.get("split"))
        )
        jobs = plan_jobs(ids, episodes=count, group_size=group_size, seed=next_seed)
        next_seed += count * group_size

        def make(env_id: str = entry.env_id, made: dict[str, Any] = kwargs) -> Any:
            return gym.make(env_id, **made)

        records.extend(
            asyncio.run(
                arun_episodes(
                    make,
                    policy,
                    jobs,
                    env_id=entry.env_id,
                    env_kwargs=kwargs,
                    concurrency=concurrency,
                    out=None,
                    resume=False,
                    run_id=run_id,
                )  # fmt: skip
            )
        )
    return records
