"""Docker backend: one container per sandbox, driven by a long-lived driver over an attached socket.

The container's main process is the driver (`python3 -c DRIVER_SOURCE`), PID 1 of the container,
so nothing the agent runs can signal it (see `driver.py`); the host attaches to its stdin/stdout
once, so a command costs one socket round trip instead of a `docker exec` (~67 ms per exec
measured on our CI machine). Containers run with no network, all capabilities dropped, as the
non-root user `agent`, and carry labels (`agentgym.sandbox=1`, the owner's pid and host) so
`agentgym sandbox prune` can find leftovers.

Limits (`start_container` arguments): `memory` (RAM = RAM + swap), `cpus`, `pids` (processes and
threads), `disk`. With `disk` set (the default) the root filesystem is read-only and the only
writable places are size-limited tmpfs mounts: `/testbed` (`disk`), `/tmp` (half of it),
`/home/agent` (an eighth) and `/dev/shm` (64 MiB at most), so nothing the agent writes reaches the
host's disk; their pages count against `memory` too. An image whose `/testbed` or `$HOME` has
content declares it with the label `agentgym.seed` (`SRC:DST;...`, read-only copies elsewhere in
the image, see `agentgym.tasks.swe.environment.ensure_package_image`); the driver copies them in
at start. `disk=None` gives the plain writable layer without a size limit (used to build images); an
image other than the base image without the label gets it too, with a warning.
"""

from __future__ import annotations

import atexit
import os
import select
import socket
import socket as _socket
import struct
import threading
import time
import uuid
import warnings
from collections import deque
from typing import Any

from agentgym.sandbox.base import DriverChannel, DriverSandbox, SandboxError
from agentgym.sandbox.driver import DRIVER_SOURCE
from agentgym.sandbox.image import BASE_IMAGE

LABEL = "agentgym.sandbox"
_client_lock = threading.Lock()
_client: Any = None
_live: dict[str, Any] = {}  # container id -> container, removed at exit
_live_lock = threading.Lock()


def docker_client():
    """A shared Docker SDK client (raises SandboxError when no engine answers)."""
    global _client
    with _client_lock:
        if _client is None:
            try:
                import docker

                client = docker.from_env(timeout=120)
                client.ping()
            except Exception as exc:  # noqa: BLE001 - any failure means: no engine
                raise SandboxError(
                    f"no Docker engine reachable ({exc}); start it with `bash scripts/start-dockerd.sh`"
                ) from None
            _client = client
        return _client


def _remove_quietly(container: Any) -> None:
    try:
        container.remove(force=True)
    except Exception:  # noqa: BLE001 - already gone is fine
        pass
    with _live_lock:
        _live.pop(container.id, None)


@atexit.register
def _cleanup_at_exit() -> None:
    with _live_lock:
        containers = list(_live.values())
    for c in containers:
        _remove_quietly(c)


class _AttachedSocket:
    """Demultiplexes Docker's attach stream (8-byte frame headers) into stdout bytes."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._raw = bytearray()
        self.stderr = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            out = self._take_frames()
            if out:
                return out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return b""
            self._raw += chunk

    def _take_frames(self) -> bytes:
        out = bytearray()
        while len(self._raw) >= 8:
            stream, size = self._raw[0], struct.unpack(">I", self._raw[4:8])[0]
            if len(self._raw) < 8 + size:
                break
            payload = bytes(self._raw[8 : 8 + size])
            del self._raw[: 8 + size]
            if stream == 1:
                out += payload
            else:
                self.stderr += payload
                del self.stderr[:-4000]
        return bytes(out)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Container:
    """One started container with its driver connection."""

    def __init__(self, container: Any, attached: _AttachedSocket, channel: DriverChannel):
        self.container = container
        self.attached = attached
        self.channel = channel
        self.key: str | None = None  # what the pool prepared it for (None: bare)

    def destroy(self) -> None:
        self.attached.close()
        _remove_quietly(self.container)


_seeds: dict[str, str] = {}
_seeds_lock = threading.Lock()


def image_seed(image: str) -> str:
    """The image's `agentgym.seed` label ("" when it has none), cached per image name."""
    with _seeds_lock:
        if image in _seeds:
            return _seeds[image]
    try:
        seed = (docker_client().images.get(image).labels or {}).get("agentgym.seed", "")
    except Exception:  # noqa: BLE001 - a missing image fails at create, with a clearer message
        return ""
    with _seeds_lock:
        _seeds[image] = seed
    return seed


_unseeded_warned: set[str] = set()


def _warned_unseeded(image: str) -> bool:
    with _seeds_lock:
        seen = image in _unseeded_warned
        _unseeded_warned.add(image)
    return seen


def forget_image_seed(image: str) -> None:
    with _seeds_lock:
        _seeds.pop(image, None)


