"""Parsing judge verdicts out of model text. Every parser returns None when the text holds no
verdict it can trust; the judge turns None into an invalid judgment (never a silent 0).

The *last* explicit verdict line wins (models restate the instruction before answering), and a
bare leading word is accepted only when no explicit marker exists.
"""

from __future__ import annotations

import re

_YES = {"yes", "y", "true", "correct", "pass"}
_NO = {"no", "n", "false", "incorrect", "fail"}

_VERDICT_RE = re.compile(r"verdict\s*[:=][\s*]*([A-Za-z]+)", re.IGNORECASE)
_SCORE_RE = re.compile(r"score\s*[:=][\s*]*(-?\d+(?:\.\d+)?)(?:\s*/\s*(\d+))?", re.IGNORECASE)
_WINNER_RE = re.compile(r"winner\s*[:=][\s*]*(?:response\s+)?([AB])\b", re.IGNORECASE)
_RANKING_RE = re.compile(r"ranking\s*[:=]\s*([0-9 ,>\[\]]+)", re.IGNORECASE)
_CHECK_RE = re.compile(
    r"^\s*(?:item\s*)?(\d+)\s*[:.)-]\s*\**\s*(yes|no)\b\**(?:[^\n]*?evidence\s*[:=]\s*(\"[^\"\n]*\"|'[^'\n]*'|[^\n]*))?",
    re.IGNORECASE | re.MULTILINE,
)
_FIRST_WORD_RE = re.compile(r"^\W*([A-Za-z]+)")


def parse_yes_no(text: str) -> bool | None:
    """`Verdict: YES` / `Verdict: NO` (last one wins); else a leading bare yes/no word."""
    matches = _VERDICT_RE.findall(text or "")
    for word in reversed(matches):
        word = word.lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    if matches:
        return None
    first = _FIRST_WORD_RE.match(text or "")
    if first:
        word = first.group(1).lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    return None


def parse_score(text: str, low: float = 1.0, high: float = 10.0) -> float | None:
    """`Score: N` (or `Score: N/M`) -> N normalized to [0, 1] over [low, high]; None if absent or out of range."""
    matches = _SCORE_RE.findall(text or "")
    if not matches:
        return None
    raw, denominator = matches[-1]
    value = float(raw)
    if denominator:
        top = float(denominator)
        if top <= 0 or not 0 <= value <= top:
            return None
        return value / top
    if not low <= value <= high:
        return None
    return (value - low) / (high - low)


def parse_winner(text: str) -> str | None:
    """`Winner: A` / `Winner: B` (last one wins) -> "A" | "B"."""
    matches = _WINNER_RE.findall(text or "")
    return matches[-1].upper() if matches else None


def parse_ranking(text: str, n: int) -> list[int] | None:
    """`Ranking: 2 > 1 > 3` -> [1, 0, 2] (0-based indices, best first); None unless a permutation of n."""
    matches = _RANKING_RE.findall(text or "")
    if not matches:
        return None
    numbers = [int(x) for x in re.findall(r"\d+", matches[-1])]
    order = [x - 1 for x in numbers]
    if sorted(order) != list(range(n)):
        return None
    return order


def parse_checklist(text: str, n_items: int) -> list[tuple[bool, str]] | None:
    """Lines `N: YES | evidence: "quote"` / `N: NO` -> [(satisfied, evidence)] per item (1-based N).

    Missing items count as not satisfied; None when no item line is found at all.
    """
    found: dict[int, tuple[bool, str]] = {}
    for number, verdict, evidence in _CHECK_RE.findall(text or ""):
        index = int(number) - 1
        if 0 <= index < n_items:
            quote = (evidence or "").strip().strip("\"'").strip()
            found[index] = (verdict.lower() == "yes", quote)
    if not found:
        return None
    return [found.get(i, (False, "")) for i in range(n_items)]
