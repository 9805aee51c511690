"""Shared test helpers: chat templates and a deterministic backend for the token-level policy base."""

from __future__ import annotations

from agentgym.baselines.policies.base import Generation, TokenPolicy

# ChatML like SmolLM2's, but earlier assistant turns are rewritten (as Qwen3 drops past reasoning):
# the prompt of turn 2 no longer contains the completion of turn 1.
REWRITING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' and not loop.last %}"
    "{{ '<|im_start|>assistant\\n(earlier reply)<|im_end|>\\n' }}"
    "{%- else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)

# A template that reads `tools` (like Qwen2.5's), to check tools are passed to the template.
TOOLS_TEMPLATE = (
    "{%- if tools %}{{ '<|im_start|>system\\nTOOLS:' }}{%- for t in tools %}{{ ' ' + t['function']['name'] }}{%- endfor %}"
    "{{ '<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' and message.get('tool_calls') %}"
    "{{ '<|im_start|>assistant\\n' }}{%- for c in message['tool_calls'] %}{{ 'CALL ' + c['function']['name'] }}{%- endfor %}"
    "{{ '<|im_end|>\\n' }}"
    "{%- else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


class ScriptedTokens(TokenPolicy):
    """A backend that returns fixed completion token ids (to test the agent-loop machinery exactly)."""

    name = "scripted-tokens"

    def __init__(self, tokenizer, completions: list[list[int]], **kwargs):
        super().__init__(tokenizer, **kwargs)
        self.completions = list(completions)
        self.prompts: list[list[int]] = []

    def _generate(self, prompt_ids, max_tokens):
        self.prompts.append(list(prompt_ids))
        ids = self.completions[min(len(self.prompts) - 1, len(self.completions) - 1)]
        return Generation(token_ids=list(ids), logprobs=[-0.5] * len(ids), finish_reason="stop")
