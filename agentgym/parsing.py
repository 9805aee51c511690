"""Turn an agent's action (raw model text or an OpenAI assistant message) into tool calls.

Reasoning first: a reply's reasoning (`<think>...</think>` by default, a model family's own format
with `agentgym.formats`) is separated before anything else and never read for calls.

Accepted everywhere:
- an OpenAI-style assistant message dict with `tool_calls` (arguments as a JSON string or dict);
- text with `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks (Qwen/Hermes
  chat-template convention); an unclosed final block (generation stopped early) is parsed too;
  other families' formats by name (`tool_parser=`, see `agentgym.formats`).
Families add their own grammar on top (`AgentEnv.parse_text_action`).

Parsing never raises, whatever the action (text, bytes, None, numbers, any dict, any size):
problems are collected in `ParsedAction.errors`. Everything an action carries into the env goes
through one sanitising path, so every family gets the same guarantees:

- text (the reply, tool names, every string in the arguments) has its unpaired UTF-16 surrogates
  replaced by U+FFFD (`clean_text`): an echo of it in an observation or a trajectory record can
  always be encoded as UTF-8;
- JSON is decoded by `decode_json`, bounded in size (`MAX_JSON_CHARS`) and nesting depth
  (`MAX_JSON_DEPTH`): a deeply nested or oversized body is a parse error, never a RecursionError;
- arguments hold only JSON values (`clean_json`): string keys, finite numbers of bounded size,
  strings, booleans, null, lists and objects; anything else is a parse error;
- at most `MAX_CALLS` calls per action, tool names of at most `MAX_NAME_CHARS` characters.

`json_safe` is the lenient counterpart for writing data that did not come through here (a
policy's raw message in a trajectory record): it converts instead of rejecting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from agentgym.tools import ToolCall, clean_text

#: largest JSON body (a `<tool_call>` block, an arguments string) decoded, in characters
MAX_JSON_CHARS = 1_000_000
#: deepest nesting of objects and arrays accepted in arguments (the arguments object is level 1)
MAX_JSON_DEPTH = 64
#: most tool calls accepted in one action
MAX_CALLS = 100
#: longest tool name accepted
MAX_NAME_CHARS = 256
#: largest integer accepted in arguments, in bits (about 1200 decimal digits)
MAX_INT_BITS = 4000

_TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)


class JSONInputError(ValueError):
    """JSON that cannot be accepted (invalid, too large, too deep, not plain JSON values); the
    message is written for the agent."""


@dataclass
class ParsedAction:
    """The result of parsing one action.

    `text` is the reply without its reasoning (what a family's grammar and `reply_to_text` read);
    `reasoning` is the reasoning separated from it (never parsed for calls), `reasoning_spans`
    its (start, end) character regions in the reply text as sent (markers included)."""

    text: str
    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    message: dict[str, Any] | None = None
    reasoning: str = ""
    reasoning_spans: list[tuple[int, int]] = field(default_factory=list)


# ====================================================================== sanitising
def _reject_constant(name: str) -> Any:
    raise JSONInputError(f"not valid JSON ({name} is not a JSON value)")


def decode_json(text: str, *, max_chars: int = MAX_JSON_CHARS, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON text into plain, clean JSON values (see `clean_json`). Raises `JSONInputError`
    with a message for the agent when the text is invalid, longer than `max_chars`, nested deeper
    than `max_depth`, or holds NaN, Infinity or an enormous number; never anything else."""
    return clean_json(_loads(text, max_chars, max_depth), max_depth=max_depth)


def _loads(text: str, max_chars: int = MAX_JSON_CHARS, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` with its failures (recursion, enormous numbers, NaN) as `JSONInputError`;
    the values are not cleaned yet."""
    if len(text) > max_chars:
        raise JSONInputError(f"too long ({len(text)} characters; the limit is {max_chars})")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except JSONInputError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONInputError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except RecursionError:
        raise JSONInputError(f"nested too deeply (the limit is {max_depth} levels)") from None
    except ValueError:  # an integer too long to convert
        raise JSONInputError("a number is too large") from None


def clean_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A copy of `value` made only of plain JSON values, with clean strings (`clean_text`).

    Raises `JSONInputError` for what JSON cannot hold: a non-string key, a non-finite or
    enormous number, nesting deeper than `max_depth`, any other type (bytes, sets, objects)."""
    return _clean_json(value, 0, max_depth)


def _clean_json(value: Any, depth: int, max_depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise JSONInputError("a number is too large")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JSONInputError("numbers must be finite (NaN and Infinity are not JSON)")
        return float(value)
    if isinstance(value, Mapping | list | tuple):
        if depth >= max_depth:
            raise JSONInputError(f"nested too deeply (the limit is {max_depth} levels)")
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise JSONInputError(f"object keys must be strings, got {type(key).__name__}")
                out[clean_text(key)] = _clean_json(item, depth + 1, max_depth)
            return out
        return [_clean_json(item, depth + 1, max_depth) for item in value]
    raise JSONInputError(f"{type(value).__name__} is not a JSON value")


def json_safe(value: Any, *, max_depth: int = 100) -> Any:
    """A JSON-writable copy of any value, converting what `clean_json` would reject: clean
    strings, bytes decoded as UTF-8, non-finite floats as null, keys as strings, pydantic models
    as their fields, anything else as its `str`; deeper than `max_depth`, or an integer too large
    to print, becomes a placeholder string. Never raises."""
    return _json_safe(value, 0, max_depth)


def _json_safe(value: Any, depth: int, max_depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        return int(value) if value.bit_length() <= MAX_INT_BITS else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray | memoryview):
        return clean_text(bytes(value).decode("utf-8", errors="replace"))
    if depth >= max_depth:
        return "<nested too deeply to record>"
    try:
        if isinstance(value, BaseModel):
            value = dict(value)  # its fields and extra fields
        if isinstance(value, Mapping):
            return {_json_key(k): _json_safe(v, depth + 1, max_depth) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [_json_safe(v, depth + 1, max_depth) for v in value]
        return clean_text(str(value))
    except Exception:  # noqa: BLE001 - a value that cannot even be printed
        return f"<unprintable {type(value).__name__}>"


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return clean_text(key)
    if key is None or isinstance(key, bool | float) or (isinstance(key, int) and key.bit_length() <= MAX_INT_BITS):
        return json.dumps(key)
    return f"<{type(key).__name__} key>"


# ====================================================================== parsing
def message_text(content: Any) -> str:
    """The text of a message's `content` (a string, None, bytes, or a list of content parts);
    raises `JSONInputError` for anything else."""
    if content is None:
        return ""
    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, bytes | bytearray):
        return clean_text(bytes(content).decode("utf-8", errors="replace"))
    if isinstance(content, list | tuple):
        return "".join(
            clean_text(part["text"]) for part in content if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    raise JSONInputError(f"the message's 'content' must be text or a list of content parts, got {type(content).__name__}")


def action_text(action: Any) -> str:
    """The text of an action for a record or a log: a message's content text, or the text itself;
    "" for content that is not text. Never raises (unlike `str()` of a deeply nested content)."""
    try:
        if isinstance(action, Mapping):
            return message_text(action.get("content"))
        return message_text(action)
    except Exception:  # noqa: BLE001 - odd content has no text
        return ""


def _load_arguments(raw: Any, where: str, errors: list[str]) -> dict[str, Any] | None:
    """The arguments of a call (a JSON string or an object), cleaned; None (with an error) when
    they are not a JSON object of plain values."""
    if raw is None or (isinstance(raw, str) and not raw):
        return {}
    try:
        value = _loads(raw) if isinstance(raw, str) else raw
        if not isinstance(value, Mapping):
            errors.append(f"{where}: arguments must be a JSON object, got {_json_type(value)}")
            return None
        return clean_json(value)
    except JSONInputError as exc:
        errors.append(f"{where}: invalid arguments: {exc}")
        return None


def _json_type(value: Any) -> str:
    names = {list: "array", tuple: "array", str: "string", bool: "boolean", int: "number", float: "number",
             type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _call_from_object(obj: Any, where: str, errors: list[str], call_id: str = "") -> ToolCall | None:
    if not isinstance(obj, Mapping):
        errors.append(f"{where}: expected a JSON object with 'name' and 'arguments'")
        return None
    if isinstance(obj.get("function"), Mapping):  # OpenAI {"id", "type", "function": {...}}
        raw_id = obj.get("id")
        if isinstance(raw_id, str) and raw_id:
            call_id = clean_text(raw_id[:MAX_NAME_CHARS])
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        errors.append(f"{where}: missing tool 'name'")
        return None
    if len(name) > MAX_NAME_CHARS:
        errors.append(f"{where}: the tool name is too long ({len(name)} characters; the limit is {MAX_NAME_CHARS})")
        return None
    raw_args = obj["arguments"] if "arguments" in obj else obj.get("parameters")
    arguments = _load_arguments(raw_args, where, errors)
    if arguments is None:
        return None
    return ToolCall(id=call_id, name=clean_text(name), arguments=arguments)


def _too_many(count: int) -> str:
    return f"too many tool calls in one reply ({count}; the limit is {MAX_CALLS})"


def parse_tool_call_text(text: str) -> tuple[list[ToolCall], list[str]]:
    """Parse `<tool_call>` blocks out of model text. Never raises."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    text = clean_text(text)
    for index, match in enumerate(_TOOL_CALL_BLOCK.finditer(text)):
        if index >= MAX_CALLS:
            return [], [_too_many(len(_TOOL_CALL_BLOCK.findall(text)))]
        where = f"tool call {index + 1}"
        try:
            obj = _loads(match.group(1).strip())
        except JSONInputError as exc:
            errors.append(f"{where}: {exc}")
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


def parse_action(action: Any, *, reply_format: Any = None, tools: Any = None) -> ParsedAction:
    """Parse an action into tool calls. Never raises: whatever is wrong with the action is in
    `errors`, and every string in the result is clean (`clean_text`).

    Reasoning is separated first (`reply_format`, an `agentgym.formats.ReplyFormat`; default: the
    built-in `<think>` separator and `<tool_call>` format): calls are read only from the rest. A
    message's own `reasoning_content` (or `reasoning`) is reasoning too. `tools` (OpenAI schemas)
    are given to formats that read them."""
    try:
        return _parse_action(action, reply_format, tools)
    except Exception as exc:  # noqa: BLE001 - the last resort behind the checks above
        return ParsedAction("", [], [f"the action could not be read ({type(exc).__name__})"])


def _message_reasoning(message: Mapping[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return clean_text(value)
    return ""


def _parse_action(action: Any, reply_format: Any = None, tools: Any = None) -> ParsedAction:
    from agentgym.formats import DEFAULT_FORMAT  # the formats build on this module

    fmt = reply_format if reply_format is not None else DEFAULT_FORMAT
    if isinstance(action, ToolCall) or (
        isinstance(action, list) and action and all(isinstance(c, ToolCall) for c in action)
    ):
        action = action_message(action)
    if isinstance(action, Mapping):
        message = dict(action)
        try:
            text = message_text(action.get("content"))
        except JSONInputError as exc:
            return ParsedAction("", [], [str(exc)], message)
        split = fmt.split_reasoning(text)
        given = _message_reasoning(action)
        reasoning = "\n".join(r for r in (given, split.reasoning) if r)
        text, spans = split.content, split.spans
        raw_calls = action.get("tool_calls")
        if raw_calls is None or (isinstance(raw_calls, list | tuple) and not raw_calls):
            found = fmt.tool_parser.parse(text, tools)
            return ParsedAction(text, found.calls, found.errors, message, reasoning, spans)
        if not isinstance(raw_calls, list | tuple):
            return ParsedAction(text, [], [f"'tool_calls' must be a list, got {type(raw_calls).__name__}"], message,
                                reasoning, spans)
        if len(raw_calls) > MAX_CALLS:
            return ParsedAction(text, [], [_too_many(len(raw_calls))], message, reasoning, spans)
        calls = []
        errors = []
        for index, raw in enumerate(raw_calls):
            call = _call_from_object(raw, f"tool call {index + 1}", errors)
            if call is not None:
                calls.append(call)
        return ParsedAction(text, calls, errors, message, reasoning, spans)
    if isinstance(action, bytes | bytearray | memoryview):
        action = bytes(action).decode("utf-8", errors="replace")
    if not isinstance(action, str):
        return ParsedAction("", [], [f"an action must be text or a message dict, got {type(action).__name__}"])
    split = fmt.split_reasoning(clean_text(action))
    found = fmt.tool_parser.parse(split.content, tools)
    return ParsedAction(split.content, found.calls, found.errors, None, split.reasoning, split.spans)
