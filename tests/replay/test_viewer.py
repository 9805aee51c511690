from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid

import pytest

from agentgym.replay import load_episodes, parse_filters
from agentgym.replay.viewer import ViewerState, render_lines

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _screen(state, width=110, height=40):
    return "\n".join(ANSI.sub("", line) for line in render_lines(state, width, height))


def test_keys_navigate_turns_episodes_and_filters(toy_file):
    episodes = load_episodes(toy_file).episodes
    state = ViewerState(episodes)
    assert "start (task)" in _screen(state)
    multi = next(i for i, e in enumerate(episodes) if len(e.record.steps) >= 3)
    for _ in range(multi):
        state.handle("n")
    assert state.ep == multi
    state.handle("right")
    state.handle("l")
    screen = _screen(state)
    record = episodes[multi].record
    assert f"turn 2/{len(record.steps)}" in screen
    assert record.steps[1].observation in screen
    assert "critic" in screen or "action_valid" in screen
    assert "gates: outcome" in screen  # gate states of the episode are always shown
    state.handle("G")
    assert "reward report" in _screen(state) and "contribution" in _screen(state)
    state.handle("right")
    assert "end of episode" in _screen(state)
    state.handle("g")
    assert state.turn == 0
    state.handle("right")
    state.handle("n")
    assert state.ep == multi + 1 and state.turn == 0
    state.handle("p")
    assert state.ep == multi and state.turn == 0
    state.handle("f")  # quick filter: failed
    assert state.quick_filter == "failed"
    assert all(e.record.metrics["success"] == 0.0 for e in state.visible)
    for _ in range(2):
        state.handle("f")  # invalid -> stalled
    assert state.quick_filter == "stalled" and len(state.visible) == 1
    assert "no_submit" in _screen(state)
    state.handle("?")
    assert "Keys:" in _screen(state)
    state.handle("x")  # any key closes the help
    assert not state.show_help
    assert state.handle("q") is False


def test_long_observation_scrolls(toy_file):
    episode = load_episodes(toy_file).episodes[0]
    episode.record.steps[0].observation = "\n".join(f"line {i}" for i in range(200))
    state = ViewerState([episode])
    state.handle("right")
    first = _screen(state, height=30)
    assert "line 0" in first and "line 150" not in first and "of " in first
    for _ in range(6):
        state.handle(" ")
    later = _screen(state, height=30)
    assert "line 150" in later and "line 0\n" not in later


def test_command_line_filters_apply(toy_file):
    episodes = load_episodes(toy_file).episodes
    state = ViewerState(episodes, parse_filters(["task=toy-4"]))
    assert state.visible and all(e.record.task_id == "toy-4" for e in state.visible)
    assert "filter: task=toy-4" in _screen(state)
    state = ViewerState(episodes, parse_filters(["invalid"]))
    assert "no episode matches" in _screen(state)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install -y tmux)")
@pytest.mark.skipif(
    not stat.S_ISCHR(os.stat("/dev/null").st_mode),
    reason="/dev/null is not a character device on this machine, so tmux cannot start its server",
)
def test_interactive_viewer_in_tmux(toy_file, tmp_path):
    socket = f"agentgym-test-{uuid.uuid4().hex[:8]}"
    session = "replay"
    env = {**os.environ, "TERM": "xterm-256color"}
    command = f"{sys.executable} -m agentgym.replay {toy_file} --filter task=toy-4"

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], check=True, capture_output=True, text=True, env=env
        ).stdout

    def wait_for(*texts: str, timeout: float = 60.0) -> str:
        """Wait until every text is on screen (the viewer draws the header before the body)."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{texts!r} not all on screen:\n{screen}")

    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        wait_for("start (task)")
        tmux("send-keys", "-t", session, "Right")
        wait_for("turn 1/")
        tmux("send-keys", "-t", session, "Right")
        screen = wait_for("turn 2/", "observation", "noop", "gates: outcome")
        assert screen.index("turn 2/") < screen.index("observation")
        tmux("send-keys", "-t", session, "G")
        wait_for("reward report")
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the viewer exits (its tmux session ends with it)
            if not _alive(tmux):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("viewer did not exit on q")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def _alive(tmux) -> bool:
    try:
        tmux("has-session", "-t", "replay")
        return True
    except subprocess.CalledProcessError:
        return False
