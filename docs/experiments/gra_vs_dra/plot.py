"""Plot the G-RA vs D-RA vs outcome runs: python docs/experiments/gra_vs_dra/plot.py RUN_DIR [OUT_DIR].

RUN_DIR holds <arm>-s<seed>/metrics.jsonl (or <arm>-s<seed>.jsonl). Every arm is cut at the
smallest step count reached by any run, so all arms are compared at the same budget. Writes
metrics.png (completion, success, turns, return, zero-variance groups) and a summary table
(summary.md) next to it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ARMS = ("gated", "direct", "outcome")
COLORS = {"gated": "tab:green", "direct": "tab:red", "outcome": "tab:blue"}
PANELS = [
    ("completion_rate", "completion rate (submitted before the cap)"),
    ("success_rate", "success rate (tests pass)"),
    ("mean_turns", "mean turns per episode"),
    ("return", "training return (own reward mode)"),
    ("return_outcome", "outcome-only return (same episodes)"),
    ("zero_variance_groups", "zero-variance GRPO groups"),
]


def load(run_dir: Path) -> dict[str, dict[int, list[dict]]]:
    runs: dict[str, dict[int, list[dict]]] = defaultdict(dict)
    for path in sorted(run_dir.glob("*")):
        metrics = path / "metrics.jsonl" if path.is_dir() else path
        if not metrics.exists() or metrics.suffix != ".jsonl":
            continue
        name = path.name.removesuffix(".jsonl")
        arm, _, seed = name.rpartition("-s")
        if arm not in ARMS:
            continue
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        runs[arm][int(seed)] = rows
    return runs


def main() -> None:
    run_dir = Path(sys.argv[1])
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent
    runs = load(run_dir)
    steps = min(len(rows) for seeds in runs.values() for rows in seeds.values())
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    summary = ["| arm | seeds | steps | " + " | ".join(k for k, _ in PANELS) + " |",
               "|---|---|---|" + "---|" * len(PANELS)]
    for arm in ARMS:
        if arm not in runs:
            continue
        seeds = runs[arm]
        arm_steps = min(len(rows) for rows in seeds.values())
        for ax, (key, title) in zip(axes.flat, PANELS, strict=True):
            matrix = np.array([[r.get(key, np.nan) for r in rows[:arm_steps]] for rows in seeds.values()], dtype=float)
            x = np.arange(arm_steps)
            ax.axvline(steps - 1, color="gray", linestyle="--", linewidth=0.8)
            for row in matrix:
                ax.plot(x, row, color=COLORS[arm], alpha=0.25, linewidth=1)
            ax.plot(x, np.nanmean(matrix, axis=0), color=COLORS[arm], linewidth=2.2, label=arm)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
        cells = []
        for key, _ in PANELS:
            matrix = np.array([[r.get(key, np.nan) for r in rows[:steps]] for rows in seeds.values()], dtype=float)
            first = np.nanmean(matrix[:, :2]) if steps >= 2 else np.nanmean(matrix[:, :1])
            last = np.nanmean(matrix[:, -2:]) if steps >= 2 else np.nanmean(matrix[:, -1:])
            cells.append(f"{first:.2f} -> {last:.2f}")
        summary.append(f"| {arm} | {len(seeds)} | {steps} | " + " | ".join(cells) + " |")
    axes.flat[0].legend()
    fig.suptitle("SmolLM2-135M-Instruct, StallOrSubmit (text, 5 turns), GRPO, 8 episodes/step; thin: seeds, "
                 f"thick: mean; dashed: common budget ({steps} steps)", fontsize=11)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / "metrics.png", dpi=110)
    (out_dir / "summary.md").write_text(
        "Mean over seeds of the first two steps -> the last two steps (same step budget for every arm).\n\n"
        + "\n".join(summary) + "\n"
    )
    print("\n".join(summary))


if __name__ == "__main__":
    main()
