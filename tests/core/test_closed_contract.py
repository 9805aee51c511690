"""The closed contract: declared components, the step pipeline's hook order, spec checks at
construction, task sources and splits, success declared once, and the layout rules (families are
plugins that use public hooks only; tasks/ never imports envs/; the core names no family)."""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import agentgym
from agentgym import AgentEnv, EpisodeStart, Outcome, Task, TaskSource, ToolCall, step_component, tool
from agentgym import trajectory_component as traj
from agentgym.env import UndeclaredComponentWarning
from agentgym.errors import ActionParseError, TaskError
from agentgym.family import env_entries, families, list_task_ids, load_object
from agentgym.rewards import SpecError

ROOT = Path(__file__).resolve().parents[2]
TOY = "agentgym/StallOrSubmit-v0"


class CountTask(Task):
    target: int = 2


class Recorder(AgentEnv[CountTask]):
    """A tiny env that logs the order its hooks run in and emits one late component."""

    components = (
        step_component("hit"),
        step_component("late", 0.0, 5.0),
        traj("outcome", labels=("done", "not_done")),
    )
    outcome = Outcome(success=("done",), checklist="hit")
    default_reward = {
        "levels": [
            {"name": "outcome", "scope": "trajectory", "components": ["outcome"],
             "values": {"done": 1.0, "not_done": 0.0}, "gate": {"threshold": 1.0}},
            {"name": "process", "scope": "step", "components": ["hit", "late"], "clip": {"total": {"max": 0.5}}},
        ]
    }

    def __init__(self, **kwargs: Any) -> None:
        self.log: list[str] = []
        self.hits = 0
        tasks = TaskSource([CountTask(id=f"c{i}", prompt="hit twice then stop", target=2) for i in range(10)])
        super().__init__(tasks=tasks, **kwargs)

    def start_episode(self, task: CountTask, options: dict[str, Any]) -> EpisodeStart:
        self.hits = 0
        self.log.append(f"start:{task.id}")
        return EpisodeStart(task=task, prompt=task.prompt)

    @tool
    def hit(self) -> str:
        """Hit once."""
        self.hits += 1
        self.emit("hit", 0.1)
        return f"hits: {self.hits}"

    @tool
    def stop(self) -> str:
        """Stop."""
        self.finish()
        return "stopped"

    def prepare_call(self, call: ToolCall) -> ToolCall:
        self.log.append(f"prepare:{call.name}")
        return call

    def after_call(self, call: ToolCall, result: Any) -> None:
        self.log.append(f"after:{call.name}")

    def end_step(self, observation: str, ending: bool) -> dict[str, Any]:
        self.log.append(f"end_step:{ending}")
        if ending:
            self.emit("late", float(self.hits))
        return {"hits_so_far": self.hits}

    def score_episode(self, truncated: bool) -> dict[str, Any]:
        self.log.append("score")
        return {"outcome": "done" if self.hits >= self.task.target else "not_done"}

    def end_episode(self) -> None:
        self.log.append("end")

    def oracle_actions(self) -> list[Any]:
        return [ToolCall(name="hit"), [ToolCall(name="hit"), ToolCall(name="stop")]]


def test_step_pipeline_runs_hooks_in_order_and_late_components_reach_the_reward():
    env = Recorder()
    env.reset(seed=0, options={"task_id": "c1"})
    _, _, _, _, first = env.step(env.oracle_actions()[0])
    assert first["components"] == {
        "hit": 0.1, "late": 0.0, "action_valid": 1.0, "invalid_action": 0.0, "repeated_action": 0.0
    }
    assert first["hits_so_far"] == 1  # end_step's extra info keys
    _, reward, terminated, _, info = env.step(env.oracle_actions()[1])
    assert terminated and info["success"] is True
    assert env.log == ["start:c1", "prepare:hit", "after:hit", "end_step:False",
                       "prepare:hit", "after:hit", "prepare:stop", "after:stop", "end_step:True", "score", "end"]
    assert info["components"]["late"] == 2.0  # emitted by end_step before the tracker saw the step
    report = info["report"]
    assert report.level("process").value == pytest.approx(0.5)  # 0.1 + 0.1 + 2.0, total clipped at 0.5
    assert reward == pytest.approx(report.return_) == pytest.approx(1.5)
    assert not report.warnings
    assert info["metrics"]["checklist"] == pytest.approx(0.2) and info["metrics"]["success"] == 1.0


def test_declared_step_components_are_zero_filled_on_invalid_actions():
    env = Recorder()
    env.reset(seed=0)
    _, _, _, _, info = env.step("no tool call here")
    assert info["components"] == {
        "hit": 0.0, "late": 0.0, "action_valid": 0.0, "invalid_action": 1.0, "repeated_action": 0.0
    }


