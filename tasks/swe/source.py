"""SWE tasks as an env sees them: `SWETask` (the agent's view of one SWE instance) and `swe_tasks`,
the `TaskSource` of `agentgym/SWE-v0` (listable without Docker: it only reads the task file)."""

from __future__ import annotations

from pathlib import Path

from agentgym.errors import TaskError
from agentgym.task import Task, TaskSource, hidden

from .records import DEFAULT_TASKS, SWEInstance, load_instances

PROMPT_TEMPLATE = """<issue>
{problem}</issue>

The repository {repo} (version {version}) is at /testbed. Run Python with `python3`; pytest is installed{pypath}.
Find the cause of the issue, fix it in the library code with the tools, and call `submit` when you are done."""


class SWETask(Task):
    """A public view of one SWE instance; the record (gold patch, hidden tests) is hidden."""

    repo: str = ""
    instance: SWEInstance = hidden(None)


def task_from_instance(inst: SWEInstance) -> SWETask:
    """The task (prompt and public metadata) of one SWE record."""
    pypath = (
        f" (PYTHONPATH={inst.test_env['PYTHONPATH']} for the package)"
        if inst.test_env.get("PYTHONPATH")
        else ""
    )
    prompt = PROMPT_TEMPLATE.format(
        problem=inst.problem_statement, repo=inst.repo, version=inst.version, pypath=pypath
    )
    return SWETask(
        id=inst.instance_id,
        prompt=prompt,
        repo=inst.repo,
        instance=inst,
        metadata={"repo": inst.repo, "version": inst.version, "base_commit": inst.base_commit},
    )


def swe_tasks(tasks: str | Path | list[SWEInstance] | None = None) -> TaskSource[SWETask]:
    """The tasks of a SWE task file (JSONL or .jsonl.gz; default: the shipped suite) or of a list
    of records, ordered by instance id; train/test split by each id's stable hash."""
    where = "the given SWE records" if isinstance(tasks, list) else str(tasks or DEFAULT_TASKS)

    def load() -> list[SWETask]:
        instances = tasks if isinstance(tasks, list) else load_instances(tasks)
        if not instances:
            raise TaskError(f"no SWE tasks in {where}")
        return [task_from_instance(inst) for inst in sorted(instances, key=lambda i: i.instance_id)]

    return TaskSource(load, name=f"SWE tasks ({where})")
