"""Charts for the HTML report: matplotlib (Agg) figures serialized as inline SVG strings."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentgym.report.data import Series

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
MODE_COLORS = {"gated": "#1f77b4", "direct": "#d62728", "outcome": "#2ca02c"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "agentgym-report",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


_XML_HEAD = re.compile(r"^.*?(<svg\b)", re.S)


def to_svg(fig: Any, chart_id: str) -> str:
    """The figure as an inline `<svg>` element (XML prolog and DOCTYPE stripped, ids made unique)."""
    plt = _plt()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = _XML_HEAD.sub(r"\1", buffer.getvalue(), count=1)
    # ids (clip paths, glyphs) must not collide between the SVGs of one page
    ids = set(re.findall(r'id="([^"]+)"', svg))
    for old in sorted(ids, key=len, reverse=True):
        svg = svg.replace(f'id="{old}"', f'id="{chart_id}-{old}"').replace(f"#{old})", f"#{chart_id}-{old})")
        svg = svg.replace(f'href="#{old}"', f'href="#{chart_id}-{old}"')
    return svg.replace("<svg ", f'<svg data-chart="{chart_id}" ', 1)


def line_chart(
    chart_id: str,
    series: Mapping[str, Series],
    *,
    x_label: str,
    y_label: str,
    colors: Mapping[str, str] | None = None,
    ylim: tuple[float, float] | None = None,
    scatter: bool = True,
    size: tuple[float, float] = (6.4, 3.2),
) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    for index, (name, s) in enumerate(series.items()):
        color = (colors or {}).get(name, PALETTE[index % len(PALETTE)])
        if scatter and s.x:
            ax.scatter(s.x, s.y, s=6, alpha=0.25, color=color, linewidths=0)
        if s.curve_x:
            marker = "o" if len(s.curve_x) < 30 else None
            ax.plot(
                s.curve_x,
                s.curve_y,
                color=color,
                linewidth=1.8,
                linestyle="--" if index > 0 and len(series) > 1 and name == "direct" else "-",
                zorder=3 if name == "gated" else 2,
                label=f"{name} (mean {s.mean:.3g})",
                marker=marker,
                markersize=3,
            )
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if series:
        ax.legend(loc="best", fontsize=8, frameon=False)
    return to_svg(fig, chart_id)


def bar_chart(
    chart_id: str,
    values: Mapping[str, float],
    *,
    y_label: str,
    ylim: tuple[float, float] | None = None,
    colors: Sequence[str] | None = None,
    size: tuple[float, float] = (6.4, 2.8),
) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    names = list(values)
    heights = [0.0 if math.isnan(v) else v for v in values.values()]
    bars = ax.bar(range(len(names)), heights, color=list(colors or PALETTE)[: len(names)] or PALETTE[0])
    for bar, value in zip(bars, heights, strict=True):
        ax.annotate(
            f"{value:.3g}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(
        range(len(names)),
        names,
        rotation=20 if max((len(n) for n in names), default=0) > 12 else 0,
        ha="right" if max((len(n) for n in names), default=0) > 12 else "center",
    )
    ax.set_ylabel(y_label)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return to_svg(fig, chart_id)


def histogram_grid(
    chart_id: str,
    numeric: Mapping[str, Sequence[float]],
    labels: Mapping[str, Mapping[str, int]] | None = None,
    *,
    columns: int = 3,
) -> str:
    """Small multiples: a histogram per numeric component, a bar chart per label component."""
    plt = _plt()
    panels: list[tuple[str, Any]] = [(n, v) for n, v in numeric.items()] + [
        (n, c) for n, c in (labels or {}).items()
    ]
    count = max(1, len(panels))
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.1 * cols, 2.3 * rows), squeeze=False, layout="constrained"
    )
    for index, ax in enumerate(axes.flat):
        if index >= len(panels):
            ax.axis("off")
            continue
        name, data = panels[index]
        color = PALETTE[index % len(PALETTE)]
        if isinstance(data, Mapping):
            keys = list(data)
            ax.bar(range(len(keys)), [data[k] for k in keys], color=color)
            ax.set_xticks(range(len(keys)), keys, rotation=25, ha="right", fontsize=7)
            ax.set_ylabel("episodes", fontsize=8)
        else:
            values = list(data)
            distinct = len(set(values))
            ax.hist(values, bins=min(20, max(1, distinct)), color=color, edgecolor="white")
            ax.set_ylabel("episodes", fontsize=8)
        ax.set_title(name, fontsize=9)
    if not panels:
        axes.flat[0].text(0.5, 0.5, "no components", ha="center", va="center")

    return to_svg(fig, chart_id)


def policy_comparison(
    chart_id: str,
    policies: Sequence[str],
    *,
    success: Sequence[tuple[float, float, float] | None],
    returns: Mapping[str, Sequence[float | None]],
    turns: Sequence[float | None],
    tokens: Sequence[float | None] | None = None,
    colors: Sequence[str] | None = None,
) -> str:
    """One env, its policies side by side: success rate with 95% CI whiskers, mean return per
    mode (a bar per policy within each mode), mean turns, and mean completion tokens when any
    policy recorded them. `success` holds (rate, low, high) per policy, or None when unknown."""
    plt = _plt()
    colors = list(colors or PALETTE)
    show_tokens = tokens is not None and any(t is not None for t in tokens)
    panels = 4 if show_tokens else 3
    widths = [1.0, 1.6, 1.0] + ([1.0] if show_tokens else [])
    fig, axes = plt.subplots(
        1,
        panels,
        figsize=(2.6 * sum(widths), 2.9),
        layout="constrained",
        gridspec_kw={"width_ratios": widths},
    )
    n = len(policies)
    xs = list(range(n))
    policy_colors = [colors[i % len(colors)] for i in range(n)]
    long_names = max((len(p) for p in policies), default=0) > 10

    def policy_ticks(ax: Any) -> None:
        ax.set_xticks(
            xs,
            list(policies),
            rotation=20 if long_names else 0,
            ha="right" if long_names else "center",
            fontsize=8,
        )

    ax = axes[0]
    heights = [s[0] if s is not None else 0.0 for s in success]
    low = [max(0.0, s[0] - s[1]) if s is not None else 0.0 for s in success]
    high = [max(0.0, s[2] - s[0]) if s is not None else 0.0 for s in success]
    ax.bar(xs, heights, color=policy_colors, yerr=[low, high], capsize=4, ecolor="#333333")
    for x, s in zip(xs, success, strict=True):
        text = "n/a" if s is None else f"{s[0]:.2f}"
        ax.annotate(
            text,
            (x, s[2] if s is not None else 0.0),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_ylim(0, 1.15)
    policy_ticks(ax)
    ax.set_title("success rate (95% CI)", fontsize=9)

    ax = axes[1]
    modes = list(returns)
    width = 0.8 / max(1, n)
    for i in range(n):
        values = [returns[m][i] for m in modes]
        offsets = [j + (i - (n - 1) / 2) * width for j in range(len(modes))]
        ax.bar(offsets, [0.0 if v is None else v for v in values], width=width, color=policy_colors[i])
    ax.axhline(0, color="#999999", linewidth=0.6)
    ax.set_xticks(range(len(modes)), modes)
    ax.set_title("mean return per mode", fontsize=9)

    def simple(ax: Any, values: Sequence[float | None], title: str) -> None:
        ax.bar(xs, [0.0 if v is None else v for v in values], color=policy_colors)
        for x, v in zip(xs, values, strict=True):
            ax.annotate(
                "n/a" if v is None else f"{v:.3g}",
                (x, 0.0 if v is None else v),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
        policy_ticks(ax)
        ax.set_title(title, fontsize=9)
        ax.margins(y=0.15)

    simple(axes[2], turns, "mean turns")
    if show_tokens:
        simple(axes[3], tokens or [], "mean completion tokens")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in policy_colors]
    fig.legend(
        handles, list(policies), loc="outside lower center", ncols=min(n, 4), fontsize=8, frameon=False
    )
    return to_svg(fig, chart_id)
