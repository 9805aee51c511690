"""`agentgym export samples` / `agentgym.export`: records -> training samples for any trainer.

Real records come from the transformers backend on the fetched SmolLM2 (2 groups x 2 samples x 2
turns of StallOrSubmit, in-process on CPU); hand-built records force the cases a short real run
may not hit (re-tokenization drift, invalid episodes, groups with spread returns)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentgym.cli.main import app
from agentgym.export import (
    NO_TOKENS_HELP,
    ExportError,
    episode_samples,
    export_samples,
    to_row,
)
from agentgym.rewards import RewardReport
from agentgym.rewards.groups import group_advantages
from agentgym.trajectory import EpisodeRecord, StepRecord, TrajectoryWriter, TurnTokens

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ("hf", "trl", "verl", "skyrl")


# ------------------------------------------------------------------------------- hand-built records
def report(
    gated: float, direct: float | None = None, outcome: float | None = None, invalid: bool = False
) -> RewardReport:
    direct = gated if direct is None else direct
    outcome = gated if outcome is None else outcome
    return RewardReport(
        mode="gated",
        return_=gated,
        return_gated=gated,
        return_direct=direct,
        return_outcome=outcome,
        reward_invalid=invalid,
    )


def step(
    turn: int, prompt: list[int], completion: list[int], logprobs: list[float] | None = None, **extra
) -> StepRecord:
    if logprobs is None:
        logprobs = [-0.1 * (i + 1) for i in range(len(completion))]
    return StepRecord(
        turn=turn,
        action="a",
        observation="obs",
        tokens=TurnTokens(prompt_token_ids=prompt, completion_token_ids=completion, logprobs=logprobs),
        **extra,
    )


def episode(
    returns: RewardReport,
    steps: list[StepRecord],
    *,
    group: str | None = "g0",
    index: int = 0,
    invalid: bool = False,
) -> EpisodeRecord:
    return EpisodeRecord(
        env_id="test/Env-v0",
        task_id="t",
        group_id=group,
        sample_index=index,
        steps=steps,
        report=returns,
        reward_invalid=invalid,
        end_reason="turn_limit",
    )


P1 = [1, 2, 3]
C1 = [10, 11]
ENV = [4, 5, 6]  # tool result + template glue between the turns
C2 = [12, 13, 14]


def clean_episode(ret: float = 1.0, **kw) -> EpisodeRecord:
    return episode(report(ret), [step(1, P1, C1), step(2, P1 + C1 + ENV, C2)], **kw)


def drift_episode(ret: float = 1.0, **kw) -> EpisodeRecord:
    """Turn 2's prompt re-tokenized the end of turn 1 (11 became 99): it does not extend P1 + C1."""
    drifted = P1 + [10, 99] + ENV
    return episode(
        report(ret),
        [
            step(1, P1, C1),
            step(
                2, drifted, C2, policy_meta={"drift": {"turn": 2, "position": 4, "fallback": "retokenized"}}
            ),
        ],
        **kw,
    )


def test_clean_episode_is_one_exact_sample():
    (sample,), summary = episode_samples([clean_episode()], advantage="none")
    assert sample.input_ids == P1 + C1 + ENV + C2
    assert sample.loss_mask == [0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1]
    assert sample.old_logprobs == pytest.approx([0.0] * 3 + [-0.1, -0.2] + [0.0] * 3 + [-0.1, -0.2, -0.3])
    assert (
        sample.prompt_length == 3 and sample.turns == [1, 2] and sample.n_segments == 1 and not sample.drift
    )
    assert sample.advantage == 1.0 and summary.drift_turns == 0 and summary.turn_pairs == 1


