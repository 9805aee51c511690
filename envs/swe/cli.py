"""`agentgym tasks swe ...`: build SWE tasks from PyPI packages, validate task files, list them."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from agentgym.cli.common import (
    EXIT_FAILURE,
    check_input_path,
    check_output_path,
    cli_errors,
    error_message,
    fail,
)

_REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\s*(==|>=|<=|~=|!=|>|<)\s*[A-Za-z0-9.*+!_-]+)?$")
_SDIST = (".tar.gz", ".tgz", ".zip")


def check_package(spec: str) -> None:
    """Exit 2 unless `spec` is NAME[==VERSION] (a requirement pip can download) or an existing
    local sdist (.tar.gz, .tgz, .zip)."""
    if spec.endswith(_SDIST) or "/" in spec or spec.startswith("."):
        path = Path(spec)
        if not path.is_file():
            fail(f"--package {spec}: local sdist not found")
        if not spec.endswith((".tar.gz", ".tgz")):
            fail(f"--package {spec}: a local sdist must be a .tar.gz or .tgz file")
        return
    if not _REQUIREMENT.match(spec.strip()):
        fail(f"--package {spec!r}: expected NAME==VERSION (e.g. attrs==23.2.0) or a local sdist path")

tasks_app = typer.Typer(
    help="SWE tasks: build from real PyPI packages, validate, list.", no_args_is_help=True
)


@tasks_app.command()
def build(
    package: list[str] = typer.Option(..., "--package", "-p", help="NAME==VERSION (repeatable)"),
    out: Path = typer.Option(Path("swe_tasks.jsonl"), "--out", "-o", help="JSONL (or .jsonl.gz) to write"),
    seed: int = typer.Option(0, min=0, help="mutation order seed (same seed, same tasks)"),
    max_tasks: int = typer.Option(12, min=1, help="tasks per package at most"),
    max_tries: int = typer.Option(80, min=1, help="mutations tried per package at most"),
    append: bool = typer.Option(False, help="append to OUT instead of overwriting"),
) -> None:
    """Download each package's sdist, build its image, inject bugs and keep those the tests catch.

    The sdists are stored in `archives/` next to OUT (records refer to them by file name). OUT is
    written only when some task was built (or with --append); exit 1 when every package failed.
    """
    from agentgym.tasks.swe.build import build_package_tasks
    from agentgym.tasks.swe.records import load_instances, write_instances

    for spec in package:
        check_package(spec)
    check_output_path(out, "--out")
    with cli_errors():
        instances = load_instances(out) if append and out.exists() else []
    before = len(instances)
    failed = 0
    built = 0
    for spec in package:
        try:
            report = build_package_tasks(
                spec, out.parent, seed=seed, max_tasks=max_tasks, max_tries=max_tries, log=typer.echo
            )
        except Exception as exc:  # noqa: BLE001 - one bad package must not stop the others
            typer.echo(f"{spec}: FAILED: {type(exc).__name__}: {error_message(exc)}", err=True)
            failed += 1
            continue
        if report.error:
            typer.echo(f"{spec}: skipped: {report.error}", err=True)
            failed += 1
        typer.echo(
            f"{spec}: kept {len(report.kept)} of {report.tried} mutations tried "
            f"({report.baseline_tests} baseline tests, {report.seconds:.0f} s); rejected {report.rejected}"
        )
        built += len(report.kept)
        instances = [
            i for i in instances if i.instance_id not in {k.instance_id for k in report.kept}
        ] + report.kept
    if built == 0 and not (append and before):
        fail(f"no task was built ({failed} of {len(package)} package(s) failed); {out} not written", EXIT_FAILURE)
    write_instances(out, instances)
    typer.echo(f"wrote {len(instances)} tasks to {out}")
    if failed == len(package):
        fail(f"all {failed} package(s) failed", EXIT_FAILURE)


@tasks_app.command()
def validate(
    file: Path = typer.Argument(None, help="task JSONL (default: the shipped suite)"),
    limit: int = typer.Option(0, min=0, help="validate only the first N tasks (0: all)"),
    instance: list[str] = typer.Option(None, "--instance", "-i", help="only these instance ids"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="tasks validated in parallel"),
) -> None:
    """Grade every task's gold patch (must resolve) and an empty patch (must not); prints a table."""
    from rich.table import Table

    from agentgym.cli.common import console
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.validate import validate_instance

    check_input_path(file, "FILE")
    with cli_errors():
        instances = load_instances(file)
    if instance:
        known = {i.instance_id for i in instances}
        missing = [i for i in instance if i not in known]
        if missing:
            import difflib

            close = difflib.get_close_matches(missing[0], sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            fail(f"--instance {missing[0]!r}: no such task in {file or 'the shipped suite'}{hint}")
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

    check_input_path(file, "FILE")
    with cli_errors():
        instances = load_instances(file)
    for inst in instances:
        typer.echo(
            f"{inst.instance_id}\t{inst.repo}\t{inst.mutation.get('operator', '')}\t"
            f"{len(inst.FAIL_TO_PASS)}\t{len(inst.PASS_TO_PASS)}"
        )
