"""`agentgym.parsing`: the one sanitising path every action goes through (issue 15).

Parsing never raises; what is wrong with an action is in `errors`, written for the agent; every
string that comes out is clean (no lone surrogate), every argument a plain JSON value, bounded in
size and depth. `json_safe` and the trajectory writer write whatever did not come through here.
"""

from __future__ import annotations

import json

import pytest

from agentgym.parsing import (
    MAX_CALLS,
    MAX_JSON_DEPTH,
    JSONInputError,
    action_text,
    clean_json,
    clean_text,
    decode_json,
    json_safe,
    parse_action,
)
from agentgym.tools import ToolCall, Toolset, tool


def _deep(depth: int, kind: str = "list") -> object:
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def _msg(*calls: object, content: object = "") -> dict:
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


def _fn(name: object = "f", arguments: object = None) -> dict:
    return {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}


def _utf8(value: object) -> bool:
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    return True


# ====================================================================== text
@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("plain", "plain"),
        ("a\udcffb", "a\ufffdb"),
        ("\ud800", "\ufffd"),
        ("\ude00\ud83d", "\ufffd\ufffd"),  # reversed halves are two lone surrogates
        ("\ud83d\ude00", "\U0001f600"),  # a pair held as two code points is joined
        ("\x00\x1b\u2028", "\x00\x1b\u2028"),  # control characters are text, kept
    ],
)
def test_clean_text(text, clean):
    assert clean_text(text) == clean
    assert clean_text(text).encode("utf-8")


