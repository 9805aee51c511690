"""Agent-loop pieces with the real SmolLM2 tokenizer: chat format, tool calls, drift guard, context."""

from __future__ import annotations

import json

import pytest
from baselines_helpers import REWRITING_TEMPLATE, TOOLS_TEMPLATE, ScriptedTokens

from agentgym.baselines.agent import ChatFormat, TokenDriftError, assistant_message
from agentgym.baselines.policies import make_policy, split_options

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "work",
            "description": "Do work.",
            "parameters": {"type": "object", "properties": {}},
        },
    }
]


def _eos(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False) + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def _conversation(reply: str, observation: str = "done") -> list[dict]:
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Do the task."},
        {"role": "assistant", "content": reply},
        {"role": "tool", "tool_call_id": "c1", "name": "work", "content": observation},
    ]


def test_tools_go_into_the_system_prompt_when_the_template_has_none(tokenizer):
    chat = ChatFormat(tokenizer)
    assert not chat.native_tools  # SmolLM2's template ignores `tools`
    text = chat.render_text(_conversation("<tool_call>{}</tool_call>"), TOOLS)
    assert text.startswith("<|im_start|>system\nBe brief.\n\n# Tools")
    assert '"name": "work"' in text
    assert "<|im_start|>user\n<tool_response>\ndone\n</tool_response><|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_structured_tool_calls_are_rendered_as_text_once(tokenizer):
    chat = ChatFormat(tokenizer)
    call = {"id": "c1", "type": "function", "function": {"name": "work", "arguments": "{}"}}
    structured = chat.render_text(
        [{"role": "user", "content": "go"}, {"role": "assistant", "content": "", "tool_calls": [call]}], TOOLS
    )
    assert structured.count('<tool_call>\n{"name": "work", "arguments": {}}\n</tool_call>') == 1
    # content that already holds the call text wins over the structured calls (no double rendering)
    raw = '<tool_call>{"name": "work", "arguments": {}}</tool_call>'
    both = chat.render_text(
        [{"role": "user", "content": "go"}, {"role": "assistant", "content": raw, "tool_calls": [call]}],
        TOOLS,
    )
    reply_part = both.split("<|im_start|>assistant\n")[1]
    assert reply_part == raw + "<|im_end|>\n"


def test_tools_are_passed_to_a_template_that_supports_them(tokenizer):
    chat = ChatFormat(tokenizer, chat_template=TOOLS_TEMPLATE)
    assert chat.native_tools
    call = {"id": "c1", "type": "function", "function": {"name": "work", "arguments": "{}"}}
    text = chat.render_text(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        TOOLS,
    )
    assert text.startswith("<|im_start|>system\nTOOLS: work<|im_end|>")
    assert "CALL work" in text and "<|im_start|>tool\nok<|im_end|>" in text


def test_assistant_message_parses_tool_calls_only_when_clean():
    message = assistant_message('thinking <tool_call>{"name": "work", "arguments": {"n": 2}}</tool_call>')
    assert message["content"].startswith("thinking")
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "work" and json.loads(call["function"]["arguments"]) == {"n": 2}
    assert "tool_calls" not in assistant_message("<tool_call>{not json</tool_call>")
    assert "tool_calls" not in assistant_message("plain text")


def test_turn_prompts_extend_previous_prompt_and_completion(tokenizer):
    reply = '<tool_call>{"name": "work", "arguments": {}}</tool_call>'
    policy = ScriptedTokens(tokenizer, [_eos(tokenizer, reply)])
    messages = _conversation(reply)[:2]
    out1 = policy.act(messages, TOOLS)
    assert out1.message["tool_calls"][0]["function"]["name"] == "work"
    messages = [
        *messages,
        out1.message,
        {"role": "tool", "tool_call_id": "c1", "name": "work", "content": "progress 1"},
    ]
    out2 = policy.act(messages, TOOLS)
    history = out1.prompt_token_ids + out1.completion_token_ids
    assert out2.prompt_token_ids[: len(history)] == history
    assert "drift" not in out2.meta and out2.meta["turn"] == 2
    assert policy.drift_stats() == {"checks": 1, "violations": 0}


