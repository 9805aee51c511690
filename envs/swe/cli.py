"""`agentgym tasks swe ...`: build SWE tasks from PyPI packages (in parallel, resumable), validate
task files or the shipped suite, fetch sdists into the cache, rewrite problem statements with a
policy, export a task as a prebuilt image (bring-your-own datasets), list tasks."""

from __future__ import annotations

import json
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
    help="SWE tasks: build from real PyPI packages (in parallel, resumable), validate, fetch sdists, list.",
    no_args_is_help=True,
)


def _load(file: Path | None, suite: bool, difficulty: str | None, packages: str | None, split: str | None):
    """Records of FILE, of the shipped suite (--suite) or of the shipped 64-task file, filtered."""
    from agentgym.tasks.swe.records import load_instances
    from agentgym.tasks.swe.suite import filter_instances, load_suite

    if file is not None and suite:
        fail("give FILE or --suite, not both")
    check_input_path(file, "FILE")
    with cli_errors():
        instances = load_suite() if suite else load_instances(file)
        return filter_instances(instances, difficulty=difficulty, packages=packages, split=split)


def _summary_table(state, specs: list[str], wall: float, jobs: int):
    from rich.table import Table

    table = Table(title="SWE build: per package")
    for col in ("package", "status", "tests", "build s", "tried", "kept", "rejected (why: count)"):
        table.add_column(col)
    kept = tried = 0
    core_seconds = 0.0
    for spec in specs:
        r = state.packages.get(spec)
        if not r:
            continue
        kept += r["kept"]
        tried += r["tried"]
        core_seconds += r["seconds"]
        why = ", ".join(f"{k}: {v}" for k, v in sorted(r["rejected"].items()))
        if r.get("error"):
            why = (why + "; " if why else "") + r["error"][:80]
        table.add_row(
            spec,
            r["status"],
            str(r["baseline_tests"]),
            f"{r['seconds']:.0f}",
            str(r["tried"]),
            str(r["kept"]),
            why,
        )
    return table, kept, tried, core_seconds


