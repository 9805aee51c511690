"""Scoring engine: a validated `RewardSpec` compiled into plain Python for the hot path.

`CompiledSpec.score` finalizes an episode from its step components and trajectory components.
No pydantic validation happens here; reports are built without validation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentgym.rewards.report import LevelReport, RewardReport
from agentgym.rewards.spec import MODES, ComponentUnavailable, SpecError

if TYPE_CHECKING:
    from agentgym.rewards.spec import RewardSpec

_INF = math.inf


def _fast(cls: Any, data: dict[str, Any]) -> Any:
    """Build a pydantic model instance from complete, already-valid field data (no validation).

    Same effect as `model_construct` with every field given, at a fraction of its cost.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", data)
    object.__setattr__(obj, "__pydantic_fields_set__", set(data))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def _level_report(
    name: str, scope: str, value: float, weight: float, threshold: float | None, gate_open: bool,
    gate_value: float, multiplier: float, contribution: float, skipped: bool,
) -> LevelReport:  # fmt: skip
    return _fast(
        LevelReport,
        {
            "name": name, "scope": scope, "value": value, "weight": weight, "gate_threshold": threshold,
            "gate_open": gate_open, "gate_value": gate_value, "multiplier": multiplier,
            "contribution": contribution, "skipped": skipped,
        },
    )  # fmt: skip


def _make_fast_raw(comps: tuple[tuple[str, float], ...]) -> tuple[Callable, Callable]:
    """Generated `steps -> [r_t]` and `components -> r` for numeric components (None counts 0).

    A string (label) or other non-number raises TypeError; callers fall back to the slow path.
    """
    args = ", ".join(f"_n{i}, _k{i}" for i in range(len(comps)))
    expr = " + ".join(f"_k{i} * (c.get(_n{i}) or 0.0)" for i in range(len(comps)))
    source = (
        f"def _factory({args}):\n    return (lambda steps: [{expr} for c in steps]), (lambda c: {expr})\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - names and coefficients are passed as arguments, not code
    flat = [x for name, coef in comps for x in (name, coef)]
    return namespace["_factory"](*flat)


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class CompiledLevel:
    """One level as plain attributes (see `Level` for the meaning of each option)."""

    __slots__ = (
        "spec", "index", "name", "scope", "is_step", "comps", "single", "values", "agg", "temperature", "gamma",
        "transform", "cmin", "cmax", "has_clip", "tmin", "tmax", "has_total", "weight", "has_gate",
        "threshold", "strict", "eps", "soft_t", "bypass", "lazy", "plain_sum", "plain_mean", "fast_steps", "fast_one",
    )  # fmt: skip

    def __init__(self, index: int, spec: RewardSpec) -> None:
        level = spec.levels[index]
        self.spec = spec
        self.index = index
        self.name = level.name
        self.scope = level.scope
        self.is_step = level.scope == "step"
        self.comps: tuple[tuple[str, float], ...] = tuple((k, float(v)) for k, v in level.components.items())
        self.single = self.comps[0] if len(self.comps) == 1 else None
        self.values: dict[str, float] | None = dict(level.values) if level.values else None
        self.agg = level.aggregate
        self.temperature = level.temperature
        self.gamma = level.effective_gamma
        self.transform = level.transform
        clip = level.clip
        self.cmin = clip.min if clip is not None and clip.min is not None else -_INF
        self.cmax = clip.max if clip is not None and clip.max is not None else _INF
        self.has_clip = self.cmin > -_INF or self.cmax < _INF
        total = clip.total if clip is not None else None
        self.tmin = total.min if total is not None and total.min is not None else -_INF
        self.tmax = total.max if total is not None and total.max is not None else _INF
        self.has_total = self.tmin > -_INF or self.tmax < _INF
        self.weight = float(level.weight)
        threshold = spec.gate_threshold(index)
        gate = level.gate
        self.has_gate = threshold is not None
        self.threshold = float(threshold) if threshold is not None else 0.0
        self.strict = gate is not None and gate.op == ">"
        self.eps = gate.eps if gate is not None else 1e-9
        self.soft_t = gate.soft_temperature if gate is not None else None
        self.bypass = bool(gate is not None and gate.penalties_bypass)
        self.lazy = level.lazy
        self.plain_sum = self.agg == "sum" and not self.has_total
        self.plain_mean = self.agg == "mean" and not self.has_total
        self.fast_steps, self.fast_one = _make_fast_raw(self.comps)

    def __reduce__(self) -> tuple[Any, ...]:  # generated functions do not pickle; rebuild instead
        return (CompiledLevel, (self.index, self.spec))

    # ---------------------------------------------------------------- component values
    def resolve(self, name: str, value: Any) -> float:
        """Number for one component value: labels via `values`, bools as 0/1, callables called."""
        if callable(value):
            value = value()
        if value is None:
            return 0.0
        if isinstance(value, str):
            if self.values is not None and value in self.values:
                return self.values[value]
            known = sorted(self.values) if self.values else []
            raise SpecError(
                f"level {self.name!r}: component {name!r} has label {value!r}, which the level's `values` "
                f"does not map (known labels: {known})"
            )
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SpecError(
                f"level {self.name!r}: component {name!r} has value {value!r} of type {type(value).__name__}; "
                "expected a number, bool or label"
            ) from None

    def raw(self, components: Mapping[str, Any]) -> float:
        """r_{l,t}: sum of coefficient * value over the level's components (missing = 0)."""
        total = 0.0
        for name, coef in self.comps:
            value = components.get(name)
            if value is None:
                continue
            try:
                total += coef * value  # float * str/callable raises TypeError -> slow path
            except TypeError:
                total += coef * self.resolve(name, value)
        return total

    def raw_steps(self, steps: Sequence[Mapping[str, Any]]) -> list[float]:
        """[r_{l,t} for each step]."""
        if self.values is None:
            try:
                return self.fast_steps(steps)
            except TypeError:  # a label or an odd value: the slow path explains it
                pass
        raw = self.raw
        return [raw(c) for c in steps]

    def raw_one(self, components: Mapping[str, Any]) -> float:
        if self.values is None:
            try:
                return self.fast_one(components)
            except TypeError:
                pass
        return self.raw(components)

    # ---------------------------------------------------------------- per-level math
    def shape(self, values: list[float]) -> list[float]:
        """Transform then per-step clip."""
        if self.transform == "delta":
            prev = 0.0
            out = []
            for v in values:
                out.append(v - prev)
                prev = v
            values = out
        elif self.transform == "potential":
            gamma = self.gamma
            prev = 0.0
            out = []
            for v in values:
                out.append(gamma * v - prev)
                prev = v
            values = out
        if self.has_clip:
            lo, hi = self.cmin, self.cmax
            values = [lo if v < lo else hi if v > hi else v for v in values]
        return values

    def aggregate(self, values: list[float]) -> float:
        n = len(values)
        agg = self.agg
        if n == 0:
            value = 0.0
        elif agg == "sum":
            value = sum(values)
        elif agg == "mean":
            value = sum(values) / n
        elif agg == "last":
            value = values[-1]
        elif agg == "min":
            value = min(values)
        elif agg == "max":
            value = max(values)
        elif agg == "softmin":
            low = min(values)
            temperature = self.temperature
            weights = [math.exp(-(v - low) / temperature) for v in values]
            value = sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)
        else:  # discounted
            gamma = self.gamma
            value = 0.0
            factor = 1.0
            for v in values:
                value += factor * v
                factor *= gamma
        if self.has_total:
            value = self.tmin if value < self.tmin else self.tmax if value > self.tmax else value
        return value

    def gate(self, value: float) -> tuple[bool, float]:
        """(hard test passed, multiplier passed to the levels below)."""
        if not self.has_gate:
            return True, 1.0
        if self.strict:
            passed = value > self.threshold + self.eps
        else:
            passed = value >= self.threshold - self.eps
        if self.soft_t is not None:
            return passed, _sigmoid((value - self.threshold) / self.soft_t)
        return passed, 1.0 if passed else 0.0


