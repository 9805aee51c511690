"""The token-recording gateway: an OpenAI chat-completions server in front of any agentgym policy.

Why: agent programs people already use (mini-swe-agent, OpenHands, terminal agents) call an
OpenAI-compatible endpoint; a trainer needs the exact tokens of every call. The gateway answers
`POST /v1/chat/completions` with a policy (`vllm:URL#MODEL`, `vllm-engine:PATH`, `smollm2`,
`hf:PATH`: each renders the prompt with the model's chat template and returns the exact prompt
and completion ids and logprobs) and records each call in an `EpisodeBook`.

Episodes: the client names its episode with the `X-Agentgym-Episode` header, or else the request's
`model` field is the episode key (for clients that cannot set headers). Sampling is the policy's
(set in the policy string): the request's sampling fields are recorded, not applied, so recorded
logprobs always come from one known distribution. `stream=true` and `n>1` are refused.

Endpoints besides chat completions: `GET /v1/models`; `GET /agentgym/episodes` (open episodes and
their call counts); `GET /agentgym/episodes/{key}` (its calls with token ids);
`POST /agentgym/episodes/{key}/finish` with `{"reward": R, "success": B, "components": {...},
"task_id": ID, "group_id": G}` (episodes of one task sharing a group id are a GRPO group)
closes the episode and appends its record to the gateway's record file.
Episodes still open when the gateway stops are written `reward_invalid` (no reward was reported).

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at runtime.
"""

import asyncio
import inspect
import logging
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from agentgym.baselines.gateway.book import EpisodeBook, GatewayCall, call_steps
from agentgym.trajectory import EpisodeRecord, TrajectoryWriter

EPISODE_HEADER = "x-agentgym-episode"
#: request fields recorded (never applied: the policy's sampling decides)
SAMPLING_FIELDS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop")
logger = logging.getLogger(__name__)


def _error(status: int, message: str, code: str = "invalid_request_error") -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"error": {"message": message, "type": "invalid_request_error",
                                                               "code": code}})


def completion_body(call: GatewayCall, model: str) -> dict[str, Any]:
    """The OpenAI chat-completion response for one recorded call."""
    out = call.output
    message: dict[str, Any] = {"role": "assistant", "content": out.message.get("content") or ""}
    if out.message.get("tool_calls"):
        message["tool_calls"] = out.message["tool_calls"]
    finish = "tool_calls" if message.get("tool_calls") else ("length" if out.finish_reason == "length" else "stop")
    prompt_n = len(out.prompt_token_ids or [])
    completion_n = len(out.completion_token_ids or [])
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": prompt_n, "completion_tokens": completion_n, "total_tokens": prompt_n + completion_n},
        "agentgym": {"episode": call.episode, "call": call.index},
    }


