"""Concurrent rollouts in the trainer's own sampler keep every record exact.

With `concurrency > 1` episodes run in threads and torch runs two threads' forwards at once. The
sampler's turns share state (conversation caches, the frozen-trunk features its forward hook
captures, the model's mode, the generator); a turn that captured another episode's hidden states
gave the trainer wrong features, and the first PPO epoch's ratio fell to ~0.03 (clip fraction
~0.98) instead of 1. The first epoch's ratio is exactly what this checks: it is 1 only when the
update recomputes the very log-probabilities the rollout sampled with.
"""

from __future__ import annotations

import json

import pytest

from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, tiny_model


@pytest.mark.parametrize("trunk_features", [True, False])
def test_first_epoch_ratio_is_one_with_concurrent_episodes(tmp_path, tokenizer, trunk_features):
    cfg = GRPOConfig(
        env_id="agentgym/ToolUse-v0", env_kwargs={"world": "files", "split": "train", "max_turns": 3},
        model="tiny", out_dir=str(tmp_path), seed=0, steps=1, groups_per_step=1, group_size=4, concurrency=4,
        max_new_tokens=24, learning_rate=1e-4, reward="outcome", trainable_layers=1, trunk_features=trunk_features,
        ppo_epochs=1, minibatches=1, save_final=False, keep_rollouts=False,
    )  # fmt: skip
    trainer = GRPOTrainer(cfg, model=tiny_model(tokenizer, seed=0), tokenizer=tokenizer, console=False)
    trainer.train(1)
    row = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert row["policy_tokens"] > 0
    assert row["ratio"] == pytest.approx(1.0, abs=1e-4), row
    assert row["clip_frac"] == 0.0, row
