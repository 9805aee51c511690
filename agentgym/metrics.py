"""Aggregate metrics over episodes: what `agentgym eval` and reports print.

Episodes with `reward_invalid` are counted but excluded from every mean (they are
infrastructure failures, not policy outcomes). pass@k and pass^k use the unbiased estimators over
the samples of each group: pass@k = 1 - C(n-c, k)/C(n, k), pass^k = C(c, k)/C(n, k)
(tau-bench's "all k succeed").

A group is only ever a real one: episodes sharing a `group_id` that were sampled from the same
env config (env id and kwargs), the same policy (its full description), the same run and the same
task (`group_key`). Episodes without a `group_id` belong to no group, so a file with no groups
has no pass@k, and episodes of different policies on the same task are never pooled.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from math import comb
from typing import Any

import numpy as np

from agentgym.outcome import success_of
from agentgym.trajectory import EpisodeRecord

#: keys of a policy description that say nothing about which policy sampled (a crash's traceback)
VOLATILE_POLICY_KEYS = ("traceback",)


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    if n < k:
        return float("nan")
    return comb(c, k) / comb(n, k)


def canonical(value: Any) -> str:
    """A stable text form of a JSON-like value (sorted keys), for use in keys."""
    return json.dumps(value, sort_keys=True, default=str)


def policy_key(policy: Mapping[str, Any] | None) -> str:
    """The identity of the policy that sampled an episode: its whole description, less a crash's
    traceback."""
    return canonical({k: v for k, v in (policy or {}).items() if k not in VOLATILE_POLICY_KEYS})


def group_key(record: EpisodeRecord) -> tuple[str, ...] | None:
    """The group an episode was sampled in, or None when it was sampled in none (no `group_id`).

    (env id, env kwargs, run id, policy, task id, group id): group ids such as `g0` are reused by
    every run, policy and training step, so the id alone never identifies a group.
    """
    if record.group_id is None:
        return None
    return (
        record.env_id,
        canonical(record.env_kwargs),
        str(record.run_id),
        policy_key(record.policy),
        record.task_id,
        record.group_id,
    )


def success_groups(records: Sequence[EpisodeRecord]) -> dict[tuple[str, ...], list[bool]]:
    """The known successes (valid episodes with a success stamp) of each real group."""
    groups: dict[tuple[str, ...], list[bool]] = defaultdict(list)
    for r in records:
        key = group_key(r)
        success = success_of(r)
        if key is not None and success is not None:
            groups[key].append(success)
    return dict(groups)


def pass_metrics(records: Sequence[EpisodeRecord], ks: Sequence[int] = (2, 4, 8)) -> dict[str, float]:
    """pass@k and pass^k (k > 1) averaged over the real groups; a k is left out when there is no
    group or some group has fewer than k known outcomes."""
    groups = success_groups(records)
    out: dict[str, float] = {}
    if not groups:
        return out
    smallest = min(len(v) for v in groups.values())
    for k in ks:
        if k <= 1 or smallest < k:
            continue
        out[f"pass@{k}"] = float(np.mean([pass_at_k(len(v), sum(v), k) for v in groups.values()]))
        out[f"pass^{k}"] = float(np.mean([pass_hat_k(len(v), sum(v), k) for v in groups.values()]))
    return out


def zero_variance_groups(records: Sequence[EpisodeRecord], mode: str | None = None) -> float | None:
    """Fraction of real groups (with more than one valid scored episode) whose returns are all
    equal; `mode` picks `return_<mode>`, default the spec's training return. None without groups."""
    returns: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for r in records:
        key = group_key(r)
        if key is not None and not r.reward_invalid and r.report is not None:
            value = r.report.return_ if mode is None else getattr(r.report, f"return_{mode}")
            returns[key].append(float(value))
    flags = [1.0 if np.ptp(v) < 1e-12 else 0.0 for v in returns.values() if len(v) > 1]
    return float(np.mean(flags)) if flags else None


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
    summary.update(pass_metrics(valid, ks))
    zero = zero_variance_groups(valid)
    if zero is not None:
        summary["zero_variance_groups"] = zero
    return summary
