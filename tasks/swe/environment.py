"""Building a task's environment inside a sandbox: images, base commit, what counts as a test file.

- `ensure_package_image`: base image + the sdist unpacked in /testbed as a git repo whose single
  commit (fixed author and dates, so the hash is reproducible) is the pristine release; read-only
  copies of /testbed and $HOME under /opt/agentgym/seed are what a sandbox's size-limited tmpfs
  mounts start from (label `agentgym.seed`, see `agentgym.sandbox.docker_backend`).
- `setup_base`: applies the task's `setup_patch` on top and commits it, giving `base_commit`.
- grading (the hidden tests in a clean room) is `agentgym.tasks.swe.grading`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path, PurePosixPath

from agentgym.sandbox.base import DriverSandbox, SandboxError

from .records import SWEInstance

GIT_ENV = (
    "GIT_AUTHOR_NAME=agentgym GIT_AUTHOR_EMAIL=agentgym@localhost GIT_AUTHOR_DATE=2000-01-01T00:00:00+0000 "
    "GIT_COMMITTER_NAME=agentgym GIT_COMMITTER_EMAIL=agentgym@localhost "
    "GIT_COMMITTER_DATE=2000-01-01T00:00:00+0000"
)
GLOBAL_GITIGNORE = "__pycache__/\n*.pyc\n.pytest_cache/\n*.egg-info/\n"
TEST_INFRA_FILES = {
    "conftest.py",
    "pytest.ini",
    "tox.ini",
    "setup.cfg",
    "pyproject.toml",
    "sitecustomize.py",
    "usercustomize.py",
    "noxfile.py",
}
_TEST_DIRS = {"test", "tests", "testing"}


#: image layout version: images built by an older `ensure_package_image` are rebuilt
IMAGE_LAYOUT = "2"
SEED_ROOT = "/opt/agentgym/seed"
IMAGE_SEED = f"{SEED_ROOT}/testbed:/testbed;{SEED_ROOT}/home:/home/agent"


def is_test_path(path: str) -> bool:
    """Test code and test configuration: left out of the graded change, and editing it is tampering."""
    p = PurePosixPath(path)
    if p.name in TEST_INFRA_FILES or p.suffix == ".pth":
        return True
    if any(part in _TEST_DIRS for part in p.parts):
        return True
    return p.suffix == ".py" and (p.name.startswith("test_") or p.name.endswith("_test.py"))


def diff_paths(diff: str) -> list[str]:
    """Paths a git diff touches (both sides of renames)."""
    paths: list[str] = []
    for m in re.finditer(r"^diff --git a/(.+?) b/(.+?)$", diff, flags=re.M):
        for p in (m.group(1), m.group(2)):
            if p not in paths:
                paths.append(p)
    return paths


def package_image_tag(name: str, version: str, sha256: str = "") -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower())
    suffix = f"-{sha256[:8]}" if sha256 else ""
    return f"agentgym/swe-{slug}:{re.sub(r'[^A-Za-z0-9_.-]+', '-', version)}{suffix}"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def prepare_pristine(sb: DriverSandbox, archive: Path) -> str:
    """Unpack the sdist into /testbed of a fresh sandbox and commit it; returns the commit."""
    sb.write_file("/tmp/agentgym-src.tar.gz", Path(archive).read_bytes())
    sb.write_file("/home/agent/.gitignore_global", GLOBAL_GITIGNORE)
    cmd = (
        "set -e; cd /testbed; tar -xzf /tmp/agentgym-src.tar.gz --strip-components=1 --no-same-owner; "
        "rm -f /tmp/agentgym-src.tar.gz; git config --global core.excludesFile /home/agent/.gitignore_global; "
        "git init -q; git add -A -f; "
        f"{GIT_ENV} git commit -q --no-verify -m 'pristine source'; git rev-parse HEAD"
    )
    code, out = sb.run(cmd, timeout=120)
    if code != 0:
        raise SandboxError(f"could not prepare the repository: {out[-1000:]}")
    return out.strip().splitlines()[-1]


def ensure_package_image(archive: Path | None, image: str, *, log=lambda m: None) -> str:
    """Build the package image (base image + pristine repo) unless it exists; returns its pristine commit."""
    from agentgym.sandbox.docker_backend import DockerSandbox, docker_client, forget_image_seed

    client = docker_client()
    with _build_lock(image):
        try:
            labels = client.images.get(image).labels or {}
        except Exception:  # noqa: BLE001 - not found
            labels = None
        if labels is not None and (labels.get("agentgym.layout") == IMAGE_LAYOUT or not archive):
            return labels.get("agentgym.pristine_commit", "")
        if not archive or not Path(archive).is_file():
            raise SandboxError(
                f"image {image} is missing and there is no source archive to build it from ({archive})"
            )
        log(f"building image {image} from {Path(archive).name}")
        sb = DockerSandbox(disk=None)  # the writable layer, committed below
        try:
            commit = prepare_pristine(sb, archive)
            steps = [  # (user, script): root owns /opt; the copies keep the agent's ownership
                ("1000", "rm -rf /tmp/.agentgym-state"),
                ("root", f"rm -rf {SEED_ROOT} && mkdir -p {SEED_ROOT} && chmod 777 {SEED_ROOT}"),
                ("1000", f"cp -a /testbed {SEED_ROOT}/testbed && cp -a /home/agent {SEED_ROOT}/home"),
                ("root", f"chmod 755 {SEED_ROOT}"),
            ]
            for user, script in steps:
                code, out = sb.container.exec_run(["sh", "-c", script], user=user)
                if code != 0:
                    raise SandboxError(f"could not make the image's seed copies ({script}): {out!r}")
            repo, tag = image.rsplit(":", 1)
            sb.container.commit(
                repository=repo,
                tag=tag,
                changes=[
                    f"LABEL agentgym.pristine_commit={commit}",
                    "LABEL agentgym.sandbox.image=1",
                    f"LABEL agentgym.layout={IMAGE_LAYOUT}",
                    f'LABEL agentgym.seed="{IMAGE_SEED}"',
                ],
            )
        finally:
            sb.close()
        forget_image_seed(image)
    return commit


_build_locks: dict[str, threading.Lock] = {}
_build_locks_lock = threading.Lock()


def _build_lock(image: str) -> threading.Lock:
    with _build_locks_lock:
        return _build_locks.setdefault(image, threading.Lock())


def setup_base(sb: DriverSandbox, inst: SWEInstance) -> str:
    """Turn the pristine repo into the task's base commit (bug in, hidden tests out); verifies the hash."""
    script = "set -e; cd /testbed; "
    if inst.setup_patch:
        sb.write_file("/tmp/agentgym-setup.patch", inst.setup_patch)
        script += (
            "git apply --whitespace=nowarn /tmp/agentgym-setup.patch; rm -f /tmp/agentgym-setup.patch; "
            f"git add -A -f; {GIT_ENV} git commit -q --no-verify -m 'agentgym task base'; "
        )
    script += "git rev-parse HEAD"
    code, out = sb.run(script, timeout=60)
    if code != 0:
        raise SandboxError(f"task setup failed for {inst.instance_id}: {out[-1000:]}")
    head = out.strip().splitlines()[-1]
    if inst.base_commit and head != inst.base_commit:
        raise SandboxError(
            f"task setup for {inst.instance_id} gave commit {head}, expected {inst.base_commit}"
        )
    return head
