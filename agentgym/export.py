"""Episode records -> training samples for any trainer (`agentgym export samples`).

A sample is one exact token sequence of an episode: the first prompt's ids, then for each turn the
completion ids the model sampled, and between turns the env/tool/chat-template tokens, taken from
the next turn's recorded prompt ids (`prompt[len(previous prompt + completion):]`). Nothing is
re-tokenized: every id is one the backend recorded.

- `loss_mask` is 1 on exactly the sampled completion tokens and 0 everywhere else (system prompt,
  task, tool results, observations, retrieved text such as `information_spans`, template glue).
- `old_logprobs` is aligned to `input_ids`: the sampling logprob of each completion token, 0.0
  where `loss_mask` is 0 (None for the whole sample when the backend recorded no logprobs).
- `advantage` is one number per episode, from its `RewardReport` under `mode` (None: the report's
  own mode; or gated | direct | outcome): `grpo` (R - mean_group) / (std_group + 1e-6) (population
  std, as `agentgym.rewards.groups.group_advantages` and the GRPO trainer), `rloo`
  R - mean(others in the group) (0 for a group of one), `none` the return R itself. Groups are the
  records' `group_id` (an episode without one is its own group). Episodes with `reward_invalid`
  (or no report) are skipped, counted, and do not count in their group's statistics.

**Drift policy: split.** A turn whose recorded prompt does not start with the previous turn's
prompt + completion ids (re-tokenization drift: the chat template rewrote where the last turn
ended, or a context policy dropped observations) starts a new sample whose prompt is that turn's
recorded prompt. Each sample is therefore exactly a sequence the model saw or produced; the
samples of one episode share its advantage and carry `segment` / `n_segments`. Such turns are
counted in `ExportSummary.drift_turns` (and, of those, the ones the policy itself flagged in
`policy_meta["drift"]`). Concatenating across a drift would train on tokens the model never
produced or under a context it never saw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import TrajectoryError
from agentgym.trajectory import EpisodeRecord, read_trajectories

FORMATS = ("hf", "trl", "verl", "skyrl")
ADVANTAGES = ("grpo", "rloo", "none")
MODES = ("gated", "direct", "outcome")
GRPO_EPS = 1e-6

NO_TOKENS_HELP = (
    "records have no token ids: they come from a policy that does not return them (e.g. a scripted "
    "or API policy). Run a model policy that records prompt and completion token ids and logprobs: "
    "the transformers backend (`smollm2`, `hf:PATH`) or vLLM (`vllm-engine:PATH`, `vllm:URL#MODEL`), "
    "e.g. `agentgym run ENV --policy 'smollm2?temperature=1.0' --out run.jsonl`"
)


class ExportError(TrajectoryError):
    """Records cannot be turned into training samples (the message says why and what to do)."""


@dataclass
class Sample:
    """One training sample: an exact token sequence of one episode (one segment of it)."""

    input_ids: list[int]
    loss_mask: list[int]
    old_logprobs: list[float] | None
    prompt_length: int  # ids before the first completion token (the segment's first prompt)
    advantage: float
    reward: float  # the episode's return under the chosen mode
    episode_id: str
    env_id: str
    task_id: str
    group_id: str | None
    sample_index: int
    segment: int  # 0-based index of this segment in its episode
    n_segments: int
    turns: list[int]  # 1-based turns whose completions this sample holds
    drift: bool  # the segment starts at a drift turn (its prompt does not extend the last segment)
    end_reason: str | None
    success: bool | None
    reward_mode: str

    @property
    def attention_mask(self) -> list[int]:
        return [1] * len(self.input_ids)


@dataclass
class ExportSummary:
    episodes: int = 0  # records read
    exported_episodes: int = 0  # episodes that gave at least one sample
    samples: int = 0
    skipped_invalid: int = 0  # reward_invalid or no report: no advantage, never scored
    skipped_empty: int = 0  # valid episodes with no step (e.g. cut before the first turn)
    turns: int = 0
    turn_pairs: int = 0  # consecutive turns checked for drift
    drift_turns: int = 0  # turns whose prompt did not extend the previous prompt + completion
    policy_drift_flags: int = 0  # turns whose policy recorded a drift in policy_meta["drift"] (any fallback)
    policy_drift_kept: int = 0  # of those, the turns whose recorded ids still extend the context (not split)
    tokens: int = 0
    loss_tokens: int = 0
    missing_logprobs: int = 0  # samples whose backend recorded no logprobs (old_logprobs None)
    advantage: str = "grpo"
    mode: str = "report"
    groups: int = 0
    zero_variance_groups: int = 0  # groups whose valid returns are all equal (advantage 0)

    def lines(self) -> list[str]:
        drift_share = (
            f" ({self.drift_turns / self.turn_pairs:.0%} of {self.turn_pairs} turn pairs)"
            if self.turn_pairs
            else ""
        )
        return [
            f"episodes: {self.episodes} read, {self.exported_episodes} exported, "
            f"{self.skipped_invalid} skipped invalid, {self.skipped_empty} skipped empty",
            f"samples: {self.samples} ({self.tokens} tokens, {self.loss_tokens} in the loss mask)",
            f"drift: {self.drift_turns} turn(s) whose prompt does not extend the previous prompt + completion"
            f"{drift_share}, each starting a new sample; the policy flagged {self.policy_drift_flags} turn(s), "
            f"{self.policy_drift_kept} of them with exact ids kept",
            f"advantage: {self.advantage} over return ({self.mode}); {self.groups} group(s), "
            f"{self.zero_variance_groups} with zero variance",
        ] + (
            [f"logprobs: {self.missing_logprobs} sample(s) without recorded logprobs"]
            if self.missing_logprobs
            else []
        )


# ------------------------------------------------------------------------------------- returns
def episode_return(record: EpisodeRecord, mode: str | None = None) -> float | None:
    """The episode's return under `mode` (None: the report's own mode); None when invalid."""
    report = record.report
    if record.reward_invalid or report is None or report.reward_invalid:
        return None
    if mode is None:
        return float(report.return_)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return float(getattr(report, f"return_{mode}"))


def advantages(
    returns: Sequence[float | None], group_ids: Sequence[str], kind: str = "grpo", *, eps: float = GRPO_EPS
) -> list[float | None]:
    """Per-episode advantages (None where the return is None) within groups."""
    if kind not in ADVANTAGES:
        raise ValueError(f"advantage must be one of {ADVANTAGES}, got {kind!r}")
    if kind == "none":
        return [None if r is None else float(r) for r in returns]
    if kind == "grpo":
        from agentgym.rewards.groups import group_advantages

        return group_advantages(returns, group_ids, normalize=True, eps=eps)
    members: dict[str, list[int]] = {}
    for i, (value, gid) in enumerate(zip(returns, group_ids, strict=True)):
        if value is not None:
            members.setdefault(gid, []).append(i)
    out: list[float | None] = [None] * len(returns)
    for indices in members.values():
        total = sum(float(returns[i]) for i in indices)  # type: ignore[arg-type]
        n = len(indices)
        for i in indices:
            value = float(returns[i])  # type: ignore[arg-type]
            out[i] = 0.0 if n == 1 else value - (total - value) / (n - 1)
    return out


# ------------------------------------------------------------------------------------- samples
@dataclass
class _Segment:
    ids: list[int] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    prompt_length: int = 0
    turns: list[int] = field(default_factory=list)
    drift: bool = False
    has_logprobs: bool = True

    def env(self, ids: Sequence[int]) -> None:
        self.ids.extend(int(t) for t in ids)
        self.mask.extend([0] * len(ids))
        self.logprobs.extend([0.0] * len(ids))


def _turn_tokens(record: EpisodeRecord, index: int) -> tuple[list[int], list[int], list[float] | None]:
    step = record.steps[index]
    tokens = step.tokens
    if tokens is None or tokens.prompt_token_ids is None or tokens.completion_token_ids is None:
        raise ExportError(f"episode {record.episode_id} turn {index + 1}: {NO_TOKENS_HELP}")
    completion = [int(t) for t in tokens.completion_token_ids]
    logprobs = None if tokens.logprobs is None else [float(x) for x in tokens.logprobs]
    if logprobs is not None and len(logprobs) != len(completion):
        raise ExportError(
            f"episode {record.episode_id} turn {index + 1}: {len(logprobs)} logprobs for {len(completion)} completion tokens"
        )
    return [int(t) for t in tokens.prompt_token_ids], completion, logprobs


def episode_segments(record: EpisodeRecord, summary: ExportSummary | None = None) -> list[_Segment]:
    """The exact token segments of one episode (split at drift turns; see the module docstring)."""
    segments: list[_Segment] = []
    current: _Segment | None = None
    for index in range(len(record.steps)):
        prompt, completion, logprobs = _turn_tokens(record, index)
        if current is not None and summary is not None:
            summary.turn_pairs += 1
        flagged = bool(record.steps[index].policy_meta.get("drift"))
        if summary is not None and flagged:
            summary.policy_drift_flags += 1
        if current is not None and prompt[: len(current.ids)] == current.ids:
            current.env(prompt[len(current.ids) :])
            if summary is not None and flagged:
                summary.policy_drift_kept += 1
        else:
            drifted = current is not None
            if drifted:
                segments.append(current)  # type: ignore[arg-type]
                if summary is not None:
                    summary.drift_turns += 1
            current = _Segment(drift=drifted)
            current.env(prompt)
            current.prompt_length = len(prompt)
        current.ids.extend(completion)
        current.mask.extend([1] * len(completion))
        if logprobs is None:
            current.has_logprobs = False
            current.logprobs.extend([0.0] * len(completion))
        else:
            current.logprobs.extend(logprobs)
        current.turns.append(index + 1)
        if summary is not None:
            summary.turns += 1
    if current is not None:
        segments.append(current)
    return segments


def episode_samples(
    records: Iterable[EpisodeRecord],
    *,
    advantage: str = "grpo",
    mode: str | None = None,
    eps: float = GRPO_EPS,
) -> tuple[list[Sample], ExportSummary]:
    """Training samples of every valid episode, and a summary (counts, drift, groups).

    Raises `ExportError` when a valid episode has no token ids (the message says how to get them).
    """
    records = list(records)
    if advantage not in ADVANTAGES:
        raise ValueError(f"advantage must be one of {ADVANTAGES}, got {advantage!r}")
    if mode is not None and mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (or None: the report's mode), got {mode!r}")
    summary = ExportSummary(episodes=len(records), advantage=advantage, mode=mode or "report")
    returns = [episode_return(r, mode) for r in records]
    groups = [r.group_id or f"_episode:{r.episode_id}:{i}" for i, r in enumerate(records)]
    values = advantages(returns, groups, advantage, eps=eps)
    group_returns: dict[str, list[float]] = {}
    for value, gid in zip(returns, groups, strict=True):
        if value is not None:
            group_returns.setdefault(gid, []).append(value)
    summary.groups = len(group_returns)
    summary.zero_variance_groups = sum(1 for v in group_returns.values() if max(v) - min(v) <= 1e-12)
    samples: list[Sample] = []
    for record, value, adv in zip(records, returns, values, strict=True):
        if value is None or adv is None:
            summary.skipped_invalid += 1
            continue
        if not record.steps:
            summary.skipped_empty += 1
            continue
        segments = episode_segments(record, summary)
        summary.exported_episodes += 1
        for index, seg in enumerate(segments):
            sample = Sample(
                input_ids=seg.ids,
                loss_mask=seg.mask,
                old_logprobs=seg.logprobs if seg.has_logprobs else None,
                prompt_length=seg.prompt_length,
                advantage=float(adv),
                reward=float(value),
                episode_id=record.episode_id,
                env_id=record.env_id,
                task_id=record.task_id,
                group_id=record.group_id,
                sample_index=record.sample_index,
                segment=index,
                n_segments=len(segments),
                turns=seg.turns,
                drift=seg.drift,
                end_reason=record.end_reason,
                success=record.success,
                reward_mode=mode or (record.report.mode if record.report is not None else "report"),
            )
            samples.append(sample)
            summary.samples += 1
            summary.tokens += len(seg.ids)
            summary.loss_tokens += sum(seg.mask)
            summary.missing_logprobs += 0 if seg.has_logprobs else 1
    return samples, summary


# ------------------------------------------------------------------------------------- formats
def _meta(s: Sample) -> dict[str, Any]:
    return {
        "episode_id": s.episode_id,
        "env_id": s.env_id,
        "task_id": s.task_id,
        "group_id": s.group_id,
        "sample_index": s.sample_index,
        "segment": s.segment,
        "n_segments": s.n_segments,
        "turns": s.turns,
        "drift": s.drift,
        "end_reason": s.end_reason,
        "success": s.success,
        "reward": s.reward,
        "reward_mode": s.reward_mode,
    }


def to_row(s: Sample, fmt: str = "hf") -> dict[str, Any]:
    """One sample in a trainer's field names (see docs/records.md, "Exporting")."""
    p = s.prompt_length
    logprobs = s.old_logprobs
    if fmt == "hf":
        return {
            "input_ids": s.input_ids,
            "attention_mask": s.attention_mask,
            "loss_mask": s.loss_mask,
            "old_logprobs": logprobs,
            "advantage": s.advantage,
            "prompt_length": p,
            **_meta(s),
        }
    if fmt == "trl":  # GRPOTrainer's batch fields; env_mask/logprobs are what a `rollout_func` returns
        completion = s.input_ids[p:]
        return {
            "prompt_ids": s.input_ids[:p],
            "completion_ids": completion,
            "prompt_mask": [1] * p,
            "completion_mask": [1] * len(completion),
            "env_mask": s.loss_mask[p:],  # 1: model token, 0: env/tool token (TRL's tool_mask)
            "logprobs": None if logprobs is None else logprobs[p:],
            "old_per_token_logps": None if logprobs is None else logprobs[p:],
            "advantages": s.advantage,
            **_meta(s),
        }
    if fmt == "verl":  # DataProto batch fields of a multi-turn (agent loop) rollout
        response = s.input_ids[p:]
        mask = s.loss_mask[p:]
        last = max((i for i, m in enumerate(mask) if m), default=len(mask) - 1)
        rewards = [0.0] * len(response)
        if response:
            rewards[last] = s.reward
        return {
            "prompts": s.input_ids[:p],
            "responses": response,
            "response_mask": mask,
            "input_ids": s.input_ids,
            "attention_mask": s.attention_mask,
            "position_ids": list(range(len(s.input_ids))),
            "old_log_probs": None if logprobs is None else logprobs[p:],
            "advantages": [s.advantage * m for m in mask],
            "token_level_rewards": rewards,
            "uid": s.group_id or s.episode_id,
            **_meta(s),
        }
    if fmt == "skyrl":  # one entry of SkyRL-train's GeneratorOutput lists
        return {
            "prompt_token_ids": s.input_ids[:p],
            "response_ids": s.input_ids[p:],
            "rewards": s.reward,
            "loss_masks": s.loss_mask[p:],
            "rollout_logprobs": None if logprobs is None else logprobs[p:],
            "stop_reasons": s.end_reason,
            "trajectory_ids": {"instance_id": s.group_id or s.episode_id, "repetition_id": s.sample_index},
            "advantages": s.advantage,
            **_meta(s),
        }
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


