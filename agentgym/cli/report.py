"""`agentgym report RUN --html OUT`: a self-contained HTML report over trajectory files.

Exposes `app` as a plain function: main.py mounts it as the single command `report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    run: Annotated[Path, typer.Argument(help="trajectory file (JSONL) or a folder of them")],
    html: Annotated[
        Path | None, typer.Option("--html", "-o", help="HTML file to write (default: RUN with .html)")
    ] = None,
    title: Annotated[str | None, typer.Option(help="page title")] = None,
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter", "-f", help="only episodes matching: failed | invalid | task=ID | outcome=LABEL ..."
        ),
    ] = None,
) -> None:
    """Write an HTML report: returns under gated/direct/outcome, rates, gates, components, hacking."""
    from rich.console import Console

    from agentgym.cli.common import EXIT_FAILURE, check_output_path, cli_errors, fail

    console = Console()
    err = Console(stderr=True)
    if not run.exists():
        fail(f"trajectory file or folder not found: {run}")
    out = html or (run.with_suffix(".html") if run.is_file() else run / "report.html")
    check_output_path(out, "--html")
    if out.suffix.lower() in (".jsonl", ".json", ".yaml", ".yml"):
        fail(f"--html {out}: refusing to write HTML over a {out.suffix} file")
    from agentgym.report.html import write_report

    try:
        with cli_errors():
            data = write_report(run, out, title=title, filters=filter_ or [])
    except ImportError as exc:
        fail(f"{exc}; the report needs matplotlib: pip install 'agentgym[report]'")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", EXIT_FAILURE)
    for problem in data.problems:
        err.print(f"[yellow]warning:[/] {problem}", highlight=False)
    if data.episodes == 0:
        fail(f"no readable episode in {run}")
    console.print(
        f"wrote {out} ({data.episodes} episodes, {data.valid} valid, {len(data.env_ids)} env(s))",
        highlight=False,
    )


#: what agentgym/cli/main.py mounts (a plain function -> the single command `agentgym report`)
app = report
