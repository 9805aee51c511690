"""The sandbox base image: a Debian bookworm rootfs built with debootstrap, imported into Docker.

No registry can be reached on the build machines, so the image is made locally from Debian's
packages: `debootstrap --variant=minbase` plus Python, pytest and git, a non-root
user `agent` (uid 1000) and an empty `/testbed` owned by it, then `docker import`. The rootfs is
kept on disk: the bubblewrap backend uses it as its root filesystem.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

BASE_IMAGE = "agentgym/base:bookworm-1"
BASE_PACKAGES = ["python3", "python3-pytest", "python3-setuptools", "git", "procps", "patch"]
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
AGENT_UID = 1000
ROOTFS_DIR = Path(os.environ.get("AGENTGYM_ROOTFS", "/var/cache/agentgym/rootfs-bookworm-1"))


def find_mirror() -> str:
    """The Debian mirror apt is configured with (deb822 `URIs:` or one-line `deb URL`)."""
    candidates: list[Path] = [Path("/etc/apt/sources.list")]
    sources_d = Path("/etc/apt/sources.list.d")
    if sources_d.is_dir():
        candidates += sorted(sources_d.iterdir())
    for path in candidates:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            url = None
            if line.startswith("URIs:"):
                url = line.split(":", 1)[1].split()[0]
            elif line.startswith("deb ") and not line.startswith("deb-src"):
                parts = [p for p in line.split()[1:] if not p.startswith("[")]
                url = parts[0] if parts else None
            if url and url.rstrip("/").endswith("/debian"):
                return url
    return DEFAULT_MIRROR


def docker_image_exists(image: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0


def _add_agent_user(rootfs: Path) -> None:
    etc = rootfs / "etc"
    passwd = (etc / "passwd").read_text()
    if "\nagent:" not in "\n" + passwd:
        with (etc / "passwd").open("a") as f:
            f.write(f"agent:x:{AGENT_UID}:{AGENT_UID}:agentgym sandbox:/home/agent:/bin/bash\n")
        with (etc / "group").open("a") as f:
            f.write(f"agent:x:{AGENT_UID}:\n")
        if (etc / "shadow").exists():
            with (etc / "shadow").open("a") as f:
                f.write("agent:*:19000:0:99999:7:::\n")
    for d in ("home/agent", "testbed"):
        p = rootfs / d
        p.mkdir(parents=True, exist_ok=True)
        os.chown(p, AGENT_UID, AGENT_UID)
    gitconfig = rootfs / "etc/gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = agentgym\n\temail = agentgym@localhost\n"
        "[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = main\n"
        "[advice]\n\tdetachedHead = false\n"
    )


def build_rootfs(rootfs: Path = ROOTFS_DIR, *, mirror: str | None = None, log=print) -> Path:
    """debootstrap the rootfs (skipped when it is already complete)."""
    marker = rootfs / ".agentgym-complete"
    if marker.exists():
        log(f"rootfs present: {rootfs}")
        return rootfs
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install -y debootstrap)")
    mirror = mirror or find_mirror()
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        SUITE,
        str(rootfs),
        mirror,
    ]
    log("running: " + " ".join(cmd))
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"debootstrap failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    log(f"debootstrap done in {time.time() - t0:.0f} s")
    _add_agent_user(rootfs)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for child in (rootfs / junk).glob("*"):
            if child.is_file():
                child.unlink()
    marker.write_text(mirror + "\n")
    return rootfs


def build_base_image(
    image: str = BASE_IMAGE,
    *,
    rootfs: Path = ROOTFS_DIR,
    mirror: str | None = None,
    force: bool = False,
    log=print,
) -> str:
    """Build `image` (debootstrap + docker import); idempotent unless `force`."""
    if not force and docker_image_exists(image):
        log(f"image present: {image}")
        return image
    build_rootfs(rootfs, mirror=mirror, log=log)
    t0 = time.time()
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--exclude=./.agentgym-complete", "-c", "."], stdout=subprocess.PIPE
    )
    changes = [
        "--change",
        "ENV LANG=C.UTF-8",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "ENV PYTHONDONTWRITEBYTECODE=1",
        "--change",
        "WORKDIR /testbed",
        "--change",
        'CMD ["/bin/bash"]',
    ]
    imp = subprocess.run(
        ["docker", "import", *changes, "-", image], stdin=tar.stdout, capture_output=True, text=True
    )
    tar.wait()
    if imp.returncode != 0:
        raise RuntimeError(f"docker import failed: {imp.stderr}")
    log(f"imported {image} in {time.time() - t0:.0f} s")
    return image


if __name__ == "__main__":  # pragma: no cover - used by scripts/build-base-image.sh
    import argparse

    parser = argparse.ArgumentParser(description="Build the agentgym sandbox base image.")
    parser.add_argument("--image", default=BASE_IMAGE)
    parser.add_argument("--mirror", default=None)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    build_base_image(args.image, mirror=args.mirror, force=args.force)
