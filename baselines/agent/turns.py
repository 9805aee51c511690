"""One agent turn at the token level: render the prompt, guard drift, fit the context, record.

`TurnBuilder.prepare(messages, tools)` returns the exact prompt token ids to send, the completion
budget and the turn's `meta` (drift violations, context decisions); `TurnBuilder.commit(...)`
stores what the backend returned so the next turn of the same conversation can be checked.
Backends (vLLM server / engine, transformers) only turn prompt ids into completion ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentgym.baselines.agent.chat import ChatFormat
from agentgym.baselines.agent.context import ContextPolicy, omit_observations
from agentgym.baselines.agent.drift import DriftGuard, TokenDriftError, TurnState, layout_of


@dataclass
class PreparedTurn:
    messages: list[dict[str, Any]]
    prompt_ids: list[int]
    max_tokens: int
    turn: int
    omitted: int = 0
    stop: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


class TurnBuilder:
    def __init__(self, chat: ChatFormat, guard: DriftGuard, context: ContextPolicy, max_tokens: int) -> None:
        self.chat = chat
        self.guard = guard
        self.context = context
        self.max_tokens = max_tokens

    def _decode(self, ids: Sequence[int]) -> str:
        return self.chat.decode(ids, skip_special_tokens=False)

    def prepare(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None,
                *, max_tokens: int | None = None) -> PreparedTurn:
        messages = list(messages)
        max_tokens = max_tokens or self.max_tokens
        state = self.guard.lookup(messages)
        turn = state.turn + 1 if state is not None else 1
        omitted = state.omitted if state is not None else 0
        meta: dict[str, Any] = {"turn": turn}
        if state is None and any(m.get("role") == "assistant" for m in messages):
            meta["drift_check"] = "untracked"  # earlier turns did not come from this policy: nothing to check
        while True:
            view = omit_observations(messages, omitted, self.context.keep_last)
            if view is None:
                meta["context"] = {"omitted_observations": omitted, "stop": "nothing left to omit"}
                return PreparedTurn(messages, [], 0, turn, omitted, stop=True, meta=meta)
            rendered = self.chat.render_ids(view, tools)
            prompt_ids = rendered
            meta.pop("drift", None)
            if state is not None and omitted == state.omitted:
                violation = self.guard.check(state, rendered, decode=self._decode)
                if violation is not None:
                    if self.guard.mode == "error":
                        raise TokenDriftError(violation)
                    fallback = "retokenized"
                    if self.guard.mode == "warn":
                        suffix = self.chat.render_suffix_ids(view, tools, state.n_messages, state.completion_ids)
                        if suffix is not None:
                            prompt_ids = state.history_ids + suffix
                            fallback = "kept_ids"
                    violation["fallback"] = fallback
                    meta["drift"] = violation
            if self.context.fits(len(prompt_ids)):
                break
            if self.context.strategy == "stop":
                meta["context"] = {"prompt_tokens": len(prompt_ids), "stop": "context full"}
                return PreparedTurn(messages, prompt_ids, 0, turn, omitted, stop=True, meta=meta)
            omitted += 1
        context_meta: dict[str, Any] = {"prompt_tokens": len(prompt_ids), "omitted_observations": omitted}
        if state is not None and omitted != state.omitted:
            context_meta["reset"] = True  # a new token segment starts here (observations omitted)
        meta["context"] = context_meta
        meta["layout"] = layout_of(state, prompt_ids)  # one token stream, or a new sequence from here
        budget = self.context.budget(len(prompt_ids), max_tokens)
        return PreparedTurn(view, prompt_ids, budget, turn, omitted, meta=meta)

    def commit(self, prepared: PreparedTurn, original_messages: Sequence[dict[str, Any]], completion_ids: Sequence[int],
               assistant_text: str) -> None:
        state = TurnState(turn=prepared.turn, n_messages=len(original_messages), prompt_ids=list(prepared.prompt_ids),
                          completion_ids=list(completion_ids), omitted=prepared.omitted)
        self.guard.remember(original_messages, assistant_text, state)
