"""Rollout throughput: the agent loop vs the raw vLLM server, on the same prompts, in one run.

1. Agent loop: N concurrent episodes of an env (default agentgym/StallOrSubmit-v0) driven by the
   token-faithful `VLLMServerPolicy` through `agentgym.rollout.arun_episodes` (chat template, tool
   parsing, drift guard, env steps, trajectory records). Every request it sends is recorded.
2. Raw server: the very same token-id prompts, replayed straight to `/v1/completions` with N requests
   in flight, each forced to generate exactly as many tokens as the agent's turn did
   (`min_tokens = max_tokens = n`, `ignore_eos`).

Printed: env steps/s and generated tokens/s of the agent loop, the raw server's tokens/s, their
ratio (goal: agent loop >= 0.90 of raw, i.e. the loop costs <= 10%), and the policy-side cost per
turn (prompt rendering + drift check). The raw phase has no turn dependencies (all prompts are
known up front), so the ratio also includes the latency of waiting for each env step. The
server's prefix cache is emptied before each phase (the benchmark's own server runs with
`VLLM_SERVER_DEV_MODE=1`), else the raw replay would hit the agent phase's cached prompts.

    python benchmarks/rollout.py --quick                 # starts its own vLLM server (~45 s)
    python benchmarks/rollout.py --url http://127.0.0.1:8000 --model smollm2 --episodes 16
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run: 4 episodes x 3 turns x 32 tokens")
    ap.add_argument("--url", help="use a running vLLM server instead of starting one")
    ap.add_argument("--model", default="smollm2", help="served model name (and model to start)")
    ap.add_argument("--env", default="agentgym/StallOrSubmit-v0")
    ap.add_argument("--episodes", type=int, default=8, help="episodes, all run concurrently")
    ap.add_argument("--turns", type=int, default=4, help="max turns per episode")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=1, help="alternate agent/raw phases this many times")
    args = ap.parse_args()
    if args.quick:
        args.episodes, args.turns, args.max_tokens, args.repeats = 4, 3, 32, 1
    return args


async def agent_phase(policy, args) -> dict:
    import gymnasium as gym

    import agentgym  # noqa: F401
    from agentgym.rollout import arun_episodes, plan_jobs

    sent: list[tuple[list[int], int]] = []
    original = policy._parse

    def parse(data, latency):
        choice = data["choices"][0]
        sent.append((list(choice["prompt_token_ids"]), len(choice["token_ids"])))
        return original(data, latency)

    policy._parse = parse
    prepare_times: list[float] = []
    original_prepare = policy.turns.prepare

    def timed_prepare(*a, **k):
        started = time.perf_counter()
        try:
            return original_prepare(*a, **k)
        finally:
            prepare_times.append(time.perf_counter() - started)

    policy.turns.prepare = timed_prepare
    kwargs = {"max_turns": args.turns}
    jobs = plan_jobs(None, episodes=args.episodes, group_size=1, seed=0)
    started = time.perf_counter()
    records = await arun_episodes(lambda: gym.make(args.env, **kwargs), policy, jobs, env_id=args.env,
                                  env_kwargs=kwargs, concurrency=args.episodes, resume=False)
    wall = time.perf_counter() - started
    policy._parse, policy.turns.prepare = original, original_prepare
    errors = [r.error for r in records if r.error]
    steps = sum(len(r.steps) for r in records)
    tokens = sum(len(s.tokens.completion_token_ids or []) for r in records for s in r.steps if s.tokens)
    return {"wall": wall, "steps": steps, "tokens": tokens, "sent": sent, "errors": errors,
            "prepare_ms": 1000 * statistics.mean(prepare_times) if prepare_times else 0.0,
            "env_s": sum(s.timing.get("env_s", 0.0) for r in records for s in r.steps)}


async def raw_phase(url: str, model: str, sent: list[tuple[list[int], int]], concurrency: int) -> dict:
    semaphore = asyncio.Semaphore(concurrency)
    generated = 0
    async with httpx.AsyncClient(timeout=600.0) as client:

        async def one(prompt: list[int], n: int) -> None:
            nonlocal generated
            if n == 0:
                return
            async with semaphore:
                body = {"model": model, "prompt": prompt, "max_tokens": n, "min_tokens": n, "ignore_eos": True,
                        "temperature": 1.0, "logprobs": 0, "return_tokens_as_token_ids": True}
                response = await client.post(f"{url}/v1/completions", json=body)
                response.raise_for_status()
                generated += response.json()["usage"]["completion_tokens"]

        started = time.perf_counter()
        await asyncio.gather(*(one(p, n) for p, n in sent))
        wall = time.perf_counter() - started
    return {"wall": wall, "tokens": generated}


def reset_prefix_cache(url: str) -> bool:
    """Empty the server's prefix cache so neither phase reuses the other's prompts (dev endpoint)."""
    try:
        return httpx.post(f"{url}/reset_prefix_cache", timeout=60.0).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    args = parse_args()
    from agentgym.baselines.models.server import VLLMServer

    server = None
    url = args.url
    if url is None:
        server = VLLMServer(args.model, served_model_name=args.model, env={"VLLM_SERVER_DEV_MODE": "1"})
        started = time.perf_counter()
        server.start()
        url = server.base_url
        print(f"vLLM server ready in {time.perf_counter() - started:.1f} s at {url}")
    try:
        from agentgym.baselines.policies import make_policy

        policy = make_policy(f"vllm:{url}#{args.model}?temperature=1.0&max_tokens={args.max_tokens}")
        agent_tps, raw_tps, rows = [], [], []
        cache_reset = True
        for _ in range(args.repeats):
            cache_reset &= reset_prefix_cache(url)
            agent = asyncio.run(agent_phase(policy, args))
            if agent["errors"]:
                raise SystemExit(f"episodes failed: {agent['errors'][:3]}")
            cache_reset &= reset_prefix_cache(url)
            raw = asyncio.run(raw_phase(url, args.model, agent["sent"], args.episodes))
            agent_tps.append(agent["tokens"] / agent["wall"])
            raw_tps.append(raw["tokens"] / raw["wall"])
            rows.append((agent, raw))
        agent, raw = rows[-1]
        ratio = statistics.mean(agent_tps) / statistics.mean(raw_tps)
        print(f"env {args.env}: {args.episodes} concurrent episodes x <= {args.turns} turns x <= {args.max_tokens} tokens")
        print(f"agent loop : {agent['steps']} env steps in {agent['wall']:.1f} s = {agent['steps'] / agent['wall']:.2f} steps/s; "
              f"{agent['tokens']} generated tokens = {statistics.mean(agent_tps):.1f} tokens/s")
        print(f"raw server : same {len(agent['sent'])} prompts, {raw['tokens']} tokens in {raw['wall']:.1f} s = "
              f"{statistics.mean(raw_tps):.1f} tokens/s ({args.episodes} in flight)")
        print(f"ratio agent/raw tokens/s = {ratio:.3f}  (goal >= 0.90: agent loop costs {100 * (1 - ratio):.1f}% of throughput)")
        print(f"policy-side cost per turn (render + drift check) = {agent['prepare_ms']:.2f} ms; "
              f"env time total = {agent['env_s'] * 1000:.1f} ms; drift {policy.drift_stats()}")
        if not cache_reset:
            print("note: prefix cache not reset between phases (server without VLLM_SERVER_DEV_MODE=1): raw is favoured")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
