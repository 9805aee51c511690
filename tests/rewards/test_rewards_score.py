"""Finalization semantics: aggregates, transforms, clips, gates, labels, edge cases (G-RA and its edge cases)."""

from __future__ import annotations

import math

import pytest
from _reward_cases import make_spec

from agentgym.rewards import ComponentUnavailable, RewardReport, RewardSpec, RewardTracker, SpecError

STEP = "step"
TRAJ = "trajectory"


def one_level(values: list[float], **level) -> RewardReport:
    spec = make_spec({"name": "l", "scope": STEP, "components": ["x"], **level})
    return spec.score([{"x": v} for v in values], {})


def outcome_and_steps(threshold: float = 0.5, **gate) -> RewardSpec:
    return make_spec(
        {"name": "outcome", "scope": TRAJ, "components": ["o"], "gate": {"threshold": threshold, **gate}},
        {"name": "steps", "scope": STEP, "components": ["s"]},
    )


def assert_trace(report: RewardReport) -> None:
    assert math.isclose(sum(report.step_rewards), report.return_, abs_tol=1e-9)


# ---------------------------------------------------------------- aggregates
@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        ("sum", 0.6),
        ("mean", 0.2),
        ("min", -0.1),
        ("max", 0.5),
        ("last", 0.2),
    ],
)
def test_aggregates(aggregate: str, expected: float) -> None:
    report = one_level([0.5, -0.1, 0.2], aggregate=aggregate)
    assert report.return_ == pytest.approx(expected)
    assert report.levels[0].value == pytest.approx(expected)
    assert_trace(report)


def test_softmin_weights() -> None:
    values = [0.5, -0.1, 0.2]
    weights = [math.exp(-v / 0.1) for v in values]
    expected = sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights)
    report = one_level(values, aggregate="softmin")
    assert report.return_ == pytest.approx(expected)
    assert min(values) < report.return_ < sum(values) / 3  # between min and mean
    hot = one_level(values, aggregate="softmin", temperature=100.0)
    assert hot.return_ == pytest.approx(sum(values) / 3, abs=1e-3)  # high temperature -> mean
    assert_trace(report)


def test_discounted() -> None:
    report = one_level([1.0, 1.0, 1.0], aggregate="discounted", gamma=0.5)
    assert report.return_ == pytest.approx(1.75)
    default = one_level([1.0, 1.0], aggregate="discounted")
    assert default.return_ == pytest.approx(1.99)  # default gamma 0.99
    assert_trace(report)


def test_coefficients_bools_and_missing_components() -> None:
    spec = make_spec({"name": "p", "scope": STEP, "components": {"a": 0.5, "b": -2.0, "c": 1.0}})
    report = spec.score([{"a": True, "b": 0.25}, {"a": 1}, {}], {})
    assert report.return_ == pytest.approx(0.5 - 0.5 + 0.5)
    assert report.step_rewards == pytest.approx([0.0, 0.5, 0.0])
    assert any("'c'" in w for w in report.warnings)  # never emitted -> warned, counted 0


# ---------------------------------------------------------------- transforms and clips
def test_delta_transform_telescopes() -> None:
    report = one_level([0.2, 0.5, 0.4, 0.9], transform="delta")
    assert report.return_ == pytest.approx(0.9)  # sum of differences = last value
    assert report.step_rewards == pytest.approx([0.2, 0.3, -0.1, 0.5])


def test_potential_transform() -> None:
    report = one_level([1.0, 2.0, 3.0], transform="potential", gamma=0.9)
    # gamma*Phi_t - Phi_{t-1}, Phi_{-1} = 0
    assert report.step_rewards == pytest.approx([0.9, 0.8, 0.7])
    assert one_level([1.0, 2.0, 3.0], transform="potential").return_ == pytest.approx(3.0)


def test_per_step_clip_bounds_farming() -> None:
    report = one_level([0.3, 0.3, -2.0], clip={"max": 0.1, "min": -0.5})
    assert report.step_rewards == pytest.approx([0.1, 0.1, -0.5])
    assert report.return_ == pytest.approx(-0.3)


def test_total_clip_rescales_trace() -> None:
    report = one_level([0.2] * 10, clip={"total": {"max": 0.5}})
    assert report.return_ == pytest.approx(0.5)
    assert report.step_rewards == pytest.approx([0.05] * 10)  # rescaled, same shape


