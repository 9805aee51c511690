"""The gateway's episode book: every chat-completions call it served, grouped into episodes.

An outside agent program (a harness) talks to the gateway as to any OpenAI-compatible endpoint;
the book keeps, per episode key, each call's request messages, the policy's exact prompt and
completion token ids and logprobs, and turns a finished episode into an ordinary
`EpisodeRecord` (each call one step), so replay, rescoring, reports, export and GRPO read it like
any other record. Listeners (the in-process harness policy) hear of each call as it completes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentgym.parsing import action_text, message_text
from agentgym.policy import PolicyOutput
from agentgym.trajectory import EpisodeRecord, StepRecord, TurnTokens, config_hash, package_versions

#: the env id of records the gateway writes on its own (no agentgym env ran the episode)
GATEWAY_ENV_ID = "gateway"
#: the reward spec of such records: one trajectory level reading the reward the client reported
GATEWAY_SPEC: dict[str, Any] = {
    "name": "gateway_reward",
    "mode": "gated",
    "levels": [{"name": "outcome", "scope": "trajectory", "components": ["reward"], "aggregate": "last"}],
}


@dataclass
class GatewayCall:
    """One chat-completions call, as the gateway served it."""

    episode: str
    index: int  # 0-based within the episode
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    output: PolicyOutput
    request: dict[str, Any] = field(default_factory=dict)  # model name and sampling fields the client sent
    seconds: float = 0.0
    started: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        return action_text(self.output.message)

    def tokens(self) -> TurnTokens | None:
        out = self.output
        if out.prompt_token_ids is None and out.completion_token_ids is None:
            return None
        return TurnTokens(prompt_token_ids=out.prompt_token_ids, completion_token_ids=out.completion_token_ids,
                          logprobs=out.logprobs)


def parsed_calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    """An assistant message's `tool_calls` as records list them: id, name, arguments (a dict)."""
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                arguments = {"_raw": arguments}
        calls.append({"id": call.get("id", ""), "name": function.get("name", ""), "arguments": arguments or {}})
    return calls


def _answer_after(call: GatewayCall, following: GatewayCall | None) -> str:
    """What the client sent back after `call`'s completion: the text of the messages the next call
    appended after it (the tool results, the observation); "" for an episode's last call."""
    if following is None:
        return ""
    start = len(call.messages) + 1  # the next request repeats the conversation and this call's answer
    return "\n".join(message_text(m.get("content")) for m in following.messages[start:]
                     if m.get("role") != "assistant")


class EpisodeBook:
    """Thread-safe calls by episode key; `finish` turns an episode into an `EpisodeRecord`."""

    def __init__(self) -> None:
        self._calls: dict[str, list[GatewayCall]] = {}
        self._lock = threading.Lock()
        self._listeners: dict[str, list[Callable[[GatewayCall], None]]] = {}

    def add(self, episode: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], output: PolicyOutput,
            *, request: dict[str, Any] | None = None, seconds: float = 0.0) -> GatewayCall:
        with self._lock:
            calls = self._calls.setdefault(episode, [])
            call = GatewayCall(episode=episode, index=len(calls), messages=list(messages), tools=list(tools),
                               output=output, request=dict(request or {}), seconds=seconds)
            calls.append(call)
            listeners = list(self._listeners.get(episode, ()))
        for listener in listeners:
            listener(call)
        return call

    def listen(self, episode: str, listener: Callable[[GatewayCall], None]) -> None:
        """Call `listener(call)` after each call of `episode` is recorded (on the serving thread)."""
        with self._lock:
            self._listeners.setdefault(episode, []).append(listener)

    def calls(self, episode: str) -> list[GatewayCall]:
        with self._lock:
            return list(self._calls.get(episode, ()))

    def episodes(self) -> dict[str, int]:
        """Open episodes: key -> number of calls."""
        with self._lock:
            return {key: len(calls) for key, calls in self._calls.items()}

    def pop(self, episode: str) -> list[GatewayCall]:
        with self._lock:
            self._listeners.pop(episode, None)
            return self._calls.pop(episode, [])

    def finish(self, episode: str, *, policy_info: dict[str, Any], reward: float | None = None,
               success: bool | None = None, components: dict[str, float | str] | None = None,
               task_id: str | None = None, group_id: str | None = None,
               error: str | None = None) -> EpisodeRecord:
        """Close `episode` and return its record (each call a step). With `reward` None (or an
        `error`) the record is `reward_invalid`: trainers mask it instead of scoring it."""
        calls = self.pop(episode)
        if not calls:
            raise KeyError(f"no calls recorded for episode {episode!r}")
        return episode_record(episode, calls, policy_info=policy_info, reward=reward, success=success,
                              components=components, task_id=task_id, group_id=group_id, error=error)


