"""The `progress` step component: the change in a state's estimated value, computed from a tree.

Why: a step that raises the chance of success should be rewarded even when the episode later
fails, and a step reward built as a difference of values telescopes: the sum of an episode's
progress is `value(end) - value(start)`, so it stays bounded whatever the aggregation, and a spec
cannot farm it by stalling (a stalled step changes no value).

The value of a state (an episode after t turns) is, by default, the mean outcome of every
episode in the tree that passes through it (Monte-Carlo over its continuations, `agentgym.tree`);
with `estimate="COMPONENT"` it is the per-step estimate a judge or PRM stored in that step
component (the value after step t; the start state keeps the Monte-Carlo mean). The outcome of an
episode is its `success` (0/1) by default, or its return (`outcome="return"`).

Step t of an episode gets ``progress_t = V(s_t) - V(s_{t-1})``. States are shared along a
tree: a child shares its parent's states up to its `branch_turn`, so the state of episode e after
t turns is the state of the first ancestor (e itself included) that did not inherit turn t.

The component is written into each record's step components (`add_progress`), so the reward
layer composes it like any other step component (a level of its own, gated by the outcome,
clipped, min-form...; `progress_spec` adds one) and `agentgym.replay.rescore` scores it offline.
No env emits it live (its value needs the continuations), so a spec reading it is used offline,
on records that `add_progress` filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentgym.rewards.components import Component, step_component
from agentgym.trajectory import EpisodeRecord

PROGRESS = "progress"


def progress_component(outcome: str = "success") -> Component:
    """The component's declaration: bounded by the outcome's range."""
    bounds = (-1.0, 1.0) if outcome == "success" else (-1e6, 1e6)  # a return has no declared range
    return step_component(
        PROGRESS, *bounds,
        description="V(s_t) - V(s_{t-1}): the change in the state's value, the mean outcome of the tree's "
        "continuations through it (or a declared judge/PRM estimate)",
    )


def episode_value(record: EpisodeRecord, outcome: str = "success") -> float | None:
    """An episode's outcome as a number (None when it is masked: invalid or unscored)."""
    if record.reward_invalid:
        return None
    if outcome == "success":
        return None if record.success is None else float(record.success)
    if outcome == "return":
        return None if record.report is None else float(record.report.return_)
    raise ValueError(f"outcome must be 'success' or 'return', got {outcome!r}")


def state_owner(record: EpisodeRecord, turn: int, by_id: dict[str, EpisodeRecord]) -> str:
    """The id of the episode that owns `record`'s state after `turn` turns (see the module docstring)."""
    current = record
    while True:
        parent_id = getattr(current, "parent_episode_id", None)
        branch_turn = getattr(current, "branch_turn", None)
        if parent_id is None or branch_turn is None or branch_turn < turn or parent_id not in by_id:
            return current.episode_id
        current = by_id[parent_id]


def state_values(
    records: Sequence[EpisodeRecord], *, outcome: str = "success", estimate: str | None = None
) -> dict[tuple[str, int], float | None]:
    """V of every state of the trees in `records`, keyed by (owner episode id, turn)."""
    by_id = {r.episode_id: r for r in records}
    members: dict[tuple[str, int], list[float]] = {}
    seen: set[tuple[str, int]] = set()
    for record in records:
        value = episode_value(record, outcome)
        for turn in range(len(record.steps) + 1):
            node = (state_owner(record, turn, by_id), turn)
            seen.add(node)
            if value is not None:
                members.setdefault(node, []).append(value)
    values: dict[tuple[str, int], float | None] = {
        node: (sum(members[node]) / len(members[node]) if node in members else None) for node in seen
    }
    if estimate is not None:
        for record in records:
            for turn, step in enumerate(record.steps, 1):
                node = (state_owner(record, turn, by_id), turn)
                if estimate not in step.components:
                    raise ValueError(f"episode {record.episode_id} step {turn} has no {estimate!r} component")
                values[node] = float(step.components[estimate])
    return values


def progress_of(
    records: Sequence[EpisodeRecord], *, outcome: str = "success", estimate: str | None = None
) -> dict[str, list[float] | None]:
    """Each episode's per-step progress (None for a masked episode)."""
    by_id = {r.episode_id: r for r in records}
    values = state_values(records, outcome=outcome, estimate=estimate)
    out: dict[str, list[float] | None] = {}
    for record in records:
        if episode_value(record, outcome) is None:
            out[record.episode_id] = None
            continue
        path = [values[(state_owner(record, t, by_id), t)] for t in range(len(record.steps) + 1)]
        out[record.episode_id] = [
            float(after - before) if after is not None and before is not None else 0.0
            for before, after in zip(path, path[1:], strict=False)
        ]
    return out


def add_progress(
    records: Sequence[EpisodeRecord], *, outcome: str = "success", estimate: str | None = None,
    name: str = PROGRESS,
) -> list[EpisodeRecord]:
    """Copies of `records` whose step components carry `name` (0.0 for a masked episode's steps)."""
    progress = progress_of(records, outcome=outcome, estimate=estimate)
    out = []
    for record in records:
        copy = record.model_copy(deep=True)
        values = progress[record.episode_id] or [0.0] * len(copy.steps)
        for step, value in zip(copy.steps, values, strict=True):
            step.components[name] = value
        out.append(copy)
    return out


def progress_spec(
    base: Any, *, weight: float = 1.0, clip_total: float | None = None, aggregate: str = "sum"
) -> Any:
    """`base` (a RewardSpec) with one more step level, `progress`, gated like its other step levels;
    `aggregate="min"` gives the min-form (the episode's worst step counts), `clip_total` bounds it."""
    from agentgym.rewards.spec import spec_from_data

    data = base.model_dump(mode="json", exclude_defaults=True)
    data = {**data, "name": f"{base.name}+progress", "mode": base.mode}
    level: dict[str, Any] = {"name": PROGRESS, "scope": "step", "components": {PROGRESS: weight}, "aggregate": aggregate}
    if clip_total is not None:
        level["clip"] = {"total": {"min": -clip_total, "max": clip_total}}
    data["levels"] = [*data["levels"], level]
    return spec_from_data(data)