def test_mean_bounds_padding() -> None:
    short = one_level([0.1] * 3, aggregate="mean")
    long = one_level([0.1] * 30, aggregate="mean")
    assert short.return_ == pytest.approx(long.return_) == pytest.approx(0.1)


def test_rescale_spreads_evenly_when_values_sum_to_zero() -> None:
    report = one_level([1.0, -1.0], aggregate="max")
    assert report.return_ == pytest.approx(1.0)
    assert report.step_rewards == pytest.approx([0.5, 0.5])


def test_trajectory_clip() -> None:
    spec = make_spec({"name": "o", "scope": TRAJ, "components": ["o"], "clip": {"max": 1.0}})
    assert spec.score([{}], {"o": 3.0}).return_ == pytest.approx(1.0)


# ---------------------------------------------------------------- labels
def test_labels_and_unmapped_label_error() -> None:
    spec = make_spec(
        {"name": "outcome", "scope": TRAJ, "components": ["outcome"], "values": {"pass": 1.0, "fail": 0.2}}
    )
    assert spec.score([{}], {"outcome": "fail"}).return_ == pytest.approx(0.2)
    with pytest.raises(SpecError, match=r"'outcome'.*'maybe'.*\['fail', 'pass'\]"):
        spec.score([{}], {"outcome": "maybe"})
    no_values = make_spec({"name": "s", "scope": STEP, "components": ["s"]})
    with pytest.raises(SpecError, match="label 'oops'"):
        no_values.score([{"s": "oops"}], {})


def test_step_labels() -> None:
    spec = make_spec(
        {
            "name": "verdict",
            "scope": STEP,
            "components": {"verdict": 0.5},
            "values": {"good": 1.0, "bad": -1.0},
        }
    )
    report = spec.score([{"verdict": "good"}, {"verdict": "bad"}, {"verdict": "good"}, {}], {})
    assert report.step_rewards == pytest.approx([0.5, -0.5, 0.5, 0.0])
    with pytest.raises(SpecError, match="'meh'"):
        spec.score([{"verdict": "meh"}], {})


def test_non_finite_component_is_an_error() -> None:
    spec = make_spec({"name": "s", "scope": STEP, "components": ["s"]})
    with pytest.raises(SpecError, match=r"\['s'\].*non-finite"):
        spec.score([{"s": 1.0}, {"s": float("nan")}], {})


def test_non_finite_value_hidden_by_the_aggregate_is_still_an_error() -> None:
    last = make_spec({"name": "s", "scope": STEP, "components": ["s"], "aggregate": "last"})
    with pytest.raises(SpecError, match=r"\['s'\].*non-finite"):
        last.score([{"s": float("inf")}, {"s": 1.0}], {})  # A = 1.0, but a step value is inf
    spec = outcome_and_steps(threshold=1.0)
    with pytest.raises(SpecError, match=r"\['outcome'\].*non-finite"):
        spec.score([{"s": 1.0}], {"o": float("nan")})
    with pytest.raises(SpecError, match=r"\['steps'\].*non-finite"):
        spec.score([{"s": -math.inf}], {"o": 0.0})  # behind a closed gate, still an error


def test_truncation_no_submit_label_closes_gate(stall_spec: RewardSpec) -> None:
    steps = [{"critic": 0.05}] * 20  # stalled to the cap; the env reports "no_submit"
    report = stall_spec.score(steps, {"outcome": "no_submit"})
    assert report.return_ == 0.0
    assert report.return_direct == pytest.approx(1.0)
    assert report.levels[0].gate_open is False
    assert report.levels[1].multiplier == 0.0 and report.levels[1].contribution == 0.0
    assert report.step_rewards == [0.0] * 20


# ---------------------------------------------------------------- gates
def test_equality_at_threshold_opens() -> None:
    spec = outcome_and_steps(threshold=0.3)
    assert 0.7 - 0.4 < 0.3  # float noise puts an "equal" value just below the threshold
    report = spec.score([{"s": 1.0}], {"o": 0.7 - 0.4})
    assert report.levels[0].gate_open and report.return_ == pytest.approx(1.3)
    report = spec.score([{"s": 1.0}], {"o": 0.3})
    assert report.levels[0].gate_open
    below = spec.score([{"s": 1.0}], {"o": 0.3 - 1e-6})
    assert not below.levels[0].gate_open and below.return_ == pytest.approx(0.3 - 1e-6)