def test_emitting_an_undeclared_component_warns_and_is_recorded():
    class Sloppy(Recorder):
        @tool
        def hit(self) -> str:
            """Hit once."""
            self.emit("typo_hit", 1.0)
            return "ok"

    env = Sloppy()
    env.reset(seed=0)
    with pytest.warns(UndeclaredComponentWarning, match="typo_hit"):
        env.step(ToolCall(name="hit"))
    assert env.undeclared_emissions == {"typo_hit"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"levels": [{"name": "a", "scope": "step", "components": ["nonexistent"]}]}, "levels.0.components.nonexistent"),
        ({"levels": [{"name": "a", "scope": "trajectory", "components": ["hit"]}]}, "levels.0.components.hit"),
        ({"levels": [{"name": "a", "scope": "trajectory", "components": ["outcome"]}]}, "levels.0.values"),
        ({"levels": [{"name": "a", "scope": "trajectory", "components": ["outcome"], "values": {"done": 1.0}}]},
         "levels.0.values"),
        ({"levels": [{"name": "a", "scope": "step", "components": ["hit"], "weight": math.inf}]}, "levels.0.weight"),
        ({"levels": [{"name": "a", "scope": "step", "components": {"hit": math.nan}}]}, "levels.0.components"),
    ],
)
def test_a_spec_the_env_cannot_satisfy_fails_at_construction(spec, field):
    with pytest.raises(SpecError, match=re.escape(field)):
        Recorder(reward=spec)


