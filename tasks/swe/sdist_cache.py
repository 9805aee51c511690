"""The sdist cache: source archives named by the task records, fetched from PyPI on first use.

Why: shipping a source archive per package does not scale to a suite of many packages, so suite
records name their sdist (`sdist`: name, version, file name, sha256, url) and the archive is
downloaded into a local cache the first time a task needs it (or ahead of time, for an offline
machine, with `agentgym tasks swe fetch`). Every archive is checked against the record's sha256
before use; a mismatch (a tampered or corrupted download, or a file swapped in the cache) is
refused with `SdistIntegrityError` and the bad file is never used to build an image.

Cache folder: `$AGENTGYM_SDIST_CACHE`, else `~/.cache/agentgym/sdists`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from agentgym.errors import TaskError

PYPI_JSON = "https://pypi.org/pypi/{name}/json"
_TIMEOUT = 60.0


class SdistIntegrityError(TaskError):
    """A source archive whose sha256 is not the one its task record names."""


class SdistFetchError(TaskError):
    """A source archive that could not be downloaded."""


def cache_dir() -> Path:
    env = os.environ.get("AGENTGYM_SDIST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "agentgym" / "sdists"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str) -> Path:
    """`path` unchanged when its sha256 is `sha256`; `SdistIntegrityError` otherwise."""
    actual = sha256_of(path)
    if actual != sha256:
        raise SdistIntegrityError(
            f"source archive {path} has sha256 {actual[:16]}..., but its task record pins "
            f"{sha256[:16]}...: refusing to use it (delete the file to fetch it again)"
        )
    return path


def pypi_sdist(name: str, version: str) -> dict[str, str]:
    """{"name", "version", "filename", "url", "sha256"} of the release's .tar.gz sdist, from PyPI's
    JSON API."""
    url = PYPI_JSON.format(name=name)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as resp:  # noqa: S310 - a fixed https URL
            data = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SdistFetchError(f"could not look up {name}=={version} on PyPI ({url}): {exc}") from None
    for f in (data.get("releases") or {}).get(version) or []:
        if f.get("packagetype") == "sdist" and f["filename"].endswith((".tar.gz", ".tgz")):
            return {
                "name": name,
                "version": version,
                "filename": f["filename"],
                "url": urllib.parse.urljoin(url, f["url"]),
                "sha256": f["digests"]["sha256"],
            }
    raise SdistFetchError(f"{name}=={version} has no .tar.gz sdist on PyPI")


def canonical_url(url: str) -> str:
    """PyPI's files.pythonhosted.org address of a file served through a mirror's `/packages/`
    path (records keep the canonical address; a mirror is looked up again at fetch time)."""
    m = re.search(r"/packages/(?:packages/)?([0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60,}/[^/]+)$", url)
    return f"https://files.pythonhosted.org/packages/{m.group(1)}" if m else url


def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT) as resp:  # noqa: S310
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SdistFetchError(f"could not download {url}: {exc}") from None


def fetch_sdist(sdist: dict[str, str], *, directory: Path | None = None) -> Path:
    """The verified archive of `sdist` (a record's `sdist` field) in the cache, downloading it
    from its url (or PyPI's JSON API) when missing. A cached file with the wrong sha256 is refused,
    not replaced: someone changed it, and silently re-downloading would hide that."""
    missing = [k for k in ("filename", "sha256") if not sdist.get(k)]
    if missing:
        raise TaskError(f"sdist record {sdist} lacks {', '.join(missing)}")
    if not re.fullmatch(r"[A-Za-z0-9._+-]+\.(tar\.gz|tgz)", sdist["filename"]):
        raise TaskError(f"sdist file name {sdist['filename']!r} is not a plain .tar.gz name")
    path = (directory or cache_dir()) / sdist["filename"]
    if not path.is_file():
        try:
            if not sdist.get("url"):
                raise SdistFetchError("the record names no url")
            _download(sdist["url"], path)
        except SdistFetchError:  # no url, or unreachable from here (e.g. behind a mirror)
            _download(pypi_sdist(sdist["name"], sdist["version"])["url"], path)
        try:
            return verify(path, sdist["sha256"])
        except SdistIntegrityError:
            path.unlink(missing_ok=True)  # a bad download is not kept
            raise
    return verify(path, sdist["sha256"])
