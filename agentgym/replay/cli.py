"""Command bodies for `agentgym replay` and `agentgym rescore` (main.py calls these).

Both return an exit code: 0 success, 1 the check failed (a re-execution diverged or crashed),
2 bad input (missing file, bad filter, bad sweep, no episode left after filtering).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _load(path: Path, err: Console) -> Any:
    from agentgym.replay.loading import load_episodes

    try:
        loaded = load_episodes(path)
    except FileNotFoundError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return None
    for file, problem in loaded.problems:
        err.print(f"[yellow]warning:[/] {file}:{problem.line_no}: {problem.error}", highlight=False)
    if not loaded.episodes:
        err.print(f"[bold red]error:[/] {path} holds no readable episode", highlight=False)
        return None
    return loaded


def replay_command(
    path: Path,
    *,
    episode: int | None = None,
    filters: list[str] | None = None,
    plain: bool | None = None,
    reexec: bool = False,
    ignore: list[str] | None = None,
    limit: int = 2000,
    json_out: Path | None = None,
    console: Console | None = None,
    err_console: Console | None = None,
) -> int:
    """`agentgym replay`: interactive viewer on a TTY (plain otherwise), or `--reexec` checks."""
    from agentgym.replay.filters import apply_filters, parse_filters

    console = console or Console()
    err = err_console or Console(stderr=True)
    loaded = _load(path, err)
    if loaded is None:
        return EXIT_USAGE
    try:
        parsed = parse_filters(filters)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    episodes = loaded.episodes
    start = None
    if episode is not None:
        if not 0 <= episode < len(episodes):
            err.print(
                f"[bold red]error:[/] episode {episode} out of range (found {len(episodes)})", highlight=False
            )
            return EXIT_USAGE
        start = episodes[episode]
        episodes = [start]
    selected = apply_filters(episodes, parsed, key=lambda e: e.record)
    if reexec:
        if not selected:
            err.print("[bold red]error:[/] no episode matches the filters", highlight=False)
            return EXIT_USAGE
        return reexec_command(selected, console=console, ignore=ignore or [], json_out=json_out)
    interactive = (not plain) if plain is not None else (console.is_terminal and sys.stdin.isatty())
    if interactive:
        from agentgym.replay.viewer import run_viewer

        if not sys.stdin.isatty():
            err.print(
                "[bold red]error:[/] the interactive viewer needs a terminal; use --plain", highlight=False
            )
            return EXIT_USAGE

        run_viewer(loaded.episodes, parsed, start_episode=start or 0)  # -i opens there, n/p still browse
        return EXIT_OK
    if not selected:
        err.print("[bold red]error:[/] no episode matches the filters", highlight=False)
        return EXIT_USAGE
    from agentgym.cli.render import print_episode

    multi = len(loaded.files) > 1
    for item in selected:
        if multi:
            console.print(f"[dim]{item.source}[/]")
        print_episode(console, item.record, item.index, limit=limit)
    return EXIT_OK


def reexec_command(
    episodes: list[Any], *, console: Console, ignore: list[str], json_out: Path | None = None
) -> int:
    """Re-execute episodes and print one line each plus the first divergence; 1 if any differs."""
    from rich.markup import escape

    from agentgym.replay.reexec import reexec_many

    lines: list[dict[str, Any]] = []

    def report(i: int, result: Any) -> None:
        item = episodes[i]
        record = result.record
        head = escape(f"{item.label} {record.env_id} task={record.task_id} seed={record.seed}")
        if result.error:
            console.print(f"[bold red]ERROR[/] {head}: {escape(result.error)}", highlight=False)
        elif result.divergence is not None:
            console.print(
                f"[bold red]DIVERGED[/] {head}: {escape(result.divergence.describe())}", highlight=False
            )
        else:
            note = f" ({'; '.join(result.notes)})" if result.notes else ""
            console.print(
                f"[green]ok[/] {head}: {result.turns_replayed} turns reproduced{escape(note)}",
                highlight=False,
            )
        lines.append(
            {
                "episode": item.label,
                "episode_id": record.episode_id,
                "ok": result.ok,
                "error": result.error,
                "divergence": result.divergence.to_dict() if result.divergence else None,
                "turns_replayed": result.turns_replayed,
            }
        )

    results = reexec_many([e.record for e in episodes], on_result=report, ignore=ignore)
    bad = sum(not r.ok for r in results)
    console.print(f"{len(results) - bad}/{len(results)} episode(s) reproduced", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps(lines, indent=2, default=str))
    return EXIT_FAILURE if bad else EXIT_OK


def rescore_command(
    path: Path,
    *,
    rewards: list[str] | None = None,
    sweeps: list[str] | None = None,
    filters: list[str] | None = None,
    per_episode: bool | None = None,
    json_out: Path | None = None,
    console: Console | None = None,
    err_console: Console | None = None,
) -> int:
    """`agentgym rescore`: per-episode table for one spec, a sweep table for several points."""
    from agentgym.replay.filters import apply_filters, parse_filters
    from agentgym.replay.rescore import episodes_table, parse_sweep, rows_table, rows_text, sweep_rows
    from agentgym.rewards import SpecError

    console = console or Console()
    err = err_console or Console(stderr=True)
    loaded = _load(path, err)
    if loaded is None:
        return EXIT_USAGE
    try:
        records = [
            e.record for e in apply_filters(loaded.episodes, parse_filters(filters), key=lambda e: e.record)
        ]
        axes = [parse_sweep(s) for s in sweeps or []]
        rows = sweep_rows(records, list(rewards or [None]), axes)
    except (ValueError, SpecError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        return EXIT_USAGE
    if not records:
        err.print("[bold red]error:[/] no episode matches the filters", highlight=False)
        return EXIT_USAGE
    show_episodes = per_episode if per_episode is not None else len(rows) == 1
    if show_episodes:
        for row in rows:
            console.print(episodes_table(records, row.reports))
    if console.is_terminal:
        console.print(rows_table(rows))
    else:  # pipes and logs: full-width aligned text, never truncated
        console.print(rows_text(rows), soft_wrap=True, highlight=False, markup=False)
    if json_out is not None:
        json_out.write_text(json.dumps([r.to_dict() for r in rows], indent=2, default=str))
    return EXIT_OK
