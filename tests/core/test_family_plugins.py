"""Families as plugins, end to end through the `agentgym` command in subprocesses.

- the out-of-tree example family (examples/counter_family, installed as its own package with an
  `agentgym.families` entry point) passes `agentgym check`, runs, replays and mounts its commands;
- a deliberately broken env registered outside agentgym (tests/core/broken_family.py) fails
  `agentgym check` naming exactly its faults, and `agentgym run module:id` plays it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COUNTER = "counter/ReachTarget-v0"
BROKEN = "broken_family:broken/PaysEveryone-v0"  # importable with tests/core on PYTHONPATH
CHECKS = (
    "agentgym env",
    "gymnasium check_env",
    "outcome declared",
    "spec bound",
    "oracle succeeds",
    "random fails",
    "no-op scores the minimum",
    "components emitted",
    "re-execution reproduces",
    "restore reproduces",
)


@pytest.fixture(scope="module", autouse=True)
def _counter_installed() -> None:
    assert importlib.util.find_spec("agentgym_counter") is not None, (
        "the example family is not installed: pip install -e examples/counter_family --no-deps "
        "--no-build-isolation (scripts/setup.sh does it)"
    )


def agentgym(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the `agentgym` command in a fresh interpreter (entry points are read as a user's would be)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests" / "core"), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "agentgym.cli.main", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_example_family_passes_every_check():
    result = agentgym("check", COUNTER)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CHECKS:
        assert f"pass {name}" in result.stdout, (name, result.stdout)
    assert f"{COUNTER}: conforms ({len(CHECKS)} checks)" in result.stdout


def test_broken_env_fails_check_naming_its_faults():
    result = agentgym("check", BROKEN)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL random fails: random success rate 1.00 is not below the oracle's 1.00" in result.stdout
    assert "FAIL no-op scores the minimum: no-op episode on broken-0 succeeded" in result.stdout
    assert "FAIL components emitted: emitted but not declared: bonus" in result.stdout
    for name in set(CHECKS) - {"random fails", "no-op scores the minimum", "components emitted"}:
        assert f"pass {name}" in result.stdout, (name, result.stdout)
    assert "3 check(s) failed" in result.stderr


def test_example_family_runs_and_replays(tmp_path):
    out = tmp_path / "counter.jsonl"
    run = agentgym("run", COUNTER, "--policy", "oracle", "-n", "3", "--out", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3
    assert all(r["env_id"] == COUNTER and r["success"] for r in records)
    assert all(r["trajectory_components"]["outcome"] == "reached" for r in records)

    replay = agentgym("replay", str(out), "--reexec")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "3/3 episode(s) reproduced" in replay.stdout


def test_example_family_commands_are_mounted():
    result = agentgym("tasks", "counter", "--help")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "list" in result.stdout and "show" in result.stdout

    listed = agentgym("tasks", "counter", "list", "--split", "test")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = listed.stdout.splitlines()
    assert lines and all(line.startswith("counter-") and " test " in line for line in lines)


def test_run_accepts_an_env_registered_outside_agentgym(tmp_path):
    out = tmp_path / "broken.jsonl"
    result = agentgym("run", BROKEN, "--policy", "random", "-n", "1", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["env_id"] == BROKEN and record["steps"]  # the module stays in the record ...
    replay = agentgym("replay", str(out), "--reexec")  # ... so a fresh process can import it again
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "1/1 episode(s) reproduced" in replay.stdout
    evaluated = agentgym("eval", BROKEN, "--policy", "random", "--n", "1")
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr


def test_example_family_is_discovered_in_process():
    import agentgym  # noqa: F401  (registers the installed families)
    from agentgym.family import env_entries, families, task_source

    assert "counter" in families()
    family, entry = env_entries()[COUNTER]
    assert family.commands == {"tasks counter": "agentgym_counter.cli:app"}
    source = task_source(COUNTER, {"num_tasks": 10, "max_turns": 5})  # listed without building the env
    assert source is not None and len(source) == 10 and set(source.splits()) == {"train", "test"}


def test_example_family_own_tests_pass():
    """The family's own test suite (what docs/new_family.md tells a family author to write)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/counter_family/tests"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_tutorial_quotes_the_example_family_verbatim():
    """docs/new_family.md quotes the example's files: each block marked `<!-- file: PATH -->`
    must appear in PATH as written (so the tutorial cannot drift from the code)."""
    text = (REPO / "docs" / "new_family.md").read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 10
    stale = [path for path, block in blocks if block not in (REPO / path).read_text(encoding="utf-8")]
    assert not stale, f"quoted blocks no longer in: {stale}"
