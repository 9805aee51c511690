"""Constrained decoding to a fixed action vocabulary (a token trie), shared by sampler and trainer.

A small LLM asked to "reply with one word: work, noop or submit" mostly answers with prose. For
RL on such a model, decoding can be restricted to the token sequences of the allowed actions
(each followed by an end token): the policy is then the LLM's own next-token distribution
renormalised over the tokens that keep the output inside the action set. The trainer recomputes
log-probabilities under exactly the same restriction, so the PPO ratio compares like with like,
and a position with a single allowed token (the rest of a multi-token word, the end token) has
log-probability 0 and carries no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ActionTrie:
    """Allowed continuations of a completion, as token-id sets, from a list of action strings."""

    def __init__(self, sequences: Sequence[Sequence[int]], end_token_id: int) -> None:
        if not sequences:
            raise ValueError("ActionTrie needs at least one action")
        self.end_token_id = int(end_token_id)
        self._root: dict[int, Any] = {}
        for seq in sequences:
            if not seq:
                raise ValueError("an action must have at least one token")
            node = self._root
            for token in seq:
                node = node.setdefault(int(token), {})
            node[self.end_token_id] = {}
        self.sequences = [list(map(int, s)) for s in sequences]

    @classmethod
    def from_words(cls, tokenizer: Any, words: Sequence[str], end_token_id: int | None = None) -> ActionTrie:
        end = tokenizer.eos_token_id if end_token_id is None else end_token_id
        if end is None:
            raise ValueError("the tokenizer has no eos token; pass end_token_id")
        seqs = [tokenizer.encode(w, add_special_tokens=False) for w in words]
        return cls(seqs, int(end))

    def allowed(self, prefix: Sequence[int]) -> list[int] | None:
        """Token ids allowed after `prefix` (the completion so far); None when the prefix left the trie."""
        node = self._root
        for token in prefix:
            child = node.get(int(token))
            if child is None:
                return None
            node = child
        return sorted(node) if node else []

    def describe(self) -> dict[str, Any]:
        return {"sequences": self.sequences, "end_token_id": self.end_token_id}
