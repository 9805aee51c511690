"""Property-based tests (hypothesis) for the reward layer's invariants (issue 2, item 3)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentgym.rewards import AGGREGATES, MODES, RewardSpec, RewardTracker

STEP_NAMES = ("a", "b", "c")
TRAJ_NAMES = ("o", "p")
finite = st.floats(min_value=-2.0, max_value=2.0, allow_nan=False, allow_infinity=False)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def gates(draw: st.DrawFn, hard_only: bool = False, bypass: bool = True) -> dict | None:
    if draw(st.booleans()):
        return None
    gate: dict = {"threshold": draw(st.floats(-1.0, 1.0)), "op": draw(st.sampled_from([">=", ">"]))}
    if not hard_only and draw(st.integers(0, 3)) == 0:
        gate["soft_temperature"] = draw(st.floats(0.05, 1.0))
    if bypass and draw(st.booleans()):
        gate["penalties_bypass"] = True
    return gate


@st.composite
def levels(draw: st.DrawFn, index: int, hard_only: bool = False, bypass: bool = True) -> dict:
    scope = draw(st.sampled_from(["step", "trajectory"]))
    names = STEP_NAMES if scope == "step" else TRAJ_NAMES
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    level: dict = {
        "name": f"l{index}",
        "scope": scope,
        "components": {n: draw(st.floats(-1.5, 1.5)) for n in chosen},
        "aggregate": draw(st.sampled_from(AGGREGATES)),
        "weight": draw(st.floats(0.0, 3.0)),
    }
    if level["aggregate"] == "softmin":
        level["temperature"] = draw(st.floats(0.05, 2.0))
    if level["aggregate"] == "discounted" or draw(st.booleans()):
        level["gamma"] = draw(st.floats(0.5, 1.0))
    if scope == "step":
        level["transform"] = draw(st.sampled_from(["none", "none", "delta", "potential"]))
    if draw(st.booleans()):
        lo = draw(st.floats(-2.0, 0.0))
        clip: dict = {"min": lo, "max": lo + draw(st.floats(0.0, 3.0))}
        if draw(st.booleans()):
            clip["total"] = {"max": draw(st.floats(-1.0, 5.0))}
        level["clip"] = clip
    gate = draw(gates(hard_only=hard_only, bypass=bypass))
    if gate is not None:
        level["gate"] = gate
    return level


@st.composite
def specs(draw: st.DrawFn, hard_only: bool = False, bypass: bool = True) -> RewardSpec:
    n = draw(st.integers(1, 4))
    return RewardSpec.model_validate(
        {
            "name": "prop",
            "mode": draw(st.sampled_from(MODES)),
            "levels": [draw(levels(i, hard_only=hard_only, bypass=bypass)) for i in range(n)],
        }
    )


steps_strategy = st.lists(
    st.dictionaries(st.sampled_from(STEP_NAMES), finite | st.booleans(), max_size=3), min_size=1, max_size=12
)
trajectory_strategy = st.dictionaries(st.sampled_from(TRAJ_NAMES), finite, max_size=2)


@SETTINGS
@given(spec=specs(), steps=steps_strategy, trajectory=trajectory_strategy)
def test_trace_sums_to_return_in_every_mode(spec: RewardSpec, steps: list, trajectory: dict) -> None:
    for mode in MODES:
        report = spec.score(steps, trajectory, mode=mode)
        assert len(report.step_rewards) == len(steps)
        assert math.isclose(sum(report.step_rewards), report.return_, abs_tol=1e-9)
        assert report.return_ == report.returns()[mode]
        assert math.isclose(sum(lv.contribution for lv in report.levels), report.return_, abs_tol=1e-9)


@SETTINGS
@given(spec=specs(hard_only=True, bypass=False), steps=steps_strategy, trajectory=trajectory_strategy)
def test_closed_gate_zeroes_every_lower_level(spec: RewardSpec, steps: list, trajectory: dict) -> None:
    report = spec.score(steps, trajectory, mode="gated")
    closed_at = next((i for i, lv in enumerate(report.levels) if not lv.gate_open), None)
    if closed_at is None:
        assert report.return_gated == report.return_direct or math.isclose(
            report.return_gated, report.return_direct, abs_tol=1e-9
        )
        return
    for lower in report.levels[closed_at + 1 :]:
        assert lower.multiplier == 0.0 and lower.contribution == 0.0
    upper = sum(lv.weight * lv.value for lv in report.levels[: closed_at + 1])
    assert math.isclose(report.return_gated, upper, abs_tol=1e-9)


@SETTINGS
@given(spec=specs(hard_only=True, bypass=False), steps=steps_strategy, trajectory=trajectory_strategy)
def test_direct_equals_gated_when_all_gates_open(spec: RewardSpec, steps: list, trajectory: dict) -> None:
    report = spec.score(steps, trajectory)
    if all(lv.gate_open for lv in report.levels[:-1]):
        assert math.isclose(report.return_gated, report.return_direct, abs_tol=1e-9)
        assert math.isclose(
            sum(spec.score(steps, trajectory, mode="gated").step_rewards),
            sum(spec.score(steps, trajectory, mode="direct").step_rewards),
            abs_tol=1e-9,
        )


@SETTINGS
@given(spec=specs(hard_only=True), steps=steps_strategy, trajectory=trajectory_strategy, data=st.data())
def test_equality_at_threshold_opens(
    spec: RewardSpec, steps: list, trajectory: dict, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(spec.levels) - 1))
    value = spec.score(steps, trajectory, mode="direct").levels[index].value
    levels = [lv.model_dump() for lv in spec.levels]
    levels[index]["gate"] = {"threshold": value}  # the level's aggregate sits exactly at its threshold
    at_threshold = RewardSpec.model_validate({"name": "eq", "levels": levels})
    report = at_threshold.score(steps, trajectory, mode="direct")
    assert report.levels[index].value == value and report.levels[index].gate_open
    strict = [dict(lv) for lv in levels]
    strict[index] = {**levels[index], "gate": {"threshold": value, "op": ">"}}
    strict_spec = RewardSpec.model_validate({"name": "eq", "levels": strict})
    assert not strict_spec.score(steps, trajectory, mode="direct").levels[index].gate_open


@SETTINGS
@given(
    top=st.floats(-1.0, 0.999),
    middle=st.floats(0.5, 2.0),
    low=st.lists(finite, min_size=1, max_size=8),
    weights=st.tuples(st.floats(0.1, 3.0), st.floats(0.1, 3.0), st.floats(0.1, 3.0)),
)
def test_failing_top_closes_all_lower_even_if_middle_passes(
    top: float, middle: float, low: list, weights: tuple
) -> None:
    spec = RewardSpec.model_validate(
        {
            "levels": [
                {
                    "name": "top",
                    "scope": "trajectory",
                    "components": ["o"],
                    "gate": {"threshold": 1.0},
                    "weight": weights[0],
                },
                {
                    "name": "mid",
                    "scope": "step",
                    "components": ["a"],
                    "aggregate": "max",
                    "gate": {"threshold": 0.5},
                    "weight": weights[1],
                },
                {"name": "low", "scope": "step", "components": ["b"], "weight": weights[2]},
            ]
        }
    )
    steps = [{"a": middle, "b": v} for v in low]
    report = spec.score(steps, {"o": top})
    assert not report.levels[0].gate_open and report.levels[1].gate_open
    assert report.levels[1].multiplier == 0.0 and report.levels[2].multiplier == 0.0
    assert math.isclose(report.return_gated, weights[0] * top, abs_tol=1e-12)
    assert all(r == 0.0 for r in report.step_rewards[:-1])


@SETTINGS
@given(spec=specs(), steps=steps_strategy, trajectory=trajectory_strategy, invalid=st.booleans())
def test_dense_emission_sums_to_return(
    spec: RewardSpec, steps: list, trajectory: dict, invalid: bool
) -> None:
    for emission in ("terminal", "dense"):
        tracker = RewardTracker(spec, emission=emission)
        emitted = [tracker.step(c) for c in steps]
        report, correction = tracker.finish(trajectory, reward_invalid=invalid)
        assert math.isclose(sum(emitted) + correction, report.return_, abs_tol=1e-9)
        assert report == spec.score(steps, trajectory, reward_invalid=invalid)
        if emission == "terminal":
            assert emitted == [0.0] * len(steps)


@st.composite
def plain_sum_specs(draw: st.DrawFn) -> RewardSpec:
    """Step levels summed without clip.total (so their trace shares need no rescaling), any
    transform / per-step clip / weight, optionally trajectory levels; no gates."""
    n = draw(st.integers(1, 4))
    out = []
    for i in range(n):
        level = draw(levels(i))
        level.pop("gate", None)
        if level["scope"] == "step":
            level["aggregate"] = "sum"
            level.pop("temperature", None)
            if "clip" in level:
                level["clip"].pop("total", None)
        out.append(level)
    return RewardSpec.model_validate({"name": "plain", "mode": draw(st.sampled_from(MODES)), "levels": out})


@SETTINGS
@given(spec=plain_sum_specs(), steps=steps_strategy, trajectory=trajectory_strategy)
def test_dense_emission_matches_offline_trace(spec: RewardSpec, steps: list, trajectory: dict) -> None:
    """Where nothing is gated or rescaled, the tracker's provisional per-step rewards are the
    offline trace itself: both come from the same per-level transform and clip."""
    direct = spec.with_mode("direct")
    tracker = RewardTracker(direct, emission="dense")
    emitted = [tracker.step(c) for c in steps]
    report, correction = tracker.finish(trajectory)
    offline = direct.score(steps, trajectory)
    assert report == offline
    for t in range(len(steps) - 1):  # the last step also carries the trajectory levels
        assert math.isclose(emitted[t], offline.step_rewards[t], rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(sum(emitted) + correction, offline.return_, abs_tol=1e-9)


@SETTINGS
@given(spec=specs(), steps=steps_strategy, trajectory=trajectory_strategy, data=st.data())
def test_dense_emission_equals_shape_of_each_level(
    spec: RewardSpec, steps: list, trajectory: dict, data: st.DataObject
) -> None:
    """Dense emission at step t is sum_l w_l v_{l,t} with v the level's transformed, clipped values
    (r_{l,-1} = 0), recomputed here from the level options, independently of the engine."""
    tracker = RewardTracker(spec, emission="dense")
    emitted = [tracker.step(c) for c in steps]
    expected = [0.0] * len(steps)
    for level in spec.levels:
        if level.scope != "step":
            continue
        raws = [sum(coef * float(c.get(name, 0.0)) for name, coef in level.components.items()) for c in steps]
        previous = [0.0, *raws[:-1]]
        gamma = level.effective_gamma
        for t, (r, p) in enumerate(zip(raws, previous, strict=True)):
            v = {"none": r, "delta": r - p, "potential": gamma * r - p}[level.transform]
            if level.clip is not None:
                lo = level.clip.min if level.clip.min is not None else -math.inf
                hi = level.clip.max if level.clip.max is not None else math.inf
                v = min(max(v, lo), hi)
            expected[t] += level.weight * v
    for got, want in zip(emitted, expected, strict=True):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    invalid = data.draw(st.booleans())
    report, correction = tracker.finish(trajectory, reward_invalid=invalid)
    assert math.isclose(sum(emitted) + correction, report.return_, abs_tol=1e-9)
