"""Preference pairs from task groups, for DPO-style baselines (`agentgym export pairs RUN.jsonl`).

Why: a GRPO group (several samples of one task) already ranks its episodes by return; ordered
pairs of them are preference data for DPO and its relatives, under any reward mode.

Pairs are made inside each group (`agentgym.metrics.group_key`: env, env kwargs, run, policy,
task, group id; an episode sampled in no group joins the others of its env and task). With
``strategy="best-worst"`` a group gives one pair, its highest return against its lowest; with
``"all"`` every ordered pair whose returns differ. Returns are the reports' under `mode` (None:
each report's own mode); a pair needs the chosen return to exceed the rejected one by more than
`margin`. Episodes whose reward is invalid never enter a pair.

Each row is in the format TRL's `DPOTrainer` reads (conversational): ``prompt`` (the messages
the two episodes share, up to the first assistant turn where they differ), ``chosen`` and
``rejected`` (each episode's messages from there on). When both episodes recorded token ids, the
row also carries ``prompt_ids`` / ``chosen_ids`` / ``rejected_ids``: the exact ids the policy saw
and produced (`agentgym.export.episode_segments`, never re-tokenized; see `exact_ids`: the prompt
is the recorded prompt of the turn where the episodes part, each side runs to the episode's end or
to a drift, after which the policy saw a re-rendered context), which `TokenExactDPOTrainer` trains on as they are (TRL's own
`DPOTrainer` re-renders the conversations with the chat template). Metadata columns (returns,
mode, env, task, episode ids) ride along; TRL drops them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgym.export import ExportError, episode_return, episode_segments
from agentgym.trajectory import EpisodeRecord, read_trajectories

STRATEGIES: tuple[str, ...] = ("best-worst", "all")


@dataclass
class PairsSummary:
    """What an export made and what it left out."""

    pairs: int = 0
    groups: int = 0
    groups_without_pair: int = 0
    invalid_episodes: int = 0
    token_exact: int = 0
    without_tokens: int = 0
    different_prompts: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.groups} group(s), {self.pairs} pair(s) ({self.token_exact} with exact token ids)"]
        if self.groups_without_pair:
            out.append(
                f"{self.groups_without_pair} group(s) gave no pair (one valid episode, or all returns tied)"
            )
        if self.invalid_episodes:
            out.append(f"{self.invalid_episodes} episode(s) with an invalid reward left out")
        if self.different_prompts:
            out.append(f"{self.different_prompts} pair(s) skipped: the episodes' prompts differ")
        if self.without_tokens:
            out.append(f"{self.without_tokens} pair(s) without token ids (conversations only)")
        return out


def conversation(record: EpisodeRecord) -> list[dict[str, Any]]:
    """The episode as OpenAI messages: system, task prompt, then each turn's assistant message and
    its tool results (or the observation), as the policy saw them."""
    messages: list[dict[str, Any]] = []
    if record.system_prompt:
        messages.append({"role": "system", "content": record.system_prompt})
    messages.append({"role": "user", "content": record.prompt})
    for step in record.steps:
        message = {"role": "assistant", "content": step.message.get("content") or step.action or ""}
        calls, results = step.tool_calls or [], step.tool_results or []
        if calls and len(calls) == len(results):
            message["tool_calls"] = [
                {"id": c.get("id"), "type": "function",
                 "function": {"name": c.get("name"), "arguments": json.dumps(c.get("arguments", {}))}}
                for c in calls
            ]  # fmt: skip
            messages.append(message)
            messages.extend(
                {
                    "role": "tool",
                    "tool_call_id": r.get("tool_call_id"),
                    "name": r.get("name"),
                    "content": r.get("content"),
                }
                for r in results
            )
        else:
            messages.append(message)
            if not (step.terminated or step.truncated):  # the last observation is never seen by the policy
                messages.append({"role": "user", "content": step.observation})
    return messages


def _split(chosen: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> int | None:
    """Where the two conversations part: the index of the assistant message the prompt stops
    before (the first one that differs, or the last shared one before a differing observation);
    None when they differ before any assistant message (different prompts: no pair)."""
    common = 0
    for a, b in zip(chosen, rejected, strict=False):
        if a != b:
            break
        common += 1
    if common < min(len(chosen), len(rejected)) and chosen[common].get("role") == "assistant":
        return common
    earlier = [i for i in range(min(common, len(chosen) - 1), -1, -1) if chosen[i].get("role") == "assistant"]
    return earlier[0] if earlier else None


def _turn_ids(record: EpisodeRecord, index: int) -> tuple[list[int], list[int]] | None:
    tokens = record.steps[index].tokens
    if tokens is None or tokens.prompt_token_ids is None or tokens.completion_token_ids is None:
        return None
    return list(tokens.prompt_token_ids), list(tokens.completion_token_ids)


def _continuation(record: EpisodeRecord, turn: int, prompt: list[int]) -> list[int] | None:
    """The exact ids of `record` from turn `turn`'s completion on, within that turn's segment."""
    try:
        segments = episode_segments(record)
    except ExportError:
        return None
    for segment in segments:
        if turn + 1 in segment.turns:
            if segment.ids[: len(prompt)] != prompt:
                return None
            return list(segment.ids[len(prompt) :])
    return None


def exact_ids(
    chosen: EpisodeRecord, rejected: EpisodeRecord
) -> tuple[list[int], list[int], list[int]] | None:
    """(prompt_ids, chosen_ids, rejected_ids) taken from the recorded token ids, or None.

    The prompt is the recorded prompt of the turn where the two episodes part (the first turn
    whose completion differs; the turn before, when an observation differs first); each side is
    that episode's exact ids from there to its end, or to the end of the segment when the episode
    drifted (see `agentgym.export`: ids are never concatenated across a drift)."""
    n = min(len(chosen.steps), len(rejected.steps))
    turn = None
    for index in range(n):
        a, b = _turn_ids(chosen, index), _turn_ids(rejected, index)
        if a is None or b is None:
            return None
        if a[0] != b[0]:  # the observations parted first: the pair starts a turn earlier
            if index == 0:
                return None
            turn = index - 1
            break
        if a[1] != b[1]:
            turn = index
            break
    if turn is None:
        return None
    prompt = _turn_ids(chosen, turn)[0]  # type: ignore[index]
    good, bad = _continuation(chosen, turn, prompt), _continuation(rejected, turn, prompt)
    if not good or not bad or good == bad:
        return None
    return prompt, good, bad


def _group_of(record: EpisodeRecord) -> tuple[str, ...]:
    from agentgym.metrics import canonical, group_key

    return group_key(record) or ("task", record.env_id, canonical(record.env_kwargs), record.task_id)


def make_pairs(
    records: Iterable[EpisodeRecord],
    *,
    strategy: str = "best-worst",
    mode: str | None = None,
    margin: float = 0.0,
    summary: PairsSummary | None = None,
) -> list[dict[str, Any]]:
    """Preference rows from `records` (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    summary = summary if summary is not None else PairsSummary()
    groups: dict[tuple[str, ...], list[tuple[float, int, EpisodeRecord]]] = {}
    for index, record in enumerate(records):
        value = episode_return(record, mode)
        if value is None:
            summary.invalid_episodes += 1
            continue
        groups.setdefault(_group_of(record), []).append((value, index, record))
    rows: list[dict[str, Any]] = []
    for members in groups.values():
        summary.groups += 1
        ranked = sorted(members, key=lambda m: (-m[0], m[1]))  # best first; ties by order in the file
        if strategy == "best-worst":
            candidates = [(ranked[0], ranked[-1])] if len(ranked) > 1 else []
        else:
            candidates = [(a, b) for i, a in enumerate(ranked) for b in ranked[i + 1 :]]
        made = 0
        for (good, _, chosen), (bad, _, rejected) in candidates:
            if good - bad <= margin:
                continue
            row = pair_row(chosen, rejected, good, bad, mode, summary)
            if row is None:
                summary.different_prompts += 1
                continue
            rows.append(row)
            made += 1
        if not made:
            summary.groups_without_pair += 1
    summary.pairs = len(rows)
    return rows


def pair_row(
    chosen: EpisodeRecord,
    rejected: EpisodeRecord,
    chosen_return: float,
    rejected_return: float,
    mode: str | None,
    summary: PairsSummary | None = None,
) -> dict[str, Any] | None:
    """One preference row (conversations, exact token ids when both episodes have them, metadata);
    None when the two episodes differ before their first assistant turn (different prompts)."""
    good, bad = conversation(chosen), conversation(rejected)
    cut = _split(good, bad)
    if cut is None:
        return None
    row: dict[str, Any] = {"prompt": good[:cut], "chosen": good[cut:], "rejected": bad[cut:]}
    ids = exact_ids(chosen, rejected)
    if ids is not None:
        row.update(prompt_ids=ids[0], chosen_ids=ids[1], rejected_ids=ids[2])
        if summary is not None:
            summary.token_exact += 1
    elif summary is not None:
        summary.without_tokens += 1
    row.update(
        chosen_return=chosen_return, rejected_return=rejected_return, mode=mode or "report",
        env_id=chosen.env_id, task_id=chosen.task_id, chosen_episode=chosen.episode_id,
        rejected_episode=rejected.episode_id,
    )  # fmt: skip
    return row


def export_pairs(
    run: str | Path,
    out: str | Path,
    *,
    strategy: str = "best-worst",
    mode: str | None = None,
    margin: float = 0.0,
) -> PairsSummary:
    """Read a trajectory file, write its preference rows as JSONL to `out`; the summary says what."""
    summary = PairsSummary()
    rows = make_pairs(
        read_trajectories(run).records, strategy=strategy, mode=mode, margin=margin, summary=summary
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return summary


def load_pairs(path: str | Path, *, token_exact: bool = False) -> Any:
    """The rows as a `datasets.Dataset`: the conversational columns (TRL's `DPOTrainer`), or with
    `token_exact` only the id columns (`TokenExactDPOTrainer`; rows without ids are dropped)."""
    from datasets import Dataset

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if token_exact:
        keys = ("prompt_ids", "chosen_ids", "rejected_ids")
        return Dataset.from_list([{k: r[k] for k in keys} for r in rows if all(k in r for k in keys)])
    return Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])


def token_exact_dpo_trainer_class() -> type:
    """`TokenExactDPOTrainer`: TRL's `DPOTrainer`, fed the exported ids as they are.

    TRL's `DPOTrainer` tokenizes text or conversations itself; given a dataset whose rows already
    hold `prompt_ids` / `chosen_ids` / `rejected_ids` (`load_pairs(..., token_exact=True)`), this
    subclass skips that step, so the loss is computed on exactly the tokens the policy saw and
    produced. Everything else (loss, reference model, collator) is TRL's."""
    from trl import DPOTrainer

    class TokenExactDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
            columns = set(getattr(dataset, "column_names", None) or ())
            if {"prompt_ids", "chosen_ids", "rejected_ids"} <= columns and "prompt" not in columns:
                return dataset
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    return TokenExactDPOTrainer


def rows_with_ids(rows: Sequence[dict[str, Any]]) -> int:
    return sum(1 for r in rows if "chosen_ids" in r)