class Gateway:
    """A policy, the book of its calls and where finished records go."""

    def __init__(self, policy: Any, *, out: str | Path | None = None, book: EpisodeBook | None = None) -> None:
        self.policy = policy
        self.book = book or EpisodeBook()
        self.out = Path(out) if out is not None else None
        self._writer: TrajectoryWriter | None = None
        self._write_lock = threading.Lock()
        self.policy_info = policy.describe() if hasattr(policy, "describe") else {"name": getattr(policy, "name", "?")}
        aact = getattr(policy, "aact", None)
        self._aact = aact if aact is not None and inspect.iscoroutinefunction(aact) else None

    async def complete(self, episode: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                       request: dict[str, Any]) -> GatewayCall:
        started = time.perf_counter()
        if self._aact is not None:
            output = await self._aact(messages, tools)
        else:
            output = await asyncio.to_thread(self.policy.act, messages, tools)
        return self.book.add(episode, messages, tools, output, request=request, seconds=time.perf_counter() - started)

    def write(self, record: EpisodeRecord) -> None:
        if self.out is None:
            return
        with self._write_lock:
            if self._writer is None:
                self._writer = TrajectoryWriter(self.out)
            self._writer.write(record)

    def finish(self, episode: str, **kwargs: Any) -> EpisodeRecord:
        record = self.book.finish(episode, policy_info={**self.policy_info, "gateway": True}, **kwargs)
        self.write(record)
        return record

    def close(self) -> None:
        """Write every open episode as `reward_invalid` (no reward came), then release the file."""
        for episode in list(self.book.episodes()):
            self.finish(episode, error="infrastructure: the gateway stopped before the episode was finished")
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def make_app(gateway: Gateway) -> Any:
    """The FastAPI app serving `gateway`."""
    from fastapi import FastAPI, Request

    app = FastAPI(title="agentgym gateway")
    model_name = str(gateway.policy_info.get("model") or gateway.policy_info.get("name") or "agentgym")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "agentgym"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "messages: a non-empty list of chat messages is required")
        if body.get("stream"):
            return _error(400, "stream=true is not supported by the agentgym gateway; send stream=false")
        if int(body.get("n") or 1) != 1:
            return _error(400, "n: the agentgym gateway returns one choice per call (n=1)")
        episode = request.headers.get(EPISODE_HEADER) or str(body.get("model") or "default")
        messages = [{k: v for k, v in m.items() if k != "extra"} for m in body["messages"] if isinstance(m, dict)]
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        recorded = {"model": body.get("model"), **{k: body[k] for k in SAMPLING_FIELDS if k in body}}
        try:
            call = await gateway.complete(episode, messages, tools, recorded)
        except Exception as exc:  # noqa: BLE001 - a backend failure is the client's 502, logged here
            logger.exception("policy call failed for episode %s", episode)
            return _error(502, f"the policy failed: {type(exc).__name__}: {exc}", "policy_error")
        if call.output.meta.get("stop"):
            return _error(400, "the conversation no longer fits the model's context window",
                          "context_length_exceeded")
        return completion_body(call, str(body.get("model") or model_name))

    @app.get("/agentgym/episodes")
    async def episodes() -> dict[str, Any]:
        return {"episodes": gateway.book.episodes()}

    @app.get("/agentgym/episodes/{episode}")
    async def episode_calls(episode: str) -> Any:
        calls = gateway.book.calls(episode)
        if not calls:
            return _error(404, f"no calls recorded for episode {episode!r}", "not_found")
        return {"episode": episode, "steps": [s.model_dump(mode="json") for s in call_steps(calls)]}

    @app.post("/agentgym/episodes/{episode}/finish")
    async def finish(episode: str, request: Request) -> Any:
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return _error(400, "the request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object: reward, success, components, task_id, group_id")
        reward = body.get("reward")
        if reward is not None and (isinstance(reward, bool) or not isinstance(reward, int | float)):
            return _error(400, f"reward: expected a number, got {reward!r}")
        success = body.get("success")
        if success is not None and not isinstance(success, bool):
            return _error(400, f"success: expected true or false, got {success!r}")
        components = body.get("components") or {}
        if not isinstance(components, dict):
            return _error(400, "components: expected an object of numbers or labels")
        if not gateway.book.calls(episode):
            return _error(404, f"no calls recorded for episode {episode!r}", "not_found")
        for key in ("task_id", "group_id"):
            if body.get(key) is not None and not isinstance(body[key], str):
                return _error(400, f"{key}: expected a string, got {body[key]!r}")
        record = await asyncio.to_thread(gateway.finish, episode, reward=reward, success=success,
                                         components=components, task_id=body.get("task_id"),
                                         group_id=body.get("group_id"))
        return {"episode_id": record.episode_id, "steps": len(record.steps), "reward_invalid": record.reward_invalid,
                "written_to": str(gateway.out) if gateway.out else None}

    return app


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class GatewayServer:
    """The gateway on a uvicorn server in a background thread (in-process harnesses, tests)."""

    def __init__(self, gateway: Gateway, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn

        self.gateway = gateway
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(make_app(gateway), host=host, port=self.port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "GatewayServer":
        self._thread = threading.Thread(target=self._server.run, name="agentgym-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.gateway.close()

    def __enter__(self) -> "GatewayServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
