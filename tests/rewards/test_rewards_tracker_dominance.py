"""RewardTracker emission (terminal / dense) and the dominance check."""

from __future__ import annotations

import pickle

import pytest
from _reward_cases import STALL_SPEC, make_spec

from agentgym.rewards import RewardSpec, RewardTracker, SpecError, check_dominance


def run(tracker: RewardTracker, steps: list[dict], trajectory: dict, invalid: bool = False) -> list[float]:
    emitted = [tracker.step(c) for c in steps]
    report, correction = tracker.finish(trajectory, reward_invalid=invalid)
    emitted[-1] += correction
    return emitted


def test_terminal_emission(stall_spec: RewardSpec) -> None:
    tracker = RewardTracker(stall_spec)
    steps = [{"critic": 0.05}] * 4
    emitted = run(tracker, steps, {"outcome": "tests_pass"})
    assert emitted[:-1] == [0.0, 0.0, 0.0]
    assert emitted[-1] == pytest.approx(1.2) == tracker.report.return_
    assert tracker.report == stall_spec.score(steps, {"outcome": "tests_pass"})
    with pytest.raises(RuntimeError):
        tracker.step({"critic": 1.0})


def test_dense_emission_sums_to_return(stall_spec: RewardSpec) -> None:
    steps = [{"critic": 0.05}] * 4
    tracker = RewardTracker(stall_spec, emission="dense")
    emitted = run(tracker, steps, {"outcome": "no_submit"})
    assert emitted[:3] == pytest.approx([0.05] * 3)  # provisional: gates treated as open
    assert sum(emitted) == pytest.approx(0.0, abs=1e-12)  # the gate closed: correction takes it back
    tracker = RewardTracker(stall_spec, emission="dense")
    assert sum(run(tracker, steps, {"outcome": "tests_pass"})) == pytest.approx(1.2)


def test_dense_provisional_uses_transform_clip_and_weight() -> None:
    spec = make_spec(
        {
            "name": "s",
            "scope": "step",
            "components": ["s"],
            "transform": "delta",
            "clip": {"max": 0.3},
            "weight": 2.0,
        }
    )
    tracker = RewardTracker(spec, emission="dense")
    assert [tracker.step({"s": v}) for v in (0.2, 0.8, 0.5)] == pytest.approx([0.4, 0.6, -0.6])
    report, correction = tracker.finish({})
    assert sum(tracker.emitted) + correction == pytest.approx(report.return_)


def test_invalid_episode_emits_zero_sum(stall_spec: RewardSpec) -> None:
    tracker = RewardTracker(stall_spec, emission="dense")
    emitted = run(tracker, [{"critic": 0.5}] * 3, {}, invalid=True)
    assert sum(emitted) == pytest.approx(0.0) and tracker.report.reward_invalid


def test_spec_tracker_and_report_pickle(stall_spec: RewardSpec) -> None:
    steps = [{"critic": 0.05}] * 3
    stall_spec.score(steps, {"outcome": "tests_fail"})  # builds the compiled form
    spec = pickle.loads(pickle.dumps(stall_spec))
    assert spec == stall_spec
    tracker = RewardTracker(spec, emission="dense")
    tracker.step(steps[0])
    tracker = pickle.loads(pickle.dumps(tracker))  # e.g. an env sent to a worker mid-episode
    for c in steps[1:]:
        tracker.step(c)
    report, _ = tracker.finish({"outcome": "tests_fail"})
    assert report == stall_spec.score(steps, {"outcome": "tests_fail"})
    assert pickle.loads(pickle.dumps(report)) == report


def test_add_step_components_after_the_fact() -> None:
    spec = make_spec(
        {"name": "turns", "scope": "step", "components": {"action_valid": 0.1, "checklist": 1.0}},
    )
    steps = [{"action_valid": 1.0}, {"action_valid": 0.0}, {"action_valid": 1.0}]
    verdicts = [{"checklist": 0.5}, {"checklist": 0.0}, {"checklist": 1.0}]
    tracker = RewardTracker(spec, emission="dense")
    emitted = [tracker.step(c) for c in steps]
    assert emitted == pytest.approx([0.1, 0.0, 0.1])  # the judge has not run yet
    with pytest.raises(ValueError, match="got 2 steps, the episode has 3"):
        tracker.add_step_components(verdicts[:2])
    tracker.add_step_components(verdicts)
    report, correction = tracker.finish({})
    merged = [{**a, **b} for a, b in zip(steps, verdicts, strict=True)]
    assert report == spec.score(merged, {})
    assert sum(emitted) + correction == pytest.approx(report.return_) == pytest.approx(1.7)
    with pytest.raises(RuntimeError):
        tracker.add_step_components(verdicts)


def test_bad_emission() -> None:
    with pytest.raises(ValueError, match="emission"):
        RewardTracker(RewardSpec.model_validate(STALL_SPEC), emission="sparse")


# ---------------------------------------------------------------- dominance
def unsafe_spec(mode: str = "gated") -> RewardSpec:
    return RewardSpec.model_validate({**STALL_SPEC, "mode": mode})


def test_dominance_warns_on_unsafe_spec() -> None:
    bounds = {"critic": (0.0, 0.05)}
    direct = check_dominance(unsafe_spec("direct"), bounds, horizon=20)
    # D-RA: 20 * 0.05 = 1.0 of critic reward swamps the 0.1 gap between no_submit and tests_fail
    assert any("'no_submit'" in m and "'tests_fail'" in m for m in direct)
    gated = check_dominance(unsafe_spec("gated"), bounds, horizon=20)
    assert not any("'no_submit'" in m for m in gated)  # the gate protects that pair ...
    assert any("'tests_fail'" in m and "'tests_pass'" in m for m in gated)  # ... not pass vs fail
    with pytest.raises(SpecError, match="dominance"):
        check_dominance(unsafe_spec("direct"), bounds, horizon=20, strict=True)


def test_dominance_silent_on_safe_spec() -> None:
    spec = make_spec(
        {
            "name": "outcome",
            "scope": "trajectory",
            "components": ["outcome"],
            "values": {"no_submit": 0.0, "tests_fail": 0.2, "tests_pass": 1.0},
            "gate": {"threshold": 0.2},
        },
        {
            "name": "process",
            "scope": "step",
            "components": {"ok": 0.05, "repeated_action": -0.05},
            "clip": {"total": {"min": -0.1, "max": 0.1}},
        },
    )
    assert check_dominance(spec, {"ok": (0.0, 1.0)}, horizon=50) == []
    assert check_dominance(spec, {"ok": (0.0, 1.0)}, horizon=50, strict=True) == []
    assert check_dominance(spec.with_mode("outcome"), {}, horizon=50) == []


def test_dominance_across_threshold_with_penalties() -> None:
    spec = make_spec(
        {
            "name": "outcome",
            "scope": "trajectory",
            "components": ["o"],
            "values": {"fail": 0.0, "pass": 1.0},
            "gate": {"threshold": 1.0},
        },
        {"name": "cost", "scope": "step", "components": {"turn": -0.1}},
    )
    messages = check_dominance(spec, {"turn": (1.0, 1.0)}, horizon=20)  # up to -2.0 of turn cost
    assert any("failing the gate can pay more" in m for m in messages)
    assert check_dominance(spec, {"turn": (1.0, 1.0)}, horizon=5) == []


def test_dominance_reports_unbounded_component() -> None:
    messages = check_dominance(unsafe_spec(), {}, horizon=10)
    assert messages and "no bounds" in messages[0] and "'critic'" in messages[0]
