"""Judge backends: adapt servers and agentgym policies to `agentgym.rewards.judges.JudgeModel`.

Importing this module registers model-string factories with the reward layer, so judge configs
can name models as strings:

    vllm:URL#MODEL      a vLLM server's /v1/chat/completions; the template's prefill ("Verdict:") starts
                        the assistant turn (continue_final_message) and the returned text includes it
    openai:URL#MODEL    any OpenAI-compatible /v1/chat/completions endpoint (no prefill)
    hf:PATH | smollm2   an in-process transformers policy (`make_policy`), one prompt at a time
    policy:SPEC         any other `make_policy` string, e.g. policy:vllm:URL#MODEL (token-faithful path)

A batch of requests is sent concurrently (bounded by `max_concurrency`); the server batches them.
Per-request failures come back as `JudgeOutput(error=...)`, never as exceptions or empty text.

`JudgedEnv(env)` adds the judges of the env's reward spec (its ``judges:`` section) to a live
agentgym env, until the core calls them itself (see the class).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import httpx

from agentgym.rewards.judges.protocol import JudgeModel, JudgeOutput, JudgeRequest, register_model_factory


class ChatCompletionsJudgeModel:
    """Judge requests as chat completions against an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        vllm: bool = False,
        max_concurrency: int = 64,
        request_timeout: float = 600.0,
    ) -> None:
        base = base_url.rstrip("/")
        self.url = f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"
        self.model = model
        self.vllm = vllm
        self.model_id = f"{'vllm' if vllm else 'openai'}:{model}"
        key = api_key or os.environ.get(api_key_env)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.max_concurrency = max_concurrency
        self.request_timeout = request_timeout
        self.calls = 0  # HTTP requests sent (what tests count to prove cache hits)
        self.batches = 0

    def body(self, request: JudgeRequest) -> dict[str, Any]:
        messages = [dict(m) for m in request.messages]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.prefill and self.vllm:
            messages.append({"role": "assistant", "content": request.prefill})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return body

    async def _one(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, request: JudgeRequest
    ) -> JudgeOutput:
        async with gate:
            started = time.perf_counter()
            self.calls += 1
            try:
                response = await client.post(self.url, json=self.body(request))
                response.raise_for_status()
                data = response.json()
                text = data["choices"][0]["message"].get("content") or ""
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                return JudgeOutput(
                    error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - started
                )
            if request.prefill and self.vllm and not text.startswith(request.prefill):
                text = request.prefill + text  # the whole assistant turn, as parsers expect it
            return JudgeOutput(text=text, latency_s=time.perf_counter() - started)

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        self.batches += 1
        gate = asyncio.Semaphore(self.max_concurrency)
        limits = httpx.Limits(
            max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
        )
        async with httpx.AsyncClient(
            timeout=self.request_timeout, headers=self.headers, limits=limits
        ) as client:
            return list(await asyncio.gather(*(self._one(client, gate, r) for r in requests)))


class PolicyJudgeModel:
    """Any agentgym policy (hf, vllm, vllm-engine, openai) as a judge: messages in, reply text out.

    Requests run one at a time (policies keep per-conversation state); `aact` is used when the
    policy has it. Sampling comes from the policy's own settings.
    """

    def __init__(self, policy: Any, model_id: str | None = None) -> None:
        self.policy = policy
        describe = policy.describe() if hasattr(policy, "describe") else {}
        self.model_id = (
            model_id
            or f"policy:{describe.get('name', type(policy).__name__)}:{describe.get('model') or describe.get('path') or ''}"
        )
        self.calls = 0
        self._lock = asyncio.Lock()

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        outputs = []
        for request in requests:
            started = time.perf_counter()
            self.calls += 1
            try:
                if hasattr(self.policy, "aact"):
                    out = await self.policy.aact([dict(m) for m in request.messages], [])
                else:
                    out = await asyncio.to_thread(self.policy.act, [dict(m) for m in request.messages], [])
                text = out.message.get("content") or ""
                outputs.append(JudgeOutput(text=text, latency_s=time.perf_counter() - started))
            except Exception as exc:  # noqa: BLE001 - reported as an invalid judgment
                outputs.append(
                    JudgeOutput(error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - started)
                )
        return outputs


