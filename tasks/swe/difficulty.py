"""A difficulty estimate per SWE task, from how its bug was made and how the tests see it.

Why: a training curriculum and the suite filter (`difficulty=easy|medium|hard`) need an ordering
of tasks before any policy has tried them. The estimate adds up what makes a bug harder to find
and fix: the kind of change (a flipped operator is local; a removed statement or branch leaves
nothing to spot; a two-site bug must be fixed in two places), few failing tests (less signal),
the bug sitting in a function the failing tests never name (reached only through other calls),
and more files or functions involved. Thresholds split the shipped suite roughly in thirds.
"""

from __future__ import annotations

from typing import Any

LEVELS = ("easy", "medium", "hard")
KIND_WEIGHT = {
    "swap_comparison": 1.0,
    "swap_operator": 1.0,
    "swap_boolean": 1.0,
    "off_by_one": 1.0,
    "wrong_return": 1.0,
    "remove_not": 1.0,
    "negate_condition": 1.0,
    "swap_arguments": 1.5,
    "drop_condition": 1.5,
    "drop_guard": 2.0,
    "remove_statement": 2.0,
    "drop_else": 2.0,
    "multi_site": 3.0,
}


def estimate_difficulty(
    *, kind: str, fail_to_pass: int, files: int = 1, functions: int = 1, indirect: bool = False
) -> dict[str, Any]:
    """{"level", "score", "kind", "fail_to_pass", "files", "functions", "indirect"}."""
    score = KIND_WEIGHT.get(kind, 1.5)
    score += 1.0 if fail_to_pass == 1 else 0.5 if fail_to_pass <= 3 else 0.0
    score += 1.0 if indirect else 0.0
    score += 0.5 * (files - 1) + 0.5 * max(0, functions - 1)
    level = "easy" if score < 2.25 else "medium" if score < 3.25 else "hard"
    return {
        "level": level,
        "score": round(score, 2),
        "kind": kind,
        "fail_to_pass": fail_to_pass,
        "files": files,
        "functions": functions,
        "indirect": indirect,
    }


def difficulty_of(record: Any) -> dict[str, Any]:
    """The record's stored estimate, or one computed from its mutation and FAIL_TO_PASS (older
    records, bring-your-own datasets)."""
    stored = getattr(record, "difficulty", None) or {}
    if stored.get("level"):
        return stored
    mutation = getattr(record, "mutation", None) or {}
    return estimate_difficulty(
        kind=mutation.get("kind") or mutation.get("operator") or "unknown",
        fail_to_pass=len(getattr(record, "FAIL_TO_PASS", []) or []),
    )
