"""Preference pairs per task group: best-worst and all ordered pairs under any reward mode, the
conversations and exact token ids, loading in TRL's DPOTrainer, one DPO step on SmolLM2."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, tiny_model
from agentgym.cli.main import app
from agentgym.export import episode_return, episode_segments
from agentgym.pairs import conversation, export_pairs, load_pairs, make_pairs, token_exact_dpo_trainer_class
from agentgym.trajectory import read_trajectories


@pytest.fixture(scope="module")
def run_file(tmp_path_factory, tokenizer):
    """Two task groups of four episodes from a tiny policy over SmolLM2's tokenizer (exact token ids)."""
    out = tmp_path_factory.mktemp("pairs")
    cfg = GRPOConfig(
        model="tiny", out_dir=str(out), seed=3, groups_per_step=2, group_size=4, max_new_tokens=4,
        action_words=["work", "noop", "submit"], system_prompt="Reply with one word: work, noop or submit.",
        env_kwargs={"max_turns": 3}, reward="gated", save_final=False, keep_rollouts=True,
    )  # fmt: skip
    GRPOTrainer(cfg, model=tiny_model(tokenizer, seed=3), tokenizer=tokenizer, console=False).collect(0)
    return out / "rollouts.jsonl"


def test_pairs_are_ordered_within_groups_under_each_mode(run_file):
    records = read_trajectories(run_file).records
    for mode in (None, "gated", "direct", "outcome"):
        best_worst = make_pairs(records, mode=mode)
        every = make_pairs(records, strategy="all", mode=mode)
        assert len(best_worst) <= 2 and len(every) >= len(best_worst)
        for row in every:
            assert row["chosen_return"] > row["rejected_return"]
            chosen = next(r for r in records if r.episode_id == row["chosen_episode"])
            rejected = next(r for r in records if r.episode_id == row["rejected_episode"])
            assert chosen.group_id == rejected.group_id and chosen.task_id == rejected.task_id
            assert episode_return(chosen, mode) == row["chosen_return"]
        by_group = {}
        for record in records:
            by_group.setdefault(record.group_id, []).append(episode_return(record, mode))
        expected_all = sum(
            1 for values in by_group.values() for i, a in enumerate(values) for b in values[i + 1 :] if a != b
        )
        assert len(every) == expected_all
        assert len(best_worst) == sum(1 for values in by_group.values() if max(values) > min(values))
    assert make_pairs(records, strategy="all", mode="direct"), (
        "the fixture needs groups with different returns"
    )


def test_pair_rows_are_conversations_and_exact_token_ids(run_file):
    records = {r.episode_id: r for r in read_trajectories(run_file).records}
    rows = make_pairs(records.values(), strategy="all", mode="direct")
    for row in rows:
        chosen, rejected = records[row["chosen_episode"]], records[row["rejected_episode"]]
        assert row["prompt"][0]["role"] in ("system", "user") and row["prompt"][-1]["role"] != "assistant"
        assert row["prompt"] + row["chosen"] == conversation(chosen)
        assert row["prompt"] + row["rejected"] == conversation(rejected)
        assert row["chosen"][0]["role"] == "assistant" and row["rejected"][0]["role"] == "assistant"
        # token-exact: the prompt ids are a turn's recorded prompt, and prompt + side is exactly a
        # recorded segment of that episode (to its end, or to a drift)
        for side, record in (("chosen_ids", chosen), ("rejected_ids", rejected)):
            assert row["prompt_ids"] in [s.tokens.prompt_token_ids for s in record.steps]
            assert row["prompt_ids"] + row[side] in [s.ids for s in episode_segments(record)]
        assert row["chosen_ids"] != row["rejected_ids"]


def test_cli_export_pairs_and_bad_input(run_file, tmp_path):
    runner = CliRunner()
    out = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["export", "pairs", str(run_file), "--out", str(out), "--strategy", "all",
                                 "--mode", "direct"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pair(s)" in result.output and len(out.read_text().splitlines()) >= 1
    for args, message in [
        (["--strategy", "some"], "--strategy"),
        (["--mode", "best"], "--mode"),
    ]:
        bad = runner.invoke(
            app, ["export", "pairs", str(run_file), "--out", str(tmp_path / "x.jsonl"), *args]
        )
        assert bad.exit_code == 2 and message in bad.output
    missing = runner.invoke(app, ["export", "pairs", str(tmp_path / "none.jsonl"), "--out", str(out)])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_pairs_load_in_trl_dpo_trainer_and_one_dpo_step_runs_on_smollm2(
    run_file, tmp_path, smollm2_dir, tokenizer
):
    import torch
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    pairs = tmp_path / "pairs.jsonl"
    summary = export_pairs(run_file, pairs, strategy="best-worst", mode="direct")
    assert summary.pairs >= 1 and summary.token_exact == summary.pairs
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo"), per_device_train_batch_size=1, max_steps=1, learning_rate=1e-4,
        max_length=48, truncation_mode="keep_end", report_to=[], save_strategy="no", use_cpu=True,
        logging_steps=1, dataloader_num_workers=0,
    )  # fmt: skip
    # TRL's own DPOTrainer reads the conversational rows (it renders them with the chat template)
    plain = DPOTrainer(model=model, args=args, train_dataset=load_pairs(pairs), processing_class=tokenizer)
    assert len(plain.train_dataset) == len(rows) and len(plain.train_dataset[0]["chosen_ids"]) > 0
    del plain
    # token-exact: the exported ids reach the loss as they are
    dataset = load_pairs(pairs, token_exact=True)
    trainer = token_exact_dpo_trainer_class()(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    assert trainer.train_dataset[0]["chosen_ids"] == rows[0]["chosen_ids"]
    assert trainer.train_dataset[0]["prompt_ids"] == rows[0]["prompt_ids"]
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    result = trainer.train()
    assert trainer.state.global_step == 1
    assert math.isfinite(result.training_loss)
    assert result.training_loss == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at step 0
    changed = sum(
        1 for n, p in model.named_parameters() if n in before and not torch.equal(before[n], p.detach())
    )
    assert changed > 0
