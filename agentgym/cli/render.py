"""Rendering episodes and reward reports for the terminal (used by replay, run and eval)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agentgym.terminal import escape_controls
from agentgym.trajectory import EpisodeRecord, StepRecord


def _short(text: str, limit: int) -> str:
    """Cut to `limit` characters, control characters escaped (recorded text never drives the terminal)."""
    text = escape_controls(text.rstrip())
    if limit and len(text) > limit:
        return text[: limit - 20] + f" ... [{len(text) - limit + 20} more chars]"
    return text


def format_components(components: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v}" for k, v in components.items())


def step_panel(step: StepRecord, *, limit: int = 2000) -> Panel:
    body = Text()
    body.append("action: ", style="bold cyan")
    body.append(_short(step.action, limit) or "(empty)")
    for call in step.tool_calls:
        body.append(escape_controls(f"\n  call {call.get('name')}({call.get('arguments')})"), style="cyan")
    body.append("\nobservation: ", style="bold green")
    body.append(_short(step.observation, limit))
    body.append("\ncomponents: ", style="bold magenta")
    body.append(format_components(step.components))
    body.append(f"   reward: {step.reward:g}", style="magenta")
    if not step.action_valid:
        body.append("   [invalid action]", style="bold red")
    if step.tokens is not None and step.tokens.completion_token_ids is not None:
        n = len(step.tokens.completion_token_ids)
        lp = step.tokens.logprobs or []
        mean_lp = sum(lp) / len(lp) if lp else float("nan")
        body.append(f"\ntokens: {n} generated, mean logprob {mean_lp:.3f}", style="dim")
    shared = " (shared with the parent episode)" if step.policy_meta.get("shared_prefix") else ""
    return Panel(body, title=f"turn {step.turn}{shared}", title_align="left")


def report_table(record: EpisodeRecord) -> Table:
    """One row per level: its aggregate, its own gate, whether the gates above let it count."""
    table = Table(title="reward report", show_edge=False)
    for column in ("level", "scope", "value", "own gate", "counts (G)", "contribution"):
        table.add_column(column)
    report = record.report
    if report is not None:
        for level in report.levels:
            if level.gate_threshold is None:
                gate = "-"
            else:
                gate = f">= {level.gate_threshold:g} " + ("open" if level.gate_open else "closed")
            counts = "skipped" if level.skipped else f"{level.multiplier:g}"
            table.add_row(level.name, level.scope, f"{level.value:g}", gate, counts, f"{level.contribution:g}")
    return table


def episode_header(record: EpisodeRecord, index: int | None = None) -> Text:
    label = f"episode {index}" if index is not None else "episode"
    text = Text(f"{label}: {record.env_id}  task={record.task_id}  seed={record.seed}", style="bold")
    if record.group_id:
        text.append(f"  group={record.group_id}/{record.sample_index}")
    text.append(f"  policy={record.policy.get('name', '?')}")
    tree_id = getattr(record, "tree_id", None)
    if tree_id is not None:  # a tree episode (agentgym.tree)
        parent = getattr(record, "parent_episode_id", None)
        text.append(f"\ntree={tree_id}  " + (f"branched from {parent} after turn {getattr(record, 'branch_turn', '?')}"
                                              if parent else "root"), style="cyan")
    return text


def episode_summary(record: EpisodeRecord) -> Text:
    text = Text()
    report = record.report
    if record.reward_invalid:
        text.append(f"reward_invalid ({record.error or 'infrastructure'})", style="bold red")
    elif report is not None:
        text.append(
            f"return[{report.mode}]={report.return_:g}  gated={report.return_gated:g}  "
            f"direct={report.return_direct:g}  outcome={report.return_outcome:g}",
            style="bold",
        )
    end = "terminated" if record.terminated else "truncated" if record.truncated else "unfinished"
    text.append(f"  turns={len(record.steps)} ({end})")
    if record.trajectory_components:
        text.append(f"\ntrajectory: {format_components(record.trajectory_components)}")
    if record.metrics:
        text.append(f"\nmetrics: {format_components(record.metrics)}")
    return text


def print_episode(console: Console, record: EpisodeRecord, index: int | None = None, *, limit: int = 2000) -> None:
    console.print(episode_header(record, index))
    console.print(Panel(_short(record.prompt, limit), title="prompt", title_align="left"))
    for step in record.steps:
        console.print(step_panel(step, limit=limit))
    console.print(Group(report_table(record), episode_summary(record)))
