"""Rollout throughput, every number a ratio against a reference measured in the same run.

Sections (choose with --sections; the machine load, `os.getloadavg()`, is printed with each):

- overhead: concurrency-1 `run_episodes` (the direct path) vs a plain `run_episode` loop, and the
  asyncio engine at concurrency 4 with fast calls inline vs every call hopping to a thread, on
  SearchQA-v0 and ToolUse-v0 oracle episodes (goal: run_episodes <= 1.15x the loop's time).
- process: episodes/s of `executor="process"` at 2 workers vs 1, and of the thread engine at 2
  (goal >= 1.7x on an idle 2-core machine: the ratio is only meaningful with the load printed).
- start: CPU seconds (`time.process_time`) to import agentgym and to make + reset SearchQA-v0 and
  ToolUse-v0 in a fresh process, after a first process filled the caches (goal <= 0.3 s each).
- index: building the BM25 index of N documents (default 100k; --quick 20k) with ours vs bm25s's own
  pipeline (`bm25s.tokenize` + `BM25.index`), both warmed up first on a 2,000-document slice,
  alternating, best of --repeats (goal: ours <= 1.0x bm25s's time).
- swe: SWE-v0 episodes/s at 1, 2, 4 concurrent with a scripted policy that runs the tests a few
  times before applying the gold patch (needs Docker).
- model: N concurrent ToolUse-v0 and SearchQA-v0 episodes against a vLLM server through the
  token-faithful `VLLMServerPolicy` vs the raw server on the very same token-id prompts, each forced
  to generate as many tokens as the agent's turn did. The raw replay is a true upper bound: it sends
  the agent's own request bodies (greedy decoding, so it generates the very tokens the agent
  did and the next turn's prompt, which holds them, hits the prefix cache exactly as the agent's
  did: a sampled replay generating other tokens prefilled ~50% more on SearchQA-v0 and lost by
  1.3x), every episode's turns in order, all episodes at once, with no env,
  parsing or rendering in between. The two phases alternate twice (agent, raw, agent, raw) and each
  keeps its faster run, so both get the same number of tries; each phase's prefix-cache hits and the
  client process's CPU seconds are printed to show the replay matched and where the agent's time
  went. An unmeasured agent phase warms the server up first, and its prefix cache is emptied before
  each measured phase (`VLLM_SERVER_DEV_MODE=1` on the benchmark's own server).

    python benchmarks/rollout.py                               # overhead, process, start, index
    python benchmarks/rollout.py --sections model --episodes 64 --max-tokens 16 --turns 2
    python benchmarks/rollout.py --sections swe
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

SEARCH = "agentgym/SearchQA-v0"
TOOL = "agentgym/ToolUse-v0"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sections", default="overhead,process,start,index", help="comma list: overhead,process,start,index,swe,model"
    )
    ap.add_argument("--quick", action="store_true", help="fewer episodes in every section")
    ap.add_argument(
        "--repeats", type=int, default=3, help="alternating repeats per measurement (best is kept)"
    )
    # model section
    ap.add_argument("--url", help="use a running vLLM server instead of starting one")
    ap.add_argument("--model", default="smollm2", help="served model name (and model to start)")
    ap.add_argument("--envs", default=f"{TOOL},{SEARCH}", help="envs of the model section")
    ap.add_argument("--episodes", type=int, default=64, help="model section: concurrent episodes per env")
    ap.add_argument("--turns", type=int, default=3, help="model section: max turns per episode")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--index-docs", type=int, default=None, help="index section: documents (100k; --quick 20k)")
    # swe section
    ap.add_argument("--swe-levels", default="1,2,4")
    ap.add_argument("--swe-episodes", type=int, default=2, help="SWE episodes per concurrent slot")
    ap.add_argument("--swe-test-runs", type=int, default=3, help="test runs per SWE episode before the fix")
    return ap.parse_args()


def best_of(repeats: int, *runs: Any) -> list[float]:
    """Run each callable `repeats` times, alternating, and keep each one's best (lowest) seconds."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - started)
    return [min(t) for t in times]


def task_list(env_id: str, count: int) -> list[str]:
    from agentgym.family import task_source

    source = task_source(env_id, {})
    ids = source.ids(None)
    return [ids[i % len(ids)] for i in range(count)]


