"""Tools are plain typed Python callables.

`@tool` turns a function (or a method) into a `Tool`: its JSON schema comes from the type hints
through a pydantic model, its description from the docstring, and calls are validated before the
function runs. A `Toolset` is the collection an env exposes; `Toolset.call` never raises for an
agent's mistake (unknown tool, bad arguments, a `ToolError` inside the tool): it returns a
`ToolResult` with `ok=False` and an explanation. Only `InfrastructureError` propagates.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agentgym.errors import InfrastructureError, ToolError

ErrorKind = Literal["unknown_tool", "invalid_arguments", "oversize", "tool_error", "exception"]
#: Error kinds that mean the action itself was malformed (action_valid = 0).
MALFORMED_KINDS: frozenset[str] = frozenset({"unknown_tool", "invalid_arguments", "oversize"})


class ToolCall(BaseModel):
    """One parsed call: the same model whatever the text format the agent used."""

    model_config = ConfigDict(extra="forbid")

    id: str = ""
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    def canonical(self) -> str:
        """A stable string for comparing calls (repeated-action detection)."""
        return _dumps([self.name, self.arguments], sort_keys=True)

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": _dumps(self.arguments)},
        }


def _dumps(value: Any, *, sort_keys: bool = False) -> str:
    """`json.dumps` that never raises: values JSON cannot hold (a family's own objects, a mixed-type
    key, a number too large to print, nesting too deep) are written through `json_safe`."""
    try:
        return json.dumps(value, sort_keys=sort_keys, default=str)
    except (TypeError, ValueError, RecursionError):
        from agentgym.parsing import json_safe  # parsing imports this module

        return json.dumps(json_safe(value), sort_keys=sort_keys)


class ToolResult(BaseModel):
    """What a call produced: text for the agent, and whether it worked."""

    content: str
    ok: bool = True
    error_kind: ErrorKind | None = None
    name: str = ""
    tool_call_id: str = ""

    @property
    def malformed(self) -> bool:
        return self.error_kind in MALFORMED_KINDS


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with every unpaired UTF-16 surrogate replaced by U+FFFD (a surrogate pair held as
    two code points is joined into its character), so it always encodes as UTF-8. Used on all an
    agent sends (`agentgym.parsing`) and on every tool result."""
    text = str(text)
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


_SECTION = re.compile(r"^(\w[\w ]*):\s*$")
_ARG_LINE = re.compile(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {param: description}).

    The description is the text before the first section header ("Args:", "Returns:", ...);
    parameter lines are `name (type): text` one level under "Args:", continued by deeper lines.
    """
    if not doc:
        return "", {}
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in inspect.cleandoc(doc).splitlines():
        header = _SECTION.match(line)
        if header and not line.startswith(" "):
            section, current = header.group(1).lower(), None
            continue
        if section is None:
            description.append(line)
        elif section in ("args", "arguments", "parameters"):
            indent = len(line) - len(line.lstrip())
            match = _ARG_LINE.match(line.strip())
            if match and indent <= 4:
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), params


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's auto-generated titles: they cost prompt tokens and say nothing."""
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


