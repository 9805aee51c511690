"""Separate a model's reasoning from the rest of its reply, before any tool call is read.

Reasoning models write their chain of thought between markers (`<think>...</think>` for DeepSeek-R1,
Qwen3, GLM, Kimi; `[THINK]...[/THINK]` for Magistral; the `analysis` channel of gpt-oss's harmony
format). What sits there is thinking, never action: a tool call written inside it must not run.
Every parse path (the env's and the token policies') calls a separator from here first and reads
tool calls only from what is left (`ReasoningSplit.content`).

Built-in separators (no dependency), by the names vLLM's `--reasoning-parser` uses:

- `think`: every `<think>...</think>` block anywhere in the text is reasoning; an unclosed `<think>`
  makes the rest of the text reasoning (generation stopped while thinking); a `</think>` with no
  opening tag makes everything before it reasoning (templates that open the block in the prompt).
  Text without the markers is all content. The env's default.
- `deepseek_r1`, `qwen3`, `glm45`, `kimi_k2`: the templates of these families open the reasoning
  block themselves, so as in vLLM a reply with no `</think>` is all reasoning; otherwise as `think`.
- `mistral`: `[THINK]...[/THINK]` blocks; text without them is content.
- `openai_gptoss`: harmony channels: `analysis` messages are reasoning, `final` (and `commentary`
  text) is content; tool calls in `commentary` channels are left in the content for the `openai`
  tool-call format.

Each split also gives the character spans of the reasoning regions (markers included), from which
a token policy derives the token span of the reasoning in the sampled ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agentgym.tools import clean_text


@dataclass
class ReasoningSplit:
    """One reply split into reasoning and content.

    `spans`: (start, end) character offsets in the original text of each reasoning region,
    markers included; cutting them out leaves `content` (up to whitespace at the seams)."""

    reasoning: str
    content: str
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def has_reasoning(self) -> bool:
        return bool(self.spans)


class TagSeparator:
    """Reasoning between an opening and a closing marker (see the module docstring)."""

    implementation = "builtin"

    def __init__(self, name: str, start: str, end: str, *, opened_by_template: bool = False) -> None:
        self.name = name
        self.start = start
        self.end = end
        #: the chat template opens the block in the prompt: no closing marker means all reasoning
        self.opened_by_template = opened_by_template

    def describe(self) -> str:
        return f"{self.implementation}:{self.name}"

    def separate(self, text: str) -> ReasoningSplit:
        text = clean_text(text)
        spans: list[tuple[int, int]] = []
        pieces: list[str] = []
        position = 0
        first_end = text.find(self.end)
        first_start = text.find(self.start)
        if first_end != -1 and (first_start == -1 or first_end < first_start):
            # the block was opened before the reply (by the template): everything up to `end` is reasoning
            pieces.append(text[:first_end])
            position = first_end + len(self.end)
            spans.append((0, position))
        elif first_start == -1 and first_end == -1 and self.opened_by_template and text:
            return ReasoningSplit(text.strip(), "", [(0, len(text))])
        content_parts = [text[:spans[0][0]]] if spans else []
        while True:
            start = text.find(self.start, position)
            if start == -1:
                content_parts.append(text[position:])
                break
            content_parts.append(text[position:start])
            inner_start = start + len(self.start)
            end = text.find(self.end, inner_start)
            if end == -1:  # unclosed: the rest is reasoning
                pieces.append(text[inner_start:])
                spans.append((start, len(text)))
                position = len(text)
                break
            pieces.append(text[inner_start:end])
            position = end + len(self.end)
            spans.append((start, position))
        content = "".join(content_parts)
        if spans:
            content = content.strip()
        return ReasoningSplit("\n".join(p.strip() for p in pieces).strip(), content, spans)


#: an analysis message ends only at `<|end|>` (or where the next message starts): a `<|call|>` or
#: `<|return|>` written inside it does not end the reasoning
_HARMONY_ANALYSIS = re.compile(
    r"(?:<\|start\|>[^<]*)?<\|channel\|>analysis[^<]*(?:<\|constrain\|>[^<]*)?<\|message\|>(?P<body>.*?)"
    r"(?:<\|end\|>|(?=<\|start\|>)|\Z)",
    re.DOTALL,
)
_HARMONY_MESSAGE = re.compile(
    r"(?:<\|start\|>[^<]*)?<\|channel\|>(?P<channel>analysis|final|commentary)(?P<header>[^<]*)"
    r"(?:<\|constrain\|>[^<]*)?<\|message\|>(?P<body>.*?)(?P<stop><\|end\|>|<\|call\|>|<\|return\|>|\Z)",
    re.DOTALL,
)


class HarmonySeparator:
    """gpt-oss harmony output: `analysis` channel messages are reasoning (module docstring)."""

    implementation = "builtin"
    name = "openai_gptoss"

    def describe(self) -> str:
        return f"{self.implementation}:{self.name}"

    def separate(self, text: str) -> ReasoningSplit:
        text = clean_text(text)
        spans: list[tuple[int, int]] = []
        pieces: list[str] = []
        kept: list[str] = []
        position = 0
        for match in _HARMONY_ANALYSIS.finditer(text):
            kept.append(text[position:match.start()])
            pieces.append(match.group("body").strip())
            spans.append((match.start(), match.end()))
            position = match.end()
        if not spans:
            return ReasoningSplit("", text, [])
        kept.append(text[position:])
        rest = "".join(kept)
        final = [m.group("body") for m in _HARMONY_MESSAGE.finditer(rest) if m.group("channel") == "final"]
        # the content is the final answer; tool calls (commentary to=functions.*) stay for the tool parser
        has_calls = "to=functions." in rest
        content = rest.strip() if has_calls or not final else "\n".join(final).strip()
        return ReasoningSplit("\n".join(pieces), content, spans)


ReasoningSeparator = TagSeparator | HarmonySeparator

#: built-in reasoning separators by name (the names of vLLM's `--reasoning-parser` where one exists)
BUILTIN_REASONING: dict[str, ReasoningSeparator] = {
    "think": TagSeparator("think", "<think>", "</think>"),
    "deepseek_r1": TagSeparator("deepseek_r1", "<think>", "</think>", opened_by_template=True),
    "qwen3": TagSeparator("qwen3", "<think>", "</think>", opened_by_template=True),
    "glm45": TagSeparator("glm45", "<think>", "</think>", opened_by_template=True),
    "kimi_k2": TagSeparator("kimi_k2", "<think>", "</think>", opened_by_template=True),
    "mistral": TagSeparator("mistral", "[THINK]", "[/THINK]"),
    "openai_gptoss": HarmonySeparator(),
}

#: the separator every parse path uses when none is named
DEFAULT_REASONING = BUILTIN_REASONING["think"]


