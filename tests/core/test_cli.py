import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agentgym.cli.main import app

runner = CliRunner()
TOY = "agentgym/StallOrSubmit-v0"


def invoke(*args):
    return runner.invoke(app, list(args))


def test_list_shows_envs():
    result = invoke("list")
    assert result.exit_code == 0 and TOY in result.output


def test_run_replay_rescore_roundtrip(tmp_path):
    out = tmp_path / "toy.jsonl"
    result = invoke("run", TOY, "--policy", "oracle", "--episodes", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "replay with: agentgym replay" in result.output
    assert len(out.read_text().splitlines()) == 3

    replay = invoke("replay", str(out), "--episode", "1")
    assert replay.exit_code == 0
    assert "turn 1" in replay.output and "submit" in replay.output and "reward report" in replay.output
    assert "outcome" in replay.output and "critic" in replay.output

    rescore = invoke("rescore", str(out), "--reward", "outcome")
    assert rescore.exit_code == 0, rescore.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # under "outcome" only the top level counts: the new return is the outcome value alone
    first = records[0]
    outcome_value = {"tests_pass": 1.0, "tests_fail": 0.1}[first["trajectory_components"]["outcome"]]
    assert f"{outcome_value:g}" in rescore.output.splitlines()[2]


def test_eval_prints_metrics(tmp_path):
    result = invoke("eval", TOY, "--policy", "random", "--n", "2", "-G", "2", "--json", str(tmp_path / "m.json"))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["episodes"] == 4 and "completed" in metrics and "pass@2" in metrics


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "agentgym/StallOrSubmt-v0"], "Did you mean: agentgym/StallOrSubmit-v0"),
        (["run", TOY, "--reward", "nope"], "nope"),
        (["replay", "missing.jsonl"], "not found"),
        (["run", TOY, "--policy", "telepathy"], "unknown policy"),
    ],
)
def test_errors_are_one_clear_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_malformed_spec_names_the_bad_field(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nlevels:\n  - name: a\n    scope: step\n    components: [c]\n    aggregate: median\n")
    result = invoke("run", TOY, "--reward", str(spec))
    assert result.exit_code == 2
    assert "aggregate" in result.output


def test_console_script_help_is_fast_and_works():
    proc = subprocess.run([sys.executable, "-m", "agentgym", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "replay" in proc.stdout