def write_rows(rows: list[dict[str, Any]], out: str | Path) -> Path:
    """JSONL (one row a line), or Parquet when `out` ends in .parquet (needs pyarrow)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), out)
        return out
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, allow_nan=False) + "\n")
    tmp.replace(out)
    return out


def export_samples(
    source: str | Path | Iterable[EpisodeRecord],
    out: str | Path,
    *,
    format: str = "hf",  # noqa: A002 - the CLI's name
    advantage: str = "grpo",
    mode: str | None = None,
) -> ExportSummary:
    """Read a run file (or take records), build samples and write them in `format` to `out`."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if isinstance(source, (str, Path)):
        loaded = read_trajectories(source)
        if loaded.problems:
            first = loaded.problems[0]
            raise TrajectoryError(
                f"{source} line {first.line_no}: {first.error} ({len(loaded.problems)} bad line(s))"
            )
        records: list[EpisodeRecord] = loaded.records
    else:
        records = list(source)
    samples, summary = episode_samples(records, advantage=advantage, mode=mode)
    rows = [to_row(s, format) for s in samples]
    for row in rows:
        for key in ("advantage", "advantages", "rewards", "reward"):
            if isinstance(row.get(key), float) and not math.isfinite(row[key]):
                raise ExportError(f"episode {row['episode_id']}: non-finite {key}")
    write_rows(rows, out)
    return summary


def summary_dict(summary: ExportSummary) -> dict[str, Any]:
    return asdict(summary)
