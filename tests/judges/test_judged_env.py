"""`JudgedEnv`: a live agentgym env scored with its spec's judges (scripted judge model, toy env)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import agentgym  # noqa: F401  (registers the envs)
from agentgym.baselines.judge_backends import JudgedEnv

SPEC = {
    "name": "toy_judged",
    "mode": "gated",
    "judges": {
        "judge_ok": {"kind": "principle", "model": "scripted", "principles": ["The agent finished the task."]}
    },
    "levels": [
        {
            "name": "outcome",
            "scope": "trajectory",
            "components": ["outcome"],
            "values": {"no_submit": 0.0, "tests_fail": 0.1, "tests_pass": 1.0},
            "gate": {"threshold": 0.1},
        },
        {"name": "judge", "scope": "trajectory", "components": {"judge_ok": 0.5}, "lazy": True},
    ],
}


def _run(env, actions):
    env.reset(seed=0)
    total, info = 0.0, {}
    for action in actions:
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            break
    return total, info


def test_judged_env_scores_open_gate_and_skips_closed(scripted):
    model = scripted(lambda prompt: "Verdict: YES")
    env = JudgedEnv(gym.make("agentgym/StallOrSubmit-v0", reward=SPEC, max_turns=2), models=model)
    total, info = _run(env, ["submit"])
    report = info["report"]
    assert report.level("judge").value == 0.5 and len(model.requests) == 1  # coefficient 0.5 x score 1
    assert total == pytest.approx(report.return_) == pytest.approx(report.level("outcome").value + 0.5)
    assert info["judgments"]["judge_ok"]["rationale"].startswith("Verdict: YES")
    assert info["trajectory_components"]["judge_ok"] == 1.0 and not info["reward_invalid"]

    total, info = _run(env, ["noop", "noop"])  # truncated without submitting: the gate stays closed
    assert info["report"].level("judge").skipped and len(model.requests) == 1
    assert total == 0.0 and "judge_ok" not in info["judgments"]
    env.close()


def test_judged_env_failed_judge_marks_episode_invalid(scripted):
    env = JudgedEnv(
        gym.make("agentgym/StallOrSubmit-v0", reward=SPEC, max_turns=2), models=scripted(lambda p: "Perhaps.")
    )
    total, info = _run(env, ["submit"])
    assert info["reward_invalid"] and info["report"].reward_invalid and total == 0.0
    env.close()


def test_any_policy_is_a_judge_model():
    from agentgym.rewards.judges import Judge, JudgeModel, resolve_model

    model = resolve_model("policy:scripted:Verdict: YES|Verdict: NO|I am not sure")
    assert isinstance(model, JudgeModel) and model.model_id.startswith("policy:scripted")
    judge = Judge({"kind": "reference", "model": "unused", "cache": False}, model)
    results = [judge.judge_one("What is 17 + 25?", "42", "42") for _ in range(3)]
    assert [r.score for r in results] == [1.0, 0.0, None]
    assert not results[2].valid and model.calls == 3
