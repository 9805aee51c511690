"""Judge backends: the batched chat-completions judge model for OpenAI-compatible servers.

`ChatCompletionsJudgeModel` sends judge requests to ``/v1/chat/completions``: for a vLLM server
(``vllm=True``) the template's prefill ("Verdict:") starts the assistant turn
(continue_final_message) and the returned text includes it; other endpoints get no prefill. A
batch of requests is sent concurrently (bounded by `max_concurrency`); the server batches them.
Per-request failures come back as `JudgeOutput(error=...)`, never as exceptions or empty text.

Judge model strings are policy strings: `agentgym.policy.make_judge_model("vllm:URL#MODEL")` builds
the policy and asks it for its judge model (`VLLMServerPolicy.as_judge_model()` and
`OpenAIChatPolicy.as_judge_model()` return this class); any other policy is wrapped in
`agentgym.rewards.judges.PolicyJudgeModel`. Nothing is registered at import time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx

from agentgym.rewards.judges.adapters import PolicyJudgeModel
from agentgym.rewards.judges.protocol import JudgeOutput, JudgeRequest

__all__ = ["ChatCompletionsJudgeModel", "PolicyJudgeModel"]


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