def _url_model(rest: str) -> tuple[str, str, dict[str, str]]:
    rest, _, query = rest.partition("?")
    url, sep, model = rest.partition("#")
    if not sep or not url or not model:
        raise ValueError(f"judge model needs URL#MODEL, got {rest!r}")
    options = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    return url, model, options


def make_judge_model(spec: str) -> JudgeModel:
    """A JudgeModel from a model string (see module docstring)."""
    kind, _, rest = spec.partition(":")
    if kind in ("vllm", "openai"):
        url, model, options = _url_model(rest)
        kwargs: dict[str, Any] = {}
        if "max_concurrency" in options:
            kwargs["max_concurrency"] = int(options["max_concurrency"])
        if "api_key_env" in options:
            kwargs["api_key_env"] = options["api_key_env"]
        return ChatCompletionsJudgeModel(url, model, vllm=kind == "vllm", **kwargs)
    from agentgym.baselines.policies import make_policy

    policy_spec = rest if kind == "policy" else spec
    return PolicyJudgeModel(make_policy(policy_spec), model_id=f"policy:{policy_spec}")


class JudgedEnv(gym.Wrapper):
    """Judges a live agentgym env's episodes with its reward spec's ``judges:``.

    At the end of an episode the transcript becomes an `EpisodeView` (question: first user
    message; steps: assistant messages; reference: the task's `reference_field`), step judges and
    PRMs are scored eagerly, trajectory judges are passed lazily (a `lazy: true` level behind a
    closed gate never calls its model), the episode is re-scored, and the last reward is
    corrected so the episode's rewards sum to the judged return. `info` gets the judged `report`,
    `judgments` (scores and rationales), `judge_step_components`, and `reward_invalid` (True when
    a needed judgment timed out or failed).
    """

    def __init__(self, env: gym.Env, spec: Any = None, *, models: Any = None, runner: Any = None) -> None:
        super().__init__(env)
        from agentgym.rewards.judges import JudgeRunner

        self.reward_spec = spec if spec is not None else env.unwrapped.reward_spec
        self.runner = runner or JudgeRunner(self.reward_spec, models=models)
        self._steps: list[dict[str, Any]] = []
        self._emitted = 0.0

    def reset(self, **kwargs: Any) -> Any:
        self._steps = []
        self._emitted = 0.0
        return self.env.reset(**kwargs)

    def _reference(self) -> str | None:
        task = getattr(self.env.unwrapped, "task", None)
        fields = {c.reference_field for c in self.runner.configs.values()}
        for name in fields:
            for source in (task, getattr(task, "metadata", None) or {}):
                value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
                if value is not None:
                    return str(value)
        return None

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps.append(dict(info.get("components") or {}))
        self._emitted += float(reward)
        if not (terminated or truncated):
            return obs, reward, terminated, truncated, info
        from agentgym.rewards.judges import episode_view_from_messages

        view = episode_view_from_messages(self.env.unwrapped.transcript, self._reference())
        steps = [dict(c) for c in self._steps]
        judgments: dict[str, Any] = {}
        invalid = bool(info.get("reward_invalid"))
        step_extra: list[dict[str, float]] = [{} for _ in steps]
        if self.runner.has_step_judges and not invalid:
            judged = self.runner.score([view], scope="step")[0]
            judgments.update(judged.judgments)
            invalid = invalid or judged.invalid
            if len(judged.steps) == len(steps):
                step_extra = judged.steps
        steps = [{**a, **b} for a, b in zip(steps, step_extra, strict=True)]
        trajectory = dict(info.get("trajectory_components") or {})
        lazy = self.runner.lazy_components(view, judgments) if not invalid else {}
        mode = getattr(self.env.unwrapped.reward_spec, "mode", None)
        report = self.reward_spec.score(steps, {**trajectory, **lazy}, reward_invalid=invalid, mode=mode)
        resolved = {k: v["score"] for k, v in judgments.items() if isinstance(v, dict) and v.get("valid")}
        reward = float(reward) + report.return_ - self._emitted
        self._emitted = report.return_
        info = {
            **info,
            "report": report,
            "judgments": judgments,
            "judge_step_components": step_extra,
            "trajectory_components": {**trajectory, **resolved},
            "reward_invalid": report.reward_invalid,
        }
        return obs, reward, terminated, truncated, info


for _prefix in ("vllm", "openai", "hf", "policy", "vllm-engine", "smollm2"):
    register_model_factory(_prefix, make_judge_model)
