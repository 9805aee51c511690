"""The policy interface every agent backend implements.

A policy gets the conversation so far (OpenAI chat messages) and the env's tools (OpenAI schema)
and returns the assistant message, plus token ids and logprobs when its backend has them — what a
trainer needs to compute losses on exactly the tokens the model produced.

Policy strings (`make_policy`) resolve through the `agentgym.policies` entry-point group; judge
model strings are policy strings too (`make_judge_model`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from agentgym.rewards.judges.protocol import JudgeModel


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


# ---------------------------------------------------------------------- policy strings
POLICY_ENTRY_POINTS = "agentgym.policies"


def policy_kind(spec: str) -> str:
    """The kind of a policy string: the text before the first ':', or, without one, the whole
    body before any '?' options (``smollm2?temperature=0.7`` -> ``smollm2``)."""
    return spec.split(":", 1)[0] if ":" in spec else spec.split("?", 1)[0]


def policy_factories() -> dict[str, Any]:
    """Entry points of the `agentgym.policies` group: kind -> (not yet loaded) entry point."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=POLICY_ENTRY_POINTS)}


def make_policy(spec: str, **overrides: Any) -> Any:
    """Build a policy from its string form (`--policy`, a judge's `model:`).

    The kind (`policy_kind`) picks a factory from the `agentgym.policies` entry-point group (a
    package adds kinds in its own pyproject); the factory gets the whole string and `overrides`.
    """
    kind = policy_kind(spec.strip())
    factories = policy_factories()
    entry = factories.get(kind) or factories.get(kind.lower())
    if entry is None:
        known = ", ".join(sorted(factories)) or (
            "none: no package registers the agentgym.policies entry points (is agentgym installed? "
            "pip install -e .)"
        )
        raise ValueError(f"unknown policy kind {kind!r} in {spec!r}; known kinds: {known}")
    return entry.load()(spec.strip(), **overrides)


def make_judge_model(spec: str | JudgeModel) -> JudgeModel:
    """A judge model (`agentgym.rewards.judges.JudgeModel`) from a policy string, or the model itself.

    The policy is built with `make_policy`; its own `as_judge_model()` is used when it has one
    (server policies return a batched chat-completions judge that prefills the verdict prefix),
    else it is wrapped in `PolicyJudgeModel` (one `act`/`aact` call per judge request). Pass it as
    ``resolve=`` to `JudgeRunner`, `LiveJudges` or `Judge`.
    """
    if not isinstance(spec, str):
        return spec
    policy = make_policy(spec)
    adapt = getattr(policy, "as_judge_model", None)
    if callable(adapt):
        return adapt()
    from agentgym.rewards.judges.adapters import PolicyJudgeModel

    return PolicyJudgeModel(policy, model_id=f"policy:{spec}")
