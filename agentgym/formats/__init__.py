"""Model reply formats: which reasoning and tool-call format a model writes, chosen by name.

A model family writes its tool calls (and, for reasoning models, its chain of thought) in its own
format. `ReplyFormat` reads a reply the way the family's serving stack does: first the reasoning is
separated (`reasoning.py`), then tool calls are read from what is left (`toolcalls.py`), so a call
written inside reasoning is never read as action. Names are vLLM's server flag names
(`--tool-call-parser`, `--reasoning-parser`):

- `NAME`: vLLM's own parser class when vLLM is installed and a tokenizer is known (token policies
  pass theirs; an env takes `parser_tokenizer=`), else the built-in format of that name;
- `vllm:NAME`: vLLM's parser, or an error naming why it cannot be built;
- `builtin:NAME`: the built-in format (no dependency).

Whatever the configured reasoning format, `<think>` and `[THINK]` blocks and harmony `analysis`
messages of the text are reasoning too: the reasoning is the union of what the configured format and these markers enclose. A call
inside reasoning markers is never executed, under every parser (vLLM 0.32's `qwen3` parser, for
one, ends the reasoning at a `<tool_call>` written inside `<think>`; the union keeps it reasoning). `describe()`
names the implementation used (`vllm:hermes`, `builtin:think`), for policies' and envs' records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentgym.formats.reasoning import (
    BUILTIN_REASONING,
    DEFAULT_REASONING,
    ReasoningSeparator,
    ReasoningSplit,
    TagSeparator,
)
from agentgym.formats.toolcalls import (
    BUILTIN_ALIASES,
    BUILTIN_TOOL_PARSERS,
    DEFAULT_TOOL_PARSER,
    ToolParse,
)
from agentgym.formats.vllm_parsers import ParserUnavailableError, vllm_installed

#: vLLM registers these names but its classes only detect boundaries (gpt-oss goes through its
#: harmony parser elsewhere in vLLM): the built-in format is used for them
VLLM_STUB_NAMES = frozenset({"openai", "openai_gptoss"})

#: the separators applied after the configured one, whatever it is (module docstring)
_SAFETY_NET: tuple[TagSeparator, ...] = (BUILTIN_REASONING["think"], BUILTIN_REASONING["mistral"])  # type: ignore[assignment]


def _load_tokenizer(tokenizer: Any) -> Any:
    if tokenizer is None or not isinstance(tokenizer, str):
        return tokenizer
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(tokenizer)
    except (OSError, ValueError) as exc:
        raise ParserUnavailableError(f"parser_tokenizer={tokenizer!r}: cannot load a tokenizer there ({exc})") from None


def _split_name(name: str, kind: str) -> tuple[str, str]:
    implementation, sep, bare = name.partition(":")
    if not sep:
        return "auto", name
    if implementation not in ("vllm", "builtin") or not bare:
        raise ParserUnavailableError(f"{kind}={name!r}: expected NAME, vllm:NAME or builtin:NAME")
    return implementation, bare


def make_tool_parser(name: str | None, *, tokenizer: Any = None) -> Any:
    """A tool-call parser by name (module docstring); None gives the default (`builtin:hermes`)."""
    if name is None or name == "":
        return DEFAULT_TOOL_PARSER
    implementation, bare = _split_name(name.strip(), "tool_parser")
    builtin = BUILTIN_TOOL_PARSERS.get(BUILTIN_ALIASES.get(bare, bare))
    if implementation == "builtin" or (implementation == "auto" and (bare in VLLM_STUB_NAMES or tokenizer is None
                                                                     or not vllm_installed())):
        if builtin is None:
            raise ParserUnavailableError(_missing("tool_parser", name, bare, sorted(BUILTIN_TOOL_PARSERS),
                                                  tokenizer is None))
        return builtin
    if not vllm_installed():
        raise ParserUnavailableError(f"tool_parser={name!r} needs vLLM (pip install 'agentgym[vllm]'), "
                                     f"or use builtin:{bare}")
    if tokenizer is None:
        raise ParserUnavailableError(f"tool_parser={name!r} needs the model's tokenizer (parser_tokenizer=PATH)")
    from agentgym.formats.vllm_parsers import VLLMToolParser

    return VLLMToolParser(bare, _load_tokenizer(tokenizer))


def make_reasoning_parser(name: str | None, *, tokenizer: Any = None) -> Any:
    """A reasoning separator by name (module docstring); None gives the default (`builtin:think`)."""
    if name is None or name == "":
        return DEFAULT_REASONING
    implementation, bare = _split_name(name.strip(), "reasoning_parser")
    builtin = BUILTIN_REASONING.get(bare)
    if implementation == "builtin" or (implementation == "auto" and (bare in VLLM_STUB_NAMES or bare == "think"
                                                                     or tokenizer is None or not vllm_installed())):
        if builtin is None:
            raise ParserUnavailableError(_missing("reasoning_parser", name, bare, sorted(BUILTIN_REASONING),
                                                  tokenizer is None))
        return builtin
    if not vllm_installed():
        raise ParserUnavailableError(f"reasoning_parser={name!r} needs vLLM (pip install 'agentgym[vllm]'), "
                                     f"or use builtin:{bare}")
    if tokenizer is None:
        raise ParserUnavailableError(f"reasoning_parser={name!r} needs the model's tokenizer (parser_tokenizer=PATH)")
    from agentgym.formats.vllm_parsers import VLLMReasoningParser

    return VLLMReasoningParser(bare, _load_tokenizer(tokenizer))


def _missing(kind: str, name: str, bare: str, builtins: list[str], no_tokenizer: bool) -> str:
    import difflib

    close = difflib.get_close_matches(bare, builtins, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    message = f"{kind}={name!r}: {hint}no built-in format {bare!r} (built-in: {', '.join(builtins)})"
    if not vllm_installed():
        return f"{message}; vLLM's formats need vLLM installed (pip install 'agentgym[vllm]')"
    if no_tokenizer:
        return f"{message}; for vLLM's {bare!r} give the model's tokenizer (parser_tokenizer=PATH)"
    return f"{message}; vLLM's formats: vllm:NAME"


@dataclass
class ReplyFormat:
    """A tool-call parser and a reasoning separator, applied in that order of safety: reasoning first."""

    tool_parser: Any = DEFAULT_TOOL_PARSER
    reasoning_parser: Any = DEFAULT_REASONING

    @classmethod
    def from_names(cls, tool_parser: str | None = None, reasoning_parser: str | None = None, *,
                   tokenizer: Any = None) -> ReplyFormat:
        tokenizer = _load_tokenizer(tokenizer) if (tool_parser or reasoning_parser) else None
        return cls(make_tool_parser(tool_parser, tokenizer=tokenizer),
                   make_reasoning_parser(reasoning_parser, tokenizer=tokenizer))

    @property
    def is_default(self) -> bool:
        return self.tool_parser is DEFAULT_TOOL_PARSER and self.reasoning_parser is DEFAULT_REASONING

    @property
    def needs_tools(self) -> bool:
        """Whether the tool parser reads the tools' schemas (to type XML values, or vLLM's request)."""
        return self.tool_parser.name == "qwen3_coder" or self.tool_parser.implementation == "vllm"

    def describe(self) -> dict[str, str]:
        return {"tool_parser": self.tool_parser.describe(), "reasoning_parser": self.reasoning_parser.describe()}

    def split_reasoning(self, text: str) -> ReasoningSplit:
        """The configured separation, with every `<think>` / `[THINK]` block of the text also counted
        as reasoning (module docstring): the reasoning regions are the union of both."""
        split = self.reasoning_parser.separate(text)
        if not isinstance(self.reasoning_parser, TagSeparator) and self.reasoning_parser.implementation == "builtin":
            return self._net_on_content(text, split)  # harmony: the content is the final channel, not a cut
        spans = list(split.spans)
        for net in _SAFETY_NET:
            if net is not self.reasoning_parser and (net.start in text or net.end in text):
                spans.extend(net.separate(text).spans)
        if _HARMONY_ANALYSIS in text:  # a harmony analysis message is reasoning too
            spans.extend(BUILTIN_REASONING["openai_gptoss"].separate(text).spans)
        merged = _merge(spans)
        if merged == sorted(split.spans):
            return split
        kept, pieces, position = [], [], 0
        for start, end in merged:
            kept.append(text[position:start])
            pieces.append(_strip_markers(text[start:end]))
            position = end
        kept.append(text[position:])
        return ReasoningSplit("\n".join(p for p in pieces if p), "".join(kept).strip(), merged)

    def _net_on_content(self, text: str, split: ReasoningSplit) -> ReasoningSplit:
        for net in _SAFETY_NET:
            if net.start not in split.content and net.end not in split.content:
                continue
            extra = net.separate(split.content)
            offset = text.find(split.content)
            spans = [(s + offset, e + offset) for s, e in extra.spans] if offset != -1 else []
            reasoning = "\n".join(r for r in (split.reasoning, extra.reasoning) if r)
            split = ReasoningSplit(reasoning, extra.content, _merge(split.spans + spans))
        return split

    def parse(self, text: str, tools: Sequence[dict[str, Any]] | None = None) -> tuple[ReasoningSplit, ToolParse]:
        """Reasoning separated, then tool calls read from the content only."""
        split = self.split_reasoning(text)
        return split, self.tool_parser.parse(split.content, tools)


DEFAULT_FORMAT = ReplyFormat()

_MARKERS = ("<think>", "</think>", "[THINK]", "[/THINK]")
_HARMONY_ANALYSIS = "<|channel|>analysis"


def _strip_markers(text: str) -> str:
    for marker in _MARKERS:
        text = text.replace(marker, "")
    if text.lstrip().startswith(_HARMONY_ANALYSIS):
        text = text.split("<|message|>", 1)[-1].removesuffix("<|end|>")
    return text.strip()


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching (start, end) spans joined, in order."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def supported_names() -> dict[str, list[str]]:
    """Every parser name usable here: built-in ones, and vLLM's when it is installed."""
    names = {"builtin_tool_parsers": sorted([*BUILTIN_TOOL_PARSERS, *BUILTIN_ALIASES]),
             "builtin_reasoning_parsers": sorted(BUILTIN_REASONING)}
    if vllm_installed():
        from agentgym.formats.vllm_parsers import vllm_reasoning_parser_names, vllm_tool_parser_names

        names["vllm_tool_parsers"] = vllm_tool_parser_names()
        names["vllm_reasoning_parsers"] = vllm_reasoning_parser_names()
    return names


__all__ = [
    "BUILTIN_REASONING", "BUILTIN_TOOL_PARSERS", "DEFAULT_FORMAT", "ParserUnavailableError", "ReasoningSeparator",
    "ReasoningSplit", "ReplyFormat", "ToolParse", "make_reasoning_parser", "make_tool_parser", "supported_names",
]
