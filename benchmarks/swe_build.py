"""SWE task builder benchmark: tasks per core-hour and yield (kept / tried).

    python benchmarks/swe_build.py --quick            # the A/B below on one shipped package
    python benchmarks/swe_build.py --suite-only       # just the shipped suite's build record

1. A/B in the same process, same package, same seed, same number of candidates: each candidate
   bug checked against every baseline test file (the reference: how the builder worked before)
   vs only against the tests that execute a line it changes (per-test line coverage from one
   traced baseline run). Reports seconds per candidate, yield, tasks per core-hour and the
   speed-up ratio. One package builds on one core, so a package's wall time is its core time.
2. The shipped suite's build record (`build_state.json`, written by `agentgym tasks swe build`):
   per package baseline tests, build seconds, candidates tried, tasks kept and rejection reasons;
   totals: tasks per core-hour, yield, and the projected wall time for 1,000 tasks on N cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def ab(archive: Path, tries: int, seed: int) -> dict:
    from agentgym.tasks.swe.build import build_package_tasks

    out: dict[str, dict] = {}
    for label, select in (("reference: all tests per candidate", False), ("coverage-guided", True)):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            report = build_package_tasks(
                str(archive),
                Path(tmp),
                seed=seed,
                max_tasks=tries,
                max_tries=tries,
                select_tests=select,
                log=lambda m: None,
            )
            seconds = time.time() - t0
        kept = len(report.kept)
        out[label] = {
            "seconds": seconds,
            "tried": report.tried,
            "kept": kept,
            "per_candidate": seconds / max(1, report.tried),
            "candidate_phase_per_candidate": report.candidate_seconds / max(1, report.tried),
            "tasks_per_core_hour": kept / (seconds / 3600) if seconds else 0.0,
            "yield": kept / max(1, report.tried),
            "rejected": report.rejected,
        }
        print(
            f"{label:36s} {report.tried:3d} tried, {kept:3d} kept (yield {kept / max(1, report.tried):.0%}) "
            f"in {seconds:6.1f} s: {seconds / max(1, report.tried):.2f} s per candidate all in "
            f"({report.candidate_seconds / max(1, report.tried):.2f} s running it), "
            f"{out[label]['tasks_per_core_hour']:.0f} tasks per core-hour"
        )
    ref, new = out["reference: all tests per candidate"], out["coverage-guided"]
    print(
        f"speed-up (tasks per core-hour, coverage-guided / reference): "
        f"{new['tasks_per_core_hour'] / max(ref['tasks_per_core_hour'], 1e-9):.2f}x; "
        f"per candidate all in: {ref['per_candidate'] / max(new['per_candidate'], 1e-9):.2f}x; "
        f"running candidates only: "
        f"{ref['candidate_phase_per_candidate'] / max(new['candidate_phase_per_candidate'], 1e-9):.2f}x"
    )
    return out


def suite_summary(suite_dir: Path, cores: int) -> dict:
    state_file = suite_dir / "build_state.json"
    if not state_file.exists():
        print(f"no build record at {state_file}")
        return {}
    packages = json.loads(state_file.read_text())["packages"]
    kept = tried = 0
    core_seconds = 0.0
    print(f"{'package':28s} {'status':7s} {'tests':>6s} {'build s':>8s} {'tried':>6s} {'kept':>5s}  rejected")
    for spec, r in sorted(packages.items()):
        kept += r["kept"]
        tried += r["tried"]
        core_seconds += r["seconds"]
        why = ", ".join(f"{k}: {v}" for k, v in sorted(r["rejected"].items()))
        if r.get("error"):
            why = (why + "; " if why else "") + r["error"][:70]
        print(
            f"{spec[:28]:28s} {r['status']:7s} {r['baseline_tests']:6d} {r['seconds']:8.0f} {r['tried']:6d} "
            f"{r['kept']:5d}  {why}"
        )
    usable = sum(1 for r in packages.values() if r["kept"])
    rate = kept / (core_seconds / 3600) if core_seconds else 0.0
    print(
        f"{len(packages)} packages built, {usable} gave tasks; {kept} tasks kept of {tried} candidates "
        f"run (yield {kept / max(1, tried):.0%}); {core_seconds / 3600:.2f} core-hours: "
        f"{rate:.0f} tasks per core-hour"
    )
    if rate:
        print(f"projected wall time for 1,000 tasks on {cores} free cores: {1000 / rate / cores:.2f} h")
    return {"kept": kept, "tried": tried, "core_seconds": core_seconds, "tasks_per_core_hour": rate}


def main() -> None:
    from agentgym.tasks.swe.records import DATA_DIR

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=Path, default=DATA_DIR / "archives" / "cachetools-8.0.1.tar.gz")
    parser.add_argument("--tries", type=int, default=30, help="candidates per arm")
    parser.add_argument("--quick", action="store_true", help="12 candidates per arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--suite", type=Path, default=DATA_DIR / "suite")
    parser.add_argument("--suite-only", action="store_true")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if not args.suite_only:
        ab(args.archive, 12 if args.quick else args.tries, args.seed)
        print()
    suite_summary(args.suite, args.cores)


if __name__ == "__main__":
    main()
