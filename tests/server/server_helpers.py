"""Env servers for the tests: one in a thread of this process (fast), or an `agentgym env serve` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

TOY = "agentgym/StallOrSubmit-v0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {process.stdout.read() if process.stdout else ''}")
        try:
            return httpx.get(url + "/v1/health", timeout=2).json()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class ThreadServer:
    """`create_app(SessionManager(...))` under uvicorn in a daemon thread."""

    def __init__(self, env_id: str = TOY, env_kwargs: dict[str, Any] | None = None, **manager_kwargs: Any) -> None:
        import uvicorn

        from agentgym.server.app import create_app
        from agentgym.server.sessions import SessionManager

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.manager = SessionManager(env_id, env_kwargs, **manager_kwargs)
        config = uvicorn.Config(create_app(self.manager), host="127.0.0.1", port=self.port, log_level="warning",
                                ws_max_size=1 << 30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_healthy(self.url)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class ProcessServer:
    """`agentgym env serve` as a child process (killable, restartable on the same port)."""

    def __init__(self, env_id: str = TOY, *args: str, port: int | None = None) -> None:
        self.env_id = env_id
        self.args = list(args)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> ProcessServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentgym", "env", "serve", self.env_id, "--port", str(self.port), *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )  # fmt: skip
        wait_healthy(self.url, process=self.process)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
