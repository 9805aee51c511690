import json

from agentgym import ToolCall, Toolset, tool
from agentgym.errors import InfrastructureError, ToolError
from agentgym.parsing import parse_action


@tool
def search(query: str, k: int = 5) -> str:
    """Search the corpus.

    Args:
        query: what to look for,
            across lines.
        k (int): how many passages.

    Returns:
        The passages.
    """
    return f"{query}:{k}"


class Counter:
    def __init__(self):
        self.n = 0

    @tool
    def add(self, amount: int) -> int:
        """Add to the counter."""
        self.n += amount
        return self.n

    @tool
    def broken(self) -> str:
        """Always fails like a buggy tool."""
        raise ToolError("no such file: x.py")

    @tool
    def infra(self) -> str:
        """Simulates a dead sandbox."""
        raise InfrastructureError("container gone")


def test_schema_from_type_hints_and_docstring():
    schema = search.schema()["function"]
    assert schema["name"] == "search"
    assert schema["description"] == "Search the corpus."
    props = schema["parameters"]["properties"]
    assert props["query"] == {"type": "string", "description": "what to look for, across lines."}
    assert props["k"]["type"] == "integer" and props["k"]["default"] == 5
    assert schema["parameters"]["required"] == ["query"]
    assert schema["parameters"]["additionalProperties"] is False


def test_validation_errors_are_results_not_exceptions():
    tools = Toolset([search])
    ok = tools.call(ToolCall(id="c1", name="search", arguments={"query": "x", "k": "3"}))
    assert ok.ok and ok.content == "x:3" and ok.tool_call_id == "c1"
    bad = tools.call(ToolCall(name="search", arguments={"k": "many", "extra": 1}))
    assert not bad.ok and bad.error_kind == "invalid_arguments"
    assert "query: Field required" in bad.content and "extra: unexpected argument" in bad.content
    unknown = tools.call(ToolCall(name="find"))
    assert unknown.error_kind == "unknown_tool" and "search" in unknown.content


def test_methods_bind_per_instance_and_errors_classified():
    a, b = Counter(), Counter()
    ta, tb = Toolset.from_object(a), Toolset.from_object(b)
    assert ta.names == ["add", "broken", "infra"]
    assert ta.call(ToolCall(name="add", arguments={"amount": 2})).content == "2"
    assert tb.call(ToolCall(name="add", arguments={"amount": 5})).content == "5"
    assert (a.n, b.n) == (2, 5)
    failed = ta.call(ToolCall(name="broken"))
    assert not failed.ok and failed.error_kind == "tool_error" and not failed.malformed
    try:
        ta.call(ToolCall(name="infra"))
    except InfrastructureError:
        pass
    else:
        raise AssertionError("InfrastructureError must propagate")


def test_parse_openai_message_and_text_formats():
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "search", "arguments": json.dumps({"query": "q"})}},
            {"id": "b", "type": "function", "function": {"name": "search", "arguments": {"query": "r", "k": 1}}},
        ],
    }
    parsed = parse_action(message)
    assert [c.id for c in parsed.calls] == ["a", "b"] and not parsed.errors
    assert parsed.calls[1].arguments == {"query": "r", "k": 1}

    text = 'thinking <tool_call>{"name": "search", "arguments": {"query": "q"}}</tool_call> and <tool_call>{"name": "x"'
    parsed = parse_action(text)
    assert [c.name for c in parsed.calls] == ["search"]
    assert len(parsed.errors) == 1 and "not valid JSON" in parsed.errors[0]

    assert parse_action('<tool_call>{"arguments": {}}</tool_call>').errors == ["tool call 1: missing tool 'name'"]
    assert "must be a JSON object" in parse_action('<tool_call>{"name": "a", "arguments": [1]}</tool_call>').errors[0]
    assert parse_action(12345).errors  # not text at all: reported, not raised
    assert parse_action("plain words").calls == []
