"""Built-in tool-call formats: read the tool calls a model wrote in its reply text.

Each format is written from its family's published prompt-format documentation and keeps the name
vLLM's `--tool-call-parser` gives it, so `tool_parser="mistral"` means the same format with or
without vLLM installed (`agentgym.formats.vllm_parsers` uses vLLM's own classes when it can):

- `hermes` (Hermes 2 Pro, Qwen2.5/QwQ/Qwen3 JSON): `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
  blocks; an unclosed last block (generation stopped) is read too. The env's default.
- `llama3_json` (Llama 3.1/3.2/3.3 JSON tool calling): the reply is a JSON object
  `{"name": ..., "parameters": {...}}` (or `"arguments"`), optionally after `<|python_tag|>`,
  several separated by `;`.
- `mistral`: `[TOOL_CALLS]` then either a JSON array `[{"name": ..., "arguments": {...}}, ...]` (v3
  tokenizers) or `NAME[ARGS]{...}` / `NAME{...}` per call (v11+ tokenizers); text before it is content.
- `pythonic` (Llama 3.2 / Llama 4 pythonic, Olmo 3): the reply is a Python list of calls with keyword
  arguments of literal values, `[get_weather(city="Paris"), noop()]`, optionally between
  `<|python_start|>` and `<|python_end|>`.
- `qwen3_coder` (Qwen3-Coder XML): `<tool_call><function=NAME><parameter=KEY>VALUE</parameter>...
  </function></tool_call>`; values are converted to the type the tool's schema gives the parameter.
- `openai` (gpt-oss harmony): `<|channel|>commentary to=functions.NAME ... <|message|>{json}<|call|>`.

Every parser returns a `ToolParse` (calls, errors for the agent, content without the calls) and never
raises; the calls go through the same sanitising path as every action (`agentgym.parsing`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentgym.parsing import (
    MAX_CALLS,
    JSONInputError,
    _call_from_object,
    _loads,
    clean_json,
    parse_tool_call_text,
)
from agentgym.tools import ToolCall, clean_text


@dataclass
class ToolParse:
    """Tool calls read from a reply; `content` is the reply without the call markup."""

    calls: list[ToolCall] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    content: str = ""


ParseFunction = Callable[[str, Sequence[dict[str, Any]] | None], ToolParse]


def _too_many(count: int) -> ToolParse:
    return ToolParse([], [f"too many tool calls in one reply ({count}; the limit is {MAX_CALLS})"], "")


def _calls_from_objects(objects: list[Any], errors: list[str]) -> list[ToolCall]:
    calls = []
    for index, obj in enumerate(objects):
        call = _call_from_object(obj, f"tool call {index + 1}", errors)
        if call is not None:
            calls.append(call)
    return calls


# ---------------------------------------------------------------------- hermes
_HERMES_BLOCK = re.compile(r"<tool_call>.*?(?:</tool_call>|\Z)", re.DOTALL)


def parse_hermes(text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
    calls, errors = parse_tool_call_text(text)
    return ToolParse(calls, errors, _HERMES_BLOCK.sub("", text).strip())


# ---------------------------------------------------------------------- llama3_json
_PYTHON_TAG = "<|python_tag|>"


def _json_sequence(text: str, separators: str) -> tuple[list[Any], str | None]:
    """Consecutive JSON values in `text`, separated by whitespace and `separators`; (values, error)."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while True:
        while position < len(text) and (text[position].isspace() or text[position] in separators):
            position += 1
        if position >= len(text):
            return values, None
        if len(values) >= MAX_CALLS:
            return values, f"too many tool calls in one reply (the limit is {MAX_CALLS})"
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            return values, f"not valid JSON ({exc.msg} at position {exc.pos})"
        except (RecursionError, ValueError):
            return values, "not valid JSON (nested too deeply or a number too large)"
        values.append(value)
        position = end


