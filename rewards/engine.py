"""Scoring engine: the math of `agentgym.rewards` (see its docstring), one level at a time.

Each level goes through one pipeline, written once here and used by the offline scorer
(`CompiledSpec.score`, behind `RewardSpec.score`) and by the live `RewardTracker`:

    r_{l,t} = sum_c coef_c * value_c                        CompiledLevel.raw
    v_{l,t} = clip(transform(r_{l,t}, r_{l,t-1}))           CompiledLevel.shape   (per step)
    A_l     = clip_total(aggregate(v_{l,0..T-1}))           CompiledLevel.aggregate
    gate    G_{l+1} = G_l * gate_l(A_l)                     CompiledGate.factor
    R_mode  = sum_l w_l * (M_l * A_l + P_l * A_l^-)         CompiledSpec._score

A trajectory level has one value: A_l = clip_total(clip(r_l)). M_l and P_l are the level's
multipliers under a mode (`mode_factors`): gated M_l = G_l, direct 1, outcome 1 for level 0
and 0 below. P_l is nonzero only for penalties_bypass (see `mode_factors`); A_l^- is the
level's aggregate over its negative values only (`CompiledLevel.penalty_part`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentgym.rewards.noise import apply_noise
from agentgym.rewards.report import LevelReport, RewardReport
from agentgym.rewards.schedules import resolve
from agentgym.rewards.spec import MODES, ComponentUnavailable, SpecError

if TYPE_CHECKING:
    from agentgym.rewards.spec import RewardSpec

Interval = tuple[float, float]
UNBOUNDED: Interval = (-math.inf, math.inf)


def clip(value: float, bounds: Interval) -> float:
    """`value` limited to the closed interval `bounds`."""
    low, high = bounds
    return low if value < low else high if value > high else value


def sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # the same value, without overflow for very negative x
    return e / (1.0 + e)


def _interval(bounds: Any, step: int = 0, where: str = "clip") -> Interval:
    """A `Bounds` (or None) as (low, high), an open end as an infinity, schedules resolved at `step`."""
    if bounds is None:
        return UNBOUNDED
    low = resolve(bounds.min, step)
    high = resolve(bounds.max, step)
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    if low > high:
        raise SpecError(f"{where}: min ({low:g}) exceeds max ({high:g}) at training step {step}")
    return low, high


# ---------------------------------------------------------------------------------------- gates
@dataclass(frozen=True, slots=True)
class CompiledGate:
    """A level's gate on its aggregate A (see `Gate`; the threshold has success_only applied)."""

    threshold: float
    strict: bool = False  # op ">"
    eps: float = 1e-9
    soft_temperature: float | None = None
    penalties_bypass: bool = False

    def passes(self, value: float) -> bool:
        """The hard test: A >= threshold - eps (equality opens), or A > threshold + eps."""
        if self.strict:
            return value > self.threshold + self.eps
        return value >= self.threshold - self.eps

    def factor(self, value: float) -> float:
        """What this gate multiplies the levels below by: 1/0 (hard) or sigmoid((A - threshold)/T)."""
        if self.soft_temperature is not None:
            return sigmoid((value - self.threshold) / self.soft_temperature)
        return 1.0 if self.passes(value) else 0.0


