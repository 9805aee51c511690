"""GRPO with rollouts from the vLLM in-process engine, weights synced by re-creating the engine."""

from __future__ import annotations

import json
import os

import pytest

from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, tiny_model

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_grpo_with_vllm_engine_rollouts_and_checkpoint_sync(tmp_path, tokenizer):
    pytest.importorskip("vllm", reason="vLLM is not installed (extra: vllm)")
    # numba (the search family's BM25 kernel) loads llvmlite, whose ffi.lib broke vLLM-CPU's
    # kernel scan at engine start; load it first so the engine must start with it present
    from llvmlite.binding import ffi

    assert ffi.lib is not None
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    cfg = GRPOConfig(
        model="tiny", out_dir=str(tmp_path), seed=0, steps=2, groups_per_step=1, group_size=4,
        action_words=["work", "noop", "submit"], system_prompt="Reply with one word: work, noop or submit.",
        learning_rate=1e-2, reward="gated", env_kwargs={"max_turns": 3}, max_new_tokens=4,
        rollout_backend="vllm", save_final=False,
    )
    # vLLM's CPU attention needs head_dim 64: 4 heads x 64
    trainer = GRPOTrainer(cfg, model=tiny_model(tokenizer, seed=0, hidden=256), tokenizer=tokenizer, console=False)
    rows = trainer.train()
    assert [r["invalid"] for r in rows] == [0.0, 0.0], "vLLM rollouts crashed (see rollouts.jsonl errors)"
    # the engine's processed logprobs equal the trainer's constrained recomputation
    assert all(abs(r["ratio"] - 1.0) < 1e-4 for r in rows)
    records = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()]
    first_turn = {r["policy"]["train_step"]: r["steps"][0]["tokens"] for r in records}
    # after the update the re-created engine serves new weights: the same first-turn prompt gets a new logprob
    assert first_turn[0]["prompt_token_ids"] == first_turn[1]["prompt_token_ids"]
    step0 = {tuple(r["steps"][0]["tokens"]["completion_token_ids"]): r["steps"][0]["tokens"]["logprobs"][0]
             for r in records if r["policy"]["train_step"] == 0}
    step1 = {tuple(r["steps"][0]["tokens"]["completion_token_ids"]): r["steps"][0]["tokens"]["logprobs"][0]
             for r in records if r["policy"]["train_step"] == 1}
    shared = set(step0) & set(step1)
    assert shared and any(abs(step0[k] - step1[k]) > 1e-4 for k in shared)
