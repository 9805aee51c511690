"""Aggregate metrics over episodes: what `agentgym eval` and reports print.

Episodes with `reward_invalid` are counted but excluded from every mean (they are
infrastructure failures, not policy outcomes). pass@k and pass^k use the unbiased estimators over
the samples of each group: pass@k = 1 - C(n-c, k)/C(n, k), pass^k = C(c, k)/C(n, k)
(tau-bench's "all k succeed").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from math import comb
from typing import Any

import numpy as np

from agentgym.outcome import success_of
from agentgym.trajectory import EpisodeRecord


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    if n < k:
        return float("nan")
    return comb(c, k) / comb(n, k)


def summarize(records: Sequence[EpisodeRecord], ks: Sequence[int] = (1, 2, 4, 8)) -> dict[str, Any]:
    valid = [r for r in records if not r.reward_invalid]
    summary: dict[str, Any] = {"episodes": len(records), "reward_invalid": len(records) - len(valid)}
    if not valid:
        return summary
    metric_names = sorted({k for r in valid for k in r.metrics})
    for name in metric_names:
        summary[name] = float(np.mean([r.metrics.get(name, 0.0) for r in valid]))
    summary["mean_turns"] = float(np.mean([len(r.steps) for r in valid]))
    reports = [r.report for r in valid if r.report is not None]
    if reports:
        summary["return"] = float(np.mean([rep.return_ for rep in reports]))
        summary["return_gated"] = float(np.mean([rep.return_gated for rep in reports]))
        summary["return_direct"] = float(np.mean([rep.return_direct for rep in reports]))
        summary["return_outcome"] = float(np.mean([rep.return_outcome for rep in reports]))
    known = [r for r in valid if success_of(r) is not None]
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in known:
        groups[(r.group_id or f"task:{r.task_id}", r.task_id)].append(float(bool(success_of(r))))
    if known:
        sizes = [len(v) for v in groups.values()]
        for k in ks:
            if k <= 1 or min(sizes) < k:
                continue
            summary[f"pass@{k}"] = float(np.mean([pass_at_k(len(v), int(sum(x >= 1.0 for x in v)), k) for v in groups.values()]))
            summary[f"pass^{k}"] = float(np.mean([pass_hat_k(len(v), int(sum(x >= 1.0 for x in v)), k) for v in groups.values()]))
    reports_by_group: dict[str, list[float]] = defaultdict(list)
    for r in valid:
        if r.group_id is not None and r.report is not None:
            reports_by_group[r.group_id].append(r.report.return_)
    if reports_by_group:
        zero = [1.0 if np.ptp(v) < 1e-12 else 0.0 for v in reports_by_group.values() if len(v) > 1]
        if zero:
            summary["zero_variance_groups"] = float(np.mean(zero))
    return summary