# ---------------------------------------------------------------------------- 1. overhead
def bench_overhead(args: argparse.Namespace) -> None:

    import agentgym  # noqa: F401

    print(f"\n== overhead at low concurrency (oracle episodes; {load()})")
    overhead_of(SEARCH, 300 if args.quick else 1000, args)
    overhead_of(TOOL, 100 if args.quick else 300, args)
    print(f"   ({load()})")


def overhead_of(env_id: str, count: int, args: argparse.Namespace) -> None:
    import gymnasium as gym

    import agentgym.rollout as rollout
    from agentgym.baselines.policies.scripted import OraclePolicy
    from agentgym.rollout import run_episode, run_episodes

    tasks = task_list(env_id, count)

    def plain_loop() -> None:  # what a user writes by hand: make the env, play, keep the records
        env = gym.make(env_id)
        policy = OraclePolicy()
        records = []
        for i, task in enumerate(tasks):
            records.append(run_episode(env, policy, seed=i, task_id=task, env_id=env_id))
        env.close()
        assert len(records) == count and not any(r.error for r in records)

    def engine(concurrency: int) -> Any:
        def run() -> None:
            records = run_episodes(env_id, OraclePolicy(), task_ids=tasks, concurrency=concurrency)
            assert len(records) == count and not any(r.error for r in records)

        return run

    def threaded(run: Any) -> Any:
        def forced() -> None:  # every env and policy call hops to a thread (the engine before)
            saved = rollout.CallSite.FAST_CALLS
            rollout.CallSite.FAST_CALLS = 1 << 30
            try:
                run()
            finally:
                rollout.CallSite.FAST_CALLS = saved

        return forced

    loop_s, direct_s, inline_s, hop_s = best_of(
        args.repeats, plain_loop, engine(1), engine(4), threaded(engine(4))
    )
    print(
        f"[{env_id}] {count} episodes: plain loop {count / loop_s:.0f} ep/s; run_episodes concurrency 1 "
        f"{count / direct_s:.0f} ep/s = {direct_s / loop_s:.2f}x the loop's time (goal <= 1.15)"
    )
    print(
        f"[{env_id}] asyncio engine, concurrency 4: fast calls inline {count / inline_s:.0f} ep/s "
        f"({inline_s / loop_s:.2f}x the loop's time) vs every call in a thread {count / hop_s:.0f} ep/s "
        f"({hop_s / loop_s:.2f}x) -> inline is {hop_s / inline_s:.2f}x faster"
    )


# ---------------------------------------------------------------------------- 2. process executor
def bench_process(args: argparse.Namespace) -> None:
    import agentgym  # noqa: F401

    print(f"\n== process executor: episodes/s at 2 workers vs 1 ({load()})")
    process_of(SEARCH, 800 if args.quick else 3000, args)
    process_of(TOOL, 200 if args.quick else 800, args)
    print(f"   ({load()}; a busy machine caps the 2-worker ratio below 2 cores' worth)")


def process_of(env_id: str, count: int, args: argparse.Namespace) -> None:
    import resource

    from agentgym.baselines.policies.scripted import OraclePolicy
    from agentgym.rollout import run_episodes

    tasks = task_list(env_id, count)
    cpu: dict[tuple[str, int], list[tuple[float, float]]] = {}

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def run(executor: str, concurrency: int) -> Any:
        def play() -> None:
            parent, children = time.process_time(), children_cpu()
            records = run_episodes(
                env_id, OraclePolicy(), task_ids=tasks, concurrency=concurrency, executor=executor
            )
            cpu.setdefault((executor, concurrency), []).append(
                (time.process_time() - parent, children_cpu() - children)
            )
            assert len(records) == count and not any(r.error for r in records)

        return play

    one, two, threads2 = best_of(args.repeats, run("process", 1), run("process", 2), run("local", 2))
    print(
        f"[{env_id}] {count} episodes: process x1 {count / one:.0f} ep/s, process x2 {count / two:.0f} ep/s "
        f"= {one / two:.2f}x of 1 worker (goal >= 1.7 on an idle 2-core machine); threads x2 "
        f"{count / threads2:.0f} ep/s = {one / threads2:.2f}x"
    )
    for (executor, concurrency), samples in cpu.items():  # CPU time does not depend on the load
        parent = min(s[0] for s in samples) * 1000 / count
        workers = min(s[1] for s in samples) * 1000 / count
        print(
            f"[{env_id}]   CPU per episode, {executor} x{concurrency}: this process {parent:.2f} ms, "
            f"worker processes {workers:.2f} ms"
        )


