"""Tool-call matching rewards (ToolRL-style) and the checklist progress (CM2-style).

ToolRL ("ToolRL: Reward is All Tool Learning Needs") scores a predicted call set against the gold
set with three parts: tool-name match, parameter-name match and parameter-value match. Here each
part is in [0, 1] (scale with the spec's coefficients):

- name: |names(P) ∩ names(G)| / |names(P) ∪ names(G)| (multiset Jaccard);
- param_name: mean over matched pairs of the Jaccard of their argument keys (0 without pairs);
- param_value: mean over matched pairs of the fraction of gold arguments whose value is equal
  (after light normalization: strings stripped and compared case-insensitively, ints == floats).

Pairs are matched greedily by name, then by the best argument score, so order does not matter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from agentgym.rewards.components import step_component

#: the three ToolRL step components, as the family's envs declare them
TOOLCALL_COMPONENTS = (
    step_component("tool_name_match", description="ToolRL: the call's name against the matched gold call(s)"),
    step_component("param_name_match", description="ToolRL: the call's argument names against the matched gold call(s)"),
    step_component("param_value_match", description="ToolRL: the call's argument values against the matched gold call(s)"),
)


def normalize_value(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return round(float(value), 6)
    if isinstance(value, list | tuple):
        return [normalize_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): normalize_value(v) for k, v in value.items()}
    return value


def values_equal(a: Any, b: Any) -> bool:
    return normalize_value(a) == normalize_value(b)


def _keys_jaccard(pred: Mapping[str, Any], gold: Mapping[str, Any]) -> float:
    p, g = set(pred), set(gold)
    if not p and not g:
        return 1.0
    return len(p & g) / len(p | g)


def _value_fraction(pred: Mapping[str, Any], gold: Mapping[str, Any]) -> float:
    if not gold:
        return 1.0 if not pred else 0.0
    return sum(1 for k, v in gold.items() if k in pred and values_equal(pred[k], v)) / len(gold)


def _as_pair(call: Any) -> tuple[str, Mapping[str, Any]]:
    if isinstance(call, Mapping):
        return str(call.get("name", "")), call.get("arguments") or {}
    return call.name, call.arguments


def calls_equal(pred: Any, gold: Any) -> bool:
    pn, pa = _as_pair(pred)
    gn, ga = _as_pair(gold)
    return pn == gn and set(pa) == set(ga) and all(values_equal(pa[k], ga[k]) for k in ga)


def match_calls(pred: Sequence[Any], gold: Sequence[Any]) -> list[tuple[int, int]]:
    """Greedy pairs (pred index, gold index): same name, best argument score first."""
    candidates = []
    for i, p in enumerate(pred):
        pn, pa = _as_pair(p)
        for j, g in enumerate(gold):
            gn, ga = _as_pair(g)
            if pn == gn:
                candidates.append((_value_fraction(pa, ga) + _keys_jaccard(pa, ga), i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_p: set[int] = set()
    used_g: set[int] = set()
    pairs = []
    for _score, i, j in candidates:
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def toolcall_scores(pred: Sequence[Any], gold: Sequence[Any]) -> dict[str, float]:
    """{"tool_name_match", "param_name_match", "param_value_match"}, each in [0, 1].

    Uses the reward layer's shared implementation (`agentgym.rewards.functions.toolcalls`,
    optimal pairing, strings compared case- and whitespace-insensitively) when it is installed;
    the local version below has the same definitions with greedy pairing."""
    if _shared_scores is not None:
        return _shared_scores(pred, gold, normalize_strings=True)
    return local_toolcall_scores(pred, gold)


def local_toolcall_scores(pred: Sequence[Any], gold: Sequence[Any]) -> dict[str, float]:
    """The local fallback of `toolcall_scores`."""
    if not pred and not gold:
        return {"tool_name_match": 1.0, "param_name_match": 1.0, "param_value_match": 1.0}
    pn = Counter(_as_pair(p)[0] for p in pred)
    gn = Counter(_as_pair(g)[0] for g in gold)
    union = sum((pn | gn).values())
    name = sum((pn & gn).values()) / union if union else 0.0
    pairs = match_calls(pred, gold)
    if not pairs:
        return {"tool_name_match": name, "param_name_match": 0.0, "param_value_match": 0.0}
    key_scores = [_keys_jaccard(_as_pair(pred[i])[1], _as_pair(gold[j])[1]) for i, j in pairs]
    value_scores = [_value_fraction(_as_pair(pred[i])[1], _as_pair(gold[j])[1]) for i, j in pairs]
    # unmatched predictions and gold calls count as zeros: extra or missing calls cost
    denominator = max(len(pred), len(gold))
    return {
        "tool_name_match": name,
        "param_name_match": sum(key_scores) / denominator,
        "param_value_match": sum(value_scores) / denominator,
    }


try:
    from agentgym.rewards.functions.toolcalls import toolcall_scores as _shared_scores
except ImportError:  # an older reward layer without it
    _shared_scores = None
