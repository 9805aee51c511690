"""Self-contained HTML reports over trajectory files (`agentgym report RUN --html OUT`).

- `agentgym.report.data`: the numbers, one `PolicyRow` per env x policy (success rate with a 95%
  Wilson interval, pass@k / pass^k within real groups, returns per mode, turns, tokens) and its
  episode-order `Detail` (return curves, rates, component distributions, gate-open rates,
  zero-variance groups, reward-hacking indicators), computed from `EpisodeRecord`s.
- `agentgym.report.charts`: matplotlib figures as inline SVG.
- `agentgym.report.html`: the page (`write_report(run, out)`).
"""

from agentgym.report.data import PolicyRow, ReportData, compute_report_data

__all__ = ["PolicyRow", "ReportData", "compute_report_data"]
