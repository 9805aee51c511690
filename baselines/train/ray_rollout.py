"""Ray rollout workers: agentgym episodes on many processes / machines for the GRPO trainer.

Each `RolloutWorker` actor holds an env factory, a copy of the policy model and a
`LocalTokenPolicy`. The trainer broadcasts its weights once per step (`ray.put` of the trainable
state, loaded by every worker), then splits the step's `EpisodeJob`s over the workers; records
come back as JSON-able dicts (the same `EpisodeRecord` schema as trajectory files) with exact
per-turn token ids and logprobs, so the trainer's loss is the same as with local rollouts.
Ray's own scheduling places actors on any node of the cluster (`ray.init(address="auto")`).
"""

from __future__ import annotations

from typing import Any

from agentgym.rollout import EpisodeJob
from agentgym.trajectory import EpisodeRecord


class _Worker:
    def __init__(self, env_id: str, env_kwargs: dict[str, Any], model_spec: str, policy_kwargs: dict[str, Any],
                 seed: int, threads: int | None, model_seed: int = 0) -> None:
        import torch

        from agentgym.baselines.train.constrained import ActionTrie
        from agentgym.baselines.train.grpo import load_model
        from agentgym.baselines.train.sampler import LocalTokenPolicy

        if threads:
            torch.set_num_threads(threads)
        self.env_id = env_id
        self.env_kwargs = env_kwargs
        self.model, self.tokenizer = load_model(model_spec, seed=model_seed)
        self.model.eval()
        kwargs = dict(policy_kwargs)
        words = kwargs.pop("action_words", None)
        trie = ActionTrie.from_words(self.tokenizer, words) if words else None
        self.policy = LocalTokenPolicy(self.model, self.tokenizer, action_trie=trie, seed=seed, **kwargs)
        self.env = None

    def load_weights(self, state: dict[str, Any]) -> int:
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected:
            raise RuntimeError(f"unexpected weights: {unexpected[:5]}")
        return len(state)

    def weights_digest(self) -> float:
        import torch

        with torch.no_grad():
            return float(sum(p.double().sum() for p in self.model.parameters()))

    def collect(self, jobs: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
        import gymnasium as gym

        from agentgym.rollout import run_episode

        if self.env is None:
            self.env = gym.make(self.env_id, **self.env_kwargs)
        self.policy.reseed(seed)
        self.policy.reset_cache()
        out = []
        for job in jobs:
            record = run_episode(self.env, self.policy, seed=job["seed"], task_id=job["task_id"], env_id=self.env_id,
                                 env_kwargs=self.env_kwargs, group_id=job["group_id"], sample_index=job["sample_index"])
            out.append(record.model_dump(mode="json", by_alias=True))
        return out


class RayRolloutPool:
    """A pool of Ray rollout actors; `collect(jobs, seed, weights)` returns `EpisodeRecord`s in job order."""

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: dict[str, Any] | None = None,
        model_spec: str,
        policy_kwargs: dict[str, Any] | None = None,
        num_workers: int = 2,
        num_cpus_per_worker: float = 1,
        seed: int = 0,
        threads: int | None = 1,
        ray_init: dict[str, Any] | None = None,
    ) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(**(ray_init or {"num_cpus": max(1, int(num_workers * num_cpus_per_worker)), "include_dashboard": False,
                                     "log_to_driver": False}))
        actor = ray.remote(num_cpus=num_cpus_per_worker)(_Worker)
        self.workers = [
            actor.remote(env_id, dict(env_kwargs or {}), model_spec, dict(policy_kwargs or {}), seed + i, threads, seed)
            for i in range(num_workers)
        ]

    def sync(self, model: Any, *, trainable_only: bool = True) -> None:
        """Send the trainer's weights (only those that train, by default) to every worker."""
        import ray

        state = {k: v.detach().cpu() for k, v in model.named_parameters() if v.requires_grad or not trainable_only}
        ref = ray.put(state)
        ray.get([w.load_weights.remote(ref) for w in self.workers])

    def collect(self, jobs: list[EpisodeJob], seed: int) -> list[EpisodeRecord]:
        import ray

        n = len(self.workers)
        shards = [jobs[i::n] for i in range(n)]
        futures = [
            w.collect.remote([j.__dict__ for j in shard], seed * 131 + i)
            for i, (w, shard) in enumerate(zip(self.workers, shards, strict=True)) if shard
        ]
        results = ray.get(futures)
        records_by_key = {}
        for batch in results:
            for data in batch:
                record = EpisodeRecord.model_validate(data)
                records_by_key[(record.group_id, record.sample_index, record.seed)] = record
        return [records_by_key[(j.group_id, j.sample_index, j.seed)] for j in jobs]

    def digests(self) -> list[float]:
        import ray

        return ray.get([w.weights_digest.remote() for w in self.workers])

    def close(self) -> None:
        import ray

        for w in self.workers:
            ray.kill(w)
        self.workers = []