def parse_size(size: str | int) -> int:
    """Bytes of a Docker-style size ("512m", "1g", "100k", or a number of bytes)."""
    if isinstance(size, int):
        return size
    text = str(size).strip().lower().removesuffix("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def writable_mounts(disk: str | int) -> dict[str, int]:
    """The size-limited writable mounts of a sandbox with `disk` (bytes per mount point)."""
    total = parse_size(disk)
    return {
        "/testbed": total,
        "/tmp": max(total // 2, 16 << 20),
        "/home/agent": max(total // 8, 16 << 20),
        "/dev/shm": min(64 << 20, max(total // 16, 1 << 20)),
    }


def start_container(
    image: str = BASE_IMAGE,
    *,
    memory: str = "2g",
    cpus: float = 1.0,
    pids: int = 512,
    disk: str | int | None = "1g",
    user: str = "1000:1000",
    workdir: str = "/testbed",
    env: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> _Container:
    client = docker_client()
    all_labels = {LABEL: "1", "agentgym.pid": str(os.getpid()), "agentgym.host": _socket.gethostname()}
    all_labels.update(labels or {})
    uid, _, gid = user.partition(":")
    environment = {
        "HOME": "/home/agent",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "TERM": "dumb",
        "AGENTGYM_PROC_LIMIT": str(pids),
        **(env or {}),
    }
    storage: dict[str, Any] = {}
    seed = image_seed(image) if disk is not None else ""
    if disk is not None and not seed and image != BASE_IMAGE and not _warned_unseeded(image):
        warnings.warn(
            f"image {image} has no `agentgym.seed` label: its /testbed would be hidden by the size-limited "
            "mount, so it runs on the container's writable layer without a disk limit",
            RuntimeWarning,
            stacklevel=2,
        )
    if disk is not None and not seed and image != BASE_IMAGE:
        disk = None
    if disk is not None:
        mounts = writable_mounts(disk)
        shm = mounts.pop("/dev/shm")
        storage = {
            "read_only": True,
            "tmpfs": {
                path: f"size={size},exec,nosuid,nodev,mode={'1777' if path == '/tmp' else '755'}"
                + ("" if path == "/tmp" else f",uid={uid},gid={gid or uid}")
                for path, size in mounts.items()
            },
            "shm_size": shm,
        }
        if seed:
            environment["AGENTGYM_SEED"] = seed
    try:
        container = client.containers.create(
            image,
            command=["python3", "-u", "-c", DRIVER_SOURCE],
            name=f"agentgym-{uuid.uuid4().hex[:12]}",
            user=user,
            working_dir=workdir,
            environment=environment,
            network_mode="none",
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(cpus * 1e9),
            pids_limit=pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            init=False,  # the driver is PID 1: the agent cannot signal it
            stdin_open=True,
            tty=False,
            labels=all_labels,
            detach=True,
            **storage,
        )
    except Exception as exc:  # noqa: BLE001
        raise SandboxError(f"cannot create a container from {image}: {exc}") from None
    with _live_lock:
        _live[container.id] = container
    try:
        sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = getattr(sock, "_sock", sock)
        attached = _AttachedSocket(raw)
        container.start()
        channel = DriverChannel(attached.send, attached.recv, lambda: f"container {container.short_id}")
        channel.wait_ready(30)
    except Exception as exc:  # noqa: BLE001
        _remove_quietly(container)
        raise SandboxError(f"container from {image} did not start its driver: {exc}") from None
    return _Container(container, attached, channel)


class _BoxSandbox(DriverSandbox):
    """A sandbox view of a pooled container, handed to `prepare` callbacks."""

    def __init__(self, box: _Container):
        self._channel = box.channel
        self.container = box.container


class DockerPool:
    """Keeps `size` started containers of one image ready, so `acquire` is a queue pop.

    Refills in a background thread; used containers are removed in the background too. With
    `acquire(key, prepare)`, refills also run `prepare(sandbox)` for the most recent key (e.g. set
    up the same task again, as grouped GRPO sampling does), and `acquire` prefers a container
    prepared for its key; the caller checks `box.key` and prepares it itself when it differs.
    """

    def __init__(self, image: str = BASE_IMAGE, size: int = 2, **container_kwargs: Any):
        self.image = image
        self.size = size
        self.container_kwargs = container_kwargs
        self._ready: deque[_Container] = deque()
        self._lock = threading.Condition()
        self._closed = False
        self._pending = 0
        self._hint: tuple[str, Any] | None = None
        self._workers: list[threading.Thread] = []
        self.fill()

    def fill(self) -> None:
        with self._lock:
            need = max(0, self.size - len(self._ready) - self._pending)
            self._pending += need
        for _ in range(need):
            t = threading.Thread(target=self._start_one, daemon=True)
            t.start()
            self._workers.append(t)
        self._workers = [t for t in self._workers if t.is_alive()]

    def _start_one(self) -> None:
        try:
            c = start_container(self.image, **self.container_kwargs)
        except SandboxError:
            c = None
        hint = self._hint
        if c is not None and hint is not None:
            try:
                hint[1](_BoxSandbox(c))
                c.key = hint[0]
            except Exception:  # noqa: BLE001 - a failed preparation just leaves a spoiled container
                c.destroy()
                c = None
        with self._lock:
            self._pending -= 1
            if c is not None:
                if self._closed:
                    threading.Thread(target=c.destroy, daemon=True).start()
                else:
                    self._ready.append(c)
            self._lock.notify_all()

    def acquire(self, key: str | None = None, prepare: Any = None) -> _Container:
        """A ready container: prepared for `key` if one is, else bare, else any; new if none is ready."""
        with self._lock:
            if key is not None and prepare is not None:
                self._hint = (key, prepare)
            chosen = None
            for wanted in ((key,) if key is not None else ()) + (None,):
                for c in self._ready:
                    if c.key == wanted:
                        chosen = c
                        break
                if chosen is not None:
                    break
            if chosen is None and self._ready:
                chosen = self._ready[0]
            if chosen is not None:
                self._ready.remove(chosen)
        if chosen is None:
            chosen = start_container(self.image, **self.container_kwargs)
        self.fill()
        return chosen

    def release(self, c: _Container) -> None:
        threading.Thread(target=c.destroy, daemon=True).start()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while (len(self._ready) < self.size or self._pending) and time.monotonic() < deadline:
                self._lock.wait(0.1)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ready = list(self._ready)
            self._ready.clear()
        for c in ready:
            c.destroy()
        for t in self._workers:
            t.join(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DockerSandbox(DriverSandbox):
    """A sandbox in a Docker container. `reset()` swaps in a fresh container (from `pool` if given)."""

    backend = "docker"

    def __init__(
        self,
        image: str = BASE_IMAGE,
        *,
        pool: DockerPool | None = None,
        default_timeout: float = 60.0,
        pool_key: str | None = None,
        prepare: Any = None,
        **container_kwargs: Any,
    ):
        self.image = pool.image if pool is not None else image
        self.pool = pool
        self.pool_key = pool_key
        self.prepare = prepare
        self.container_kwargs = container_kwargs
        self.default_timeout = default_timeout
        self._box: _Container | None = None
        self._start()

    def _start(self) -> None:
        if self.pool is not None:
            self._box = self.pool.acquire(self.pool_key, self.prepare)
        else:
            self._box = start_container(self.image, **self.container_kwargs)
        self._channel = self._box.channel

    @property
    def prepared_for(self) -> str | None:
        """The pool key this container was prepared for in the background (None: bare)."""
        return self._box.key if self._box is not None else None

    @property
    def container(self) -> Any:
        if self._box is None:
            raise SandboxError("sandbox is closed")
        return self._box.container

    def _drop(self) -> None:
        box, self._box, self._channel = self._box, None, None
        if box is None:
            return
        if self.pool is not None:
            self.pool.release(box)
        else:
            box.destroy()

    def reset(self) -> None:
        self._drop()
        self._start()

    def close(self) -> None:
        self._drop()

    def alive(self) -> bool:
        return self._box is not None and self._channel is not None and not self._channel.dead and self.ping()

    def death_cause(self) -> str | None:
        """ "it ran out of memory" when the kernel's OOM killer ended the container (the agent's
        doing: its processes filled the memory limit), else None."""
        if self._box is None:
            return None
        try:
            self._box.container.reload()
            state = self._box.container.attrs.get("State") or {}
        except Exception:  # noqa: BLE001 - engine gone or container removed: not the agent's doing
            return None
        if state.get("OOMKilled"):
            return "it ran out of memory (its processes and files filled the memory limit)"
        return None


def prune(all_owners: bool = False) -> list[str]:
    """Remove agentgym sandbox containers whose owning process is gone (all of them with `all_owners`)."""
    client = docker_client()
    removed = []
    host = _socket.gethostname()
    for c in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        labels = c.labels or {}
        owner_alive = False
        if not all_owners and labels.get("agentgym.host") == host:
            try:
                pid = int(labels.get("agentgym.pid", "0"))
                os.kill(pid, 0)
                owner_alive = pid > 0
            except (ValueError, ProcessLookupError, PermissionError):
                owner_alive = False
        if owner_alive:
            continue
        try:
            c.remove(force=True)
            removed.append(c.name)
        except Exception:  # noqa: BLE001
            pass
    return removed


def list_sandboxes() -> list[Any]:
    return docker_client().containers.list(all=True, filters={"label": f"{LABEL}=1"})


def docker_unavailable_reason(image: str = BASE_IMAGE) -> str | None:
    """None when an engine answers and `image` exists, else why not (for skips and doctor)."""
    import shutil
    import subprocess

    if shutil.which("docker") is None:
        return "docker CLI not installed (apt-get install -y docker.io)"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "no Docker engine answers (bash scripts/start-dockerd.sh)"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        return f"image {image} missing (agentgym sandbox build-base)"
    return None