def test_strict_gate_and_eps() -> None:
    strict = outcome_and_steps(threshold=0.3, op=">")
    assert not strict.score([{"s": 1.0}], {"o": 0.3}).levels[0].gate_open
    assert strict.score([{"s": 1.0}], {"o": 0.31}).levels[0].gate_open
    wide = outcome_and_steps(threshold=0.3, eps=0.05)
    assert wide.score([{"s": 1.0}], {"o": 0.26}).levels[0].gate_open


def test_three_level_cascade_top_failure_closes_all() -> None:
    spec = make_spec(
        {"name": "top", "scope": TRAJ, "components": ["top"], "gate": {"threshold": 1.0}},
        {"name": "mid", "scope": STEP, "components": ["mid"], "gate": {"threshold": 0.5}},
        {"name": "low", "scope": STEP, "components": ["low"], "weight": 2.0},
    )
    steps = [{"mid": 1.0, "low": 1.0}]
    failing_top = spec.score(steps, {"top": 0.0})
    assert failing_top.levels[1].gate_open  # the middle level passes its own gate ...
    assert [lv.multiplier for lv in failing_top.levels] == [1.0, 0.0, 0.0]  # ... but stays closed
    assert failing_top.return_ == 0.0 and failing_top.return_direct == pytest.approx(3.0)
    assert failing_top.return_outcome == 0.0
    passing = spec.score(steps, {"top": 1.0})
    assert passing.return_ == pytest.approx(4.0)
    mid_fails = spec.score([{"mid": 0.2, "low": 1.0}], {"top": 1.0})
    assert mid_fails.return_ == pytest.approx(1.2)


def test_level_without_gate_passes_parent_state() -> None:
    spec = make_spec(
        {"name": "top", "scope": TRAJ, "components": ["top"], "gate": {"threshold": 1.0}},
        {"name": "mid", "scope": STEP, "components": ["mid"]},  # no gate
        {"name": "low", "scope": STEP, "components": ["low"]},
    )
    closed = spec.score([{"mid": 1.0, "low": 1.0}], {"top": 0.0})
    assert [lv.multiplier for lv in closed.levels] == [1.0, 0.0, 0.0]
    opened = spec.score([{"mid": -5.0, "low": 1.0}], {"top": 1.0})
    assert [lv.multiplier for lv in opened.levels] == [1.0, 1.0, 1.0]


def test_negative_step_rewards_gated_by_default_and_bypass() -> None:
    steps = [{"s": 0.2}, {"s": -0.5}, {"s": 0.1}]
    default = outcome_and_steps(threshold=1.0)
    assert default.score(steps, {"o": 0.0}).return_ == 0.0  # penalties gated away too
    bypass = outcome_and_steps(threshold=1.0, penalties_bypass=True)
    report = bypass.score(steps, {"o": 0.0})
    assert report.return_ == pytest.approx(-0.5)  # only the penalty passes
    assert report.step_rewards == pytest.approx([0.0, -0.5, 0.0])
    assert bypass.score(steps, {"o": 1.0}).return_ == pytest.approx(1.0 - 0.2)  # open: everything counts


def test_bypass_only_through_bypassing_gates() -> None:
    spec = make_spec(
        {"name": "top", "scope": TRAJ, "components": ["top"], "gate": {"threshold": 1.0}},
        {
            "name": "mid",
            "scope": STEP,
            "components": ["mid"],
            "gate": {"threshold": 0.5, "penalties_bypass": True},
        },
        {"name": "low", "scope": STEP, "components": ["low"]},
    )
    steps = [{"mid": 0.0, "low": -1.0}]
    assert spec.score(steps, {"top": 1.0}).return_ == pytest.approx(1.0 - 1.0)  # mid closed, bypass
    assert spec.score(steps, {"top": 0.0}).return_ == 0.0  # top closed without bypass


