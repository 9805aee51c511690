"""SWE tasks as an env sees them: `SWETask` (the agent's view of one SWE instance) and `swe_tasks`,
the `TaskSource` of `agentgym/SWE-v0` (listable without Docker: it only reads the task file).

`tasks` may be a task file, a list of records, or a spec with filters:
`"suite?difficulty=hard&packages=toolz,parse&split=train"` (the shipped multi-package suite),
`"my_tasks.jsonl?difficulty=easy"`; `statement=rewrite` poses the policy-rewritten problem
statement where a record has one (`rewrite`), the template otherwise."""

from __future__ import annotations

from pathlib import Path

from agentgym.errors import TaskError
from agentgym.task import Task, TaskSource, hidden

from .difficulty import difficulty_of
from .records import DEFAULT_TASKS, SWEInstance, load_instances
from .suite import filter_instances, load_suite, parse_task_spec

PROMPT_TEMPLATE = """<issue>
{problem}</issue>

The repository {repo} (version {version}) is at /testbed. Run Python with `python3`; pytest is installed{pypath}.
Find the cause of the issue, fix it in the library code with the tools, and call `submit` when you are done."""


class SWETask(Task):
    """A public view of one SWE instance; the record (gold patch, hidden tests) is hidden."""

    repo: str = ""
    instance: SWEInstance = hidden(None)


def task_from_instance(inst: SWEInstance, statement: str = "template") -> SWETask:
    """The task (prompt and public metadata) of one SWE record; `statement="rewrite"` uses the
    record's user-style rewrite when it has one."""
    pypath = (
        f" (PYTHONPATH={inst.test_env['PYTHONPATH']} for the package)"
        if inst.test_env.get("PYTHONPATH")
        else ""
    )
    problem = inst.problem_statement
    if statement == "rewrite" and inst.problem_statement_rewrite:
        problem = inst.problem_statement_rewrite
    prompt = PROMPT_TEMPLATE.format(problem=problem, repo=inst.repo, version=inst.version, pypath=pypath)
    return SWETask(
        id=inst.instance_id,
        prompt=prompt,
        repo=inst.repo,
        instance=inst,
        metadata={
            "repo": inst.repo,
            "version": inst.version,
            "base_commit": inst.base_commit,
            "difficulty": difficulty_of(inst)["level"],
        },
    )


def _load_spec(spec: str | Path | None) -> tuple[list[SWEInstance], str]:
    """Records of a task file or of `suite`, with the spec's filters applied; (records, statement)."""
    if spec is None or isinstance(spec, Path):
        return load_instances(spec), "template"
    base, filters = parse_task_spec(spec)
    statement = filters.pop("statement", "template")
    if statement not in ("template", "rewrite"):
        raise TaskError(f"statement={statement!r}: expected template or rewrite")
    instances = load_suite() if base == "suite" else load_instances(base or None)
    return filter_instances(instances, **filters), statement


def swe_tasks(tasks: str | Path | list[SWEInstance] | None = None) -> TaskSource[SWETask]:
    """The tasks of a SWE task file (JSONL or .jsonl.gz; default: the shipped 64-task file), of the
    shipped multi-package suite (`"suite"`), or of a list of records, with optional filters
    (`"suite?difficulty=hard&split=train"`), ordered by instance id; train/test split by each id's
    stable hash."""
    where = "the given SWE records" if isinstance(tasks, list) else str(tasks or DEFAULT_TASKS)

    def load() -> list[SWETask]:
        if isinstance(tasks, list):
            instances, statement = tasks, "template"
        else:
            instances, statement = _load_spec(tasks)
        if not instances:
            raise TaskError(f"no SWE tasks in {where}")
        return [
            task_from_instance(inst, statement) for inst in sorted(instances, key=lambda i: i.instance_id)
        ]

    return TaskSource(load, name=f"SWE tasks ({where})")
