"""Let TRL's `GRPOTrainer` collect its rollouts from agentgym envs (multi-turn, env tokens masked).

TRL (>= 1.x) accepts a `rollout_func(prompts, trainer) -> {"prompt_ids", "completion_ids",
"logprobs", "env_mask", ...extra}`: the extra keys reach the reward functions, and `env_mask`
(1 = model token, 0 = env token) keeps env/tool tokens out of the loss. This module provides:

- `AgentGymRolloutFunc`: plays one agentgym episode per prompt entry (TRL repeats each prompt
  `num_generations` times, consecutively, so consecutive entries form a GRPO group), with the
  trainer's current model through `LocalTokenPolicy` (exact token ids across turns), and flattens
  each episode into prompt ids (the first turn's prompt) + completion ids (everything after:
  the policy's completions and the env's replies) with `env_mask` and per-token logprobs.
- `agentgym_reward`: the reward function that returns each episode's `RewardReport.return_` under
  the env's reward mode (None for `reward_invalid` episodes: TRL ignores them in the group stats).
- `task_dataset(env_id)`: a `datasets.Dataset` whose prompts are the env's task ids.

Everything else — accelerate / DeepSpeed / multi-GPU, vLLM colocate or server for generation —
is TRL's own machinery. Constrained action decoding is not offered here: TRL recomputes
log-probabilities over the full vocabulary, so sampling must be unconstrained for its importance
ratio to be right.
"""

from __future__ import annotations

from typing import Any

from agentgym.baselines.train.sequences import episode_segments
from agentgym.trajectory import EpisodeRecord

RETURN_KEY = "agentgym_return"


def task_dataset(env_id: str, *, env_kwargs: dict[str, Any] | None = None, limit: int | None = None) -> Any:
    """A `datasets.Dataset` with one row per task id (`prompt` = the task id)."""
    from datasets import Dataset

    from agentgym.family import list_task_ids

    ids = list_task_ids(env_id, env_kwargs, (env_kwargs or {}).get("split")) or []
    if not ids:
        raise ValueError(f"{env_id} has no fixed task list; pass a dataset whose prompts are task ids")
    return Dataset.from_dict({"prompt": list(ids[:limit] if limit else ids)})


def flatten_episode(record: EpisodeRecord) -> dict[str, Any]:
    """One episode as TRL's (prompt_ids, completion_ids, logprobs, env_mask).

    Uses the episode's last segment (the whole episode when every prompt extended the previous
    context, which `LocalTokenPolicy` guarantees); earlier segments, if any, are dropped and counted.
    """
    seqs = episode_segments(record)
    segment = seqs.segments[-1]
    first_policy = segment.policy_mask.index(True)
    prompt_ids = segment.input_ids[:first_policy]
    completion_ids = segment.input_ids[first_policy:]
    env_mask = [int(m) for m in segment.policy_mask[first_policy:]]
    logprobs = [
        (lp if lp is not None else 0.0) if m else 0.0
        for lp, m in zip(segment.old_logprobs[first_policy:], segment.policy_mask[first_policy:], strict=True)
    ]
    return {
        "prompt_ids": prompt_ids,
        "completion_ids": completion_ids,
        "logprobs": logprobs,
        "env_mask": env_mask,
        "dropped_segments": len(seqs.segments) - 1,
    }


class AgentGymRolloutFunc:
    """A TRL `rollout_func` that plays agentgym episodes with the trainer's model."""

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: dict[str, Any] | None = None,
        reward: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        system_prompt: str | None = None,
        seed: int = 0,
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        if reward is not None:
            self.env_kwargs["reward"] = reward
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.system_prompt = system_prompt
        self.seed = seed
        self.calls = 0
        self.last_records: list[EpisodeRecord] = []

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        import gymnasium as gym
        import torch

        from agentgym.baselines.train.sampler import LocalTokenPolicy
        from agentgym.rollout import run_episode

        model = trainer.accelerator.unwrap_model(trainer.model) if hasattr(trainer, "accelerator") else trainer.model
        tokenizer = trainer.processing_class
        policy = LocalTokenPolicy(
            model, tokenizer, max_new_tokens=self.max_new_tokens, temperature=self.temperature,
            system_prompt=self.system_prompt, seed=self.seed * 1_000_003 + self.calls,
        )
        rank = getattr(getattr(trainer, "accelerator", None), "process_index", 0)
        env = gym.make(self.env_id, **self.env_kwargs)
        out: dict[str, list[Any]] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": [], RETURN_KEY: []}
        records = []
        try:
            with torch.no_grad():
                for index, prompt in enumerate(prompts):
                    task_id = prompt if isinstance(prompt, str) else None
                    seed = (self.seed * 1_000_003 + self.calls * 10_007 + rank * 1_009 + index) % (2**31)
                    record = run_episode(env, policy, seed=seed, task_id=task_id, env_id=self.env_id,
                                         env_kwargs=self.env_kwargs, group_id=str(task_id))
                    records.append(record)
                    flat = flatten_episode(record)
                    for key in ("prompt_ids", "completion_ids", "logprobs", "env_mask"):
                        out[key].append(flat[key])
                    valid = not record.reward_invalid and record.report is not None
                    out[RETURN_KEY].append(float(record.report.return_) if valid else None)
        finally:
            env.close()
        self.calls += 1
        self.last_records = records
        return out


def agentgym_reward(prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """TRL reward function: the episode returns that `AgentGymRolloutFunc` passed along."""
    values = kwargs.get(RETURN_KEY)
    if values is None:
        raise KeyError(f"no {RETURN_KEY!r} field: use AgentGymRolloutFunc as the trainer's rollout_func")
    return list(values)


agentgym_reward.__name__ = "agentgym_return"


def make_trl_trainer(
    model: Any,
    tokenizer: Any,
    env_id: str,
    *,
    reward: str = "gated",
    env_kwargs: dict[str, Any] | None = None,
    num_generations: int = 4,
    max_new_tokens: int = 64,
    system_prompt: str | None = None,
    output_dir: str = "runs/trl-grpo",
    dataset: Any | None = None,
    seed: int = 0,
    extra_reward_funcs: list[Any] | None = None,
    **grpo_args: Any,
) -> Any:
    """A TRL `GRPOTrainer` wired to agentgym rollouts (extra `grpo_args` go to `trl.GRPOConfig`)."""
    import os

    from trl import GRPOConfig, GRPOTrainer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    rollout = AgentGymRolloutFunc(env_id, env_kwargs=env_kwargs, reward=reward, max_new_tokens=max_new_tokens,
                                  system_prompt=system_prompt, seed=seed)
    args = dict(
        output_dir=output_dir,
        num_generations=num_generations,
        per_device_train_batch_size=num_generations,
        max_completion_length=4096,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        seed=seed,
    )
    args.update(grpo_args)
    config = GRPOConfig(**args)
    return GRPOTrainer(
        model=model,
        reward_funcs=[agentgym_reward, *(extra_reward_funcs or [])],
        args=config,
        train_dataset=dataset if dataset is not None else task_dataset(env_id, env_kwargs=env_kwargs),
        processing_class=tokenizer,
        rollout_func=rollout,
    )
