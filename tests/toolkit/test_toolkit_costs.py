"""Cost components: emitted by the core for every env when a spec reads them, usable as gated
penalties, reported as metrics (eval and the HTML report)."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import pytest

from agentgym.env import CORE_COMPONENTS, COST_NAMES
from agentgym.policy import make_policy
from agentgym.rollout import run_episode

ROOT = Path(__file__).resolve().parents[2]
COSTS = ROOT / "examples" / "reward_toolkit" / "costs_gated.yaml"


def _make(env_id: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make(env_id, **kwargs)


def test_cost_components_are_core_components_and_absent_unless_a_spec_reads_them():
    assert COST_NAMES <= {c.name for c in CORE_COMPONENTS}
    env = _make("agentgym/StallOrSubmit-v0")
    env.reset(seed=0, options={"task_id": "toy-0"})
    _, _, _, _, info = env.step("work")
    assert COST_NAMES.isdisjoint(info["components"])  # the default spec reads none: records unchanged
    _, _, _, _, info = env.step("submit")
    assert COST_NAMES.isdisjoint(info["trajectory_components"])
    assert info["metrics"]["cost_tool_calls"] == 2.0
    assert "cost_seconds" not in info["metrics"]  # wall-clock only when read: info stays deterministic
    assert "cost_tokens" not in info["metrics"]  # the scripted text reported no tokens
    env.close()


@pytest.mark.parametrize("env_id", ["agentgym/StallOrSubmit-v0", "agentgym/ToolUse-v0"])
def test_every_env_emits_costs_the_same_way_when_read(env_id):
    spec = {
        "levels": [{"name": "costs", "scope": "step",
                    "components": {"cost_tool_calls": -1.0, "cost_turns": -1.0, "cost_tokens": -1.0}},
                   {"name": "totals", "scope": "trajectory",
                    "components": {"cost_total_tool_calls": 1.0, "cost_total_turns": 1.0, "cost_total_tokens": 1.0}}],
        "mode": "direct",
    }  # fmt: skip
    env = _make(env_id, reward=spec, max_turns=2)
    env.reset(seed=1)
    two_calls = {"role": "assistant", "content": "", "usage": {"completion_tokens": 17},
                 "tool_calls": [{"id": "a", "type": "function", "function": {"name": "x", "arguments": "{}"}},
                                {"id": "b", "type": "function", "function": {"name": "y", "arguments": "{}"}}]}  # fmt: skip
    _, _, _, _, first = env.step(two_calls)
    assert first["components"]["cost_tool_calls"] == 2.0
    assert first["components"]["cost_turns"] == 1.0
    assert first["components"]["cost_tokens"] == 17.0
    assert "cost_seconds" not in first["components"]  # not read: not emitted
    _, _, terminated, truncated, last = env.step("no call at all")
    assert terminated or truncated  # the turn limit (or the env's own end)
    assert last["components"]["cost_tool_calls"] == 0.0 and last["components"]["cost_tokens"] == 0.0
    assert last["trajectory_components"]["cost_total_tool_calls"] == 2.0
    assert last["trajectory_components"]["cost_total_turns"] == 2.0
    assert last["trajectory_components"]["cost_total_tokens"] == 17.0
    assert last["report"].return_direct == pytest.approx(
        0.0
    )  # -(3 + 2 + 17) per step sums, + the same totals
    assert last["metrics"]["cost_tokens"] == 17.0
    env.close()


def test_shipped_cost_spec_is_gated_by_the_outcome():
    env = _make("agentgym/StallOrSubmit-v0", reward=str(COSTS), pass_prob=1.0)
    passing = run_episode(
        env, make_policy("scripted:work|work|work|work|work|submit"), seed=0, task_id="toy-0"
    )
    failing = run_episode(env, make_policy("scripted:submit"), seed=0, task_id="toy-0")
    env.close()
    assert passing.trajectory_components["outcome"] == "tests_pass"
    costs = passing.report.level("costs")
    assert costs.value == pytest.approx(-0.05)  # 6 calls * -0.01, clipped at -0.05
    assert passing.report.return_ == pytest.approx(1.0 - 0.05)
    assert failing.report.level("costs").multiplier == 0.0  # the gate is closed: no cost for failing
    assert failing.report.return_ == pytest.approx(0.1)
    assert passing.steps[0].components["cost_tool_calls"] == 1.0


def test_eval_summary_and_html_report_show_cost_metrics(tmp_path):
    from agentgym.metrics import summarize
    from agentgym.report.html import build_report
    from agentgym.rollout import run_episodes

    records = run_episodes(
        "agentgym/StallOrSubmit-v0",
        make_policy("scripted:work|work|submit"),
        episodes=3,
        out=tmp_path / "run.jsonl",
    )
    assert summarize(records)["cost_tool_calls"] == 3.0  # `agentgym eval` prints this summary
    page = build_report(records)
    assert 'data-block="costs"' in page and "cost_tool_calls" in page and "cost_seconds" in page
