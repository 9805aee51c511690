"""The env server: agentgym envs served over HTTP/WebSocket to trainers on other machines.

- `SessionManager` (`agentgym.server.sessions`): a bounded pool of envs of one id, handed out as
  sessions that time out; a crashed client leaks no env.
- `create_app` (`agentgym.server.app`): the FastAPI app (`agentgym env serve` runs it with uvicorn).
- `RemoteEnv` (`agentgym.server.client`): the client, registered as `agentgym/Remote-v0`.
- `agentgym.server.wire`: the JSON payloads, so `info["report"]` arrives as a `RewardReport`.

Importing this package imports neither FastAPI nor uvicorn; the client needs only httpx/websockets.
"""

from agentgym.server.client import RemoteEnv, RemoteEnvError, SessionLostError

__all__ = ["RemoteEnv", "RemoteEnvError", "SessionLostError"]
