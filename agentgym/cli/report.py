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

    console = Console()
    err = Console(stderr=True)
    if not run.exists():
        err.print(f"[bold red]error:[/] trajectory file or folder not found: {run}", highlight=False)
        raise typer.Exit(2)
    out = html or (run.with_suffix(".html") if run.is_file() else run / "report.html")
    from agentgym.report.html import write_report

    try:
        data = write_report(run, out, title=title, filters=filter_ or [])
    except ImportError as exc:
        err.print(f"[bold red]error:[/] {exc}; the report needs matplotlib: pip install 'agentgym[report]'")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    for problem in data.problems:
        err.print(f"[yellow]warning:[/] {problem}", highlight=False)
    if data.episodes == 0:
        err.print(f"[bold red]error:[/] no readable episode in {run}", highlight=False)
        raise typer.Exit(2)
    console.print(
        f"wrote {out} ({data.episodes} episodes, {data.valid} valid, {len(data.env_ids)} env(s))",
        highlight=False,
    )


#: what agentgym/cli/main.py mounts (a plain function -> the single command `agentgym report`)
app = report
