"""Task building (real pipeline on a tiny sdist), records, mutations, validation."""

from __future__ import annotations

import random

import pytest

from agentgym.tasks.swe.environment import diff_paths, is_test_path
from agentgym.tasks.swe.mutate import apply_mutation, find_mutations


def test_mutations_are_deterministic_and_parse():
    from agentgym.tasks.swe.minicalc import SOURCE

    a = [m.key for m in find_mutations("minicalc/__init__.py", SOURCE)]
    b = [m.key for m in find_mutations("minicalc/__init__.py", SOURCE)]
    assert a == b and len(a) > 10
    ops = {m.operator for m in find_mutations("minicalc/__init__.py", SOURCE)}
    assert {"swap_comparison", "off_by_one", "drop_guard", "negate_condition"} <= ops
    for m in find_mutations("minicalc/__init__.py", SOURCE):
        mutated = apply_mutation(SOURCE, m)
        assert mutated != SOURCE
        compile(mutated, "x", "exec")
    shuffled1, shuffled2 = a[:], a[:]
    random.Random(7).shuffle(shuffled1)
    random.Random(7).shuffle(shuffled2)
    assert shuffled1 == shuffled2


def test_test_paths():
    assert is_test_path("tests/test_x.py") and is_test_path("pkg/tests/helpers.py")
    assert is_test_path("test_foo.py") and is_test_path("conftest.py") and is_test_path("setup.cfg")
    assert not is_test_path("pkg/core.py") and not is_test_path("pkg/testing_utils.py")
    diff = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\ndiff --git a/old.py b/new.py\n"
    assert diff_paths(diff) == ["x.py", "old.py", "new.py"]


@pytest.mark.docker
def test_built_tasks_are_sound(mini_tasks):
    path, instances, report = mini_tasks
    ids = [i.instance_id for i in instances]
    assert len(set(ids)) == len(ids)
    for inst in instances:
        assert inst.FAIL_TO_PASS and inst.PASS_TO_PASS
        assert not set(inst.FAIL_TO_PASS) & set(inst.PASS_TO_PASS)
        assert inst.patch.startswith("diff --git") and inst.test_patch.startswith("diff --git")
        assert all(not is_test_path(p) for p in diff_paths(inst.patch))
        assert all(is_test_path(p) for p in diff_paths(inst.test_patch))
        # the statement quotes the failure but not the fix
        fixed_lines = [
            ln[1:].strip()
            for ln in inst.patch.splitlines()
            if ln.startswith("+") and not ln.startswith("+++")
        ]
        for line in fixed_lines:
            if line:
                assert line not in inst.problem_statement
        assert inst.mutation["function"] in inst.problem_statement
        assert len(inst.base_commit) == 40 and inst.environment_setup_commit


@pytest.mark.docker
def test_validate_gold_resolves_empty_does_not(mini_tasks):
    from typer.testing import CliRunner

    from agentgym.envs.swe.cli import tasks_app

    path, instances, _ = mini_tasks
    result = CliRunner().invoke(tasks_app, ["validate", str(path), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "2/2 tasks valid" in result.output


@pytest.mark.docker
def test_validate_flags_a_broken_task(mini_tasks, tmp_path):
    from agentgym.tasks.swe.records import write_instances
    from agentgym.tasks.swe.validate import validate_instance

    _, instances, _ = mini_tasks
    broken = instances[0].model_copy(update={"patch": ""})  # "gold" that fixes nothing
    v = validate_instance(broken)
    assert not v.ok and not v.gold.resolved
    write_instances(tmp_path / "b.jsonl", [broken])
