"""Helpers of the tests that check recorded tokens against a vLLM server's own answers.

Imported under one module name (`agentgym_test_vllm_fixtures`) by the gateway and harness
conftests; the server itself is the session's one `vllm_server` (tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest


class Recording:
    """Keeps every `/v1/completions` choice a vLLM server policy received, untouched."""

    def __init__(self, policy: Any) -> None:
        self.raw: list[dict[str, Any]] = []
        original = policy._parse

        def parse(data, latency):
            self.raw.append(data["choices"][0])
            return original(data, latency)

        policy._parse = parse


def assert_tokens_are_the_servers(turns: list[Any], raw: list[dict[str, Any]]) -> None:
    """Each recorded turn is exactly one server answer: prompt ids it saw, ids and logprobs it returned."""
    assert turns and len(turns) == len(raw)
    for tokens, choice in zip(turns, raw, strict=True):
        assert tokens.prompt_token_ids == choice["prompt_token_ids"]
        assert tokens.completion_token_ids == choice["token_ids"]
        assert [f"token_id:{i}" for i in tokens.completion_token_ids] == choice["logprobs"]["tokens"]
        assert tokens.logprobs == pytest.approx(choice["logprobs"]["token_logprobs"])
