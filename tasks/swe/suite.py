"""The shipped SWE suite (one compressed record file per package) and the parallel, resumable build
that makes it.

Why: training needs thousands of tasks from many packages; building them is hours of CPU, so the
build must use every core (packages in parallel: a local process pool, or Ray when
`executor="ray"`), survive a crash (a state file records every finished package; a rerun skips
them) and report per package what it cost and why candidates were rejected. The suite ships
records only: each names its sdist (name, version, file, url, sha256), fetched into the sdist
cache on first use (`sdist_cache`).

Layout of a suite folder: `<package-slug>.jsonl.gz` per package, `build_state.json` (per package:
status, tests, seconds, tried, kept, rejected, error), and `packages.txt` (the specs it was built
from). `load_suite(difficulty=, packages=, split=)` filters it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym.errors import TaskError
from agentgym.task import stable_fraction

from .difficulty import LEVELS, difficulty_of
from .records import DATA_DIR, SWEInstance, load_instances, write_instances

SUITE_DIR = DATA_DIR / "suite"
STATE_FILE = "build_state.json"
TEST_FRACTION = 0.2


def package_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def read_package_list(path: Path) -> list[str]:
    """NAME==VERSION lines (blank lines and # comments skipped)."""
    specs = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            specs.append(line)
    return specs


# ---------------------------------------------------------------------------------------------
# loading and filtering


def suite_files(suite_dir: Path | None = None) -> list[Path]:
    return sorted((suite_dir or SUITE_DIR).glob("*.jsonl.gz"))


def split_of(instance_id: str, test_fraction: float = TEST_FRACTION) -> str:
    """ "test" or "train", fixed by the id's stable hash (the same rule as `TaskSource`)."""
    return "test" if stable_fraction(instance_id) < test_fraction else "train"


def _as_set(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return {i.strip() for i in items if i.strip()}


def filter_instances(
    instances: list[SWEInstance],
    *,
    difficulty: str | Iterable[str] | None = None,
    packages: str | Iterable[str] | None = None,
    split: str | None = None,
) -> list[SWEInstance]:
    """Keep the records matching every filter given: difficulty level(s) (easy, medium, hard),
    package name(s) (PyPI names, case and -/_ insensitive), split (train or test)."""
    levels = _as_set(difficulty)
    if levels is not None:
        unknown = levels - set(LEVELS)
        if unknown:
            raise TaskError(f"difficulty={sorted(unknown)[0]!r}: expected one of {', '.join(LEVELS)}")
    names = {package_slug(p) for p in _as_set(packages) or ()} if packages is not None else None
    if split is not None and split not in ("train", "test"):
        raise TaskError(f"split={split!r}: expected train or test")
    if names is not None:
        known = {package_slug(i.repo.split("/")[-1]) for i in instances}
        missing = sorted(names - known)
        if missing:
            raise TaskError(f"packages: {missing[0]!r} is not in the suite ({len(known)} packages)")
    out = []
    for inst in instances:
        if levels is not None and difficulty_of(inst)["level"] not in levels:
            continue
        if names is not None and package_slug(inst.repo.split("/")[-1]) not in names:
            continue
        if split is not None and split_of(inst.instance_id) != split:
            continue
        out.append(inst)
    return out


def load_suite(
    suite_dir: Path | None = None,
    *,
    difficulty: str | Iterable[str] | None = None,
    packages: str | Iterable[str] | None = None,
    split: str | None = None,
) -> list[SWEInstance]:
    """Every record of the suite (default: the shipped one), filtered."""
    files = suite_files(suite_dir)
    if not files:
        raise TaskError(f"no SWE suite files (*.jsonl.gz) in {suite_dir or SUITE_DIR}")
    instances: list[SWEInstance] = []
    for f in files:
        instances += load_instances(f)
    return filter_instances(instances, difficulty=difficulty, packages=packages, split=split)


def parse_task_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`suite?difficulty=hard&packages=toolz,parse&split=train` -> ("suite", {...}); a path with
    no `?` is returned as is."""
    base, _, query = spec.partition("?")
    filters: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq or key not in ("difficulty", "packages", "split", "statement"):
            raise TaskError(f"task filter {part!r}: expected difficulty=, packages=, split= or statement=")
        filters[key] = value
    return base, filters


# ---------------------------------------------------------------------------------------------
# building


@dataclass
class PackageResult:
    spec: str
    #: done | error (the package cannot give tasks: skipped on resume) | crashed (retried on resume)
    status: str = "pending"
    baseline_tests: int = 0
    seconds: float = 0.0
    tried: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class BuildOptions:
    seed: int = 0
    max_tasks: int = 30
    max_tries: int = 120
    max_suite_seconds: float = 90.0
    multi_fraction: float = 0.25
    archive_dir: str = ""  # default: the sdist cache


def build_one_package(spec: str, out_dir: str, options: BuildOptions) -> dict[str, Any]:
    """Build one package's tasks into `out_dir/<slug>.jsonl.gz` (a worker: process pool or Ray).
    The records name their sdist (PyPI url and sha256) so the suite ships without archives."""
    import logging

    from .build import build_package_tasks
    from .sdist_cache import SdistFetchError, cache_dir, canonical_url, pypi_sdist

    log = logging.getLogger("agentgym.swe.build")
    result = PackageResult(spec)
    t0 = time.time()
    archive_dir = Path(options.archive_dir) if options.archive_dir else cache_dir()
    try:
        sdist: dict[str, str] = {}
        if "==" in spec and not spec.endswith((".tar.gz", ".tgz")):
            name, version = spec.split("==", 1)
            try:
                sdist = pypi_sdist(name, version)
            except SdistFetchError as exc:
                log.warning("%s", exc)
        report = build_package_tasks(
            spec,
            Path(out_dir),
            seed=options.seed,
            max_tasks=options.max_tasks,
            max_tries=options.max_tries,
            max_suite_seconds=options.max_suite_seconds,
            multi_fraction=options.multi_fraction,
            archive_dir=archive_dir,
            log=log.info,
        )
        result.baseline_tests = report.baseline_tests
        result.tried = report.tried
        result.kept = len(report.kept)
        result.rejected = dict(report.rejected)
        result.error = report.error
        for inst in report.kept:
            if sdist and inst.archive_sha256 == sdist["sha256"]:
                inst.sdist = dict(sdist, url=canonical_url(sdist["url"]))
            elif not sdist:
                archive = Path(inst.source_archive)
                inst.sdist = {
                    "name": inst.repo.split("/")[-1],
                    "version": inst.version,
                    "filename": archive.name,
                    "url": "",
                    "sha256": inst.archive_sha256,
                }
        if report.kept:
            name = report.kept[0].repo.split("/")[-1]
            target = Path(out_dir) / f"{package_slug(name)}.jsonl.gz"
            tmp = target.with_suffix(".tmp.gz")
            write_instances(tmp, report.kept)
            os.replace(tmp, target)
        result.status = "done"
    except Exception as exc:  # noqa: BLE001 - one package's failure is reported, not fatal
        result.status = "error"
        result.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    result.seconds = round(time.time() - t0, 1)
    return result.to_json()


class BuildState:
    """The resumable state: one JSON file, rewritten atomically after each finished package."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / STATE_FILE
        self.packages: dict[str, dict[str, Any]] = {}
        self.started = time.time()
        if self.path.exists():
            try:
                self.packages = json.loads(self.path.read_text()).get("packages", {})
            except ValueError:
                raise TaskError(f"{self.path}: unreadable build state (delete it to start over)") from None

    def finished(self, spec: str) -> bool:
        return self.packages.get(spec, {}).get("status") in ("done", "error")

    def record(self, result: dict[str, Any]) -> None:
        self.packages[result["spec"]] = result
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"packages": self.packages}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def build_suite(
    specs: list[str],
    out_dir: Path,
    options: BuildOptions,
    *,
    jobs: int = 0,
    executor: str = "process",
    retry_errors: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> BuildState:
    """Build every package not finished yet (resuming from `out_dir/build_state.json`), `jobs` at a
    time (default: the CPU count), in a process pool or as Ray tasks."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "packages.txt").write_text("\n".join(specs) + "\n")
    state = BuildState(out_dir)
    todo = [
        s
        for s in specs
        if not state.finished(s) or (retry_errors and state.packages[s].get("status") == "error")
    ]
    jobs = jobs or os.cpu_count() or 1
    done = on_result or (lambda r: None)
    if executor == "ray":
        _build_with_ray(todo, out_dir, options, jobs, state, done)
        return state
    if executor != "process":
        raise TaskError(f"executor={executor!r}: expected process or ray")
    import multiprocessing

    # spawn: a worker must not inherit the parent's Docker connections
    level = logging.getLogger().getEffectiveLevel()
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(level,),
        max_tasks_per_child=1,  # a fresh worker per package: no state leaks from one to the next
    ) as pool:
        futures: dict[Future, str] = {}
        queue = list(todo)
        while queue or futures:
            while queue and len(futures) < jobs:
                spec = queue.pop(0)
                futures[pool.submit(build_one_package, spec, str(out_dir), options)] = spec
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in finished:
                spec = futures.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died
                    result = PackageResult(spec, "crashed", error=f"worker died: {exc}").to_json()
                state.record(result)
                done(result)
    return state


def _worker_init(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(message)s")


def _build_with_ray(
    todo: list[str], out_dir: Path, options: BuildOptions, jobs: int, state: BuildState, done: Callable
) -> None:
    try:
        import ray
    except ImportError:
        raise TaskError("--executor ray needs Ray: pip install 'agentgym[ray]'") from None
    if not ray.is_initialized():
        ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1)(build_one_package)
    pending = {remote.remote(spec, str(out_dir), options): spec for spec in todo}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            spec = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001
                result = PackageResult(spec, "crashed", error=f"ray task failed: {exc}").to_json()
            state.record(result)
            done(result)
