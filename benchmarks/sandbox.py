"""Sandbox benchmark: command round trip vs raw `docker exec`, warm-pool reset, parallel episodes.

    python benchmarks/sandbox.py --quick

Every number is paired with a reference measured in the same run:
1. round trip of `run("true")` in our sandbox (long-lived driver over an attached socket) vs the
   Docker SDK's `exec_run("true")` and the `docker exec` CLI on the same container (goal >= 5x);
2. `reset` latency with a warm pool vs a cold reset (new container), for a bare sandbox and for a
   SWE-v0 episode start (fresh container + task base commit) (goal: median <= 300 ms);
3. episodes/s of gold-patch SWE-v0 episodes (reset, tool calls, grading) at 1, 2, 4, 8 parallel
   envs, on tasks built from the tiny minicalc sdist, with speed-up over 1 env;
4. grading time per task: the `submit` step of a gold episode (everything `score_episode` does:
   collecting the agent's change, the clean-room container, the hidden tests), split into the
   test run itself and the rest, on minicalc tasks and on a few tasks of the shipped suite.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


def bench_round_trip(n: int) -> None:
    from agentgym.sandbox.docker_backend import DockerSandbox

    with DockerSandbox() as sb:
        for _ in range(3):
            sb.run("true")
            sb.container.exec_run("true")
        ours, sdk, cli = [], [], []
        for _ in range(n):  # interleaved so both see the same machine load
            t = time.perf_counter()
            sb.run("true")
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            sb.container.exec_run("true")
            sdk.append(time.perf_counter() - t)
        for _ in range(max(5, n // 3)):
            t = time.perf_counter()
            subprocess.run(["docker", "exec", sb.container.id, "true"], check=True)
            cli.append(time.perf_counter() - t)
        big = time.perf_counter()
        sb.run("seq 1 200000 >/dev/null; head -c 1000000 /dev/urandom | base64 | head -c 20000")
        big = time.perf_counter() - big
    o, s, c = statistics.median(ours), statistics.median(sdk), statistics.median(cli)
    print(f"[round trip] ours run('true')    p50 {ms(o)}  p90 {ms(pct(ours, 0.9))}   (n={n})")
    print(f"[round trip] SDK exec_run('true') p50 {ms(s)}  p90 {ms(pct(sdk, 0.9))}")
    print(f"[round trip] docker exec CLI      p50 {ms(c)}  p90 {ms(pct(cli, 0.9))}")
    print(
        f"[round trip] speed-up vs SDK exec_run: {s / o:.1f}x, vs docker exec CLI: {c / o:.1f}x   (goal >= 5x)"
    )
    print(f"[round trip] 20 kB output command: {ms(big)}")


def bench_reset(n: int) -> None:
    from agentgym.sandbox.docker_backend import DockerPool, DockerSandbox

    cold = []
    sb = DockerSandbox()
    for _ in range(max(3, n // 3)):
        t = time.perf_counter()
        sb.reset()
        cold.append(time.perf_counter() - t)
    sb.close()
    warm = []
    with DockerPool(size=2) as pool:
        sb = DockerSandbox(pool=pool)
        for _ in range(n):
            pool.wait_ready(60)  # between episodes the pool refills in the background
            t = time.perf_counter()
            sb.reset()
            sb.run("true")
            warm.append(time.perf_counter() - t)
        sb.close()
    print(f"[reset] cold (new container)  p50 {ms(statistics.median(cold))}")
    print(
        f"[reset] warm pool             p50 {ms(statistics.median(warm))}  p90 {ms(pct(warm, 0.9))}  "
        f"-> {statistics.median(cold) / statistics.median(warm):.1f}x faster (goal: median <= 300 ms)"
    )


def build_minicalc_tasks(workdir: Path) -> Path:
    from agentgym.tasks.swe.build import build_package_tasks
    from agentgym.tasks.swe.minicalc import write_minicalc_sdist
    from agentgym.tasks.swe.records import write_instances

    archive = write_minicalc_sdist(workdir)
    report = build_package_tasks(str(archive), workdir, seed=0, max_tasks=4, max_tries=30, log=lambda m: None)
    path = workdir / "tasks.jsonl"
    write_instances(path, report.kept)
    return path


def bench_env_reset(tasks: Path, n: int) -> None:
    from agentgym.envs.swe.env import SWEEnv

    def measure(pool_size: int, count: int, alternate: bool) -> list[float]:
        env = SWEEnv(tasks=str(tasks), pool_size=pool_size)
        ids = env.task_ids()
        env.reset(options={"task_id": ids[0]})
        out = []
        try:
            for i in range(count):
                for pool in env._pools.values():
                    pool.wait_ready(60)  # between episodes the pool refills in the background
                tid = ids[(i + 1) % len(ids)] if alternate else ids[0]
                t = time.perf_counter()
                env.reset(options={"task_id": tid})
                out.append(time.perf_counter() - t)
        finally:
            env.close()
        return out

    cold = statistics.median(measure(0, max(3, n // 3), False))
    same = measure(1, n, False)
    alt = measure(1, n, True)
    print(f"[SWE-v0 reset] cold (new container + task setup) p50 {ms(cold)}")
    print(
        f"[SWE-v0 reset] warm pool, same task (GRPO group) p50 {ms(statistics.median(same))} "
        f"p90 {ms(pct(same, 0.9))} -> {cold / statistics.median(same):.1f}x faster (goal: median <= 300 ms)"
    )
    print(
        f"[SWE-v0 reset] warm pool, task changes each time p50 {ms(statistics.median(alt))} "
        f"p90 {ms(pct(alt, 0.9))} -> {cold / statistics.median(alt):.1f}x faster"
    )


def bench_parallel(tasks: Path, levels: list[int], episodes_per_env: int) -> None:
    from agentgym.envs.swe.env import SWEEnv

    base = None
    for k in levels:
        envs = [SWEEnv(tasks=str(tasks), pool_size=1) for _ in range(k)]
        ids = envs[0].task_ids()
        done = [0]
        failures: list[str] = []
        lock = threading.Lock()

        def worker(i: int, envs=envs, ids=ids, done=done, failures=failures, lock=lock) -> None:
            env = envs[i]
            for j in range(episodes_per_env):
                env.reset(options={"task_id": ids[(i + j) % len(ids)]})
                info = {}
                for action in env.oracle_actions():
                    _, _, term, trunc, info = env.step(action)
                    if term or trunc:
                        break
                with lock:
                    done[0] += 1
                    if info.get("trajectory_components", {}).get("outcome") != "tests_pass":
                        failures.append(str(info.get("trajectory_components")))

        t = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        dt = time.perf_counter() - t
        for env in envs:
            env.close()
        rate = done[0] / dt
        base = base or rate
        print(
            f"[parallel] {k} env(s): {done[0]} gold episodes in {dt:.1f} s = {rate:.2f} episodes/s "
            f"({rate / base:.2f}x of 1 env){'; FAILURES: ' + str(failures[:2]) if failures else ''}"
        )


def bench_grading(
    tasks: Path | None, n_tasks: int, label: str, backend: str = "docker", pool_size: int = 0
) -> None:
    from agentgym.envs.swe.env import SWEEnv

    env = SWEEnv(tasks=str(tasks) if tasks else None, pool_size=pool_size, backend=backend)
    ids = env.task_ids()
    if tasks is None:  # the shipped suite: one task per package, up to n_tasks
        by_repo: dict[str, str] = {}
        for tid in ids:
            by_repo.setdefault(tid.split("-")[0], tid)
        ids = sorted(by_repo.values())
    ids = ids[:n_tasks]
    rows = []
    try:
        for tid in ids:
            env.reset(options={"task_id": tid})
            actions = env.oracle_actions()
            for action in actions[:-1]:
                env.step(action)
            for pool in env._pools.values():
                pool.wait_ready(60)  # as between episodes: the pool has refilled
            t = time.perf_counter()
            _, _, _, _, info = env.step(actions[-1])  # submit: grading
            total = time.perf_counter() - t
            phases = dict(getattr(env, "last_grading_seconds", {}) or {})
            outcome = info.get("trajectory_components", {}).get("outcome")
            rows.append((tid, total, phases, outcome))
    finally:
        env.close()
    for tid, total, phases, outcome in rows:
        split = ""
        if phases:
            tests = phases.get("clean_room_tests", 0.0)
            split = (
                f" (tests {ms(tests)}; collect {ms(phases.get('collect', 0))} alongside clean-room start "
                f"{ms(phases.get('clean_room_start', 0))}; diff+filter+scan "
                f"{ms(phases.get('clean_room_diff', 0) + phases.get('clean_room_filter', 0))}; "
                f"other {ms(total - tests)})"
            )
        print(f"[grading/{label}] {tid}: {ms(total)}{split} -> {outcome}")
    totals = [r[1] for r in rows]
    print(f"[grading/{label}] p50 {ms(statistics.median(totals))} over {len(rows)} tasks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sample sizes (a couple of minutes)")
    parser.add_argument(
        "--only", default="", help="comma-separated parts: round_trip,reset,env_reset,parallel,grading"
    )
    args = parser.parse_args()
    from agentgym.sandbox.docker_backend import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        print(f"cannot benchmark: {reason}", file=sys.stderr)
        return 2
    n = 30 if args.quick else 200
    print(
        f"sandbox benchmark ({'quick' if args.quick else 'full'}); machine load {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    parts = set(filter(None, args.only.split(","))) or {
        "round_trip",
        "reset",
        "env_reset",
        "parallel",
        "grading",
    }
    if "round_trip" in parts:
        bench_round_trip(n)
    if "reset" in parts:
        bench_reset(10 if args.quick else 40)
    with tempfile.TemporaryDirectory() as tmp:
        tasks = build_minicalc_tasks(Path(tmp)) if parts & {"env_reset", "parallel", "grading"} else None
        if "env_reset" in parts:
            bench_env_reset(tasks, 10 if args.quick else 40)
        if "parallel" in parts:
            bench_parallel(tasks, [1, 2, 4, 8], 1 if args.quick else 3)
        if "grading" in parts:
            bench_grading(tasks, 4, "minicalc")
            bench_grading(tasks, 4, "minicalc, warm pool", pool_size=1)
            bench_grading(None, 3 if args.quick else 7, "shipped")
            from agentgym.sandbox.local_backend import bwrap_available

            if bwrap_available() is None:
                bench_grading(None, 3 if args.quick else 7, "shipped-local", backend="local")
    return 0


if __name__ == "__main__":
    sys.exit(main())
