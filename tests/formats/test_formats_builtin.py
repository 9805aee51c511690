"""The built-in reply formats on the per-format fixtures, names resolved as documented, and the env
options `tool_parser=` / `reasoning_parser=` (bad names refused with one clear line)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from format_fixtures import (
    BUILTIN_ONLY_REASONING_FIXTURES,
    BUILTIN_ONLY_TOOL_FIXTURES,
    REASONING_FIXTURES,
    TOOL_FIXTURES,
)

import agentgym  # noqa: F401 - registers the envs
from agentgym.formats import (
    BUILTIN_REASONING,
    BUILTIN_TOOL_PARSERS,
    ParserUnavailableError,
    ReplyFormat,
    make_reasoning_parser,
    make_tool_parser,
    supported_names,
)
from agentgym.parsing import parse_action

TOOLS = [
    {"type": "function", "function": {"name": "work", "parameters": {
        "type": "object", "properties": {"units": {"type": "integer"}}}}},
    {"type": "function", "function": {"name": "submit", "parameters": {
        "type": "object", "properties": {"note": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}},
]


def _cases(*tables):
    return [(name, *case) for table in tables for name, cases in table.items() for case in cases]


@pytest.mark.parametrize(("name", "text", "calls", "content"), _cases(TOOL_FIXTURES, BUILTIN_ONLY_TOOL_FIXTURES))
def test_builtin_tool_formats_read_their_fixtures(name, text, calls, content):
    parser = make_tool_parser(f"builtin:{name}")
    assert parser.describe() == f"builtin:{name}"
    found = parser.parse(text, TOOLS)
    assert found.errors == []
    assert [(c.name, c.arguments) for c in found.calls] == calls
    assert found.content == content


@pytest.mark.parametrize(("name", "text", "reasoning", "content"),
                         _cases(REASONING_FIXTURES, BUILTIN_ONLY_REASONING_FIXTURES))
def test_builtin_reasoning_formats_read_their_fixtures(name, text, reasoning, content):
    split = make_reasoning_parser(f"builtin:{name}").separate(text)
    assert (split.reasoning, split.content) == (reasoning, content)
    assert split.has_reasoning == bool(reasoning)
    covered = "".join(text[start:end] for start, end in split.spans)  # the reasoning, markers included
    assert all(piece in covered for piece in reasoning.split("\n"))
    if name != "openai_gptoss":  # cutting the spans out leaves the content
        kept, position = [], 0
        for start, end in split.spans:
            kept.append(text[position:start])
            position = end
        assert ("".join(kept) + text[position:]).strip() == content


@pytest.mark.parametrize("name", sorted(BUILTIN_TOOL_PARSERS))
def test_malformed_calls_are_errors_for_the_agent_never_exceptions(name):
    broken = {
        "hermes": '<tool_call>{"name": "work", "arguments": {</tool_call>',
        "llama3_json": '{"name": "work", "parameters": {"units": }',
        "mistral": '[TOOL_CALLS]work[ARGS]{"units": ',
        "pythonic": "[work(units=open('x'))]",
        "qwen3_coder": "<tool_call><function=work><parameter=units>four</parameter></function></tool_call>",
        "openai": "<|channel|>commentary to=functions.work <|message|>{not json<|call|>",
    }[name]
    found = make_tool_parser(f"builtin:{name}").parse(broken, TOOLS)
    assert found.calls == [] and len(found.errors) == 1 and "tool call 1" in found.errors[0]


def test_names_resolve_to_builtin_without_a_tokenizer_and_bad_names_are_refused():
    assert make_tool_parser("hermes").describe() == "builtin:hermes"  # no tokenizer: vLLM's class cannot start
    assert make_tool_parser("qwen3_json").describe() == "builtin:hermes"  # vLLM's alias, same format
    assert make_reasoning_parser(None).describe() == "builtin:think"
    with pytest.raises(ParserUnavailableError, match="tool_parser='no_such'"):
        make_tool_parser("no_such")
    with pytest.raises(ParserUnavailableError, match="expected NAME, vllm:NAME or builtin:NAME"):
        make_tool_parser("cloud:hermes")
    with pytest.raises(ParserUnavailableError, match="needs the model's tokenizer"):
        make_reasoning_parser("vllm:deepseek_r1")
    names = supported_names()
    assert set(BUILTIN_TOOL_PARSERS) <= set(names["builtin_tool_parsers"])
    assert set(BUILTIN_REASONING) == set(names["builtin_reasoning_parsers"])


def test_a_call_inside_reasoning_is_never_read_under_any_pair_of_formats():
    inside = {
        "hermes": '<tool_call>{"name": "submit", "arguments": {}}</tool_call>',
        "llama3_json": '{"name": "submit", "parameters": {}}',
        "mistral": "[TOOL_CALLS]submit[ARGS]{}",
        "pythonic": "[submit()]",
        "qwen3_coder": "<tool_call><function=submit></function></tool_call>",
        "openai": "<|channel|>commentary to=functions.submit <|message|>{}<|call|>",
    }
    wrappers = ["<think>{}</think>", "[THINK]{}[/THINK]", "<think>{}"]
    for tool_name, call in inside.items():
        for reasoning_name in BUILTIN_REASONING:
            fmt = ReplyFormat.from_names(f"builtin:{tool_name}", f"builtin:{reasoning_name}")
            for wrapper in wrappers:
                parsed = parse_action(wrapper.format(call), reply_format=fmt, tools=TOOLS)
                assert parsed.calls == [], (tool_name, reasoning_name, wrapper)
                assert "submit" in parsed.reasoning


def test_the_reproduced_bug_reasoning_submit_is_not_executed():
    """`<think>` holding a submit call followed by a real work call ran both, the submit first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0")
    env.reset(seed=0)
    action = ('<think>maybe <tool_call>{"name": "submit", "arguments": {}}</tool_call> no</think>'
              '<tool_call>{"name": "work", "arguments": {}}</tool_call>')
    _, _, terminated, _, info = env.step(action)
    assert [c["name"] for c in info["tool_calls"]] == ["work"] and not terminated
    assert "submit" in info["reasoning"]
    assert env.unwrapped.transcript[-2]["reasoning_content"].startswith("maybe")
    _, _, terminated, _, info = env.step('<think><tool_call>{"name": "submit", "arguments": {}}</tool_call>')
    assert info["tool_calls"] == [] and not terminated and info["action_valid"] is False
    env.close()


