"""Reward-layer benchmarks: `python benchmarks/reward_layer.py [--quick]`.

finalize: median time to score (finalize) a 50-step, 3-level episode with `RewardSpec.score`
(goal <= GOAL_US = 200 us on a 2-core machine), and with `RewardTracker.finish` after 50 `step`
calls (the env's path), each beside a reference measured in the same run: a bare Python loop
doing the same arithmetic (per-step sums, clips, aggregates, cascading gates, three returns, the
rescaled trace). The engine is plain readable Python (`agentgym.rewards.engine`), no generated code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from agentgym.rewards import RewardSpec, RewardTracker

SPEC = {
    "name": "bench_3_levels",
    "mode": "gated",
    "levels": [
        {
            "name": "outcome",
            "scope": "trajectory",
            "components": ["outcome"],
            "values": {"no_submit": 0.0, "empty_patch": 0.1, "tests_fail": 0.2, "tests_pass": 1.0},
            "aggregate": "last",
            "gate": {"threshold": 0.2},
        },
        {
            "name": "progress",
            "scope": "step",
            "components": {"edit_applied": 0.05, "command_ok": 0.02},
            "aggregate": "sum",
            "clip": {"max": 0.06, "total": {"max": 0.5}},
            "gate": {"threshold": 0.1},
        },
        {
            "name": "process",
            "scope": "step",
            "components": {"action_valid": 0.01, "repeated_action": -0.05},
            "aggregate": "mean",
        },
    ],
}
N_STEPS = 50
GOAL_US = 200.0


def make_episode(n: int = N_STEPS) -> tuple[list[dict[str, float]], dict[str, str]]:
    steps = [
        {
            "action_valid": float(t % 7 != 0),
            "repeated_action": float(t % 11 == 0),
            "edit_applied": float(t % 3 == 0),
            "command_ok": float(t % 2 == 0),
        }
        for t in range(n)
    ]
    return steps, {"outcome": "tests_fail"}


def reference(steps: list[dict[str, float]], trajectory: dict[str, str]) -> tuple[float, list[float]]:
    """The same arithmetic as the spec above, written as a bare loop (no reward layer)."""
    values = {"no_submit": 0.0, "empty_patch": 0.1, "tests_fail": 0.2, "tests_pass": 1.0}
    a0 = values[trajectory["outcome"]]
    prog = []
    proc = []
    for c in steps:
        p = 0.05 * c.get("edit_applied", 0.0) + 0.02 * c.get("command_ok", 0.0)
        prog.append(p if p < 0.06 else 0.06)
        proc.append(0.01 * c.get("action_valid", 0.0) - 0.05 * c.get("repeated_action", 0.0))
    n = len(steps)
    a1 = min(sum(prog), 0.5)
    a2 = sum(proc) / n
    g1 = 1.0 if a0 >= 0.2 - 1e-9 else 0.0
    g2 = g1 * (1.0 if a1 >= 0.1 - 1e-9 else 0.0)
    gated = a0 + g1 * a1 + g2 * a2
    direct = a0 + a1 + a2
    outcome = a0
    trace = [0.0] * n
    s1 = sum(prog)
    c1 = g1 * a1
    for t in range(n):
        trace[t] = c1 * prog[t] / s1 + g2 * proc[t] / n
    trace[-1] += a0
    return gated + 0.0 * (direct + outcome), trace


def timings_us(fn: Callable[[], object], repeats: int, inner: int) -> tuple[float, float]:
    """(median, best) microseconds per call over `repeats` batches of `inner` calls."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(samples), min(samples)


def bench_finalize(quick: bool = False) -> dict[str, tuple[float, float]]:
    spec = RewardSpec.model_validate(SPEC)
    steps, trajectory = make_episode()
    report = spec.score(steps, trajectory)
    ref_return, ref_trace = reference(steps, trajectory)
    assert abs(report.return_ - ref_return) < 1e-12, (report.return_, ref_return)
    assert max(abs(a - b) for a, b in zip(report.step_rewards, ref_trace, strict=True)) < 1e-12

    def tracker_episode() -> None:
        tracker = RewardTracker(spec)
        for c in steps:
            tracker.step(c)
        tracker.finish(trajectory)

    tracker = RewardTracker(spec)
    for c in steps:
        tracker.step(c)

    def tracker_finish() -> None:
        tracker.report = None
        tracker.finish(trajectory)

    repeats, inner = (7, 200) if quick else (21, 1000)
    results = {
        "reference": timings_us(lambda: reference(steps, trajectory), repeats, inner),
        "score": timings_us(lambda: spec.score(steps, trajectory), repeats, inner),
        "tracker_finish": timings_us(tracker_finish, repeats, inner),
        "tracker_episode": timings_us(tracker_episode, repeats, max(inner // 5, 20)),
    }
    return results


def print_finalize(results: dict[str, tuple[float, float]]) -> None:
    ref_median, ref_best = results["reference"]
    rows = [
        ("reference bare loop", "reference"),
        ("RewardSpec.score", "score"),
        ("RewardTracker.finish", "tracker_finish"),
        ("tracker: 50 x step + finish", "tracker_episode"),
    ]
    print(f"finalize a {N_STEPS}-step, 3-level episode (goal: median <= {GOAL_US:g} us)")
    print(f"  {'':30s} {'median':>9s} {'ratio':>7s} {'best':>9s} {'ratio':>7s}")
    for label, key in rows:
        median, best = results[key]
        print(
            f"  {label:30s} {median:7.1f}us {median / ref_median:6.2f}x {best:7.1f}us {best / ref_best:6.2f}x"
        )
    score_median = results["score"][0]
    verdict = "meets" if score_median <= GOAL_US else "misses"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"  RewardSpec.score {verdict} the {GOAL_US:g} us goal here (median; 1-min load average {load:.1f})"
    )


def bench_env_step(quick: bool = False) -> dict[str, tuple[float, float]]:
    """Per-step cost of `AgentEnv.step` on StallOrSubmit (parse, validate, dispatch, components,
    reward tracking, transcript) beside a bare loop doing the toy's own arithmetic."""
    import warnings

    import gymnasium as gym

    import agentgym  # noqa: F401  (registers the envs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0", max_turns=10_000_000).unwrapped
    env.reset(seed=0)
    tool_call = '<tool_call>{"name": "work", "arguments": {}}</tool_call>'
    state = {"work": 0, "critic": 0.0, "turn": 0}

    def bare_step() -> None:  # what the toy itself computes per work step
        state["turn"] += 1
        state["work"] += 1
        components = {"action_valid": 1.0, "repeated_action": 1.0, "critic": 1.0}
        state["critic"] += components["critic"]

    repeats, inner = (7, 300) if quick else (21, 2000)
    results = {
        "reference": timings_us(bare_step, repeats, inner),
        "bare word": timings_us(lambda: env.step("work"), repeats, inner),
        "<tool_call> text": timings_us(lambda: env.step(tool_call), repeats, inner),
    }
    env.close()
    return results


def print_env_step(results: dict[str, tuple[float, float]]) -> None:
    ref_median, ref_best = results["reference"]
    print("AgentEnv.step on StallOrSubmit vs a bare loop doing the same arithmetic")
    print(f"  {'':30s} {'median':>9s} {'ratio':>7s} {'best':>9s} {'ratio':>7s}")
    for label, (median, best) in results.items():
        print(
            f"  {label:30s} {median:7.1f}us {median / ref_median:6.1f}x {best:7.1f}us {best / ref_best:6.1f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    print_finalize(bench_finalize(quick=args.quick))
    print()
    print_env_step(bench_env_step(quick=args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
