"""`agentgym train grpo --advantage tree --tree-branch K@TURNS`: trees rolled out by the trainer,
shared prefix tokens trained once (in their owner), one update step runs (tiny model, CPU)."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import pytest

MODEL_DIR = Path(os.environ.get("AGENTGYM_HOME", Path.home() / ".cache" / "agentgym")) / "models" / "smollm2"


@pytest.fixture(scope="module")
def tokenizer():
    if not (MODEL_DIR / "tokenizer.json").exists():
        pytest.skip(reason=f"no SmolLM2 tokenizer at {MODEL_DIR}: run `agentgym models fetch smollm2`")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL_DIR)


def test_tree_grpo_collects_trees_and_masks_shared_prefixes(tmp_path, tokenizer):
    from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, tiny_model

    cfg = GRPOConfig(
        model="tiny", out_dir=str(tmp_path), seed=1, steps=1, groups_per_step=1, group_size=2,
        action_words=["work", "noop", "submit"], system_prompt="Reply with one word: work, noop or submit.",
        max_new_tokens=4, env_kwargs={"max_turns": 3, "pass_prob": 1.0}, learning_rate=1e-2, save_final=False,
        keep_rollouts=False, advantage="tree", tree_branch="2@0,1", threads=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = GRPOTrainer(cfg, model=tiny_model(tokenizer, seed=0), tokenizer=tokenizer, console=False)
        records = trainer.collect(0)
    roots = [r for r in records if r.parent_episode_id is None]
    assert len(roots) == 2 and len({r.group_id for r in records}) == 1
    children = [r for r in records if r.parent_episode_id is not None]
    assert len(children) >= 4 and {c.branch_turn for c in children} <= {0, 1}
    items = trainer._prepare(records)
    assert len(items) == len(records)
    by_record = dict(zip([r.episode_id for r in records], items, strict=True))
    for child in children:
        seqs, adv = by_record[child.episode_id]
        masked_turns = {t for s in seqs.segments for m, t in zip(s.loss_mask, s.turn, strict=True) if m}
        assert masked_turns == set(range(child.branch_turn, len(child.steps)))  # own turns only
        assert all(a == 0.0 for a in adv[: child.branch_turn])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = trainer.update(records)
    assert math.isfinite(row["loss"]) and row["policy_tokens"] > 0
