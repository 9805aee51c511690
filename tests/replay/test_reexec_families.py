"""Re-execution on every environment family: oracle episodes reproduce exactly; a tampered
observation is found at its turn. Families not yet in this checkout, or whose runtime is missing
(Docker engine, Chromium), are skipped with the reason."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from agentgym.baselines.policies.scripted import OraclePolicy
from agentgym.errors import TaskError
from agentgym.registration import available
from agentgym.replay.reexec import reexec, reexec_many
from agentgym.rollout import run_episode
from agentgym.trajectory import EpisodeRecord


def _no_runtime() -> str | None:
    return None


def _chromium() -> str | None:
    if not os.path.exists("/usr/bin/chromium"):
        return "Chromium is not installed (/usr/bin/chromium); apt-get install -y chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install 'agentgym[web]')"
    return None


def _docker() -> str | None:
    try:
        from agentgym.sandbox.docker_backend import docker_unavailable_reason
    except ImportError as exc:
        return f"the sandbox package is not importable: {exc}"
    return docker_unavailable_reason()


def _miniwob_oracle_tasks() -> list[str]:
    from agentgym.envs.web.miniwob import ORACLES

    return (
        ["click-button", "enter-text"]
        if {"click-button", "enter-text"} <= set(ORACLES)
        else list(ORACLES)[:2]
    )


def _swe_minicalc_tasks(folder: Path) -> dict[str, Any]:
    """A small SWE suite built by the family's real pipeline from its bundled minicalc sdist."""
    from agentgym.tasks.swe.build import build_package_tasks
    from agentgym.tasks.swe.minicalc import write_minicalc_sdist
    from agentgym.tasks.swe.records import write_instances

    archive = write_minicalc_sdist(folder)
    report = build_package_tasks(str(archive), folder, seed=0, max_tasks=2, max_tries=30, log=lambda m: None)
    assert not report.error and report.kept, report.error or report.rejected
    path = folder / "tasks.jsonl"
    write_instances(path, report.kept)
    return {"tasks": str(path), "pool_size": 0}


def _mcp_git() -> str | None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        return "the mcp package is not installed (pip install 'agentgym[tool]')"
    if _mcp_git_server() is None:
        return "mcp-server-git is not installed (pip install mcp-server-git)"
    return None


def _mcp_git_server() -> str | None:
    import shutil
    import sys

    path = shutil.which("mcp-server-git") or os.path.join(os.path.dirname(sys.executable), "mcp-server-git")
    return path if os.path.exists(path) else None


def _mcp_git_tasks(folder: Path) -> dict[str, Any]:
    """A git repository with one commit, served by the real mcp-server-git, and two tasks on it."""
    import subprocess

    repo = folder / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
    }
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "notes.txt").write_text("first line\n")
    subprocess.run(["git", "-C", str(repo), "add", "notes.txt"], check=True, env=env)
    subprocess.run(
        ["git", "-C", str(repo), "commit", "-qm", "Add notes about the quokka"], check=True, env=env
    )
    (repo / "todo.txt").write_text("ship it\n")
    tasks = [
        {
            "id": "last-commit",
            "prompt": f"What is the message of the latest commit in {repo}?",
            "gold_calls": [{"name": "git_log", "arguments": {"repo_path": str(repo)}}],
            "required_outputs": ["quokka"],
        },
        {
            "id": "untracked",
            "prompt": f"Which file in {repo} is untracked?",
            "gold_calls": [{"name": "git_status", "arguments": {"repo_path": str(repo)}}],
            "required_outputs": ["todo.txt"],
        },
    ]
    servers = [{"command": _mcp_git_server(), "args": ["--repository", str(repo)]}]
    return {"servers": servers, "tasks": tasks}


@dataclass
class Family:
    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    runtime: Callable[[], str | None] = _no_runtime
    marks: tuple[Any, ...] = ()
    tasks: Callable[[], list[str]] | None = None
    count: int = 2
    setup: Callable[[Path], dict[str, Any]] | None = None  # extra env kwargs built in a temp folder


FAMILIES = [
    Family("agentgym/SearchQA-v0", {"n_docs": 300, "n_questions": 20}),
    Family("agentgym/ToolUse-v0"),
    Family("agentgym/BFCL-v0"),
    Family("agentgym/MCP-v0", {}, _mcp_git, setup=_mcp_git_tasks),
    Family("agentgym/Web-v0", {}, _chromium, (pytest.mark.browser,), _miniwob_oracle_tasks),
    Family(
        "agentgym/SWE-v0",
        {},
        _docker,
        (pytest.mark.docker, pytest.mark.slow),
        count=1,
        setup=_swe_minicalc_tasks,
    ),
]


def _oracle_records(family: Family, kwargs: dict[str, Any]) -> list[EpisodeRecord]:
    try:
        env = gym.make(family.env_id, **kwargs)
    except TaskError as exc:
        if "not found" in str(exc):  # the family's task data is built by its own command
            pytest.skip(reason=f"{family.env_id}: task data unavailable: {exc}")
        raise
    try:
        listed = family.tasks() if family.tasks else (env.unwrapped.task_ids() or [])
        records: list[EpisodeRecord] = []
        for index, task_id in enumerate(listed[:12]):
            env.reset(seed=index, options={"task_id": task_id})
            if env.unwrapped.oracle_actions() is None:
                continue
            record = run_episode(
                env,
                OraclePolicy(),
                seed=index,
                task_id=task_id,
                env_id=family.env_id,
                env_kwargs=kwargs,
                catch=False,
            )
            records.append(record)
            if len(records) == family.count:
                break
    finally:
        env.close()
    if not records:
        pytest.fail(f"{family.env_id}: none of the first tasks has an oracle solution")
    return records


@pytest.mark.parametrize(
    "family", [pytest.param(f, id=f.env_id.split("/")[1], marks=f.marks) for f in FAMILIES]
)
def test_oracle_episodes_reproduce_and_tampering_is_found(family: Family, tmp_path: Path):
    if not available(family.env_id):
        pytest.skip(reason=f"{family.env_id}: its family module is not in this checkout yet")
    reason = family.runtime()
    if reason:
        pytest.skip(reason=f"{family.env_id}: runtime unavailable: {reason}")
    kwargs = {**family.kwargs, **(family.setup(tmp_path) if family.setup else {})}
    records = _oracle_records(family, kwargs)
    for record in records:
        assert not record.reward_invalid, record.error
        assert record.terminated, f"oracle episode of {record.task_id} did not terminate"
    results = reexec_many(records)
    for result in results:
        assert result.error is None, result.error
        assert result.divergence is None, result.divergence.describe()
        assert result.turns_replayed == len(result.record.steps)

    tampered = records[0].model_copy(deep=True)
    turn = len(tampered.steps)
    tampered.steps[-1].observation += " [tampered]"
    divergence = reexec(tampered)
    assert divergence is not None and (divergence.turn, divergence.field) == (turn, "observation")
