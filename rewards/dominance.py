"""Dominance check (G-RA, arXiv 2508.10548): can lower levels reverse the order of a level's outcomes?

For a level l whose values are discrete labels (``values``), with the contributions of the levels
below bounded in [L, U] over an episode of at most `horizon` steps, an outcome gap g keeps its
order only if ``w_l * g > U - L`` (both outcomes open the gate, or the level has no gate / the
mode is direct) and ``w_l * g > -L`` (the better outcome opens the gate, the worse one closes it).
Levels without discrete values are not checked. Bounds come from `component_bounds` (per-step
bounds of step components and bounds of numeric trajectory components) and from ``values``.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from agentgym.rewards.engine import UNBOUNDED, clip
from agentgym.rewards.spec import SpecError

if TYPE_CHECKING:
    from agentgym.rewards.engine import CompiledLevel
    from agentgym.rewards.spec import RewardSpec

# step components every AgentEnv emits
CORE_COMPONENT_BOUNDS: dict[str, tuple[float, float]] = {
    "action_valid": (0.0, 1.0),
    "invalid_action": (0.0, 1.0),
    "repeated_action": (0.0, 1.0),
}
_TOL = 1e-12


def _component_range(
    level: CompiledLevel, name: str, bounds: dict[str, tuple[float, float]]
) -> tuple[float, float] | None:
    if name in bounds:
        lo, hi = bounds[name]
        lo, hi = float(lo), float(hi)
    elif level.values:
        lo, hi = min(level.values.values()), max(level.values.values())
    else:
        return None
    return min(lo, 0.0), max(hi, 0.0)  # a missing component counts 0


def _raw_range(level: CompiledLevel, bounds: dict[str, tuple[float, float]]) -> tuple[float, float] | str:
    lo = hi = 0.0
    for name, coef in level.components:
        rng = _component_range(level, name, bounds)
        if rng is None:
            return name
        a, b = coef * rng[0], coef * rng[1]
        lo += min(a, b)
        hi += max(a, b)
    return lo, hi


def _clip(lo: float, hi: float, cmin: float, cmax: float) -> tuple[float, float]:
    return min(max(lo, cmin), cmax), min(max(hi, cmin), cmax)


def level_range(
    level: CompiledLevel, bounds: dict[str, tuple[float, float]], horizon: int
) -> tuple[float, float] | str:
    """Bounds of the level's value A_l over episodes of 0..horizon steps (or the unbounded name)."""
    rng = _raw_range(level, bounds)
    if isinstance(rng, str):
        return rng
    lo, hi = rng
    if not level.is_step:
        lo, hi = _clip(lo, hi, *level.step_clip)
        return _clip(lo, hi, *level.total_clip)
    telescopes = level.transform != "none" and level.gamma == 1.0 and level.step_clip == UNBOUNDED
    if level.transform != "none":
        gamma = level.gamma
        lo, hi = min(gamma * lo - hi, gamma * lo), max(gamma * hi - lo, gamma * hi)
    lo, hi = _clip(lo, hi, *level.step_clip)
    n = max(int(horizon), 1)
    agg = level.aggregation
    if agg == "sum" and telescopes:
        lo, hi = rng  # sum of deltas = last raw value
    elif agg == "sum":
        lo, hi = min(lo, n * lo), max(hi, n * hi)
    elif agg == "discounted":
        g = level.gamma
        total = n if g == 1.0 else (1.0 - g**n) / (1.0 - g)
        lo, hi = min(lo, total * lo), max(hi, total * hi)
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # zero steps
    return _clip(lo, hi, *level.total_clip)


def _discrete_values(level: CompiledLevel) -> list[float] | None:
    if not level.values:
        return None
    choices = sorted(set(level.values.values()) | {0.0})
    if len(level.components) > 3:
        return None
    outcomes = set()
    for combo in itertools.product(choices, repeat=len(level.components)):
        value = sum(coef * v for (_, coef), v in zip(level.components, combo, strict=True))
        outcomes.add(round(clip(clip(value, level.step_clip), level.total_clip), 12))
    if len(level.components) == 1:  # a present label is the common case; drop the implicit 0 unless mapped
        coef = level.components[0][1]
        mapped = {round(clip(coef * v, level.step_clip), 12) for v in level.values.values()}
        outcomes = {clip(v, level.total_clip) for v in mapped}
    return sorted(outcomes)


