"""Episode filters for replay and reports: `failed`, `invalid`, `task=ID`, `outcome=LABEL`, ...

Syntax (several filters combine with AND; a leading `!` negates one):
  failed          valid episodes that did not succeed (the env's declared outcome, `success_of`)
  passed          valid episodes that succeeded
  invalid         `reward_invalid` episodes (infrastructure failures, masked in training)
  valid           not `reward_invalid`
  truncated       ended at the turn cap (or by an infrastructure error)
  stalled         ran to the turn cap without ending the episode itself (never submitted/answered)
  task=ID         task id equals ID (shell-style wildcards allowed: `task=toy-1*`)
  outcome=LABEL   trajectory component `outcome` equals LABEL (wildcards allowed)
  env=ID          env id equals ID (wildcards allowed)
  group=ID        group id equals ID
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from agentgym.outcome import success_of
from agentgym.trajectory import EpisodeRecord

FILTER_HELP = "failed | passed | invalid | valid | truncated | stalled | task=ID | outcome=LABEL | env=ID | group=ID (prefix ! to negate)"

T = TypeVar("T")


def outcome_label(record: EpisodeRecord) -> str | None:
    """The episode's outcome label: trajectory component `outcome` (or the only string component)."""
    components = record.trajectory_components
    value = components.get("outcome")
    if isinstance(value, str):
        return value
    labels = [v for v in components.values() if isinstance(v, str)]
    return labels[0] if len(labels) == 1 else None


def succeeded(record: EpisodeRecord) -> bool | None:
    """Whether a valid episode succeeded, as its env declared (None when invalid or unknown)."""
    return success_of(record)


def stalled(record: EpisodeRecord) -> bool:
    """Ran to the turn cap without ending the episode itself (the agent never submitted or
    answered): the pattern a policy farming ungated step rewards falls into."""
    return (not record.reward_invalid and record.truncated and not record.terminated
            and record.end_reason in (None, "turn_limit"))


@dataclass(frozen=True)
class EpisodeFilter:
    text: str
    predicate: Callable[[EpisodeRecord], bool]

    def __call__(self, record: EpisodeRecord) -> bool:
        return self.predicate(record)


def _matcher(pattern: str) -> Callable[[str | None], bool]:
    if any(ch in pattern for ch in "*?["):
        return lambda value: value is not None and fnmatch.fnmatchcase(value, pattern)
    return lambda value: value == pattern


def parse_filter(text: str) -> EpisodeFilter:
    """Parse one filter expression (see the module docstring); ValueError with the syntax if bad."""
    raw = text.strip()
    negate = raw.startswith("!")
    body = raw[1:].strip() if negate else raw
    key, sep, value = body.partition("=")
    key = key.strip().lower()
    value = value.strip()
    predicate: Callable[[EpisodeRecord], bool]
    if not sep:
        simple: dict[str, Callable[[EpisodeRecord], bool]] = {
            "failed": lambda r: succeeded(r) is False,
            "passed": lambda r: succeeded(r) is True,
            "invalid": lambda r: r.reward_invalid,
            "valid": lambda r: not r.reward_invalid,
            "truncated": lambda r: r.truncated,
            "stalled": stalled,
        }
        if key not in simple:
            raise ValueError(f"unknown filter {text!r}; expected {FILTER_HELP}")
        predicate = simple[key]
    else:
        if not value:
            raise ValueError(f"filter {text!r} needs a value after '='")
        match = _matcher(value)
        fields: dict[str, Callable[[EpisodeRecord], bool]] = {
            "task": lambda r: match(r.task_id),
            "outcome": lambda r: match(outcome_label(r)),
            "env": lambda r: match(r.env_id),
            "group": lambda r: match(r.group_id),
        }
        if key not in fields:
            raise ValueError(f"unknown filter field {key!r} in {text!r}; expected {FILTER_HELP}")
        predicate = fields[key]
    if negate:
        inner = predicate
        return EpisodeFilter(raw, lambda r: not inner(r))
    return EpisodeFilter(raw, predicate)


def parse_filters(texts: Iterable[str] | None) -> list[EpisodeFilter]:
    """Parse filters; each item may hold several, comma-separated (`failed,task=toy-3`)."""
    filters = []
    for text in texts or []:
        for part in text.split(","):
            if part.strip():
                filters.append(parse_filter(part))
    return filters


def apply_filters(
    items: Sequence[T], filters: Sequence[EpisodeFilter], key: Callable[[T], EpisodeRecord] | None = None
) -> list[T]:
    """The items whose record passes every filter (`key` maps an item to its record)."""
    get = key or (lambda item: item)  # type: ignore[assignment,return-value]
    return [item for item in items if all(f(get(item)) for f in filters)]
