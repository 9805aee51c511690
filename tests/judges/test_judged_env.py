"""Live judging in an env: `gym.make(..., reward=spec)` with a ``judges:`` section scores the
episode's judges at its end (the core `AgentEnv` calls `agentgym.rewards.judges.LiveJudges`).

The judge model is a policy string (`scripted:...`), resolved with `agentgym.policy.make_judge_model`.
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import agentgym  # noqa: F401  (registers the envs)


def _spec(model: str) -> dict:
    return {
        "name": "toy_judged",
        "mode": "gated",
        "judges": {
            "judge_ok": {"kind": "principle", "model": model, "principles": ["The agent finished the task."]}
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


def test_env_scores_open_gate_and_skips_closed(scripted):
    model = scripted(lambda prompt: "Verdict: YES")
    env = gym.make("agentgym/StallOrSubmit-v0", reward=_spec("unused"), max_turns=2, judge_models=model)
    total, info = _run(env, ["submit"])
    report = info["report"]
    assert report.level("judge").value == 0.5 and len(model.requests) == 1  # coefficient 0.5 x score 1
    assert total == pytest.approx(report.return_) == pytest.approx(report.level("outcome").value + 0.5)
    assert info["judgments"]["judge_ok"]["rationale"].startswith("Verdict: YES")
    assert info["trajectory_components"]["judge_ok"] == 1.0 and not info["reward_invalid"]

    total, info = _run(env, ["noop", "noop"])  # truncated without submitting: the gate stays closed
    assert info["report"].level("judge").skipped and len(model.requests) == 1  # never called
    assert total == 0.0 and "judge_ok" not in info.get("judgments", {})
    env.close()


def test_env_resolves_a_policy_string_as_judge_model():
    env = gym.make("agentgym/StallOrSubmit-v0", reward=_spec("scripted:Verdict: YES"), max_turns=2)
    total, info = _run(env, ["submit"])
    assert info["report"].level("judge").value == 0.5 and not info["reward_invalid"]
    assert info["judgments"]["judge_ok"]["rationale"].startswith("Verdict: YES")
    env.close()


def test_env_failed_judge_marks_episode_invalid():
    env = gym.make("agentgym/StallOrSubmit-v0", reward=_spec("scripted:Perhaps."), max_turns=2)
    total, info = _run(env, ["submit"])
    assert info["reward_invalid"] and info["report"].reward_invalid and total == 0.0
    assert "unparseable verdict" in info["judgments"]["judge_ok"]["error"]
    env.close()


def test_env_refuses_a_group_judge():
    from agentgym.rewards import SpecError

    spec = _spec("scripted:Winner: A")
    spec["judges"] = {"judge_ok": {"kind": "pairwise", "model": "scripted:Winner: A"}}
    with pytest.raises(SpecError, match=r"judges\.judge_ok\.kind: .*agentgym judge rescore"):
        gym.make("agentgym/StallOrSubmit-v0", reward=spec, max_turns=2)


def test_cli_run_with_a_judged_spec_scores_the_judge_live(tmp_path):
    """`agentgym run --reward judged.yaml`: the judge (a scripted policy string as its model) is
    called in the episode itself; its score, verdict and rationale land in the trajectory."""
    import subprocess
    import sys

    import yaml

    from agentgym.trajectory import read_trajectories

    spec = tmp_path / "judged.yaml"
    spec.write_text(yaml.safe_dump(_spec("scripted:Verdict: YES")))
    out = tmp_path / "run.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "agentgym.cli.main", "run", "agentgym/StallOrSubmit-v0", "--policy", "oracle",
         "-n", "2", "--reward", str(spec), "-e", "pass_prob=1.0", "-o", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    records = read_trajectories(out).records
    assert len(records) == 2
    for record in records:
        assert record.success and not record.reward_invalid
        assert record.judgments["judge_ok"]["valid"] and record.trajectory_components["judge_ok"] == 1.0
        assert record.report.level("judge").value == pytest.approx(0.5)
        assert record.report.return_ == pytest.approx(1.0 + 0.5)  # outcome tests_pass + 0.5 x judge score 1
