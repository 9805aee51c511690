"""Building and driving a task's environment inside a sandbox: images, base commit, grading run.

- `ensure_package_image`: base image + the sdist unpacked in /testbed as a git repo whose single
  commit (fixed author and dates, so the hash is reproducible) is the pristine release.
- `setup_base`: applies the task's `setup_patch` on top and commits it, giving `base_commit`.
- `run_eval`: restores test files the agent touched (and those of the hidden test patch), applies
  the hidden tests, runs pytest between SWE-bench's markers under a timeout; returns the log.
"""

from __future__ import annotations

import hashlib
import re
import shlex
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


def is_test_path(path: str) -> bool:
    """Test code and test configuration: restored before grading, and editing it is tampering."""
    p = PurePosixPath(path)
    if p.name in TEST_INFRA_FILES or p.suffix == ".pth":
        return True
    if any(part in _TEST_DIRS for part in p.parts[:-1]):
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
    from agentgym.sandbox.docker_backend import DockerSandbox, docker_client

    client = docker_client()
    try:
        img = client.images.get(image)
        return (img.labels or {}).get("agentgym.pristine_commit", "")
    except Exception:  # noqa: BLE001 - not found
        pass
    if not archive or not Path(archive).is_file():
        raise SandboxError(
            f"image {image} is missing and there is no source archive to build it from ({archive})"
        )
    log(f"building image {image} from {Path(archive).name}")
    sb = DockerSandbox()
    try:
        commit = prepare_pristine(sb, archive)
        sb.container.exec_run(["rm", "-rf", "/tmp/.agentgym-state"], user="root")
        repo, tag = image.rsplit(":", 1)
        sb.container.commit(
            repository=repo,
            tag=tag,
            changes=[f"LABEL agentgym.pristine_commit={commit}", "LABEL agentgym.sandbox.image=1"],
        )
    finally:
        sb.close()
    return commit


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


def eval_script(inst: SWEInstance, restore: list[str], timeout: float) -> str:
    base = shlex.quote(inst.base_commit or "HEAD")
    lines = ["cd /testbed"]
    for path in restore:
        q = shlex.quote(path)
        lines.append(
            f"if git cat-file -e {base}:{q} 2>/dev/null; then git checkout -q {base} -- {q} || echo '>>>>> Reset Failed'; "
            f"else rm -rf -- {q} || echo '>>>>> Reset Failed'; fi"
        )
    if inst.test_patch:
        lines.append(
            "git apply --whitespace=nowarn /tmp/agentgym-test.patch || echo '>>>>> Patch Apply Failed'"
        )
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in inst.test_env.items())
    test_files = inst.test_files or sorted({t.split("::")[0] for t in inst.FAIL_TO_PASS + inst.PASS_TO_PASS})
    files = " ".join(shlex.quote(f) for f in test_files)
    lines += [
        "echo '>>>>> Start Test Output'",
        f"env {env} timeout -s KILL {int(timeout)} {inst.test_cmd} {files} 2>&1",
        "rc=$?",
        "echo '>>>>> End Test Output'",
        "[ $rc -eq 137 ] && echo '>>>>> Tests Timed Out'",
        'echo ">>>>> Test Exit Code: $rc"',
        "true",
    ]
    return "\n".join(lines) + "\n"


def run_eval(
    sb: DriverSandbox, inst: SWEInstance, agent_diff: str | None = None, *, timeout: float | None = None
) -> tuple[str, list[str]]:
    """Restore test files, apply hidden tests, run the tests. Returns (log, tampered test paths)."""
    if agent_diff is None:
        agent_diff = sb.diff(inst.base_commit or "HEAD")
    touched = diff_paths(agent_diff)
    tampered = [p for p in touched if is_test_path(p)]
    restore = list(dict.fromkeys(tampered + diff_paths(inst.test_patch)))
    if inst.test_patch:
        sb.write_file("/tmp/agentgym-test.patch", inst.test_patch)
    timeout = float(timeout or inst.eval_timeout)
    # the -rA summary lines are at the end: keep a long tail
    detail = sb.run_detailed(
        eval_script(inst, restore, timeout), timeout=timeout + 30, head=4_000, tail=8_000_000
    )
    return detail.output, tampered
