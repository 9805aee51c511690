"""TRL's GRPOTrainer collecting rollouts from agentgym: flattening, masking, one real training step."""

from __future__ import annotations

import pytest
import torch

from agentgym.baselines.train.grpo import tiny_model


def test_flatten_marks_only_policy_tokens():
    from agentgym.baselines.train.trl_adapter import flatten_episode
    from agentgym.trajectory import EpisodeRecord, StepRecord, TurnTokens

    steps = [
        StepRecord(turn=1, action="", observation="", tokens=TurnTokens(prompt_token_ids=[1, 2, 3], completion_token_ids=[7, 8], logprobs=[-0.5, -0.25])),
        StepRecord(turn=2, action="", observation="", tokens=TurnTokens(prompt_token_ids=[1, 2, 3, 7, 8, 4, 5], completion_token_ids=[9], logprobs=[-1.0])),
    ]
    flat = flatten_episode(EpisodeRecord(env_id="x", task_id="t", steps=steps))
    assert flat["prompt_ids"] == [1, 2, 3]
    assert flat["completion_ids"] == [7, 8, 4, 5, 9]
    assert flat["env_mask"] == [1, 1, 0, 0, 1]
    assert flat["logprobs"] == [-0.5, -0.25, 0.0, 0.0, -1.0]


def test_trl_grpo_trainer_trains_one_step_on_agentgym_rollouts(tmp_path, tokenizer):
    pytest.importorskip("trl", reason="trl is not installed (pip install --no-deps trl; pip install datasets)")
    from datasets import Dataset

    from agentgym.baselines.train.trl_adapter import make_trl_trainer

    def length_reward(prompts=None, completions=None, completion_ids=None, **kwargs):
        # a random tiny model never produces a valid action, so every agentgym return is equal (and
        # so is the episode length); this second reward, a hash of the sampled tokens, gives the
        # group a spread, hence a nonzero advantage and a gradient
        return [float(sum(ids) % 97) for ids in completion_ids]

    model = tiny_model(tokenizer, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = make_trl_trainer(
        model, tokenizer, "agentgym/StallOrSubmit-v0", reward="gated",
        env_kwargs={"max_turns": 2}, num_generations=2, max_new_tokens=3,
        output_dir=str(tmp_path / "trl"), dataset=Dataset.from_dict({"prompt": ["toy-0", "toy-1"]}),
        extra_reward_funcs=[length_reward], max_steps=1, use_cpu=True, learning_rate=1e-2, bf16=False, dataloader_num_workers=0,
    )
    result = trainer.train()
    assert result.global_step == 1
    rollout = trainer.rollout_func
    assert rollout.calls >= 1 and rollout.last_records
    assert all(len(r.steps) >= 1 and r.report is not None for r in rollout.last_records)
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "TRL step left the weights unchanged"
