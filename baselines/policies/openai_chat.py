"""`openai:URL#MODEL`: any OpenAI-compatible `/v1/chat/completions` endpoint.

The server renders the chat template, so this backend cannot promise token faithfulness: it
returns the assistant message (content and native `tool_calls`), per-token logprobs when the
endpoint gives them, and token ids only when the endpoint returns them (vLLM does with
`return_token_ids`; set `token_ids=True`). For RL on multi-turn episodes prefer `vllm:URL#MODEL`.

Tools: `tools_mode="native"` passes them as the `tools` field; `"prompt"` renders them into the
system prompt (Hermes `<tool_call>` convention) and parses calls from the text; `"auto"` (default)
tries native and switches to prompt for the rest of the run when the endpoint rejects `tools`
(e.g. vLLM without `--enable-auto-tool-choice`). The API key comes from `api_key=` or the
environment variable named by `api_key_env` (default `OPENAI_API_KEY`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import httpx

from agentgym.baselines.agent.chat import tools_system_prompt
from agentgym.baselines.agent.toolcalls import assistant_message
from agentgym.baselines.policies.base import SamplingParams
from agentgym.parsing import message_text
from agentgym.policy import PolicyOutput


def _wire_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]], prompt_tools: bool) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        role = m.get("role", "user")
        item: dict[str, Any] = {"role": role, "content": message_text(m.get("content"))}
        if role == "assistant" and m.get("tool_calls") and not prompt_tools:
            item["tool_calls"] = [
                {"id": c.get("id") or f"call_{i}", "type": "function",
                 "function": {"name": c.get("function", c).get("name"),
                              "arguments": _json_args(c.get("function", c).get("arguments"))}}
                for i, c in enumerate(m["tool_calls"])
            ]
        if role == "tool":
            if prompt_tools:
                item = {"role": "user", "content": f"<tool_response>\n{item['content']}\n</tool_response>"}
            else:
                item["tool_call_id"] = m.get("tool_call_id", "")
        out.append(item)
    if prompt_tools and tools:
        block = tools_system_prompt(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{block}"}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def _json_args(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args or {}, ensure_ascii=False)


class OpenAIChatPolicy:
    """Chat completions against any OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 sampling: SamplingParams | None = None, tools_mode: str = "auto", logprobs: bool = True,
                 token_ids: bool = False, timeout: float = 600.0, retries: int = 2) -> None:
        if tools_mode not in ("auto", "native", "prompt"):
            raise ValueError("tools_mode must be auto, native or prompt")
        base = base_url.rstrip("/")
        self.url = f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"
        self.model = model
        self.sampling = sampling or SamplingParams()
        self.tools_mode = tools_mode
        self.logprobs = logprobs
        self.token_ids = token_ids
        self.timeout = timeout
        self.retries = retries
        key = api_key or os.environ.get(api_key_env)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._prompt_tools = tools_mode == "prompt"

    def as_judge_model(self, max_concurrency: int = 64) -> Any:
        """This endpoint as a judge model: batched chat completions (no prefill)."""
        from agentgym.baselines.judge_backends import ChatCompletionsJudgeModel

        judge = ChatCompletionsJudgeModel(self.url.removesuffix("/chat/completions"), self.model,
                                          max_concurrency=max_concurrency, request_timeout=self.timeout)
        judge.headers = dict(self.headers)
        return judge

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "backend": "openai-chat", "url": self.url, "model": self.model,
                "sampling": self.sampling.describe(), "tools_mode": "prompt" if self._prompt_tools else self.tools_mode}

    def _body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        s = self.sampling
        body: dict[str, Any] = {
            "model": self.model, "messages": _wire_messages(messages, tools, self._prompt_tools),
            "max_tokens": s.max_tokens, "temperature": s.temperature, "top_p": s.top_p,
        }
        if tools and not self._prompt_tools:
            body["tools"] = tools
        if self.logprobs:
            body["logprobs"] = True
        if self.token_ids:
            body["return_token_ids"] = True
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = s.stop
        return body

    def _output(self, data: dict[str, Any], latency: float) -> PolicyOutput:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        text = msg.get("content") or ""
        if msg.get("tool_calls"):
            message = {"role": "assistant", "content": text, "tool_calls": [
                {"id": c.get("id", ""), "type": "function",
                 "function": {"name": c["function"]["name"], "arguments": _json_args(c["function"].get("arguments"))}}
                for c in msg["tool_calls"]
            ]}
        else:
            message = assistant_message(text)
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")  # a server's reasoning parser split it off
        if isinstance(reasoning, str) and reasoning:
            message["reasoning_content"] = reasoning
        logprobs = None
        content_lp = (choice.get("logprobs") or {}).get("content")
        if content_lp:
            logprobs = [float(t["logprob"]) for t in content_lp]
        return PolicyOutput(
            message=message, prompt_token_ids=data.get("prompt_token_ids"), completion_token_ids=choice.get("token_ids"),
            logprobs=logprobs, finish_reason=choice.get("finish_reason"),
            meta={"latency_s": round(latency, 4), "usage": data.get("usage"),
                  "tools_mode": "prompt" if self._prompt_tools else "native"},
        )

    def _should_fallback(self, response: httpx.Response, tools: list[dict[str, Any]]) -> bool:
        return bool(tools) and self.tools_mode == "auto" and not self._prompt_tools and response.status_code == 400

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            for attempt in range(self.retries + 1):
                started = time.perf_counter()
                try:
                    response = client.post(self.url, json=self._body(messages, tools))
                    if self._should_fallback(response, tools):
                        self._prompt_tools = True
                        continue
                    response.raise_for_status()
                    return self._output(response.json(), time.perf_counter() - started)
                except httpx.TransportError:
                    if attempt == self.retries:
                        raise
                    time.sleep(0.5 * 2**attempt)
            response.raise_for_status()
            return self._output(response.json(), time.perf_counter() - started)

    async def aact(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            for attempt in range(self.retries + 1):
                started = time.perf_counter()
                try:
                    response = await client.post(self.url, json=self._body(messages, tools))
                    if self._should_fallback(response, tools):
                        self._prompt_tools = True
                        continue
                    response.raise_for_status()
                    return self._output(response.json(), time.perf_counter() - started)
                except httpx.TransportError:
                    if attempt == self.retries:
                        raise
                    await asyncio.sleep(0.5 * 2**attempt)
            response.raise_for_status()
            return self._output(response.json(), time.perf_counter() - started)
