"""Tools defined by a JSON schema (MCP servers' tools, function-calling benchmarks' function docs) rather than type hints.

Arguments are validated against the schema with `jsonschema` (when installed; otherwise a light
check of required and unknown keys); a failure becomes the same `invalid_arguments` error
observation as for typed tools.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from agentgym.tools import Tool

try:  # jsonschema ships with the mcp SDK
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover - exercised only without jsonschema
    Draft202012Validator = None  # type: ignore[assignment,misc]


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


class _NoModel(BaseModel):
    pass


def _validation_error(name: str, problems: list[tuple[tuple[str | int, ...], str]]) -> ValidationError:
    details: list[InitErrorDetails] = [
        {"type": PydanticCustomError("schema", message), "loc": loc, "input": None} for loc, message in problems
    ]
    return ValidationError.from_exception_data(f"{name}_arguments", details)


class SchemaTool(Tool):
    """A tool whose parameters are a JSON schema; `handler(**arguments)` runs it."""

    def __init__(
        self,
        name: str,
        description: str,
        parameters: dict[str, Any] | None,
        handler: Callable[..., Any],
        *,
        validate: bool = True,
    ):
        self.fn = handler
        self.name = name
        self.description = description or ""
        schema = _strip_titles(dict(parameters or {}))
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        self.parameters = schema
        self.params_model = _NoModel
        self._takes_self = False
        self._bound_to = None
        self._check = validate
        self._validator = None
        if validate and Draft202012Validator is not None:
            try:
                Draft202012Validator.check_schema(schema)
                self._validator = Draft202012Validator(schema)
            except Exception:  # a server's sloppy schema: fall back to the light check
                self._validator = None

    def __get__(self, obj: Any, objtype: type | None = None) -> SchemaTool:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if not self._check:
            return dict(arguments)
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self._validator is not None:
            for error in self._validator.iter_errors(arguments):
                problems.append((tuple(error.absolute_path) or ("arguments",), error.message))
        else:
            properties = self.parameters.get("properties", {})
            for key in self.parameters.get("required", []):
                if key not in arguments:
                    problems.append(((key,), "Field required"))
            if self.parameters.get("additionalProperties") is False:
                for key in arguments:
                    if key not in properties:
                        problems.append(((key,), "unexpected argument"))
        if problems:
            raise _validation_error(self.name, problems[:10])
        return dict(arguments)

    def __repr__(self) -> str:
        return f"SchemaTool({self.name!r})"
