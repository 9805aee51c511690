"""Reply fixtures per model format, written for these tests from each format's published description
(tool names and arguments are this gym's toy tools; nothing is copied from a model repository).

`TOOL_FIXTURES[name]` lists (reply text, expected calls as (name, arguments), expected content) for a
tool-call format; `REASONING_FIXTURES[name]` lists (reply text, expected reasoning, expected
content) for a reasoning format. `VLLM_SKIP` marks the fixtures vLLM's class reads differently on
purpose (said why), so they run through the built-in format only.
"""

from __future__ import annotations

from typing import Any

Call = tuple[str, dict[str, Any]]

TOOL_FIXTURES: dict[str, list[tuple[str, list[Call], str]]] = {
    "hermes": [
        ('Working on it.\n<tool_call>\n{"name": "work", "arguments": {"units": 2}}\n</tool_call>',
         [("work", {"units": 2})], "Working on it."),
        ('<tool_call>{"name": "work", "arguments": {}}</tool_call>\n<tool_call>{"name": "submit", "arguments": '
         '{"note": "done"}}</tool_call>', [("work", {}), ("submit", {"note": "done"})], ""),
        ("No tool is needed here.", [], "No tool is needed here."),
    ],
    "llama3_json": [
        ('{"name": "work", "parameters": {"units": 3}}', [("work", {"units": 3})], ""),
        ('<|python_tag|>{"name": "work", "parameters": {}}; {"name": "submit", "parameters": {"note": "x"}}',
         [("work", {}), ("submit", {"note": "x"})], ""),
        ("The answer is 4.", [], "The answer is 4."),
    ],
    "mistral": [
        ('[TOOL_CALLS]work[ARGS]{"units": 1}', [("work", {"units": 1})], ""),
        ('Let me submit.[TOOL_CALLS]submit[ARGS]{"note": "ok"}', [("submit", {"note": "ok"})], "Let me submit."),
        ("Nothing to call.", [], "Nothing to call."),
    ],
    "pythonic": [
        ('[work(units=2), submit(note="all done")]', [("work", {"units": 2}), ("submit", {"note": "all done"})], ""),
        ("[noop()]", [("noop", {})], ""),
        ("I would rather explain: [1, 2] is a list.", [], "I would rather explain: [1, 2] is a list."),
    ],
    "qwen3_coder": [
        ("<tool_call>\n<function=work>\n<parameter=units>\n4\n</parameter>\n</function>\n</tool_call>",
         [("work", {"units": 4})], ""),
        ("Submitting now.\n<tool_call>\n<function=submit>\n<parameter=note>\nfinished the work\n</parameter>\n"
         "</function>\n</tool_call>", [("submit", {"note": "finished the work"})], "Submitting now."),
    ],
}

#: the built-in mistral format also reads the older JSON-array form (v3 tokenizers); vLLM decides
#: which form to expect from the tokenizer's version, which a plain Hugging Face tokenizer lacks
BUILTIN_ONLY_TOOL_FIXTURES: dict[str, list[tuple[str, list[Call], str]]] = {
    "mistral": [
        ('[TOOL_CALLS] [{"name": "work", "arguments": {"units": 1}}, {"name": "noop", "arguments": {}}]',
         [("work", {"units": 1}), ("noop", {})], ""),
    ],
    "openai": [  # gpt-oss harmony; vLLM reads it with its harmony parser, not a ToolParser class
        ("<|channel|>commentary to=functions.work <|constrain|>json<|message|>{\"units\": 2}<|call|>",
         [("work", {"units": 2})], ""),
    ],
}

REASONING_FIXTURES: dict[str, list[tuple[str, str, str]]] = {
    "deepseek_r1": [
        ("<think>I should work first.</think>Calling work.", "I should work first.", "Calling work."),
        ("The template opened the block.</think>Answer.", "The template opened the block.", "Answer."),
        ("Still thinking when the budget ran out", "Still thinking when the budget ran out", ""),
    ],
    "qwen3": [
        ("<think>\nplan: work, then submit\n</think>\n\nOK.", "plan: work, then submit", "OK."),
    ],
    "mistral": [
        ("[THINK]Two units are enough.[/THINK]Submitting.", "Two units are enough.", "Submitting."),
        ("No reasoning at all.", "", "No reasoning at all."),
    ],
}

BUILTIN_ONLY_REASONING_FIXTURES: dict[str, list[tuple[str, str, str]]] = {
    "think": [
        ("<think>a</think>b<think>c</think>d", "a\nc", "bd"),
        ("plain text", "", "plain text"),
        ("<think>unfinished", "unfinished", ""),
    ],
    "openai_gptoss": [
        ("<|channel|>analysis<|message|>Need one unit.<|end|><|start|>assistant<|channel|>final<|message|>"
         "Done.<|return|>", "Need one unit.", "Done."),
    ],
}

#: marker strings the formats above use; vLLM's parsers look them up in the tokenizer's vocabulary
MARKER_TOKENS = [
    "<|python_tag|>", "[TOOL_CALLS]", "[ARGS]", "[THINK]", "[/THINK]", "<think>", "</think>",
    "<|channel|>", "<|message|>", "<|end|>", "<|call|>", "<|start|>", "<|constrain|>", "<|return|>",
]