@pytest.mark.parametrize(("options", "action", "called"), [
    ({"tool_parser": "pythonic"}, '<think>[submit()]</think>[work(units=1)]', ["work"]),
    ({"tool_parser": "mistral", "reasoning_parser": "mistral"}, "[THINK][TOOL_CALLS]submit{}[/THINK]"
     "[TOOL_CALLS]work{}", ["work"]),
    ({"tool_parser": "llama3_json", "reasoning_parser": "qwen3"}, '{"name": "submit", "parameters": {}}', []),
    ({"tool_parser": "llama3_json", "reasoning_parser": "qwen3"}, 'ok</think>{"name": "work", "parameters": {}}',
     ["work"]),
])
def test_env_options_choose_the_format(options, action, called):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0", **options)
    env.reset(seed=0)
    _, _, _, _, info = env.step(action)
    assert [c["name"] for c in info["tool_calls"]] == called
    assert env.unwrapped.reply_format.describe()["tool_parser"] == f"builtin:{options['tool_parser']}"
    env.close()


def test_env_refuses_an_unknown_parser_name_in_one_line():
    with pytest.raises(ValueError, match="tool_parser='herms'") as info:
        gym.make("agentgym/StallOrSubmit-v0", tool_parser="herms")
    assert "\n" not in str(info.value)


def test_reasoning_components_are_emitted_when_the_spec_reads_them():
    spec = {"levels": [
        {"name": "outcome", "scope": "trajectory", "components": ["outcome"],
         "values": {"tests_pass": 1.0, "tests_fail": 0.1, "no_submit": 0.0}},
        {"name": "brevity", "scope": "step", "components": {"reasoning_chars": -0.001, "reasoning_tokens": -0.01}},
    ]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0", reward=spec)
        plain = gym.make("agentgym/StallOrSubmit-v0")
    env.reset(seed=0)
    message = {"role": "assistant", "content": "<think>12345</think>[x]", "reasoning_content": "abc",
               "usage": {"completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 7}}}
    _, _, _, _, info = env.step(message)
    assert info["components"]["reasoning_chars"] == len("abc\n12345")
    assert info["components"]["reasoning_tokens"] == 7.0
    _, _, _, _, info = env.step("no reasoning")
    assert info["components"]["reasoning_chars"] == 0.0 and info["components"]["reasoning_tokens"] == 0.0
    plain.reset(seed=0)
    _, _, _, _, info = plain.step(message)  # a spec that does not read them leaves the components as they were
    assert "reasoning_chars" not in info["components"]
    env.close()
    plain.close()
