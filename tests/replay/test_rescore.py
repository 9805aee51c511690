from __future__ import annotations

import json
import math

import pytest
from rich.console import Console

from agentgym.baselines.policies.scripted import RandomPolicy
from agentgym.replay.cli import rescore_command
from agentgym.replay.rescore import parse_sweep, rescore, sweep_rows, with_override
from agentgym.rewards import RewardSpec
from agentgym.rollout import run_episodes

TOY = "agentgym/StallOrSubmit-v0"


def _spec(records) -> RewardSpec:
    return RewardSpec.model_validate(records[0].reward_spec)


def test_rescoring_with_the_recorded_spec_matches_the_live_reward(toy_records):
    reports = rescore(toy_records)
    for record, report in zip(toy_records, reports, strict=True):
        assert record.report is not None
        assert report.model_dump() == record.report.model_dump()
        assert sum(s.reward for s in record.steps) == pytest.approx(report.return_)


@pytest.mark.parametrize("mode", ["gated", "direct", "outcome"])
def test_rescoring_under_a_mode_matches_an_env_run_live_in_that_mode(mode):
    live = run_episodes(TOY, RandomPolicy(3), episodes=4, seed=9, env_kwargs={"reward": mode, "max_turns": 6})
    # stored under the live mode; rescored from the recorded (gated) spec switched to that mode
    gated_records = [
        r.model_copy(update={"reward_spec": _spec(live).with_mode("gated").model_dump(mode="json")})
        for r in live
    ]
    for record, report in zip(live, rescore(gated_records, mode), strict=True):
        assert report.mode == mode
        assert report.return_ == pytest.approx(record.report.return_)
        assert report.returns() == pytest.approx(record.report.returns())


def test_sweep_over_the_top_gate_threshold(toy_records):
    rows = sweep_rows(toy_records, [None, "direct"], ["gate.threshold=0,0.1,0.5,2"])
    assert [(r.spec_label, r.threshold) for r in rows] == [
        ("recorded", 0),
        ("recorded", 0.1),
        ("recorded", 0.5),
        ("recorded", 2),
        ("direct", 0),
        ("direct", 0.1),
        ("direct", 0.5),
        ("direct", 2),
    ]
    by = {(r.spec_label, r.threshold): r for r in rows}
    outcomes = [r.trajectory_components["outcome"] for r in toy_records]
    passes = sum(o == "tests_pass" for o in outcomes) / len(outcomes)
    submitted = sum(o != "no_submit" for o in outcomes) / len(outcomes)
    # the outcome level maps no_submit 0, tests_fail 0.1, tests_pass 1
    assert by[("recorded", 0)].gate_open_rate == pytest.approx(1.0)
    assert by[("recorded", 0.1)].gate_open_rate == pytest.approx(submitted)  # equality opens the gate
    assert by[("recorded", 0.5)].gate_open_rate == pytest.approx(passes)
    assert by[("recorded", 2)].gate_open_rate == 0.0
    # gated return: outcome plus the critic only where the gate is open; direct ignores the gate
    assert by[("recorded", 2)].mean_return == pytest.approx(by[("recorded", 2)].mean_outcome)
    for threshold in (0, 0.1, 0.5, 2):
        assert by[("direct", threshold)].mean_return == pytest.approx(by[("recorded", 0)].mean_direct)
        assert by[("recorded", threshold)].mean_direct == pytest.approx(by[("recorded", 0)].mean_direct)
    assert by[("recorded", 0.5)].mean_gated < by[("recorded", 0)].mean_gated
    row = by[("recorded", 0.1)]
    assert len(row.returns) == len(toy_records) and math.isclose(
        sum(row.returns) / len(row.returns), row.mean_return
    )


def test_override_paths():
    spec = RewardSpec.model_validate(
        {
            "name": "t",
            "levels": [
                {"name": "outcome", "scope": "trajectory", "components": ["o"], "gate": {"threshold": 0.5}},
                {"name": "process", "scope": "step", "components": ["c"]},
            ],
        }
    )
    assert with_override(spec, "gate.threshold", 0.2).levels[0].gate.threshold == 0.2
    assert with_override(spec, "levels.0.gate.threshold", 0.3).levels[0].gate.threshold == 0.3
    assert with_override(spec, "levels.1.gate.threshold", 0.1).levels[1].gate.threshold == 0.1  # created
    assert with_override(spec, "process.weight", 2).levels[1].weight == 2
    assert with_override(spec, "mode", "direct").mode == "direct"
    with pytest.raises(ValueError, match="level 5 does not exist"):
        with_override(spec, "levels.5.weight", 1)
    with pytest.raises(ValueError, match="aggregate"):
        with_override(spec, "levels.1.aggregate", "median")
    assert parse_sweep("gate.threshold=0, 0.5,1").values == (0, 0.5, 1)
    with pytest.raises(ValueError, match="path=a,b,c"):
        parse_sweep("gate.threshold")


def test_rescore_command_prints_and_writes_json(toy_file, tmp_path):
    out = tmp_path / "rows.json"
    console = Console(record=True, width=200)
    code = rescore_command(
        toy_file, rewards=["gated"], sweeps=["gate.threshold=0.1,0.5"], json_out=out, console=console
    )
    assert code == 0
    text = console.export_text()
    assert "gate.threshold" in text and "open outcome" in text
    rows = json.loads(out.read_text())
    assert [r["overrides"] for r in rows] == [{"gate.threshold": 0.1}, {"gate.threshold": 0.5}]
    assert rescore_command(toy_file, sweeps=["gate.threshold"], console=console, err_console=console) == 2
    assert rescore_command(toy_file, rewards=["nope.yaml"], console=console, err_console=console) == 2
