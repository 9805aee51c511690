"""Model text -> OpenAI assistant message (with `tool_calls` parsed from `<tool_call>` blocks).

The content keeps the model's text exactly (so the next turn renders the same tokens); `tool_calls`
is added only when every `<tool_call>` block parsed cleanly. Otherwise the env parses the text
itself and explains the error to the agent.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from agentgym.parsing import parse_tool_call_text


def assistant_message(text: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if "<tool_call>" not in text:
        return message
    calls, errors = parse_tool_call_text(text)
    if calls and not errors:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
            }
            for call in calls
        ]
    return message
