"""Model text -> OpenAI assistant message, reasoning separated first, then `tool_calls` parsed.

Without a named format (`reply_format=None`) the content keeps the model's text exactly (so the
next turn renders the same tokens) and `tool_calls` are read from `<tool_call>` blocks outside any
`<think>` block. With a format (`agentgym.formats.ReplyFormat`, from a policy's `tool_parser=` /
`reasoning_parser=` options) the message is what a vLLM server would answer: `reasoning_content`
holds the reasoning, `content` the rest without the call markup, `tool_calls` the calls.

`tool_calls` is added only when every call parsed cleanly; otherwise the env parses the text itself
and explains the error to the agent. A call inside reasoning never becomes a `tool_calls` entry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from agentgym.formats import DEFAULT_FORMAT, ReplyFormat


def _openai_calls(calls: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
        }
        for call in calls
    ]


def assistant_message(text: str, reply_format: ReplyFormat | None = None,
                      tools: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reply_format is None:
        if "<tool_call>" not in text:
            return message
        split, found = DEFAULT_FORMAT.parse(text, tools)
    else:
        split, found = reply_format.parse(text, tools)
        message["content"] = found.content if found.calls and not found.errors else split.content
        if split.reasoning:
            message["reasoning_content"] = split.reasoning
    if found.calls and not found.errors:
        message["tool_calls"] = _openai_calls(found.calls)
    return message
