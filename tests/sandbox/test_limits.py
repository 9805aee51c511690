"""What an agent can do to its own sandbox, on both backends: the driver survives, limits hold.

Each test plays the attacker from inside (the agent's user, through `run`) and checks that the
sandbox still answers, that the damage stayed inside, and that the observation says what happened.
"""

import subprocess
import time

import pytest

from agentgym.sandbox.base import encode_text

pytestmark = pytest.mark.docker


@pytest.fixture(params=["docker", "local"])
def small(request):
    """A sandbox with small limits, so that filling them is quick."""
    from agentgym.sandbox import make_sandbox

    if request.param == "docker":
        from agentgym.sandbox.docker_backend import docker_unavailable_reason

        if reason := docker_unavailable_reason():
            pytest.skip(reason)
    else:
        from agentgym.sandbox.local_backend import bwrap_available

        if reason := bwrap_available():
            pytest.skip(reason)
    sb = make_sandbox(request.param, default_timeout=20, pids=64, disk="64m", memory="512m")
    if request.param == "local" and "pids" not in sb.limits:
        sb.close()
        pytest.skip(reason="bubblewrap backend without a writable cgroup hierarchy: no process limit for root")
    yield sb
    sb.close()


def alive(sb) -> bool:
    return sb.run("echo alive", timeout=10) == (0, "alive\n")


def test_driver_survives_kill_and_ptrace(small):
    code, out = small.run("kill -9 -1; kill -9 1; kill -STOP 1; kill -INT 1; kill -TERM 1; echo done")
    assert out.rstrip().endswith("done")
    assert alive(small)
    # not dumpable: no ptrace, no /proc/1/{environ,mem,fd}
    code, out = small.run(
        "python3 -c 'import ctypes; l = ctypes.CDLL(None); print(l.ptrace(16, 1, 0, 0))'; "
        "cat /proc/1/environ >/dev/null 2>&1 || echo no-environ; "
        "head -c1 /proc/1/mem >/dev/null 2>&1 || echo no-mem; ls /proc/1/fd/ >/dev/null 2>&1; "
        "readlink /proc/1/fd/0 >/dev/null 2>&1 || echo no-fd"
    )
    assert out.split() == ["-1", "no-environ", "no-mem", "no-fd"], out
    assert alive(small)


def test_fork_bombs_are_contained_and_cleared(small):
    code, out = small.run("bomb() { bomb | bomb & }; bomb; sleep 3", timeout=4)
    assert "timed out" in out or "process limit" in out, out[-300:]
    assert alive(small)
    # a bomb left running in the background is cleared when the sandbox hits its process limit
    small.run("bomb() { bomb | bomb & }; bomb & disown; sleep 1; echo started", timeout=10)
    deadline = time.monotonic() + 15
    seen = ""
    while time.monotonic() < deadline:
        code, out = small.run("echo next; ps -e --no-headers | wc -l", timeout=10)
        seen += out
        if code == 0 and out.startswith("next") and int(out.split()[-1]) < 10:
            break
    assert "process limit" in seen or int(out.split()[-1]) < 10, seen[-500:]
    assert alive(small)
    # a python fork loop: the same
    code, out = small.run(
        "python3 -c 'import os\nwhile True:\n  try: os.fork()\n  except OSError: pass'", timeout=3
    )
    assert code == 124
    assert alive(small)


def test_disk_is_limited_and_never_the_hosts(small):
    for path in ("/testbed/big", "/tmp/big", "/home/agent/big", "/dev/shm/big"):
        code, out = small.run(f"dd if=/dev/zero of={path} bs=1M count=200 2>&1", timeout=30)
        assert "No space left on device" in out, (path, out)
        small.run(f"rm -f {path}")
    code, out = small.run("touch /x /etc/x /usr/x /var/tmp/x /opt/x 2>&1 | grep -c 'Read-only file system'")
    assert out.strip() == "5"
    if small.backend == "docker":
        small.run("dd if=/dev/zero of=/testbed/big bs=1M count=30 2>/dev/null")
        size = subprocess.run(
            ["docker", "inspect", "--size", "-f", "{{.SizeRw}}", small.container.id],
            capture_output=True,
            text=True,
        ).stdout
        assert int(size or 0) < 1_000_000  # nothing reached the container's writable layer
    assert alive(small)