# ---------------------------------------------------------------------------------------- levels
@dataclass(frozen=True, slots=True)
class CompiledLevel:
    """One level of a spec as plain attributes, with its math as methods (see `Level`)."""

    index: int
    name: str
    scope: str
    components: tuple[tuple[str, float], ...]  # (name, coefficient)
    values: dict[str, float] | None  # label -> number
    transform: str  # none | delta | potential
    gamma: float  # potential and discounted
    aggregation: str  # one of AGGREGATES
    temperature: float  # softmin
    step_clip: Interval  # per step (trajectory scope: the level's value)
    total_clip: Interval  # on the aggregate
    weight: float
    gate: CompiledGate | None
    lazy: bool

    @classmethod
    def from_spec(cls, spec: RewardSpec, index: int) -> CompiledLevel:
        level = spec.levels[index]
        threshold = spec.gate_threshold(index)
        gate = None
        if threshold is not None:
            options = level.gate
            gate = CompiledGate(
                threshold=float(threshold),
                strict=options is not None and options.op == ">",
                eps=options.eps if options is not None else 1e-9,
                soft_temperature=options.soft_temperature if options is not None else None,
                penalties_bypass=options is not None and options.penalties_bypass,
            )
        return cls(
            index=index,
            name=level.name,
            scope=level.scope,
            components=tuple((name, float(coef)) for name, coef in level.components.items()),
            values=dict(level.values) if level.values else None,
            transform=level.transform,
            gamma=level.effective_gamma,
            aggregation=level.aggregate,
            temperature=level.temperature,
            step_clip=_interval(level.clip, spec.step, f"levels.{index}.clip"),
            total_clip=_interval(level.clip.total if level.clip is not None else None, spec.step,
                                 f"levels.{index}.clip.total"),
            weight=float(resolve(level.weight, spec.step)),  # type: ignore[arg-type]
            gate=gate,
            lazy=level.lazy,
        )

    @property
    def is_step(self) -> bool:
        return self.scope == "step"

    @property
    def sums_plainly(self) -> bool:
        """A_l is the plain sum of the per-step values (so they need no rescaling in the trace)."""
        return self.aggregation == "sum" and self.total_clip == UNBOUNDED

    # ------------------------------------------------------------ r_{l,t}
    def number(self, name: str, value: Any) -> float:
        """One component value as a number: labels through `values`, bools as 0/1, callables called."""
        if isinstance(value, int | float):  # bool is an int
            return value
        if callable(value):  # a lazy component (e.g. a judge): computed only now
            value = value()
            if value is None:
                return 0.0
            if isinstance(value, int | float):
                return value
        if isinstance(value, str):
            if self.values is not None and value in self.values:
                return self.values[value]
            known = sorted(self.values) if self.values else []
            raise SpecError(
                f"level {self.name!r}: component {name!r} has label {value!r}, which the level's `values` "
                f"does not map (known labels: {known})"
            )
        try:
            return float(value)  # numpy scalars and the like
        except (TypeError, ValueError):
            raise SpecError(
                f"level {self.name!r}: component {name!r} has value {value!r} of type {type(value).__name__}; "
                "expected a number, bool or label"
            ) from None

    def raw(self, components: Mapping[str, Any]) -> float:
        """r_{l,t} = sum_c coef_c * value_c over the level's components (a missing one counts 0)."""
        total = 0.0
        for name, coef in self.components:
            value = components.get(name)
            if value is None:
                continue
            if not isinstance(value, int | float):  # a label, a callable or an odd type
                value = self.number(name, value)
            total += coef * value
        return total

    # ------------------------------------------------------------ v_{l,t}
    def shape(self, raw: float, previous_raw: float) -> float:
        """One step's value: the transform of r_t (given r_{t-1}; 0 before the first step), then
        the per-step clip. The tracker's dense emission calls this same function step by step."""
        if self.transform == "delta":
            value = raw - previous_raw
        elif self.transform == "potential":  # gamma * Phi_t - Phi_{t-1}, with Phi_t = r_t
            value = self.gamma * raw - previous_raw
        else:
            value = raw
        return clip(value, self.step_clip)

    def step_values(self, steps: Sequence[Mapping[str, Any]]) -> list[float]:
        """[v_{l,t} for each step]."""
        values = []
        previous = 0.0
        for components in steps:
            raw = self.raw(components)
            values.append(self.shape(raw, previous))
            previous = raw
        return values

    # ------------------------------------------------------------ A_l
    def aggregate(self, values: list[float]) -> float:
        """A_l: the per-step values aggregated (0 over zero steps), then clip.total."""
        how = self.aggregation
        if not values:
            value = 0.0
        elif how == "sum":
            value = sum(values)
        elif how == "mean":
            value = sum(values) / len(values)
        elif how == "last":
            value = values[-1]
        elif how == "min":
            value = min(values)
        elif how == "max":
            value = max(values)
        elif how == "softmin":  # sum_t softmax(-v/T)_t * v_t; shifted by min(v) so exp cannot overflow
            low = min(values)
            weights = [math.exp(-(v - low) / self.temperature) for v in values]
            value = sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)
        elif how == "discounted":  # sum_t gamma^t v_t
            value = sum(self.gamma**t * v for t, v in enumerate(values))
        else:  # pragma: no cover - the spec validates the name
            raise SpecError(f"level {self.name!r}: unknown aggregate {how!r}")
        return clip(value, self.total_clip)

    def trajectory_value(self, components: Mapping[str, Any]) -> float:
        """A_l of a trajectory level: its single value r_l, clipped, then clip.total."""
        return clip(clip(self.raw(components), self.step_clip), self.total_clip)

    def penalty_part(self, values: list[float] | None, value: float) -> float:
        """A_l^-: what counts while a penalties_bypass gate above is closed. A step level
        aggregates min(v_t, 0) as it aggregates v_t; a trajectory level counts min(A_l, 0)."""
        if values is None:
            return min(value, 0.0)
        return self.aggregate([min(v, 0.0) for v in values])

    def gate_state(self, value: float) -> tuple[bool, float]:
        """(this level's hard test on A_l, factor it passes to the levels below); no gate = open."""
        if self.gate is None:
            return True, 1.0
        return self.gate.passes(value), self.gate.factor(value)


