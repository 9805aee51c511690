"""`agentgym/Remote-v0`: a Gymnasium env whose real env runs in an env server on another machine.

    env = gymnasium.make("agentgym/Remote-v0", url="http://gpu-box:8040", env_id="agentgym/NAME-v0")

It behaves like the local env: `reset`/`step` return the same observations, rewards and `info`
(with `info["report"]` a `RewardReport`), `reward_spec`, `truncate`, `oracle_actions` and
`task_ids` work, so `run_episode`, trajectory files, replay and re-execution see no difference.
The client holds one server session (one env); `close()` releases it. Transport: a WebSocket
(`transport="ws"`, the default: one connection per env, the server frees the env the moment
the connection drops) or plain HTTP requests (`transport="http"`).

When the server loses the session (it restarted, or the session timed out), `reset` opens a new
one transparently; a `step` in the lost episode ends that episode the way an infrastructure
failure ends a local one: `truncated=True`, `info["reward_invalid"] = True`, reward 0, so
trainers mask it. Errors the local env would raise (step before reset, an unknown task id)
are raised as the same types.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

import gymnasium as gym

from agentgym.errors import InfrastructureError, TaskError
from agentgym.server.wire import decode, encode
from agentgym.spaces import AnyText


class RemoteEnvError(RuntimeError):
    """The env on the server raised an error the client has no own type for (e.g. a family bug)."""


class SessionLostError(InfrastructureError):
    """The server no longer holds this client's session (it restarted, or the session timed out)."""


_RAISED_AS: dict[str, type[BaseException]] = {
    "ResetNeeded": gym.error.ResetNeeded,
    "TaskError": TaskError,
    "InfrastructureError": InfrastructureError,
    "UnknownSessionError": SessionLostError,
    "ServerBusyError": InfrastructureError,
    "BadRequest": ValueError,
    "ValueError": ValueError,
    "TypeError": TypeError,
    "KeyError": KeyError,
}


def _raise_remote(error: dict[str, Any]) -> None:
    kind = str(error.get("type", "Error"))
    message = str(error.get("message", ""))
    cls = _RAISED_AS.get(kind)
    if cls is None:
        raise RemoteEnvError(f"{kind}: {message}")
    raise cls(message)


