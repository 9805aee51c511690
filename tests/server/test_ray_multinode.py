"""Multi-node Ray on one machine: a head and a second raylet started as separate processes
(`ray start --head`, `ray start --address`), env actors placed on both by `executor="ray"`, and a
worker node killed mid-run whose episodes continue on the head without loss or duplicates."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import pytest
from server_helpers import TOY, free_port

from agentgym.baselines.policies.scripted import RandomPolicy
from agentgym.rollout import run_episodes

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'agentgym[ray]')")


def ray_cli() -> str:
    found = shutil.which("ray")
    if found is None:
        pytest.skip(reason="the `ray` command is not on PATH")
    return found


def start_node(cli: str, args: list[str], env: dict[str, str], cpus: int) -> subprocess.Popen:
    """`ray start ... --block` in its own process group: killing the group kills the whole node."""
    return subprocess.Popen([cli, "start", "--block", "--disable-usage-stats", "--num-cpus", str(cpus),
                             "--node-ip-address", "127.0.0.1", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)


def kill_node(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture()
def two_node_cluster(monkeypatch):
    """(address, worker process) of a head node plus one worker node, each its own `ray start`.

    The cluster is this test's own: its own port and temp dir (other Ray clusters on the machine
    are neither joined nor stopped), and it is torn down by killing its two process
    groups, never by `ray stop` (which would stop every cluster of the machine)."""
    cli = ray_cli()
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = tempfile.mkdtemp(prefix="agr", dir="/tmp")  # short: Ray's socket paths live under it
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # loopback only; no shared token file to race on
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    # a killed node fails its health checks at once (connection refused) and is declared dead after
    # 5 of them (~5 s; the default waits far longer); a live node on a loaded machine has 10 s to answer
    monkeypatch.setenv("RAY_health_check_initial_delay_ms", "1000")
    monkeypatch.setenv("RAY_health_check_period_ms", "1000")
    monkeypatch.setenv("RAY_health_check_timeout_ms", "10000")
    monkeypatch.setenv("RAY_health_check_failure_threshold", "5")
    env = dict(os.environ)
    head = start_node(cli, ["--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp_dir],
                      env, cpus=4)  # room for every env of the run once the worker is gone
    worker: subprocess.Popen | None = None
    try:
        deadline = time.monotonic() + 180
        while True:  # the head is up once a driver can connect
            try:
                ray.init(address=address, log_to_driver=False)
                break
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline or head.poll() is not None:
                    pytest.fail("the head node did not start")
                time.sleep(1)
        worker = start_node(cli, ["--address", address], env, cpus=2)
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            if time.monotonic() > deadline or worker.poll() is not None:
                pytest.fail("the worker node did not join the head")
            time.sleep(0.5)
        yield address, worker
    finally:
        ray.shutdown()
        if worker is not None:
            kill_node(worker)
        kill_node(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


class KillOnce:
    """A policy that plays like `inner` and, at its `turn`-th action of the whole run, kills the worker node."""

    def __init__(self, inner: Any, worker: subprocess.Popen, turn: int) -> None:
        self.inner, self.worker, self.turn = inner, worker, turn
        self.name = inner.name
        self.calls = 0
        self.lock = threading.Lock()
        self.killed = threading.Event()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def for_episode(self, seed: int) -> Any:
        outer = self

        class Episode:
            name = outer.name
            policy = outer.inner.for_episode(seed)

            def act(self, messages, tools):
                with outer.lock:
                    outer.calls += 1
                    if outer.calls == outer.turn and not outer.killed.is_set():
                        kill_node(outer.worker)  # the whole node: its raylet and its workers
                        outer.killed.set()
                return self.policy.act(messages, tools)

        return Episode()


#: set in the fresh pytest process that runs the cluster test (see below)
IN_FRESH_PROCESS = os.environ.get("AGENTGYM_RAY_FRESH_PROCESS") == "1"


def test_multinode_run_in_a_fresh_process():
    """The two-node test runs in its own Python process, with no RAY_* variables: after a local
    `ray.init` + `shutdown` in this process (tests/core/test_executors.py), which also leaves
    RAY_AUTH_MODE=token in os.environ, a driver joining another cluster sees its env actors
    cancelled before they start, and later tests cannot start a GCS. A fresh process is what a
    trainer connecting to a cluster is anyway."""
    if IN_FRESH_PROCESS:
        pytest.skip(reason="this is the fresh process itself")
    # without what an earlier `ray.init` of this process left in the environment (RAY_AUTH_MODE=token...)
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") and k != "PYTHONBREAKPOINT"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "spread_over_both_nodes"],
        env={**clean_env, "AGENTGYM_RAY_FRESH_PROCESS": "1"},
        capture_output=True, text=True, timeout=800,
    )  # fmt: skip
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-6000:] + done.stderr[-2000:]


@pytest.mark.skipif(not IN_FRESH_PROCESS, reason="run in a fresh process by test_multinode_run_in_a_fresh_process")
def test_env_actors_spread_over_both_nodes_and_survive_a_killed_worker_node(two_node_cluster, tmp_path):
    from agentgym.ray_executor import RayEnv

    _address, worker = two_node_cluster
    probes = [RayEnv(TOY) for _ in range(4)]
    try:
        assert len({env.node_id for env in probes}) == 2  # SPREAD: both nodes hold envs
    finally:
        for env in probes:
            env.close()

    local = run_episodes(TOY, RandomPolicy(5), episodes=6, seed=3)
    policy = KillOnce(RandomPolicy(5), worker, turn=6)  # mid-run, with episodes in flight on both nodes
    out = tmp_path / "ray.jsonl"
    remote = run_episodes(TOY, policy, episodes=6, seed=3, concurrency=4, executor="ray", out=out)
    assert policy.killed.is_set() and worker.poll() is not None
    assert len([n for n in ray.nodes() if n["Alive"]]) == 1
    assert all(r.error is None and not r.reward_invalid for r in remote), [r.error for r in remote]
    assert [(r.task_id, r.seed) for r in remote] == [(r.task_id, r.seed) for r in local]  # none lost, none twice
    assert [r.report for r in remote] == [r.report for r in local]
    assert [[s.observation for s in r.steps] for r in remote] == [[s.observation for s in r.steps] for r in local]
