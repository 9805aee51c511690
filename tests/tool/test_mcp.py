"""MCP bridge and MCP-v0 against real MCP servers from PyPI (mcp-server-git, mcp-server-time) and
agentgym's own `agentgym mcp serve WORLD`."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym  # noqa: F401
from agentgym.errors import InfrastructureError, ToolError
from agentgym.family import task_source
from agentgym.tools import ToolCall

pytest.importorskip("mcp", reason="the MCP bridge needs the mcp package (extra: tool)")


def server_command(name: str) -> str:
    path = shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        pytest.skip(reason=f"{name} is not installed (pip install {name})")
    return path


@pytest.fixture
def git_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "notes.txt").write_text("first line\n")
    subprocess.run(["git", "-C", str(repo), "add", "notes.txt"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "Add notes about the quokka"], check=True, env=env)
    (repo / "todo.txt").write_text("ship it\n")
    return repo


def run(env, actions):
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return obs, reward, terminated, truncated, info
    raise AssertionError("episode did not end")


def test_git_server_task_with_oracle_and_a_wrong_answer(git_repo):
    servers = [{"command": server_command("mcp-server-git"), "args": ["--repository", str(git_repo)]}]
    tasks = [{
        "id": "last-commit",
        "prompt": f"What is the message of the latest commit in {git_repo}?",
        "gold_calls": [{"name": "git_log", "arguments": {"repo_path": str(git_repo)}}],
        "required_outputs": ["quokka"],
    }, {
        "id": "untracked",
        "prompt": f"Which file in {git_repo} is untracked?",
        "gold_calls": [{"name": "git_status", "arguments": {"repo_path": str(git_repo)}}],
        "required_outputs": ["todo.txt"],
    }]
    env = gym.make("agentgym/MCP-v0", servers=servers, tasks=tasks)
    try:
        obs, info = env.reset(options={"task_id": "last-commit"})
        names = {t["function"]["name"] for t in info["tools"]}
        assert {"git_log", "git_status", "git_commit"} <= names
        assert all(t["type"] == "function" and t["function"]["parameters"]["type"] == "object" for t in info["tools"])
        assert "gold_calls" not in info["task"]
        obs, reward, terminated, truncated, info = env.step(
            f'<tool_call>{{"name": "git_log", "arguments": {{"repo_path": "{git_repo}"}}}}</tool_call>')
        assert "quokka" in obs and info["components"]["tool_ok"] == 1.0
        assert info["components"]["checklist"] == pytest.approx(0.5)
        obs, reward, terminated, truncated, info = env.step("The latest commit says: Add notes about the quokka.")
        assert terminated and info["metrics"]["success"] == 1.0 and info["report"].return_outcome == 1.0

        env.reset(options={"task_id": "untracked"})
        *_, info = run(env, env.unwrapped.oracle_actions())
        assert info["metrics"]["success"] == 1.0

        env.reset(options={"task_id": "untracked"})
        obs, reward, terminated, truncated, info = env.step("notes.txt")  # no call, wrong file
        assert terminated and info["trajectory_components"]["outcome"] == "fail"
        # bad arguments and unknown tools are error observations
        env.reset(options={"task_id": "untracked"})
        obs, *_, info = env.step('<tool_call>{"name": "git_status", "arguments": {"repo": 3}}</tool_call>')
        assert obs.startswith("Error") and not info["action_valid"]
        obs, *_, info = env.step('<tool_call>{"name": "git_push", "arguments": {}}</tool_call>')
        assert "unknown tool" in obs
        show = {"name": "git_show", "arguments": {"repo_path": str(git_repo), "revision": "nope"}}
        obs, *_, info = env.step(f"<tool_call>{json.dumps(show)}</tool_call>")
        assert obs.startswith("Error") and info["action_valid"] and info["components"]["tool_ok"] == 0.0
    finally:
        env.close()


def test_killed_server_gives_reward_invalid_and_reset_restarts_it():
    servers = [{"command": server_command("mcp-server-time"), "args": ["--local-timezone", "UTC"]}]
    env = gym.make("agentgym/MCP-v0", servers=servers)
    try:
        obs, info = env.reset(options={"prompt": "What time is it in Tokyo?"})
        assert {t["function"]["name"] for t in info["tools"]} == {"get_current_time", "convert_time"}
        obs, reward, terminated, truncated, info = env.step(
            '<tool_call>{"name": "get_current_time", "arguments": {"timezone": "Asia/Tokyo"}}</tool_call>')
        assert "Asia/Tokyo" in obs and not truncated
        pid = env.unwrapped.client.server_pids()[0]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
        obs, reward, terminated, truncated, info = env.step(
            '<tool_call>{"name": "get_current_time", "arguments": {"timezone": "UTC"}}</tool_call>')
        assert truncated and info["reward_invalid"] is True and reward == 0.0
        assert obs.startswith("Infrastructure error")
        obs, info = env.reset(options={"prompt": "again"})  # a fresh server
        obs, reward, terminated, truncated, info = env.step(
            '<tool_call>{"name": "get_current_time", "arguments": {"timezone": "UTC"}}</tool_call>')
        assert '"timezone": "UTC"' in obs
        obs, reward, terminated, truncated, info = env.step("It is some time.")
        assert terminated and not info["reward_invalid"] and reward > 0  # free form: step components only
    finally:
        env.close()


def test_agentgym_world_served_over_mcp_matches_the_world():
    from agentgym.envs.tool.worlds import make_world
    from agentgym.mcp.client import MCPClient

    client = MCPClient([{"command": sys.executable, "args": ["-m", "agentgym", "mcp", "serve", "retail", "--seed", "1"]}])
    try:
        world = make_world("retail", 1)
        assert client.tool_names == world.toolset().names
        served = {s["function"]["name"]: s["function"]["parameters"] for s in client.schemas()}
        assert served == {s["function"]["name"]: s["function"]["parameters"] for s in world.toolset().schemas()}
        user = world.rows("SELECT * FROM users ORDER BY user_id")[0]
        assert client.call("find_user_id_by_email", {"email": user["email"]}) == user["user_id"]
        order = world.rows("SELECT order_id FROM orders WHERE status='pending' ORDER BY order_id")[0]["order_id"]
        text = client.call("cancel_pending_order", {"order_id": order, "reason": "ordered by mistake"})
        assert "cancelled" in text
        with pytest.raises(ToolError, match="only pending"):
            client.call("cancel_pending_order", {"order_id": order, "reason": "ordered by mistake"})
        with pytest.raises(ToolError, match="Invalid arguments"):
            client.call("get_order_details", {"order_id": 5})
        result = client.toolset().call(ToolCall(name="get_order_details", arguments={"order_id": order}))
        assert result.ok and '"status": "cancelled"' in result.content
    finally:
        client.close()
    with pytest.raises(InfrastructureError):
        client.call("get_user_details", {"user_id": "x"})


def test_default_mcp_env_passes_check_env():
    env = gym.make("agentgym/MCP-v0")
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_server_that_cannot_start_is_an_infrastructure_error():
    from agentgym.mcp.client import MCPClient

    with pytest.raises(InfrastructureError):
        MCPClient([{"command": sys.executable, "args": ["-c", "import sys; sys.exit(3)"]}], start_timeout=30)


def test_any_toolset_served_by_module_attribute(tmp_path):
    from agentgym.mcp.client import MCPClient

    (tmp_path / "mytools.py").write_text(
        "from agentgym import tool, Toolset\n\n"
        "@tool\ndef add(a: int, b: int) -> int:\n    \"\"\"Add two integers.\"\"\"\n    return a + b\n\n"
        "TOOLS = Toolset([add])\n")
    client = MCPClient([{"command": sys.executable, "args": ["-m", "agentgym", "mcp", "serve", "mytools:TOOLS"],
                         "env": {"PYTHONPATH": str(tmp_path)}}])
    try:
        assert client.tool_names == ["add"]
        assert client.call("add", {"a": 2, "b": 40}) == "42"
        with pytest.raises(ToolError):
            client.call("add", {"a": "two", "b": 1})
    finally:
        client.close()


def test_tasks_from_a_jsonl_file(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"id": "t1", "prompt": "hi", "required_outputs": ["x"]}) + "\n")
    env = gym.make("agentgym/MCP-v0", servers=[{"command": "unused"}], tasks=str(path))
    assert env.unwrapped.task_ids() == ["t1"]  # servers start lazily, at the first reset
    env.close()


def test_free_form_sessions_have_no_task_and_no_success():
    servers = [{"command": server_command("mcp-server-time"), "args": ["--local-timezone", "UTC"]}]
    env = gym.make("agentgym/MCP-v0", servers=servers)
    try:
        u = env.unwrapped
        assert u.tasks is None and u.task_ids() is None and u.outcome is None
        obs, info = env.reset()
        assert info["task_id"] == "free-form" and u.oracle_actions() is None
        with pytest.raises(agentgym.TaskError, match="no tasks"):
            env.reset(options={"task_id": "anything"})
        env.reset(options={"prompt": "What time is it?"})
        obs, reward, terminated, truncated, info = env.step("Noon.")
        assert terminated and info["success"] is None and "success" not in info["metrics"]
        assert info["trajectory_components"] == {"answered": 1.0}
    finally:
        env.close()
    assert task_source("agentgym/MCP-v0", {}) is None


def test_env_with_tasks_also_takes_a_free_form_prompt(git_repo):
    servers = [{"command": server_command("mcp-server-git"), "args": ["--repository", str(git_repo)]}]
    tasks = [{"id": "t", "prompt": "p", "required_outputs": ["x"]}]
    env = gym.make("agentgym/MCP-v0", servers=servers, tasks=tasks)
    try:
        _, info = env.reset(options={"prompt": "Look around."})
        assert info["task_id"] == "free-form"
        with pytest.raises(agentgym.TaskError, match="free-form prompt"):
            env.reset(options={"prompt": "Look around.", "task_id": "t"})
        _, info = env.reset()
        assert info["task_id"] == "t"
    finally:
        env.close()


def test_files_suite_oracle_succeeds_on_the_default_server():
    """The built-in tasks for the default server (agentgym's file-system world over MCP): what
    `agentgym check agentgym/MCP-v0` plays; the server restarts each episode (the tasks write)."""
    source = task_source("agentgym/MCP-v0", {"suite": "files"})
    assert len(source) == 15 and all(i.startswith("mcp-files-") for i in source.ids())
    env = gym.make("agentgym/MCP-v0", suite="files")
    try:
        u = env.unwrapped
        assert u.restart_per_episode and u.outcome is not None
        for task_id in ["mcp-files-move-000", "mcp-files-count-004", "mcp-files-move-000"]:
            env.reset(options={"task_id": task_id})
            *_, info = run(env, u.oracle_actions())
            assert info["success"] is True, (task_id, info["trajectory_components"])
            assert info["metrics"]["checklist"] == pytest.approx(1.0)
            assert not info["report"].warnings
    finally:
        env.close()