# ====================================================================== JSON
def test_decode_json_bounds_what_it_accepts():
    assert decode_json('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert decode_json('{"\\udcff": "\\ud800"}') == {"\ufffd": "\ufffd"}
    assert decode_json(json.dumps(_deep(MAX_JSON_DEPTH)))  # 64 levels of arrays: the limit itself is fine
    for text, message in [
        ("[" * 5000 + "]" * 5000, "nested too deeply"),  # json.loads raises RecursionError here
        (json.dumps(_deep(MAX_JSON_DEPTH + 1)), "nested too deeply"),
        ('{"a": NaN}', "NaN is not a JSON value"),
        ('{"a": -Infinity}', "-Infinity is not a JSON value"),
        ('{"a": 1e999}', "finite"),
        ('{"a": ' + "9" * 5000 + "}", "number is too large"),
        ('{"a": ' + "9" * 2000 + "}", "number is too large"),
        ('"' + "x" * 2_000_000 + '"', "too long"),
        ("{'a': 1}", "not valid JSON"),
    ]:
        with pytest.raises(JSONInputError, match=message):
            decode_json(text)


def test_clean_json_rejects_what_json_cannot_hold():
    assert clean_json({"a": (1, 2), "b": {"c": "\udcff"}}) == {"a": [1, 2], "b": {"c": "\ufffd"}}
    for value, message in [
        ({1: "a"}, "keys must be strings"),
        ({"a": b"x"}, "bytes is not a JSON value"),
        ({"a": {1, 2}}, "set is not a JSON value"),
        ({"a": object()}, "object is not a JSON value"),
        ({"a": float("nan")}, "finite"),
        ({"a": 10**5000}, "too large"),
        (_deep(5000, "dict"), "nested too deeply"),
    ]:
        with pytest.raises(JSONInputError, match=message):
            clean_json(value)


def test_json_safe_converts_anything():
    class Odd:
        def __str__(self) -> str:
            raise RuntimeError("no")

    value = {
        "s": "\udcff", "b": b"\xff\x00", "n": float("nan"), "i": 10**5000, "set": {1}, "t": (1, "\ud800"),
        1: "int key", None: "none key", (1, 2): "tuple key", "deep": _deep(5000), "odd": Odd(),
        "call": ToolCall(name="x\udcff", arguments={"a": 1}),
    }
    safe = json_safe(value)
    text = json.dumps(safe, ensure_ascii=False, allow_nan=False)
    assert text.encode("utf-8")
    assert safe["s"] == "\ufffd" and safe["b"] == "\ufffd\x00" and safe["n"] is None and safe["set"] == [1]
    assert safe["i"].startswith("<integer") and safe["t"] == [1, "\ufffd"]
    assert safe["1"] == "int key" and safe["null"] == "none key" and safe["<tuple key>"] == "tuple key"
    assert safe["odd"] == "<unprintable Odd>" and safe["call"] == {"id": "", "name": "x\ufffd", "arguments": {"a": 1}}
    assert "nested too deeply" in text


# ====================================================================== actions
def test_the_known_failures_parse_to_errors():
    deep_call = '<tool_call>{"name":"x","arguments":{"a":' + "[" * 5000 + "]" * 5000 + "}}</tool_call>"
    parsed = parse_action(deep_call)
    assert parsed.calls == [] and parsed.errors == ["tool call 1: nested too deeply (the limit is 64 levels)"]
    parsed = parse_action({"foo": "bar"})
    assert parsed.calls == [] and parsed.errors == [] and parsed.text == ""  # no reply: the env's no-call message


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (None, "an action must be text or a message dict, got NoneType"),
        (5, "got int"),
        ([1, 2], "got list"),
        (_deep(5000), "got list"),
        ({"content": {"a": 1}}, "'content' must be text or a list of content parts, got dict"),
        ({"content": _deep(5000)}, None),  # a list of no text parts: no text
        ({"content": 5}, "got int"),
        ({"tool_calls": "x"}, "'tool_calls' must be a list, got str"),
        ({"tool_calls": {"name": "f"}}, "'tool_calls' must be a list, got dict"),
        ({"tool_calls": [1]}, "tool call 1: expected a JSON object with 'name' and 'arguments'"),
        ({"tool_calls": _deep(5000)}, "tool call 1: expected a JSON object"),
        (_msg(_fn(arguments="[1]")), "tool call 1: arguments must be a JSON object, got array"),
        (_msg(_fn(arguments='"x"')), "got string"),
        (_msg(_fn(arguments=5)), "got number"),
        (_msg(_fn(arguments=b"{}")), "got bytes"),
        (_msg(_fn(arguments='{"a": NaN}')), "invalid arguments: not valid JSON (NaN is not a JSON value)"),
        (_msg(_fn(arguments='{"a": ' + "[" * 5000 + "]" * 5000 + "}")), "invalid arguments: nested too deeply"),
        (_msg(_fn(arguments={"a": _deep(5000, "dict")})), "invalid arguments: nested too deeply"),
        (_msg(_fn(arguments={"a": 10**5000})), "invalid arguments: a number is too large"),
        (_msg(_fn(arguments={(1,): 1})), "invalid arguments: object keys must be strings, got tuple"),
        (_msg(_fn(name=["f"])), "tool call 1: missing tool 'name'"),
        (_msg(_fn(name="")), "missing tool 'name'"),
        (_msg(_fn(name="n" * 1000)), "the tool name is too long (1000 characters; the limit is 256)"),
        (_msg(*[_fn()] * (MAX_CALLS + 1)), f"too many tool calls in one reply ({MAX_CALLS + 1}; the limit is 100)"),
        ('<tool_call>{"name": "f"}</tool_call>' * (MAX_CALLS + 1), "too many tool calls"),
        ("<tool_call>" + '{"a":' * 3000 + "1" + "}" * 3000, "tool call 1: nested too deeply"),
        ('<tool_call>{"name": "f", "arguments": ' + "9" * 5000 + "}</tool_call>", "tool call 1: a number is too large"),
    ],
)
def test_odd_actions_are_reported_not_raised(action, error):
    parsed = parse_action(action)
    assert parsed.calls == []
    if error is not None:
        assert any(error in e for e in parsed.errors), parsed.errors
    assert _utf8([parsed.text, parsed.errors])


def test_everything_parsed_is_clean():
    parsed = parse_action(_msg(_fn(name="f\udcff", arguments={"k\ud800": ["v\udfff", {"x": "\udcff"}]}),
                               content="hi \udcff"))
    assert parsed.text == "hi \ufffd" and not parsed.errors
    assert parsed.calls == [ToolCall(id="c1", name="f\ufffd", arguments={"k\ufffd": ["v\ufffd", {"x": "\ufffd"}]})]
    parsed = parse_action('<tool_call>{"name": "f", "arguments": {"a": "\\udcff"}}</tool_call> \udcff')
    assert parsed.calls[0].arguments == {"a": "\ufffd"} and parsed.text.endswith("\ufffd")
    parsed = parse_action(b"\xff<tool_call>{\"name\": \"f\"}</tool_call>")
    assert parsed.text.startswith("\ufffd") and parsed.calls[0].name == "f"
    assert parse_action({"content": [{"type": "text", "text": "a"}, {"text": 5}, "b", {"text": "\udcff"}]}).text == "a\ufffd"
    parsed = parse_action(_msg(_fn(arguments={"a": 1}), content=None))
    assert parsed.calls[0].id == "c1" and parsed.calls[0].arguments == {"a": 1}
    odd_id = {"id": _deep(5000), "function": {"name": "f", "arguments": "{}"}}
    assert parse_action(_msg(odd_id)).calls == [ToolCall(name="f")]  # an id that is no string is dropped


