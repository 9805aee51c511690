from __future__ import annotations

import json

from rich.console import Console

from agentgym.replay import load_episodes
from agentgym.replay.cli import replay_command
from agentgym.replay.viewer import ViewerState, render_lines
from agentgym.trajectory import TrajectoryWriter, TurnTokens


def _console() -> Console:
    return Console(record=True, width=120, force_terminal=False)


def test_plain_mode_prints_filtered_episodes(toy_file):
    console = _console()
    assert (
        replay_command(toy_file, filters=["stalled"], plain=True, console=console, err_console=console) == 0
    )
    text = console.export_text()
    assert "task=toy-4" in text and text.count("episode ") == 1 and "outcome=no_submit" in text
    console = _console()
    assert (
        replay_command(toy_file, filters=["invalid"], plain=True, console=console, err_console=console) == 2
    )
    assert "no episode matches" in console.export_text()
    assert replay_command(toy_file, filters=["bogus"], plain=True, console=console, err_console=console) == 2
    assert (
        replay_command(toy_file.with_name("missing.jsonl"), plain=True, console=console, err_console=console)
        == 2
    )


def test_reexec_command_exit_codes(toy_file, tmp_path):
    console = _console()
    out = tmp_path / "reexec.json"
    assert replay_command(toy_file, reexec=True, filters=["task=toy-4"], json_out=out, console=console) == 0
    assert "1/1 episode(s) reproduced" in console.export_text()
    assert json.loads(out.read_text())[0]["ok"] is True

    records = load_episodes(toy_file).records
    records[1].steps[0].observation = "edited [by hand]"
    bad = tmp_path / "bad.jsonl"
    with TrajectoryWriter(bad, fsync=False) as writer:
        for record in records:
            writer.write(record)
    console = _console()
    assert replay_command(bad, reexec=True, json_out=out, console=console) == 1
    text = console.export_text()
    assert "DIVERGED" in text and "turn 1: observation differs" in text and "edited [by hand]" in text
    rows = json.loads(out.read_text())
    assert [r["ok"] for r in rows].count(False) == 1 and rows[1]["divergence"]["turn"] == 1


def test_viewer_shows_tokens_and_logprobs(toy_file):
    episode = load_episodes(toy_file).episodes[0]
    episode.record.steps[0].tokens = TurnTokens(
        prompt_token_ids=[1, 2, 3], completion_token_ids=[101, 102], logprobs=[-0.1, -3.0]
    )
    state = ViewerState([episode])
    state.handle("right")
    screen = "\n".join(render_lines(state, 120, 60))
    assert "prompt 3, completion 2" in screen and "logprob mean -1.550" in screen
    assert "101(-0.10)" not in screen
    state.handle("t")
    screen = "\n".join(render_lines(state, 120, 60))
    assert "101" in screen and "(-3.00)" in screen


def test_interactive_mode_without_a_terminal_is_refused(toy_file):
    console = _console()
    assert replay_command(toy_file, plain=False, console=console, err_console=console) == 2
    assert "needs a terminal" in console.export_text()
