"""`agentgym judge` commands with a model-free judge (an agentgym scripted policy as the model)."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from agentgym.cli.judge import app

FOOLED = "kind=reference,model=scripted:Verdict: YES,max_tokens=8"  # a policy string as the model


def test_probe_reports_rates_saves_and_refuses(tmp_path, judge_home):
    out = tmp_path / "probe.json"
    result = CliRunner().invoke(
        app, ["probe", "--judge", FOOLED, "--items", "1", "--json", str(out), "--max-fpr", "0.2"]
    )
    assert result.exit_code == 1, result.output  # a judge that always says YES is refused
    assert "false-positive rate" in result.output and "refused" in result.output
    data = json.loads(out.read_text())
    assert data["fpr_by_key"]["colon"] == 1.0 and data["fpr_by_key"]["empty"] == 0.0
    assert len(list((judge_home / "probes").glob("*.json"))) == 1

    spec = {
        "judges": {
            "j": {
                "kind": "reference",
                "model": "scripted:Verdict: YES",
                "max_tokens": 8,
                "max_fpr": 0.2,
            }
        },
        "levels": [{"name": "judge", "scope": "trajectory", "components": ["j"]}],
    }
    path = tmp_path / "reward.yaml"
    path.write_text(yaml.safe_dump(spec))
    from agentgym.policy import make_judge_model
    from agentgym.rewards import load_spec
    from agentgym.rewards.judges import JudgeError, JudgeRunner

    try:
        JudgeRunner(load_spec(path), resolve=make_judge_model)
        raise AssertionError("a judge over its max_fpr was accepted")
    except JudgeError as exc:
        assert "exceeds max_fpr" in str(exc)  # the probe saved above is found by fingerprint


def test_score_prints_judgment_and_fails_on_invalid():
    ok = CliRunner().invoke(app, ["score", "--judge", FOOLED, "-q", "2+2?", "-a", "4", "-r", "4"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["score"] == 1.0
    bad = CliRunner().invoke(
        app,
        ["score", "--judge", "kind=reference,model=scripted:hmm", "-q", "2+2?", "-a", "4", "-r", "4"],
    )
    assert bad.exit_code == 1 and "unparseable verdict" in bad.output


def test_unknown_model_kind_is_one_line_error():
    result = CliRunner().invoke(
        app, ["score", "--judge", "kind=reference,model=nosuch:thing", "-q", "2+2?", "-a", "4", "-r", "4"]
    )
    assert result.exit_code == 2, result.output
    assert "unknown policy kind 'nosuch'" in result.output and "scripted" in result.output


def test_rescore_offline_with_a_pairwise_judge(tmp_path):
    """Group judges run offline: rescore compares the episodes of a group."""
    from agentgym.rewards import RewardSpec
    from agentgym.trajectory import EpisodeRecord, StepRecord, TrajectoryWriter, read_trajectories

    spec = {
        "name": "pairwise",
        "judges": {
            "better": {"kind": "pairwise", "model": "scripted:Winner: A", "max_tokens": 8, "swap": False}
        },
        "levels": [{"name": "judge", "scope": "trajectory", "components": ["better"]}],
    }
    reward = tmp_path / "reward.yaml"
    reward.write_text(yaml.safe_dump(spec))
    path = tmp_path / "runs.jsonl"
    with TrajectoryWriter(path) as writer:
        for answer in ["42", "52"]:
            writer.write(
                EpisodeRecord(
                    env_id="agentgym/Test-v0",
                    task_id="t0",
                    group_id="g0",
                    prompt="What is 17 + 25?",
                    reward_spec=RewardSpec.model_validate(spec).model_dump(),
                    steps=[StepRecord(turn=1, action=answer, observation="ok", components={})],
                )
            )
    out = tmp_path / "judged.jsonl"
    result = CliRunner().invoke(app, ["rescore", str(path), "--reward", str(reward), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = read_trajectories(out).records
    assert [r.trajectory_components["better"] for r in records] == [1.0, 0.0]  # "A" (the first) always wins
