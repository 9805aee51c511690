"""Outcome and success, declared once per env and read in one place.

An env declares which trajectory component is its outcome, which of the outcome's labels (or
which numeric range) count as success, and which component is its checklist (the fraction of a
task's required items done, for partial credit). The env stamps `success` on every finished
episode; `success_of` is the single reader that `agentgym eval`, pass@k, replay filters and
reports use, so "success" is never guessed from metric names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """How an env's episodes succeed.

    component: the trajectory component holding the outcome (a label or a number).
    success: the labels that count as success (a categorical outcome).
    success_threshold: a numeric outcome succeeds when its value is >= this.
    checklist: the trajectory or step component measuring partial progress in [0, 1] (summed
    over steps for a step component), or None when the family has none.
    """

    component: str = "outcome"
    success: tuple[str, ...] = ()
    success_threshold: float | None = None
    checklist: str | None = None

    def __post_init__(self) -> None:
        if not self.success and self.success_threshold is None:
            raise ValueError("Outcome needs `success` labels or a `success_threshold`")

    def is_success(self, trajectory_components: Mapping[str, Any]) -> bool:
        """Whether an episode with these trajectory components succeeded."""
        value = trajectory_components.get(self.component)
        if isinstance(value, str):
            return value in self.success
        if value is None or self.success_threshold is None:
            return False
        return float(value) >= self.success_threshold


def success_of(record: Any) -> bool | None:
    """Whether a recorded episode succeeded: None when it is unknown (its reward is invalid, or
    the record predates the success stamp). `record` is an `EpisodeRecord` or its dict."""
    if isinstance(record, Mapping):
        invalid, success = record.get("reward_invalid"), record.get("success")
    else:
        invalid, success = getattr(record, "reward_invalid", False), getattr(record, "success", None)
    if invalid or success is None:
        return None
    return bool(success)
