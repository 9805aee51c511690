"""Snapshot and restore time per family, against a fresh reset of the same env, in one process.

    python benchmarks/snapshot.py [--families toy,tool,search,web,swe] [--repeats N] [--json OUT]

For each family: reset a task, play half of its oracle actions, then time (medians over
`--repeats`) `snapshot()`, `restore(snapshot)` into a second env of the same configuration, and
`reset()` of that env on the same task, and the oracle's `step` for reference. The ratio
restore/reset says what branching costs against starting over (a restore by replay pays the reset
plus the replayed steps). Families whose component is missing (Chromium, Docker) are reported as
skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym

FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "toy": ("agentgym/StallOrSubmit-v0", {"pass_prob": 1.0}),
    "tool": ("agentgym/ToolUse-v0", {"world": "retail"}),
    "search": ("agentgym/SearchQA-v0", {"n_docs": 400, "n_questions": 40, "world_seed": 2}),
    "web": ("agentgym/Web-v0", {"suite": "shop"}),
}


def _median_ms(work: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _missing(family: str) -> str | None:
    if family == "web":
        from agentgym.envs.web.browser import find_chromium

        try:
            find_chromium()
        except Exception as exc:  # noqa: BLE001
            return f"Chromium unavailable: {exc}"
    if family == "swe":
        from agentgym.sandbox.docker_backend import docker_unavailable_reason

        return docker_unavailable_reason()
    return None


def _swe_factory() -> tuple[Callable[[], gym.Env], dict[str, Any]]:
    import tempfile
    from pathlib import Path

    from agentgym.envs.swe.env import SWEEnv
    from agentgym.tasks.swe.build import build_package_tasks
    from agentgym.tasks.swe.minicalc import write_minicalc_sdist
    from agentgym.tasks.swe.records import write_instances

    out = Path(tempfile.mkdtemp(prefix="agentgym-bench-snapshot-"))
    report = build_package_tasks(str(write_minicalc_sdist(out)), out, seed=0, max_tasks=1, max_tries=30,
                                 log=lambda m: None)
    if report.error or not report.kept:
        raise RuntimeError(f"could not build a SWE task: {report.error or report.rejected}")
    write_instances(out / "tasks.jsonl", report.kept)
    return (lambda: SWEEnv(tasks=str(out / "tasks.jsonl"), pool_size=0)), {"task_id": report.kept[0].instance_id}


def measure(family: str, repeats: int) -> dict[str, Any]:
    if reason := _missing(family):
        return {"family": family, "skipped": reason}
    if family == "swe":
        make, options = _swe_factory()
        actions: list[Any] = [
            '<tool_call>{"name": "bash", "arguments": {"command": "echo x > /tmp/x && ls"}}</tool_call>'
        ] * 2
    else:
        env_id, kwargs = FAMILIES[family]

        def make() -> gym.Env:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return gym.make(env_id, **kwargs)

        probe = make()
        _, info = probe.reset(seed=0)
        options = {"task_id": info["task_id"]}
        actions = list(probe.unwrapped.oracle_actions() or [])
        probe.close()
    source, target = make(), make()
    try:
        source.reset(seed=0, options=options)
        prefix = max(1, len(actions) // 2) if len(actions) > 1 else 0
        started = time.perf_counter()
        for action in actions[:prefix]:
            source.step(action)
        step_ms = (time.perf_counter() - started) * 1000 / max(prefix, 1)
        snap = source.unwrapped.snapshot()
        snapshot_ms = _median_ms(source.unwrapped.snapshot, repeats)
        reset_ms = _median_ms(lambda: target.reset(seed=0, options=options), repeats)
        restore_ms = _median_ms(lambda: target.unwrapped.restore(snap), repeats)
    finally:
        source.close()
        target.close()
    return {
        "family": family, "mechanism": snap.mechanism, "exact": snap.exact, "prefix_turns": prefix,
        "snapshot_ms": round(snapshot_ms, 3), "restore_ms": round(restore_ms, 3), "reset_ms": round(reset_ms, 3),
        "step_ms": round(step_ms, 3), "restore_over_reset": round(restore_ms / reset_ms, 3) if reset_ms else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="toy,tool,search,web,swe")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    import agentgym  # noqa: F401

    rows = []
    for family in [f.strip() for f in args.families.split(",") if f.strip()]:
        if family not in FAMILIES and family != "swe":
            parser.error(f"unknown family {family!r}; have {', '.join([*FAMILIES, 'swe'])}")
        repeats = max(1, args.repeats // 5) if family in ("web", "swe") else args.repeats
        row = measure(family, repeats)
        rows.append(row)
        if "skipped" in row:
            print(f"{family:7s} skipped: {row['skipped']}")
        else:
            print(f"{family:7s} {row['mechanism']:6s} exact={row['exact']!s:5s} snapshot {row['snapshot_ms']:9.3f} ms"
                  f"  restore {row['restore_ms']:9.3f} ms  reset {row['reset_ms']:9.3f} ms"
                  f"  restore/reset {row['restore_over_reset']:.3f}  (step {row['step_ms']:.3f} ms,"
                  f" prefix {row['prefix_turns']} turns)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
