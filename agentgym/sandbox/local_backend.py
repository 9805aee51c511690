"""Local backend: bubblewrap namespaces, for machines without a Docker engine.

The driver runs under `bwrap --unshare-all --as-pid-1` (no network; its own pid, ipc and uts
namespaces, the driver their PID 1 so the agent cannot signal it) as uid 1000 with a read-only
root filesystem: the debootstrap rootfs of the base image when it exists (same Python, pytest and
git as the containers), else the host's `/usr`. Nothing the agent writes reaches the host's disk:
`/testbed`, `/tmp`, `$HOME` and `/dev/shm` are size-limited tmpfs mounts (sizes as in the Docker
backend, from `disk`); `/testbed` starts as a copy of the sandbox's template directory (bound
read-only, copied in by the driver). `reset()` restarts the driver, which brings back a fresh copy.

Limits: with a writable cgroup hierarchy (v1 or v2, e.g. running as root) each sandbox gets its own
cgroup with `memory`, `cpus` and `pids`, exactly like a container; without one, the driver sets
RLIMIT_NPROC to `pids` (which the kernel enforces for non-root users only) and memory and CPU are
not limited (`limits` says which apply).
"""

from __future__ import annotations

import atexit
import io
import os
import select
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentgym.sandbox.base import DriverChannel, DriverSandbox, SandboxError
from agentgym.sandbox.driver import DRIVER_SOURCE
from agentgym.sandbox.image import ROOTFS_DIR

_live: weakref.WeakSet = weakref.WeakSet()
SEED_DIR = "/mnt/agentgym-seed"
# bwrap's --die-with-parent ties the sandbox to the *thread* that started it (PR_SET_PDEATHSIG):
# every sandbox is started from one long-lived thread, so a sandbox outlives a short-lived caller
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentgym-bwrap")


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


NOBODY = 65534
_nobody_ok: bool | None = None


def _nobody_can_bwrap() -> bool:
    """Whether bubblewrap works for an unprivileged user here (cached)."""
    global _nobody_ok
    if _nobody_ok is None:
        try:
            proc = subprocess.run(
                ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
                capture_output=True,
                user=NOBODY,
                group=NOBODY,
                extra_groups=[],
                cwd="/",
            )
            _nobody_ok = proc.returncode == 0
        except OSError:
            _nobody_ok = False
    return _nobody_ok


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


