"""Episode records -> token sequences with a loss mask (policy tokens vs env/tool tokens).

Each turn of an `EpisodeRecord` holds the prompt ids the policy saw and the completion ids it
produced (`StepRecord.tokens`). When every turn's prompt extends the previous turn's prompt +
completion — what a token-faithful policy guarantees — the episode is one sequence: the last
prompt + completion, where exactly the completion spans are policy tokens and everything else
(system prompt, task, tool results, chat-template glue) is masked out of the loss. When a prompt
does not extend the previous context (a chat template that rewrote history, a truncating context
policy), a new segment starts, so no token is ever trained under a context the model did not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentgym.baselines.train.constrained import ActionTrie
from agentgym.trajectory import EpisodeRecord


@dataclass
class Segment:
    """One forward pass worth of tokens.

    `loss_mask[i]` is True when token i is a sampled policy token (it gets a loss term predicting it
    from position i-1); forced tokens (one allowed choice under constrained decoding) and all env
    tokens are False. `turn[i]` is the 0-based turn of a policy token (-1 elsewhere).
    """

    input_ids: list[int] = field(default_factory=list)
    loss_mask: list[bool] = field(default_factory=list)
    policy_mask: list[bool] = field(default_factory=list)
    old_logprobs: list[float | None] = field(default_factory=list)
    turn: list[int] = field(default_factory=list)
    allowed: list[list[int] | None] = field(default_factory=list)

    def extend_env(self, ids: list[int]) -> None:
        n = len(ids)
        self.input_ids.extend(ids)
        self.loss_mask.extend([False] * n)
        self.policy_mask.extend([False] * n)
        self.old_logprobs.extend([None] * n)
        self.turn.extend([-1] * n)
        self.allowed.extend([None] * n)

    @property
    def n_loss_tokens(self) -> int:
        return sum(self.loss_mask)


@dataclass
class EpisodeSequences:
    segments: list[Segment]
    n_turns: int
    rebuilt: int  # how many turns started a new segment after the first (context not extended)


def episode_segments(record: EpisodeRecord, trie: ActionTrie | None = None) -> EpisodeSequences:
    """Assemble an episode's segments from its per-turn token records."""
    segments: list[Segment] = []
    current: Segment | None = None
    rebuilt = 0
    for turn, step in enumerate(record.steps):
        tokens = step.tokens
        if tokens is None or tokens.completion_token_ids is None or tokens.prompt_token_ids is None:
            raise ValueError(
                f"episode {record.episode_id} turn {turn + 1} has no token ids: train with a policy that "
                "records prompt and completion token ids"
            )
        prompt = list(tokens.prompt_token_ids)
        completion = list(tokens.completion_token_ids)
        logprobs = list(tokens.logprobs) if tokens.logprobs is not None else [None] * len(completion)
        if len(logprobs) != len(completion):
            raise ValueError(f"episode {record.episode_id} turn {turn + 1}: {len(logprobs)} logprobs for {len(completion)} tokens")
        if current is not None and prompt[: len(current.input_ids)] == current.input_ids:
            current.extend_env(prompt[len(current.input_ids):])
        else:
            if current is not None:
                segments.append(current)
                rebuilt += 1
            current = Segment()
            current.extend_env(prompt)
        for index, (token, logprob) in enumerate(zip(completion, logprobs, strict=True)):
            allowed = trie.allowed(completion[:index]) if trie is not None else None
            forced = allowed is not None and len(allowed) <= 1
            current.input_ids.append(int(token))
            current.policy_mask.append(True)
            # position 0 has no prediction; a forced token has probability 1 and no gradient
            current.loss_mask.append(not forced and len(current.input_ids) > 1)
            current.old_logprobs.append(None if logprob is None else float(logprob))
            current.turn.append(turn)
            current.allowed.append(allowed)
    if current is not None:
        segments.append(current)
    return EpisodeSequences(segments=segments, n_turns=len(record.steps), rebuilt=rebuilt)
