"""Summarise and plot the real-family G-RA vs D-RA runs (docs/experiments/real_family_gra.md).

    python docs/experiments/real_family_gra/plot.py runs/real_family_gra docs/experiments/real_family_gra

Reads RUN/grpo-<mode>-s<seed>/metrics.jsonl and rollouts.jsonl, RUN/sft/metrics.jsonl and the
held-out evaluations RUN/eval_*.json; writes OUT/raw/ (copies of every raw file it read, plus
per-step farmed-component rows), OUT/summary.md (the tables) and OUT/metrics.png.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

MODES = ("gated", "direct", "outcome")
READ_ONLY = {"list_directory", "read_file", "find_files"}  # the files world's calls that change nothing
WINDOW = 5  # steps averaged at each end of a run in the table, and the plot's moving average


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def farmed_rows(rollouts: Path) -> list[dict]:
    """Per training step: valid actions per episode (what the farmable level pays), read-only calls."""
    by_step: dict[int, list[dict]] = {}
    for record in _jsonl(rollouts):
        by_step.setdefault(int(record["policy"].get("train_step", 0)), []).append(record)
    rows = []
    for step, records in sorted(by_step.items()):
        valid = [sum(s["components"].get("action_valid", 0.0) for s in r["steps"]) for r in records]
        calls = [sum(len(s["tool_calls"]) for s in r["steps"]) for r in records]
        read_only = [sum(1 for s in r["steps"] for c in s["tool_calls"] if c["name"] in READ_ONLY) for r in records]
        farmed = [r["report"]["return_direct"] - r["report"]["return_outcome"] for r in records if r.get("report")]
        ended = [bool(r["terminated"]) and not r["truncated"] for r in records]
        rows.append({"step": step, "episodes": len(records), "valid_actions": sum(valid) / len(records),
                     "tool_calls": sum(calls) / len(records), "read_only_calls": sum(read_only) / len(records),
                     "farmed_return": sum(farmed) / max(len(farmed), 1), "completion": sum(ended) / len(records)})
    return rows


def moving_average(values: list[float]) -> list[float]:
    """The mean of each value and the WINDOW - 1 before it (fewer at the start)."""
    return [sum(values[max(0, i + 1 - WINDOW): i + 1]) / len(values[max(0, i + 1 - WINDOW): i + 1])
            for i in range(len(values))]


PAIRED = [("success_rate", "success"), ("completion", "completion"), ("mean_turns", "turns"),
          ("farmed_return", "farmed"), ("read_only_calls", "read-only calls/ep"),
          ("zero_variance_groups", "zero-variance groups")]


def paired_table(runs: dict[str, list[tuple[int, list[dict], list[dict]]]]) -> list[str]:
    """Arms compared on the same tasks: per seed, the mean of each metric over the second half of the
    steps that every arm reached (step k draws the same task in every arm of a seed, so these means
    are paired; a run's own first -> last trend is not, because later steps draw other tasks)."""
    out = ["Paired by task: per seed, the mean over the second half of the steps every arm reached "
           "(the same tasks in every arm).", "",
           "| seed | steps | arm | " + " | ".join(name for _, name in PAIRED) + " |", "|" + "---|" * (3 + len(PAIRED))]
    seeds = sorted({seed for mode in MODES for seed, _, _ in runs[mode]})
    for seed in seeds:
        arms = {mode: (metrics, farmed) for mode in MODES for s, metrics, farmed in runs[mode] if s == seed}
        if len(arms) < len(MODES):
            continue
        common = min(len(metrics) for metrics, _ in arms.values())
        steps = range(common // 2, common)
        for mode, (metrics, farmed) in arms.items():
            by_step = {r["step"]: {**r, **f} for r, f in zip(metrics, farmed, strict=False)}
            cells = []
            for key, _ in PAIRED:
                values = [by_step[k][key] for k in steps if k in by_step and key in by_step[k]]
                cells.append(f"{sum(values) / len(values):.2f}" if values else "-")
            out.append(f"| {seed} | {steps.start}-{steps.stop - 1} | {mode} | " + " | ".join(cells) + " |")
    return out


def main(run: Path, out: Path) -> None:
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for path in [run / "sft" / "metrics.jsonl", *run.glob("eval_*.json")]:
        if path.exists():
            shutil.copy(path, raw / (f"sft_{path.name}" if path.parent.name == "sft" else path.name))
    runs: dict[str, list[tuple[int, list[dict], list[dict]]]] = {m: [] for m in MODES}
    for mode in MODES:
        for directory in sorted(run.glob(f"grpo-{mode}-s*")):
            if not directory.is_dir():
                continue
            seed = int(directory.name.rsplit("-s", 1)[1])
            metrics = _jsonl(directory / "metrics.jsonl")
            farmed = farmed_rows(directory / "rollouts.jsonl")
            shutil.copy(directory / "metrics.jsonl", raw / f"{mode}-s{seed}.jsonl") if metrics else None
            (raw / f"{mode}-s{seed}_farmed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in farmed))
            runs[mode].append((seed, metrics, farmed))
    lines = [f"Each cell: the mean over a run's first {WINDOW} steps -> its last {WINDOW} steps (one step = 1 task x 4 "
             "samples). Not a learning curve: a seed draws the same task sequence in every arm, and its later steps "
             "draw other, harder tasks than its first; compare arms with the paired table below.", "",
             "| arm | seed | steps | completion | success | turns | return_outcome | farmed (direct-outcome) | "
             "read-only calls/ep | zero-variance groups |", "|" + "---|" * 10]

    def span(rows: list[dict], key: str) -> str:
        values = [r[key] for r in rows if key in r]
        if not values:
            return "-"
        n = max(1, min(WINDOW, len(values) // 2))
        return f"{sum(values[:n]) / n:.2f} -> {sum(values[-n:]) / n:.2f}"

    for mode in MODES:
        for seed, metrics, farmed in runs[mode]:
            lines.append(f"| {mode} | {seed} | {len(metrics)} | {span(farmed, 'completion')} | "
                         f"{span(metrics, 'success_rate')} | {span(metrics, 'mean_turns')} | "
                         f"{span(metrics, 'return_outcome')} | {span(farmed, 'farmed_return')} | "
                         f"{span(farmed, 'read_only_calls')} | {span(metrics, 'zero_variance_groups')} |")
    lines += ["", *paired_table(runs)]
    evals = ["| checkpoint | held-out success (95% CI) | n | completion | mean turns | tool calls/ep |", "|---|---|---|---|---|---|"]
    for path in sorted(run.glob("eval_*.json")):
        row = json.loads(path.read_text())
        evals.append(f"| {path.stem.removeprefix('eval_')} | {row['success_rate']:.3f} [{row['success_ci_low']:.3f}, "
                     f"{row['success_ci_high']:.3f}] | {row['n']} | {row.get('completion_rate', float('nan')):.3f} | "
                     f"{row.get('mean_turns', float('nan')):.2f} | {row.get('tool_calls_per_episode', float('nan')):.2f} |")
    (out / "summary.md").write_text("\n".join(evals) + "\n\n" + "\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    keys = [("completion", "completion: user ended it (train rollouts)"), ("success_rate", "success (train rollouts)"),
            ("mean_turns", "mean turns"), ("farmed_return", "farmed component (direct - outcome)"),
            ("read_only_calls", "read-only calls / episode"), ("zero_variance_groups", "zero-variance groups")]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    fig.suptitle(f"GRPO on ToolUse-v0 files (train rollouts), moving average over {WINDOW} steps")
    colors = {"gated": "tab:green", "direct": "tab:red", "outcome": "tab:blue"}
    for ax, (key, title) in zip(axes.flat, keys, strict=True):
        for mode in MODES:
            for i, (seed, metrics, farmed) in enumerate(runs[mode]):
                rows = farmed if key in ("farmed_return", "read_only_calls", "completion") else metrics
                xs = [r["step"] for r in rows if key in r]
                ys = moving_average([r[key] for r in rows if key in r])
                ax.plot(xs, ys, color=colors[mode], alpha=0.8, marker="o", markersize=3,
                        linestyle="-" if seed == 0 else "--", label=f"{mode} s{seed}" if i < 2 else None)
        ax.set_title(title)
        ax.set_xlabel("GRPO step")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
