"""Text spaces that accept real model text.

Gymnasium's `spaces.Text` samples from, and checks against, an alphanumeric charset, so an
observation such as "ls -la\n" fails `check_env`. `AnyText` keeps `Text`'s length bounds and
sampling but accepts every `str`.
"""

from __future__ import annotations

from typing import Any

from gymnasium import spaces

MAX_TEXT_CHARS = 1_000_000


class AnyText(spaces.Text):
    """A `Text` space whose `contains` accepts any string within the length bounds."""

    def __init__(self, max_length: int = MAX_TEXT_CHARS, *, min_length: int = 0, seed: Any = None):
        super().__init__(max_length=max_length, min_length=min_length, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"