class _HttpTransport:
    def __init__(self, url: str, timeout: float) -> None:
        import httpx

        self.url = url
        self._client = httpx.Client(base_url=url, timeout=timeout)
        self.session_id: str | None = None

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        try:
            response = self._client.request(method, path, content=None if body is None else json.dumps(body),
                                            headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            raise SessionLostError(f"env server at {self.url} is unreachable: {type(exc).__name__}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            raise RemoteEnvError(f"env server at {self.url} answered {response.status_code} without JSON") from None
        if response.status_code >= 400:
            _raise_remote(payload.get("error", {}) if isinstance(payload, dict) else {})
        return payload

    def open(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = self._send("POST", "/v1/sessions", body)
        self.session_id = reply["session_id"]
        return reply

    def request(self, op: str, body: dict[str, Any]) -> Any:
        if self.session_id is None:
            raise SessionLostError("no session: the env was closed")
        return self._send("POST", f"/v1/sessions/{self.session_id}/{op}", body)

    def health(self) -> dict[str, Any]:
        return self._send("GET", "/v1/health")

    def close(self) -> None:
        try:
            if self.session_id is not None:
                self._send("DELETE", f"/v1/sessions/{self.session_id}")
        except (InfrastructureError, RemoteEnvError):
            pass  # the server is gone: its session goes with it (or times out)
        finally:
            self.session_id = None
            self._client.close()


class _WsTransport:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        scheme, _, rest = url.partition("://")
        self.ws_url = ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + "/v1/ws"
        self.timeout = timeout
        self._socket: Any = None
        self._stack: ExitStack | None = None
        self.session_id: str | None = None

    def _exchange(self, message: dict[str, Any]) -> Any:
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        try:
            if self._socket is None:
                if message.get("op") != "open" and message.get("op") != "health":
                    raise SessionLostError(f"the connection to the env server at {self.url} was lost")
                stack = ExitStack()
                self._socket = stack.enter_context(
                    connect(self.ws_url, open_timeout=self.timeout, max_size=None, compression=None, close_timeout=1)
                )
                self._stack = stack
            self._socket.send(json.dumps(message))
            reply = json.loads(self._socket.recv(timeout=self.timeout))
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._drop()
            raise SessionLostError(f"env server at {self.url} is unreachable: {type(exc).__name__}: {exc}") from exc
        if not reply.get("ok"):
            _raise_remote(reply.get("error", {}))
        return reply["result"]

    def _drop(self) -> None:
        stack, self._stack, self._socket, self.session_id = self._stack, None, None, None
        if stack is not None:
            try:
                stack.close()
            except Exception:  # noqa: BLE001, S110 - the socket is already broken
                pass

    def open(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = self._exchange({"op": "open", **body})
        self.session_id = reply["session_id"]
        return reply

    def request(self, op: str, body: dict[str, Any]) -> Any:
        return self._exchange({"op": op, **body})

    def health(self) -> dict[str, Any]:
        return self._exchange({"op": "health"})

    def close(self) -> None:
        try:
            if self._socket is not None and self.session_id is not None:
                self._exchange({"op": "close"})
        except (InfrastructureError, RemoteEnvError):
            pass
        finally:
            self._drop()


class RemoteEnv(gym.Env[str, Any]):
    """A client of `agentgym env serve` that behaves like the served env (see the module docstring)."""

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 0}
    #: a client of an `AgentEnv` (same observations, actions and info), for callers that check the class
    stands_in_for_agent_env: bool = True

    def __init__(
        self,
        url: str,
        env_id: str | None = None,
        *,
        reward: Any = None,
        transport: str = "ws",
        timeout: float = 300.0,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(url, str) or "://" not in url:
            raise ValueError(f"url must look like http://HOST:PORT, got {url!r}")
        if transport not in ("ws", "http"):
            raise ValueError(f"transport must be 'ws' or 'http', got {transport!r}")
        self.url = url.rstrip("/")
        self.remote_env_id = env_id
        self.render_mode = render_mode
        self.observation_space = AnyText()
        self.action_space = AnyText()
        self._reward = reward.model_dump(mode="json") if hasattr(reward, "model_dump") else reward
        self._transport: _HttpTransport | _WsTransport = (
            _WsTransport(self.url, timeout) if transport == "ws" else _HttpTransport(self.url, timeout)
        )
        self.reward_spec: Any = None
        self.turn = 0
        self._episode_open = False
        self._closed = False
        self._open_session()

    # ------------------------------------------------------------------ session
    def _open_session(self) -> None:
        body: dict[str, Any] = {}
        if self.remote_env_id is not None:
            body["env_id"] = self.remote_env_id
        if self._reward is not None:
            body["reward"] = self._reward if isinstance(self._reward, dict | list) else str(self._reward)
        reply = self._transport.open(body)
        self.remote_env_id = reply["env_id"]
        self.session_id: str = reply["session_id"]
        spec = reply.get("reward_spec")
        if spec is not None:
            from agentgym.rewards import RewardSpec

            self.reward_spec = RewardSpec.model_validate(spec)

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        body = {"seed": seed, "options": encode(options) if options is not None else None}
        try:
            reply = self._transport.request("reset", body)
        except SessionLostError:  # the server restarted or dropped us: a fresh session, same request
            self._open_session()
            reply = self._transport.request("reset", body)
        self.turn = 0
        self._episode_open = True
        return decode(reply["observation"]), decode(reply["info"])

    def step(self, action: Any) -> tuple[str, float, bool, bool, dict[str, Any]]:
        try:
            reply = self._transport.request("step", {"action": encode(action)})
        except SessionLostError as exc:
            if not self._episode_open:
                raise gym.error.ResetNeeded("call reset() before step(); the episode has ended or never started") from exc
            return self._lost_episode(exc)
        self.turn += 1
        result = self._step_tuple(reply)
        if result[2] or result[3]:
            self._episode_open = False
        return result

    def truncate(self, reason: str = "truncated by the caller") -> tuple[str, float, bool, bool, dict[str, Any]]:
        """End the current episode now, as truncated (see `AgentEnv.truncate`)."""
        try:
            reply = self._call("truncate", reason)
        except SessionLostError as exc:
            return self._lost_episode(exc)
        self._episode_open = False
        return tuple(reply)  # type: ignore[return-value]

    def oracle_actions(self) -> Any:
        return self._call("oracle_actions")

    def task_ids(self, split: str | None = None) -> list[str] | None:
        return self._call("task_ids", split)

    def render(self) -> str | None:
        return self._call("render")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._episode_open = False
            self._transport.close()
        super().close()

    # ------------------------------------------------------------------ internals
    def _call(self, method: str, *args: Any) -> Any:
        return decode(self._transport.request("call", {"method": method, "args": encode(list(args))})["result"])

    @staticmethod
    def _step_tuple(reply: dict[str, Any]) -> tuple[str, float, bool, bool, dict[str, Any]]:
        return (decode(reply["observation"]), float(decode(reply["reward"])), bool(reply["terminated"]),
                bool(reply["truncated"]), decode(reply["info"]))

    def _lost_episode(self, exc: BaseException) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """The episode died with the server's session: end it as an infrastructure failure."""
        self.turn += 1
        self._episode_open = False
        message = f"env server lost the episode: {exc}"
        info: dict[str, Any] = {
            "components": {}, "action_valid": False, "tool_calls": [], "tool_results": [], "turn": self.turn,
            "report": None, "trajectory_components": {}, "metrics": {}, "success": None,
            "reward_invalid": True, "infrastructure_error": message,
        }  # fmt: skip
        observation = f"Infrastructure error: {message}. The episode has ended; its reward is marked invalid."
        return observation, 0.0, False, True, info