# ---------------------------------------------------------------------------- 3. env start
START_SCRIPT = """
import sys, time
t0 = time.process_time()
import gymnasium as gym, agentgym
t1 = time.process_time()
env = gym.make(sys.argv[1]); env.reset(seed=0)
t2 = time.process_time()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {int('numba' in sys.modules)}")
"""


def bench_start(args: argparse.Namespace) -> None:
    import tempfile

    print(f"\n== env start in a fresh process, CPU seconds ({load()})")
    for env_id in (SEARCH, TOOL):
        runs = []
        with tempfile.TemporaryDirectory() as caches:  # empty caches: the first run fills them
            env = {
                **os.environ,
                "AGENTGYM_INDEX_CACHE": f"{caches}/bm25",
                "AGENTGYM_TASK_CACHE": f"{caches}/tasks",
            }
            for _ in range(1 + max(3, args.repeats)):
                done = subprocess.run(
                    [sys.executable, "-c", START_SCRIPT, env_id],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
                imported, made, numba = done.stdout.split()
                runs.append((float(imported), float(made), numba == "1"))
        first, later = runs[0], runs[1:]
        made = statistics.median(r[1] for r in later)
        imported = statistics.median(r[0] for r in later)
        print(
            f"[{env_id}] make + reset {made:.3f} s CPU (goal <= 0.3; first run {first[1]:.3f} s), "
            f"import agentgym {imported:.3f} s, total {made + imported:.3f} s; numba started: "
            f"{'yes' if later[0][2] else 'no'}"
        )


# ---------------------------------------------------------------------------- 4. SWE concurrency
def bench_swe(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    import agentgym  # noqa: F401
    from agentgym.baselines.policies.scripted import OraclePolicy
    from agentgym.rollout import run_episodes
    from agentgym.tools import ToolCall

    sys.path.insert(0, str(Path(__file__).parent))
    from sandbox import build_minicalc_tasks  # noqa: E402  (the sandbox benchmark's task builder)

    class TestsThenFix(OraclePolicy):
        """Runs the tests `runs` times (the realistic load), then applies the gold patch."""

        name = "tests-then-fix"

        def __init__(self, runs: int) -> None:
            super().__init__()
            self.runs = runs

        def on_episode_start(self, env: Any, info: dict[str, Any]) -> None:
            super().on_episode_start(env, info)
            test = ToolCall(name="bash", arguments={"command": "python -m pytest -q -x 2>&1 | tail -3"})
            self._plan = [test] * self.runs + self._plan

    print(f"\n== SWE-v0 episodes/s under concurrency ({load()})")
    with tempfile.TemporaryDirectory() as workdir:
        tasks = build_minicalc_tasks(Path(workdir))
        base = None
        for level in [int(x) for x in args.swe_levels.split(",")]:
            count = level * args.swe_episodes
            started = time.perf_counter()
            records = run_episodes(
                "agentgym/SWE-v0", TestsThenFix(args.swe_test_runs), episodes=count, concurrency=level,
                env_kwargs={"tasks": str(tasks)},
            )  # fmt: skip
            wall = time.perf_counter() - started
            passed = sum(1 for r in records if r.trajectory_components.get("outcome") == "tests_pass")
            runs = args.swe_test_runs

            def mean(values: list[float]) -> float:
                return statistics.fmean(values) if values else 0.0

            # where an episode's time goes: reset (container from the pool + task setup), the agent's
            # test runs, the other tool calls, grading (the submit step), the policy
            reset_s = mean(
                [
                    r.duration_s - sum(s.timing["env_s"] + s.timing["policy_s"] for s in r.steps)
                    for r in records
                ]
            )
            tests_s = mean([sum(s.timing["env_s"] for s in r.steps[:runs]) for r in records])
            grade_s = mean([r.steps[-1].timing["env_s"] for r in records if r.steps])
            other_s = mean([sum(s.timing["env_s"] for s in r.steps[runs:-1]) for r in records])
            rate = count / wall
            base = base or rate
            print(
                f"[SWE-v0] {level} concurrent: {count} episodes in {wall:.1f} s = {rate:.3f} ep/s ({rate / base:.2f}x "
                f"of 1); {passed}/{count} pass; per episode: reset {reset_s:.2f} s, {runs} test runs {tests_s:.2f} s, "
                f"other tools {other_s:.2f} s, grading {grade_s:.2f} s; {load()}"
            )


# ---------------------------------------------------------------------------- index build
def bench_index(args: argparse.Namespace) -> None:
    import gc
    import importlib.util

    from agentgym.retrieval.bm25 import BM25Retriever
    from agentgym.tasks.search.suite import build_suite

    # the build references live in benchmarks/search.py (its full retrieval benchmark); reuse them
    spec = importlib.util.spec_from_file_location("search_benchmark", os.path.join(os.path.dirname(__file__), "search.py"))
    search = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search)
    docs = args.index_docs or (20_000 if args.quick else 100_000)
    corpus = build_suite(n_docs=docs, n_questions=50, seed=0).corpus
    texts, stemmer = corpus.index_texts(), search.english_stemmer()
    search.warm_up_builds(corpus)

    def ours() -> None:
        gc.collect()
        BM25Retriever.build(corpus)

    def reference() -> None:
        gc.collect()
        search.bm25s_pipeline(texts, stemmer)

    ours_s, ref_s = best_of(args.repeats, ours, reference)
    print(
        f"\n== index build, {docs} documents: ours {ours_s:.2f} s, bm25s pipeline {ref_s:.2f} s; ratio "
        f"ours/bm25s = {ours_s / ref_s:.2f}x the time (goal <= 1.0); {load()}"
    )


# ---------------------------------------------------------------------------- 5. model
async def agent_phase(policy: Any, env_id: str, args: argparse.Namespace) -> dict[str, Any]:
    """N episodes at once through the agent loop; each episode's (prompt ids, completion length) chain.

    The chains come from the episodes' own token records, one chain per record, so the raw replay
    below sends exactly the prompts each episode sent, in the same order and grouping.
    """
    import gymnasium as gym

    from agentgym.rollout import arun_episodes, plan_jobs

    kwargs = {"max_turns": args.turns}
    jobs = plan_jobs(None, episodes=args.episodes, group_size=1, seed=0)
    # The envs are made before the clock starts, as a trainer's env pool holds them across steps;
    # their resets stay timed (a reset is part of an episode).
    started = time.perf_counter()
    envs = [gym.make(env_id, **kwargs) for _ in range(args.episodes)]
    make_s = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    records = await arun_episodes(
        lambda: envs.pop() if envs else gym.make(env_id, **kwargs), policy, jobs, env_id=env_id, env_kwargs=kwargs,
        concurrency=args.episodes, resume=False,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    turns = [[s.tokens for s in r.steps if s.tokens and s.tokens.prompt_token_ids] for r in records]
    chains = [[(list(t.prompt_token_ids), len(t.completion_token_ids or [])) for t in chain] for chain in turns]
    return {
        "wall": wall, "steps": sum(len(r.steps) for r in records),
        "tokens": sum(n for chain in chains for _, n in chain), "chains": [c for c in chains if c],
        "errors": [r.error for r in records if r.error], "make_s": make_s, "cpu": cpu,
        "env_s": sum(s.timing.get("env_s", 0.0) for r in records for s in r.steps),
    }  # fmt: skip


async def raw_phase(url: str, policy: Any, chains: list[list[tuple[list[int], int]]]) -> dict[str, Any]:
    """Every chain's prompts in order (each after the previous answer), all chains at once, each request
    the agent's own body (`policy.request_body`) forced to generate exactly the agent's token count."""
    import httpx

    generated = 0
    limits = httpx.Limits(max_connections=len(chains) + 8, max_keepalive_connections=len(chains) + 8)
    async with httpx.AsyncClient(timeout=1200.0, limits=limits) as client:

        async def chain(turns: list[tuple[list[int], int]]) -> None:
            nonlocal generated
            for prompt, n in turns:
                if n == 0:
                    continue
                # ignore_eos alone gives exactly n tokens (the agent's n, its EOS included); min_tokens
                # would add a logits processor the agent's requests do not pay for
                body = {**policy.request_body(prompt, n), "ignore_eos": True}
                response = await client.post(f"{url}/v1/completions", json=body)
                response.raise_for_status()
                generated += response.json()["usage"]["completion_tokens"]

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(chain(c) for c in chains))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"wall": wall, "tokens": generated, "cpu": cpu}


