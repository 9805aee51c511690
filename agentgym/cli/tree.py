"""`agentgym run --branch K@TURNS`: play trees of episodes (`agentgym.tree`) and show them.

Each planned episode becomes a tree: the root episode, then K continuations restored from its
snapshot after each of TURNS. Records go to `--out` like any run (every record is a whole
episode, with `tree_id`, `parent_episode_id` and `branch_turn` naming its place in the tree);
`agentgym replay` and `agentgym report` show the trees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.cli.common import (
    check_env_options,
    check_output_path,
    check_positive,
    cli_errors,
    console,
    fail,
    make_policy,
    preflight_policy,
)


def run_branched(
    env_id: str | None, policy_spec: str, branch: str, *, episodes: int, reward: str | None, out: Path | None,
    seed: int, max_turns: int | None, env_args: list[str] | None, task: list[str] | None,
) -> list[Any]:
    """Check the inputs (exit 2 naming the first bad one), play the trees, write and show them."""
    from agentgym.rollout import plan_jobs
    from agentgym.trajectory import TrajectoryWriter
    from agentgym.tree import parse_branch, run_trees

    with cli_errors():
        try:
            k, turns = parse_branch(branch)
        except ValueError as exc:
            fail(str(exc))
        check_positive("--episodes", episodes)
        check_positive("--max-turns", max_turns)
        check_output_path(out, "--out")
        env_id, kwargs = check_env_options(env_id, env_args, reward, max_turns)
        preflight_policy(policy_spec)
        policy = make_policy(policy_spec)
    jobs = plan_jobs(task or None, episodes=None if task else episodes, seed=seed)
    with cli_errors(work=True):
        writer = TrajectoryWriter(out) if out is not None else None
        try:
            records = run_trees(env_id, policy, jobs, branch_turns=turns, k=k, env_kwargs=kwargs,
                                on_episode=writer.write if writer is not None else None)
        finally:
            if writer is not None:
                writer.close()
    for line in tree_lines(records):
        console.print(line, highlight=False, soft_wrap=True)
    return records


def _outcome(record: Any) -> str:
    if record.reward_invalid or record.report is None:
        return "invalid"
    label = "success" if record.success else "fail"
    return f"{label} return={record.report.return_:g}"


def tree_lines(records: list[Any]) -> list[str]:
    """The trees as indented text: each episode under its parent, with its branch turn."""
    children: dict[str | None, list[Any]] = {}
    for record in records:
        children.setdefault(getattr(record, "parent_episode_id", None), []).append(record)
    lines: list[str] = []

    def walk(record: Any, depth: int) -> None:
        turn = getattr(record, "branch_turn", None)
        where = "root" if turn is None else f"from turn {turn}, #{getattr(record, 'branch_index', 0)}"
        own = len(record.steps) - (turn or 0)
        lines.append(f"{'  ' * depth}{record.episode_id} ({where}) {own} own turn(s), {_outcome(record)}")
        for child in children.get(record.episode_id, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        lines.append(f"tree {root.episode_id} task {root.task_id}:")
        walk(root, 1)
    return lines
