"""Re-scoring stored episodes under other reward specs and gate thresholds, without any env.

Every episode stores its raw step and trajectory components, so any `RewardSpec` can be applied
after the fact with `spec.score(...)` — exactly what the env does live. A sweep varies spec fields
given as dotted paths into the spec:

  gate.threshold=0,0.1,0.5            the top gate (the first level that has a gate)
  levels.1.gate.threshold=0.2,0.4     level 1's gate (created if the level had none)
  outcome.weight=1,2                  a level addressed by name
  mode=gated,direct,outcome           any top-level field

Several sweeps combine as a grid. `sweep_rows` returns one `RescoreRow` per (spec, grid point):
mean returns under the spec's mode and under gated / direct / outcome, gate-open rates per level,
and the per-episode returns. `reward_invalid` episodes are counted, never averaged.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from agentgym.rewards import RewardReport, RewardSpec, resolve_spec
from agentgym.trajectory import EpisodeRecord


@dataclass(frozen=True)
class SweepAxis:
    """One swept spec field: `path` as the user wrote it, and the values to try."""

    path: str
    values: tuple[Any, ...]


def parse_sweep(text: str) -> SweepAxis:
    """`path=a,b,c` -> SweepAxis; values are YAML scalars (numbers, booleans, names)."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or not raw.strip():
        raise ValueError(f"--sweep expects path=a,b,c (e.g. gate.threshold=0,0.1,0.5), got {text!r}")
    values = tuple(yaml.safe_load(part.strip()) for part in raw.split(",") if part.strip())
    if not values:
        raise ValueError(f"--sweep {text!r} lists no values")
    return SweepAxis(path, values)


def _level_index(data: dict[str, Any], token: str, full: str) -> int:
    levels = data.get("levels", [])
    if token.lstrip("-").isdigit():
        index = int(token)
        if not -len(levels) <= index < len(levels):
            raise ValueError(f"{full}: level {index} does not exist (the spec has {len(levels)} levels)")
        return index % len(levels)
    for index, level in enumerate(levels):
        if level.get("name") == token:
            return index
    names = [lv.get("name") for lv in levels]
    raise ValueError(f"{full}: no level named {token!r} (levels: {names})")


def resolve_path(data: dict[str, Any], path: str) -> list[str | int]:
    """Turn a user path into keys into the spec's JSON form (`gate.threshold` -> top gate)."""
    parts = path.split(".")
    levels = data.get("levels", [])
    if parts[0] == "gate":
        gated = [i for i, level in enumerate(levels) if level.get("gate")]
        return ["levels", gated[0] if gated else 0, *parts]
    if parts[0] == "levels":
        if len(parts) < 2:
            raise ValueError(f"{path}: name a level (levels.0.gate.threshold)")
        return ["levels", _level_index(data, parts[1], path), *parts[2:]]
    if parts[0] in RewardSpec.model_fields:
        return list(parts)
    # a level addressed by name: `outcome.gate.threshold`
    return ["levels", _level_index(data, parts[0], path), *parts[1:]]


def with_override(spec: RewardSpec, path: str, value: Any) -> RewardSpec:
    """A copy of `spec` with the field at `path` set to `value` (validated like a loaded spec)."""
    from agentgym.rewards.spec import spec_from_data

    data = spec.model_dump(mode="json")
    keys = resolve_path(data, path)
    target: Any = data
    for key in keys[:-1]:
        if isinstance(target, list):
            target = target[key]  # type: ignore[index]
            continue
        if target.get(key) is None:
            target[key] = {}
        target = target[key]
    target[keys[-1]] = value
    return spec_from_data(data, f"--sweep {path}={value}")


