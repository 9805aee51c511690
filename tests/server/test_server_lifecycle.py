"""The env server under load and failure: many concurrent clients, crashed clients, a restarted server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import gymnasium as gym
import httpx
import pytest
from server_helpers import TOY, ProcessServer, ThreadServer

from agentgym.baselines.policies.scripted import OraclePolicy, RandomPolicy
from agentgym.rollout import run_episode, run_episodes


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sixteen_concurrent_clients_on_eight_envs_each_get_their_own_episodes():
    with ThreadServer(TOY, max_envs=8, acquire_timeout=120) as server:
        expected = {seed: run_episode(gym.make(TOY), RandomPolicy(seed), seed=seed, env_id=TOY) for seed in range(16)}
        results: dict[int, object] = {}
        errors: list[BaseException] = []

        def client(seed: int) -> None:
            try:
                env = gym.make("agentgym/Remote-v0", url=server.url, env_id=TOY)
                try:
                    results[seed] = run_episode(env, RandomPolicy(seed), seed=seed, env_id=TOY, catch=False)
                finally:
                    env.close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        for seed, record in results.items():
            assert [s.observation for s in record.steps] == [s.observation for s in expected[seed].steps]
            assert record.report == expected[seed].report
        stats = server.manager.stats()
        assert stats["created"] <= 8 and stats["sessions"] == 0 and stats["envs"] <= 8


def test_a_full_pool_answers_503_naming_the_fix():
    with ThreadServer(TOY, max_envs=1, acquire_timeout=0.2) as server:
        holder = gym.make("agentgym/Remote-v0", url=server.url, env_id=TOY, transport="http")
        try:
            reply = httpx.post(server.url + "/v1/sessions", json={})
            assert reply.status_code == 503 and "--max-envs" in reply.json()["error"]["message"]
        finally:
            holder.close()
        assert httpx.post(server.url + "/v1/sessions", json={}).status_code == 200


CRASHING_CLIENT = textwrap.dedent("""
    import os, sys, gymnasium as gym, agentgym
    env = gym.make("agentgym/Remote-v0", url=sys.argv[1], env_id=sys.argv[2], transport=sys.argv[3])
    env.reset(seed=0)
    env.step('<tool_call>{"name": "work", "arguments": {}}</tool_call>')
    print("mid-episode", flush=True)
    os._exit(9)  # dies without closing anything
""")


@pytest.mark.parametrize("transport", ["ws", "http"])
def test_a_crashed_client_leaks_no_env(transport):
    with ThreadServer(TOY, max_envs=2, session_timeout=600) as server:
        manager = server.manager
        done = subprocess.run([sys.executable, "-c", CRASHING_CLIENT, server.url, TOY, transport],
                              capture_output=True, text=True, timeout=120)
        assert "mid-episode" in done.stdout, done.stderr
        if transport == "ws":  # the dropped connection releases the env at once
            wait_until(lambda: manager.stats()["sessions"] == 0, "the dead client's session to close")
        else:  # an HTTP client leaves nothing to notice: its session times out
            assert manager.stats()["sessions"] == 1
            manager.expire_idle(now=time.monotonic() + manager.session_timeout + 1)
            assert manager.stats()["expired"] == 1
        stats = manager.stats()
        assert stats["sessions"] == 0 and stats["discarded"] == 1  # its half-played env is not reused
        clients = [gym.make("agentgym/Remote-v0", url=server.url, env_id=TOY) for _ in range(2)]  # the whole pool
        try:
            for env in clients:
                record = run_episode(env, OraclePolicy(), seed=1, env_id=TOY)
                assert record.error is None and record.report is not None
        finally:
            for env in clients:
                env.close()


def test_an_idle_session_times_out_and_its_client_recovers_on_reset():
    with ThreadServer(TOY, max_envs=1, session_timeout=600) as server:
        env = gym.make("agentgym/Remote-v0", url=server.url, env_id=TOY)
        try:
            env.reset(seed=0)
            server.manager.expire_idle(now=time.monotonic() + 601)
            _, reward, terminated, truncated, info = env.step("hello")
            assert truncated and not terminated and reward == 0.0
            assert info["reward_invalid"] and "not held by this server" in info["infrastructure_error"]
            record = run_episode(env, OraclePolicy(), seed=2, env_id=TOY)  # reset opens a new session
            assert record.error is None and record.report is not None
        finally:
            env.close()


def test_server_restart_masks_the_lost_episode_and_the_client_carries_on(tmp_path):
    server = ProcessServer(TOY, "--max-envs", "2").start()
    try:
        env = gym.make("agentgym/Remote-v0", url=server.url, env_id=TOY)
        env.reset(seed=0)
        env.step('<tool_call>{"name": "work", "arguments": {}}</tool_call>')
        server.kill()
        server.start()  # same port, a fresh process: the client's session is gone
        _, reward, _, truncated, info = env.step('<tool_call>{"name": "work", "arguments": {}}</tool_call>')
        assert truncated and reward == 0.0 and info["reward_invalid"]
        kwargs = {"url": server.url, "env_id": TOY}
        records = run_episodes("agentgym/Remote-v0", OraclePolicy(), episodes=3, seed=4, env_kwargs=kwargs,
                               out=tmp_path / "after_restart.jsonl")
        local = run_episodes(TOY, OraclePolicy(), episodes=3, seed=4)
        assert [r.report for r in records] == [r.report for r in local]
        env.reset(seed=1)  # the old client reconnects too
        env.close()
    finally:
        server.stop()
    assert server.process is not None and server.process.returncode is not None


def test_cli_bad_input_exits_2_naming_what_to_fix():
    for args, needle in [
        (["agentgym/NoSuchEnv-v0"], "NoSuchEnv"),
        ([TOY, "-e", "bogus=1"], "bogus"),
        (["agentgym/Remote-v0"], "serve the env itself"),
        ([TOY, "--max-envs", "0"], "max-envs"),
    ]:
        done = subprocess.run([sys.executable, "-m", "agentgym", "env", "serve", *args], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert needle in done.stdout + done.stderr, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
