"""Turn an agent's action (raw model text or an OpenAI assistant message) into tool calls.

Accepted everywhere:
- an OpenAI-style assistant message dict with `tool_calls` (arguments as a JSON string or dict);
- text with `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks (Qwen/Hermes
  chat-template convention); an unclosed final block (generation stopped early) is parsed too.
Families add their own grammar on top (see `AgentEnv._parse_text_action`).
Parsing never raises: problems are collected in `ParsedAction.errors`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentgym.tools import ToolCall

_TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)


@dataclass
class ParsedAction:
    """The result of parsing one action."""

    text: str
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    message: dict[str, Any] | None = None


def message_text(content: Any) -> str:
    """The text of a message's `content` (a string, None, or a list of content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return str(content)


def _load_arguments(raw: Any, where: str, errors: list[str]) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: arguments are not valid JSON ({exc.msg} at position {exc.pos})")
            return None
    if not isinstance(raw, Mapping):
        errors.append(f"{where}: arguments must be a JSON object, got {type(raw).__name__}")
        return None
    return dict(raw)


def _call_from_object(obj: Any, where: str, errors: list[str], call_id: str = "") -> ToolCall | None:
    if not isinstance(obj, Mapping):
        errors.append(f"{where}: expected a JSON object with 'name' and 'arguments'")
        return None
    if isinstance(obj.get("function"), Mapping):  # OpenAI {"id", "type", "function": {...}}
        call_id = str(obj.get("id") or call_id)
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        errors.append(f"{where}: missing tool 'name'")
        return None
    raw_args = obj.get("arguments", obj.get("parameters"))
    arguments = _load_arguments(raw_args, where, errors)
    if arguments is None:
        return None
    return ToolCall(id=call_id, name=name, arguments=arguments)


def parse_tool_call_text(text: str) -> tuple[list[ToolCall], list[str]]:
    """Parse `<tool_call>` blocks out of model text."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    for index, match in enumerate(_TOOL_CALL_BLOCK.finditer(text)):
        body = match.group(1).strip()
        where = f"tool call {index + 1}"
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not valid JSON ({exc.msg} at position {exc.pos})")
            continue
        call = _call_from_object(obj, where, errors)
        if call is not None:
            calls.append(call)
    return calls, errors


def action_message(action: Any) -> str | dict[str, Any]:
    """An oracle's action as a policy would send it: text stays text, a `ToolCall` or a list of
    them becomes an assistant message with `tool_calls`, a message dict is returned as is."""
    if isinstance(action, ToolCall):
        action = [action]
    if isinstance(action, list) and all(isinstance(c, ToolCall) for c in action):
        calls = [c if c.id else c.model_copy(update={"id": f"call_{i}"}) for i, c in enumerate(action)]
        return {"role": "assistant", "content": "", "tool_calls": [c.to_openai() for c in calls]}
    return action


def parse_action(action: Any) -> ParsedAction:
    """Parse an action into tool calls. Never raises."""
    if isinstance(action, ToolCall) or (
        isinstance(action, list) and action and all(isinstance(c, ToolCall) for c in action)
    ):
        action = action_message(action)
    if isinstance(action, Mapping):
        text = message_text(action.get("content"))
        raw_calls = action.get("tool_calls") or []
        if raw_calls:
            calls: list[ToolCall] = []
            errors: list[str] = []
            if not isinstance(raw_calls, list):
                return ParsedAction(text, [], ["'tool_calls' must be a list"], dict(action))
            for index, raw in enumerate(raw_calls):
                call = _call_from_object(raw, f"tool call {index + 1}", errors)
                if call is not None:
                    calls.append(call)
            return ParsedAction(text, calls, errors, dict(action))
        calls, errors = parse_tool_call_text(text)
        return ParsedAction(text, calls, errors, dict(action))
    if isinstance(action, bytes):
        action = action.decode("utf-8", errors="replace")
    if not isinstance(action, str):
        return ParsedAction(str(action), [], [f"an action must be text or a message dict, got {type(action).__name__}"])
    calls, errors = parse_tool_call_text(action)
    return ParsedAction(action, calls, errors)
