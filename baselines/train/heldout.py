"""Held-out evaluation of an in-memory model during training (SFT and GRPO stages).

Why: a training curve on the train split says nothing about generalisation; the issue asks for the
success rate on the family's `test` split, with a confidence interval, before and after each
stage and every N steps during training.

What: `evaluate_model(model, tokenizer, HeldoutConfig(...))` plays each task of the split (or the
first `episodes` of a seeded draw) with `LocalTokenPolicy` (the trainer's rollout policy: the same
chat template and tool format as every policy backend) and returns success rate with a 95% Wilson
interval, completion rate, mean turns and the returns under gated/direct/outcome
(`grpo.rollout_metrics`). Greedy decoding by default (temperature 0), so two evaluations of the
same weights give the same episodes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the sampling temperature used for "greedy" (the rollout policy samples; at this temperature the
#: arg-max token has probability 1 up to float rounding whenever it leads by more than ~0.01 logits)
GREEDY_TEMPERATURE = 1e-4


@dataclass
class HeldoutConfig:
    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    split: str = "test"
    episodes: int | None = None  # None: every task of the split once
    max_new_tokens: int = 96
    temperature: float = 0.0  # 0: greedy
    seed: int = 0
    system_prompt: str | None = None
    concurrency: int = 1


def evaluate_model(model: Any, tokenizer: Any, config: HeldoutConfig, *, out: str | Path | None = None) -> dict[str, Any]:
    """Play the held-out split with `model`; metrics (success rate + 95% CI, completion, turns, returns)."""
    import gymnasium as gym

    from agentgym.baselines.train.grpo import rollout_metrics
    from agentgym.baselines.train.sampler import LocalTokenPolicy
    from agentgym.baselines.train.sft import wilson_interval
    from agentgym.family import list_task_ids
    from agentgym.outcome import success_of
    from agentgym.rollout import arun_episodes, plan_jobs
    from agentgym.trajectory import TrajectoryWriter

    started = time.perf_counter()
    env_kwargs = {**config.env_kwargs, "split": config.split}
    task_ids = list_task_ids(config.env_id, env_kwargs, config.split)
    if task_ids is not None:
        task_ids = sorted(task_ids)
        if config.episodes is not None:
            task_ids = task_ids[: config.episodes]
    jobs = plan_jobs(task_ids, episodes=None if task_ids is not None else (config.episodes or 1), seed=config.seed)
    temperature = config.temperature if config.temperature > 0 else GREEDY_TEMPERATURE
    policy = LocalTokenPolicy(model, tokenizer, max_new_tokens=config.max_new_tokens, temperature=temperature,
                              system_prompt=config.system_prompt, seed=config.seed)
    was_training = model.training
    model.eval()
    try:
        records = asyncio.run(arun_episodes(
            lambda: gym.make(config.env_id, **env_kwargs), policy, jobs, env_id=config.env_id,
            env_kwargs=env_kwargs, concurrency=config.concurrency, out=None, resume=False, run_id="heldout",
        ))
    finally:
        model.train(was_training)
    if out is not None:
        with TrajectoryWriter(Path(out), fsync=False) as writer:
            for record in records:
                writer.write(record)
    metrics = rollout_metrics(records)
    successes = [s for s in (success_of(r) for r in records if not r.reward_invalid) if s is not None]
    low, high = wilson_interval(sum(bool(s) for s in successes), len(successes))
    metrics.update(success_rate=(sum(bool(s) for s in successes) / len(successes)) if successes else 0.0,
                   success_ci_low=low, success_ci_high=high, n=len(successes),
                   eval_s=time.perf_counter() - started, split=config.split)
    if "completion_rate" not in metrics and records:  # the env reports no `completed`: ended on its own
        metrics["completion_rate"] = sum(bool(r.terminated) and not r.truncated for r in records) / len(records)
    tool_calls = [len(s.tool_calls) for r in records for s in r.steps]
    metrics["tool_calls_per_episode"] = sum(tool_calls) / max(len(records), 1)
    return metrics
