"""The env server's HTTP and WebSocket endpoints (FastAPI) over a `SessionManager`.

HTTP, one JSON request per operation (any language can drive it):

    GET    /v1/health                       -> env id, reward spec, pool statistics
    POST   /v1/sessions          {reward?}  -> {session_id, env_id, reward_spec}
    POST   /v1/sessions/ID/reset {seed?, options?} -> {observation, info}
    POST   /v1/sessions/ID/step  {action}   -> {observation, reward, terminated, truncated, info}
    POST   /v1/sessions/ID/call  {method, args} -> {result}   (truncate, oracle_actions, task_ids, render)
    DELETE /v1/sessions/ID

WebSocket `/v1/ws`: the same operations as messages `{"op": "open"|"reset"|"step"|"call"|"close",
...}` answered in order by `{"ok": true, "result": ...}` or `{"ok": false, "error": {...}}`; one
session per connection, released when the connection drops (a crashed client frees its env at
once). Actions are what `AgentEnv.step` takes: an OpenAI assistant message or text. Payloads are
`agentgym.server.wire`-encoded, so `info["report"]` reaches the client as a `RewardReport`.
Errors carry the exception's type name and message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import gymnasium as gym
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from agentgym.errors import TaskError
from agentgym.server.sessions import CALLABLE_METHODS, ServerBusyError, SessionManager, UnknownSessionError
from agentgym.server.wire import encode

logger = logging.getLogger(__name__)
PROTOCOL_VERSION = 1


class BadRequest(ValueError):
    """The request itself is malformed (not JSON, a missing field, an unknown method)."""


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, UnknownSessionError):
        return 404
    if isinstance(exc, ServerBusyError):
        return 503
    if isinstance(exc, gym.error.ResetNeeded):
        return 409
    if isinstance(exc, BadRequest | TaskError | ValueError | TypeError | LookupError):
        return 400
    return 500


def _error_payload(exc: BaseException) -> dict[str, Any]:
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return {"error": {"type": type(exc).__name__, "message": str(message)}}


def _dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


def _step_result(result: tuple[Any, float, bool, bool, dict[str, Any]]) -> dict[str, Any]:
    observation, reward, terminated, truncated, info = result
    return {"observation": encode(observation), "reward": encode(float(reward)), "terminated": bool(terminated),
            "truncated": bool(truncated), "info": encode(info)}


def _ended(result: tuple[Any, ...]) -> bool:
    return bool(result[2] or result[3])


class EnvService:
    """The operations both transports share; each runs the env work in a worker thread."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.limiter = anyio.CapacityLimiter(manager.max_envs + 8)

    async def _thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    def describe(self) -> dict[str, Any]:
        return {"protocol": PROTOCOL_VERSION, "env_id": self.manager.env_id, "env_class": self.manager.env_class,
                "reward_spec": self.manager.reward_spec_data, **self.manager.stats()}

    async def open(self, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("env_id")
        if wanted is not None and wanted != self.manager.env_id:
            raise BadRequest(f"this server serves {self.manager.env_id}, not {wanted}")
        session = await self._thread(self.manager.open, body.get("reward"))
        spec = getattr(session.env.unwrapped, "reward_spec", None)
        return {"session_id": session.id, "env_id": self.manager.env_id,
                "reward_spec": spec.model_dump(mode="json") if spec is not None else None}

    async def reset(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        seed, options = body.get("seed"), body.get("options")

        def work(env: gym.Env) -> dict[str, Any]:
            observation, info = env.reset(seed=seed, options=options)
            return {"observation": encode(observation), "info": encode(info)}

        return await self._thread(lambda: self.manager.run(session_id, work, starts_episode=True))

    async def step(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if "action" not in body:
            raise BadRequest("step needs an 'action' (an OpenAI assistant message or text)")
        action = body["action"]
        return await self._thread(
            lambda: _step_result(self.manager.run(session_id, lambda env: env.step(action), ends_episode=_ended))
        )

    async def call(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        method = body.get("method")
        if method not in CALLABLE_METHODS:
            raise BadRequest(f"method {method!r} cannot be called; callable: {', '.join(CALLABLE_METHODS)}")
        args = list(body.get("args") or [])

        def work(env: gym.Env) -> Any:
            return getattr(env.unwrapped, method)(*args)

        ends = _ended if method == "truncate" else None
        result = await self._thread(lambda: self.manager.run(session_id, work, ends_episode=ends))
        return {"result": encode(result)}

    async def close(self, session_id: str) -> dict[str, Any]:
        return {"closed": await self._thread(self.manager.close, session_id)}


def create_app(manager: SessionManager) -> FastAPI:
    """The FastAPI app serving `manager`'s envs (closed with the app)."""
    service = EnvService(manager)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        yield
        await anyio.to_thread.run_sync(manager.shutdown)

    app = FastAPI(title="agentgym env server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service

    async def answer(operation: Callable[[], Any]) -> Response:
        try:
            payload, status = await operation(), 200
        except Exception as exc:  # noqa: BLE001 - every failure becomes a typed JSON error
            if _status_of(exc) == 500:
                logger.warning("env server operation failed: %s: %s", type(exc).__name__, exc)
            payload, status = _error_payload(exc), _status_of(exc)
        return Response(_dumps(payload), status_code=status, media_type="application/json")

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"the request body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    @app.get("/v1/health")
    async def health() -> Response:
        return await answer(lambda: _ready(service.describe()))

    @app.post("/v1/sessions")
    async def open_session(request: Request) -> Response:
        return await answer(lambda: _chain(body_of(request), service.open))

    @app.post("/v1/sessions/{session_id}/reset")
    async def reset(session_id: str, request: Request) -> Response:
        return await answer(lambda: _chain(body_of(request), lambda b: service.reset(session_id, b)))

    @app.post("/v1/sessions/{session_id}/step")
    async def step(session_id: str, request: Request) -> Response:
        return await answer(lambda: _chain(body_of(request), lambda b: service.step(session_id, b)))

    @app.post("/v1/sessions/{session_id}/call")
    async def call(session_id: str, request: Request) -> Response:
        return await answer(lambda: _chain(body_of(request), lambda b: service.call(session_id, b)))

    @app.delete("/v1/sessions/{session_id}")
    async def close(session_id: str) -> Response:
        return await answer(lambda: service.close(session_id))

    @app.websocket("/v1/ws")
    async def websocket(socket: WebSocket) -> None:
        await socket.accept()
        session_id: str | None = None
        try:
            while True:
                raw = await socket.receive_text()
                try:
                    message = json.loads(raw)
                    if not isinstance(message, dict):
                        raise BadRequest("a message must be a JSON object")
                    op = message.get("op")
                    if op == "open":
                        if session_id is not None:
                            await service.close(session_id)
                            session_id = None
                        result = await service.open(message)
                        session_id = result["session_id"]
                    elif op in ("reset", "step", "call", "close"):
                        if session_id is None:
                            raise UnknownSessionError("no session on this connection: send {'op': 'open'} first")
                        if op == "close":
                            result = await service.close(session_id)
                            session_id = None
                        else:
                            result = await getattr(service, op)(session_id, message)
                    elif op == "health":
                        result = service.describe()
                    else:
                        raise BadRequest(f"unknown op {op!r}: open, reset, step, call, close, health")
                    reply = {"ok": True, "result": result}
                except json.JSONDecodeError as exc:
                    reply = {"ok": False, **_error_payload(BadRequest(f"the message is not JSON: {exc}"))}
                except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error reply
                    reply = {"ok": False, "status": _status_of(exc), **_error_payload(exc)}
                await socket.send_text(_dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            if session_id is not None:  # the client went away: its env goes back (or is discarded)
                await anyio.to_thread.run_sync(manager.close, session_id)

    return app


async def _ready(value: Any) -> Any:
    return value


async def _chain(first: Any, then: Callable[[Any], Any]) -> Any:
    return await then(await first)


__all__ = ["BadRequest", "EnvService", "create_app"]
