import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from agentgym.trajectory import EpisodeRecord, StepRecord, TrajectoryWriter, read_trajectories


def _record(i: int, payload: str = "") -> EpisodeRecord:
    return EpisodeRecord(
        env_id="agentgym/StallOrSubmit-v0",
        task_id=f"toy-{i}",
        seed=i,
        steps=[StepRecord(turn=1, action="work" + payload, observation="ok", components={"critic": 1.0})],
    )


def test_roundtrip_and_bad_lines_reported_with_line_numbers(tmp_path):
    path = tmp_path / "t.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.write(_record(0))
        writer.write(_record(1))
    with path.open("a") as handle:
        handle.write("{not json}\n")
        handle.write(json.dumps({"schema_version": 99}) + "\n")
        handle.write(json.dumps({"schema_version": 1, "env_id": "x"}) + "\n")  # missing task_id
    with TrajectoryWriter(path) as writer:
        writer.write(_record(2))
    result = read_trajectories(path)
    assert [r.task_id for r in result.records] == ["toy-0", "toy-1", "toy-2"]
    assert [p.line_no for p in result.problems] == [3, 4, 5]
    assert "schema_version 99" in result.problems[1].error
    assert "task_id" in result.problems[2].error
    assert result.records[0].steps[0].components == {"critic": 1.0}


def test_partial_tail_is_cut_on_open(tmp_path):
    path = tmp_path / "t.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.write(_record(0))
    with path.open("a") as handle:
        handle.write('{"schema_version": 1, "env_id": "half')  # a crash mid-line
    assert read_trajectories(path).problems[0].error.startswith("incomplete final line")
    with TrajectoryWriter(path) as writer:
        assert writer.repaired_bytes > 0
        writer.write(_record(1))
    result = read_trajectories(path)
    assert [r.task_id for r in result.records] == ["toy-0", "toy-1"] and not result.problems


def test_kill_9_mid_write_leaves_no_partial_line(tmp_path):
    path = tmp_path / "t.jsonl"
    script = textwrap.dedent(
        f"""
        import sys
        from agentgym.trajectory import EpisodeRecord, StepRecord, TrajectoryWriter
        writer = TrajectoryWriter({str(path)!r}, fsync=False)
        big = "x" * 2_000_000
        i = 0
        while True:
            writer.write(EpisodeRecord(env_id="e", task_id=str(i), steps=[StepRecord(turn=1, action=big, observation="")]))
            i += 1
            if i == 3:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Linux may cut a large write() short when SIGKILL arrives: at most the final line is torn,
    # and the reader flags it instead of parsing it
    result = read_trajectories(path)
    assert len(result.records) >= 3
    assert all(len(r.steps[0].action) == 2_000_000 for r in result.records)
    assert len(result.problems) <= 1
    if result.problems:
        assert result.problems[0].error.startswith("incomplete final line")
    # the next writer (a resumed run) cuts the torn tail before appending: no partial line remains
    with TrajectoryWriter(path) as writer:
        writer.write(_record(99))
    again = read_trajectories(path)
    assert not again.problems
    assert len(again.records) == len(result.records) + 1
    assert all(line.startswith(b"{") for line in path.read_bytes().splitlines())
