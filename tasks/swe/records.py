"""SWE task records: SWE-bench-compatible JSONL lines plus how to build the environment offline.

Standard SWE-bench fields: `instance_id`, `repo`, `base_commit`, `patch` (gold fix),
`test_patch` (hidden tests, applied at grading only), `problem_statement`, `hints_text`,
`created_at`, `version`, `FAIL_TO_PASS`, `PASS_TO_PASS` (lists; JSON-encoded strings as in the
HF datasets are accepted too), `environment_setup_commit`.

agentgym's additions (nothing is cloned from the internet here):
- `source_archive`: the package's sdist, relative to the JSONL file's `archives/` folder or absolute;
  `archive_sha256` pins it. The environment image (`image`) is built from it on first use:
  base image + the sdist unpacked in /testbed, committed as `environment_setup_commit`.
- `setup_patch`: the diff from that pristine commit to `base_commit` (the injected bug, and the
  hidden test files removed); applying and committing it with fixed dates reproduces `base_commit`.
- `test_cmd`, `test_files`, `test_env`, `eval_timeout`: how the grader runs the tests.
- `mutation`: how the bug was made (kind, operator, file, line, function; `sites` for two-site
  bugs), for analysis.
- `sdist`: {name, version, filename, url, sha256} of the source archive when it is not shipped:
  fetched into the sdist cache on first use and verified (`sdist_cache`).
- `difficulty`: {level, score, kind, fail_to_pass, files, functions, indirect} (`difficulty`).
- `problem_statement_rewrite`: a policy's user-style rewrite of the statement (`rewrite`).

Bring-your-own records (SWE-bench, SWE-Gym, SWE-smith) need only the standard fields plus the
prebuilt image (`image`, or `image_name` / `docker_image`); see `byo`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from agentgym.errors import TaskError

DATA_DIR = Path(__file__).with_name("data")
DEFAULT_TASKS = DATA_DIR / "swe_pypi.jsonl.gz"
TEST_CMD = "python3 -m pytest -rA -p no:cacheprovider -o addopts= --tb=short --color=no"


class SWEInstance(BaseModel):
    model_config = ConfigDict(extra="allow")

    instance_id: str
    repo: str
    base_commit: str
    patch: str
    test_patch: str = ""
    problem_statement: str
    hints_text: str = ""
    created_at: str = ""
    version: str = ""
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str] = []
    environment_setup_commit: str = ""
    # agentgym: building the environment offline
    image: str = ""
    source_archive: str = ""
    archive_sha256: str = ""
    setup_patch: str = ""
    test_cmd: str = TEST_CMD
    test_files: list[str] = []
    test_env: dict[str, str] = {}
    eval_timeout: float = 300.0
    mutation: dict[str, Any] = {}
    # agentgym: the suite
    #: {"name", "version", "filename", "url", "sha256"}: where the archive comes from when it is
    #: not shipped (fetched into the sdist cache on first use, verified against sha256)
    sdist: dict[str, str] = {}
    #: {"level": easy|medium|hard, "score", "kind", "fail_to_pass", "files", "functions", "indirect"}
    difficulty: dict[str, Any] = {}
    #: the problem statement rewritten as a user-style issue by a policy (empty: none yet)
    problem_statement_rewrite: str = ""

    @model_validator(mode="before")
    @classmethod
    def _image_aliases(cls, data: Any) -> Any:
        """SWE-smith names the prebuilt image `image_name`; some exports say `docker_image`."""
        if isinstance(data, dict) and not data.get("image"):
            for alias in ("image_name", "docker_image"):
                if data.get(alias):
                    data = {**data, "image": data[alias]}
                    break
        return data

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", "test_files", mode="before")
    @classmethod
    def _json_list(cls, v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v

    def archive_path(self, base_dir: Path | None = None) -> Path | None:
        """The source archive, verified against `archive_sha256`. A record naming its `sdist`
        whose archive is not on disk gets it from the sdist cache (downloaded on first use);
        a file whose sha256 differs is refused (`SdistIntegrityError`)."""
        if not self.source_archive:
            return None  # a prebuilt image (`image`) holds the repository
        p = Path(self.source_archive)
        if not p.is_absolute():
            p = (base_dir or DATA_DIR) / "archives" / p
        if self.sdist.get("sha256"):
            from .sdist_cache import fetch_sdist, verify

            if p.is_file():
                return verify(p, self.sdist["sha256"])
            return fetch_sdist(self.sdist)
        return p


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def load_instances(path: str | Path | None = None) -> list[SWEInstance]:
    """Read a JSONL (or .jsonl.gz) task file; archives resolve against its folder's `archives/`."""
    path = Path(path) if path else DEFAULT_TASKS
    if not path.exists():
        raise TaskError(f"SWE task file not found: {path}")
    out = []
    with _open(path) as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                inst = SWEInstance.model_validate(json.loads(line))
            except Exception as exc:  # noqa: BLE001
                raise TaskError(f"{path}:{n}: bad SWE task record: {exc}") from None
            if inst.source_archive and not Path(inst.source_archive).is_absolute():
                shipped = path.parent / "archives" / inst.source_archive
                if shipped.is_file() or not inst.sdist:
                    inst.source_archive = str(shipped.resolve())
                else:  # not shipped: the sdist cache (fetched by `archive_path` when missing)
                    from .sdist_cache import cache_dir

                    inst.source_archive = str(cache_dir() / Path(inst.source_archive).name)
            out.append(inst)
    return out


def write_instances(
    path: str | Path, instances: list[SWEInstance], *, archive_dir_relative: bool = True
) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for inst in instances:
        d = inst.model_dump(mode="json")
        if archive_dir_relative and d.get("source_archive"):
            d["source_archive"] = Path(d["source_archive"]).name
        lines.append(json.dumps(d, sort_keys=True))
    data = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(data.encode())
    else:
        path.write_text(data)