class Tool:
    """A typed callable with a JSON schema. Used as a decorator via `tool`; works on methods too."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None):
        self.fn = fn
        self.name = name or fn.__name__
        doc_description, param_docs = _parse_docstring(fn.__doc__)
        self.description = description if description is not None else doc_description
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
        self._takes_self = bool(params) and params[0].name in ("self", "cls")
        if self._takes_self:
            params = params[1:]
        hints = get_type_hints(fn)
        fields: dict[str, Any] = {}
        for param in params:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise TypeError(f"tool {self.name!r}: *args/**kwargs are not allowed in tool signatures")
            annotation = hints.get(param.name, Any)
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (annotation, Field(default, description=param_docs.get(param.name)))
        self.params_model: type[BaseModel] = create_model(  # type: ignore[call-overload]
            f"{self.name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        self.parameters: dict[str, Any] = _strip_titles(self.params_model.model_json_schema())
        self.parameters.setdefault("properties", {})
        self._bound_to: Any = None

    # -- descriptor protocol: `@tool` on a method gives a bound Tool per instance --
    def __set_name__(self, owner: type, name: str) -> None:
        self._attr_name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Tool:
        if obj is None or not self._takes_self:
            return self
        cache = obj.__dict__.setdefault("_agentgym_bound_tools", {})
        bound = cache.get(self.name)
        if bound is None:
            bound = object.__new__(Tool)
            bound.__dict__.update(self.__dict__)
            bound._bound_to = obj
            cache[self.name] = bound
        return bound

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._takes_self and self._bound_to is not None:
            return self.fn(self._bound_to, *args, **kwargs)
        return self.fn(*args, **kwargs)

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate arguments; raises pydantic's ValidationError."""
        model = self.params_model.model_validate(arguments)
        return {name: getattr(model, name) for name in type(model).model_fields}

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None):
    """Declare a tool: `@tool` or `@tool(name="...", description="...")`."""
    if fn is None:
        return lambda f: Tool(f, name=name, description=description)
    return Tool(fn, name=name, description=description)


def format_validation_error(tool_name: str, error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        if len(where) > 200:  # a key is the agent's text: echo a bounded part of it
            where = where[:200] + "..."
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unexpected argument"
        parts.append(f"{where}: {message}")
    return f"Invalid arguments for tool '{tool_name}': " + "; ".join(parts)


def render_value(value: Any) -> str:
    """Turn a tool's return value into observation text."""
    if isinstance(value, str):
        return value
    if value is None:
        return "OK"
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return str(value)


@functools.cache
def _tool_attributes(klass: type) -> tuple[str, ...]:
    """Names of a class's `@tool` attributes, base classes first, in definition order."""
    ordered = [attr for k in reversed(klass.__mro__) for attr, v in vars(k).items() if isinstance(v, Tool)]
    return tuple(dict.fromkeys(ordered))


class Toolset:
    """An ordered, named collection of tools."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()):
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.add(item)
        self._schemas: list[dict[str, Any]] | None = None

    @classmethod
    def from_object(cls, obj: Any) -> Toolset:
        """Collect the `@tool` methods of an object (bound to it), in definition order."""
        return cls(getattr(obj, attr) for attr in _tool_attributes(type(obj)))

    def add(self, item: Tool | Callable[..., Any]) -> None:
        t = item if isinstance(item, Tool) else Tool(item)
        if t.name in self._tools:
            raise ValueError(f"duplicate tool name {t.name!r}")
        self._tools[t.name] = t
        self._schemas = None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        if self._schemas is None:
            self._schemas = [t.schema() for t in self._tools.values()]
        return self._schemas

    def call(self, call: ToolCall) -> ToolResult:
        """Validate and run one call. Agent mistakes come back as `ok=False` results."""
        result = self._call(call)
        # what the agent sees and the trajectory records must always encode as UTF-8
        result.content = clean_text(result.content)
        result.name = clean_text(call.name)
        result.tool_call_id = clean_text(call.id)
        return result

    def _call(self, call: ToolCall) -> ToolResult:
        t = self._tools.get(call.name)
        if t is None:
            available = ", ".join(self._tools) or "(none)"
            return ToolResult(
                content=f"Error: unknown tool '{call.name}'. Available tools: {available}.",
                ok=False,
                error_kind="unknown_tool",
            )
        try:
            arguments = t.validate(call.arguments)
        except ValidationError as exc:
            return ToolResult(
                content="Error: " + format_validation_error(t.name, exc), ok=False, error_kind="invalid_arguments"
            )
        try:
            content = render_value(t(**arguments))
        except InfrastructureError:
            raise
        except ToolError as exc:
            return ToolResult(content=f"Error: {exc}", ok=False, error_kind="tool_error")
        except Exception as exc:  # a tool bug or an unforeseen input; the agent sees it, nothing crashes
            return ToolResult(
                content=f"Error: tool '{t.name}' failed: {type(exc).__name__}: {exc}",
                ok=False,
                error_kind="exception",
            )
        return ToolResult(content=content)
