"""Token-exact multi-turn with a reasoning model whose chat template drops past reasoning.

SmolLM2's template renders an assistant turn from its content only (like Qwen3's for turns before
the last user message), so once the reasoning is separated into `reasoning_content` the template's
rendering of turn 1 no longer holds the sampled ids. The drift guard then either keeps the exact
ids (`warn`: layout `extends`) or uses the fresh rendering (`retokenize`: layout `restarts`); the
loss mask covers exactly the sampled ids in both, and the reasoning's token span is recorded.
"""

from __future__ import annotations

import json

import pytest

from agentgym.baselines.agent.drift import layout_of, loss_mask
from agentgym.baselines.policies import make_policy, split_options
from agentgym.baselines.policies.base import Generation, TokenPolicy

TOOLS = [{"type": "function", "function": {"name": "work", "parameters": {"type": "object", "properties": {}}}}]
REPLY_1 = '<think>I should work first.</think><tool_call>{"name": "work", "arguments": {}}</tool_call>'
REPLY_2 = "<think>Enough work.</think>All done."


class FixedCompletions(TokenPolicy):
    """A backend that returns fixed completion ids, to check the token bookkeeping exactly."""

    name = "fixed-completions"

    def __init__(self, tokenizer, completions, **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.completions = list(completions)
        self.prompts: list[list[int]] = []

    def _generate(self, prompt_ids, max_tokens):
        self.prompts.append(list(prompt_ids))
        ids = self.completions[len(self.prompts) - 1]
        return Generation(token_ids=list(ids), logprobs=[-0.1] * len(ids), finish_reason="stop")


def _ids(tokenizer, text):
    return tokenizer.encode(text, add_special_tokens=False) + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def _episode(tokenizer, drift):
    policy = FixedCompletions(tokenizer, [_ids(tokenizer, REPLY_1), _ids(tokenizer, REPLY_2)], drift=drift,
                              tool_parser="builtin:hermes", reasoning_parser="builtin:think")
    messages = [{"role": "user", "content": "Work, then stop."}]
    out1 = policy.act(messages, TOOLS)
    call = out1.message["tool_calls"][0]
    messages = [*messages, out1.message,
                {"role": "tool", "tool_call_id": call["id"], "name": "work", "content": "worked"}]
    out2 = policy.act(messages, TOOLS)
    return policy, messages, out1, out2


def test_reasoning_is_separated_and_its_token_span_recorded(smollm2_path):
    from agentgym.baselines.policies.base import load_tokenizer

    tokenizer = load_tokenizer(str(smollm2_path))
    policy, _, out1, _ = _episode(tokenizer, "warn")
    assert policy.describe()["formats"] == {"tool_parser": "builtin:hermes", "reasoning_parser": "builtin:think"}
    message = out1.message
    assert message["reasoning_content"] == "I should work first."
    assert message["content"] == "" and json.loads(message["tool_calls"][0]["function"]["arguments"]) == {}
    reasoning = out1.meta["reasoning"]
    (start, end), = reasoning["token_spans"]
    region = "<think>I should work first.</think>"
    ids = out1.completion_token_ids
    # the smallest token range covering the region (here the last token, '><', straddles its end)
    assert region in tokenizer.decode(ids[start:end])
    assert region not in tokenizer.decode(ids[start + 1:end]) and region not in tokenizer.decode(ids[start:end - 1])
    assert reasoning["tokens"] == end - start == message["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert message["usage"]["completion_tokens"] == len(out1.completion_token_ids)


@pytest.mark.parametrize(("drift", "layout"), [("warn", "extends"), ("retokenize", "restarts")])
def test_a_template_that_drops_past_reasoning_gives_one_of_two_layouts(smollm2_path, drift, layout):
    from agentgym.baselines.policies.base import load_tokenizer

    tokenizer = load_tokenizer(str(smollm2_path))
    policy, messages, out1, out2 = _episode(tokenizer, drift)
    assert out1.meta["layout"] == "start" and out2.meta["layout"] == layout
    drift_record = out2.meta["drift"]  # the template rendered turn 1 without its reasoning
    assert drift_record["in_completion"] and "I should work first" not in drift_record["rendered_text"]
    history = out1.prompt_token_ids + out1.completion_token_ids
    fresh = policy.chat.render_ids(messages, TOOLS)
    if layout == "extends":  # the exact sampled ids stay; the template's suffix follows them
        assert out2.prompt_token_ids[: len(history)] == history and drift_record["fallback"] == "kept_ids"
        suffix = tokenizer.decode(out2.prompt_token_ids[len(history):])
        assert suffix == "\n<|im_start|>user\n<tool_response>\nworked\n</tool_response><|im_end|>\n<|im_start|>assistant\n"
        assert fresh[-len(out2.prompt_token_ids[len(history):]):] == out2.prompt_token_ids[len(history):]
    else:  # the next prompt is the template's own rendering, as the model was trained on
        assert out2.prompt_token_ids == fresh and drift_record["fallback"] == "retokenized"
    assert layout_of(None, out1.prompt_token_ids) == "start"

    turns = [(out1.prompt_token_ids, out1.completion_token_ids), (out2.prompt_token_ids, out2.completion_token_ids)]
    sequences = loss_mask(turns)
    assert len(sequences) == (1 if layout == "extends" else 2)
    sampled = [i for ids, mask in sequences for i, m in zip(ids, mask, strict=True) if m]
    assert sampled == out1.completion_token_ids + out2.completion_token_ids  # exactly the sampled ids
    for ids, mask in sequences:
        assert len(ids) == len(mask)


def test_parser_options_in_policy_strings(smollm2_path):
    _, options = split_options("smollm2?tool_parser=pythonic&reasoning_parser=deepseek_r1", "hf")
    assert options == {"tool_parser": "pythonic", "reasoning_parser": "deepseek_r1"}
    with pytest.raises(ValueError, match="tool_parser"):
        make_policy("smollm2?tool_parser=no_such_format")