class Cgroup:
    """A cgroup of our own (v1: one per controller; v2: one), below the cgroup we run in.

    `create` returns None when the hierarchy is not writable here (not root, or no delegation)."""

    def __init__(self, dirs: dict[str, Path], v2: bool):
        self.dirs = dirs  # controller ("memory", "pids", "cpu"; "" for v2) -> directory
        self.v2 = v2

    @classmethod
    def create(cls, name: str, *, memory: int | None, cpus: float | None, pids: int | None) -> Cgroup | None:
        try:
            own = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return None
        paths: dict[str, str] = {}
        for line in own:
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                paths[c] = path
        root = Path("/sys/fs/cgroup")
        made: dict[str, Path] = {}
        try:
            if (root / "cgroup.controllers").exists():  # v2 (unified)
                d = cls._v2_dir(root, paths.get("", "/"), name)
                if d is None:
                    return None
                made[""] = d
                group = cls(made, True)
                if pids:
                    (d / "pids.max").write_text(str(pids))
                if memory:
                    (d / "memory.max").write_text(str(memory))
                    if (d / "memory.swap.max").exists():
                        (d / "memory.swap.max").write_text("0")
                if cpus and (d / "cpu.max").exists():
                    (d / "cpu.max").write_text(f"{int(cpus * 100000)} 100000")
                return group
            wanted = {"pids": pids, "memory": memory, "cpu": cpus}
            for ctrl, value in wanted.items():
                if not value or not (root / ctrl).is_dir():
                    continue
                d = root / ctrl / paths.get(ctrl, "/").lstrip("/") / name
                d.mkdir()
                made[ctrl] = d
            group = cls(made, False)
            if pids and "pids" in made:
                (made["pids"] / "pids.max").write_text(str(pids))
            if memory and "memory" in made:
                (made["memory"] / "memory.limit_in_bytes").write_text(str(memory))
                sw = made["memory"] / "memory.memsw.limit_in_bytes"
                if sw.exists():
                    try:
                        sw.write_text(str(memory))
                    except OSError:
                        pass
            if cpus and "cpu" in made:
                (made["cpu"] / "cpu.cfs_period_us").write_text("100000")
                (made["cpu"] / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
            return group if "pids" in made else (group.remove() or None)
        except OSError:
            cls(made, False).remove()
            return None

    @staticmethod
    def _v2_dir(root: Path, own: str, name: str) -> Path | None:
        """A v2 cgroup with the pids and memory controllers: below ours when it delegates them,
        else below an `agentgym` cgroup of the root (v2 allows controllers only in cgroups without
        processes of their own, which ours is not)."""
        for parent in (root / own.lstrip("/"), root / "agentgym"):
            try:
                parent.mkdir(exist_ok=True)
                enabled = set((parent / "cgroup.subtree_control").read_text().split())
                if not {"pids", "memory"} <= enabled:
                    available = set((parent / "cgroup.controllers").read_text().split())
                    add = " ".join(
                        f"+{c}" for c in ("pids", "memory", "cpu") if c in available and c not in enabled
                    )
                    if add:
                        (parent / "cgroup.subtree_control").write_text(add)
                d = parent / name
                d.mkdir()
                if (d / "pids.max").exists() and (d / "memory.max").exists():
                    return d
                d.rmdir()
            except OSError:
                continue
        return None

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    @property
    def limits(self) -> set[str]:
        return {"pids", "memory", "cpu"} if self.v2 else set(self.dirs)

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this cgroup."""
        f = self.dirs.get("" if self.v2 else "memory")
        if f is None:
            return 0
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            for line in (f / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill(self) -> None:
        for _ in range(200):
            live = False
            for d in self.dirs.values():
                try:
                    procs = (d / "cgroup.procs").read_text().split()
                except OSError:
                    continue
                for pid in procs:
                    live = True
                    try:
                        os.kill(int(pid), 9)
                    except (OSError, ValueError):
                        pass
            if not live:
                return
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        for d in self.dirs.values():
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


class LocalSandbox(DriverSandbox):
    """A sandbox made of bubblewrap namespaces; `/testbed` starts as a copy of `template`."""

    backend = "local"

    def __init__(
        self,
        template: str | Path | None = None,
        *,
        rootfs: str | Path | None = ROOTFS_DIR,
        default_timeout: float = 60.0,
        memory: str | int | None = "2g",
        cpus: float | None = 1.0,
        pids: int = 512,
        disk: str | int = "1g",
    ):
        from agentgym.sandbox.docker_backend import parse_size, writable_mounts

        reason = bwrap_available()
        if reason:
            raise SandboxError(reason)
        self.template = Path(template) if template else None
        self.rootfs = Path(rootfs) if rootfs else None
        self.default_timeout = default_timeout
        self.pids = int(pids)
        self.mounts = writable_mounts(disk)
        self._proc: subprocess.Popen | None = None
        self._run_as: int | None = None
        self._oom_base = 0
        self._cgroup = (
            Cgroup.create(
                f"agentgym-{os.getpid()}-{uuid.uuid4().hex[:8]}",
                memory=parse_size(memory) if memory else None,
                cpus=cpus,
                pids=self.pids,
            )
            if os.geteuid() == 0 or os.environ.get("AGENTGYM_CGROUPS")
            else None
        )
        # root without a cgroup: RLIMIT_NPROC does not bind root, so the sandbox runs as `nobody`
        self._run_as = NOBODY if self._cgroup is None and os.geteuid() == 0 and _nobody_can_bwrap() else None
        #: the limits enforced: "disk", "pids" (by cgroup or RLIMIT_NPROC), "memory" and "cpu" (cgroup)
        self.limits = {"disk", "pids"} | (self._cgroup.limits if self._cgroup else set())
        if self._cgroup is None and os.geteuid() == 0 and self._run_as is None:
            self.limits.discard("pids")
        _live.add(self)
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _bwrap_args(self) -> list[str]:
        host_root = not (self.rootfs and (self.rootfs / "usr/bin/python3").exists())
        args = ["bwrap", "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session"]
        args += _root_args(self.rootfs)
        args += ["--proc", "/proc", "--dev", "/dev"]
        for path, size in self.mounts.items():
            args += ["--size", str(size), "--tmpfs", path]
        args += ["--remount-ro", "/dev"]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/home/agent",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "GIT_PAGER": "cat",
            "PAGER": "cat",
            "TERM": "dumb",
            "AGENTGYM_PROC_LIMIT": str(self.pids),
        }
        if self._cgroup is None:
            env["AGENTGYM_NPROC"] = str(self.pids)
        if self.template is not None:
            args += ["--size", "65536", "--tmpfs", "/mnt", "--ro-bind", str(self.template), SEED_DIR]
            args += ["--remount-ro", "/mnt"]
            env["AGENTGYM_SEED"] = f"{SEED_DIR}:/testbed"
        if host_root:  # host root: give git an identity, and keep the sandbox's root read-only
            env.update(
                GIT_AUTHOR_NAME="agentgym",
                GIT_AUTHOR_EMAIL="agentgym@localhost",
                GIT_COMMITTER_NAME="agentgym",
                GIT_COMMITTER_EMAIL="agentgym@localhost",
            )
            args += ["--remount-ro", "/"]
        args += [
            "--chdir",
            "/testbed",
            "--uid",
            "1000",
            "--gid",
            "1000",
            "--hostname",
            "sandbox",
            "--clearenv",
        ]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "python3", "-u", "-c", DRIVER_SOURCE]

    def _start(self) -> None:
        cmd = self._bwrap_args()
        launch_env = None
        if self._cgroup is not None:  # join the cgroup before bwrap forks anything
            launch_env = {
                "AG_CGROUP_PROCS": "\n".join(self._cgroup.procs_files()),
                "PATH": os.environ.get("PATH", ""),
            }
            cmd = [
                "/bin/sh",
                "-c",
                'IFS="\n"; for f in $AG_CGROUP_PROCS; do echo $$ > "$f" || exit 97; done; unset AG_CGROUP_PROCS; exec "$@"',
                "sh",
                *cmd,
            ]
            self._oom_base = self._cgroup.oom_kills()
        extra = {}
        if self._run_as is not None:
            extra = {"user": self._run_as, "group": self._run_as, "extra_groups": []}
            if self.template is not None:  # nobody must reach the template
                for d in (self.template, *self.template.parents[:1]):
                    d.chmod(d.stat().st_mode | 0o755)
        self._proc = _spawner.submit(
            subprocess.Popen,
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=launch_env,
            **extra,
        ).result()
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

    def export_workdir(self, dest: str | Path) -> Path:
        """Copy the sandbox's /testbed (with its `.git`) to the host directory `dest` (made anew)."""
        data, complete = self.export_tree(excludes=())
        if not complete:
            raise SandboxError("the sandbox's /testbed is too large to export")
        dest = Path(dest)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        uid, gid = os.getuid(), os.getgid()

        def mine(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
            member = tarfile.data_filter(member, path)
            return member.replace(uid=uid, gid=gid, uname="", gname="", deep=False)

        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter=mine)
        return dest

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
        if self._cgroup is not None:
            self._cgroup.kill()

    def kill(self) -> None:
        """Kill the sandbox's processes (as a crash would); for tests."""
        if self._proc is not None:
            self._proc.kill()
        if self._cgroup is not None:
            self._cgroup.kill()

    def death_cause(self) -> str | None:
        if self._cgroup is not None and self._cgroup.oom_kills() > self._oom_base:
            return "it ran out of memory (its processes and files filled the memory limit)"
        return None

    def reset(self) -> None:
        self._stop()
        self._start()

    def close(self) -> None:
        self._stop()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        _live.discard(self)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self.ping()


def wait_for_exit(proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def make_template(prefix: str = "agentgym-template-") -> Path:
    """A fresh host directory for a template (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix=prefix))
