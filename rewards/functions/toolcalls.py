"""Tool-call matching in the style of ToolRL's correctness reward, scaled to [0, 1].

Score = (name + params + values) / max, where
- name: multiset Jaccard of predicted vs gold tool names (1 when both are empty),
- params: for each gold call matched to a predicted call of the same name, the Jaccard of their
  argument names,
- values: for each matched gold call, the number of gold arguments whose value the prediction
  equals,
- max = 1 + n_gold + total number of gold arguments.
Gold and predicted calls are paired by an optimal assignment (Hungarian algorithm) maximizing
params + values. Calls are dicts ``{"name", "arguments"}`` (arguments a dict or a JSON string),
OpenAI ``{"function": {...}}`` entries, or objects with ``name``/``arguments`` attributes.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCallMatch:
    score: float  # in [0, 1]
    name_score: float  # multiset Jaccard of names, in [0, 1]
    param_score: float  # sum over matched gold calls of argument-name Jaccard
    value_score: float  # number of gold argument values matched
    max_score: float  # 1 + n_gold + n_gold_arguments
    pairs: list[tuple[int, int]] = field(default_factory=list)  # (gold index, predicted index)


def _as_call(call: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(call, Mapping):
        if "function" in call and isinstance(call["function"], Mapping):
            call = call["function"]
        name, arguments = call.get("name"), call.get("arguments", {})
    else:
        name, arguments = getattr(call, "name", None), getattr(call, "arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            arguments = {}
    if not isinstance(arguments, Mapping):
        arguments = {}
    return str(name or ""), dict(arguments)


def _canon(value: Any, normalize_strings: bool) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()).casefold() if normalize_strings else value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _canon(v, normalize_strings) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v, normalize_strings) for v in value]
    return value


def _pair_score(
    gold: tuple[str, dict], pred: tuple[str, dict], normalize_strings: bool
) -> tuple[float, float]:
    if gold[0] != pred[0]:
        return 0.0, 0.0
    gold_keys, pred_keys = set(gold[1]), set(pred[1])
    union = gold_keys | pred_keys
    params = len(gold_keys & pred_keys) / len(union) if union else 1.0
    values = sum(
        1.0
        for key, value in gold[1].items()
        if key in pred[1] and _canon(pred[1][key], normalize_strings) == _canon(value, normalize_strings)
    )
    return params, values


def _assign(weights: list[list[float]]) -> list[tuple[int, int]]:
    """Maximum-weight assignment (rows <= cols), Hungarian algorithm; returns (row, col) pairs."""
    n = len(weights)
    m = len(weights[0]) if n else 0
    if n == 0 or m == 0:
        return []
    if n > m:
        return [(r, c) for c, r in _assign([list(col) for col in zip(*weights, strict=True)])]
    cost = [[0.0] * (m + 1)] + [[0.0] + [-w for w in row] for row in weights]
    u = [0.0] * (n + 1)
    v = [0.0] * (m + 1)
    p = [0] * (m + 1)
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [math.inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], math.inf, 0
            for j in range(1, m + 1):
                if not used[j]:
                    cur = cost[i0][j] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    return [(p[j] - 1, j - 1) for j in range(1, m + 1) if p[j]]


def match_tool_calls(
    predicted: Sequence[Any], gold: Sequence[Any], *, normalize_strings: bool = False
) -> ToolCallMatch:
    """Full ToolRL-style breakdown of how well `predicted` calls match `gold` calls."""
    preds = [_as_call(c) for c in predicted]
    golds = [_as_call(c) for c in gold]
    max_score = 1.0 + len(golds) + sum(len(args) for _, args in golds)
    gold_names, pred_names = Counter(n for n, _ in golds), Counter(n for n, _ in preds)
    union = sum((gold_names | pred_names).values())
    name_score = sum((gold_names & pred_names).values()) / union if union else 1.0
    scores = [[_pair_score(g, p, normalize_strings) for p in preds] for g in golds]
    weights = [[a + b for a, b in row] for row in scores]
    pairs = [(g, p) for g, p in _assign(weights) if golds[g][0] == preds[p][0]] if preds and golds else []
    param_score = sum(scores[g][p][0] for g, p in pairs)
    value_score = sum(scores[g][p][1] for g, p in pairs)
    total = (name_score + param_score + value_score) / max_score
    return ToolCallMatch(
        score=min(max(total, 0.0), 1.0),
        name_score=name_score,
        param_score=param_score,
        value_score=value_score,
        max_score=max_score,
        pairs=sorted(pairs),
    )


def tool_call_score(
    predicted: Sequence[Any], gold: Sequence[Any], *, normalize_strings: bool = False
) -> float:
    """ToolRL-style correctness in [0, 1]: 1.0 iff the calls match exactly (up to order)."""
    return match_tool_calls(predicted, gold, normalize_strings=normalize_strings).score


def toolcall_scores(
    predicted: Sequence[Any], gold: Sequence[Any], *, normalize_strings: bool = False
) -> dict[str, float]:
    """Per-part scores, each in [0, 1], for envs that emit them as separate components.

    tool_name_match: multiset Jaccard of names. param_name_match / param_value_match: over the
    optimally matched same-name pairs, the argument-name Jaccard / the fraction of gold argument
    values matched, summed and divided by max(n_predicted, n_gold) (extra or missing calls cost).
    Both lists empty: every score is 1.0.
    """
    if not predicted and not gold:
        return {"tool_name_match": 1.0, "param_name_match": 1.0, "param_value_match": 1.0}
    preds = [_as_call(c) for c in predicted]
    golds = [_as_call(c) for c in gold]
    match = match_tool_calls(predicted, gold, normalize_strings=normalize_strings)
    denominator = max(len(preds), len(golds))
    params = values = 0.0
    for g, p in match.pairs:
        param, value = _pair_score(golds[g], preds[p], normalize_strings)
        params += param
        n_args = len(golds[g][1])
        values += value / n_args if n_args else float(not preds[p][1])
    return {
        "tool_name_match": match.name_score,
        "param_name_match": params / denominator,
        "param_value_match": values / denominator,
    }