def call_steps(calls: list[GatewayCall]) -> list[StepRecord]:
    """One `StepRecord` per call: the completion as the action, its exact tokens, and as the
    observation what the client answered before its next call."""
    steps = []
    for i, call in enumerate(calls):
        following = calls[i + 1] if i + 1 < len(calls) else None
        message = dict(call.output.message)
        steps.append(StepRecord(
            turn=i + 1,
            action=call.text,
            message=message,
            tool_calls=parsed_calls(message),
            observation=_answer_after(call, following),
            timing={"policy_s": round(call.seconds, 4)},
            tokens=call.tokens(),
            policy_meta={**call.output.meta, "gateway": {"episode": call.episode, "call": call.index,
                                                       "request": call.request,
                                                       "finish_reason": call.output.finish_reason}},
        ))
    return steps


def episode_record(episode: str, calls: list[GatewayCall], *, policy_info: dict[str, Any], reward: float | None,
                   success: bool | None = None, components: dict[str, float | str] | None = None,
                   task_id: str | None = None, group_id: str | None = None,
                   error: str | None = None) -> EpisodeRecord:
    """The `EpisodeRecord` of a gateway episode, scored by `GATEWAY_SPEC` from `reward`."""
    from agentgym.rewards.engine import CompiledSpec
    from agentgym.rewards.spec import spec_from_data

    first = calls[0]
    system = next((message_text(m.get("content")) for m in first.messages if m.get("role") == "system"), "")
    prompt = next((message_text(m.get("content")) for m in first.messages if m.get("role") == "user"), "")
    spec = spec_from_data(GATEWAY_SPEC)
    steps = call_steps(calls)
    invalid = reward is None or error is not None
    trajectory: dict[str, float | str] = dict(components or {})
    if reward is not None:
        trajectory["reward"] = float(reward)
    report = CompiledSpec(spec).score([s.components for s in steps], trajectory, reward_invalid=invalid)
    for step, value in zip(steps, report.step_rewards, strict=False):
        step.reward = float(value)
    if steps:
        steps[-1].terminated = not invalid
        steps[-1].truncated = invalid
    record = EpisodeRecord(
        env_id=GATEWAY_ENV_ID,
        task_id=task_id or episode,
        group_id=group_id,
        policy=policy_info,
        reward_spec=spec.model_dump(mode="json"),
        system_prompt=system,
        prompt=prompt,
        tools=first.tools,
        steps=steps,
        trajectory_components=trajectory,
        report=report,
        metrics={} if invalid else {"turns": float(len(steps))} | ({} if success is None else {"success": float(success)}),
        success=None if invalid else success,
        terminated=not invalid,
        truncated=invalid,
        reward_invalid=invalid,
        error=error if error is not None else (None if reward is not None else "infrastructure: no reward reported"),
        end_reason="terminated" if not invalid else "infrastructure_error",
        versions=package_versions(),
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(first.started)),
        duration_s=round(time.time() - first.started, 4),
    )
    record.reset_options = {"episode": episode}
    record.config_hash = config_hash(GATEWAY_ENV_ID, {}, record.reward_spec, policy_info)
    return record
