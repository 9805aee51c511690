"""`agentgym report RUN --html OUT`: one self-contained HTML page (inline CSS and SVG, no network).

Like is compared with like. Sections: the env x policy table (success rate with its 95% Wilson
interval, pass@k / pass^k within real groups, mean returns under gated / direct / outcome, turns,
completion tokens, episode and invalid counts); per env, its policies side by side; then, for each
env x policy on its own, the episode-order (or training-step) charts: returns per mode, rates,
gate-open rates, zero-variance groups, component distributions, reward-hacking indicators
(repeated actions, stalling to the turn cap, invalid actions, test tampering, proxy vs true
outcome); last the episode table.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentgym.metrics import canonical
from agentgym.report import charts
from agentgym.report.data import MODES, Detail, ReportData, compute_report_data
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
h3{font-size:15px;margin:14px 0 6px}details.pair{border-top:1px solid #eceef2;padding:6px 0}
details.pair>summary{cursor:pointer;font-weight:600;font-size:14px;padding:4px 0}.env-compare{margin:8px 0 16px}
#env-policy-table td:nth-child(2),#env-policy-table th:nth-child(2){text-align:left}
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


PAIR_NOTE = (
    "Each row is one env (id and kwargs) played by one policy; nothing is pooled across rows. "
    "success: share of valid episodes whose declared outcome says solved, with its 95% Wilson "
    "interval and n (episodes whose success is known). pass@k / pass^k: unbiased estimates over "
    "real groups only (episodes sharing a group id, env config, policy, run and task; run with "
    "--group-size G to sample them), blank when the row has none or a group has fewer than k "
    "samples. Returns: mean over valid episodes under gated (G-RA), direct (D-RA) and outcome. "
    "tokens: completion tokens per episode, blank when the policy recorded no token ids. "
    "invalid: reward_invalid episodes (infrastructure failures), excluded from every mean."
)


def _pair_table(data: ReportData) -> str:
    columns: list[tuple[str, str]] = [
        ("env", "env"),
        ("policy", "policy"),
        ("episodes", "episodes"),
        ("invalid", "invalid"),
        ("success", "success (95% CI)"),
        *[(c, c) for c in data.pass_columns],
        ("return_gated", "gated"),
        ("return_direct", "direct"),
        ("return_outcome", "outcome"),
        ("turns", "turns"),
        ("tokens", "tokens"),
    ]
    head = "".join(f'<th data-col="{_e(key)}">{_e(title)}</th>' for key, title in columns)
    body = []
    for row in data.rows:
        cells = row.cells(data.pass_columns)
        tds = []
        for key, _ in columns:
            value = cells.get(key)
            attrs = f' data-col="{_e(key)}"'
            if isinstance(value, int | float) and not isinstance(value, bool):
                attrs += f' data-value="{_e(repr(float(value)))}"'
            if key == "success":
                if row.success_ci is not None:
                    attrs += f' data-low="{row.success_ci[0]!r}" data-high="{row.success_ci[1]!r}"'
                text = (
                    "–"
                    if row.success is None or row.success_ci is None
                    else f"{row.success:.3f} [{row.success_ci[0]:.3f}, {row.success_ci[1]:.3f}] (n={row.scored})"
                )
            elif key in ("env", "policy"):
                text = str(value)
                attrs += f' title="{_e(row.env_id if key == "env" else canonical(row.policy_description))}"'
            else:
                text = _fmt(value)
            tds.append(f"<td{attrs}>{_e(text)}</td>")
        body.append(f'<tr data-env="{_e(row.env)}" data-policy="{_e(row.policy)}">{"".join(tds)}</tr>')
    return (
        f'<table id="env-policy-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _env_sections(data: ReportData, colors: dict[str, str]) -> str:
    figures = []
    for index, section in enumerate(data.envs):
        rows = section.rows
        svg = charts.policy_comparison(
            f"env{index}",
            [r.policy for r in rows],
            success=[
                None if r.success is None or r.success_ci is None else (r.success, *r.success_ci)
                for r in rows
            ],
            returns={m: [r.returns.get(m) for r in rows] for m in MODES},
            turns=[r.turns for r in rows],
            tokens=[r.tokens for r in rows],
            colors=[colors[r.policy] for r in rows],
        )
        caption = f"{section.env}: " + ", ".join(f"{r.policy} ({r.valid} valid)" for r in rows)
        figures.append(
            f'<div class="env-compare" data-env="{_e(section.env)}">{_figure(f"env{index}", caption, svg)}</div>'
        )
    return (
        '<section id="envs"><h2>Per environment: policies side by side</h2>'
        '<p class="note">Per env, each policy as one colour: success rate with its 95% Wilson interval, '
        "mean return under each mode, mean turns (and completion tokens when recorded).</p>"
        + "".join(figures)
        + "</section>"
    )


def _detail_html(detail: Detail, prefix: str) -> str:
    """The episode-order charts of one env x policy; chart ids are `prefix` + name."""
    parts: list[str] = []
    x_label = detail.x_label

    def cid(name: str) -> str:
        return prefix + name

    if any(s.y for s in detail.returns.values()):
        svg = charts.line_chart(
            cid("returns"),
            detail.returns,
            x_label=x_label,
            y_label="episode return",
            colors=charts.MODE_COLORS,
        )
        parts.append(
            '<div class="block" data-block="returns"><h3>Returns under gated / direct / outcome</h3>'
            '<p class="note">The same episodes scored three ways from their stored components. Direct '
            "(D-RA) counts every step reward; gated (G-RA) counts step rewards only when the outcome gate "
            "is open; outcome counts the top level only. Points: episodes; lines: "
            + ("mean per training step." if detail.by_step else "rolling mean.")
            + "</p>"
            + _figure(cid("returns"), "return per episode", svg)
            + "</div>"
        )

    if detail.rates:
        svg = charts.line_chart(
            cid("rates"), detail.rates, x_label=x_label, y_label="rate", ylim=(-0.05, 1.05), scatter=False
        )
        means = {name: s.mean for name, s in detail.rates.items()}
        bars = charts.bar_chart(
            cid("rates-overall"), means, y_label="mean over valid episodes", ylim=(0, 1.1)
        )
        parts.append(
            '<div class="block" data-block="rates"><h3>Completion, modification, resolve and other rates</h3>'
            '<p class="note">Per-episode 0/1 metrics reported by the env (completed = handed in; '
            "success = the env's declared outcome says solved; checklist = share of required items done).</p>"
            f'<div class="grid">{_figure(cid("rates"), "rates over " + x_label, svg)}'
            f"{_figure(cid('rates-overall'), 'overall rates', bars)}</div></div>"
        )

    if detail.costs:
        cells = "".join(f"<tr><td>{_e(name)}</td><td>{_e(f'{value:.4g}')}</td></tr>" for name, value in detail.costs.items())
        parts.append(
            '<div class="block" data-block="costs"><h3>Costs per episode</h3>'
            '<p class="note">Means over valid episodes: tool calls, completion tokens (when the policy reports '
            "them) and the env's wall-clock seconds (agentgym.env cost components).</p>"
            f"<table><tr><th>cost</th><th>mean</th></tr>{cells}</table></div>"
        )

    if detail.gate_open:
        bars = charts.bar_chart(cid("gates"), detail.gate_open, y_label="gate-open rate", ylim=(0, 1.1))
        curve = charts.line_chart(
            cid("gates-curve"),
            detail.gate_series,
            x_label=x_label,
            y_label="gate-open rate",
            ylim=(-0.05, 1.05),
            scatter=False,
        )
        parts.append(
            '<div class="block" data-block="gates"><h3>Gate-open rate per level</h3>'
            '<p class="note">Share of valid episodes whose level aggregate reached its gate threshold '
            "(equality opens). A closed gate withholds every lower level's reward.</p>"
            f'<div class="grid">{_figure(cid("gates"), "gate-open rate", bars)}'
            f"{_figure(cid('gates-curve'), 'gate-open rate over ' + x_label, curve)}</div></div>"
        )

    if detail.zero_variance:
        bars = charts.bar_chart(
            cid("zero-variance"),
            dict(detail.zero_variance),
            y_label="fraction of groups",
            ylim=(0, 1.1),
            colors=[charts.MODE_COLORS[m] for m in detail.zero_variance],
        )
        extra = ""
        if detail.zero_variance_series:
            curve = charts.line_chart(
                cid("zero-variance-curve"),
                detail.zero_variance_series,
                x_label=x_label,
                y_label="fraction of groups",
                colors=charts.MODE_COLORS,
                ylim=(-0.05, 1.05),
                scatter=False,
            )
            extra = _figure(cid("zero-variance-curve"), "zero-variance groups over " + x_label, curve)
        parts.append(
            '<div class="block" data-block="zero-variance"><h3>Zero-variance groups</h3>'
            f'<p class="note">{detail.groups} GRPO groups. A group whose returns are all equal has zero '
            "advantage and teaches nothing; gating can raise this fraction when few episodes open the gate.</p>"
            f'<div class="grid">{_figure(cid("zero-variance"), "zero-variance group fraction per mode", bars)}'
            f"{extra}</div></div>"
        )
    else:
        parts.append(
            '<div class="block" data-block="zero-variance"><h3>Zero-variance groups</h3><p class="note">No '
            "grouped episodes (run with --group-size G &gt; 1 to sample GRPO groups).</p></div>"
        )

    if detail.step_component_totals or detail.trajectory_numeric or detail.label_counts:
        numeric = {f"Σ step: {k}": v for k, v in detail.step_component_totals.items()}
        numeric.update({f"trajectory: {k}": v for k, v in detail.trajectory_numeric.items()})
        svg = charts.histogram_grid(cid("components"), numeric, detail.label_counts)
        parts.append(
            '<div class="block" data-block="components"><h3>Reward components</h3>'
            '<p class="note">Distributions over valid episodes: per-episode sums of step components, '
            "trajectory components, and counts of label components (e.g. the outcome).</p>"
            + _figure(cid("components"), "component distributions", svg)
            + "</div>"
        )

    cards = []
    curves = {}
    for ind in detail.indicators:
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
            cid("hacking"), rate_curves, x_label=x_label, y_label="rate", ylim=(-0.05, 1.05), scatter=False
        )
        figures.append(_figure(cid("hacking"), "hacking rates over " + x_label, svg))
    if "Proxy vs true outcome" in curves:
        gap = {"direct − outcome": curves["Proxy vs true outcome"]}
        if detail.returns.get("outcome") is not None and detail.returns["outcome"].y:
            gap["outcome return"] = detail.returns["outcome"]
        svg = charts.line_chart(
            cid("proxy-gap"), gap, x_label=x_label, y_label="return", colors={"outcome return": "#2ca02c"}
        )
        figures.append(_figure(cid("proxy-gap"), "proxy (direct) minus true outcome return", svg))
    parts.append(
        '<div class="block" data-block="hacking"><h3>Reward-hacking indicators</h3>'
        f'<div class="cards">{"".join(cards)}</div><div class="grid">{"".join(figures)}</div></div>'
    )
    return "".join(parts)


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
    colors = {label: charts.PALETTE[i % len(charts.PALETTE)] for i, label in enumerate(data.policies)}

    parts.append(
        '<section id="env-policy"><h2>Env × policy</h2>'
        f'<p class="note">{_e(PAIR_NOTE)}</p>'
        f'<div class="scroll">{_pair_table(data)}</div>'
        + (f'<p class="note">unreadable lines: {_e("; ".join(data.problems))}</p>' if data.problems else "")
        + "</section>"
    )
    if data.envs:
        parts.append(_env_sections(data, colors))

    single = len(data.rows) == 1
    pairs = []
    for index, row in enumerate(data.rows):
        prefix = "" if single else f"p{index}-"
        summary = (
            f"{row.env} · {row.policy} — {row.episodes} episodes ({row.invalid} invalid), "
            f"x axis: {row.detail.x_label}"
        )
        pairs.append(
            f'<details class="pair" id="pair-{index}" data-env="{_e(row.env)}" data-policy="{_e(row.policy)}"'
            f"{' open' if single else ''}><summary>{_e(summary)}</summary>"
            + _detail_html(row.detail, prefix)
            + "</details>"
        )
    if pairs:
        parts.append(
            '<section id="pairs"><h2>Within one env and policy</h2>'
            '<p class="note">Episode-order (or training-step) charts, each over the episodes of one env '
            "and one policy only. Open one to see it.</p>" + "".join(pairs) + "</section>"
        )

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
