"""BFCL v4 support: the AST checker (single turn) and the multi-turn executor on BFCL's API classes."""

from .checker import ERROR_TYPES, CheckResult, check_calls, gold_calls, openai_tools

__all__ = ["ERROR_TYPES", "CheckResult", "check_calls", "gold_calls", "openai_tools"]
