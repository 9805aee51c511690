"""`agentgym tasks swe ...`: build SWE tasks from PyPI packages, validate task files, list them."""

from __future__ import annotations

from pathlib import Path

import typer

tasks_app = typer.Typer(
    help="SWE tasks: build from real PyPI packages, validate, list.", no_args_is_help=True
)


@tasks_app.command()
def build(
    package: list[str] = typer.Option(..., "--package", "-p", help="NAME==VERSION (repeatable)"),
    out: Path = typer.Option(Path("swe_tasks.jsonl"), "--out", "-o", help="JSONL (or .jsonl.gz) to write"),
    seed: int = typer.Option(0, help="mutation order seed (same seed, same tasks)"),
    max_tasks: int = typer.Option(12, help="tasks per package at most"),
    max_tries: int = typer.Option(80, help="mutations tried per package at most"),
    append: bool = typer.Option(False, help="append to OUT instead of overwriting"),
) -> None:
    """Download each package's sdist, build its image, inject bugs and keep those the tests catch.

    The sdists are stored in `archives/` next to OUT (records refer to them by file name).
    """
    from agentgym.tasks.swe.build import build_package_tasks
    from agentgym.tasks.swe.records import load_instances, write_instances

    instances = load_instances(out) if append and out.exists() else []
    failed = 0
    for spec in package:
        try:
            report = build_package_tasks(
                spec, out.parent, seed=seed, max_tasks=max_tasks, max_tries=max_tries, log=typer.echo
            )
        except Exception as exc:  # noqa: BLE001 - one bad package must not stop the others
            typer.echo(f"{spec}: FAILED: {exc}", err=True)
            failed += 1
            continue
        if report.error:
            typer.echo(f"{spec}: skipped: {report.error}", err=True)
            failed += 1
        typer.echo(
            f"{spec}: kept {len(report.kept)} of {report.tried} mutations tried "
            f"({report.baseline_tests} baseline tests, {report.seconds:.0f} s); rejected {report.rejected}"
        )
        instances = [
            i for i in instances if i.instance_id not in {k.instance_id for k in report.kept}
        ] + report.kept
    write_instances(out, instances)
    typer.echo(f"wrote {len(instances)} tasks to {out}")
    raise typer.Exit(1 if failed == len(package) else 0)


@tasks_app.command()
def validate(
    file: Path = typer.Argument(None, help="task JSONL (default: the shipped suite)"),
    limit: int = typer.Option(0, help="validate only the first N tasks"),
    instance: list[str] = typer.Option(None, "--instance", "-i", help="only these instance ids"),
    jobs: int = typer.Option(1, "--jobs", "-j", help="tasks validated in parallel"),
) -> None:
    """Grade every task's gold patch (must resolve) and an empty patch (must not); prints a table."""
    from rich.table import Table

    from agentgym.cli.common import console
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.validate import validate_instance

    instances = load_instances(file)
    if instance:
        instances = [i for i in instances if i.instance_id in set(instance)]
    if limit:
        instances = instances[:limit]
    table = Table(title=f"SWE task validation ({len(instances)} tasks)")
    for col in ("instance", "F2P", "P2P", "gold", "empty", "s", "ok"):
        table.add_column(col)
    bad = 0
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        results = list(ex.map(validate_instance, instances))
    for inst, v in zip(instances, results, strict=True):
        bad += not v.ok
        gold = (
            "error: " + v.error[:60] if v.error else ("resolved" if v.gold.resolved else v.gold.reason[:60])
        )
        empty = "" if v.error else ("RESOLVED" if v.empty.resolved else "not resolved")
        table.add_row(
            inst.instance_id,
            str(len(inst.FAIL_TO_PASS)),
            str(len(inst.PASS_TO_PASS)),
            gold,
            empty,
            f"{v.seconds:.1f}",
            "ok" if v.ok else "FAIL",
        )
    console.print(table)
    typer.echo(f"{len(instances) - bad}/{len(instances)} tasks valid")
    raise typer.Exit(1 if bad else 0)


@tasks_app.command("list")
def list_(file: Path = typer.Argument(None, help="task JSONL (default: the shipped suite)")) -> None:
    """List tasks: id, package, mutation operator, FAIL_TO_PASS / PASS_TO_PASS counts."""
    from agentgym.tasks.swe.records import load_instances

    for inst in load_instances(file):
        typer.echo(
            f"{inst.instance_id}\t{inst.repo}\t{inst.mutation.get('operator', '')}\t"
            f"{len(inst.FAIL_TO_PASS)}\t{len(inst.PASS_TO_PASS)}"
        )
