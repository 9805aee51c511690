"""Helpers for the snapshot / tree tests: a plan-following policy and a toy env factory."""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym

import agentgym  # noqa: F401  (registers the envs)
from agentgym.policy import PolicyOutput

TOY = "agentgym/StallOrSubmit-v0"


class PlanPolicy:
    """Each episode (root first, then each continuation in the order the tree makes them) plays
    the next plan; turn t of a plan is the action at index t (so a continuation's plan starts with
    the shared prefix, which it does not replay)."""

    name = "plan"

    def __init__(self, plans: list[list[str]]) -> None:
        self.plans = list(plans)
        self.plan: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def for_episode(self, seed: int) -> PlanPolicy:
        twin = PlanPolicy([])
        twin.plan = self.plans.pop(0)
        return twin

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        return PolicyOutput.from_text(self.plan[turn])


def make_toy(**kwargs: Any) -> gym.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(TOY, **kwargs)
