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

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
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
    if isinstance(value, int) and not _FLOAT_MIN <= value <= _FLOAT_MAX:
        return value  # beyond float range (an agent's 10**400): compared exactly
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
    the local version below has the same definitions with greedy pairing. The predicted calls'
    values are the agent's: numbers no float holds (`10**400`) are compared as text, so no argument
    makes scoring raise."""
    pred = [{"name": name, "arguments": _float_safe(arguments)} for name, arguments in map(_as_pair, pred)]
    if _shared_scores is not None:
        return _shared_scores(pred, gold, normalize_strings=True)
    return local_toolcall_scores(pred, gold)


_FLOAT_MAX = 2**1023
_FLOAT_MIN = -(2**1023)


def _float_safe(value: Any) -> Any:
    """`value` with every int beyond float range written as its decimal text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _FLOAT_MIN <= value <= _FLOAT_MAX else str(value)
    if isinstance(value, Mapping):
        return {k: _float_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_float_safe(v) for v in value]
    return value


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


# ---------------------------------------------------------------------- required reply content
#: how many other values of a required value's kind (numbers, clock times, flight-style codes) the
#: agent's replies may mention before they count as guessing: "It is 0 1 2 3 4 5 6 7 8 9" names the
#: count it was asked for, and nine other counts
MAX_DISTRACTORS = 3

_TIME = re.compile(r"(?<![\w:.])(\d{1,2}):(\d{2})(?![\w:]|\.\d)")
_DATE = re.compile(r"(?<![\w-])\d{4}-\d{2}-\d{2}(?![\w-])")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# a number standing on its own: not part of a word or identifier (AG123, #W4690289, card_0001),
# not the digits of a decimal; "$1,189.50", "-7.00", "6" (lists such as "1,2,3" are three numbers)
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])(\d+(?:\.\d+)?)(?![A-Za-z_\d]|\.\d)")
_CODE = re.compile(r"(?<![A-Za-z\d_])([A-Za-z]{1,3}\d{2,5})(?![A-Za-z\d_])")
_REQUIRED_NUMBER = re.compile(r"^[-+]?\$?\d+(?:\.\d+)?$")
_REQUIRED_TIME = re.compile(r"^\d{1,2}:\d{2}$")
_REQUIRED_CODE = re.compile(r"^[A-Za-z]{1,3}\d{2,5}$")


def _kind(required: str) -> str:
    text = required.strip()
    if _REQUIRED_TIME.match(text):
        return "time"
    if _REQUIRED_NUMBER.match(text.replace(",", "")):
        return "number"
    if _REQUIRED_CODE.match(text):
        return "code"
    return "text"


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "").replace("$", "").lstrip("+-"))
    except InvalidOperation:
        return None


def _mentions(kind: str, said: str) -> set[Any]:
    """The distinct values of a kind that the replies mention, normalised."""
    if kind == "time":
        return {(int(h), int(m)) for h, m in _TIME.findall(said)}
    if kind == "code":
        return {c.upper() for c in _CODE.findall(said)}
    text = _DATE.sub(" ", _TIME.sub(" ", said))  # dates and clock times are not counts or amounts
    text = _THOUSANDS.sub("", text)
    return {n for n in (_number(m) for m in _NUMBER.findall(text)) if n is not None}


def _value(kind: str, required: str) -> Any:
    text = required.strip()
    if kind == "time":
        h, m = text.split(":")
        return (int(h), int(m))
    if kind == "code":
        return text.upper()
    return _number(text.replace(",", ""))


def reply_matches(required: Sequence[str], said: str) -> list[bool]:
    """For each required string, whether the agent's replies (`said`, all of them) state it.

    A plain string must appear as a whole word or phrase (case-insensitive): "6" is not said by
    "16" or "0123456789". Numbers, clock times and codes such as flight numbers are compared as
    values ("$1,189.50" states "1189.50", "7:05" states "07:05"), and a reply that names more than
    `MAX_DISTRACTORS` other values of the same kind states none of them: listing every candidate
    is not an answer."""
    out = []
    values: dict[str, set[Any]] = {}
    for text in required:
        kind = _kind(text)
        if kind == "text":
            pattern = r"(?<!\w)" + re.escape(text.strip()) + r"(?!\w)"
            out.append(bool(text.strip()) and re.search(pattern, said, re.IGNORECASE) is not None)
            continue
        if kind not in values:
            values[kind] = _mentions(kind, said)
        mentioned = values[kind]
        wanted = {_value(_kind(r), r) for r in required if _kind(r) == kind}
        found = _value(kind, text) in mentioned
        out.append(found and len(mentioned - wanted) <= MAX_DISTRACTORS)
    return out
