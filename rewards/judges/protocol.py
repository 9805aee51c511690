"""How a judge reaches a model: the `JudgeModel` protocol, and turning a model string into one.

The reward layer is standalone, so it defines only the protocol. A model *string* in a judge
config (``vllm:URL#MODEL``, ``openai:URL#MODEL``, ``hf:PATH``, ``smollm2``, ``scripted:...``) is a
policy string; the reward layer does not parse it. Whoever builds a judge passes a resolver
(``resolve=agentgym.policy.make_judge_model``, which builds the policy and adapts it) or a
`JudgeModel` instance. Nothing is registered at import time.

    class JudgeModel(Protocol):
        model_id: str                          # part of every cache key
        async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]: ...

A backend returns one `JudgeOutput` per request, in order; a failed request is an output with
`error` set (the judge turns it into an invalid judgment, never a score of 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class JudgeRequest:
    """One judge prompt: chat messages, sampling limits, an optional assistant prefix."""

    messages: tuple[dict[str, str], ...]
    max_tokens: int = 64
    temperature: float = 0.0
    prefill: str = ""  # text the assistant turn starts with (backends that cannot prefill ignore it)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": [dict(m) for m in self.messages],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "prefill": self.prefill,
        }


@dataclass
class JudgeOutput:
    """What the model produced for one request (text after any prefill), or the error."""

    text: str = ""
    logprobs: list[float] | None = None
    error: str | None = None
    latency_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class JudgeModel(Protocol):
    """A model a judge can call. `model_id` identifies it in cache keys and reports."""

    model_id: str

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]: ...


class JudgeError(RuntimeError):
    """A judge could not be built or used (a model string with no resolver, refused by its probe)."""


ModelResolver = Callable[[str], JudgeModel]


def resolve_model(
    spec: str | JudgeModel, resolve: ModelResolver | None = None, *, name: str = "judge"
) -> JudgeModel:
    """A JudgeModel from an instance, or from a model string through `resolve`."""
    if not isinstance(spec, str):
        return spec
    if resolve is None:
        raise JudgeError(
            f"judge {name!r}: model {spec!r} is a model string and no resolver was given; pass "
            "resolve=agentgym.policy.make_judge_model (or a JudgeModel instance as the model)"
        )
    return resolve(spec)