@tasks_app.command()
def build(
    package: list[str] = typer.Option(
        None, "--package", "-p", help="NAME==VERSION or a local sdist (repeatable)"
    ),
    packages_file: Path = typer.Option(None, "--packages-file", help="a file of NAME==VERSION lines"),
    out: Path = typer.Option(
        Path("swe_tasks.jsonl"),
        "--out",
        "-o",
        help="a JSONL (or .jsonl.gz) file to write, or a suite folder (one .jsonl.gz per package)",
    ),
    seed: int = typer.Option(0, min=0, help="mutation order seed (same seed, same tasks)"),
    max_tasks: int = typer.Option(12, min=1, help="tasks per package at most"),
    max_tries: int = typer.Option(80, min=1, help="candidate bugs run per package at most"),
    multi_fraction: float = typer.Option(
        0.25, min=0.0, max=0.9, help="share of two-site bugs among candidates"
    ),
    max_suite_seconds: float = typer.Option(
        90.0, min=1.0, help="skip packages whose test suite takes longer"
    ),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="packages built in parallel (0: one per core)"),
    executor: str = typer.Option("process", help="process (a local process pool) or ray"),
    retry_errors: bool = typer.Option(False, help="retry packages that failed in an earlier run"),
    append: bool = typer.Option(False, help="file OUT: keep its tasks and add the new ones"),
) -> None:
    """Download each package's sdist, build its image, inject bugs and keep those the tests catch.

    Packages build in parallel and the build resumes: finished packages are recorded in
    `build_state.json` (in the suite folder, or `OUT.build/` beside a file OUT) and skipped by a
    rerun of the same command. A file OUT keeps the sdists in `archives/` next to it; a suite
    folder's records name their sdist on PyPI instead (`agentgym tasks swe fetch`). Prints a
    per-package table (tests, build time, tasks kept, rejection reasons) and the throughput.
    """
    import logging
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentgym.cli.common import console
    from agentgym.tasks.swe.records import load_instances, write_instances
    from agentgym.tasks.swe.suite import BuildOptions, build_suite, read_package_list, suite_files

    specs = list(package or [])
    if packages_file is not None:
        check_input_path(packages_file, "--packages-file")
        specs += read_package_list(packages_file)
    if not specs:
        fail("give packages with --package/-p or --packages-file")
    for spec in specs:
        check_package(spec)
    if executor not in ("process", "ray"):
        fail(f"--executor {executor!r}: expected process or ray")
    is_file = out.name.endswith((".jsonl", ".jsonl.gz"))
    if is_file:
        check_output_path(out, "--out")
        work_dir = out.parent / (out.name + ".build")
        archive_dir = str((out.parent / "archives").resolve())
    else:
        check_output_path(out, "--out", directory=True)
        work_dir, archive_dir = out, ""
    specs = [str(Path(s).resolve()) if s.endswith((".tar.gz", ".tgz")) else s for s in specs]
    options = BuildOptions(
        seed=seed,
        max_tasks=max_tasks,
        max_tries=max_tries,
        max_suite_seconds=max_suite_seconds,
        multi_fraction=multi_fraction,
        archive_dir=archive_dir,
    )
    logging.getLogger("agentgym.swe.build").setLevel(logging.WARNING)
    t0 = time.time()
    with Progress(
        TextColumn("[bold]building"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("packages, {task.fields[kept]} tasks kept"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("build", total=len(specs), kept=0)
        kept_so_far = [0]

        def on_result(result: dict) -> None:
            kept_so_far[0] += result["kept"]
            progress.update(bar, advance=1, kept=kept_so_far[0])
            progress.console.print(
                f"{result['spec']}: {result['status']}, kept {result['kept']} of {result['tried']} "
                f"({result['seconds']:.0f} s){'; ' + result['error'] if result['error'] else ''}"
            )

        with cli_errors(work=True):
            state = build_suite(
                specs,
                work_dir,
                options,
                jobs=jobs,
                executor=executor,
                retry_errors=retry_errors,
                on_result=on_result,
            )
            progress.update(bar, completed=len(specs))
    wall = time.time() - t0
    table, kept, tried, core_seconds = _summary_table(state, specs, wall, jobs)
    console.print(table)
    rate = kept / (core_seconds / 3600) if core_seconds else 0.0
    typer.echo(
        f"{kept} tasks kept of {tried} candidates run (yield {kept / tried if tried else 0:.0%}); "
        f"{core_seconds:.0f} core-seconds, {rate:.0f} tasks per core-hour; this run took {wall:.0f} s"
    )
    if is_file:
        with cli_errors():
            instances = load_instances(out) if append and out.exists() else []
            new = [i for f in suite_files(work_dir) for i in load_instances(f)]
        ids = {i.instance_id for i in new}
        instances = [i for i in instances if i.instance_id not in ids] + new
        if not instances:
            fail(f"no task was built from {len(specs)} package(s); {out} not written", EXIT_FAILURE)
        write_instances(out, instances)
        typer.echo(f"wrote {len(instances)} tasks to {out}")
    if kept == 0 and not any(r["kept"] for r in state.packages.values()):
        fail(f"all {len(specs)} package(s) failed", EXIT_FAILURE)


_FILE = typer.Argument(None, help="task JSONL (default: the shipped 64-task file)")
_SUITE = typer.Option(False, "--suite", help="the shipped multi-package suite instead of FILE")
_DIFFICULTY = typer.Option(
    None, "--difficulty", help="only these levels: easy, medium, hard (comma-separated)"
)
_PACKAGES = typer.Option(None, "--packages", help="only these PyPI packages (comma-separated)")
_SPLIT = typer.Option(None, "--split", help="only the train or the test split")


@tasks_app.command()
def validate(
    file: Path = _FILE,
    suite: bool = _SUITE,
    limit: int = typer.Option(0, min=0, help="validate only the first N tasks (0: all)"),
    sample: int = typer.Option(0, min=0, help="validate N tasks drawn at random (with --seed)"),
    seed: int = typer.Option(0, min=0, help="the seed of --sample"),
    instance: list[str] = typer.Option(None, "--instance", "-i", help="only these instance ids"),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="tasks validated in parallel"),
    difficulty: str = _DIFFICULTY,
    packages: str = _PACKAGES,
    split: str = _SPLIT,
    results: Path = typer.Option(
        None, "--results", help="JSONL file: one verdict per task, written as each finishes; a rerun with the "
        "same file skips the tasks it already judged (resume) and retries those that errored",
    ),
) -> None:
    """Grade every task's gold patch (must resolve) and an empty patch (must not) with the
    clean-room grader; prints a table and the time taken. Exit 1 when a task is not valid."""
    import random
    import time
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from rich.progress import Progress
    from rich.table import Table

    from agentgym.cli.common import console
    from agentgym.tasks.swe.validate import validate_instance, verdict_row

    instances = _load(file, suite, difficulty, packages, split)
    where = "the shipped suite" if suite else (file or "the shipped suite")
    if instance:
        known = {i.instance_id for i in instances}
        missing = [i for i in instance if i not in known]
        if missing:
            import difflib

            close = difflib.get_close_matches(missing[0], sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            fail(f"--instance {missing[0]!r}: no such task in {where}{hint}")
        instances = [i for i in instances if i.instance_id in set(instance)]
    if sample:
        instances = random.Random(seed).sample(instances, min(sample, len(instances)))
    if limit:
        instances = instances[:limit]
    verdicts = _read_verdicts(results) if results else {}
    todo = [i for i in instances if i.instance_id not in verdicts]
    if results and len(todo) < len(instances):
        typer.echo(f"{len(instances) - len(todo)} of {len(instances)} tasks already judged in {results}; validating the rest")
    t0 = time.time()
    with ThreadPoolExecutor(max(1, jobs)) as ex, Progress(console=console, transient=True) as progress:
        bar = progress.add_task("validating", total=len(todo))
        out = results.open("a") if results else None
        if out and not _ends_with_newline(results):
            out.write("\n")  # a line a crash cut short stays on its own line (and is ignored)
        try:
            for future in as_completed([ex.submit(validate_instance, inst) for inst in todo]):
                row = verdict_row(future.result())
                verdicts[row["instance_id"]] = row
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                progress.advance(bar)
        finally:
            if out:
                out.close()
    wall = time.time() - t0
    table = Table(title=f"SWE task validation ({len(instances)} tasks)")
    for col in ("instance", "F2P", "P2P", "gold", "empty", "s", "ok"):
        table.add_column(col)
    bad = 0
    for inst in instances:
        row = verdicts[inst.instance_id]
        bad += not row["ok"]
        gold = "error: " + row["error"][:60] if row["error"] else ("resolved" if row["gold_resolved"] else row["gold_reason"][:60])
        empty = "" if row["error"] else ("RESOLVED" if row["empty_resolved"] else "not resolved")
        table.add_row(inst.instance_id, str(len(inst.FAIL_TO_PASS)), str(len(inst.PASS_TO_PASS)), gold, empty,
                      f"{row['seconds']:.1f}", "ok" if row["ok"] else "FAIL")  # fmt: skip
    console.print(table)
    graded = sum(verdicts[i.instance_id]["seconds"] for i in instances)
    typer.echo(
        f"{len(instances) - bad}/{len(instances)} tasks valid; this run validated {len(todo)} in {wall:.0f} s "
        f"({jobs} in parallel, {wall / max(1, len(todo)):.1f} s per task); {graded:.0f} task-seconds of grading in all"
    )
    raise typer.Exit(1 if bad else 0)


def _ends_with_newline(path: Path) -> bool:
    """True for an empty file or one whose last byte is a newline (read from the end, not whole)."""
    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            return True
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


def _read_verdicts(path: Path) -> dict[str, dict]:
    """The verdicts a previous `validate --results` wrote, by instance id; errored tasks are left out
    (retried), and so is a last line cut short by a crash."""
    verdicts: dict[str, dict] = {}
    if not path.exists():
        return verdicts
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("instance_id") and not row.get("error"):
            verdicts[row["instance_id"]] = row
    return verdicts


@tasks_app.command()
def fetch(
    file: Path = _FILE,
    suite: bool = _SUITE,
    difficulty: str = _DIFFICULTY,
    packages: str = _PACKAGES,
    split: str = _SPLIT,
) -> None:
    """Download (and verify) the sdist of every task into the sdist cache, for an offline machine.

    Records that ship their archive need nothing; a cached archive whose sha256 differs from the
    record's is refused (exit 1)."""
    from agentgym.tasks.swe.sdist_cache import cache_dir

    instances = _load(file, suite, difficulty, packages, split)
    seen: dict[str, str] = {}
    failed = 0
    for inst in instances:
        key = inst.sdist.get("sha256") or inst.archive_sha256 or inst.source_archive
        if not key or key in seen:
            continue
        try:
            path = inst.archive_path()
            seen[key] = str(path)
        except Exception as exc:  # noqa: BLE001 - reported per archive
            failed += 1
            seen[key] = ""
            typer.echo(f"{inst.repo}: {error_message(exc)}", err=True)
    typer.echo(f"{len(seen) - failed} of {len(seen)} sdists present and verified (cache: {cache_dir()})")
    if failed:
        fail(f"{failed} sdist(s) could not be fetched or failed verification", EXIT_FAILURE)


@tasks_app.command()
def rewrite(
    file: Path = typer.Argument(
        ..., help="task JSONL (.jsonl or .jsonl.gz) to rewrite in place (or to --out)"
    ),
    policy: str = typer.Option(
        ..., "--policy", help="policy string, e.g. vllm:http://127.0.0.1:8000/v1#smollm2"
    ),
    out: Path = typer.Option(None, "--out", "-o", help="write here instead of FILE"),
    limit: int = typer.Option(0, min=0, help="only the first N tasks without a rewrite (0: all)"),
    overwrite: bool = typer.Option(False, help="redo tasks that already have a rewrite"),
) -> None:
    """Have a policy rewrite each problem statement as a user-style issue, stored beside the
    template (`problem_statement_rewrite`); pose it with `tasks="FILE?statement=rewrite"`."""
    from agentgym.cli.common import make_policy, preflight_policy
    from agentgym.tasks.swe.records import load_instances, write_instances
    from agentgym.tasks.swe.rewrite import rewrite_all

    check_input_path(file, "FILE")
    if out is not None:
        check_output_path(out, "--out")
    with cli_errors():
        preflight_policy(policy)  # a bad policy string exits 2 before any work
        instances = load_instances(file)
        the_policy = make_policy(policy)
    todo = [i for i in instances if overwrite or not i.problem_statement_rewrite]
    if limit:
        todo = todo[:limit]
    with cli_errors(work=True):
        done, refused = rewrite_all(todo, the_policy, overwrite=overwrite)
    write_instances(out or file, instances)
    typer.echo(
        f"rewrote {done} problem statements ({refused} refused: empty or quoting the fix) -> {out or file}"
    )


@tasks_app.command("export-image")
def export_image(
    instance_id: str = typer.Argument(..., help="a task id of FILE (or of the shipped suite)"),
    tag: str = typer.Option(..., "--tag", help="image name:tag to create"),
    out: Path = typer.Option(Path("byo.jsonl"), "--out", "-o", help="SWE-bench-style JSONL record to write"),
    file: Path = typer.Option(None, "--file", help="task JSONL (default: the shipped 64-task file)"),
    suite: bool = _SUITE,
) -> None:
    """Make a prebuilt SWE-bench-style image of one task (repository at the base commit in
    /testbed) and write a record in SWE-bench / SWE-smith JSONL form that names it (`image_name`):
    the bring-your-own path, shown end to end with a shipped task."""
    from agentgym.tasks.swe.byo import export_prebuilt

    instances = _load(file, suite, None, None, None)
    match = [i for i in instances if i.instance_id == instance_id]
    if not match:
        import difflib

        close = difflib.get_close_matches(instance_id, [i.instance_id for i in instances], n=1)
        fail(f"no task {instance_id!r}{'; did you mean ' + repr(close[0]) + '?' if close else ''}")
    check_output_path(out, "--out")
    with cli_errors(work=True):
        record = export_prebuilt(match[0], tag)
    out.write_text(__import__("json").dumps(record) + "\n")
    typer.echo(f"image {tag} and record {out} written ({record['instance_id']})")


@tasks_app.command("list")
def list_(
    file: Path = _FILE,
    suite: bool = _SUITE,
    difficulty: str = _DIFFICULTY,
    packages: str = _PACKAGES,
    split: str = _SPLIT,
) -> None:
    """List tasks: id, package, bug kind, difficulty, FAIL_TO_PASS / PASS_TO_PASS counts."""
    from agentgym.tasks.swe.difficulty import difficulty_of

    for inst in _load(file, suite, difficulty, packages, split):
        typer.echo(
            f"{inst.instance_id}\t{inst.repo}\t{inst.mutation.get('kind') or inst.mutation.get('operator', '')}\t"
            f"{difficulty_of(inst)['level']}\t{len(inst.FAIL_TO_PASS)}\t{len(inst.PASS_TO_PASS)}"
        )
