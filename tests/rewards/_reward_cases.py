"""Specs and helpers shared by the reward-layer tests (imported by name; tests/ is no package)."""

from __future__ import annotations

from agentgym.rewards import RewardSpec


def make_spec(*levels: dict, **options) -> RewardSpec:
    return RewardSpec.model_validate({"name": "test", "levels": list(levels), **options})


STALL_SPEC = {
    "name": "stall_or_submit",
    "mode": "gated",
    "levels": [
        {
            "name": "outcome",
            "scope": "trajectory",
            "components": ["outcome"],
            "values": {"no_submit": 0.0, "tests_fail": 0.1, "tests_pass": 1.0},
            "aggregate": "last",
            "gate": {"threshold": 0.1},
        },
        {"name": "critic", "scope": "step", "components": ["critic"], "aggregate": "sum"},
    ],
}
