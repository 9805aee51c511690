"""`agentgym report RUN --html OUT`: one self-contained HTML page (inline CSS and SVG, no network).

Sections: overview and summary metrics; returns under gated / direct / outcome; completion,
modification, resolve and other rates; gate-open rates per level; zero-variance GRPO groups;
per-component distributions; reward-hacking indicators (repeated actions, stalling to the turn
cap, invalid actions, test tampering, proxy vs true outcome); the episode table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym.report import charts
from agentgym.report.data import ReportData, compute_report_data
from agentgym.trajectory import EpisodeRecord

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header .meta{opacity:.8;font-size:13px}main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;margin:18px 0;padding:14px 18px}
h2{font-size:17px;margin:4px 0 10px}p.note{color:#5b6472;font-size:13px;margin:4px 0 10px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
figure.chart{margin:0;min-height:120px}figure.chart svg{width:100%;max-width:860px;height:auto;display:block}
figure.chart figcaption{font-size:13px;color:#394150;margin-bottom:4px;font-weight:600}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #eceef2;text-align:right}
th{background:#f0f2f5;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #e2e5ea;border-radius:6px;padding:8px 12px;min-width:120px;flex:1 1 220px;max-width:420px}
.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:#5b6472}
.alarm{border-color:#d62728;background:#fff4f4}.ok{border-color:#2ca02c}
.scroll{max-height:420px;overflow:auto}.muted{color:#8a93a2}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _figure(chart_id: str, caption: str, svg: str) -> str:
    return f'<figure class="chart" id="chart-{chart_id}"><figcaption>{_e(caption)}</figcaption>{svg}</figure>'


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_fmt(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _per_env_table(per_env: dict[str, dict[str, float]]) -> str:
    keys = list(dict.fromkeys(k for summary in per_env.values() for k in summary))
    rows = [{"env": env_id, **summary} for env_id, summary in per_env.items()]
    return f'<h2 style="margin-top:14px">Per environment</h2><div class="scroll">{_table(rows, ["env", *keys])}</div>'


def render_html(data: ReportData) -> str:
    """The report page for computed `data`."""
    parts: list[str] = []
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta = (
        f"{data.episodes} episodes ({data.valid} valid, {data.invalid} reward_invalid) · envs: "
        f"{', '.join(data.env_ids) or '-'} · policies: {', '.join(data.policies) or '-'} · reward specs: "
        f"{', '.join(data.spec_names) or '-'} · generated {when}"
    )
    sources = "<br>".join(_e(s) for s in data.sources)

    # overview cards
    cards = []
    for key in (
        "return_gated",
        "return_direct",
        "return_outcome",
        "completed",
        "success",
        "checklist",
        "mean_turns",
        "pass@2",
    ):
        if key in data.summary:
            cards.append(
                f'<div class="card"><div class="v">{_fmt(data.summary[key])}</div><div class="k">{_e(key)}</div></div>'
            )
    summary_rows = [{"metric": k, "value": v} for k, v in data.summary.items()]
    parts.append(
        '<section id="overview"><h2>Overview</h2>'
        f'<div class="cards">{"".join(cards)}</div>'
        f"<details><summary>all summary metrics</summary>{_table(summary_rows)}</details>"
        + (_per_env_table(data.per_env) if data.per_env else "")
        + (f'<p class="note">unreadable lines: {_e("; ".join(data.problems))}</p>' if data.problems else "")
        + "</section>"
    )

    # returns
    if any(s.y for s in data.returns.values()):
        svg = charts.line_chart(
            "returns", data.returns, x_label=data.x_label, y_label="episode return", colors=charts.MODE_COLORS
        )
        parts.append(
            '<section id="returns"><h2>Returns under gated / direct / outcome</h2>'
            '<p class="note">The same episodes scored three ways from their stored components. Direct '
            "(D-RA) counts every step reward; gated (G-RA) counts step rewards only when the outcome gate "
            "is open; outcome counts the top level only. Points: episodes; lines: "
            + ("mean per training step." if data.x_label == "training step" else "rolling mean.")
            + "</p>"
            + _figure("returns", "return per episode", svg)
            + "</section>"
        )

    # rates
    if data.rates:
        svg = charts.line_chart(
            "rates", data.rates, x_label=data.x_label, y_label="rate", ylim=(-0.05, 1.05), scatter=False
        )
        means = {name: s.mean for name, s in data.rates.items()}
        bars = charts.bar_chart("rates-overall", means, y_label="mean over valid episodes", ylim=(0, 1.1))
        parts.append(
            '<section id="rates"><h2>Completion, modification, resolve and other rates</h2>'
            '<p class="note">Per-episode 0/1 metrics reported by the envs (completed = handed in; '
            "success = the env's declared outcome says solved; checklist = share of required items done).</p>"
            f'<div class="grid">{_figure("rates", "rates over " + data.x_label, svg)}'
            f"{_figure('rates-overall', 'overall rates', bars)}</div></section>"
        )

    # gates
    if data.gate_open:
        bars = charts.bar_chart("gates", data.gate_open, y_label="gate-open rate", ylim=(0, 1.1))
        curve = charts.line_chart(
            "gates-curve",
            data.gate_series,
            x_label=data.x_label,
            y_label="gate-open rate",
            ylim=(-0.05, 1.05),
            scatter=False,
        )
        parts.append(
            '<section id="gates"><h2>Gate-open rate per level</h2>'
            '<p class="note">Share of valid episodes whose level aggregate reached its gate threshold '
            "(equality opens). A closed gate withholds every lower level's reward.</p>"
            f'<div class="grid">{_figure("gates", "gate-open rate", bars)}'
            f"{_figure('gates-curve', 'gate-open rate over ' + data.x_label, curve)}</div></section>"
        )

    # zero variance
    if data.zero_variance:
        bars = charts.bar_chart(
            "zero-variance",
            {f"{mode}": value for mode, value in data.zero_variance.items()},
            y_label="fraction of groups",
            ylim=(0, 1.1),
            colors=[charts.MODE_COLORS[m] for m in data.zero_variance],
        )
        extra = ""
        if data.zero_variance_series:
            curve = charts.line_chart(
                "zero-variance-curve",
                data.zero_variance_series,
                x_label=data.x_label,
                y_label="fraction of groups",
                colors=charts.MODE_COLORS,
                ylim=(-0.05, 1.05),
                scatter=False,
            )
            extra = _figure("zero-variance-curve", "zero-variance groups over " + data.x_label, curve)
        parts.append(
            '<section id="zero-variance"><h2>Zero-variance groups</h2>'
            f'<p class="note">{data.groups} GRPO groups. A group whose returns are all equal has zero '
            "advantage and teaches nothing; gating can raise this fraction when few episodes open the gate.</p>"
            f'<div class="grid">{_figure("zero-variance", "zero-variance group fraction per mode", bars)}{extra}</div></section>'
        )
    else:
        parts.append(
            '<section id="zero-variance"><h2>Zero-variance groups</h2><p class="note">No grouped episodes '
            "(run with --group-size G &gt; 1 to sample GRPO groups).</p></section>"
        )

    # components
    if data.step_component_totals or data.trajectory_numeric or data.label_counts:
        numeric = {f"Σ step: {k}": v for k, v in data.step_component_totals.items()}
        numeric.update({f"trajectory: {k}": v for k, v in data.trajectory_numeric.items()})
        svg = charts.histogram_grid("components", numeric, data.label_counts)
        parts.append(
            '<section id="components"><h2>Reward components</h2>'
            '<p class="note">Distributions over valid episodes: per-episode sums of step components, '
            "trajectory components, and counts of label components (e.g. the outcome).</p>"
            + _figure("components", "component distributions", svg)
            + "</section>"
        )

    # hacking indicators
    cards = []
    curves = {}
    for ind in data.indicators:
        cls = "card alarm" if ind.alarm else "card ok" if ind.value is not None else "card"
        cards.append(
            f'<div class="{cls}" data-indicator="{_e(ind.key)}"><div class="v">{_fmt(ind.value)}</div>'
            f'<div class="k">{_e(ind.title)}{" — check" if ind.alarm else ""}</div>'
            f'<p class="note">{_e(ind.explanation)}</p></div>'
        )
        if ind.series is not None and ind.series.y:
            curves[ind.title] = ind.series
    figures = []
    rate_curves = {k: v for k, v in curves.items() if k != "Proxy vs true outcome"}
    if rate_curves:
        svg = charts.line_chart(
            "hacking", rate_curves, x_label=data.x_label, y_label="rate", ylim=(-0.05, 1.05), scatter=False
        )
        figures.append(_figure("hacking", "hacking rates over " + data.x_label, svg))
    if "Proxy vs true outcome" in curves:
        gap = {"direct − outcome": curves["Proxy vs true outcome"]}
        if data.returns.get("outcome") is not None and data.returns["outcome"].y:
            gap["outcome return"] = data.returns["outcome"]
        svg = charts.line_chart(
            "proxy-gap", gap, x_label=data.x_label, y_label="return", colors={"outcome return": "#2ca02c"}
        )
        figures.append(_figure("proxy-gap", "proxy (direct) minus true outcome return", svg))
    figure = f'<div class="grid">{"".join(figures)}</div>'
    parts.append(
        '<section id="hacking"><h2>Reward-hacking indicators</h2>'
        f'<div class="cards">{"".join(cards)}</div>{figure}</section>'
    )

    # episodes
    parts.append(
        '<section id="episodes"><h2>Episodes</h2>'
        f'<p class="note">First {len(data.episode_rows)} of {data.episodes}. Inspect one with '
        "<code>agentgym replay FILE -i N</code>; check determinism with <code>--reexec</code>.</p>"
        f'<div class="scroll">{_table(data.episode_rows)}</div></section>'
    )

    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_e(data.title)}</title>'
        f"<style>{CSS}</style></head><body><header><h1>{_e(data.title)}</h1>"
        f'<div class="meta">{_e(meta)}</div><div class="meta">{sources}</div></header><main>'
        + "".join(parts)
        + "</main></body></html>"
    )


def build_report(
    records: Sequence[EpisodeRecord],
    *,
    title: str | None = None,
    sources: Sequence[str] = (),
    problems: Sequence[str] = (),
) -> str:
    data = compute_report_data(
        records, title=title or "agentgym run report", sources=sources, problems=problems
    )
    return render_html(data)


def write_report(
    run: str | Path, out: str | Path, *, title: str | None = None, filters: Sequence[str] = ()
) -> ReportData:
    """Read the trajectory file (or folder of them) `run`, write the HTML page to `out`."""
    from agentgym.replay.filters import apply_filters, parse_filters
    from agentgym.replay.loading import load_episodes

    loaded = load_episodes(run)
    records = apply_filters(loaded.records, parse_filters(filters))
    problems = [f"{path.name}:{bad.line_no}: {bad.error}" for path, bad in loaded.problems]
    data = compute_report_data(
        records,
        title=title or f"agentgym report: {Path(run).name}",
        sources=[str(p) for p in loaded.files],
        problems=problems,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_html(data), encoding="utf-8")
    tmp.replace(out)
    return data