def test_drift_turn_splits_into_exact_samples():
    record = drift_episode()
    first, second = episode_samples([record], advantage="none")[0]
    assert (first.input_ids, first.loss_mask) == (P1 + C1, [0, 0, 0, 1, 1])
    recorded_prompt = record.steps[1].tokens.prompt_token_ids
    assert second.input_ids == recorded_prompt + C2 and second.prompt_length == len(recorded_prompt)
    assert second.loss_mask == [0] * len(recorded_prompt) + [1, 1, 1]
    assert second.drift and not first.drift and first.n_segments == second.n_segments == 2
    assert first.advantage == second.advantage == 1.0
    _, summary = episode_samples([record, clean_episode(index=1)])
    assert summary.drift_turns == 1 and summary.turn_pairs == 2 and summary.policy_drift_flags == 1
    assert summary.policy_drift_kept == 0 and summary.samples == 3
    assert any("1 turn(s) whose prompt does not extend" in line for line in summary.lines())


def test_retrieved_and_tool_tokens_never_in_the_loss():
    spans = [(0, 3)]
    record = episode(report(1.0), [step(1, P1, C1, information_spans=spans), step(2, P1 + C1 + ENV, C2)])
    (sample,), _ = episode_samples([record])
    model_tokens = {(i, t) for i, t in enumerate(sample.input_ids) if sample.loss_mask[i]}
    assert [t for _, t in sorted(model_tokens)] == C1 + C2
    assert all(
        sample.loss_mask[i] == 0 for i in range(len(sample.input_ids)) if sample.input_ids[i] in ENV + P1
    )


def test_advantages_match_the_reports_and_group_stats():
    returns = [1.0, 0.0, 0.5, 2.0, 2.0]
    records = [clean_episode(r, group="a" if i < 3 else "b", index=i) for i, r in enumerate(returns)]
    records.append(clean_episode(9.0, group="a", index=9, invalid=True))  # skipped, not in the stats
    records[0].report = report(1.0, direct=3.0, outcome=0.25)
    grpo, summary = episode_samples(records, advantage="grpo")
    mean, std = 0.5, math.sqrt(((0.5) ** 2 + 0.5**2 + 0) / 3)
    assert [s.advantage for s in grpo][:3] == pytest.approx([(r - mean) / (std + 1e-6) for r in returns[:3]])
    assert [s.advantage for s in grpo] == pytest.approx(group_advantages(returns, ["a"] * 3 + ["b"] * 2))
    assert summary.skipped_invalid == 1 and summary.groups == 2 and summary.zero_variance_groups == 1
    rloo, _ = episode_samples(records, advantage="rloo")
    assert [s.advantage for s in rloo] == pytest.approx([1 - 0.25, 0 - 0.75, 0.5 - 0.5, 0.0, 0.0])
    none, _ = episode_samples(records, advantage="none")
    assert [s.advantage for s in none] == returns and [s.reward for s in none] == returns
    direct, _ = episode_samples(records, advantage="none", mode="direct")
    outcome, _ = episode_samples(records, advantage="none", mode="outcome")
    assert direct[0].advantage == 3.0 and outcome[0].advantage == 0.25 and direct[0].reward_mode == "direct"


