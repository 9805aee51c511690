"""The policy interface every agent backend implements.

A policy gets the conversation so far (OpenAI chat messages) and the env's tools (OpenAI schema)
and returns the assistant message, plus token ids and logprobs when its backend has them — what a
trainer needs to compute losses on exactly the tokens the model produced.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class PolicyOutput(BaseModel):
    """One assistant turn."""

    message: dict[str, Any]
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    finish_reason: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str, **kwargs: Any) -> PolicyOutput:
        return cls(message={"role": "assistant", "content": text}, **kwargs)


@runtime_checkable
class Policy(Protocol):
    """Conversation + tools in, assistant message out.

    Optional extras a policy may define: `async aact(messages, tools)` (used by async rollouts
    instead of running `act` in a thread), `on_episode_start(env, info)` (called after reset;
    the oracle policy reads the env's gold solution there) and `for_episode(seed) -> Policy`
    (a policy with per-episode state returns its own instance for each episode, so concurrent
    episodes never share it and results do not depend on their interleaving).
    """

    name: str

    def describe(self) -> dict[str, Any]: ...

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput: ...
