"""Terminal control sequences never reach the agent raw (stripped from observations) nor a
person's terminal (escaped by `agentgym replay`)."""

from __future__ import annotations

import gymnasium as gym

from agentgym import AgentEnv, EpisodeStart, Outcome, Task, TaskSource, tool
from agentgym import trajectory_component as traj
from agentgym.terminal import escape_controls, strip_controls

NASTY = "ok\x1b[31mred\x1b[0m\x1b]0;pwned title\x07\x1b[2J\x9b3J\x1bc\x00\x08\x7f tail\r\nnext\tcol"


def test_strip_removes_sequences_and_controls_but_keeps_layout():
    assert strip_controls(NASTY) == "okred tail\nnext\tcol"
    assert strip_controls("plain text\nwith\ttabs") == "plain text\nwith\ttabs"


def test_escape_makes_every_control_visible():
    shown = escape_controls(NASTY)
    assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown and "\x00" not in shown
    assert "\\x1b[31m" in shown and "\\x9b" in shown and "\nnext\tcol" in shown


class EchoTask(Task):
    pass


class Echo(AgentEnv[EchoTask]):
    components = (traj("outcome", labels=("done",)),)
    outcome = Outcome(success=("done",))
    default_reward = {"levels": [{"name": "o", "scope": "trajectory", "components": ["outcome"], "values": {"done": 1}}]}

    def __init__(self, **kwargs):
        super().__init__(tasks=TaskSource([EchoTask(id="e", prompt="print")]), **kwargs)

    def start_episode(self, task, options):
        return EpisodeStart(task=task, prompt=task.prompt)

    @tool
    def show(self) -> str:
        """Print something nasty."""
        return NASTY

    def score_episode(self, truncated):
        return {"outcome": "done"}


def test_observations_are_stripped_and_replay_plain_escapes_old_records(tmp_path):
    import json

    from typer.testing import CliRunner

    from agentgym.cli.main import app
    from agentgym.rollout import run_episode
    from agentgym.trajectory import TrajectoryWriter

    env = Echo(max_turns=1)
    env.reset(seed=0)
    observation, *_ = env.step('<tool_call>{"name": "show", "arguments": {}}</tool_call>')
    assert observation == strip_controls(NASTY)

    from agentgym.baselines.policies.scripted import ScriptedPolicy

    if "agentgym-test/Echo-v0" not in gym.registry:
        gym.register(id="agentgym-test/Echo-v0", entry_point=Echo)
    record = run_episode(gym.make("agentgym-test/Echo-v0", max_turns=1), ScriptedPolicy(["show()"]), seed=0)
    record.steps[0].observation = NASTY  # a record written by an older version or another tool
    record.prompt = NASTY
    path = tmp_path / "nasty.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.write(record)
    assert "\\u001b" in path.read_text() or "\x1b" in json.loads(path.read_text())["prompt"]
    result = CliRunner().invoke(app, ["replay", str(path), "--plain"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x9b" not in result.output and "\x07" not in result.output
    assert "\\x1b[31m" in result.output
