"""Local backend: bubblewrap namespaces, for machines without a Docker engine.

The driver runs under `bwrap --unshare-all` (no network, own pid/ipc/uts namespaces) as uid 1000
with a read-only root filesystem: the debootstrap rootfs of the base image when it exists (same
Python, pytest and git as the containers), else the host's `/usr`. `/testbed` is a host
directory bound read-write, `/tmp` and `$HOME` are tmpfs. `reset()` restarts the driver and
restores `/testbed` from the sandbox's template directory.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from agentgym.sandbox.base import DriverChannel, DriverSandbox, SandboxError
from agentgym.sandbox.driver import DRIVER_SOURCE
from agentgym.sandbox.image import ROOTFS_DIR

_live: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _cleanup_at_exit() -> None:
    for sb in list(_live):
        try:
            sb.close()
        except Exception:  # noqa: BLE001
            pass


def bwrap_available() -> str | None:
    """None when bubblewrap works here, else the reason it does not."""
    if shutil.which("bwrap") is None:
        return "bwrap not installed (apt-get install -y bubblewrap)"
    proc = subprocess.run(
        ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return f"bwrap cannot create namespaces: {proc.stderr.strip()}"
    return None


def _root_args(rootfs: Path | None) -> list[str]:
    if rootfs is not None and (rootfs / "usr/bin/python3").exists():
        return ["--ro-bind", str(rootfs), "/"]
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "lib", "lib64", "sbin"):
        p = Path("/") / name
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), f"/{name}"]
        elif p.exists():
            args += ["--ro-bind", str(p), f"/{name}"]
    return args


class LocalSandbox(DriverSandbox):
    """A sandbox made of bubblewrap namespaces around a host directory."""

    backend = "local"

    def __init__(
        self,
        template: str | Path | None = None,
        *,
        rootfs: str | Path | None = ROOTFS_DIR,
        default_timeout: float = 60.0,
        memory: str | None = None,
    ):
        reason = bwrap_available()
        if reason:
            raise SandboxError(reason)
        self.template = Path(template) if template else None
        self.rootfs = Path(rootfs) if rootfs else None
        self.default_timeout = default_timeout
        self._tmp = Path(tempfile.mkdtemp(prefix="agentgym-local-"))
        self._work = self._tmp / "testbed"
        self._proc: subprocess.Popen | None = None
        self._fill_workdir()
        self._start()
        _live.add(self)

    def _fill_workdir(self) -> None:
        if self._work.exists():
            shutil.rmtree(self._work)
        if self.template is not None:
            shutil.copytree(self.template, self._work, symlinks=True)
        else:
            self._work.mkdir()
        # bwrap maps the caller's uid to uid 1000 inside, so files stay owned by the caller here

    def _start(self) -> None:
        cmd = [
            "bwrap",
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            *_root_args(self.rootfs),
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
            "--tmpfs",
            "/home",
            "--dir",
            "/home/agent",
            "--bind",
            str(self._work),
            "/testbed",
            "--chdir",
            "/testbed",
            "--uid",
            "1000",
            "--gid",
            "1000",
            "--hostname",
            "sandbox",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/local/bin:/usr/bin:/bin",
            "--setenv",
            "HOME",
            "/home/agent",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
            "--setenv",
            "GIT_PAGER",
            "cat",
            "--setenv",
            "TERM",
            "dumb",
            "python3",
            "-u",
            "-c",
            DRIVER_SOURCE,
        ]
        if not (self.rootfs and (self.rootfs / "usr/bin/python3").exists()):
            # host root: give git an identity and trust the bound directory
            cmd[cmd.index("--clearenv") + 1 : cmd.index("--clearenv") + 1] = [
                "--setenv",
                "GIT_AUTHOR_NAME",
                "agentgym",
                "--setenv",
                "GIT_AUTHOR_EMAIL",
                "agentgym@localhost",
                "--setenv",
                "GIT_COMMITTER_NAME",
                "agentgym",
                "--setenv",
                "GIT_COMMITTER_EMAIL",
                "agentgym@localhost",
            ]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        proc = self._proc
        out_fd = proc.stdout.fileno()

        def send(data: bytes) -> None:
            proc.stdin.write(data)
            proc.stdin.flush()

        def recv(timeout: float) -> bytes:
            ready, _, _ = select.select([out_fd], [], [], timeout)
            if not ready:
                raise TimeoutError
            return os.read(out_fd, 1 << 16)

        self._channel = DriverChannel(send, recv, lambda: f"bwrap pid {proc.pid}")
        try:
            self._channel.wait_ready(30)
        except SandboxError:
            err = b""
            if proc.poll() is not None:
                err = proc.stderr.read() or b""
            self._stop()
            raise SandboxError(
                f"bubblewrap sandbox did not start: {err.decode(errors='replace')[-500:]}"
            ) from None

    @property
    def host_workdir(self) -> Path:
        return self._work

    def _stop(self) -> None:
        proc, self._proc, self._channel = self._proc, None, None
        if proc is None:
            return
        try:
            proc.kill()
        except ProcessLookupError:
            pass
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def kill(self) -> None:
        """Kill the sandbox's processes (as a crash would); for tests."""
        if self._proc is not None:
            self._proc.kill()

    def reset(self) -> None:
        self._stop()
        self._fill_workdir()
        self._start()

    def close(self) -> None:
        self._stop()
        if self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)
        _live.discard(self)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self.ping()


def wait_for_exit(proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
