"""`RewardTracker`: turns an episode's components into Gymnasium rewards as it runs.

emission="terminal" (default): every step emits 0.0; `finish` returns the whole return as the
correction to add to the last step, which is exact for any spec.
emission="dense": each step emits a provisional reward, the step-scope levels' weighted values
(transform and per-step clip applied) with every gate treated as open; `finish` returns the
correction that makes the emitted rewards sum exactly to the report's return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentgym.rewards.report import RewardReport

if TYPE_CHECKING:
    from agentgym.rewards.spec import RewardSpec

EMISSIONS = ("terminal", "dense")


class RewardTracker:
    """Collects one episode's step components; emits rewards; finalizes the report."""

    def __init__(self, spec: RewardSpec, emission: str = "terminal") -> None:
        if emission not in EMISSIONS:
            raise ValueError(f"emission must be one of {EMISSIONS}, got {emission!r}")
        self.spec = spec
        self.emission = emission
        self.compiled = spec.compiled
        self.steps: list[dict[str, Any]] = []
        self.emitted: list[float] = []
        self.report: RewardReport | None = None
        self._step_levels = [lv for lv in self.compiled.levels if lv.is_step]
        # raw per-level values, kept so finish() need not recompute them
        self._raw: list[list[float] | None] = [[] if lv.is_step else None for lv in self.compiled.levels]
        self._prev = [0.0] * len(self.compiled.levels)

    def step(self, components: Mapping[str, Any]) -> float:
        """Record one step's components; return the reward to emit at this step."""
        if self.report is not None:
            raise RuntimeError("RewardTracker.step after finish(); start a new tracker per episode")
        components = dict(components)
        self.steps.append(components)
        reward = 0.0
        for level in self._step_levels:
            raw = level.raw_one(components)
            self._raw[level.index].append(raw)  # type: ignore[union-attr]
            if self.emission == "dense":
                if level.transform == "delta":
                    value = raw - self._prev[level.index]
                elif level.transform == "potential":
                    value = level.gamma * raw - self._prev[level.index]
                else:
                    value = raw
                self._prev[level.index] = raw
                if level.has_clip:
                    value = min(max(value, level.cmin), level.cmax)
                reward += level.weight * value
        self.emitted.append(reward)
        return reward

    def finish(
        self, trajectory_components: Mapping[str, Any], reward_invalid: bool = False
    ) -> tuple[RewardReport, float]:
        """Finalize: (report, correction to add to the last emitted reward)."""
        report = self.compiled.score(
            self.steps,
            trajectory_components,
            reward_invalid=reward_invalid,
            mode=self.spec.mode,
            step_values=self._raw,
        )
        self.report = report
        return report, report.return_ - sum(self.emitted)

    @property
    def n_steps(self) -> int:
        return len(self.steps)
