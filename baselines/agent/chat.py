"""Render a conversation with tools into a prompt, using the model's own chat template.

`ChatFormat(tokenizer)` renders OpenAI-style messages + tools to text and token ids:

- If the tokenizer's chat template uses `tools` (Qwen2.5/3, Llama 3.1, Hermes, ...), tools are
  passed to the template (`apply_chat_template(..., tools=tools)`) and assistant `tool_calls` /
  `tool` messages are given to it as they are.
- Otherwise (SmolLM2-135M-Instruct's template knows nothing of tools) the tools are rendered into
  the system prompt in the Hermes convention that agentgym's parser reads
  (`<tools>[schemas]</tools>`, answer with `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`),
  tool results become user turns wrapped in `<tool_response>...</tool_response>`, and assistant
  turns are rendered from their text only. That rendering is deterministic and append-only, so the
  token ids of each turn extend the previous turn's (what the drift guard checks).

Assistant messages are always rendered from the text the model produced: when the content already
holds the `<tool_call>` blocks, the structured `tool_calls` are dropped before rendering so no
template renders the calls twice. An assistant message's `reasoning_content` is given to the
template (Qwen3's and DeepSeek-R1's read it, and drop it from turns before the last user message);
a template that ignores it renders the turn without its reasoning.

`render_suffix_ids` gives the tokens a template puts after a completion. For a template that rewrites
the completion's own turn (drops its reasoning, re-renders its calls), the turn is rendered with a
placeholder in its place and the suffix is what follows the placeholder, less the end-of-turn text
the completion already holds: the exact sampled ids then stay in the next prompt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentgym.parsing import message_text

TOOLS_SYSTEM_TEMPLATE = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""


def template_supports_tools(template: str | None) -> bool:
    """Whether a Jinja chat template reads the `tools` variable."""
    if not template:
        return False
    return "tools" in template


def tools_system_prompt(tools: Sequence[dict[str, Any]]) -> str:
    return TOOLS_SYSTEM_TEMPLATE.format(tools="\n".join(json.dumps(t, ensure_ascii=False) for t in tools))


def _tool_call_text(message: dict[str, Any]) -> str:
    parts = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function", call)
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        parts.append("<tool_call>\n" + json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False) + "\n</tool_call>")
    return "\n".join(parts)


class ChatFormat:
    """Messages + tools -> prompt text / token ids with a tokenizer's chat template."""

    def __init__(self, tokenizer: Any, *, chat_template: str | None = None, native_tools: bool | None = None,
                 default_system_prompt: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.chat_template = chat_template  # None: the tokenizer's own
        template = chat_template or getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):  # several named templates
            template = template.get("tool_use") or template.get("default")
        self.native_tools = template_supports_tools(template) if native_tools is None else native_tools
        self.default_system_prompt = default_system_prompt

    def describe(self) -> dict[str, Any]:
        return {"native_tools": self.native_tools, "custom_template": self.chat_template is not None}

    # -- message normalisation -------------------------------------------------------------------
    def normalize(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """The messages as this template will see them (see module docstring)."""
        out: list[dict[str, Any]] = []
        for message in messages:
            role = message.get("role", "user")
            content = message_text(message.get("content"))
            if role == "assistant":
                calls = message.get("tool_calls") or []
                if "<tool_call>" in content or not calls:
                    item = {"role": "assistant", "content": content}
                elif self.native_tools:
                    item = {"role": "assistant", "content": content, "tool_calls": [self._openai_call(c) for c in calls]}
                else:
                    text = _tool_call_text(message)
                    item = {"role": "assistant", "content": f"{content}\n{text}" if content else text}
                reasoning = message.get("reasoning_content")
                if isinstance(reasoning, str) and reasoning:
                    item["reasoning_content"] = reasoning
                out.append(item)
            elif role == "tool":
                if self.native_tools:
                    item = {"role": "tool", "content": content}
                    for key in ("tool_call_id", "name"):
                        if message.get(key):
                            item[key] = message[key]
                    out.append(item)
                else:
                    out.append({"role": "user", "content": f"<tool_response>\n{content}\n</tool_response>"})
            else:
                out.append({"role": role, "content": content})
        if tools and not self.native_tools:
            block = tools_system_prompt(tools)
            if out and out[0]["role"] == "system":
                out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{block}" if out[0]["content"] else block}
            else:
                head = self.default_system_prompt
                out.insert(0, {"role": "system", "content": f"{head}\n\n{block}" if head else block})
        return out

    @staticmethod
    def _openai_call(call: dict[str, Any]) -> dict[str, Any]:
        fn = call.get("function", call)
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        return {"id": call.get("id", ""), "type": "function", "function": {"name": fn.get("name"), "arguments": args}}

    # -- rendering ---------------------------------------------------------------------------------
    def render_text(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None,
                    *, add_generation_prompt: bool = True) -> str:
        normalized = self.normalize(messages, tools)
        kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
        if self.native_tools and tools:
            kwargs["tools"] = list(tools)
        if self.chat_template is not None:
            kwargs["chat_template"] = self.chat_template
        return self.tokenizer.apply_chat_template(normalized, **kwargs)

    def encode(self, text: str) -> list[int]:
        """Token ids of rendered template text (special tokens are in the text already)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def render_ids(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None,
                   *, add_generation_prompt: bool = True) -> list[int]:
        return self.encode(self.render_text(messages, tools, add_generation_prompt=add_generation_prompt))

    def render_suffix_ids(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None,
                          n_before: int, completion_ids: Sequence[int]) -> list[int] | None:
        """Token ids the template puts after a completion: the turn's closing, the new messages, the
        next generation prompt.

        `messages[:n_before]` is the conversation the completion answered and `messages[n_before]`
        the assistant message made from it. The template's rendering of the whole conversation must
        start with its rendering of `messages[:n_before]` (with the generation prompt) followed by
        the completion's text; what follows is the suffix. None when the template rendered the
        earlier turns differently (no append-only suffix exists).
        """
        base = self.render_text(messages[:n_before], tools, add_generation_prompt=True)
        full = self.render_text(messages, tools, add_generation_prompt=True)
        completion = self.decode(completion_ids, skip_special_tokens=False)
        if full.startswith(base) and full[len(base):].startswith(completion):
            # Tokenize the suffix on its own: the earlier ids are kept exactly as they were.
            return self.encode(full[len(base) + len(completion):])
        return self._suffix_after_placeholder(messages, tools, n_before, completion)

    def _suffix_after_placeholder(self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None,
                                  n_before: int, completion: str) -> list[int] | None:
        """The suffix when the template rewrites the completion's turn (module docstring)."""
        if n_before >= len(messages) or messages[n_before].get("role") != "assistant":
            return None
        placeholder = "\x00agentgym-completion\x00"
        swapped = [*messages[:n_before], {"role": "assistant", "content": placeholder}, *messages[n_before + 1:]]
        rendered = self.render_text(swapped, tools, add_generation_prompt=True)
        if rendered.count(placeholder) != 1:
            return None
        after = rendered[rendered.index(placeholder) + len(placeholder):]
        # the end-of-turn text the model already produced (e.g. `<|im_end|>`) is not repeated
        overlap = next((k for k in range(min(64, len(after), len(completion)), 0, -1) if completion.endswith(after[:k])), 0)
        return self.encode(after[overlap:])

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)