@dataclass
class RescoreRow:
    """Returns of a set of episodes under one spec (one point of a sweep)."""

    spec_label: str
    overrides: dict[str, Any]
    mode: str
    episodes: int
    invalid: int
    mean_return: float
    mean_gated: float
    mean_direct: float
    mean_outcome: float
    gate_open_rates: dict[str, float] = field(default_factory=dict)
    returns: list[float | None] = field(default_factory=list)
    reports: list[RewardReport] = field(default_factory=list, repr=False)

    @property
    def gate_open_rate(self) -> float:
        """Open rate of the top gate (NaN when the spec has no gate)."""
        return next(iter(self.gate_open_rates.values()), math.nan)

    @property
    def threshold(self) -> Any:
        return next(iter(self.overrides.values()), None)

    def to_dict(self, per_episode: bool = True) -> dict[str, Any]:
        data = {
            "spec": self.spec_label,
            "overrides": self.overrides,
            "mode": self.mode,
            "episodes": self.episodes,
            "invalid": self.invalid,
            "mean_return": self.mean_return,
            "mean_gated": self.mean_gated,
            "mean_direct": self.mean_direct,
            "mean_outcome": self.mean_outcome,
            "gate_open_rates": self.gate_open_rates,
        }
        if per_episode:
            data["returns"] = self.returns
        return data


class _SpecCache:
    """Resolves the spec of each record once per distinct stored spec."""

    def __init__(self, reward: RewardSpec | str | Mapping[str, Any] | None, overrides: Mapping[str, Any]):
        self.reward = reward
        self.overrides = dict(overrides)
        self._cache: dict[str, RewardSpec] = {}

    def spec_for(self, record: EpisodeRecord) -> RewardSpec:
        key = json.dumps(record.reward_spec, sort_keys=True)
        if key not in self._cache:
            if not record.reward_spec and (
                self.reward is None or self.reward in ("gated", "direct", "outcome")
            ):
                raise ValueError(
                    f"episode {record.episode_id} stores no reward spec; pass a spec file with --reward"
                )
            default = RewardSpec.model_validate(record.reward_spec) if record.reward_spec else "gated"
            spec = resolve_spec(self.reward, default=default)
            for path, value in self.overrides.items():
                spec = with_override(spec, path, value)
            self._cache[key] = spec
        return self._cache[key]


def rescore_record(record: EpisodeRecord, spec: RewardSpec) -> RewardReport:
    """The report `spec` gives this episode's stored components (what the env computes live)."""
    if getattr(spec, "judges", None) and not all(
        name in record.trajectory_components or any(name in c for c in record.step_components) for name in spec.judges
    ):
        raise ValueError(
            f"spec {spec.name!r} has judges ({', '.join(spec.judges)}) whose scores are not stored in the record: "
            "re-score with `agentgym judge rescore`, which runs the judge models"
        )
    noise_key = record.report.noise_key if record.report is not None else None  # the noise the env drew
    return spec.score(
        record.step_components,
        record.trajectory_components,
        reward_invalid=record.reward_invalid,
        noise_key=noise_key,
    )


