"""`RewardReport`: what finalizing an episode under a spec produces (JSON round-trippable)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LevelReport(BaseModel):
    """State of one level at the end of an episode.

    value: the level's aggregate A_l. multiplier: G_l, the product of the gates above it under
    the report's mode (1.0 = fully open). gate_*: this level's own gate (on A_l), which opens or
    closes the levels below; a level without a gate reports gate_open=True, gate_value=1.0.
    contribution: what the level adds to the report's return. skipped: not computed (a lazy level
    behind a closed gate, or an episode whose reward is invalid).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    scope: str
    value: float
    weight: float
    gate_threshold: float | None = None
    gate_open: bool = True
    gate_value: float = 1.0
    multiplier: float = 1.0
    contribution: float = 0.0
    skipped: bool = False


class RewardReport(BaseModel):
    """Finalized reward of one episode.

    `return_` (JSON key "return") is the return under `mode`; the three modes are always
    reported side by side. `step_rewards` sums to `return_` (except for a zero-step episode, whose
    trace is empty). `reward_invalid`: infrastructure failed; every return is 0 and trainers must
    mask the episode, never score it.
    """

    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    mode: str
    return_: float = Field(alias="return")
    return_gated: float
    return_direct: float
    return_outcome: float
    levels: list[LevelReport] = Field(default_factory=list)
    step_rewards: list[float] = Field(default_factory=list)
    reward_invalid: bool = False
    spec_name: str = ""
    warnings: list[str] = Field(default_factory=list)
    # schedules and noise (absent when the spec has none): the training step the spec was
    # resolved at, each scheduled number's value then ("levels.1.weight": 0.3), the episode's
    # noise key and every value the noise changed (component, step, original, noised)
    training_step: int | None = Field(default=None, exclude_if=lambda v: v is None)
    schedule: dict[str, float] | None = Field(default=None, exclude_if=lambda v: v is None)
    noise_key: str | None = Field(default=None, exclude_if=lambda v: v is None)
    noise: list[dict[str, Any]] | None = Field(default=None, exclude_if=lambda v: v is None)

    def level(self, name: str) -> LevelReport:
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(f"no level named {name!r}; levels: {[lv.name for lv in self.levels]}")

    def returns(self) -> dict[str, float]:
        return {"gated": self.return_gated, "direct": self.return_direct, "outcome": self.return_outcome}