def parse_llama3_json(text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
    text = clean_text(text)
    body = text.strip()
    tagged = body.startswith(_PYTHON_TAG)
    if tagged:
        body = body[len(_PYTHON_TAG):].strip()
    if not body.startswith("{"):
        return ToolParse([], [], text)
    if not tagged and not re.match(r'\{\s*"name"\s*:', body):
        return ToolParse([], [], text)  # JSON that is not a call is an ordinary reply
    if len(body) > 1_000_000:
        return ToolParse([], ["tool call: too long"], "")
    values, error = _json_sequence(body, ";")
    errors: list[str] = []
    calls = _calls_from_objects(values, errors)
    if error is not None:
        errors.append(f"tool call {len(values) + 1}: {error}")
    return ToolParse(calls, errors, "")


# ---------------------------------------------------------------------- mistral
_TOOL_CALLS = "[TOOL_CALLS]"
_MISTRAL_NAME = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*(\[ARGS\])?\s*")


def parse_mistral(text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
    text = clean_text(text)
    head, marker, rest = text.partition(_TOOL_CALLS)
    if not marker:
        return ToolParse([], [], text)
    errors: list[str] = []
    if rest.lstrip().startswith("["):  # v3: one JSON array of calls
        values, error = _json_sequence(rest.replace(_TOOL_CALLS, " "), "")
        objects = [o for v in values for o in (v if isinstance(v, list) else [v])]
        if len(objects) > MAX_CALLS:
            return _too_many(len(objects))
        calls = _calls_from_objects(objects, errors)
        if error is not None:
            errors.append(f"tool call {len(objects) + 1}: {error}")
        return ToolParse(calls, errors, head.strip())
    segments = [s for s in rest.split(_TOOL_CALLS) if s.strip()]
    if len(segments) > MAX_CALLS:
        return _too_many(len(segments))
    calls = []
    decoder = json.JSONDecoder()
    for index, segment in enumerate(segments):
        where = f"tool call {index + 1}"
        match = _MISTRAL_NAME.match(segment)
        if match is None or not match.group(1):
            errors.append(f"{where}: expected NAME[ARGS]{{...}} after [TOOL_CALLS]")
            continue
        body = segment[match.end():]
        try:
            arguments, _ = decoder.raw_decode(body) if body.strip() else ({}, 0)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: invalid arguments: not valid JSON ({exc.msg} at position {exc.pos})")
            continue
        except (RecursionError, ValueError):
            errors.append(f"{where}: invalid arguments: nested too deeply or a number too large")
            continue
        call = _call_from_object({"name": match.group(1), "arguments": arguments}, where, errors)
        if call is not None:
            calls.append(call)
    return ToolParse(calls, errors, head.strip())


# ---------------------------------------------------------------------- pythonic
_PYTHON_START, _PYTHON_END = "<|python_start|>", "<|python_end|>"


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def parse_pythonic(text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
    text = clean_text(text)
    body = text.strip()
    if body.startswith(_PYTHON_START):
        body = body[len(_PYTHON_START):]
        body = body.split(_PYTHON_END, 1)[0].strip()
    if not (body.startswith("[") and body.endswith("]") and "(" in body):
        return ToolParse([], [], text)
    if len(body) > 1_000_000:
        return ToolParse([], ["tool call: too long"], "")
    try:
        tree = ast.parse(body, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ToolParse([], ["tool calls: not a valid Python list of calls, e.g. [name(arg=1)]"], "")
    if not isinstance(tree.body, ast.List) or not all(isinstance(e, ast.Call) for e in tree.body.elts):
        return ToolParse([], [], text)  # a list of values, not of calls: an ordinary reply
    if len(tree.body.elts) > MAX_CALLS:
        return _too_many(len(tree.body.elts))
    calls: list[ToolCall] = []
    errors: list[str] = []
    for index, node in enumerate(tree.body.elts):
        where = f"tool call {index + 1}"
        assert isinstance(node, ast.Call)
        name = _dotted_name(node.func)
        if name is None:
            errors.append(f"{where}: the function must be a name")
            continue
        if node.args:
            errors.append(f"{where}: pass arguments by keyword, e.g. {name}(key=value)")
            continue
        arguments: dict[str, Any] = {}
        try:
            for keyword in node.keywords:
                if keyword.arg is None:
                    raise ValueError("**kwargs is not allowed")
                arguments[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as exc:
            errors.append(f"{where}: arguments must be literal values ({exc})")
            continue
        call = _call_from_object({"name": name, "arguments": arguments}, where, errors)
        if call is not None:
            calls.append(call)
    return ToolParse(calls, errors, "")


# ---------------------------------------------------------------------- qwen3_coder
_XML_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
_XML_FUNCTION = re.compile(r"<function=([^>\n]+)>(.*?)(?:</function>|\Z)", re.DOTALL)
_XML_PARAMETER = re.compile(r"<parameter=([^>\n]+)>(.*?)(?:</parameter>|(?=<parameter=)|(?=</function>)|\Z)", re.DOTALL)


def _parameter_types(tools: Sequence[dict[str, Any]] | None, name: str) -> dict[str, Any]:
    for tool in tools or []:
        fn = tool.get("function", tool) if isinstance(tool, dict) else {}
        if isinstance(fn, dict) and fn.get("name") == name:
            properties = (fn.get("parameters") or {}).get("properties") or {}
            return {k: (v or {}).get("type") for k, v in properties.items() if isinstance(v, dict)}
    return {}


def _xml_value(raw: str, kind: Any) -> Any:
    value = raw.strip("\n")
    if kind == "string":
        return value
    try:
        decoded = _loads(value.strip())
    except JSONInputError:
        if kind in ("integer", "number", "boolean", "object", "array"):
            raise
        return value  # no schema type: text that is not JSON is a string
    if kind is None and not isinstance(decoded, dict | list | int | float | bool) and decoded is not None:
        return value
    return decoded


def parse_qwen3_coder(text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
    text = clean_text(text)
    blocks = [m for m in _XML_CALL.finditer(text) if m.group(1).lstrip().startswith("<function=")]
    if not blocks:
        return ToolParse([], [], text)
    if len(blocks) > MAX_CALLS:
        return _too_many(len(blocks))
    calls: list[ToolCall] = []
    errors: list[str] = []
    content = text
    for index, block in enumerate(blocks):
        where = f"tool call {index + 1}"
        content = content.replace(block.group(0), "")
        function = _XML_FUNCTION.search(block.group(1))
        if function is None:
            errors.append(f"{where}: expected <function=NAME>...</function>")
            continue
        name = function.group(1).strip()
        types = _parameter_types(tools, name)
        arguments: dict[str, Any] = {}
        try:
            for parameter in _XML_PARAMETER.finditer(function.group(2)):
                key = parameter.group(1).strip()
                arguments[key] = _xml_value(parameter.group(2), types.get(key))
            arguments = clean_json(arguments)
        except JSONInputError as exc:
            errors.append(f"{where}: invalid arguments: {exc}")
            continue
        call = _call_from_object({"name": name, "arguments": arguments}, where, errors)
        if call is not None:
            calls.append(call)
    return ToolParse(calls, errors, content.strip())


# ---------------------------------------------------------------------- openai (gpt-oss harmony)
_HARMONY_CALL = re.compile(
    r"(?:<\|start\|>assistant)?<\|channel\|>commentary\s+to=functions\.([^\s<]+)[^<]*(?:<\|constrain\|>[^<]*)?"
    r"<\|message\|>(.*?)(?:<\|call\|>|<\|end\|>|\Z)",
    re.DOTALL,
)
_HARMONY_FINAL = re.compile(r"<\|channel\|>final<\|message\|>(.*?)(?:<\|end\|>|<\|return\|>|\Z)", re.DOTALL)


def parse_openai(text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
    text = clean_text(text)
    matches = list(_HARMONY_CALL.finditer(text))
    final = " ".join(m.group(1).strip() for m in _HARMONY_FINAL.finditer(text))
    if not matches:
        return ToolParse([], [], final or text)
    if len(matches) > MAX_CALLS:
        return _too_many(len(matches))
    calls: list[ToolCall] = []
    errors: list[str] = []
    for index, match in enumerate(matches):
        where = f"tool call {index + 1}"
        call = _call_from_object({"name": match.group(1), "arguments": match.group(2).strip()}, where, errors)
        if call is not None:
            calls.append(call)
    return ToolParse(calls, errors, final)


class BuiltinToolParser:
    """A built-in format by name (the module docstring lists them)."""

    implementation = "builtin"

    def __init__(self, name: str, function: ParseFunction) -> None:
        self.name = name
        self._function = function

    def describe(self) -> str:
        return f"{self.implementation}:{self.name}"

    def parse(self, text: str, tools: Sequence[dict[str, Any]] | None = None) -> ToolParse:
        try:
            return self._function(text, tools)
        except Exception as exc:  # noqa: BLE001 - parsing never raises; the agent hears what failed
            return ToolParse([], [f"the tool calls could not be read ({type(exc).__name__})"], "")


#: built-in tool-call formats by name (vLLM's `--tool-call-parser` names)
BUILTIN_TOOL_PARSERS: dict[str, BuiltinToolParser] = {
    name: BuiltinToolParser(name, function)
    for name, function in {
        "hermes": parse_hermes,
        "llama3_json": parse_llama3_json,
        "mistral": parse_mistral,
        "pythonic": parse_pythonic,
        "qwen3_coder": parse_qwen3_coder,
        "openai": parse_openai,
    }.items()
}
#: names vLLM registers for the same formats
BUILTIN_ALIASES = {"qwen3_json": "hermes", "llama4_json": "llama3_json", "llama4_pythonic": "pythonic",
                   "olmo3": "pythonic", "qwen3_xml": "qwen3_coder"}

DEFAULT_TOOL_PARSER = BUILTIN_TOOL_PARSERS["hermes"]
