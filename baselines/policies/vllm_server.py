"""A policy backed by a vLLM OpenAI-compatible server, token-faithful.

Decision: the prompt is rendered here, with the model's own chat template (tools included, see
`agentgym.baselines.agent.chat`), and sent as token ids to `/v1/completions`
(`{"prompt": [ids], "logprobs": 0, "return_tokens_as_token_ids": true, "return_token_ids": true}`).
The server returns the generated token ids and their logprobs, and echoes the prompt ids, so the
trajectory holds exactly the tokens the model saw and produced — nothing is re-tokenized from
text. (`/v1/chat/completions` would render the template on the server and re-tokenize earlier turns
from their decoded text each turn: the multi-turn drift this avoids.) The drift guard checks every
turn's prompt against the previous prompt + completion.

The tokenizer is loaded locally: from `tokenizer=` (a directory or a fetched model name), else
from the served model name when it is a directory or a fetched model, else from the `root` path
the server reports in `/v1/models` (same machine).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from agentgym.baselines.policies.base import Generation, SamplingParams, TokenPolicy, load_tokenizer


def resolve_tokenizer_path(base_url: str, model: str, tokenizer: str | None) -> str:
    from agentgym.baselines.models.fetch import ALIASES, KNOWN_MODELS, find_model

    for candidate in (tokenizer, model):
        if not candidate:
            continue
        if Path(candidate).expanduser().is_dir():
            return str(Path(candidate).expanduser())
        if candidate.lower() in KNOWN_MODELS or candidate in ALIASES:
            found = find_model(candidate)
            if found is not None:
                return str(found)
    try:
        listing = httpx.get(f"{base_url}/v1/models", timeout=10.0).json()
        for entry in listing.get("data", []):
            if entry.get("id") == model and entry.get("root") and Path(entry["root"]).is_dir():
                return str(entry["root"])
    except (httpx.HTTPError, ValueError):
        pass
    raise ValueError(f"no local tokenizer for {model!r} at {base_url}: pass tokenizer=DIR (or ?tokenizer=DIR in the policy string)")


def parse_completion_choice(choice: dict[str, Any]) -> Generation:
    """Token ids, logprobs and finish reason from one `/v1/completions` choice."""
    lp = choice.get("logprobs") or {}
    tokens = lp.get("tokens") or []
    ids = choice.get("token_ids")
    if ids is None:
        ids = [int(t.split(":", 1)[1]) for t in tokens if isinstance(t, str) and t.startswith("token_id:")]
    logprobs = lp.get("token_logprobs")
    if logprobs is not None:
        logprobs = [float(x) if x is not None else 0.0 for x in logprobs]
        if len(logprobs) != len(ids):
            logprobs = None
    return Generation(
        token_ids=[int(i) for i in ids], logprobs=logprobs, finish_reason=choice.get("finish_reason") or "stop",
        text=choice.get("text"), prompt_ids=choice.get("prompt_token_ids"),
    )


class VLLMServerPolicy(TokenPolicy):
    """`vllm:URL#MODEL`: token-id prompts to a vLLM server's `/v1/completions`."""

    name = "vllm"

    def __init__(self, base_url: str, model: str, *, tokenizer: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, retries: int = 2, sampling: SamplingParams | None = None,
                 max_model_len: int | None = None, **kwargs: Any) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.tokenizer_path = resolve_tokenizer_path(self.base_url, model, tokenizer)
        if max_model_len is None:
            max_model_len = self._server_max_model_len() or 2048
        super().__init__(load_tokenizer(self.tokenizer_path), sampling=sampling, max_model_len=max_model_len, **kwargs)
        self._client = httpx.Client(timeout=timeout, headers=self.headers)
        self._aclients: dict[int, httpx.AsyncClient] = {}

    def _server_max_model_len(self) -> int | None:
        try:
            for entry in httpx.get(f"{self.base_url}/v1/models", timeout=10.0).json().get("data", []):
                if entry.get("id") == self.model and entry.get("max_model_len"):
                    return int(entry["max_model_len"])
        except (httpx.HTTPError, ValueError):
            return None
        return None

    def as_judge_model(self, max_concurrency: int = 64) -> Any:
        """This server as a judge model: batched chat completions, the verdict prefix prefilled."""
        from agentgym.baselines.judge_backends import ChatCompletionsJudgeModel

        judge = ChatCompletionsJudgeModel(self.base_url, self.model, vllm=True, max_concurrency=max_concurrency,
                                          request_timeout=self.timeout)
        judge.headers = dict(self.headers)
        return judge

    def backend_info(self) -> dict[str, Any]:
        return {"backend": "vllm-server", "base_url": self.base_url, "model": self.model, "tokenizer": self.tokenizer_path}

    def request_body(self, prompt_ids: list[int], max_tokens: int) -> dict[str, Any]:
        s = self.sampling
        body: dict[str, Any] = {
            "model": self.model, "prompt": prompt_ids, "max_tokens": max_tokens,
            "temperature": s.temperature, "top_p": s.top_p,
            "logprobs": 0, "return_tokens_as_token_ids": True, "return_token_ids": True,
        }
        if s.seed is not None:
            body["seed"] = s.seed
        if s.stop:
            body["stop"] = list(s.stop)
        return body

    @staticmethod
    def _parse(data: dict[str, Any], latency: float) -> Generation:
        generation = parse_completion_choice(data["choices"][0])
        generation.meta["latency_s"] = round(latency, 4)
        return generation

    def _generate(self, prompt_ids: list[int], max_tokens: int) -> Generation:
        body = self.request_body(prompt_ids, max_tokens)
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                response = self._client.post(f"{self.base_url}/v1/completions", json=body)
                response.raise_for_status()
                return self._parse(response.json(), time.perf_counter() - started)
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if attempt == self.retries or _client_error(exc):
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def _aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._aclients.get(id(loop))
        if client is None or client.is_closed:
            # one client per event loop: asyncio.run() in a later call gets a fresh one
            client = httpx.AsyncClient(timeout=self.timeout, headers=self.headers,
                                       limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))
            self._aclients = {k: v for k, v in self._aclients.items() if not v.is_closed}
            self._aclients[id(loop)] = client
        return client

    async def _agenerate(self, prompt_ids: list[int], max_tokens: int) -> Generation:
        body = self.request_body(prompt_ids, max_tokens)
        client = self._aclient()
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                response = await client.post(f"{self.base_url}/v1/completions", json=body)
                response.raise_for_status()
                return self._parse(response.json(), time.perf_counter() - started)
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                if attempt == self.retries or _client_error(exc):
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._client.close()


def _client_error(exc: Exception) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and 400 <= exc.response.status_code < 500
