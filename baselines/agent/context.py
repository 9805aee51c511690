"""Context-length policy: what to do when the conversation no longer fits the model's context.

`ContextPolicy(max_model_len, min_completion_tokens, strategy)`:

- `"truncate"` (default): replace the oldest observations (tool results and user turns after the
  task prompt) with a short placeholder, oldest first, until the prompt plus `min_completion_tokens`
  fits; the system prompt, the task prompt, the assistant turns and the latest `keep_last`
  observations are never touched. If it still does not fit, stop (below). Each turn records
  `meta["context"]` (`prompt_tokens`, `omitted_observations`, `reset` when this turn omitted more
  than the previous one, which starts a new token segment: the prompt then does not extend the
  previous turn's ids, by design, and the drift guard does not count it as drift).
- `"stop"`: do not generate; the policy returns an empty assistant message with
  `finish_reason="context_length"` and `meta["stop"] = True` so the agent loop can end the
  episode (truncated).

The completion budget of every turn is `min(max_tokens, max_model_len - prompt_tokens)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

OMITTED = "[earlier observation omitted to fit the context window]"


@dataclass
class ContextPolicy:
    max_model_len: int = 2048
    min_completion_tokens: int = 32
    strategy: Literal["truncate", "stop"] = "truncate"
    keep_last: int = 1

    def __post_init__(self) -> None:
        if self.strategy not in ("truncate", "stop"):
            raise ValueError(f"context strategy must be 'truncate' or 'stop', got {self.strategy!r}")

    def fits(self, prompt_tokens: int) -> bool:
        return prompt_tokens + self.min_completion_tokens <= self.max_model_len

    def budget(self, prompt_tokens: int, max_tokens: int) -> int:
        return max(0, min(max_tokens, self.max_model_len - prompt_tokens))


def observation_indices(messages: Sequence[dict[str, Any]]) -> list[int]:
    """Indices of messages the truncate strategy may shorten: tool results, later user turns."""
    first_user = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
    return [
        i for i, m in enumerate(messages)
        if m.get("role") == "tool" or (m.get("role") == "user" and i != first_user)
    ]


def omit_observations(messages: Sequence[dict[str, Any]], count: int, keep_last: int = 1) -> list[dict[str, Any]] | None:
    """A copy of `messages` with the `count` oldest observations replaced; None if there are not enough."""
    if count <= 0:
        return list(messages)
    candidates = observation_indices(messages)
    if keep_last > 0:
        candidates = candidates[:-keep_last] if len(candidates) > keep_last else []
    if count > len(candidates):
        return None
    out = [dict(m) for m in messages]
    for i in candidates[:count]:
        out[i]["content"] = OMITTED
    return out