def mode_factors(mode: str, index: int, g: float, q: float) -> tuple[float, float]:
    """(M_l, P_l): what multiplies level l's aggregate A_l and its penalty part A_l^- in `mode`.

    g = G_l, the product of the gate factors above l. q is the same product with each
    penalties_bypass gate counted as open, so q - g > 0 exactly while such a gate closes l:
    in gated mode the level then still pays (q - g) * A_l^- (its penalties).
    """
    if mode == "gated":
        return g, q - g
    if mode == "direct":
        return 1.0, 0.0
    return (1.0 if index == 0 else 0.0), 0.0  # outcome: level 0 alone


def trace_shares(
    level: CompiledLevel, values: list[float], m: float, p: float, contribution: float
) -> list[float]:
    """Per-step shares of a step level's contribution to the return: w_l * (M v_t + P min(v_t, 0)),
    which sum to the contribution when A_l is a plain sum; otherwise rescaled to it (spread
    evenly when the shares sum to 0, up to rounding)."""
    w = level.weight
    shares = [w * (m * v + p * min(v, 0.0)) for v in values]
    if level.sums_plainly:
        return shares
    total = sum(shares)
    rounding_noise = abs(total) <= 1e-9 and abs(total) <= 1e-12 * sum(map(abs, shares))
    if total == 0.0 or rounding_noise:
        return [contribution / len(values)] * len(values)
    factor = contribution / total
    return [factor * s for s in shares]