def test_background_processes_outlive_commands_until_killed(small):
    small.run("setsid sh -c 'sleep 600' & sleep 900 & disown; nohup sleep 700 >/dev/null 2>&1 &")
    code, out = small.run("ps -eo comm= | grep -c '^sleep$'")
    assert out.strip() == "3"
    assert small.kill_all() >= 3
    code, out = small.run("ps -eo comm= | grep -c '^sleep$' || true")
    assert out.strip() == "0"
    # a command that times out takes everything it started with it, setsid or not
    small.run("setsid sleep 601 & (setsid sh -c 'sleep 602' &); sleep 30", timeout=1)
    code, out = small.run("ps -eo args= | grep -c '^sleep 60[12]' || true")
    assert out.strip() == "0"


def test_closed_output_and_odd_bytes_do_not_wedge_the_driver(small):
    t0 = time.monotonic()
    code, out = small.run("exec >&- 2>&-; sleep 60", timeout=2)
    assert code == 124 and time.monotonic() - t0 < 10
    code, out = small.run("echo \udcff\ud800 | od -An -tx1")
    assert code == 0 and out.split()[:2] == ["ff", "3f"]  # undecodable byte back as itself; '?'
    assert small.run("printf 'a\\0b' | wc -c").output.strip() == "3"
    assert small.run("echo 'a\x00b'") == (0, "ab\n")  # NUL cannot be in a shell string: dropped
    small.write_file("/tmp/odd.txt", "x\udcffy")
    assert small.read_file("/tmp/odd.txt") == b"x\xffy"
    assert encode_text("\ud800") == b"?"
    assert alive(small)


def test_planted_fifos_and_state_tampering(small):
    small.run("mkfifo /tmp/fifo; rm -rf /tmp/.agentgym-state; mkfifo /tmp/.agentgym-state")
    with pytest.raises(FileNotFoundError, match="not a regular file"):
        small.read_file("/tmp/fifo")
    small.write_file("/tmp/fifo", "replaced")  # replaces the FIFO, never blocks on it
    assert small.read_file("/tmp/fifo") == b"replaced"
    assert alive(small)
    # the machinery's commands ignore the agent's exports and functions
    small.run("rm -f /tmp/.agentgym-state; mkdir -p /tmp/.agentgym-state")
    small.run(
        "export PATH=/tmp/evil:$PATH GIT_DIR=/nonexistent; mkdir -p /tmp/evil; ln -s /bin/false /tmp/evil/git"
    )
    res = small.exec(["/bin/sh", "-c", "command -v git; echo ${GIT_DIR:-unset}"])
    assert res.stdout.decode().split() == ["/usr/bin/git", "unset"]


def test_memory_hog_is_the_one_that_dies(small):
    code, out = small.run("python3 -c 'x = bytearray(3 * 1024 ** 3); print(len(x))'", timeout=30)
    assert code != 0
    assert alive(small)


def test_export_tree_leaves_out_git_bytecode_and_big_files(small):
    small.run(
        "git init -q . && echo a > a.py && mkdir -p pkg/__pycache__ && echo b > pkg/b.py && "
        "echo c > pkg/__pycache__/b.cpython-311.pyc && echo d > pkg/d.pyc && "
        "head -c 2000000 /dev/zero > big.bin && ln -s /etc/passwd link && git add -A && git commit -qm x"
    )
    import io
    import tarfile

    data, complete = small.export_tree(max_file_bytes=1_000_000)
    assert complete
    names = sorted(
        m.name.lstrip("./") for m in tarfile.open(fileobj=io.BytesIO(data)) if m.isfile() or m.issym()
    )
    assert names == ["a.py", "link", "pkg/b.py"]
    data, complete = small.export_tree(limit=1000)
    assert not complete
