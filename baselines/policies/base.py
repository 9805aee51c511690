"""The token-level policy base: prompt rendering, drift guard and context policy around a backend.

A backend subclass implements `_generate(prompt_ids, max_tokens) -> Generation` (and optionally an
async `_agenerate`); everything else — chat template with tools, tool-call parsing, drift guard,
context-length policy, `PolicyOutput` with per-turn prompt/completion ids and logprobs — lives here,
so every backend records the same, exact token stream.

Reply formats: `tool_parser=` / `reasoning_parser=` (vLLM's server flag names, `agentgym.formats`)
read the completion the way a vLLM server started with those flags would: vLLM's own parser
classes with this policy's tokenizer when vLLM is installed, the built-in formats otherwise. The
completion is then decoded with its special tokens (markers such as `[TOOL_CALLS]` are special
tokens in their families; the trailing end-of-turn token is left out), the message carries
`reasoning_content`, and `meta["reasoning"]` gives the reasoning's token span in the completion ids.
Without them, `<tool_call>` blocks outside `<think>` are read and the content is the text as decoded.
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
from agentgym.formats import ReasoningSplit, ReplyFormat
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
        tool_parser: str | None = None,
        reasoning_parser: str | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        #: the named reply format, or None (the default reading: `<tool_call>` outside `<think>`)
        self.reply_format: ReplyFormat | None = (
            ReplyFormat.from_names(tool_parser, reasoning_parser, tokenizer=tokenizer)
            if tool_parser or reasoning_parser else None
        )
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
            "formats": (self.reply_format or ReplyFormat()).describe(),
            "context": {"max_model_len": self.context.max_model_len, "strategy": self.context.strategy},
        }

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        prepared = self.turns.prepare(messages, tools)
        if prepared.stop:
            return self._stopped(prepared)
        generation = self._generate(prepared.prompt_ids, prepared.max_tokens)
        return self._finish(messages, prepared, generation, tools)

    async def aact(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        prepared = self.turns.prepare(messages, tools)
        if prepared.stop:
            return self._stopped(prepared)
        generation = await self._agenerate(prepared.prompt_ids, prepared.max_tokens)
        return self._finish(messages, prepared, generation, tools)

    def _without_end_of_turn(self, ids: list[int]) -> list[int]:
        """The completion without its trailing special tokens (end of turn, padding): a server's
        reply text leaves the stop token out."""
        special = set(getattr(self.tokenizer, "all_special_ids", None) or [])
        end = len(ids)
        while end > 0 and ids[end - 1] in special:
            end -= 1
        return list(ids[:end])

    def _reasoning_meta(self, ids: list[int], split: ReasoningSplit) -> dict[str, Any]:
        """Token spans [start, end) of each reasoning region in the completion ids, from its
        character spans in the decoded text (the shortest prefix of ids that decodes past a
        position), and their total token count."""
        def tokens_covering(position: int, *, at_least: bool) -> int:
            lo, hi = 0, len(ids)
            while lo < hi:  # the smallest k with len(decode(ids[:k])) >= position (at_least), else > position
                mid = (lo + hi) // 2
                length = len(self.chat.decode(ids[:mid], skip_special_tokens=False))
                if length >= position if at_least else length > position:
                    hi = mid
                else:
                    lo = mid + 1
            return lo

        spans = []
        for start, end in split.spans:
            first = max(0, tokens_covering(start, at_least=False) - 1) if start > 0 else 0
            spans.append([first, tokens_covering(end, at_least=True)])
        return {"chars": len(split.reasoning), "token_spans": spans, "tokens": sum(e - s for s, e in spans)}

    def drift_stats(self) -> dict[str, int]:
        return self.guard.stats()

    # -- helpers -----------------------------------------------------------------------------------
    def _stopped(self, prepared: PreparedTurn) -> PolicyOutput:
        meta = {**prepared.meta, "stop": True}
        return PolicyOutput(message={"role": "assistant", "content": ""}, prompt_token_ids=prepared.prompt_ids or None,
                            completion_token_ids=[], logprobs=[], finish_reason="context_length", meta=meta)

    def _finish(self, messages: list[dict[str, Any]], prepared: PreparedTurn, generation: Generation,
                tools: list[dict[str, Any]] | None = None) -> PolicyOutput:
        meta = dict(prepared.meta)
        if generation.prompt_ids is not None and list(generation.prompt_ids) != prepared.prompt_ids:
            meta["backend_prompt_mismatch"] = True  # the backend did not see the ids we sent
        meta.update(generation.meta)
        if self.reply_format is None:
            text = self.chat.decode(generation.token_ids, skip_special_tokens=True)
            message = assistant_message(text)
        else:
            ids = self._without_end_of_turn(generation.token_ids)
            text = self.chat.decode(ids, skip_special_tokens=False)
            message = assistant_message(text, self.reply_format, tools)
            split = self.reply_format.split_reasoning(text)
            reasoning_tokens = 0
            if split.has_reasoning:
                meta["reasoning"] = self._reasoning_meta(ids, split)
                reasoning_tokens = meta["reasoning"]["tokens"]
            message["usage"] = {"completion_tokens": len(generation.token_ids),
                                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}
        # the next request carries this message's content: the drift guard keys the turn on it
        self.turns.commit(prepared, messages, generation.token_ids, message["content"])
        return PolicyOutput(
            message=message,
            prompt_token_ids=list(prepared.prompt_ids),
            completion_token_ids=list(generation.token_ids),
            logprobs=generation.logprobs,
            finish_reason=generation.finish_reason,
            meta=meta,
        )
