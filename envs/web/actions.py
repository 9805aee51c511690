"""The web family's text grammar: `click("12")`, `fill("5", "hello")`, `press("Enter")`, ...

A strict whitelist parser. The text is parsed with `ast.parse` and accepted only when it is a
single call of a known action name with literal arguments (strings, numbers); nothing is ever
evaluated. Code fences and a leading `Action:` are tolerated; when the whole reply is not a call,
the last non-empty line is tried (models often think first, then act).

Whatever the text, the parser raises only `ActionSyntaxError`: a reply that Python's parser
cannot handle (nested too deeply, a null byte, an enormous number) is a syntax error like any
other, string arguments have unpaired surrogates (e.g. a `"\\udcff"` escape) replaced, and
numbers must be finite.
"""

from __future__ import annotations

import ast
import math
import re

from agentgym.tools import ToolCall, clean_text

#: action name -> parameter names in positional order
ACTIONS: dict[str, tuple[str, ...]] = {
    "click": ("id",),
    "fill": ("id", "text"),
    "select": ("id", "option"),
    "press": ("key",),
    "scroll": ("direction",),
    "goto": ("url",),
    "go_back": (),
    "answer": ("text",),
}
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_PREFIX = re.compile(r"^(?:action|next action)\s*:\s*", re.IGNORECASE)


class ActionSyntaxError(ValueError):
    """The text looks like an action but breaks the grammar."""


def _clean(text: str) -> str:
    text = _FENCE.sub("", text.strip()).strip()
    return _PREFIX.sub("", text).strip().rstrip(";").strip()


def _literal(node: ast.expr, where: str) -> str | int | float:
    value: object = None
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float) and not isinstance(node.value, bool):
        value = node.value
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        operand = node.operand.value
        if isinstance(operand, int | float) and not isinstance(operand, bool):
            value = -operand
    if isinstance(value, str):
        return clean_text(value)  # a "\udcff" escape makes a lone surrogate
    if isinstance(value, float) and not math.isfinite(value):
        raise ActionSyntaxError(f"{where} must be a finite number")
    if isinstance(value, int | float):
        return value
    raise ActionSyntaxError(f"{where} must be a string or number literal")


def parse_call(text: str) -> ToolCall:
    """Parse one action call; raises ActionSyntaxError with a message for the agent."""
    source = clean_text(_clean(text))
    if len(source) > 20_000:
        raise ActionSyntaxError("action text is too long")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ActionSyntaxError(f"not a single action call ({exc.msg})") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes, surrogates; the parser's own limits
        raise ActionSyntaxError("not a single action call (the text cannot be parsed as one)") from None
    node = tree.body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ActionSyntaxError("expected one call such as click(\"12\")")
    name = node.func.id
    if name not in ACTIONS:
        raise ActionSyntaxError(f"unknown action {name!r}; actions: {', '.join(ACTIONS)}")
    params = ACTIONS[name]
    if len(node.args) > len(params):
        raise ActionSyntaxError(f"{name} takes {len(params)} argument(s), got {len(node.args)}")
    arguments: dict[str, str | int | float] = {}
    for param, arg in zip(params, node.args, strict=False):
        arguments[param] = _literal(arg, f"{name}: argument {param!r}")
    for keyword in node.keywords:
        if keyword.arg is None or keyword.arg not in params:
            raise ActionSyntaxError(f"{name}: unexpected argument {keyword.arg!r}")
        if keyword.arg in arguments:
            raise ActionSyntaxError(f"{name}: argument {keyword.arg!r} given twice")
        arguments[keyword.arg] = _literal(keyword.value, f"{name}: argument {keyword.arg!r}")
    if "id" in arguments and isinstance(arguments["id"], int | float):
        arguments["id"] = str(arguments["id"])
    return ToolCall(name=name, arguments=dict(arguments))


def looks_like_action(text: str) -> bool:
    source = _clean(text)
    head = source.split("(", 1)[0].strip()
    return "(" in source and head in ACTIONS


def attempts_action(text: str) -> bool:
    """Whether the reply, or its last non-empty line, starts like an action call (`click(...`):
    a reply that fails to parse is then a malformed action rather than prose."""
    lines = [line for line in text.strip().splitlines() if line.strip() and line.strip() != "```"]
    return looks_like_action(text) or (bool(lines) and looks_like_action(lines[-1]))


def parse_text_action(text: str) -> ToolCall:
    """The whole reply, or else its last non-empty line, as one action."""
    try:
        return parse_call(text)
    except ActionSyntaxError as first:
        lines = [line for line in text.strip().splitlines() if line.strip() and line.strip() != "```"]
        if len(lines) > 1:
            last = lines[-1]
            try:
                return parse_call(last)
            except ActionSyntaxError as second:
                if looks_like_action(last):
                    raise second from None
        raise first from None
