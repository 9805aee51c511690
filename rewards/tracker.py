"""`RewardTracker`: turns an episode's components into Gymnasium rewards as it runs.

emission="terminal" (default): every step emits 0.0; `finish` returns the whole return as the
correction to add to the last step, which is exact for any spec.
emission="dense": each step emits a provisional reward, ``sum_l w_l * v_{l,t}`` over the
step-scope levels (``v_{l,t}``: the level's transform and per-step clip, computed by the same
`CompiledLevel.shape` the offline scorer uses) with every gate treated as open; `finish`
returns the correction that makes the emitted rewards sum exactly to the report's return.
`finish` scores the recorded components with `CompiledSpec.score`, so the report is the one
`RewardSpec.score` gives for the same components.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentgym.rewards.report import RewardReport

if TYPE_CHECKING:
    from agentgym.rewards.spec import RewardSpec

EMISSIONS = ("terminal", "dense")


class RewardTracker:
    """Collects one episode's step components; emits rewards; finalizes the report."""

    def __init__(self, spec: RewardSpec, emission: str = "terminal", noise_key: str | None = None) -> None:
        if emission not in EMISSIONS:
            raise ValueError(f"emission must be one of {EMISSIONS}, got {emission!r}")
        self.spec = spec
        self.emission = emission
        self.noise_key = noise_key  # names the episode for the spec's noise rules
        self.compiled = spec.compiled
        self.steps: list[dict[str, Any]] = []
        self.emitted: list[float] = []
        self.report: RewardReport | None = None
        # r_{l,t-1} of each step level (the transforms' previous value; 0 before the first step)
        self._previous_raw = [0.0] * len(self.compiled.step_levels)

    def step(self, components: Mapping[str, Any]) -> float:
        """Record one step's components; return the reward to emit at this step."""
        if self.report is not None:
            raise RuntimeError("RewardTracker.step after finish(); start a new tracker per episode")
        components = dict(components)
        self.steps.append(components)
        reward = self._provisional(components) if self.emission == "dense" else 0.0
        self.emitted.append(reward)
        return reward

    def _provisional(self, components: Mapping[str, Any]) -> float:
        """sum_l w_l * v_{l,t} over the step levels, every gate open (dense emission)."""
        reward = 0.0
        for i, level in enumerate(self.compiled.step_levels):
            raw = level.raw(components)
            reward += level.weight * level.shape(raw, self._previous_raw[i])
            self._previous_raw[i] = raw
        return reward

    def add_step_components(self, per_step: Sequence[Mapping[str, Any]]) -> None:
        """Merge components computed after the fact (e.g. a judge's per-turn verdicts) into the
        recorded steps: one mapping per recorded step. Rewards already emitted stay as they were;
        `finish` scores the merged components and its correction absorbs the difference."""
        if self.report is not None:
            raise RuntimeError("RewardTracker.add_step_components after finish()")
        if len(per_step) != len(self.steps):
            raise ValueError(
                f"add_step_components: got {len(per_step)} steps, the episode has {len(self.steps)}"
            )
        for recorded, extra in zip(self.steps, per_step, strict=True):
            recorded.update(extra)
        if self.steps:  # later dense steps transform against the merged values
            self._previous_raw = [level.raw(self.steps[-1]) for level in self.compiled.step_levels]

    def finish(
        self, trajectory_components: Mapping[str, Any], reward_invalid: bool = False
    ) -> tuple[RewardReport, float]:
        """Finalize: (report, correction to add to the last emitted reward)."""
        report = self.compiled.score(
            self.steps, trajectory_components, reward_invalid=reward_invalid, mode=self.spec.mode,
            noise_key=self.noise_key,
        )
        self.report = report
        return report, report.return_ - sum(self.emitted)

    @property
    def n_steps(self) -> int:
        return len(self.steps)
