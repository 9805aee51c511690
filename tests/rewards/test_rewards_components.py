"""Declared components (`Component`) and the check of a spec against them (`check_spec_components`)."""

from __future__ import annotations

import pytest
from _reward_cases import STALL_SPEC, make_spec

from agentgym.rewards import (
    Component,
    RewardSpec,
    SpecError,
    check_dominance,
    check_spec_components,
    component_bounds,
    step_component,
    trajectory_component,
)

DECLARED = {
    "critic": step_component("critic", 0.0, 0.05),
    "action_valid": step_component("action_valid"),
    "outcome": trajectory_component("outcome", labels=("no_submit", "tests_fail", "tests_pass")),
    "success": trajectory_component("success"),
}


def test_declared_spec_passes() -> None:
    check_spec_components(RewardSpec.model_validate(STALL_SPEC), DECLARED)


def test_undeclared_component_names_the_field() -> None:
    spec = make_spec({"name": "s", "scope": "step", "components": ["critic", "critc"]})
    with pytest.raises(SpecError) as info:
        check_spec_components(spec, DECLARED, owner="StallOrSubmit")
    message = str(info.value)
    assert "levels.0.components.critc" in message
    assert "StallOrSubmit does not declare a component 'critc'" in message
    assert "action_valid, critic, outcome, success" in message  # lists what is declared
    with pytest.raises(SpecError, match=r"declared: \(none\)"):
        check_spec_components(spec, {})


def test_wrong_scope_names_the_field() -> None:
    spec = make_spec(
        {"name": "o", "scope": "trajectory", "components": ["success"]},
        {"name": "late", "scope": "trajectory", "components": ["critic"]},
    )
    with pytest.raises(
        SpecError, match=r"levels\.1\.components\.critic: 'critic' is a step-scope component, "
    ):
        check_spec_components(spec, DECLARED)


def test_categorical_without_values() -> None:
    spec = make_spec({"name": "outcome", "scope": "trajectory", "components": ["outcome"]})
    with pytest.raises(
        SpecError, match=r"levels\.0\.values: level 'outcome' reads the categorical component"
    ):
        check_spec_components(spec, DECLARED)


def test_categorical_missing_label() -> None:
    spec = make_spec(
        {
            "name": "outcome",
            "scope": "trajectory",
            "components": ["outcome"],
            "values": {"no_submit": 0.0, "tests_pass": 1.0},
        }
    )
    with pytest.raises(
        SpecError, match=r"levels\.0\.values: no number for label\(s\) tests_fail of component"
    ):
        check_spec_components(spec, DECLARED)


def test_component_declaration_checks() -> None:
    with pytest.raises(ValueError, match="scope"):
        Component("x", "episode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bounds"):
        step_component("x", 1.0, 0.0)
    with pytest.raises(ValueError, match="bounds"):
        step_component("x", 0.0, float("inf"))
    outcome = DECLARED["outcome"]
    assert outcome.categorical and not DECLARED["critic"].categorical
    assert outcome.admits("tests_pass") and not outcome.admits("maybe")
    critic = DECLARED["critic"]
    assert critic.admits(0.05) and critic.admits(True) is False  # True = 1.0 is outside [0, 0.05]
    assert not critic.admits(float("nan")) and not critic.admits(None)


def test_component_bounds_feed_the_dominance_check() -> None:
    spec = RewardSpec.model_validate({**STALL_SPEC, "mode": "direct"})
    bounds = component_bounds(DECLARED, spec)
    assert bounds["critic"] == (0.0, 0.05)
    assert bounds["outcome"] == (0.0, 1.0)  # labels through the level's values
    messages = check_dominance(spec, bounds, horizon=20)
    assert any("'no_submit'" in m and "'tests_fail'" in m for m in messages)


def test_component_bounds_union_over_levels() -> None:
    spec = make_spec(
        {
            "name": "a",
            "scope": "trajectory",
            "components": ["outcome"],
            "values": {"no_submit": 0, "tests_fail": 0.1, "tests_pass": 1},
        },
        {
            "name": "b",
            "scope": "trajectory",
            "components": ["outcome"],
            "values": {"no_submit": -1, "tests_fail": 0, "tests_pass": 0.5},
        },
    )
    assert component_bounds(DECLARED, spec)["outcome"] == (-1.0, 1.0)
