"""How a judge reaches a model: the `JudgeModel` protocol and a registry of model factories.

The reward layer is standalone, so it defines only the protocol; backends (vLLM / OpenAI-compatible
servers, transformers, any agentgym policy) live in `agentgym.baselines.judge_backends`, which
registers factories for model strings such as ``vllm:URL#MODEL`` when it is imported.

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
    """A judge could not be built or used (unknown model string, refused by its probe result)."""


ModelFactory = Callable[[str], JudgeModel]
_FACTORIES: dict[str, ModelFactory] = {}


def register_model_factory(prefix: str, factory: ModelFactory) -> None:
    """Make model strings ``PREFIX:...`` resolvable (called by agentgym.baselines.judge_backends)."""
    _FACTORIES[prefix] = factory


def resolve_model(spec: str | JudgeModel) -> JudgeModel:
    """A JudgeModel from an instance or a model string (``vllm:URL#MODEL``, ``openai:...``, ``hf:PATH``)."""
    if not isinstance(spec, str):
        return spec
    prefix = spec.split(":", 1)[0] if ":" in spec else spec.split("?", 1)[0]
    factory = _FACTORIES.get(prefix) or _FACTORIES.get("*")
    if factory is None:
        known = ", ".join(sorted(_FACTORIES)) or "none registered"
        raise JudgeError(
            f"no judge backend for model {spec!r} (known prefixes: {known}); pass a JudgeModel instance or "
            "import agentgym.baselines.judge_backends"
        )
    return factory(spec)
