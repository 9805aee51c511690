"""One suite, both backends (docker and local bubblewrap)."""

import subprocess
import time

import pytest

from agentgym.errors import InfrastructureError
from agentgym.sandbox import Sandbox, SandboxError, format_output

pytestmark = pytest.mark.docker


def test_protocol_and_exit_codes(sandbox):
    assert isinstance(sandbox, Sandbox)
    assert sandbox.run("true") == (0, "")
    code, out = sandbox.run("echo out; echo err >&2; exit 7")
    assert code == 7
    assert out == "out\nerr\n"


def test_runs_as_non_root_without_network(sandbox):
    code, out = sandbox.run("id -u")
    assert (code, out.strip()) == (0, "1000")
    code, out = sandbox.run(
        "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=2)'", timeout=10
    )
    assert code != 0
    assert "unreachable" in out.lower() or "error" in out.lower()


def test_state_persists_between_commands(sandbox):
    sandbox.run("mkdir -p /tmp/w && cd /tmp/w && export MY_VAR=hello")
    code, out = sandbox.run('pwd; echo "$MY_VAR"')
    assert out.split() == ["/tmp/w", "hello"]
    sandbox.run("exit 3")  # exit in a command still saves state
    assert sandbox.run("pwd").output.strip() == "/tmp/w"


def test_timeout_kills_process_group_and_next_command_works(sandbox):
    t0 = time.monotonic()
    code, out = sandbox.run("sleep 30 & sleep 30; echo never", timeout=1)
    assert time.monotonic() - t0 < 10
    assert code == 124
    assert "timed out" in out and "never" not in out
    assert sandbox.run("echo alive") == (0, "alive\n")
    # the killed group's children are gone
    code, out = sandbox.run("ps -eo comm | grep -c '^sleep$' || true")
    assert out.strip() == "0"


def test_output_truncated_head_and_tail(sandbox):
    code, out = sandbox.run("seq 1 200000")
    assert code == 0
    assert out.startswith("1\n2\n3\n")
    assert out.rstrip().endswith("199999\n200000")
    assert "bytes of output truncated" in out
    assert len(out) < 30_000


def test_binary_output_and_files(sandbox):
    code, out = sandbox.run("head -c 4096 /dev/urandom; printf '\\x00\\xff'; echo; echo done")
    assert code == 0 and out.rstrip().endswith("done")
    payload = bytes(range(256)) * 10
    sandbox.write_file("sub/dir/blob.bin", payload)
    assert sandbox.read_file("sub/dir/blob.bin") == payload
    assert sandbox.run("wc -c < sub/dir/blob.bin").output.strip() == "2560"
    sandbox.write_file("/tmp/x.sh", "echo from-file\n", mode=0o755)
    assert sandbox.run("/tmp/x.sh") == (0, "from-file\n")
    with pytest.raises(FileNotFoundError):
        sandbox.read_file("missing.txt")


def test_diff_and_reset(sandbox):
    sandbox.run("git init -q . && printf 'a\\nb\\n' > f.txt && git add -A && git commit -qm base")
    sandbox.write_file("f.txt", "a\nB\n")
    sandbox.write_file("new.txt", "new\n")
    diff = sandbox.diff()
    assert "-b\n+B" in diff and "new file mode" in diff and "+++ b/new.txt" in diff
    sandbox.run("touch /tmp/marker")
    sandbox.reset()
    assert sandbox.run("ls -A /testbed; ls /tmp/marker 2>/dev/null; echo end").output.strip() == "end"
    assert sandbox.run("echo after-reset") == (0, "after-reset\n")


def test_dead_sandbox_raises_infrastructure_error(sandbox):
    if sandbox.backend == "docker":
        sandbox.container.kill()
    else:
        sandbox.kill()
    with pytest.raises(InfrastructureError):
        sandbox.run("echo hi", timeout=5)
    with pytest.raises(SandboxError):
        sandbox.run("echo again", timeout=5)


def test_format_output_marks_truncation():
    assert format_output(b"ab", b"yz", 10) == "ab\n[... 10 bytes of output truncated ...]\nyz"
    assert format_output(b"\xff\x00", b"", 0) == "\ufffd\\0"


def _labelled_containers() -> set[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=agentgym.sandbox=1"], capture_output=True, text=True
    )
    return set(out.stdout.split())


def test_docker_close_removes_container_and_pool_reuses():
    from agentgym.sandbox.docker_backend import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        pytest.skip(reason)
    from agentgym.sandbox.docker_backend import DockerPool, DockerSandbox

    before = _labelled_containers()
    sb = DockerSandbox()
    cid = sb.container.id
    labels = sb.container.labels
    assert labels["agentgym.sandbox"] == "1"
    attrs = sb.container.attrs["HostConfig"]
    assert attrs["NetworkMode"] == "none" and attrs["PidsLimit"] > 0 and attrs["Memory"] > 0
    sb.close()
    assert cid not in _labelled_containers()
    with DockerPool(size=2) as pool:
        pool.wait_ready(60)
        sb = DockerSandbox(pool=pool)
        t0 = time.monotonic()
        sb.reset()
        assert time.monotonic() - t0 < 5
        assert sb.run("echo pooled") == (0, "pooled\n")
        sb.close()
    deadline = time.monotonic() + 20
    while _labelled_containers() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _labelled_containers() - before == set()


def test_prune_removes_orphans():
    from agentgym.sandbox.docker_backend import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        pytest.skip(reason)
    from agentgym.sandbox.docker_backend import prune
    from agentgym.sandbox.image import BASE_IMAGE

    # a container labelled as owned by a dead process (pid 2**22 + 1 does not exist)
    subprocess.run(
        [
            "docker",
            "create",
            "--label",
            "agentgym.sandbox=1",
            "--label",
            "agentgym.pid=4194305",
            "--label",
            f"agentgym.host={__import__('socket').gethostname()}",
            "--name",
            "agentgym-orphan-test",
            "--network",
            "none",
            BASE_IMAGE,
            "true",
        ],
        check=True,
        capture_output=True,
    )
    removed = prune()
    assert "agentgym-orphan-test" in removed
