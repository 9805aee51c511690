"""The token-level policy base: prompt rendering, drift guard and context policy around a backend.

A backend subclass implements `_generate(prompt_ids, max_tokens) -> Generation` (and optionally an
async `_agenerate`); everything else — chat template with tools, tool-call parsing, drift guard,
context-length policy, `PolicyOutput` with per-turn prompt/completion ids and logprobs — lives here,
so every backend records the same, exact token stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

from agentgym.baselines.agent import (
    ChatFormat,
    ContextPolicy,
    DriftGuard,
    PreparedTurn,
    TurnBuilder,
    assistant_message,
)
from agentgym.policy import PolicyOutput


@dataclass
class SamplingParams:
    """Per-turn sampling settings (the same meaning in every backend)."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = None
    stop: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """What a backend produced for one prompt."""

    token_ids: list[int]
    logprobs: list[float] | None
    finish_reason: str
    text: str | None = None
    prompt_ids: list[int] | None = None  # as the backend echoed them, if it does
    meta: dict[str, Any] = field(default_factory=dict)


def load_tokenizer(path: str) -> Any:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


class TokenPolicy:
    """Conversation + tools -> exact prompt ids -> backend -> assistant message + ids + logprobs."""

    name = "token-policy"

    def __init__(
        self,
        tokenizer: Any,
        *,
        sampling: SamplingParams | None = None,
        drift: str = "warn",
        chat_template: str | None = None,
        max_model_len: int = 2048,
        context_strategy: str = "truncate",
        min_completion_tokens: int = 32,
        system_prompt: str | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.sampling = sampling or SamplingParams()
        self.chat = ChatFormat(tokenizer, chat_template=chat_template, default_system_prompt=system_prompt)
        self.guard = DriftGuard(drift)  # type: ignore[arg-type]
        self.context = ContextPolicy(max_model_len=max_model_len, min_completion_tokens=min_completion_tokens,
                                     strategy=context_strategy)  # type: ignore[arg-type]
        self.turns = TurnBuilder(self.chat, self.guard, self.context, self.sampling.max_tokens)

    # -- backend hooks -----------------------------------------------------------------------------
    def _generate(self, prompt_ids: list[int], max_tokens: int) -> Generation:
        raise NotImplementedError  # abstract: each subclass implements it

    async def _agenerate(self, prompt_ids: list[int], max_tokens: int) -> Generation:
        return await asyncio.to_thread(self._generate, prompt_ids, max_tokens)

    def backend_info(self) -> dict[str, Any]:
        return {}

    # -- Policy protocol ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.backend_info(),
            "sampling": self.sampling.describe(),
            "chat": self.chat.describe(),
            "drift": self.guard.mode,
            "context": {"max_model_len": self.context.max_model_len, "strategy": self.context.strategy},
        }

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        prepared = self.turns.prepare(messages, tools)
        if prepared.stop:
            return self._stopped(prepared)
        generation = self._generate(prepared.prompt_ids, prepared.max_tokens)
        return self._finish(messages, prepared, generation)

    async def aact(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        prepared = self.turns.prepare(messages, tools)
        if prepared.stop:
            return self._stopped(prepared)
        generation = await self._agenerate(prepared.prompt_ids, prepared.max_tokens)
        return self._finish(messages, prepared, generation)

    def drift_stats(self) -> dict[str, int]:
        return self.guard.stats()

    # -- helpers -----------------------------------------------------------------------------------
    def _stopped(self, prepared: PreparedTurn) -> PolicyOutput:
        meta = {**prepared.meta, "stop": True}
        return PolicyOutput(message={"role": "assistant", "content": ""}, prompt_token_ids=prepared.prompt_ids or None,
                            completion_token_ids=[], logprobs=[], finish_reason="context_length", meta=meta)

    def _finish(self, messages: list[dict[str, Any]], prepared: PreparedTurn, generation: Generation) -> PolicyOutput:
        meta = dict(prepared.meta)
        if generation.prompt_ids is not None and list(generation.prompt_ids) != prepared.prompt_ids:
            meta["backend_prompt_mismatch"] = True  # the backend did not see the ids we sent
        meta.update(generation.meta)
        text = self.chat.decode(generation.token_ids, skip_special_tokens=True)
        message = assistant_message(text)
        self.turns.commit(prepared, messages, generation.token_ids, text)
        return PolicyOutput(
            message=message,
            prompt_token_ids=list(prepared.prompt_ids),
            completion_token_ids=list(generation.token_ids),
            logprobs=generation.logprobs,
            finish_reason=generation.finish_reason,
            meta=meta,
        )
