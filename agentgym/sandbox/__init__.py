"""Sandboxes for agent commands: the `Sandbox` protocol, a Docker backend and a bubblewrap backend.

from agentgym.sandbox import make_sandbox
with make_sandbox("docker") as sb:          # or "local" (bubblewrap); limits: memory, cpus, pids, disk
    code, out = sb.run("python3 -c 'print(1+1)'", timeout=10)
"""

from __future__ import annotations

from typing import Any

from agentgym.sandbox.base import (
    CommandDetail,
    CommandResult,
    DriverSandbox,
    ExecResult,
    Sandbox,
    SandboxCrashed,
    SandboxError,
    encode_text,
    format_output,
)
from agentgym.sandbox.image import BASE_IMAGE, ROOTFS_DIR

__all__ = [
    "BASE_IMAGE",
    "ROOTFS_DIR",
    "CommandDetail",
    "CommandResult",
    "DriverSandbox",
    "ExecResult",
    "Sandbox",
    "SandboxCrashed",
    "SandboxError",
    "encode_text",
    "format_output",
    "make_sandbox",
]


def make_sandbox(backend: str = "docker", **kwargs: Any) -> DriverSandbox:
    """A sandbox of the named backend: "docker" (DockerSandbox) or "local" (bubblewrap)."""
    if backend == "docker":
        from agentgym.sandbox.docker_backend import DockerSandbox

        return DockerSandbox(**kwargs)
    if backend == "local":
        from agentgym.sandbox.local_backend import LocalSandbox

        return LocalSandbox(**kwargs)
    raise ValueError(f"unknown sandbox backend {backend!r} (docker | local)")
