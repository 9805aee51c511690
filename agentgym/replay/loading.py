"""Loading stored episodes from a trajectory file or a folder of them, keeping their origin."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentgym.trajectory import BadLine, EpisodeRecord, read_trajectories


@dataclass(frozen=True)
class Episode:
    """One stored episode and where it came from (file and 0-based index within that file)."""

    record: EpisodeRecord
    source: Path
    index: int

    @property
    def label(self) -> str:
        return f"{self.source.name}#{self.index}"


@dataclass
class LoadResult:
    episodes: list[Episode] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    problems: list[tuple[Path, BadLine]] = field(default_factory=list)

    @property
    def records(self) -> list[EpisodeRecord]:
        return [e.record for e in self.episodes]


def trajectory_files(path: str | Path) -> list[Path]:
    """The trajectory files named by `path`: the file itself, or every `*.jsonl` below a folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.jsonl") if p.is_file())
    if path.is_file():
        return [path]
    raise FileNotFoundError(f"trajectory file or folder not found: {path}")


def load_episodes(path: str | Path) -> LoadResult:
    """Read every episode; unreadable lines are reported in `problems`, never dropped silently."""
    result = LoadResult()
    for file in trajectory_files(path):
        result.files.append(file)
        loaded = read_trajectories(file)
        result.episodes.extend(Episode(record, file, i) for i, record in enumerate(loaded.records))
        result.problems.extend((file, problem) for problem in loaded.problems)
    return result