def test_drift_guard_fires_on_a_template_that_rewrites_history(tokenizer):
    reply = "I will work."
    for mode in ("warn", "retokenize", "error"):
        policy = ScriptedTokens(
            tokenizer, [_eos(tokenizer, reply)], chat_template=REWRITING_TEMPLATE, drift=mode
        )
        messages = [{"role": "user", "content": "Do the task."}]
        out1 = policy.act(messages, TOOLS)
        messages = [*messages, out1.message, {"role": "user", "content": "Continue."}]
        if mode == "error":
            with pytest.raises(TokenDriftError) as info:
                policy.act(messages, TOOLS)
            assert info.value.violation["in_completion"]
            continue
        out2 = policy.act(messages, TOOLS)
        drift = out2.meta["drift"]
        assert drift["turn"] == 2 and drift["in_completion"] and drift["mode"] == mode
        assert "(earlier reply)" in drift["rendered_text"] and "work" in drift["expected_text"]
        # no append-only rendering exists for this template: the fresh rendering is used, and said so
        assert drift["fallback"] == "retokenized"
        assert out2.prompt_token_ids == policy.chat.render_ids(messages, TOOLS)
        assert policy.drift_stats()["violations"] == 1


def test_retokenization_drift_keeps_the_exact_ids_in_warn_mode(tokenizer):
    # The model produced "hello" as two tokens 'hel' + 'lo'; re-tokenizing the decoded text gives
    # the canonical single token, so a naive loop would change the history under the model's feet.
    pieces = [tokenizer.encode(p, add_special_tokens=False) for p in ("hel", "lo")]
    odd = [i for p in pieces for i in p]
    assert odd != tokenizer.encode("hello", add_special_tokens=False)
    completion = odd + [tokenizer.convert_tokens_to_ids("<|im_end|>")]
    for mode, kept in (("warn", True), ("retokenize", False)):
        policy = ScriptedTokens(tokenizer, [completion], drift=mode)
        messages = [{"role": "user", "content": "Say hello."}]
        out1 = policy.act(messages, [])
        assert out1.message["content"] == "hello"
        messages = [*messages, out1.message, {"role": "user", "content": "Again."}]
        out2 = policy.act(messages, [])
        drift = out2.meta["drift"]
        assert drift["in_completion"] and drift["position"] == len(out1.prompt_token_ids)
        history = out1.prompt_token_ids + out1.completion_token_ids
        assert (out2.prompt_token_ids[: len(history)] == history) is kept
        assert drift["fallback"] == ("kept_ids" if kept else "retokenized")
        if kept:  # the appended part is exactly what the template adds for the new message
            suffix = out2.prompt_token_ids[len(history) :]
            assert tokenizer.decode(suffix) == "\n<|im_start|>user\nAgain.<|im_end|>\n<|im_start|>assistant\n"


def test_context_policy_omits_oldest_observations_then_stops(tokenizer):
    long_obs = "lorem ipsum " * 40  # 200 tokens each
    reply = _eos(tokenizer, "ok")
    messages = [{"role": "user", "content": "task"}]
    for i in range(4):
        messages += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": f"{i} {long_obs}"}]
    policy = ScriptedTokens(tokenizer, [reply], max_model_len=700, min_completion_tokens=32)
    out = policy.act(messages, [])
    context = out.meta["context"]
    assert context["omitted_observations"] >= 2 and context["prompt_tokens"] + 32 <= 700
    assert "omitted to fit" in policy.chat.decode(out.prompt_token_ids)
    assert "3 lorem" in policy.chat.decode(out.prompt_token_ids)  # the latest observation is kept
    stopper = ScriptedTokens(tokenizer, [reply], max_model_len=700, context_strategy="stop")
    stopped = stopper.act(messages, [])
    assert stopped.finish_reason == "context_length" and stopped.meta["stop"] and stopper.prompts == []


def test_policy_spec_parsing():
    body, options = split_options("http://h:1#m?temperature=0.5&max_tokens=7&stop=a,b&drift=error")
    assert body == "http://h:1#m"
    assert options == {"temperature": 0.5, "max_tokens": 7, "stop": ["a", "b"], "drift": "error"}
    assert make_policy("random:3").describe() == {"name": "random", "seed": 3}
    assert make_policy("oracle").name == "oracle"
    for bad in ("vllm:http://h:1", "nonsense:x", "openai:#m"):
        with pytest.raises(ValueError):
            make_policy(bad)