def prefix_cache_hits(url: str) -> float:
    """The server's prefix-cache hit tokens so far (Prometheus counter; nan when not exported)."""
    import httpx

    try:
        text = httpx.get(f"{url}/metrics", timeout=30.0).text
    except httpx.HTTPError:
        return float("nan")
    hits = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("vllm:prefix_cache_hits_total")]
    return sum(hits) if hits else float("nan")


def reset_prefix_cache(url: str) -> bool:
    """Empty the server's prefix cache so neither phase reuses the other's prompts (dev endpoint)."""
    import httpx

    try:
        return httpx.post(f"{url}/reset_prefix_cache", timeout=60.0).status_code == 200
    except httpx.HTTPError:
        return False


def bench_model(args: argparse.Namespace) -> None:
    import agentgym  # noqa: F401
    from agentgym.baselines.models.server import VLLMServer
    from agentgym.baselines.policies import make_policy

    print(f"\n== model: {args.episodes} concurrent episodes vs the raw server on the same prompts ({load()})")
    server = None
    url = args.url
    if url is None:
        server = VLLMServer(args.model, served_model_name=args.model, env={"VLLM_SERVER_DEV_MODE": "1"})
        started = time.perf_counter()
        server.start()
        url = server.base_url
        print(f"vLLM server ready in {time.perf_counter() - started:.1f} s at {url}")
    try:
        for env_id in args.envs.split(","):
            # greedy: the raw replay, sending the same bodies, then generates the agent's very tokens.
            # (A per-request `seed` would do the same with sampling, but vLLM 0.32's CPU build crashes on
            # a seeded request whose prefill is chunked: "CPU Generator does not use offset".)
            policy = make_policy(f"vllm:{url}#{args.model}?temperature=0&max_tokens={args.max_tokens}")
            # warm-up, not measured: the server's first batches of a new shape are slow (compilation),
            # and whichever phase ran first would pay for them
            asyncio.run(agent_phase(policy, env_id, args))
            # Both phases run twice, alternating (agent, raw, agent, raw), and each keeps its best run:
            # the same number of tries for each, so neither side is favoured by the noise of one run.
            # The replays send the first measured agent run's prompts.
            agents: list[dict[str, Any]] = []
            raws: list[dict[str, Any]] = []
            cache_reset = True
            for _ in range(2):
                cache_reset &= reset_prefix_cache(url)
                before = prefix_cache_hits(url)
                agents.append(asyncio.run(agent_phase(policy, env_id, args)))
                agents[-1]["hits"] = prefix_cache_hits(url) - before
                if agents[-1]["errors"]:
                    raise SystemExit(f"episodes failed: {agents[-1]['errors'][:3]}")
                cache_reset &= reset_prefix_cache(url)
                before = prefix_cache_hits(url)
                raws.append(asyncio.run(raw_phase(url, policy, agents[0]["chains"])))
                raws[-1]["hits"] = prefix_cache_hits(url) - before
            agent = max(agents, key=lambda r: r["tokens"] / r["wall"])
            raw = max(raws, key=lambda r: r["tokens"] / r["wall"])
            agent_tps, raw_tps = agent["tokens"] / agent["wall"], raw["tokens"] / raw["wall"]
            walls = lambda runs: ", ".join(f"{r['wall']:.1f}" for r in runs)  # noqa: E731
            print(
                f"[{env_id}] agent loop: {agent['steps']} steps, {agent['tokens']} tokens in {agent['wall']:.1f} s = "
                f"{agent_tps:.1f} tokens/s; raw server (same {sum(map(len, agent['chains']))} prompts, chained): "
                f"{raw['tokens']} tokens in {raw['wall']:.1f} s = {raw_tps:.1f} tokens/s; ratio agent/raw = "
                f"{agent_tps / raw_tps:.3f} (goal >= 0.90); prefix-cache hit tokens agent {agent['hits']:.0f}, "
                f"raw {raw['hits']:.0f}; env time {agent['env_s'] * 1000:.0f} ms (envs made before timing in "
                f"{agent['make_s']:.1f} s); client CPU agent {agent['cpu']:.1f} s, raw {raw['cpu']:.1f} s; "
                f"walls agent {walls(agents)} s, raw {walls(raws)} s; {load()}"
            )
            if not cache_reset:
                print("note: prefix cache not reset between phases (server without VLLM_SERVER_DEV_MODE=1)")
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    args = parse_args()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = sections - {"overhead", "process", "start", "index", "swe", "model"}
    if unknown:
        raise SystemExit(f"unknown section(s) {sorted(unknown)}")
    print(f"rollout benchmark, {load()}")
    for name, bench in (("start", bench_start), ("overhead", bench_overhead), ("process", bench_process),
                        ("index", bench_index), ("swe", bench_swe), ("model", bench_model)):  # fmt: skip
        if name in sections:
            bench(args)
    print(f"\ndone, {load()}")


if __name__ == "__main__":
    main()