def _labels(level: CompiledLevel, value: float) -> str:
    if level.values and len(level.components) == 1:
        coef = level.components[0][1]
        names = [k for k, v in level.values.items() if math.isclose(coef * v, value, abs_tol=1e-12)]
        if names:
            return "/".join(repr(n) for n in names) + f" ({value:g})"
    return f"{value:g}"


def check_dominance(
    spec: RewardSpec,
    component_bounds: dict[str, tuple[float, float]] | None,
    horizon: int,
    strict: bool = False,
) -> list[str]:
    """Warnings where lower levels can reverse a level's outcome order; strict=True raises SpecError."""
    compiled = spec.compiled
    bounds = {**CORE_COMPONENT_BOUNDS, **(component_bounds or {})}
    messages: list[str] = []
    if spec.mode == "outcome":
        return messages
    ranges: list[tuple[float, float] | str] = [level_range(lv, bounds, horizon) for lv in compiled.levels]
    for index, level in enumerate(compiled.levels[:-1]):
        outcomes = _discrete_values(level)
        if outcomes is None or len(outcomes) < 2:
            continue
        lower_lo = lower_hi = 0.0
        unbounded = None
        gated_between = False  # a gate strictly between l and k can zero level k
        for below in compiled.levels[index + 1 :]:
            rng = ranges[below.index]
            if isinstance(rng, str):
                unbounded = (below.name, rng)
                break
            a, b = below.weight * rng[0], below.weight * rng[1]
            lo, hi = min(a, b), max(a, b)
            if gated_between and spec.mode == "gated":
                lo, hi = min(lo, 0.0), max(hi, 0.0)
            lower_lo += lo
            lower_hi += hi
            gated_between = gated_between or below.gate is not None
        if unbounded is not None:
            messages.append(
                f"dominance: cannot check level {level.name!r}: component {unbounded[1]!r} of level "
                f"{unbounded[0]!r} has no bounds (add it to the env's component_bounds)"
            )
            continue
        weight = abs(level.weight)
        swing = lower_hi - lower_lo
        gate = level.gate if spec.mode == "gated" else None
        if gate is not None:
            opened = [v for v in outcomes if gate.passes(v)]
            closed = [v for v in outcomes if v not in opened]
        else:
            opened, closed = outcomes, []
        for a, b in itertools.pairwise(opened):
            if weight * (b - a) <= swing + _TOL:
                messages.append(
                    f"dominance: level {level.name!r}: the gap between {_labels(level, a)} and {_labels(level, b)} "
                    f"(weight x gap = {weight * (b - a):g}) does not exceed the swing of the levels below "
                    f"(U - L = {swing:g} over {horizon} steps); lower-level rewards can reverse this order"
                )
        if closed and opened and lower_lo < 0.0:
            a, b = max(closed), min(opened)
            if weight * (b - a) <= -lower_lo + _TOL:
                messages.append(
                    f"dominance: level {level.name!r}: passing the gate with {_labels(level, b)} instead of "
                    f"{_labels(level, a)} gains {weight * (b - a):g} but the levels below can lose up to "
                    f"{-lower_lo:g} (-L) over {horizon} steps; failing the gate can pay more"
                )
        if closed and gate is not None and gate.penalties_bypass and lower_lo < 0.0:
            for a, b in itertools.pairwise(closed):
                if weight * (b - a) <= -lower_lo + _TOL:
                    messages.append(
                        f"dominance: level {level.name!r}: with penalties_bypass, penalties of the levels below "
                        f"(down to {lower_lo:g}) can reverse {_labels(level, a)} and {_labels(level, b)}"
                    )
    if strict and messages:
        raise SpecError(f"reward spec {spec.name!r} fails the dominance check: " + " | ".join(messages))
    return messages