def test_soft_gate() -> None:
    spec = outcome_and_steps(threshold=0.5, soft_temperature=0.1)
    report = spec.score([{"s": 1.0}], {"o": 0.5})
    assert report.levels[0].gate_value == pytest.approx(0.5)
    assert report.return_ == pytest.approx(0.5 + 0.5)
    high = spec.score([{"s": 1.0}], {"o": 1.5})
    assert high.levels[0].gate_value == pytest.approx(1 / (1 + math.exp(-10)))
    low = spec.score([{"s": 1.0}], {"o": -1.5})
    assert 0.0 < low.levels[0].gate_value < 1e-8 and not low.levels[0].gate_open
    assert_trace(report)


def test_success_only_sets_top_threshold() -> None:
    spec = make_spec(
        {
            "name": "outcome",
            "scope": TRAJ,
            "components": ["o"],
            "values": {"fail": 0.0, "partial": 0.5, "pass": 1.0},
        },
        {"name": "process", "scope": STEP, "components": ["p"]},
        success_only=True,
    )
    assert spec.score([{"p": 0.1}], {"o": "partial"}).return_ == pytest.approx(0.5)
    passed = spec.score([{"p": 0.1}], {"o": "pass"})
    assert passed.return_ == pytest.approx(1.1) and passed.levels[0].gate_threshold == 1.0


def test_lazy_level_skipped_when_gate_closed() -> None:
    calls: list[int] = []

    def judge() -> float:
        calls.append(1)
        return 1.0

    spec = make_spec(
        {"name": "outcome", "scope": TRAJ, "components": ["o"], "gate": {"threshold": 1.0}},
        {"name": "judge", "scope": TRAJ, "components": ["judge"], "lazy": True},
    )
    closed = spec.score([{}], {"o": 0.0, "judge": judge})
    assert calls == [] and closed.levels[1].skipped and closed.return_direct == 0.0  # lazy loses direct
    opened = spec.score([{}], {"o": 1.0, "judge": judge})
    assert calls == [1] and not opened.levels[1].skipped and opened.return_ == pytest.approx(2.0)
    eager = make_spec(spec.levels[0].model_dump(), {**spec.levels[1].model_dump(), "lazy": False})
    assert eager.score([{}], {"o": 0.0, "judge": judge}).return_direct == pytest.approx(1.0)
    assert spec.score([{}], {"o": 0.0, "judge": judge}, mode="direct").return_ == pytest.approx(1.0)


def test_component_unavailable_makes_the_report_invalid() -> None:
    def broken_judge() -> float:
        raise ComponentUnavailable("judge timed out after 30 s")

    spec = make_spec(
        {"name": "outcome", "scope": TRAJ, "components": ["o"], "gate": {"threshold": 1.0}},
        {"name": "judge", "scope": TRAJ, "components": ["judge"], "lazy": True},
        {"name": "steps", "scope": STEP, "components": ["s"]},
    )
    steps = [{"s": 0.5}, {"s": 0.5}]
    report = spec.score(steps, {"o": 1.0, "judge": broken_judge})
    assert (
        report.reward_invalid
        and report.return_ == 0.0
        and report.returns() == dict.fromkeys(report.returns(), 0.0)
    )
    assert report.step_rewards == [0.0, 0.0]
    assert any("judge timed out after 30 s" in w for w in report.warnings)
    assert spec.score(steps, {"o": 0.0, "judge": broken_judge}).return_ == 0.0  # gate closed: never called
    assert not spec.score(steps, {"o": 0.0, "judge": broken_judge}).reward_invalid
    tracker = RewardTracker(spec, emission="dense")
    emitted = [tracker.step(c) for c in steps]
    tracker_report, correction = tracker.finish({"o": 1.0, "judge": broken_judge})
    assert tracker_report == report and sum(emitted) + correction == 0.0


def test_plain_sum_level_keeps_its_per_step_shape_when_it_sums_to_zero() -> None:
    report = one_level([1.0, -1.0, 0.5, -0.5])
    assert report.return_ == 0.0
    assert report.step_rewards == pytest.approx([1.0, -1.0, 0.5, -0.5])


# ---------------------------------------------------------------- modes, invalid, edge cases
def test_modes_report_all_three(stall_spec: RewardSpec) -> None:
    steps = [{"critic": 0.05}] * 4
    for mode in ("gated", "direct", "outcome"):
        report = stall_spec.score(steps, {"outcome": "tests_pass"}, mode=mode)
        assert report.mode == mode
        assert report.return_ == report.returns()[mode]
        assert (report.return_gated, report.return_direct, report.return_outcome) == pytest.approx(
            (1.2, 1.2, 1.0)
        )
        assert_trace(report)