def rescore(
    records: Sequence[EpisodeRecord],
    reward: RewardSpec | str | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[RewardReport]:
    """Reports for each record under `reward` (None: each record's own spec; a mode name: its own
    spec under that mode; a spec or YAML path: that spec), with `overrides` applied."""
    cache = _SpecCache(reward, overrides or {})
    return [rescore_record(record, cache.spec_for(record)) for record in records]


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan


def summarize_reports(
    spec_label: str,
    overrides: Mapping[str, Any],
    records: Sequence[EpisodeRecord],
    reports: Sequence[RewardReport],
) -> RescoreRow:
    valid = [(r, rep) for r, rep in zip(records, reports, strict=True) if not r.reward_invalid]
    gate_counts: dict[str, list[float]] = {}
    for _, report in valid:
        for level in report.levels:
            if level.gate_threshold is not None:
                gate_counts.setdefault(level.name, []).append(1.0 if level.gate_open else 0.0)
    modes = {rep.mode for _, rep in valid}
    return RescoreRow(
        spec_label=spec_label,
        overrides=dict(overrides),
        mode="/".join(sorted(modes)) if modes else "-",
        episodes=len(valid),
        invalid=len(records) - len(valid),
        mean_return=_mean([rep.return_ for _, rep in valid]),
        mean_gated=_mean([rep.return_gated for _, rep in valid]),
        mean_direct=_mean([rep.return_direct for _, rep in valid]),
        mean_outcome=_mean([rep.return_outcome for _, rep in valid]),
        gate_open_rates={name: _mean(v) for name, v in gate_counts.items()},
        returns=[None if r.reward_invalid else rep.return_ for r, rep in zip(records, reports, strict=True)],
        reports=list(reports),
    )


def sweep_rows(
    records: Sequence[EpisodeRecord],
    rewards: Sequence[RewardSpec | str | None] = (None,),
    sweeps: Sequence[str | SweepAxis] = (),
) -> list[RescoreRow]:
    """One row per reward (None = the recorded spec) and per point of the sweep grid."""
    axes = [s if isinstance(s, SweepAxis) else parse_sweep(s) for s in sweeps]
    points = [
        dict(zip([a.path for a in axes], combo, strict=True))
        for combo in itertools.product(*[a.values for a in axes])
    ]
    rows = []
    for reward in rewards or (None,):
        label = (
            "recorded" if reward is None else reward.name if isinstance(reward, RewardSpec) else str(reward)
        )
        for overrides in points:
            reports = rescore(records, reward, overrides)
            rows.append(summarize_reports(label, overrides, records, reports))
    return rows


def _row_cells(rows: Sequence[RescoreRow]) -> tuple[list[str], list[list[str]]]:
    override_keys = list(dict.fromkeys(k for row in rows for k in row.overrides))
    gate_names = list(dict.fromkeys(k for row in rows for k in row.gate_open_rates))
    header = ["spec", *override_keys, "mode", "n", "invalid", "return", "gated", "direct", "outcome"]
    header += [f"open {name}" for name in gate_names]
    body = []
    for row in rows:
        body.append(
            [
                row.spec_label,
                *[str(row.overrides.get(k, "-")) for k in override_keys],
                row.mode,
                str(row.episodes),
                str(row.invalid),
                *[f"{v:.4g}" for v in (row.mean_return, row.mean_gated, row.mean_direct, row.mean_outcome)],
                *[f"{row.gate_open_rates[n]:.3g}" if n in row.gate_open_rates else "-" for n in gate_names],
            ]
        )
    return header, body


def rows_text(rows: Sequence[RescoreRow]) -> str:
    """Sweep rows as aligned plain text (for pipes and logs: never truncated to a terminal width)."""
    header, body = _row_cells(rows)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *body]
    ]
    return "\n".join(line.rstrip() for line in lines)


def rows_table(rows: Sequence[RescoreRow]) -> Any:
    """A rich Table of sweep rows."""
    from rich.markup import escape
    from rich.table import Table

    override_keys = list(dict.fromkeys(k for row in rows for k in row.overrides))
    gate_names = list(dict.fromkeys(k for row in rows for k in row.gate_open_rates))
    table = Table(show_edge=False)
    table.add_column("spec")
    for key in override_keys:
        table.add_column(key, justify="right")
    for column in ("mode", "n", "invalid", "return", "gated", "direct", "outcome"):  # return: under the mode
        table.add_column(column, justify="right")
    for name in gate_names:
        table.add_column(escape(f"open {name}"), justify="right")
    for row in rows:
        table.add_row(
            row.spec_label,
            *[str(row.overrides.get(k, "-")) for k in override_keys],
            row.mode,
            str(row.episodes),
            str(row.invalid),
            *[f"{v:.4g}" for v in (row.mean_return, row.mean_gated, row.mean_direct, row.mean_outcome)],
            *[f"{row.gate_open_rates[n]:.3g}" if n in row.gate_open_rates else "-" for n in gate_names],
        )
    return table


def episodes_table(records: Sequence[EpisodeRecord], reports: Sequence[RewardReport]) -> Any:
    """A rich Table with one row per episode: old return, new return under every mode."""
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("#", "task", "old return", "new return", "gated", "direct", "outcome", "gates open"):
        table.add_column(column, justify="right")
    for index, (record, report) in enumerate(zip(records, reports, strict=True)):
        old = record.report.return_ if record.report is not None else math.nan
        gates = "".join(
            ("1" if lv.gate_open else "0") for lv in report.levels if lv.gate_threshold is not None
        )
        if record.reward_invalid:
            table.add_row(str(index), record.task_id, f"{old:g}", "invalid", "-", "-", "-", "-")
            continue
        table.add_row(
            str(index),
            record.task_id,
            f"{old:g}",
            f"{report.return_:g}",
            f"{report.return_gated:g}",
            f"{report.return_direct:g}",
            f"{report.return_outcome:g}",
            gates or "-",
        )
    return table
