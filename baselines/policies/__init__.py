"""Policies: LLM backends (vLLM, transformers, OpenAI-compatible) and scripted ones for tests."""
