"""The researcher's view of stored episodes: load, filter, view, re-execute, re-score.

- `load_episodes(path)`: the episodes of a trajectory file or of every `*.jsonl` under a folder.
- `parse_filters` / `apply_filters`: `failed`, `invalid`, `task=ID`, `outcome=LABEL`, ...
- `agentgym.replay.viewer`: interactive terminal viewer (and the plain mode for pipes).
- `agentgym.replay.reexec`: re-run recorded actions against a fresh env, report the first divergence.
- `agentgym.replay.rescore`: returns under other specs and gate thresholds, no env needed.
"""

from agentgym.replay.filters import EpisodeFilter, apply_filters, parse_filter, parse_filters
from agentgym.replay.loading import Episode, LoadResult, load_episodes

__all__ = [
    "Episode",
    "EpisodeFilter",
    "LoadResult",
    "apply_filters",
    "load_episodes",
    "parse_filter",
    "parse_filters",
]
