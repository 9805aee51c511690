"""Ray rollout workers: episodes collected by actors carry exact tokens and the trainer's weights."""

from __future__ import annotations

import pytest
import torch

from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, tiny_model
from agentgym.baselines.train.sequences import episode_segments


def test_grpo_step_with_ray_rollout_workers(tmp_path, tokenizer):
    ray = pytest.importorskip("ray", reason="ray is not installed (extra: ray)")
    cfg = GRPOConfig(
        model="tiny", out_dir=str(tmp_path), seed=0, steps=1, groups_per_step=1, group_size=4,
        action_words=["work", "noop", "submit"], system_prompt="Reply with one word: work, noop or submit.",
        max_new_tokens=4, env_kwargs={"max_turns": 3}, learning_rate=1e-2, rollout_backend="ray", ray_workers=2,
        save_final=False, threads=1,
    )
    trainer = GRPOTrainer(cfg, model=tiny_model(tokenizer, seed=0), tokenizer=tokenizer, console=False)
    try:
        records = trainer.collect(0)
        assert len(records) == 4 and len({r.group_id for r in records}) == 1
        assert {r.sample_index for r in records} == {0, 1, 2, 3}
        for record in records:
            assert record.report is not None
            seqs = episode_segments(record, trainer.trie)
            assert len(seqs.segments) == 1 and sum(seqs.segments[0].policy_mask) > 0
        row = trainer.train_step()
        assert row["episodes"] == 4.0
        trainer._ray_pool.sync(trainer.model)  # after the update, the workers hold the new weights
        expected = float(sum(p.double().sum() for p in trainer.model.parameters()))
        for digest in trainer._ray_pool.digests():
            assert digest == pytest.approx(expected, rel=0, abs=1e-9)
        assert not torch.equal(trainer.model.get_decoder().norm.weight, torch.ones_like(trainer.model.get_decoder().norm.weight))
    finally:
        if trainer._ray_pool is not None:
            trainer._ray_pool.close()
        ray.shutdown()