class CompiledSpec:
    """A RewardSpec in plain-Python form; `score` is the finalization hot path."""

    def __init__(self, spec: RewardSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.levels = [CompiledLevel(i, spec) for i in range(len(spec.levels))]
        self.step_names = sorted({n for lv in self.levels if lv.is_step for n, _ in lv.comps})
        self.trajectory_names = sorted({n for lv in self.levels if not lv.is_step for n, _ in lv.comps})

    def __reduce__(self) -> tuple[Any, ...]:
        return (CompiledSpec, (self.spec,))

    def warnings(self, steps: Sequence[Mapping[str, Any]], trajectory: Mapping[str, Any]) -> list[str]:
        """Names the spec reads that the episode never emitted (counted as 0)."""
        out: list[str] = []
        first = steps[0] if steps else {}
        for name in self.step_names:
            if name not in first and not any(name in c for c in steps):
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
        step_values: list[list[float] | None] | None = None,
    ) -> RewardReport:
        """Finalize an episode. `step_values` (optional): precomputed raw r_{l,t} per level.

        A component callable that raises `ComponentUnavailable` (a lazy judge that timed out or
        failed) makes the report `reward_invalid`, with the reason among its warnings.
        """
        if mode not in MODES:
            raise SpecError(f"mode: unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        n = len(steps)
        if reward_invalid:
            return self._invalid_report(n, mode)
        try:
            return self._score(steps, trajectory, n, mode, step_values)
        except ComponentUnavailable as exc:
            return self._invalid_report(n, mode, reason=str(exc))

    def _score(
        self,
        steps: Sequence[Mapping[str, Any]],
        trajectory: Mapping[str, Any],
        n: int,
        mode: str,
        step_values: list[list[float] | None] | None,
    ) -> RewardReport:

        levels_out: list[LevelReport] = []
        parts: list[tuple[float, list[float]]] = []  # (factor, per-step values) of step levels
        last = 0.0  # trajectory levels' contributions, added at the last step
        r_gated = r_direct = r_outcome = 0.0
        g_mult = 1.0  # G_l: product of the gates above (gated mode)
        q_mult = 1.0  # like G_l, but gates with penalties_bypass count as open (penalties only)
        is_gated = mode == "gated"
        for level in self.levels:
            index = level.index
            threshold = level.threshold if level.has_gate else None
            if level.lazy and is_gated and g_mult == 0.0 and q_mult == 0.0:
                levels_out.append(
                    _level_report(
                        level.name, level.scope, 0.0, level.weight, threshold, False, 0.0, 0.0, 0.0, True
                    )
                )
                continue
            # multiplier and penalty factor of this level under the requested mode
            if is_gated:
                mult, pen = g_mult, q_mult - g_mult
            elif mode == "direct":
                mult, pen = 1.0, 0.0
            else:
                mult, pen = (1.0 if index == 0 else 0.0), 0.0

            if level.is_step:
                raw = step_values[index] if step_values is not None else None
                if raw is None:
                    raw = level.raw_steps(steps)
                values = level.shape(raw)
                value = level.aggregate(values)
            else:
                values = None
                value = level.raw(trajectory)
                if level.has_clip:
                    value = level.cmin if value < level.cmin else level.cmax if value > level.cmax else value
                if level.has_total:
                    value = level.tmin if value < level.tmin else level.tmax if value > level.tmax else value

            weight = level.weight
            gated_pen = q_mult - g_mult
            negative = 0.0
            if gated_pen > 0.0 or pen > 0.0:
                if values is None:
                    negative = value if value < 0.0 else 0.0
                else:
                    negative = level.aggregate([v if v < 0.0 else 0.0 for v in values])
            r_gated += weight * (g_mult * value + gated_pen * negative)
            r_direct += weight * value
            if index == 0:
                r_outcome += weight * value
            contribution = weight * (mult * value + pen * negative)

            if contribution != 0.0 and n:
                if values is None:
                    last += contribution
                else:
                    if pen > 0.0:
                        shaped = [mult * v + (pen * v if v < 0.0 else 0.0) for v in values]
                        factor = weight
                    else:
                        shaped = values
                        factor = weight * mult
                    if level.plain_sum:
                        pass
                    elif level.plain_mean and pen == 0.0:
                        factor /= n
                    else:
                        total = sum(shaped)
                        if total != 0.0 and (abs(total) > 1e-9 or abs(total) > 1e-12 * sum(map(abs, shaped))):
                            factor = contribution / total
                        else:
                            shaped = [contribution / n] * n  # spread evenly
                            factor = 1.0
                    parts.append((factor, shaped))

            passed, gate_value = level.gate(value)
            levels_out.append(
                _level_report(
                    level.name,
                    level.scope,
                    value,
                    weight,
                    threshold,
                    passed,
                    gate_value,
                    mult,
                    contribution,
                    False,
                )
            )
            g_mult *= gate_value
            if not level.bypass:
                q_mult *= gate_value

        if not math.isfinite(r_gated + r_direct + r_outcome):
            bad = [lv.name for lv in levels_out if not math.isfinite(lv.value)]
            raise SpecError(
                f"reward spec {self.name!r}: level(s) {bad or [lv.name for lv in levels_out]} computed a non-finite "
                "value; component values must be finite numbers"
            )
        ret_mode = r_gated if is_gated else r_direct if mode == "direct" else r_outcome
        if not n:
            trace: list[float] = []
        elif not parts:
            trace = [0.0] * n
        elif len(parts) == 1:
            f1, s1 = parts[0]
            trace = [f1 * v for v in s1]
        elif len(parts) == 2:
            (f1, s1), (f2, s2) = parts
            trace = [f1 * a + f2 * b for a, b in zip(s1, s2, strict=True)]
        else:
            trace = [0.0] * n
            for factor, shaped in parts:
                trace = [a + factor * v for a, v in zip(trace, shaped, strict=True)]
        if n:
            trace[-1] += last
            residual = ret_mode - sum(trace)
            if residual != 0.0:
                trace[-1] += residual
        return _fast(
            RewardReport,
            {
                "mode": mode, "return_": ret_mode, "return_gated": r_gated, "return_direct": r_direct,
                "return_outcome": r_outcome, "levels": levels_out, "step_rewards": trace,
                "reward_invalid": False, "spec_name": self.name, "warnings": self.warnings(steps, trajectory),
            },
        )  # fmt: skip

    def _invalid_report(self, n: int, mode: str, reason: str | None = None) -> RewardReport:
        levels = [
            _level_report(
                lv.name,
                lv.scope,
                0.0,
                lv.weight,
                lv.threshold if lv.has_gate else None,
                False,
                0.0,
                0.0,
                0.0,
                True,
            )  # fmt: skip
            for lv in self.levels
        ]
        return RewardReport.model_construct(
            mode=mode, return_=0.0, return_gated=0.0, return_direct=0.0, return_outcome=0.0, levels=levels,
            step_rewards=[0.0] * n, reward_invalid=True, spec_name=self.name,
            warnings=["reward_invalid: infrastructure failure; every return is 0 and the episode must be masked"]
            + ([f"component unavailable: {reason}"] if reason else []),
        )  # fmt: skip
