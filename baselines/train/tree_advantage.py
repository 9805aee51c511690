"""Tree-aware GRPO advantages: each step is judged against the siblings that share its prefix.

Why: plain GRPO gives every turn of an episode the same group-relative advantage, so a good early
step in an episode that later fails is pushed down with the rest. When episodes branch from common
states (`agentgym.tree`), a step can be compared with the continuations that shared everything
before it: the difference between them is due to that step and what followed, not to the prefix.

For step t of episode e, the reference set G is the episodes passing through the deepest state
on e's path, at most t-1 turns in, that more than one episode passes through (the latest branch
point before the step; the group, all trees of the task, at the start). The step's advantage is
``(R_e - mean_G R) / (std_G R + eps)`` (population std; without `normalize`, no division). Without
branches every step's set is the group, and this is plain GRPO's trajectory advantage exactly.

A child's first `branch_turn` steps are copies of its parent's (the same tokens): they are trained
once, in the episode that owns them, so `tree_advantages` marks them `None` (to be left out of the
loss) in every other record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from agentgym.rewards.progress import state_owner
from agentgym.trajectory import EpisodeRecord


def _return(record: EpisodeRecord) -> float | None:
    if record.reward_invalid or record.report is None or record.report.reward_invalid:
        return None
    return float(record.report.return_)


def tree_advantages(
    records: Sequence[EpisodeRecord], *, normalize: bool = True, eps: float = 1e-6
) -> list[list[float | None] | None]:
    """Per-episode, per-step advantages (None for a masked episode; a None step is a shared
    prefix step owned by another record)."""
    by_id = {r.episode_id: r for r in records}
    returns = {r.episode_id: _return(r) for r in records}
    # episodes through each state (owner id, turn); the start states of one group are one state
    groups: dict[str, str] = {}
    for index, record in enumerate(records):
        groups[record.episode_id] = record.group_id or getattr(record, "tree_id", None) or f"_solo{index}"
    through: dict[tuple[str, int], list[str]] = {}
    for record in records:
        if returns[record.episode_id] is None:
            continue
        for turn in range(len(record.steps) + 1):
            node = _node(record, turn, by_id, groups)
            through.setdefault(node, []).append(record.episode_id)
    out: list[list[float | None] | None] = []
    for record in records:
        value = returns[record.episode_id]
        if value is None:
            out.append(None)
            continue
        steps: list[float | None] = []
        for turn in range(1, len(record.steps) + 1):
            if state_owner(record, turn, by_id) != record.episode_id:
                steps.append(None)  # a shared prefix step: trained in its owner's record
                continue
            reference = _node(record, 0, by_id, groups)
            for before in range(turn - 1, -1, -1):
                node = _node(record, before, by_id, groups)
                if len(through.get(node, ())) > 1:
                    reference = node
                    break
            members = [returns[m] for m in through.get(reference, [record.episode_id])]
            numbers = [m for m in members if m is not None]
            mean = sum(numbers) / len(numbers)
            std = math.sqrt(sum((m - mean) ** 2 for m in numbers) / len(numbers))
            if std <= 1e-12:
                steps.append(0.0)
            else:
                steps.append((value - mean) / (std + eps) if normalize else value - mean)
        out.append(steps)
    return out


def _node(record: EpisodeRecord, turn: int, by_id: dict[str, EpisodeRecord], groups: dict[str, str]) -> tuple[str, int]:
    if turn == 0:
        return (f"group:{groups[record.episode_id]}", 0)
    return (state_owner(record, turn, by_id), turn)
