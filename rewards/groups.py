"""GRPO-style group statistics over episode returns.

Entries whose reward is invalid are passed as None: they get no advantage (None) and do not
count in their group's mean and std.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence


def _groups(returns: Sequence[float | None], group_ids: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    if len(returns) != len(group_ids):
        raise ValueError(f"returns ({len(returns)}) and group_ids ({len(group_ids)}) differ in length")
    groups: dict[Hashable, list[int]] = {}
    for index, (value, gid) in enumerate(zip(returns, group_ids, strict=True)):
        if value is None:
            continue
        if not math.isfinite(value):
            raise ValueError(f"return at index {index} is not finite: {value!r}")
        groups.setdefault(gid, []).append(index)
    return groups


def group_advantages(
    returns: Sequence[float | None],
    group_ids: Sequence[Hashable],
    normalize: bool = True,
    eps: float = 1e-6,
) -> list[float | None]:
    """Per-episode advantage: ``r - mean(group)``, divided by ``std(group) + eps`` if `normalize`.

    std is the population std (ddof=0). A group with one valid entry, or all-equal returns, gives
    advantage 0 to each of its entries. None (reward_invalid) entries map to None.
    """
    out: list[float | None] = [None] * len(returns)
    for members in _groups(returns, group_ids).values():
        values = [float(returns[i]) for i in members]  # type: ignore[arg-type]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        for i, v in zip(members, values, strict=True):
            centered = v - mean
            out[i] = centered / (std + eps) if normalize else centered
    return out


def zero_variance_fraction(
    returns: Sequence[float | None], group_ids: Sequence[Hashable], tol: float = 1e-12
) -> float:
    """Fraction of groups (with at least one valid entry) whose valid returns are all equal.

    Such groups contribute zero advantage, hence no learning signal.
    Returns 0.0 when there is no group.
    """
    groups = _groups(returns, group_ids)
    if not groups:
        return 0.0
    flat = 0
    for members in groups.values():
        values = [float(returns[i]) for i in members]  # type: ignore[arg-type]
        if max(values) - min(values) <= tol:
            flat += 1
    return flat / len(groups)
