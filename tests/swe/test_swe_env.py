"""SWE-v0 against a real Docker engine, on tasks built by the real pipeline from a tiny sdist."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import gymnasium
import pytest

pytestmark = pytest.mark.docker


def _labelled() -> set[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=agentgym.sandbox=1"], capture_output=True, text=True
    )
    return set(out.stdout.split())


def _wait_no_new(before: set[str], timeout: float = 30) -> set[str]:
    deadline = time.monotonic() + timeout
    while (extra := _labelled() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    return extra


def call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def make_env(path, **kwargs):
    from agentgym.envs.swe.env import SWEEnv

    kwargs.setdefault("pool_size", 0)
    return SWEEnv(tasks=str(path), **kwargs)


def run_actions(env, actions):
    info = {}
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return obs, reward, info
    raise AssertionError("episode did not end")


def test_registered_and_gold_resolves(mini_tasks):
    path, instances, _ = mini_tasks
    env = gymnasium.make("agentgym/SWE-v0", tasks=str(path), pool_size=0)
    try:
        obs, info = env.reset(seed=0, options={"task_id": instances[0].instance_id})
        assert "<issue>" in obs and "/testbed" in obs
        assert {t["function"]["name"] for t in info["tools"]} == {"bash", "editor", "submit"}
        assert "patch" not in json.dumps(info["task"])  # hidden fields stay hidden
        oracle = env.unwrapped.oracle_actions()
        _, reward, info = run_actions(env, oracle)
        tc = info["trajectory_components"]
        assert tc["outcome"] == "tests_pass" and tc["f2p_fraction"] == 1.0
        assert tc["modification"] == 1.0 and tc["test_tampering"] == 0.0
        assert info["metrics"] == {**info["metrics"], "completed": 1.0, "modified": 1.0, "success": 1.0}
        assert info["success"] is True and info["reward_invalid"] is False
        assert info["report"].return_gated >= 1.0
    finally:
        env.close()


def test_empty_wrong_and_no_submit(mini_tasks):
    path, instances, _ = mini_tasks
    inst = instances[0]
    env = make_env(path, max_turns=3)
    try:
        env.reset(options={"task_id": inst.instance_id})
        _, reward, info = run_actions(env, [call("submit")])
        assert info["trajectory_components"]["outcome"] == "empty_patch"
        assert info["metrics"]["modified"] == 0.0 and info["metrics"]["success"] == 0.0
        assert info["success"] is False

        # a wrong fix: a real source change that does not repair the bug
        env.reset(options={"task_id": inst.instance_id})
        src = inst.mutation["file"]
        _, reward, info = run_actions(
            env,
            [
                call("editor", command="insert", path=src, insert_line=0, new_str="# touched by the agent"),
                call("submit"),
            ],
        )
        tc = info["trajectory_components"]
        assert tc["outcome"] == "tests_fail" and tc["modification"] == 1.0 and tc["f2p_fraction"] == 0.0
        assert tc["log_unusable"] == 0.0 and info["success"] is False
        assert env.last_grade.usable and not env.last_grade.resolved

        # the turn limit without submitting: no_submit, truncated
        env.reset(options={"task_id": inst.instance_id})
        for _ in range(3):
            obs, reward, terminated, truncated, info = env.step(call("bash", command="ls"))
        assert truncated and not terminated
        assert info["trajectory_components"]["outcome"] == "no_submit"
        assert info["metrics"]["completed"] == 0.0
    finally:
        env.close()


def test_test_tampering_detected_and_restored(mini_tasks):
    path, instances, _ = mini_tasks
    inst = instances[0]
    test_file = inst.FAIL_TO_PASS[0].split("::")[0]
    env = make_env(path)
    try:
        env.reset(options={"task_id": inst.instance_id})
        fake = "def test_everything_passes():\n    assert True\n"
        _, reward, info = run_actions(
            env,
            [
                call("editor", command="create", path=test_file, file_text=fake),
                call(
                    "editor",
                    command="create",
                    path="tests/conftest.py",
                    file_text="collect_ignore_glob = ['*']\n",
                ),
                call(
                    "editor",
                    command="insert",
                    path=inst.mutation["file"],
                    insert_line=0,
                    new_str="# no real fix",
                ),
                call("submit"),
            ],
        )
        tc = info["trajectory_components"]
        assert tc["test_tampering"] == 1.0
        assert tc["outcome"] == "tests_fail"
        grade = env.last_grade
        # the real hidden tests ran (restored), not the agent's fake ones
        assert inst.FAIL_TO_PASS[0] in grade.status_map
        assert not any("test_everything_passes" in t for t in grade.status_map)
        assert test_file in {f.split("::")[0] for f in grade.status_map}
    finally:
        env.close()


def test_hanging_command_times_out_and_next_works(mini_tasks):
    path, instances, _ = mini_tasks
    env = make_env(path, command_timeout=2)
    try:
        env.reset(options={"task_id": instances[0].instance_id})
        t0 = time.monotonic()
        obs, *_, info = env.step(call("bash", command="sleep 600; echo never"))
        assert time.monotonic() - t0 < 20
        assert "timed out" in obs and "[exit code 124]" in obs
        assert info["components"]["command_ok"] == 0.0
        obs, *_, info = env.step(call("bash", command="echo still-here && git status --short | wc -l"))
        assert "still-here" in obs and info["components"]["command_ok"] == 1.0
    finally:
        env.close()


def test_editor_errors_are_observations(mini_tasks):
    path, instances, _ = mini_tasks
    env = make_env(path)
    try:
        env.reset(options={"task_id": instances[0].instance_id})
        obs, *_, info = env.step(
            call(
                "editor",
                command="str_replace",
                path="minicalc/__init__.py",
                old_str="no such text",
                new_str="x",
            )
        )
        assert "occurs 0 times" in obs and info["components"]["edit_applied"] == 0.0
        assert info["action_valid"] is True
        obs, *_, info = env.step(
            call("editor", command="view", path="minicalc/__init__.py", view_range=[1, 5])
        )
        assert "minicalc: small numeric helpers" in obs
        obs, *_, info = env.step(call("editor", command="frobnicate", path="x"))
        assert info["action_valid"] is False
        obs, *_, info = env.step("I think I am done, no tool call here")
        assert info["action_valid"] is False
    finally:
        env.close()


def test_container_killed_mid_episode_is_reward_invalid(mini_tasks):
    path, instances, _ = mini_tasks
    before = _labelled()
    env = make_env(path)
    try:
        env.reset(options={"task_id": instances[0].instance_id})
        env.step(call("bash", command="echo hi"))
        env.unwrapped.sandbox.container.kill()
        obs, reward, terminated, truncated, info = env.step(call("bash", command="echo again"))
        assert truncated and info["reward_invalid"] is True
        assert reward == 0.0 and "Infrastructure error" in obs
        # the env keeps working afterwards
        env.reset(options={"task_id": instances[0].instance_id})
        obs, *_ = env.step(call("bash", command="echo recovered"))
        assert "recovered" in obs
    finally:
        env.close()
    assert _wait_no_new(before) == set()


def test_container_killed_before_grading_is_reward_invalid(mini_tasks):
    path, instances, _ = mini_tasks
    env = make_env(path)
    try:
        env.reset(options={"task_id": instances[0].instance_id})
        env.unwrapped.sandbox.container.kill()
        obs, reward, terminated, truncated, info = env.step(call("submit"))
        assert info["reward_invalid"] is True and info["metrics"] == {}
    finally:
        env.close()


def test_eight_envs_in_parallel_no_leaks(mini_tasks):
    path, instances, _ = mini_tasks
    before = _labelled()
    results: list = [None] * 8
    errors: list = []

    def worker(i: int) -> None:
        env = make_env(path)
        try:
            inst = instances[i % len(instances)]
            env.reset(seed=i, options={"task_id": inst.instance_id})
            _, _, info = run_actions(env, env.oracle_actions())
            results[i] = info["trajectory_components"]["outcome"]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            env.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert results == ["tests_pass"] * 8
    assert _wait_no_new(before) == set()


def test_warm_pool_reset_reuses_prepared_containers(mini_tasks):
    path, instances, _ = mini_tasks
    before = _labelled()
    env = make_env(path, pool_size=1)
    try:
        a, b = instances[0], instances[1]
        env.reset(options={"task_id": a.instance_id})
        pool = env._pools[a.image]
        pool.wait_ready(60)
        t0 = time.monotonic()
        env.reset(
            options={"task_id": a.instance_id}
        )  # same task again (GRPO group): prepared in the background
        assert time.monotonic() - t0 < 10
        assert env.unwrapped.sandbox.prepared_for == a.instance_id
        assert env.unwrapped.sandbox.run("git rev-parse HEAD").output.strip() == a.base_commit
        pool.wait_ready(60)
        env.reset(options={"task_id": b.instance_id})  # container prepared for a: reset to pristine, set up b
        sb = env.unwrapped.sandbox
        assert sb.run("git rev-parse HEAD").output.strip() == b.base_commit
        assert sb.run("git status --porcelain").output.strip() == ""
        _, _, info = run_actions(env, env.oracle_actions())
        assert info["trajectory_components"]["outcome"] == "tests_pass"
    finally:
        env.close()
    assert _wait_no_new(before) == set()


def test_same_seed_same_episode_start(mini_tasks):
    path, _, _ = mini_tasks
    env = make_env(path)
    try:
        obs1, info1 = env.reset(seed=123)
        obs2, info2 = env.reset(seed=123)
        assert info1["task_id"] == info2["task_id"] and obs1 == obs2
    finally:
        env.close()


def test_local_backend_gold_resolves(mini_tasks):
    from agentgym.sandbox.local_backend import bwrap_available

    if reason := bwrap_available():
        pytest.skip(reason)
    path, instances, _ = mini_tasks
    env = make_env(path, backend="local")
    try:
        env.reset(options={"task_id": instances[1].instance_id})
        _, _, info = run_actions(env, env.oracle_actions())
        assert info["trajectory_components"]["outcome"] == "tests_pass"
    finally:
        env.close()


def test_reset_recovers_from_a_pooled_container_that_died(mini_tasks):
    path, instances, _ = mini_tasks
    before = _labelled()
    env = make_env(path, pool_size=1)
    try:
        inst = instances[0]
        env.reset(options={"task_id": inst.instance_id})
        pool = env._pools[inst.image]
        pool.wait_ready(60)
        for box in list(pool._ready):
            box.container.kill()
        env.reset(options={"task_id": inst.instance_id})
        assert env.unwrapped.sandbox.run("git rev-parse HEAD").output.strip() == inst.base_commit
    finally:
        env.close()
    assert _wait_no_new(before) == set()


def test_bytecode_the_base_commit_tracks_is_not_an_agent_change():
    """An sdist that ships `__pycache__/*.pyc` (inflection 0.5.1 does) has them in the base commit;
    the agent's tree never carries bytecode, so an empty submission must grade as `empty_patch`,
    not as a source change that fails the tests."""
    import agentgym  # noqa: F401 - registers the env ids

    tid = "inflection__inflection-0.5.1-pluralize-908bd429"
    env = gymnasium.make("agentgym/SWE-v0", pool_size=0)
    try:
        env.reset(options={"task_id": tid})
        listing = env.unwrapped.sandbox.exec(["/usr/bin/git", "-c", "safe.directory=*", "ls-files"], cwd="/testbed")
        assert any(p.endswith(b".pyc") for p in listing.stdout.split()), "the task no longer tracks bytecode: pick another task for this test"
        _, _, info = run_actions(env, [call("submit")])
        tc = info["trajectory_components"]
        assert tc["outcome"] == "empty_patch" and tc["modification"] == 0.0
    finally:
        env.close()
