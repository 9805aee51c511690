"""SWE snapshots against a real Docker engine: a filesystem checkpoint (/testbed, /tmp with the shell's
state) restored into a fresh sandbox (declared not exact: background processes are not carried);
restores are independent sandboxes."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def swe_tasks(tmp_path_factory):
    from agentgym.sandbox.docker_backend import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        pytest.skip(reason)
    from agentgym.tasks.swe.build import build_package_tasks
    from agentgym.tasks.swe.minicalc import write_minicalc_sdist
    from agentgym.tasks.swe.records import write_instances

    out = tmp_path_factory.mktemp("swe_snapshot")
    report = build_package_tasks(str(write_minicalc_sdist(out)), out, seed=0, max_tasks=1, max_tries=30,
                                 log=lambda m: None)
    assert not report.error and report.kept, report.error or report.rejected
    path = out / "tasks.jsonl"
    write_instances(path, report.kept)
    return path, report.kept[0].instance_id


def _bash(command: str) -> str:
    return f"<tool_call>{json.dumps({'name': 'bash', 'arguments': {'command': command}})}</tool_call>"


def test_swe_restore_checkpoints_into_fresh_independent_sandboxes(swe_tasks):
    from agentgym.envs.swe.env import SWEEnv
    from agentgym.snapshot import verify_restore

    path, task_id = swe_tasks

    def make():
        return SWEEnv(tasks=str(path), pool_size=0)

    actions = [_bash("echo one > /tmp/mark.txt && mkdir -p notes && cd notes && export MARK=kept && echo x > n.txt"),
               _bash("echo two >> /tmp/mark.txt && cat /tmp/mark.txt && pwd && echo $MARK"),
               _bash("wc -l < /tmp/mark.txt && git -C /testbed status --short")]
    result = verify_restore(make, actions, seed=0, options={"task_id": task_id}, turn=1)
    assert (result.mechanism, result.exact) == ("state", False)
    assert "background processes" in result.caveat
    assert result.divergence is None, result.divergence

    original = make()
    twins = [make(), make()]
    try:
        original.reset(seed=0, options={"task_id": task_id})
        original.step(actions[0])
        snap = original.snapshot()
        for twin in twins:
            twin.restore(snap)
        twins[0].step(_bash("echo sibling >> /tmp/mark.txt"))
        assert twins[1].step(_bash("cat /tmp/mark.txt"))[0].splitlines()[0] == "one"  # then "[exit code 0]"
        assert twins[0].step(_bash("cat /tmp/mark.txt"))[0].splitlines()[:2] == ["one", "sibling"]
    finally:
        for env in (original, *twins):
            env.close()
