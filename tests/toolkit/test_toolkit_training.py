"""GRPO with the toolkit: a mixture of envs, a scheduled spec resolved every step (stamped into
each record and reproduced by re-scoring), a curriculum choosing the tasks."""

from __future__ import annotations

import yaml

from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, tiny_model
from agentgym.metrics import group_key
from agentgym.replay.rescore import rescore
from agentgym.trajectory import read_trajectories

A, B = "agentgym/StallOrSubmit-v0", "agentgym/ToolUse-v0"
SYSTEM = "Reply with one word: work, noop or submit."

SCHEDULED = {
    "name": "valid_actions_annealed",
    "mode": "direct",
    "levels": [
        {"name": "valid", "scope": "step", "components": ["action_valid"], "aggregate": "mean",
         "weight": {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 2}},
        {"name": "calls", "scope": "trajectory", "components": {"cost_total_tool_calls": -0.01}},
    ],
}  # fmt: skip


def _config(out, **overrides) -> GRPOConfig:
    base = dict(
        model="tiny", out_dir=str(out), seed=1, steps=3, groups_per_step=4, group_size=2,
        action_words=["work", "noop", "submit"], system_prompt=SYSTEM, max_new_tokens=3,
        env_kwargs={"max_turns": 2}, learning_rate=1e-3, save_final=False, keep_rollouts=True,
    )  # fmt: skip
    base.update(overrides)
    return GRPOConfig(**base)


def test_grpo_over_a_mixture_with_a_scheduled_spec(tmp_path, tokenizer):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SCHEDULED))
    cfg = _config(tmp_path / "run", env_id=A, mixture=[f"{A}:0.5", f"{B}:0.5"], reward=str(spec_path))
    trainer = GRPOTrainer(cfg, model=tiny_model(tokenizer, seed=1), tokenizer=tokenizer, console=False)
    rows = trainer.train()
    assert len(rows) == 3
    assert [row["schedule:levels.0.weight"] for row in rows] == [0.0, 0.5, 1.0]  # logged each step
    records = read_trajectories(tmp_path / "run" / "rollouts.jsonl").records
    assert len(records) == 3 * 4 * 2
    assert {r.env_id for r in records} == {A, B}
    for record in records:
        step = record.policy["train_step"]
        assert record.report.training_step == step
        assert record.report.schedule == {"levels.0.weight": step / 2 if step < 2 else 1.0}
        assert record.reward_spec["training_step"] == step
    by_group = {}
    for record in records:
        by_group.setdefault(group_key(record), set()).add((record.env_id, record.task_id))
    assert all(len(v) == 1 for v in by_group.values())  # groups never mix envs or tasks
    rescored = rescore(records)
    assert [r.return_ for r in rescored] == [r.report.return_ for r in records]
    # the weight really changed the returns: step 0 pays nothing for valid actions
    step0 = [r for r in records if r.policy["train_step"] == 0]
    assert all(r.report.level("valid").contribution == 0.0 for r in step0)
    later = [r for r in records if r.policy["train_step"] == 2 and r.report.level("valid").value > 0]
    assert later and all(r.report.level("valid").contribution == r.report.level("valid").value for r in later)


def test_grpo_with_a_success_rate_curriculum_over_a_split(tmp_path, tokenizer):
    from agentgym.family import task_source

    cfg = _config(tmp_path / "cur", env_id=A, steps=2, curriculum="success_rate", curriculum_split="train",
                  reward="outcome")  # fmt: skip
    trainer = GRPOTrainer(cfg, model=tiny_model(tokenizer, seed=1), tokenizer=tokenizer, console=False)
    rows = trainer.train()
    assert "curriculum_mean_rate" in rows[-1]
    records = read_trajectories(tmp_path / "cur" / "rollouts.jsonl").records
    train = set(task_source(A).ids("train"))
    assert {r.task_id for r in records} <= train
    assert any(rate != 0.5 for rate in trainer.curriculum.rates.values())  # it learned from the episodes
