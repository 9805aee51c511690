"""Env-server overhead: added latency per step vs in-process, and throughput with 64 concurrent clients.

The server is a separate `agentgym env serve` process on loopback (its own interpreter, as on a
real env machine); the client steps `agentgym/Remote-v0` over WebSocket and over HTTP. The same
steps run on an in-process env in this process as the reference, so the printed numbers are the
overhead the server adds, not the env's own cost.

1. Latency: one client, `--steps` steps (a tool call each, episodes reset when they end):
   microseconds per step in-process and remote, the added time per step (goal: <= 2 ms on
   loopback) and the ratio remote / in-process.
2. Throughput: `--clients` (64) clients stepping at once, each holding one server env (threads
   in this process): steps/s, against the same number of in-process envs stepped by as many threads.

    python benchmarks/env_server.py                 # defaults: 2000 steps, 64 clients x 200 steps
    python benchmarks/env_server.py --quick
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

ENV_ID = "agentgym/StallOrSubmit-v0"
ACTION = {"role": "assistant", "content": "",
          "tool_calls": [{"id": "c", "type": "function", "function": {"name": "work", "arguments": "{}"}}]}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000, help="steps of the single-client latency run")
    ap.add_argument("--clients", type=int, default=64, help="concurrent clients of the throughput run")
    ap.add_argument("--client-steps", type=int, default=200, help="steps per client in the throughput run")
    ap.add_argument("--quick", action="store_true", help="500 steps; 64 clients x 50 steps")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.client_steps = 500, 50
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(max_envs: int) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "agentgym", "env", "serve", ENV_ID, "-e", "max_turns=1000000", "--port", str(port),
         "--max-envs", str(max_envs)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(url + "/v1/health", timeout=2)
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("the env server did not start") from None
            time.sleep(0.2)


def step_many(env, steps: int, seed: int = 0) -> float:
    """Seconds for `steps` steps (resets, when an episode ends, are not counted)."""
    env.reset(seed=seed)
    total = 0.0
    for _ in range(steps):
        started = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(ACTION)
        total += time.perf_counter() - started
        if terminated or truncated:
            env.reset()
    return total


def make_local():
    import gymnasium as gym

    return gym.make(ENV_ID, max_turns=1_000_000)


def make_remote(url: str, transport: str):
    import gymnasium as gym

    return gym.make("agentgym/Remote-v0", url=url, env_id=ENV_ID, transport=transport)


def throughput(make, clients: int, steps: int) -> float:
    envs = [make() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)

    def run(env, seed: int) -> None:
        env.reset(seed=seed)
        barrier.wait()
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(ACTION)
            if terminated or truncated:
                env.reset()

    threads = [threading.Thread(target=run, args=(env, i)) for i, env in enumerate(envs)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for env in envs:
        env.close()
    return clients * steps / elapsed


def main() -> None:
    args = parse_args()
    warnings.filterwarnings("ignore")
    import agentgym  # noqa: F401

    process, url = start_server(max(args.clients, 1))
    try:
        local = make_local()
        step_many(local, 100)  # warm up
        local_s = step_many(local, args.steps) / args.steps
        local.close()
        print(f"latency over {args.steps} steps of {ENV_ID} (server on loopback, separate process)")
        print(f"  in-process        {local_s * 1e6:8.1f} us/step")
        for transport in ("ws", "http"):
            remote = make_remote(url, transport)
            step_many(remote, 100)
            remote_s = step_many(remote, args.steps) / args.steps
            remote.close()
            added = (remote_s - local_s) * 1e3
            print(f"  remote ({transport:<4})     {remote_s * 1e6:8.1f} us/step   added {added:6.3f} ms/step "
                  f"({'meets' if added <= 2.0 else 'misses'} the 2 ms goal)   ratio {remote_s / local_s:6.1f}x in-process")
        print(f"throughput, {args.clients} concurrent clients x {args.client_steps} steps")
        local_rate = throughput(make_local, args.clients, args.client_steps)
        print(f"  in-process        {local_rate:10.0f} steps/s ({args.clients} threads, {args.clients} envs)")
        for transport in ("ws", "http"):
            rate = throughput(lambda t=transport: make_remote(url, t), args.clients, args.client_steps)
            print(f"  remote ({transport:<4})     {rate:10.0f} steps/s   ratio {rate / local_rate:5.2f} of in-process")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
