"""Property: a tool call written inside reasoning is never executed, whatever the formats.

Replies are generated with calls to a `secret` tool, in every built-in format, inside a reasoning
block (`<think>...</think>`, `[THINK]...[/THINK]`, an unclosed `<think>`, a block the template opened
before the reply, a harmony `analysis` message), around random text, followed by a real call in the
format under test. Under every pair of built-in tool-call and reasoning formats: `secret` is never
among the parsed calls, and the real call is read exactly when it sits outside the reasoning. The
same holds end to end in an env, where a `submit` inside reasoning never ends the episode.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import agentgym  # noqa: F401 - registers the envs
from agentgym.formats import BUILTIN_REASONING, BUILTIN_TOOL_PARSERS, ReplyFormat
from agentgym.parsing import parse_action


def call_in(fmt: str, name: str) -> str:
    return {
        "hermes": f'<tool_call>{{"name": "{name}", "arguments": {{}}}}</tool_call>',
        "llama3_json": f'{{"name": "{name}", "parameters": {{}}}}',
        "mistral": f"[TOOL_CALLS]{name}[ARGS]{{}}",
        "pythonic": f"[{name}()]",
        "qwen3_coder": f"<tool_call>\n<function={name}>\n</function>\n</tool_call>",
        "openai": f"<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>{{}}<|call|>",
    }[fmt]


#: formats whose call must be the whole reply (no text around it)
WHOLE_REPLY = {"llama3_json", "pythonic"}
CLOSERS = ("</think>", "[/THINK]", "<|end|>")
TEXT = st.text(alphabet=st.sampled_from(list("abc xyz,.:;\n\"'(){}[]<>=/|_-0123456789")), max_size=40)
WRAPPERS = ("think", "THINK", "unclosed", "opened_by_template", "harmony")


def reasoning_block(wrapper: str, body: str) -> str:
    return {
        "think": f"<think>{body}</think>",
        "THINK": f"[THINK]{body}[/THINK]",
        "unclosed": f"<think>{body}",
        "opened_by_template": f"{body}</think>",
        "harmony": f"<|channel|>analysis<|message|>{body}<|end|>",
    }[wrapper]


def real_call_expected(wrapper: str, reasoning: str) -> bool:
    """Whether the call after the block is outside the reasoning, by the format's documented rules."""
    if wrapper == "unclosed":
        return False  # generation stopped inside the block: everything after `<think>` is reasoning
    opened_by_template = getattr(BUILTIN_REASONING[reasoning], "opened_by_template", False)
    return not (wrapper in ("THINK", "harmony") and opened_by_template)  # no `</think>`: these templates opened one


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tool=st.sampled_from(sorted(BUILTIN_TOOL_PARSERS)),
    reasoning=st.sampled_from(sorted(BUILTIN_REASONING)),
    wrapper=st.sampled_from(WRAPPERS),
    inner=st.lists(st.tuples(TEXT, st.sampled_from(sorted(BUILTIN_TOOL_PARSERS))), min_size=1, max_size=4),
    before=TEXT,
)
def test_no_call_inside_reasoning_is_ever_parsed(tool, reasoning, wrapper, inner, before):
    body = "".join(text + call_in(fmt, "secret") for text, fmt in inner)
    assume(not any(closer in body for closer in CLOSERS))
    if wrapper == "harmony":
        assume("<|" not in before)
    prefix = "" if tool in WHOLE_REPLY else before.replace("<", " ").replace("[", " ")
    reply = prefix + reasoning_block(wrapper, body) + call_in(tool, "work")
    fmt = ReplyFormat.from_names(f"builtin:{tool}", f"builtin:{reasoning}")
    for action in (reply, {"role": "assistant", "content": reply}):
        parsed = parse_action(action, reply_format=fmt)
        names = [c.name for c in parsed.calls]
        assert "secret" not in names, (tool, reasoning, wrapper, reply)
        assert "secret" in parsed.reasoning
        if real_call_expected(wrapper, reasoning):
            assert names == ["work"], (tool, reasoning, wrapper, reply, parsed.errors)
        else:
            assert names == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tool=st.sampled_from(sorted(BUILTIN_TOOL_PARSERS)),
    reasoning=st.sampled_from(sorted(BUILTIN_REASONING)),
    wrapper=st.sampled_from(("think", "THINK", "unclosed", "opened_by_template")),
    text=TEXT,
)
def test_a_submit_inside_reasoning_never_ends_an_episode(tool, reasoning, wrapper, text):
    assume(not any(closer in text for closer in CLOSERS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0", tool_parser=f"builtin:{tool}",
                       reasoning_parser=f"builtin:{reasoning}", max_turns=3)
    try:
        env.reset(seed=0)
        reply = reasoning_block(wrapper, text + call_in(tool, "submit") + text)
        _, _, terminated, _, info = env.step(reply)
        assert not terminated and info["tool_calls"] == []
        assert "submit" in env.unwrapped.transcript[-2]["reasoning_content"]
    finally:
        env.close()
