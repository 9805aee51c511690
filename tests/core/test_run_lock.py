"""A trajectory file has one writer at a time: a second writer fails at once (exit 2 from the CLI)
naming the holder (pid, host); a killed writer leaves no lock behind; resume stays exact.

The cross-process cases use real processes: a Python holder that plays slow episodes, and the
`agentgym` console script as the second writer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from agentgym.trajectory import (
    EpisodeRecord,
    RunLock,
    TrajectoryLockedError,
    TrajectoryWriter,
    lock_holder,
    lock_path,
    read_trajectories,
)

TOY = "agentgym/StallOrSubmit-v0"
AGENTGYM = shutil.which("agentgym") or str(Path(sys.executable).with_name("agentgym"))

HOLDER = textwrap.dedent(
    """
    import sys, time
    from agentgym.baselines.policies.scripted import RandomPolicy
    from agentgym.rollout import run_episodes

    class SlowRandom(RandomPolicy):  # describes itself as random:0, so a CLI run with -p random resumes it
        def act(self, messages, tools):
            time.sleep(float(sys.argv[3]))
            return super().act(messages, tools)

    def written(record):
        print("written", record.seed, flush=True)

    run_episodes("agentgym/StallOrSubmit-v0", SlowRandom(0), episodes=int(sys.argv[2]), out=sys.argv[1],
                 concurrency=1, on_episode=written)
    print("done", flush=True)
    """
)


def _start_holder(out: Path, episodes: int, delay: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), str(episodes), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # the first episode is written: the holder owns the file
    assert line.startswith("written"), line
    return proc


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([AGENTGYM, *args], capture_output=True, text=True, timeout=timeout)


def _keys(out: Path) -> Counter:
    return Counter(r.key for r in read_trajectories(out).records)


def _record(i: int) -> EpisodeRecord:
    return EpisodeRecord(env_id="e", task_id=f"t{i}", seed=i)


# ---------------------------------------------------------------------- in one process
def test_second_writer_fails_naming_the_first(tmp_path):
    out = tmp_path / "run.jsonl"
    with TrajectoryWriter(out) as writer:
        writer.write(_record(0))
        owner = json.loads(lock_path(out).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname() and owner["started_at"]
        assert lock_holder(out)["pid"] == os.getpid()
        with pytest.raises(TrajectoryLockedError, match=rf"is being written by another run \(pid {os.getpid()} on host"):
            TrajectoryWriter(out)
        with pytest.raises(TrajectoryLockedError):
            RunLock(out).acquire()
    assert not lock_path(out).exists() and lock_holder(out) is None  # released and removed on close
    with TrajectoryWriter(out) as writer:  # free again
        writer.write(_record(1))
    assert [r.task_id for r in read_trajectories(out).records] == ["t0", "t1"]


def test_a_held_lock_is_handed_to_the_writer(tmp_path):
    out = tmp_path / "run.jsonl"
    lock = RunLock(out).acquire()
    with TrajectoryWriter(out, lock=lock) as writer:  # takes it over instead of locking again
        writer.write(_record(0))
        assert lock.held
    assert not lock.held and not lock_path(out).exists()
    with pytest.raises(ValueError, match="lock given is for"):
        TrajectoryWriter(tmp_path / "other.jsonl", lock=RunLock(out))


def test_a_stale_lock_file_is_not_a_lock(tmp_path):
    out = tmp_path / "run.jsonl"
    lock_path(out).write_text(json.dumps({"pid": 999999, "host": "gone"}) + "\n")  # left by a killed run
    assert lock_holder(out) is None
    with TrajectoryWriter(out) as writer:
        writer.write(_record(0))
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()


# ---------------------------------------------------------------------- two real processes
def test_second_run_fails_at_once_with_exit_2_naming_the_holder(tmp_path):
    out = tmp_path / "run.jsonl"
    holder = _start_holder(out, episodes=40, delay=0.05)
    try:
        started = time.perf_counter()
        second = _cli("run", TOY, "-n", "40", "-p", "random", "-o", str(out))
        assert second.returncode == 2, second.stderr
        errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in second.stderr
        assert f"is being written by another run (pid {holder.pid} on host {socket.gethostname()}" in errors[0]
        assert time.perf_counter() - started < 60  # refused before any env or episode, not after the run
        assert holder.poll() is None  # the holder was not disturbed
    finally:
        holder.wait(timeout=300)
    assert holder.returncode == 0
    keys = _keys(out)
    assert len(keys) == 40 and set(keys.values()) == {1}  # every episode exactly once
    assert not lock_path(out).exists()


def test_killed_run_releases_the_file_and_resume_is_exact(tmp_path):
    out = tmp_path / "run.jsonl"
    holder = _start_holder(out, episodes=30, delay=0.05)
    for _ in range(4):  # a few more episodes, then kill -9 mid-run
        assert holder.stdout.readline().startswith("written")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    before = _keys(out)
    assert 5 <= len(before) < 30
    assert lock_path(out).exists() and lock_holder(out) is None  # the sidecar stays; the lock died with its process
    resumed = _cli("run", TOY, "-n", "30", "-p", "random", "-o", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(before)} of 30 episode(s) already in" in " ".join(resumed.stdout.split())
    keys = _keys(out)
    assert len(keys) == 30 and set(keys.values()) == {1}
    assert not lock_path(out).exists()


def test_two_cli_runs_started_together_never_duplicate(tmp_path):
    """The measured bug: two `agentgym run` on one --out wrote most episodes twice."""
    out = tmp_path / "run.jsonl"
    procs = [subprocess.Popen([AGENTGYM, "run", TOY, "-n", "150", "-o", str(out)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    keys = _keys(out)
    assert len(keys) == 150 and set(keys.values()) == {1}
    if codes == [0, 2]:  # they overlapped: the second was refused, naming the first
        loser = next(err for code, _, err in results if code == 2)
        winner = next(p for p, (code, _, _) in zip(procs, results, strict=True) if code == 0)
        assert f"pid {winner.pid}" in loser
    else:  # one ended before the other began: the second resumed and played nothing
        assert codes == [0, 0] and any("nothing left to play" in o for _, o, _ in results)
