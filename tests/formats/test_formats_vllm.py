"""The same per-format fixtures through vLLM's own parser classes (by the names of vLLM's server
flags), with a tokenizer that holds each family's marker tokens; and the same results as the
built-in formats, so a reply is read alike with and without vLLM installed."""

from __future__ import annotations

import pytest
from format_fixtures import REASONING_FIXTURES, TOOL_FIXTURES
from test_formats_builtin import TOOLS, _cases

from agentgym.formats import ParserUnavailableError, ReplyFormat, make_reasoning_parser, make_tool_parser
from agentgym.parsing import parse_action


@pytest.mark.parametrize(("name", "text", "calls", "content"), _cases(TOOL_FIXTURES))
def test_vllm_tool_parsers_read_the_fixtures_like_the_builtin_ones(vllm_available, marker_tokenizer, name, text,
                                                                   calls, content):
    parser = make_tool_parser(name, tokenizer=marker_tokenizer)
    assert parser.describe() == f"vllm:{name}"
    found = parser.parse(text, TOOLS)
    assert found.errors == []
    assert [(c.name, c.arguments) for c in found.calls] == calls
    assert found.content == content
    builtin = make_tool_parser(f"builtin:{name}").parse(text, TOOLS)
    assert [(c.name, c.arguments) for c in builtin.calls] == calls


@pytest.mark.parametrize(("name", "text", "reasoning", "content"), _cases(REASONING_FIXTURES))
def test_vllm_reasoning_parsers_read_the_fixtures_like_the_builtin_ones(vllm_available, marker_tokenizer, name,
                                                                        text, reasoning, content):
    parser = make_reasoning_parser(name, tokenizer=marker_tokenizer)
    assert parser.describe() == f"vllm:{name}"
    split = parser.separate(text)
    assert (split.reasoning, split.content) == (reasoning, content)
    assert split.has_reasoning == bool(reasoning)
    builtin = make_reasoning_parser(f"builtin:{name}").separate(text)
    assert (builtin.reasoning, builtin.content) == (reasoning, content)


def test_vllm_formats_never_read_a_call_inside_reasoning(vllm_available, marker_tokenizer):
    inside = {
        "hermes": '<tool_call>{"name": "submit", "arguments": {}}</tool_call>',
        "llama3_json": '{"name": "submit", "parameters": {}}',
        "mistral": "[TOOL_CALLS]submit[ARGS]{}",
        "pythonic": "[submit()]",
        "qwen3_coder": "<tool_call>\n<function=submit>\n</function>\n</tool_call>",
        "kimi_k2": "<|tool_calls_section_begin|><|tool_call_begin|>functions.submit:0<|tool_call_argument_begin|>{}"
                   "<|tool_call_end|><|tool_calls_section_end|>",
    }
    for tool_name, call in inside.items():
        for reasoning_name in ("deepseek_r1", "qwen3", "mistral"):
            fmt = ReplyFormat.from_names(tool_name, reasoning_name, tokenizer=marker_tokenizer)
            assert fmt.describe() == {"tool_parser": f"vllm:{tool_name}", "reasoning_parser": f"vllm:{reasoning_name}"}
            for wrapper in ("<think>{}</think>", "[THINK]{}[/THINK]", "<think>{}"):
                parsed = parse_action(wrapper.format(call), reply_format=fmt, tools=TOOLS)
                assert parsed.calls == [], (tool_name, reasoning_name, wrapper)
            assert fmt.parse(call, TOOLS)[1].calls or reasoning_name != "mistral"  # outside reasoning it is read


def test_a_tokenizer_without_the_markers_is_refused_naming_the_fix(vllm_available, smollm2_path):
    with pytest.raises(ParserUnavailableError, match="builtin:llama3_json"):
        make_tool_parser("vllm:llama3_json", tokenizer=str(smollm2_path))
    with pytest.raises(ParserUnavailableError, match="unknown tool_parser"):
        make_tool_parser("vllm:no_such_format", tokenizer=str(smollm2_path))


def test_an_env_reads_replies_with_vllms_parser_given_a_tokenizer(vllm_available, smollm2_path):
    import warnings

    import gymnasium as gym

    import agentgym  # noqa: F401 - registers the envs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0", tool_parser="pythonic", parser_tokenizer=str(smollm2_path))
    try:
        assert env.unwrapped.reply_format.describe() == {"tool_parser": "vllm:pythonic",
                                                          "reasoning_parser": "builtin:think"}
        env.reset(seed=0)
        _, _, terminated, _, info = env.step("<think>[submit()]</think>[work()]")
        assert [c["name"] for c in info["tool_calls"]] == ["work"] and not terminated
    finally:
        env.close()
