"""Self-contained HTML reports over trajectory files (`agentgym report RUN --html OUT`).

- `agentgym.report.data`: the numbers (return curves, rates, component distributions, gate-open
  rates, zero-variance groups, reward-hacking indicators), computed from `EpisodeRecord`s.
- `agentgym.report.charts`: matplotlib figures as inline SVG.
- `agentgym.report.html`: the page (`write_report(run, out)`).
"""

from agentgym.report.data import ReportData, compute_report_data

__all__ = ["ReportData", "compute_report_data"]