def test_cli_run_with_an_unbound_spec_exits_2_naming_the_field(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("levels:\n  - {name: x, scope: step, components: [no_such_component]}\n")
    out = subprocess.run([sys.executable, "-m", "agentgym.cli.main", "run", TOY, "--reward", str(spec)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "levels.0.components.no_such_component" in out.stderr and "does not declare" in out.stderr


def test_task_source_ids_get_sample_and_hashed_splits():
    source = TaskSource([CountTask(id=f"t{i}") for i in range(200)])
    train, test = source.ids("train"), source.ids("test")
    assert set(train) | set(test) == set(source.ids()) and not set(train) & set(test)
    assert 20 <= len(test) <= 60  # ~20% held out
    grown = TaskSource([CountTask(id=f"t{i}") for i in range(400)])
    assert set(test) <= set(grown.ids("test"))  # adding tasks never moves a task between splits
    a = source.sample(np.random.default_rng(3), "test")
    b = source.sample(np.random.default_rng(3), "test")
    assert a.id == b.id and a.id in test
    with pytest.raises(TaskError, match="did you mean t12"):
        source.get("t12x")
    with pytest.raises(TaskError, match="unknown split"):
        source.ids("validation")


def test_env_split_keyword_draws_only_from_that_split():
    env = gym.make(TOY, split="test")
    test_ids = set(env.unwrapped.tasks.ids("test"))
    drawn = {env.reset(seed=s)[1]["task_id"] for s in range(30)}
    assert drawn <= test_ids and len(drawn) > 3
    with pytest.raises(TaskError, match="unknown split"):
        gym.make(TOY, split="dev")
    assert list_task_ids(TOY, {"num_tasks": 10}, "train") == [
        i for i in (f"toy-{n}" for n in range(10)) if i not in set(list_task_ids(TOY, {"num_tasks": 10}, "test"))
    ]


def test_success_is_declared_once_and_read_by_eval_and_filters():
    from agentgym.metrics import summarize
    from agentgym.outcome import success_of
    from agentgym.replay.filters import parse_filter
    from agentgym.trajectory import EpisodeRecord

    ok = EpisodeRecord(env_id="x", task_id="a", success=True, group_id="g", trajectory_components={"outcome": "x"})
    bad = EpisodeRecord(env_id="x", task_id="a", success=False, group_id="g", metrics={"resolved": 1.0})
    invalid = EpisodeRecord(env_id="x", task_id="a", success=True, reward_invalid=True, group_id="g")
    assert [success_of(r) for r in (ok, bad, invalid)] == [True, False, None]
    passed = parse_filter("passed")
    assert [passed(r) for r in (ok, bad)] == [True, False]  # a metric named "resolved" is not guessed from
    assert summarize([ok, bad, invalid])["pass@2"] == 1.0


def test_oracle_may_return_tool_calls_through_the_baseline_oracle_policy():
    from agentgym.baselines.policies.scripted import OraclePolicy
    from agentgym.rollout import run_episode

    if "agentgym-test/Recorder-v0" not in gym.registry:
        gym.register(id="agentgym-test/Recorder-v0", entry_point=Recorder)
    record = run_episode(gym.make("agentgym-test/Recorder-v0"), OraclePolicy(), seed=0)
    assert record.success is True and record.error is None


# ---------------------------------------------------------------------- layout rules
def _python_files(folder: str) -> list[Path]:
    return [p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts]


def _imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module if node.level == 0 else "." * node.level + node.module)
    return names


def test_tasks_never_import_envs():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _python_files("tasks")
        for name in _imported_modules(path)
        if name.startswith("agentgym.envs") or name.startswith("..envs") or name.startswith("...envs")
    ]
    assert not offenders, offenders


def test_the_core_imports_no_family_and_names_no_family_env():
    # a bare name that is also a generic core subsystem (the MCP client, the sandbox) is not a family's
    core_parts = {p.name.lower() for p in (ROOT / "agentgym").iterdir() if p.is_dir()}
    env_names = set()
    for env_id in env_entries():
        bare = env_id.split("/")[-1].rsplit("-v", 1)[0]
        env_names |= {env_id} | ({bare} if bare.lower() not in core_parts else set())
    pattern = re.compile("|".join(rf"\b{re.escape(n)}\b" for n in sorted(env_names, key=len, reverse=True)))
    offenders = []
    for path in _python_files("agentgym"):
        for name in _imported_modules(path):
            if name.startswith(("agentgym.envs", "agentgym.tasks")):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders


def test_no_family_env_overrides_a_private_agentgym_method_or_the_loop():
    private = {n for n in vars(AgentEnv) if n.startswith("_") and not n.startswith("__")}
    closed = {"reset", "step", "truncate", "emit", "finish"}
    offenders = []
    for env_id, (_family, entry) in env_entries().items():
        cls = load_object(entry.entry_point)
        for klass in cls.__mro__:
            if klass is AgentEnv or not issubclass(klass, AgentEnv):
                continue
            for name in vars(klass):
                if name in private or name in closed:
                    offenders.append(f"{env_id}: {klass.__qualname__}.{name}")
    assert not offenders, offenders


def test_every_family_is_a_plugin_with_one_shape():
    assert {"toy", "swe", "web", "tool", "search"} <= set(families())
    for name, family in families().items():
        assert family.envs, name
        for entry in family.envs:
            assert entry.id in gym.registry
        module = load_object(next(iter(family.envs)).entry_point).__module__
        if module.startswith("agentgym.envs."):  # agentgym's own families: envs/<f>/ + tasks/<f>/
            folder = module.split(".")[2]
            assert (ROOT / "envs" / folder / "family.py").is_file()
            assert (ROOT / "tasks" / folder).is_dir(), f"family {name}: no tasks/{folder}/"


def test_no_comment_cites_a_document_outside_the_repository():
    pattern = re.compile(r"\b(DESIGN|PLATFORM|RESEARCH)(\.md)?\s*§|\b(DESIGN|PLATFORM|RESEARCH)\.md\b")
    offenders = []
    for folder in ("agentgym", "envs", "tasks", "rewards", "baselines", "benchmarks", "tests", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".yaml", ".sh", ".md") and "__pycache__" not in path.parts:
                for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                    if pattern.search(line) and path.name != Path(__file__).name:
                        offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert not offenders, offenders


def test_gymnasium_make_with_module_prefix_and_agentgym_version():
    assert agentgym.__version__
    env = gym.make("agentgym:" + TOY)
    env.reset(seed=0)
    env.close()


def test_text_grammar_errors_go_through_action_parse_error():
    class Strict(Recorder):
        def parse_text_action(self, text: str):
            if text.startswith("hit("):
                raise ActionParseError("hit takes no arguments")
            return None

    env = Strict()
    env.reset(seed=0)
    obs, _, _, _, info = env.step("hit(3)")
    assert not info["action_valid"] and "hit takes no arguments" in obs


def test_a_grammar_bug_is_an_invalid_action_and_a_warning_not_a_crash():
    from agentgym.env import GrammarErrorWarning

    class Buggy(Recorder):
        def parse_text_action(self, text: str):
            return [ToolCall(name="hit", arguments={"n": int(text)})]  # int("oops") raises ValueError

    env = Buggy()
    env.reset(seed=0)
    with pytest.warns(GrammarErrorWarning, match="ValueError"):
        obs, _, _, _, info = env.step("oops")
    assert not info["action_valid"] and "could not be read" in obs and not info.get("reward_invalid")


def test_max_turns_zero_is_refused_not_replaced_by_the_default():
    with pytest.raises(ValueError, match="max_turns must be >= 1"):
        Recorder(max_turns=0)