def test_records_without_token_ids_name_how_to_get_them(tmp_path):
    record = EpisodeRecord(
        env_id="test/Env-v0",
        task_id="t",
        report=report(1.0),
        steps=[StepRecord(turn=1, action="work", observation="ok")],
    )
    with pytest.raises(ExportError, match="vLLM") as info:
        episode_samples([record])
    assert "transformers" in str(info.value) and NO_TOKENS_HELP in str(info.value)
    path = write_run(tmp_path / "scripted.jsonl", [record])
    result = CliRunner().invoke(app, ["export", "samples", str(path), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "no token ids" in result.output


def write_run(path: Path, records: list[EpisodeRecord]) -> Path:
    with TrajectoryWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


def check_rows(rows: list[dict], fmt: str, samples) -> None:
    """Every format carries the same ids, mask, logprobs and advantage, under its own names."""
    for row, s in zip(rows, samples, strict=True):
        p = s.prompt_length
        if fmt == "hf":
            ids, mask, logp, adv = row["input_ids"], row["loss_mask"], row["old_logprobs"], row["advantage"]
            assert row["attention_mask"] == [1] * len(ids)
        elif fmt == "trl":
            ids = row["prompt_ids"] + row["completion_ids"]
            mask = [0] * p + row["env_mask"]
            logp = [0.0] * p + row["logprobs"]
            adv = row["advantages"]
            assert row["completion_mask"] == [1] * len(row["completion_ids"]) and len(row["prompt_ids"]) == p
        elif fmt == "verl":
            ids = row["prompts"] + row["responses"]
            mask, logp = [0] * p + row["response_mask"], [0.0] * p + row["old_log_probs"]
            adv = row["advantages"][row["response_mask"].index(1)]
            assert ids == row["input_ids"] and sum(row["token_level_rewards"]) == pytest.approx(s.reward)
            assert row["uid"] == (s.group_id or s.episode_id)
        else:
            ids = row["prompt_token_ids"] + row["response_ids"]
            mask, logp = [0] * p + row["loss_masks"], [0.0] * p + row["rollout_logprobs"]
            adv = row["advantages"]
            assert row["rewards"] == s.reward and row["trajectory_ids"]["repetition_id"] == s.sample_index
        assert (ids, mask, logp) == (s.input_ids, s.loss_mask, s.old_logprobs)
        assert adv == pytest.approx(s.advantage)
        assert row["episode_id"] == s.episode_id and row["env_id"] == s.env_id


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_round_trips(tmp_path, fmt):
    records = [clean_episode(1.0), drift_episode(0.0, index=1)]
    samples, _ = episode_samples(records)
    out = tmp_path / f"{fmt}.jsonl"
    export_samples(records, out, format=fmt)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    check_rows(rows, fmt, samples)
    assert rows == [json.loads(json.dumps(to_row(s, fmt))) for s in samples]


# ------------------------------------------------------------------------------- SmolLM2 records
@pytest.fixture(scope="module")
def smollm2_run(tmp_path_factory):
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip(reason="transformers and gguf are needed to fetch SmolLM2 (pip install 'agentgym[hf]')")
    from agentgym.baselines.models import model_path
    from agentgym.baselines.policies import make_policy
    from agentgym.rollout import run_episodes

    model_path("smollm2")  # fetched once, then reused
    out = tmp_path_factory.mktemp("smol") / "run.jsonl"
    policy = make_policy("smollm2?max_tokens=16&temperature=1.0")
    records = run_episodes(
        "agentgym/StallOrSubmit-v0",
        policy,
        episodes=2,
        group_size=2,
        seed=0,
        env_kwargs={"max_turns": 2},
        out=out,
    )
    assert len(records) == 4 and all(len(r.steps) == 2 for r in records)
    return out, records


@pytest.mark.slow
def test_smollm2_samples_round_trip_the_recorded_ids(smollm2_run):
    _, records = smollm2_run
    samples, summary = episode_samples(records, advantage="grpo")
    assert summary.episodes == 4 and summary.turn_pairs == 4
    assert summary.drift_turns == sum(s.n_segments - 1 for s in samples if s.segment == 0)
    by_episode = {r.episode_id: r for r in records}
    for s in samples:
        record = by_episode[s.episode_id]
        assert record.end_reason in ("terminated", "turn_limit")
        turns = [record.steps[t - 1].tokens for t in s.turns]
        # the sample's ids are the last recorded prompt of the segment + its completion, exactly
        assert s.input_ids == turns[-1].prompt_token_ids + turns[-1].completion_token_ids
        assert s.input_ids[: s.prompt_length] == turns[0].prompt_token_ids
        # the loss mask is exactly the sampled completion tokens, with their logprobs aligned
        picked = [i for i, m in enumerate(s.loss_mask) if m]
        assert [s.input_ids[i] for i in picked] == [t for tok in turns for t in tok.completion_token_ids]
        assert [s.old_logprobs[i] for i in picked] == [x for tok in turns for x in tok.logprobs]
        assert all(s.old_logprobs[i] == 0.0 for i, m in enumerate(s.loss_mask) if not m)
        assert sum(s.loss_mask) == sum(len(tok.completion_token_ids) for tok in turns)  # no env token
    returns = [r.report.return_ for r in records]
    groups = [r.group_id for r in records]
    expected = dict(zip((r.episode_id for r in records), group_advantages(returns, groups), strict=True))
    assert all(s.advantage == pytest.approx(expected[s.episode_id]) for s in samples)


@pytest.mark.slow
def test_smollm2_cli_export_and_loads(smollm2_run, tmp_path):
    from datasets import Dataset, load_dataset

    run, records = smollm2_run
    outputs = {}
    for fmt in FORMATS:
        out = tmp_path / f"{fmt}.jsonl"
        result = CliRunner().invoke(
            app,
            [
                "export",
                "samples",
                str(run),
                "--format",
                fmt,
                "--out",
                str(out),
                "--advantage",
                "grpo",
                "--mode",
                "gated",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "4 exported" in result.output and "turn pairs" in result.output and "drift:" in result.output
        outputs[fmt] = out
    samples, _ = episode_samples(records, mode="gated")
    for fmt, out in outputs.items():
        check_rows([json.loads(line) for line in out.read_text().splitlines()], fmt, samples)
    hf = load_dataset("json", data_files=str(outputs["hf"]), split="train")
    assert {"input_ids", "attention_mask", "loss_mask", "old_logprobs", "advantage", "env_id"} <= set(
        hf.column_names
    )
    assert hf[0]["input_ids"] == samples[0].input_ids and hf[0]["loss_mask"] == samples[0].loss_mask
    trl = load_dataset("json", data_files=str(outputs["trl"]), split="train")
    assert {
        "prompt_ids",
        "completion_ids",
        "prompt_mask",
        "completion_mask",
        "env_mask",
        "advantages",
    } <= set(trl.column_names)
    assert trl[0]["prompt_ids"] + trl[0]["completion_ids"] == samples[0].input_ids
    parquet = tmp_path / "hf.parquet"
    result = CliRunner().invoke(app, ["export", "samples", str(run), "--out", str(parquet)])
    assert result.exit_code == 0, result.output
    table = Dataset.from_parquet(str(parquet))
    assert table.num_rows == len(samples) and table[0]["input_ids"] == samples[0].input_ids


def test_cli_rejects_bad_input(tmp_path):
    run = write_run(tmp_path / "run.jsonl", [clean_episode()])
    runner = CliRunner()
    bad = runner.invoke(
        app, ["export", "samples", str(run), "--format", "csv", "--out", str(tmp_path / "o.jsonl")]
    )
    assert bad.exit_code == 2 and "hf, trl, verl, skyrl" in bad.output
    missing = runner.invoke(
        app, ["export", "samples", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]
    )
    assert missing.exit_code == 2 and "not found" in missing.output
    ok = runner.invoke(
        app, ["export", "samples", str(run), "--format", "verl", "--out", str(tmp_path / "o.jsonl")]
    )
    assert ok.exit_code == 0 and "wrote 1 verl sample(s)" in ok.output


def test_byo_generator_example_runs_as_written():
    """docs/byo_generator.md's loop (examples/byo_generator.py), with a scripted model."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "byo_generator.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "return 3.000 valid True success True, step rewards [0.0, 0.0, 3.0]" in proc.stdout


def test_byo_generator_doc_shows_the_example_verbatim():
    example = (ROOT / "examples" / "byo_generator.py").read_text()
    loop = example[example.index("import gymnasium as gym") :].rstrip()
    assert loop in (ROOT / "docs" / "byo_generator.md").read_text()