def test_weights() -> None:
    spec = make_spec(
        {"name": "o", "scope": TRAJ, "components": ["o"], "weight": 10.0, "gate": {"threshold": 0.0}},
        {"name": "s", "scope": STEP, "components": ["s"], "weight": 0.5},
    )
    report = spec.score([{"s": 1.0}, {"s": 1.0}], {"o": 1.0})
    assert report.return_ == pytest.approx(11.0) and report.return_outcome == pytest.approx(10.0)
    assert report.step_rewards == pytest.approx([0.5, 10.5])


def test_reward_invalid_masks_everything(stall_spec: RewardSpec) -> None:
    report = stall_spec.score([{"critic": 1.0}] * 3, {"outcome": "tests_pass"}, reward_invalid=True)
    assert report.reward_invalid is True
    assert (report.return_, report.return_gated, report.return_direct, report.return_outcome) == (0.0,) * 4
    assert report.step_rewards == [0.0] * 3
    assert all(lv.skipped and lv.contribution == 0.0 for lv in report.levels)


def test_zero_steps_returns_trajectory_part(stall_spec: RewardSpec) -> None:
    report = stall_spec.score([], {"outcome": "tests_pass"})
    assert report.step_rewards == []
    assert report.return_ == pytest.approx(1.0)


def test_warnings_for_unknown_components() -> None:
    spec = make_spec(
        {"name": "o", "scope": TRAJ, "components": ["outcome"]},
        {"name": "s", "scope": STEP, "components": ["typo", "ok"]},
    )
    report = spec.score([{"ok": 1.0}], {"outcome": 1.0})
    assert report.warnings == ["step component 'typo' was never emitted in this episode; counted as 0"]
    report = spec.score([{"ok": 1.0, "outcome": 1.0}], {})
    assert any("'outcome' is missing" in w and "step components" in w for w in report.warnings)


def test_report_json_round_trip(stall_spec: RewardSpec) -> None:
    report = stall_spec.score([{"critic": 0.05}] * 3, {"outcome": "tests_fail"})
    data = report.model_dump(mode="json")
    assert "return" in data and "return_" not in data
    again = RewardReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert RewardReport.model_validate(data).return_ == report.return_
    assert report.level("critic").contribution == pytest.approx(0.15)
    with pytest.raises(KeyError):
        report.level("nope")


# ---------------------------------------------------------------- the StallOrSubmit arithmetic (G-RA, arXiv 2508.10548)
def expected_submit_return(spec: RewardSpec, mode: str, k: int, p: float, c: float) -> float:
    steps = [{"critic": c}] * k
    passed = spec.score(steps, {"outcome": "tests_pass"}, mode=mode).return_
    failed = spec.score(steps, {"outcome": "tests_fail"}, mode=mode).return_
    return p * passed + (1 - p) * failed


def test_stall_or_submit_direct_rewards_stalling_gated_rewards_submitting(stall_spec: RewardSpec) -> None:
    c, cap, k, p = 0.05, 20, 5, 0.1
    stall = [{"critic": c}] * cap  # noop pays c too (the misaligned critic)
    # D-RA: a_nosubmit + c*T = 1.0 beats p*a_pass + (1-p)*a_fail + c*k = 0.1 + 0.09 + 0.25 = 0.44
    direct_stall = stall_spec.score(stall, {"outcome": "no_submit"}, mode="direct").return_
    direct_submit = expected_submit_return(stall_spec, "direct", k, p, c)
    assert direct_stall == pytest.approx(1.0) and direct_submit == pytest.approx(0.44)
    assert direct_stall > direct_submit
    # G-RA: stalling closes the gate (0), submitting opens it (tests_fail = threshold: equality opens)
    gated_stall = stall_spec.score(stall, {"outcome": "no_submit"}).return_
    gated_submit = expected_submit_return(stall_spec, "gated", k, p, c)
    assert gated_stall == 0.0 and gated_submit == pytest.approx(0.44)
    assert gated_submit > gated_stall