def test_action_text_never_raises():
    assert action_text({"content": "hi \udcff"}) == "hi \ufffd"
    assert action_text({"content": [{"text": "a"}, {"text": "b"}]}) == "ab"
    assert action_text("x") == "x" and action_text(b"\xff") == "\ufffd"
    for odd in [{"content": _deep(5000)}, {"content": {"a": 1}}, {"content": 5}, None, 5, _deep(5000)]:
        assert action_text(odd) == ""


def test_repeated_keys_keep_the_last_value():
    parsed = parse_action('<tool_call>{"name": "a", "name": "b", "arguments": {"x": 1, "x": 2}}</tool_call>')
    assert parsed.calls == [ToolCall(name="b", arguments={"x": 2})]


def test_tool_calls_given_directly_still_go_through_the_checks():
    assert parse_action(ToolCall(name="f", arguments={"a": float("nan")})).errors  # NaN is no JSON
    call = ToolCall(name="f", arguments={"deep": _deep(5000, "dict")})
    assert call.canonical() and call.to_openai()  # never raise
    assert parse_action(call).errors  # and the cut-down arguments are rejected as too deep


def test_tool_results_are_clean():
    @tool
    def echo(text: str) -> str:
        """Echo."""
        return text + "\udcff"

    @tool
    def deep() -> object:
        """Something JSON cannot print."""
        return _deep(5000)

    tools = Toolset([echo, deep])
    result = tools.call(ToolCall(name="echo", arguments={"text": "a"}))
    assert result.ok and result.content == "a\ufffd"
    result = tools.call(ToolCall(name="deep"))
    assert _utf8(result.content)
    result = tools.call(ToolCall(name="echo", arguments={"k" * 10_000: 1, "text": "a"}))
    assert result.error_kind == "invalid_arguments" and len(result.content) < 1000


# ====================================================================== the writer
def test_record_json_writes_what_pydantic_cannot():
    from agentgym.trajectory import EpisodeRecord, StepRecord, config_hash, record_json

    record = EpisodeRecord(env_id="e", task_id="t", policy={"actions": [_deep(3000), "\udcff", {1: b"\xff"}]})
    record.steps.append(StepRecord(turn=1, action="\udcff", observation="ok",
                                   message={"content": "\ud800", "n": float("inf"), "big": 10**5000}))
    line = record_json(record)
    assert line.encode("utf-8")
    back = EpisodeRecord.model_validate_json(line)
    assert back.steps[0].action == "\ufffd" and back.steps[0].message == {"content": "\ufffd", "n": None,
                                                                          "big": "<integer of 16610 bits>"}
    assert record_json({"a": "\udcff", "d": _deep(3000)}).encode("utf-8")
    normal = EpisodeRecord(env_id="e", task_id="t")
    assert record_json(normal) == normal.model_dump_json(by_alias=True)  # the usual path is unchanged
    assert config_hash("e", {}, {"actions": [_deep(3000), "\udcff"]})  # a nasty policy description
    assert config_hash("e", {"k": 1}) == config_hash("e", {"k": 1})


# ====================================================================== a family grammar
@pytest.mark.parametrize(
    "text",
    [
        'click("\udcff")', "\udcff(1)", "click(" + "-" * 19000 + "1)", "click(" + "~" * 19000 + "1)",
        "click(" + "+".join(["1"] * 9000) + ")", "click(" + "not " * 4000 + "1)", "click(a" + ".a" * 9000 + ")",
        "click(1" + "[0]" * 6000 + ")", "fill(" + "(" * 5000 + '"1"' + ")" * 5000 + ")", 'fill("1", 1e999)',
        'fill("1", -1e999)', "click(" + "9" * 5000 + ")", 'click("\x00")', "x" * 100_000, 'click("a")\n' + "(" * 10_000,
    ],
)
def test_web_grammar_raises_only_its_syntax_error(text):
    from agentgym.envs.web.actions import ActionSyntaxError, attempts_action, parse_text_action

    try:
        call = parse_text_action(text)
    except ActionSyntaxError:
        attempts_action(text)
        return
    assert _utf8(call.model_dump())


def test_web_grammar_cleans_surrogate_escapes():
    from agentgym.envs.web.actions import parse_call

    assert parse_call('click("\\udcff")').arguments == {"id": "\ufffd"}
    assert parse_call('fill("1", "a\udcff")').arguments == {"id": "1", "text": "a\ufffd"}
