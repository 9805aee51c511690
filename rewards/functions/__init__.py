"""Reusable, pure reward functions that families turn into components."""

from agentgym.rewards.functions.qa import exact_match, f1, normalize_answer
from agentgym.rewards.functions.toolcalls import (
    ToolCallMatch,
    match_tool_calls,
    tool_call_score,
    toolcall_scores,
)

__all__ = [
    "ToolCallMatch",
    "exact_match",
    "f1",
    "match_tool_calls",
    "normalize_answer",
    "tool_call_score",
    "toolcall_scores",
]
