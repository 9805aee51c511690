"""`agentgym run --branch K@TURNS` writes a tree that replay and report show; bad input exits 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from agentgym.cli.main import app
from agentgym.trajectory import read_trajectories

TOY = "agentgym/StallOrSubmit-v0"
runner = CliRunner()


def test_run_branch_writes_a_tree_replay_and_report_show_it(tmp_path):
    out = tmp_path / "tree.jsonl"
    result = runner.invoke(app, ["run", TOY, "-p", "random", "-n", "1", "--branch", "2@0,1", "-o", str(out),
                                 "--env-arg", "max_turns=4", "--env-arg", "pass_prob=0.0"])
    assert result.exit_code == 0, result.output
    records = read_trajectories(out).records
    root = records[0]
    assert root.parent_episode_id is None and root.branch_turn is None
    children = records[1:]
    assert {c.parent_episode_id for c in children} == {root.episode_id}
    assert [c.branch_turn for c in children][:2] == [0, 0]
    assert len(records) == 1 + 2 * (1 + (len(root.steps) > 1))  # turn 1 needs a root that lasted past it
    assert f"tree {root.episode_id}" in result.output and "(from turn 0, #1)" in result.output
    shown = runner.invoke(app, ["replay", str(out), "--plain", "-i", "1"])
    assert shown.exit_code == 0 and f"branched from {root.episode_id} after turn 0" in shown.output
    html = tmp_path / "tree.html"
    report = runner.invoke(app, ["report", str(out), "--html", str(html)])
    assert report.exit_code == 0, report.output
    assert "after turn 0" in html.read_text() and ">tree<" in html.read_text()


@pytest.mark.parametrize("branch", ["3", "x@1", "0@1", "2@-1"])
def test_run_branch_bad_input_exits_2(branch):
    result = runner.invoke(app, ["run", TOY, "--branch", branch])
    assert result.exit_code == 2, result.output
    assert "K@TURNS" in result.output and "Traceback" not in result.output


def test_tree_episodes_reexecute_from_reset_without_divergence(tmp_path):
    # pass_prob 0.5: the submit's coin comes from the env RNG, reseeded at each branch
    out = tmp_path / "tree.jsonl"
    result = runner.invoke(app, ["run", TOY, "-p", "random", "-n", "2", "--branch", "3@0,1,2", "-o", str(out),
                                 "--env-arg", "pass_prob=0.5", "--env-arg", "max_turns=5"])
    assert result.exit_code == 0, result.output
    records = read_trajectories(out).records
    assert all(len(r.branch_reseeds) == (r.parent_episode_id is not None) for r in records)
    replayed = runner.invoke(app, ["replay", str(out), "--reexec"])
    assert replayed.exit_code == 0, replayed.output
    assert f"{len(records)}/{len(records)} episode(s) reproduced" in replayed.output
