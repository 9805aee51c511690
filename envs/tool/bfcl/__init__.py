"""BFCL v4 support: the AST checker (single turn) and the multi-turn executor on BFCL's API classes."""

from .checker import CheckResult, check_calls, gold_calls, openai_tools

__all__ = ["CheckResult", "check_calls", "gold_calls", "openai_tools"]
