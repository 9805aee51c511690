"""The SWE family's plugin declaration, task source and declared components (no Docker needed),
and the conformance check on tasks built by the real pipeline (Docker)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import agentgym  # noqa: F401  (registers the families)
from agentgym.family import env_entries, families, load_object, task_source

ROOT = Path(__file__).resolve().parents[2]


def test_family_declares_the_env_its_tasks_and_its_cli():
    family = families()["swe"]
    assert family.extra == "swe"
    assert [e.id for e in family.envs] == ["agentgym/SWE-v0"]
    assert env_entries()["agentgym/SWE-v0"][0] is family
    app = load_object(family.commands["tasks swe"])
    assert {c.name or c.callback.__name__ for c in app.registered_commands} >= {"build", "validate", "list"}


def test_task_source_lists_the_shipped_suite_without_an_env():
    from agentgym.tasks.swe.source import SWETask

    source = task_source("agentgym/SWE-v0")
    ids = source.ids()
    assert len(ids) >= 50 and ids == sorted(ids)
    assert set(source.ids("train")) | set(source.ids("test")) == set(ids)
    assert not set(source.ids("train")) & set(source.ids("test"))
    task = source.get(ids[0])
    assert isinstance(task, SWETask) and task.instance.instance_id == ids[0]
    assert task.prompt.startswith("<issue>") and "/testbed" in task.prompt
    public = json.dumps(task.public())
    assert task.instance.patch not in public and '"instance"' not in public


def test_task_source_takes_the_env_kwarg(tmp_path):
    from agentgym.errors import TaskError
    from agentgym.tasks.swe.records import load_instances, write_instances

    some = load_instances()[:2]
    write_instances(tmp_path / "two.jsonl", some)
    source = task_source("agentgym/SWE-v0", {"tasks": str(tmp_path / "two.jsonl"), "pool_size": 0})
    assert source.ids() == sorted(i.instance_id for i in some)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(TaskError, match="no SWE tasks"):
        task_source("agentgym/SWE-v0", {"tasks": str(tmp_path / "empty.jsonl")}).ids()


def test_env_declares_its_components_and_outcome():
    from agentgym.envs.swe.env import OUTCOMES, SWEEnv

    env = SWEEnv(pool_size=0)  # building the env starts no container
    try:
        declared = env.declared
        assert {"command_ok", "edit_applied"} <= {n for n, c in declared.items() if c.scope == "step"}
        assert {"outcome", "f2p_fraction", "modification", "test_tampering", "log_unusable"} <= {
            n for n, c in declared.items() if c.scope == "trajectory"
        }
        assert declared["outcome"].labels == OUTCOMES
        assert env.outcome.component == "outcome" and env.outcome.success == ("tests_pass",)
        assert env.outcome.is_success({"outcome": "tests_pass"})
        assert not any(env.outcome.is_success({"outcome": o}) for o in OUTCOMES if o != "tests_pass")
        assert env.task_ids() == task_source("agentgym/SWE-v0").ids()
    finally:
        env.close()


def test_tasks_package_imports_nothing_from_envs():
    for path in (ROOT / "tasks" / "swe").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"agentgym\.envs|from \.\.\.?envs", text), path


@pytest.mark.docker
@pytest.mark.slow
def test_conformance_on_built_tasks(mini_tasks):
    from agentgym.conformance import check_conformance

    path, _, _ = mini_tasks
    report = check_conformance("agentgym/SWE-v0", {"tasks": str(path), "pool_size": 0}, episodes=2)
    assert report.passed, [(c.name, c.detail) for c in report.failures()]
