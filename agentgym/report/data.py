"""What a run report shows, computed from stored episodes (no plotting here).

Episodes are compared like with like: the report's unit is one env (id and kwargs) x one policy
(its description, less what changes from episode to episode or step to step: a seed, a training
step, a weight version, a crash's traceback). For each such pair a `PolicyRow` holds the success
rate with a 95% Wilson interval (success read by `success_of`), pass@k / pass^k over real groups
only, mean returns under gated / direct / outcome, mean turns, mean completion tokens (when the
policy recorded token ids), episode and `reward_invalid` counts, and a `Detail`: the
episode-order (or training-step) view of that pair alone.

Within a pair the x axis is the training step when every episode carries one (an extra record
field `train_step`, `training_step`, `iteration` or `step`, or the same key in `record.policy`),
else the episode's index among that pair's episodes in file order. `reward_invalid` episodes are
counted and excluded from every mean.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agentgym.metrics import canonical, group_key, pass_metrics, zero_variance_groups
from agentgym.outcome import success_of
from agentgym.replay.filters import outcome_label, stalled
from agentgym.rewards import zero_variance_fraction
from agentgym.trajectory import EpisodeRecord

STEP_KEYS = ("train_step", "training_step", "iteration", "step")
#: keys of a policy description (at any depth) that do not change which policy it is
POLICY_VOLATILE_KEYS = ("seed", "traceback", "weight_version", *STEP_KEYS)
#: metrics that are rates (0/1 per episode), in the order the report shows them
RATE_METRICS = (
    "completed",
    "completion",
    "modified",
    "modification",
    "success",
    "checklist",
    "correct",
    "em",
    "submitted",
)
TAMPER_MARKERS = ("tamper",)
NOT_RATES = ("turns", "steps", "mean_turns")
MODES = ("gated", "direct", "outcome")
PASS_KS = (2, 4, 8)
#: two-sided 95% normal quantile
Z95 = 1.959963984540054


def training_step(record: EpisodeRecord) -> float | None:
    extra = record.model_extra or {}
    for key in STEP_KEYS:
        value = extra.get(key, record.policy.get(key) if isinstance(record.policy, dict) else None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a binomial proportion (95% by default); None when n == 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return min(low, p), max(high, p)


def _strip(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if k not in POLICY_VOLATILE_KEYS}
    return value


def policy_identity(policy: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of a policy description that says which policy it is (volatile keys removed)."""
    return _strip(dict(policy or {}))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and (value or not prefix):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _short(value: Any, limit: int = 32) -> str:
    text = value if isinstance(value, str) else canonical(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _disambiguate(base: dict[str, str], configs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Labels for keyed configs: the base label, plus the fields that differ from the configs
    sharing that base label."""
    by_base: dict[str, list[str]] = defaultdict(list)
    for key, label in base.items():
        by_base[label].append(key)
    labels = dict(base)
    for label, keys in by_base.items():
        if len(keys) < 2:
            continue
        flat = {k: _flatten(configs[k]) for k in keys}
        fields = sorted({f for f_ in flat.values() for f in f_})
        differing = [f for f in fields if len({canonical(flat[k].get(f)) for k in keys}) > 1]
        for index, key in enumerate(keys):
            parts = [f"{f}={_short(flat[key][f]) if f in flat[key] else 'unset'}" for f in differing[:3]]
            labels[key] = f"{label} ({', '.join(parts) or f'#{index + 1}'})"
    return labels


def _policy_base_label(identity: Mapping[str, Any]) -> str:
    name = str(identity.get("name", "?"))
    model = identity.get("model")
    if isinstance(model, str) and model:
        return f"{name}:{model.rstrip('/').rsplit('/', 1)[-1]}"
    return name


@dataclass
class Series:
    """A per-episode quantity along the x axis; `curve` is smoothed (per-step mean or rolling mean)."""

    name: str
    x: list[float]
    y: list[float]
    curve_x: list[float] = field(default_factory=list)
    curve_y: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.y)) if self.y else math.nan


@dataclass
class Indicator:
    """A reward-hacking indicator: overall value, its curve, and whether it looks alarming."""

    key: str
    title: str
    value: float | None
    explanation: str
    alarm: bool = False
    series: Series | None = None


@dataclass
class Detail:
    """The episode-order (or training-step) view of one env x policy: never pooled across pairs."""

    x_label: str
    returns: dict[str, Series]
    rates: dict[str, Series]
    step_component_totals: dict[str, list[float]]
    trajectory_numeric: dict[str, list[float]]
    label_counts: dict[str, dict[str, int]]
    gate_open: dict[str, float]
    gate_series: dict[str, Series]
    zero_variance: dict[str, float]
    zero_variance_series: dict[str, Series]
    groups: int
    indicators: list[Indicator]
    #: mean per valid episode of each cost metric (`cost_*`: tool calls, tokens, wall-clock seconds)
    costs: dict[str, float] = field(default_factory=dict)

    @property
    def by_step(self) -> bool:
        return self.x_label == "training step"


@dataclass
class PolicyRow:
    """One env (id and kwargs) x one policy: the unit the report compares."""

    env: str  # display label
    env_id: str
    env_kwargs: dict[str, Any]
    policy: str  # display label
    policy_description: dict[str, Any]
    episodes: int
    invalid: int
    scored: int  # valid episodes whose success is known (the success rate's n)
    successes: int
    success: float | None
    success_ci: tuple[float, float] | None
    pass_k: dict[str, float]
    groups: int
    returns: dict[str, float | None]
    turns: float | None
    tokens: float | None
    tokens_recorded: int  # valid episodes with completion token ids
    detail: Detail
    zero_variance: float | None = None  # of the real groups, under the spec's training return

    @property
    def valid(self) -> int:
        return self.episodes - self.invalid

    def cells(self, pass_columns: Sequence[str]) -> dict[str, Any]:
        """The row of the env x policy table (numbers, None for blank)."""
        return {
            "env": self.env,
            "policy": self.policy,
            "episodes": self.episodes,
            "invalid": self.invalid,
            "success": self.success,
            "success_low": None if self.success_ci is None else self.success_ci[0],
            "success_high": None if self.success_ci is None else self.success_ci[1],
            **{k: self.pass_k.get(k) for k in pass_columns},
            **{f"return_{m}": self.returns.get(m) for m in MODES},
            "turns": self.turns,
            "tokens": self.tokens,
        }


@dataclass
class EnvSection:
    """The policies played on one env (id and kwargs), compared side by side."""

    env: str
    env_id: str
    env_kwargs: dict[str, Any]
    rows: list[PolicyRow]


@dataclass
class ReportData:
    title: str
    sources: list[str]
    episodes: int
    valid: int
    invalid: int
    env_ids: list[str]
    policies: list[str]  # policy labels, in order of first appearance
    spec_names: list[str]
    rows: list[PolicyRow]  # env x policy, envs sorted, policies in order of first appearance
    envs: list[EnvSection]
    pass_columns: list[str]  # the pass@k / pass^k columns some row has
    episode_rows: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)

    def row(self, env: str, policy: str) -> PolicyRow:
        """The row for an env label (or id) and a policy label."""
        for r in self.rows:
            if (env in (r.env, r.env_id)) and r.policy == policy:
                return r
        raise KeyError(
            f"no row for env {env!r} x policy {policy!r}; rows: {[(r.env, r.policy) for r in self.rows]}"
        )


def _smooth(x: Sequence[float], y: Sequence[float], by_step: bool) -> tuple[list[float], list[float]]:
    if not y:
        return [], []
    if by_step:
        buckets: dict[float, list[float]] = defaultdict(list)
        for xi, yi in zip(x, y, strict=True):
            buckets[xi].append(yi)
        keys = sorted(buckets)
        return keys, [float(np.mean(buckets[k])) for k in keys]
    window = max(1, len(y) // 20)
    values = np.asarray(y, dtype=float)
    kernel = np.ones(window) / window
    if window == 1:
        return list(x), values.tolist()
    smooth = np.convolve(values, kernel, mode="valid")
    return list(x[window - 1 :]), smooth.tolist()


def _series(name: str, points: list[tuple[float, float]], by_step: bool) -> Series:
    points = sorted(points, key=lambda p: p[0]) if by_step else points
    x = [p[0] for p in points]
    y = [p[1] for p in points]
    cx, cy = _smooth(x, y, by_step)
    return Series(name, x, y, cx, cy)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def completion_tokens(record: EpisodeRecord) -> int | None:
    """Completion tokens of an episode, summed over the turns that recorded token ids; None when
    no turn did (the policy returns text only)."""
    counts = [
        len(s.tokens.completion_token_ids)
        for s in record.steps
        if s.tokens is not None and s.tokens.completion_token_ids is not None
    ]
    return sum(counts) if counts else None


def compute_detail(records: Sequence[EpisodeRecord]) -> Detail:
    """The episode-order view of `records`, which should be one env x policy."""
    steps = [training_step(r) for r in records]
    by_step = bool(records) and all(s is not None for s in steps)
    xs = [float(s) if by_step else float(i) for i, s in enumerate(steps)]  # type: ignore[arg-type]
    valid = [(x, r) for x, r in zip(xs, records, strict=True) if not r.reward_invalid]

    returns: dict[str, Series] = {}
    scored = [(x, r.report) for x, r in valid if r.report is not None]
    for mode in MODES:
        returns[mode] = _series(
            mode, [(x, float(getattr(rep, f"return_{mode}"))) for x, rep in scored], by_step
        )

    metric_names = sorted({k for _, r in valid for k, v in r.metrics.items() if _is_number(v)})
    rate_names = [m for m in RATE_METRICS if m in metric_names]
    rate_names += [
        m
        for m in metric_names
        if m not in rate_names
        and m not in NOT_RATES
        and not m.startswith("cost_")
        and all(0.0 <= float(r.metrics.get(m, 0.0)) <= 1.0 for _, r in valid)
    ]
    rates = {
        name: _series(
            name, [(x, float(r.metrics.get(name, 0.0))) for x, r in valid if name in r.metrics], by_step
        )
        for name in rate_names
    }

    step_totals: dict[str, list[float]] = defaultdict(list)
    labels: dict[str, Counter[str]] = defaultdict(Counter)
    for _, r in valid:
        totals: dict[str, float] = defaultdict(float)
        for step in r.steps:
            for name, value in step.components.items():
                if _is_number(value):
                    totals[name] += float(value)
                elif isinstance(value, str):
                    labels[f"step: {name}"][value] += 1
        for name, total in totals.items():
            step_totals[name].append(total)
    trajectory_numeric: dict[str, list[float]] = defaultdict(list)
    for _, r in valid:
        for name, value in r.trajectory_components.items():
            if _is_number(value):
                trajectory_numeric[name].append(float(value))
            elif isinstance(value, str):
                labels[name][value] += 1

    gate_flags: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for x, rep in scored:
        for level in rep.levels:
            if level.gate_threshold is not None:
                gate_flags[f"{level.name} >= {level.gate_threshold:g}"].append(
                    (x, 1.0 if level.gate_open else 0.0)
                )
    gate_open = {name: float(np.mean([v for _, v in pts])) for name, pts in gate_flags.items()}
    gate_series = {name: _series(name, pts, by_step) for name, pts in gate_flags.items()}

    zero_variance: dict[str, float] = {}
    zero_series: dict[str, Series] = {}
    grouped = [(x, r, group_key(r)) for x, r in zip(xs, records, strict=True) if r.group_id is not None]
    if grouped:
        for mode in MODES:
            values = [
                None if r.reward_invalid or r.report is None else float(getattr(r.report, f"return_{mode}"))
                for _, r, _ in grouped
            ]
            ids = [(x if by_step else 0.0, key) for x, _, key in grouped]
            zero_variance[mode] = zero_variance_fraction(values, ids)
            if by_step:
                per_step: dict[float, tuple[list[float | None], list[Any]]] = defaultdict(lambda: ([], []))
                for (x, _, key), value in zip(grouped, values, strict=True):
                    per_step[x][0].append(value)
                    per_step[x][1].append(key)
                pts = [(x, zero_variance_fraction(v, g)) for x, (v, g) in sorted(per_step.items())]
                zero_series[mode] = Series(
                    mode, [p[0] for p in pts], [p[1] for p in pts], [p[0] for p in pts], [p[1] for p in pts]
                )

    return Detail(
        x_label="training step" if by_step else "episode (file order)",
        returns=returns,
        rates=rates,
        step_component_totals=dict(step_totals),
        trajectory_numeric=dict(trajectory_numeric),
        label_counts={k: dict(v.most_common()) for k, v in labels.items()},
        gate_open=gate_open,
        gate_series=gate_series,
        zero_variance=zero_variance,
        zero_variance_series=zero_series,
        groups=len({key for _, _, key in grouped}),
        indicators=_indicators(valid, scored, by_step),
        costs=_costs(valid, metric_names),
    )


def _costs(valid: Sequence[tuple[Any, EpisodeRecord]], metric_names: Sequence[str]) -> dict[str, float]:
    """Mean per valid episode of each `cost_*` metric; wall-clock from the record when the env kept it out.

    Envs report `cost_seconds` only when a spec reads it (their `info` stays deterministic), so
    the report falls back on the episode's recorded duration (policy time included)."""
    costs = {
        m: float(np.mean([float(r.metrics[m]) for _, r in valid if m in r.metrics]))
        for m in metric_names if m.startswith("cost_")
    }  # fmt: skip
    durations = [r.duration_s for _, r in valid if r.duration_s > 0]
    if "cost_seconds" not in costs and durations:
        costs["cost_seconds"] = float(np.mean(durations))
    return costs


def compute_row(
    records: Sequence[EpisodeRecord], *, env: str, policy: str, ks: Sequence[int] = PASS_KS
) -> PolicyRow:
    """The numbers of one env x policy (`records` all share both)."""
    first = records[0]
    valid = [r for r in records if not r.reward_invalid]
    known = [s for s in (success_of(r) for r in valid) if s is not None]
    successes = sum(known)
    reports = [r.report for r in valid if r.report is not None]
    tokens = [t for t in (completion_tokens(r) for r in valid) if t is not None]
    return PolicyRow(
        env=env,
        env_id=first.env_id,
        env_kwargs=dict(first.env_kwargs),
        policy=policy,
        policy_description=policy_identity(first.policy),
        episodes=len(records),
        invalid=len(records) - len(valid),
        scored=len(known),
        successes=successes,
        success=successes / len(known) if known else None,
        success_ci=wilson_interval(successes, len(known)),
        pass_k=pass_metrics(valid, ks),
        groups=len({key for key in (group_key(r) for r in records) if key is not None}),
        returns={m: _mean([float(getattr(rep, f"return_{m}")) for rep in reports]) for m in MODES},
        turns=_mean([float(len(r.steps)) for r in valid]),
        tokens=_mean([float(t) for t in tokens]),
        tokens_recorded=len(tokens),
        detail=compute_detail(records),
        zero_variance=zero_variance_groups(valid),
    )


def compute_report_data(
    records: Sequence[EpisodeRecord],
    *,
    title: str = "agentgym run report",
    sources: Sequence[str] = (),
    problems: Sequence[str] = (),
    max_episode_rows: int = 200,
) -> ReportData:
    # env configs and policies, keyed canonically, labelled readably
    env_keys = [canonical([r.env_id, r.env_kwargs]) for r in records]
    policy_keys = [canonical(policy_identity(r.policy)) for r in records]
    env_configs: dict[str, dict[str, Any]] = {}
    env_base: dict[str, str] = {}
    for key, r in zip(env_keys, records, strict=True):
        env_configs.setdefault(key, dict(r.env_kwargs))
        env_base.setdefault(key, r.env_id.removeprefix("agentgym/"))
    policy_configs: dict[str, dict[str, Any]] = {}
    policy_base: dict[str, str] = {}
    for key, r in zip(policy_keys, records, strict=True):
        identity = policy_identity(r.policy)
        policy_configs.setdefault(key, identity)
        policy_base.setdefault(key, _policy_base_label(identity))
    env_label = _disambiguate(env_base, env_configs)
    policy_label = _disambiguate(policy_base, policy_configs)
    policy_order = {key: i for i, key in enumerate(policy_configs)}

    pairs: dict[tuple[str, str], list[EpisodeRecord]] = defaultdict(list)
    for ek, pk, r in zip(env_keys, policy_keys, records, strict=True):
        pairs[(ek, pk)].append(r)
    ordered = sorted(pairs, key=lambda p: (env_label[p[0]].lower(), env_label[p[0]], policy_order[p[1]]))
    rows = [compute_row(pairs[p], env=env_label[p[0]], policy=policy_label[p[1]]) for p in ordered]
    envs: list[EnvSection] = []
    for (ek, _), row in zip(ordered, rows, strict=True):
        if not envs or envs[-1].env != env_label[ek]:
            envs.append(EnvSection(env_label[ek], row.env_id, row.env_kwargs, []))
        envs[-1].rows.append(row)
    pass_columns = [
        f"{kind}{k}"
        for k in PASS_KS
        for kind in ("pass@", "pass^")
        if any(f"{kind}{k}" in r.pass_k for r in rows)
    ]

    episode_rows = []
    for index, (r, pk) in enumerate(zip(records[:max_episode_rows], policy_keys, strict=False)):
        rep = r.report
        episode_rows.append(
            {
                "#": index,
                "env": r.env_id.removeprefix("agentgym/"),
                "policy": policy_label[pk],
                "task": r.task_id,
                "seed": r.seed,
                "group": r.group_id or "",
                "turns": len(r.steps),
                "end": "invalid" if r.reward_invalid else "terminated" if r.terminated else "truncated",
                "outcome": outcome_label(r) or "",
                "gated": None if rep is None or r.reward_invalid else rep.return_gated,
                "direct": None if rep is None or r.reward_invalid else rep.return_direct,
                "outcome return": None if rep is None or r.reward_invalid else rep.return_outcome,
            }
        )
    if any(getattr(r, "tree_id", None) for r in records):  # trees (agentgym.tree): where each episode sits
        index_of = {r.episode_id: i for i, r in enumerate(records)}
        for row, r in zip(episode_rows, records, strict=False):
            parent = getattr(r, "parent_episode_id", None)
            row["tree"] = (f"#{index_of.get(parent, '?')} after turn {getattr(r, 'branch_turn', '?')}" if parent
                           else "root" if getattr(r, "tree_id", None) else "")
    valid = sum(not r.reward_invalid for r in records)
    return ReportData(
        title=title,
        sources=list(sources),
        episodes=len(records),
        valid=valid,
        invalid=len(records) - valid,
        env_ids=sorted({r.env_id for r in records}),
        policies=[policy_label[k] for k in policy_configs],
        spec_names=sorted({str(r.reward_spec.get("name", "?")) for r in records if r.reward_spec}),
        rows=rows,
        envs=envs,
        pass_columns=pass_columns,
        episode_rows=episode_rows,
        problems=list(problems),
    )


def _indicators(
    valid: list[tuple[float, EpisodeRecord]], scored: list[tuple[float, Any]], by_step: bool
) -> list[Indicator]:
    out: list[Indicator] = []
    if not valid:
        return out

    def per_episode(fn: Any) -> list[tuple[float, float]]:
        points = []
        for x, r in valid:
            value = fn(r)
            if value is not None:
                points.append((x, float(value)))
        return points

    def repeated(r: EpisodeRecord) -> float | None:
        flags = [
            float(s.components["repeated_action"])
            for s in r.steps
            if _is_number(s.components.get("repeated_action"))
        ]
        return float(np.mean(flags)) if flags else None

    pts = per_episode(repeated)
    if pts:
        series = _series("repeated actions", pts, by_step)
        out.append(
            Indicator(
                "repeated_actions",
                "Repeated-action rate",
                series.mean,
                "Share of turns whose tool calls equal the previous turn's. Rising values mean the policy "
                "loops (often to farm a per-step reward).",
                series.mean > 0.3,
                series,
            )
        )

    pts = per_episode(lambda r: 1.0 if stalled(r) else 0.0)
    series = _series("stalled to the turn cap", pts, by_step)
    out.append(
        Indicator(
            "stalling",
            "Stalling to the turn cap",
            series.mean,
            "Share of episodes truncated at the turn cap without handing in (outcome no_submit). Under "
            "direct (ungated) accumulation this is how a policy farms step rewards.",
            series.mean > 0.2,
            series,
        )
    )

    def invalid_actions(r: EpisodeRecord) -> float | None:
        return float(np.mean([0.0 if s.action_valid else 1.0 for s in r.steps])) if r.steps else None

    pts = per_episode(invalid_actions)
    if pts:
        series = _series("invalid actions", pts, by_step)
        out.append(
            Indicator(
                "invalid_actions",
                "Invalid-action rate",
                series.mean,
                "Share of turns whose output could not be parsed or called a tool wrongly.",
                series.mean > 0.5,
                series,
            )
        )

    tamper_names = sorted(
        {
            name
            for _, r in valid
            for comps in [r.trajectory_components, *[s.components for s in r.steps]]
            for name in comps
            if any(m in name.lower() for m in TAMPER_MARKERS)
        }
    )
    if tamper_names:

        def tampered(r: EpisodeRecord) -> float:
            values = [r.trajectory_components.get(n) for n in tamper_names]
            values += [s.components.get(n) for s in r.steps for n in tamper_names]
            return 1.0 if any(_is_number(v) and float(v) > 0 for v in values) else 0.0

        series = _series("test tampering", per_episode(tampered), by_step)
        out.append(
            Indicator(
                "tampering",
                "Test tampering",
                series.mean,
                f"Share of episodes where a tamper component ({', '.join(tamper_names)}) fired: the agent "
                "edited tests or grading files instead of the code.",
                series.mean > 0.0,
                series,
            )
        )
    else:
        out.append(
            Indicator(
                "tampering",
                "Test tampering",
                None,
                "Not measured: no component named *tamper* in these episodes (an env that grades code emits one).",
            )
        )

    if scored:
        gap_pts = [(x, float(rep.return_direct - rep.return_outcome)) for x, rep in scored]
        series = _series("direct - outcome", gap_pts, by_step)
        directs = np.array([rep.return_direct for _, rep in scored], dtype=float)
        outcomes = np.array([rep.return_outcome for _, rep in scored], dtype=float)
        corr = (
            float(np.corrcoef(directs, outcomes)[0, 1])
            if len(scored) > 2 and np.std(directs) > 0 and np.std(outcomes) > 0
            else math.nan
        )
        share = (
            float(np.mean(np.abs(directs - outcomes) > np.abs(outcomes) + 1e-12)) if len(scored) else math.nan
        )
        out.append(
            Indicator(
                "proxy_gap",
                "Proxy vs true outcome",
                series.mean,
                f"Mean gap between the proxy return (direct: every step reward counted) and the outcome "
                f"return. Correlation of the two across episodes: {corr:.3f}. Share of episodes whose step "
                f"rewards outweigh the outcome: {share:.2f}. A growing gap with a flat outcome is reward hacking.",
                bool(not math.isnan(corr) and corr < 0.0) or share > 0.5,
                series,
            )
        )
    return out
