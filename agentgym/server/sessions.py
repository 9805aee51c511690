"""Sessions over a bounded pool of envs: what the env server serves, independent of the transport.

`SessionManager` owns up to `max_envs` envs of one env id. A client opens a session (it gets an
env: an idle pooled one, a new one while the pool is below `max_envs`, or it waits for one to be
released), then resets, steps and closes it. Every operation on a session runs under that
session's lock, so one env is never used by two requests at once.

Nothing leaks when a client disappears: a session unused for `session_timeout` seconds is closed
by a reaper thread, a WebSocket session is closed when its connection drops, and a released env
whose episode was still in progress (or whose last operation crashed) is closed and discarded
rather than handed to the next client, so no client ever sees another's half-played episode or
its sandbox.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from agentgym.errors import TaskError

logger = logging.getLogger(__name__)

#: methods of the env a client may call beyond reset/step/close (each returns plain data)
CALLABLE_METHODS = ("truncate", "oracle_actions", "task_ids", "render")


class UnknownSessionError(KeyError):
    """The session id is not (or no longer) held by this server: closed, timed out, or the server restarted."""


class ServerBusyError(RuntimeError):
    """Every env of the pool is in use and none was released within the wait."""


@dataclass
class Session:
    """One client's hold on one env."""

    id: str
    env: gym.Env
    pooled: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)
    busy: int = 0
    episode_open: bool = False
    broken: bool = False
    closed: bool = False


