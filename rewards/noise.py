"""Reward noise: flip or perturb a seeded fraction of a component's values, recorded so it can be undone.

Robustness studies ask how a method degrades when a fraction of rewards is wrong. A spec's
``noise`` lists rules; each picks a fraction of one component's values (per step for a step
component, once per episode for a trajectory component) and replaces them:

- ``flip``: a label through `labels` (``{success: failure, failure: success}``), a number ``v``
  to ``low + high - v`` (0 <-> 1 by default);
- ``perturb``: a number ``v`` to ``v + N(0, scale^2)`` (labels are left alone).

Which values change is drawn from a hash of (the rule's `seed`, the episode's noise key, the
component, the step), not from a global RNG: the env passes ``TASK_ID/SEED`` as the key, the
report stores it (`RewardReport.noise_key`) with one entry per changed value
(`RewardReport.noise`: component, step, original, noised), so re-scoring with the same key
reproduces the noise exactly and re-scoring with `RewardSpec.without_noise()` undoes it (the
stored components are always the clean ones: noise is applied only while scoring).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class NoiseRule(BaseModel):
    """Flip or perturb a fraction of one component's values (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    component: str = Field(min_length=1)
    kind: Literal["flip", "perturb"] = "flip"
    fraction: float = Field(ge=0.0, le=1.0, description="share of the component's values changed")
    seed: int = 0
    scale: float = Field(default=0.1, ge=0.0, description="perturb: std of the added Gaussian noise")
    low: float = Field(default=0.0, description="flip: a number v becomes low + high - v")
    high: float = Field(default=1.0)
    labels: dict[str, str] | None = Field(default=None, description="flip: label -> label it becomes")

    @model_validator(mode="after")
    def _labels_for_flip(self) -> NoiseRule:
        if self.labels is not None and self.kind != "flip":
            raise ValueError("`labels` applies to kind: flip only")
        return self

    def _uniforms(self, key: str, where: str) -> tuple[float, float, float]:
        digest = hashlib.sha256(f"{self.seed}|{key}|{self.component}|{where}".encode()).digest()
        parts = [int.from_bytes(digest[i : i + 8], "big") for i in (0, 8, 16)]
        return tuple((p + 0.5) / 2.0**64 for p in parts)  # type: ignore[return-value]

    def draw(self, value: Any, key: str, where: str) -> Any:
        """The noised value at `where` (a step index or "trajectory"), or `value` itself."""
        if callable(value) or value is None:
            return value  # lazy (judge) components are not noised
        pick, u1, u2 = self._uniforms(key, where)
        if pick >= self.fraction:
            return value
        if isinstance(value, str):
            if self.kind == "flip" and self.labels is not None:
                return self.labels.get(value, value)
            return value
        number = float(value)
        if self.kind == "flip":
            return self.low + self.high - number
        gaussian = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        return number + self.scale * gaussian


def apply_noise(
    rules: Sequence[NoiseRule],
    steps: Sequence[Mapping[str, Any]],
    trajectory: Mapping[str, Any],
    key: str | None,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """(noised steps, noised trajectory, one record per changed value); inputs are not modified."""
    key = key or ""
    new_steps = [dict(s) for s in steps]
    new_trajectory = dict(trajectory)
    changed: list[dict[str, Any]] = []
    for rule in rules:
        name = rule.component
        for index, components in enumerate(new_steps):
            if name in components:
                before = components[name]
                after = rule.draw(before, key, str(index))
                if after != before:
                    components[name] = after
                    changed.append({"component": name, "step": index, "original": before, "noised": after})
        if name in new_trajectory:
            before = new_trajectory[name]
            after = rule.draw(before, key, "trajectory")
            if after != before:
                new_trajectory[name] = after
                changed.append({"component": name, "step": None, "original": before, "noised": after})
    return new_steps, new_trajectory, changed
