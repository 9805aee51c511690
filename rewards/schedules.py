"""Schedules over training steps for a spec's numbers: constant, linear, step, cosine.

Reward designs change over training (a penalty weight annealed in, a format gate relaxed once
the policy learned the format, a clip bound widened). A level's `weight`, a gate's `threshold`
and a clip bound (`min`, `max`, `total.min`, `total.max`) may therefore be a `Schedule` instead
of a number. A spec is resolved for one training step (`RewardSpec.at_step(step)`, which the
trainer calls every step); the step and every resolved value are stamped into each episode's
report (`RewardReport.training_step`, `RewardReport.schedule`) and the step into the stored spec,
so re-scoring a record reproduces the exact values the trainer used.

In YAML::

    weight: {schedule: linear, start: 0.0, end: 1.0, steps: 100}          # 0 -> 1 over steps 0..100
    weight: {schedule: cosine, start: 1.0, end: 0.1, steps: 50, begin: 10}
    threshold: {schedule: step, boundaries: [20, 40], values: [0.0, 0.5, 1.0]}
    max: {schedule: constant, value: 2.0}

linear / cosine move from `start` (at step `begin`) to `end` (at step `begin + steps`) and hold
`end` afterwards (and `start` before `begin`). step: `values[i]` holds from `boundaries[i-1]`
(inclusive) to `boundaries[i]`; `values[0]` before the first boundary.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

SCHEDULE_KINDS: tuple[str, ...] = ("constant", "linear", "step", "cosine")


class Schedule(BaseModel):
    """A number that depends on the training step (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schedule: Literal["constant", "linear", "step", "cosine"]
    value: float | None = Field(default=None, description="constant: the value")
    start: float | None = Field(default=None, description="linear/cosine: the value at `begin`")
    end: float | None = Field(default=None, description="linear/cosine: the value from `begin + steps` on")
    steps: int | None = Field(default=None, ge=1, description="linear/cosine: length of the ramp")
    begin: int = Field(default=0, ge=0, description="linear/cosine: first step of the ramp")
    boundaries: list[int] | None = Field(default=None, description="step: the steps where the value changes")
    values: list[float] | None = Field(default=None, description="step: one more value than boundaries")

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Schedule:
        kind = self.schedule
        if kind == "constant":
            if self.value is None:
                raise ValueError("a constant schedule needs `value`")
        elif kind in ("linear", "cosine"):
            missing = [n for n in ("start", "end", "steps") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"a {kind} schedule needs {', '.join(missing)}")
        else:  # step
            if self.boundaries is None or self.values is None:
                raise ValueError("a step schedule needs `boundaries` and `values`")
            if len(self.values) != len(self.boundaries) + 1:
                raise ValueError(
                    f"a step schedule needs one more value than boundaries, got {len(self.values)} values "
                    f"and {len(self.boundaries)} boundaries"
                )
            if any(b < 0 for b in self.boundaries) or list(self.boundaries) != sorted(set(self.boundaries)):
                raise ValueError("step boundaries must be increasing non-negative steps")
        return self

    def at(self, step: int) -> float:
        """The value at training step `step` (>= 0)."""
        if self.schedule == "constant":
            return float(self.value)  # type: ignore[arg-type]
        if self.schedule == "step":
            index = sum(1 for b in self.boundaries or () if step >= b)
            return float(self.values[index])  # type: ignore[index]
        start, end, steps = float(self.start), float(self.end), int(self.steps)  # type: ignore[arg-type]
        progress = min(max((step - self.begin) / steps, 0.0), 1.0)
        if self.schedule == "linear":
            return start + (end - start) * progress
        return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def bounds(self) -> tuple[float, float]:
        """(lowest, highest) value over all steps (for static checks such as dominance)."""
        if self.schedule == "constant":
            return float(self.value), float(self.value)  # type: ignore[arg-type]
        if self.schedule == "step":
            return min(self.values), max(self.values)  # type: ignore[arg-type]
        return min(self.start, self.end), max(self.start, self.end)  # type: ignore[type-var,return-value]


def _kind(value: object) -> str:
    return "<schedule>" if isinstance(value, (dict, Schedule)) else "<number>"


#: a spec number that may be a schedule: a mapping validates as a `Schedule`, anything else as a
#: finite float (the tags keep validation errors to one line naming the field)
Scheduled = Annotated[
    Annotated[float, Tag("<number>")] | Annotated[Schedule, Tag("<schedule>")], Discriminator(_kind)
]


def resolve(value: float | Schedule | None, step: int) -> float | None:
    """A plain number, or the schedule's value at `step` (None stays None)."""
    if isinstance(value, Schedule):
        return value.at(step)
    return None if value is None else float(value)