class SessionManager:
    """A bounded env pool of one env id, handed out as sessions (see the module docstring)."""

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        *,
        max_envs: int = 8,
        session_timeout: float = 300.0,
        acquire_timeout: float = 60.0,
        make_env: Callable[..., gym.Env] | None = None,
    ) -> None:
        if max_envs < 1:
            raise ValueError(f"max_envs must be >= 1, got {max_envs}")
        if session_timeout <= 0:
            raise ValueError(f"session_timeout must be > 0, got {session_timeout}")
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.max_envs = max_envs
        self.session_timeout = session_timeout
        self.acquire_timeout = acquire_timeout
        self._make = make_env or (lambda **kw: gym.make(env_id, **kw))
        self._lock = threading.Condition()
        self._idle: list[gym.Env] = []
        self._sessions: dict[str, Session] = {}
        self._live_envs = 0  # envs in existence (idle + held + being built)
        self.created = 0
        self.discarded = 0
        self.expired = 0
        self._stop = threading.Event()
        first = self._make(**self.env_kwargs)  # built now: a bad env argument fails at startup
        self.created = self._live_envs = 1
        self._idle.append(first)
        unwrapped = first.unwrapped
        spec = getattr(unwrapped, "reward_spec", None)
        self.reward_spec_data: dict[str, Any] | None = spec.model_dump(mode="json") if spec is not None else None
        self.env_class = f"{type(unwrapped).__module__}:{type(unwrapped).__qualname__}"
        self._reaper = threading.Thread(target=self._reap_forever, name="agentgym-session-reaper", daemon=True)
        self._reaper.start()

    # ------------------------------------------------------------------ sessions
    def open(self, reward: Any = None) -> Session:
        """A new session holding an env; `reward` (a spec other than the pool's) gets its own env."""
        dedicated = reward is not None and not self._same_spec(reward)
        deadline = time.monotonic() + self.acquire_timeout
        with self._lock:
            while True:
                if self._stop.is_set():
                    raise ServerBusyError("the server is shutting down")
                if self._idle and not dedicated:
                    env: gym.Env | None = self._idle.pop()
                    break
                if self._live_envs < self.max_envs:
                    env = None
                    self._live_envs += 1
                    break
                if self._idle:  # a dedicated env is wanted and the pool is full: free an idle one
                    self._close_env(self._idle.pop())
                    self._live_envs -= 1
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServerBusyError(
                        f"all {self.max_envs} envs are in use; none was released within {self.acquire_timeout:g}s "
                        "(raise --max-envs or retry later)"
                    )
                self._lock.wait(remaining)
        if env is None:
            try:
                kwargs = dict(self.env_kwargs)
                if dedicated:
                    kwargs["reward"] = reward
                env = self._make(**kwargs)
            except BaseException:
                with self._lock:
                    self._live_envs -= 1
                    self._lock.notify()
                raise
            with self._lock:
                self.created += 1
        session = Session(id=secrets.token_urlsafe(16), env=env, pooled=not dedicated)
        with self._lock:
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or session.closed:
            raise UnknownSessionError(
                f"session {session_id!r} is not held by this server (closed, timed out after "
                f"{self.session_timeout:g}s idle, or the server restarted)"
            )
        return session

    def run(self, session_id: str, work: Callable[[gym.Env], Any], *, ends_episode: Callable[[Any], bool] | None = None,
            starts_episode: bool = False) -> Any:
        """Run `work(env)` under the session's lock; a crash marks the env broken (it is discarded)."""
        session = self.get(session_id)
        with self._lock:
            session.busy += 1
        try:
            with session.lock:
                if session.closed:
                    raise UnknownSessionError(f"session {session_id!r} was closed")
                try:
                    result = work(session.env)
                except (gym.error.ResetNeeded, TaskError, ValueError, TypeError, LookupError):
                    raise  # a caller mistake (step before reset, bad task id): the env is fine
                except BaseException:
                    session.broken = True
                    raise
                if starts_episode:
                    session.episode_open = True
                if ends_episode is not None and ends_episode(result):
                    session.episode_open = False
                return result
        finally:
            with self._lock:
                session.busy -= 1
                session.last_used = time.monotonic()

    def close(self, session_id: str) -> bool:
        """Release a session's env (to the pool when its episode ended cleanly); False if unknown."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        with session.lock:  # waits for an operation in flight
            session.closed = True
            reusable = session.pooled and not session.episode_open and not session.broken
        if reusable and not self._stop.is_set():
            with self._lock:
                self._idle.append(session.env)
                self._lock.notify()
            return True
        self._close_env(session.env)
        with self._lock:
            self._live_envs -= 1
            if not reusable:
                self.discarded += 1
            self._lock.notify()
        return True

    # ------------------------------------------------------------------ upkeep
    def expire_idle(self, now: float | None = None) -> list[str]:
        """Close every session unused for longer than `session_timeout`; returns their ids."""
        now = time.monotonic() if now is None else now
        with self._lock:
            stale = [s.id for s in self._sessions.values()
                     if s.busy == 0 and now - s.last_used > self.session_timeout]
        for session_id in stale:
            if self.close(session_id):
                self.expired += 1
                logger.info("session %s timed out; its env was released", session_id)
        return stale

    def _reap_forever(self) -> None:
        interval = max(0.05, min(5.0, self.session_timeout / 4))
        while not self._stop.wait(interval):
            try:
                self.expire_idle()
            except Exception:  # noqa: BLE001 - the reaper must outlive one failed close
                logger.exception("closing an idle session failed")

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "env_id": self.env_id,
                "sessions": len(self._sessions),
                "envs": self._live_envs,
                "idle_envs": len(self._idle),
                "max_envs": self.max_envs,
                "created": self.created,
                "discarded": self.discarded,
                "expired": self.expired,
                "session_timeout": self.session_timeout,
            }

    def shutdown(self) -> None:
        """Close every session and every env."""
        self._stop.set()
        with self._lock:
            ids = list(self._sessions)
            self._lock.notify_all()
        for session_id in ids:
            self.close(session_id)
        with self._lock:
            idle, self._idle = self._idle, []
            self._live_envs -= len(idle)
        for env in idle:
            self._close_env(env)

    # ------------------------------------------------------------------ internals
    def _same_spec(self, reward: Any) -> bool:
        if self.reward_spec_data is None:
            return False
        if hasattr(reward, "model_dump"):
            reward = reward.model_dump(mode="json")
        if not isinstance(reward, dict):
            return False
        return json.dumps(reward, sort_keys=True, default=str) == json.dumps(self.reward_spec_data, sort_keys=True,
                                                                            default=str)

    @staticmethod
    def _close_env(env: gym.Env) -> None:
        try:
            env.close()
        except Exception:  # noqa: BLE001 - a failing close must not keep the slot
            logger.exception("closing an env failed")
