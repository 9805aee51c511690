"""vLLM's own tool-call and reasoning parsers, by name, on complete reply text.

vLLM ships a parser for dozens of model families (`ToolParserManager`, `ReasoningParserManager`, the
classes behind `vllm serve --tool-call-parser NAME --reasoning-parser NAME`). Reading replies with
the same classes the serving stack uses means a trained model's format is read here exactly as in
deployment. The classes need the model's tokenizer (most look their marker tokens up in its
vocabulary and refuse to start without them); the non-streaming entry points
(`extract_tool_calls`, `extract_reasoning`) are used on the whole reply.

vLLM is imported only when one of these is built (it takes seconds); without vLLM installed,
`agentgym.formats.resolve` falls back to the built-in formats of the same name.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from agentgym.formats.reasoning import ReasoningSplit
from agentgym.formats.toolcalls import ToolParse
from agentgym.parsing import MAX_CALLS, _call_from_object
from agentgym.tools import ToolCall, clean_text


class ParserUnavailableError(ValueError):
    """A parser name that cannot be built here (unknown name, no vLLM, a tokenizer without its markers)."""


def vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def vllm_tool_parser_names() -> list[str]:
    from vllm.tool_parsers import ToolParserManager

    return sorted(ToolParserManager.list_registered())


def vllm_reasoning_parser_names() -> list[str]:
    from vllm.reasoning import ReasoningParserManager

    return sorted(ReasoningParserManager.list_registered())


def _request(tools: Sequence[dict[str, Any]] | None) -> Any:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    return ChatCompletionRequest(
        messages=[{"role": "user", "content": ""}], model="agentgym", tools=list(tools) if tools else None,
        tool_choice="auto" if tools else "none",
    )


def _explain(kind: str, name: str, exc: Exception) -> ParserUnavailableError:
    return ParserUnavailableError(
        f"vLLM's {kind} parser {name!r} cannot be used with this tokenizer ({exc}); give the model's own "
        f"tokenizer, or use the built-in format builtin:{name} where one exists"
    )


class VLLMToolParser:
    """One of vLLM's tool-call parsers, read through its non-streaming `extract_tool_calls`."""

    implementation = "vllm"

    def __init__(self, name: str, tokenizer: Any) -> None:
        from vllm.tool_parsers import ToolParserManager

        try:
            self._cls = ToolParserManager.get_tool_parser(name)
        except KeyError:
            raise ParserUnavailableError(
                f"unknown tool_parser {name!r}; vLLM's: {', '.join(vllm_tool_parser_names())}"
            ) from None
        self.name = name
        self.tokenizer = tokenizer
        self._lock = threading.Lock()
        try:
            self._cls(tokenizer)  # fail now, naming the problem, rather than on the first reply
        except Exception as exc:  # noqa: BLE001 - vLLM raises RuntimeError/KeyError/... for a missing marker
            raise _explain("tool-call", name, exc) from None

    def describe(self) -> str:
        return f"{self.implementation}:{self.name}"

    def parse(self, text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
        text = clean_text(text)
        try:
            request = _request(tools)
            with self._lock:  # a fresh instance per reply: vLLM's parsers keep streaming state
                parser = self._cls(self.tokenizer, request.tools) if tools else self._cls(self.tokenizer)
                info = parser.extract_tool_calls(text, request)
        except Exception as exc:  # noqa: BLE001 - parsing never raises; the agent hears what failed
            return ToolParse([], [f"the tool calls could not be read ({type(exc).__name__})"], "")
        if not info.tools_called:
            return ToolParse([], [], text if info.content is None else clean_text(info.content))
        if len(info.tool_calls) > MAX_CALLS:
            return ToolParse([], [f"too many tool calls in one reply ({len(info.tool_calls)}; the limit is {MAX_CALLS})"])
        calls: list[ToolCall] = []
        errors: list[str] = []
        for index, raw in enumerate(info.tool_calls):
            function = raw.function
            call = _call_from_object({"name": function.name, "arguments": function.arguments},
                                     f"tool call {index + 1}", errors)
            if call is not None:
                calls.append(call)
        return ToolParse(calls, errors, clean_text(info.content or "").strip())


class VLLMReasoningParser:
    """One of vLLM's reasoning parsers, read through its non-streaming `extract_reasoning`."""

    implementation = "vllm"

    def __init__(self, name: str, tokenizer: Any) -> None:
        from vllm.reasoning import ReasoningParserManager

        try:
            cls = ReasoningParserManager.get_reasoning_parser(name)
        except KeyError:
            raise ParserUnavailableError(
                f"unknown reasoning_parser {name!r}; vLLM's: {', '.join(vllm_reasoning_parser_names())}"
            ) from None
        self.name = name
        self._lock = threading.Lock()
        try:
            self._parser = cls(tokenizer)
        except Exception as exc:  # noqa: BLE001
            raise _explain("reasoning", name, exc) from None
        self.start = getattr(self._parser, "reasoning_start_str", None)
        self.end = getattr(self._parser, "reasoning_end_str", None)

    def describe(self) -> str:
        return f"{self.implementation}:{self.name}"

    def separate(self, text: str) -> ReasoningSplit:
        text = clean_text(text)
        try:
            with self._lock:
                reasoning, content = self._parser.extract_reasoning(text, _request(None))
        except Exception:  # noqa: BLE001 - unreadable: treat the whole reply as reasoning, never as action
            return ReasoningSplit(text, "", [(0, len(text))])
        reasoning = clean_text(reasoning or "")
        content = clean_text(content or "")
        if not reasoning:
            return ReasoningSplit("", content if content else text, [])
        return ReasoningSplit(reasoning.strip(), content.strip(), [self._span(text, reasoning, content)])

    def _span(self, text: str, reasoning: str, content: str) -> tuple[int, int]:
        """The region of `text` holding the reasoning, markers included."""
        found = text.find(reasoning)
        start = 0 if found == -1 else found
        if self.start and text.rfind(self.start, 0, start + 1) != -1:
            start = text.rfind(self.start, 0, start + 1)
        end = len(text) if found == -1 else found + len(reasoning)
        if self.end:
            close = text.find(self.end, end)
            if close != -1:
                end = close + len(self.end)
        if not content:
            end = len(text)
        return (start, end)
