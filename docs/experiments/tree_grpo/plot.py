"""Plot the tree-aware vs plain GRPO evaluation curves (mean over seeds, 95% interval of the mean).

Usage: python docs/experiments/tree_grpo/plot.py [RAW_DIR] [OUT_PNG]; writes OUT_PNG and prints a table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def curves(path: Path) -> dict[str, dict[int, list[dict]]]:
    out: dict[str, dict[int, list[dict]]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("eval"):
            out.setdefault(row["arm"], {}).setdefault(row["episodes"], []).append(row)
    return out


def main() -> None:
    raw = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/experiments/tree_grpo/raw")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/experiments/tree_grpo/metrics.png")
    rewards = sorted(p.name for p in raw.iterdir() if (p / "metrics.jsonl").exists())
    fig, axes = plt.subplots(len(rewards), 2, figsize=(10, 3.6 * len(rewards)), squeeze=False)
    for row, reward in enumerate(rewards):
        data = curves(raw / reward / "metrics.jsonl")
        for col, metric in enumerate(("success", "return")):
            ax = axes[row][col]
            for arm, color in (("plain", "tab:blue"), ("tree", "tab:orange")):
                points = sorted(data.get(arm, {}).items())
                x = [episodes for episodes, _ in points]
                values = [[r[metric] for r in rows] for _, rows in points]
                mean = np.array([np.mean(v) for v in values])
                half = np.array([1.96 * np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0 for v in values])
                ax.plot(x, mean, color=color, label=f"{arm} GRPO")
                ax.fill_between(x, mean - half, mean + half, color=color, alpha=0.2)
                if col == 0:
                    print(f"{reward:8s} {arm:6s} " + "  ".join(f"{e}:{m:.3f}±{h:.3f}" for e, m, h in
                                                            zip(x, mean, half, strict=True)))
            ax.set_title(f"reward={reward}: evaluation {metric}")
            ax.set_xlabel("training episodes (equal budget)")
            ax.set_ylabel(f"mean {metric} (200-300 eval episodes)")
            ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