# ---------------------------------------------------------------------------------------- spec
class CompiledSpec:
    """A RewardSpec in plain-Python form; `score` finalizes an episode."""

    def __init__(self, spec: RewardSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.levels = [CompiledLevel.from_spec(spec, i) for i in range(len(spec.levels))]
        self.step_levels = [level for level in self.levels if level.is_step]
        self.step_names = sorted({n for lv in self.levels if lv.is_step for n, _ in lv.components})
        self.trajectory_names = sorted({n for lv in self.levels if not lv.is_step for n, _ in lv.components})
        self.training_step = spec.training_step
        self.schedule = spec.schedule_values()
        self.noise = list(spec.noise)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as its spec, rebuilt on load
        return (CompiledSpec, (self.spec,))

    def warnings(self, steps: Sequence[Mapping[str, Any]], trajectory: Mapping[str, Any]) -> list[str]:
        """Names the spec reads that the episode never emitted (counted as 0)."""
        out: list[str] = []
        for name in self.step_names:
            if not any(name in c for c in steps):
                where = " (it appears among the trajectory components)" if name in trajectory else ""
                out.append(f"step component {name!r} was never emitted in this episode; counted as 0{where}")
        for name in self.trajectory_names:
            if name not in trajectory:
                where = " (it appears among the step components)" if any(name in c for c in steps) else ""
                out.append(f"trajectory component {name!r} is missing; counted as 0{where}")
        return out

    def score(
        self,
        steps: Sequence[Mapping[str, Any]],
        trajectory: Mapping[str, Any],
        *,
        reward_invalid: bool = False,
        mode: str = "gated",
        noise_key: str | None = None,
    ) -> RewardReport:
        """Finalize an episode from its step components and trajectory components.

        A component callable that raises `ComponentUnavailable` (a lazy judge that timed out or
        failed) makes the report `reward_invalid`, with the reason among its warnings. The
        spec's noise rules are drawn with `noise_key` (see `agentgym.rewards.noise`); the
        report carries the training step, the resolved schedule values and the noise applied.
        """
        if mode not in MODES:
            raise SpecError(f"mode: unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if reward_invalid:
            return self._stamp(self._invalid_report(len(steps), mode), noise_key, [])
        changed: list[dict[str, Any]] = []
        if self.noise:
            steps, trajectory, changed = apply_noise(self.noise, steps, trajectory, noise_key)
        try:
            report = self._score(steps, trajectory, mode)
        except ComponentUnavailable as exc:
            report = self._invalid_report(len(steps), mode, reason=str(exc))
        return self._stamp(report, noise_key, changed)

    def _stamp(self, report: RewardReport, noise_key: str | None, changed: list[dict[str, Any]]) -> RewardReport:
        """The schedule's step and values, and the noise applied, into the report (for re-scoring)."""
        if self.training_step is not None or self.schedule:
            report.training_step = self.training_step or 0
            report.schedule = dict(self.schedule)
        if self.noise:
            report.noise_key = noise_key
            report.noise = changed
        return report

    def _score(
        self, steps: Sequence[Mapping[str, Any]], trajectory: Mapping[str, Any], mode: str
    ) -> RewardReport:
        n = len(steps)
        returns = dict.fromkeys(MODES, 0.0)
        trace = [0.0] * n
        at_last_step = 0.0  # contributions of trajectory levels
        reports: list[LevelReport] = []
        non_finite: list[str] = []
        g = q = 1.0  # G_l, and G_l with penalties_bypass gates open (see mode_factors)
        for level in self.levels:
            threshold = level.gate.threshold if level.gate is not None else None
            if level.lazy and mode == "gated" and g == 0.0 and q == 0.0:
                # nothing of it can count: its (expensive) components are never computed
                reports.append(self._level_report(level, threshold, skipped=True))
                continue

            values = level.step_values(steps) if level.is_step else None
            value = level.aggregate(values) if values is not None else level.trajectory_value(trajectory)
            if not (math.isfinite(value) and (values is None or all(map(math.isfinite, values)))):
                non_finite.append(level.name)
            penalties = level.penalty_part(values, value) if q > g else 0.0

            contributions = {}  # what the level adds to each mode's return: w_l (M_l A_l + P_l A_l^-)
            for each in MODES:
                m, p = mode_factors(each, level.index, g, q)
                contributions[each] = level.weight * (m * value + p * penalties)
                returns[each] += contributions[each]
            m, p = mode_factors(mode, level.index, g, q)
            contribution = contributions[mode]
            if n and (m or p):  # spread it over the trace
                if values is None:
                    at_last_step += contribution
                else:
                    shares = trace_shares(level, values, m, p, contribution)
                    trace = [t + s for t, s in zip(trace, shares, strict=True)]

            passed, factor = level.gate_state(value)
            reports.append(
                LevelReport(
                    name=level.name, scope=level.scope, value=value, weight=level.weight,
                    gate_threshold=threshold, gate_open=passed, gate_value=factor, multiplier=m,
                    contribution=contribution,
                )
            )  # fmt: skip
            g *= factor
            if level.gate is None or not level.gate.penalties_bypass:
                q *= factor

        if non_finite:
            raise SpecError(
                f"reward spec {self.name!r}: level(s) {non_finite} computed a non-finite value; "
                "component values must be finite numbers"
            )
        if n:  # the trace sums to the return exactly: rounding goes to the last step
            trace[-1] += at_last_step
            trace[-1] += returns[mode] - sum(trace)
        return RewardReport(
            mode=mode, return_=returns[mode], return_gated=returns["gated"], return_direct=returns["direct"],
            return_outcome=returns["outcome"], levels=reports, step_rewards=trace, spec_name=self.name,
            warnings=self.warnings(steps, trajectory),
        )  # fmt: skip

    @staticmethod
    def _level_report(level: CompiledLevel, threshold: float | None, *, skipped: bool) -> LevelReport:
        """A level that was not computed: value, gate and contribution all 0."""
        return LevelReport(
            name=level.name, scope=level.scope, value=0.0, weight=level.weight, gate_threshold=threshold,
            gate_open=False, gate_value=0.0, multiplier=0.0, contribution=0.0, skipped=skipped,
        )  # fmt: skip

    def _invalid_report(self, n: int, mode: str, reason: str | None = None) -> RewardReport:
        levels = [
            self._level_report(lv, lv.gate.threshold if lv.gate is not None else None, skipped=True)
            for lv in self.levels
        ]
        warnings = [
            "reward_invalid: infrastructure failure; every return is 0 and the episode must be masked"
        ]
        if reason:
            warnings.append(f"component unavailable: {reason}")
        return RewardReport(
            mode=mode, return_=0.0, return_gated=0.0, return_direct=0.0, return_outcome=0.0, levels=levels,
            step_rewards=[0.0] * n, reward_invalid=True, spec_name=self.name, warnings=warnings,
        )  # fmt: skip
