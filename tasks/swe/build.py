"""Build SWE tasks from a real PyPI package: sdist -> image -> passing tests -> injected bugs.

    build_package_tasks("toolz==1.2.0", out_dir, seed=0, max_tasks=12)

1. The sdist is downloaded (it must ship its tests); the package image is the base image with the
   sdist unpacked in /testbed (git, fixed dates).
2. The test suite runs twice, the second time under a per-test line tracer
   (`coverage_plugin`); tests passing both times (ids without spaces) are the baseline, less the
   tests that assert on a clock reading (`timing`: their outcome follows the machine's load), and
   the tracer maps each source line to the baseline tests that execute it.
3. Candidate bugs (`mutate`: single AST mutations, removed statements and else-branches, and
   two-site bugs in one function), shuffled by `seed` and interleaved by kind, run in batches inside
   the sandbox (`mutant_runner`), each against only the tests that execute a line it changes: the
   others cannot change outcome. A bug is kept when some of those tests fail (FAIL_TO_PASS) and
   the rest of the baseline still passes (PASS_TO_PASS), at most one single-site and one two-site
   bug per function. Uncovered, equivalent, too-disruptive and timed-out bugs are dropped (counted
   per reason in the report).
4. Records hide the test files holding FAIL_TO_PASS tests (`test_patch` brings them back at
   grading), carry a difficulty estimate, and the problem statement quotes the observed failure,
   never the fix. The real grader validates kept tasks (`validate`), in full or on a sample.
"""

from __future__ import annotations

import json
import random
import re
import shlex
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from agentgym.rewards.functions.swebench import evaluate_log
from agentgym.sandbox.base import DriverSandbox

from .difficulty import estimate_difficulty
from .environment import GIT_ENV, ensure_package_image, is_test_path, package_image_tag, sha256_file
from .mutate import Bug, Mutation, find_mutations, pair_bugs
from .records import TEST_CMD, SWEInstance
from .timing import clock_reading_tests

SKIP_SOURCE = {
    "setup.py",
    "conftest.py",
    "noxfile.py",
    "fabfile.py",
    "versioneer.py",
    "_version.py",
    "version.py",
    "__main__.py",
}
SKIP_DIRS = {
    "docs",
    "doc",
    "examples",
    "example",
    "benchmarks",
    "bench",
    "scripts",
    "tools",
    "build",
    ".github",
}


@dataclass
class BuildReport:
    package: str
    baseline_tests: int = 0
    baseline_seconds: float = 0.0
    #: seconds spent running candidate bugs (the part test selection speeds up)
    candidate_seconds: float = 0.0
    tried: int = 0
    kept: list[SWEInstance] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    def reject(self, why: str) -> None:
        self.rejected[why] = self.rejected.get(why, 0) + 1


def download_sdist(spec: str, dest: Path) -> Path:
    """pip download the sdist of `NAME==VERSION` into `dest` (no deps, no wheels)."""
    dest.mkdir(parents=True, exist_ok=True)
    local = Path(spec)
    if spec.endswith((".tar.gz", ".tgz")) and local.is_file():  # a local sdist
        target = dest / local.name
        if target.resolve() != local.resolve():
            target.write_bytes(local.read_bytes())
        return target
    name = re.split(r"[=<>!~ ]", spec, maxsplit=1)[0]
    norm = re.sub(r"[-_.]+", "[-_.]", name)
    version = spec.split("==", 1)[1] if "==" in spec else None
    for f in sorted(dest.iterdir()):
        if re.match(rf"(?i){norm}-{re.escape(version)}\.(tar\.gz|zip)$", f.name) if version else False:
            return f
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                "python3",
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--no-build-isolation",
                spec,
                "-d",
                tmp,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            proc = subprocess.run(
                [_pip(), "download", "-q", "--no-deps", "--no-binary", ":all:", spec, "-d", tmp],
                capture_output=True,
                text=True,
            )
        files = [f for f in Path(tmp).iterdir() if f.name.endswith(".tar.gz")]
        if proc.returncode != 0 or not files:
            raise RuntimeError(f"pip download {spec} failed: {proc.stderr[-800:]}")
        target = dest / files[0].name
        target.write_bytes(files[0].read_bytes())
        return target


def _pip() -> str:
    import sys

    return str(Path(sys.executable).with_name("pip"))


def _layout(sb: DriverSandbox) -> tuple[list[str], list[str], dict[str, str]]:
    code, out = sb.run("cd /testbed && git ls-files '*.py'", timeout=30)
    files = out.split()
    tests = [
        f
        for f in files
        if is_test_path(f)
        and PurePosixPath(f).name not in ("conftest.py", "__init__.py")
        and (PurePosixPath(f).name.startswith("test") or PurePosixPath(f).name.endswith("_test.py"))
    ]
    sources = [
        f
        for f in files
        if not is_test_path(f)
        and PurePosixPath(f).name not in SKIP_SOURCE
        and not (set(PurePosixPath(f).parts[:-1]) & SKIP_DIRS)
        and "/" in f
        or (
            "/" not in f
            and f not in SKIP_SOURCE
            and not is_test_path(f)
            and f.endswith(".py")
            and f not in ("setup.py",)
        )
    ]
    sources = [f for f in sources if PurePosixPath(f).name not in SKIP_SOURCE]
    # a fixed hash seed: parametrized test ids built from sets/dicts must not change between runs
    env = {"PYTHONHASHSEED": "0"}
    if any(f.startswith("src/") for f in sources):
        env["PYTHONPATH"] = "src"
    return sources, tests, env


def _run_tests(
    sb: DriverSandbox, test_files: list[str], env: dict[str, str], timeout: float, extra: str = ""
) -> str:
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    files = " ".join(shlex.quote(f) for f in test_files)
    script = (
        "cd /testbed; echo '>>>>> Start Test Output'; "
        f"env {envs} timeout -s KILL {int(timeout)} {TEST_CMD} {extra} {files} 2>&1; rc=$?; "
        "echo '>>>>> End Test Output'; [ $rc -eq 137 ] && echo '>>>>> Tests Timed Out'; "
        'echo ">>>>> Test Exit Code: $rc"; true'
    )
    return sb.run_detailed(script, timeout=timeout + 30, head=2_000, tail=8_000_000).output


def failure_sections(log: str) -> dict[str, str]:
    """pytest's FAILURES / ERRORS sections keyed by their header (`Class.test_name` or `test_name`)."""
    sections: dict[str, str] = {}
    current, buf = None, []
    for line in log.split("\n"):
        m = re.match(r"^_{3,} (?:ERROR at \w+ of )?(.+?) _{3,}$", line)
        if m:
            if current:
                sections[current] = "\n".join(buf)
            current, buf = m.group(1), []
            continue
        if current is not None and (line.startswith("=====") or line.startswith(">>>>>")):
            sections[current] = "\n".join(buf)
            current, buf = None, []
            continue
        if current is not None:
            buf.append(line)
    if current:
        sections[current] = "\n".join(buf)
    return sections


def _excerpt(section: str, test_files: set[str]) -> str:
    """The test's own frames (location + code line) and the `E` lines; library frames are left out."""
    lines = section.split("\n")
    keep: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\S+?\.py):(\d+): in (\S+)", line)
        if m:
            in_test = m.group(1) in test_files or is_test_path(m.group(1))
            if in_test and i + 1 < len(lines) and lines[i + 1].startswith("    "):
                keep.append(lines[i + 1].rstrip())
            i += 1
            continue
        if line.startswith("E "):
            keep.append(line.rstrip())
        i += 1
    out, seen = [], set()
    for line in keep:
        line = re.sub(r"0x[0-9a-fA-F]{6,}", "0x...", line)
        if len(line) > 240:
            line = line[:240] + " ..."
        if line not in seen:
            out.append(line)
            seen.add(line)
    return "\n".join(out[:14])


def problem_statement(name: str, bug: Bug | Mutation, f2p: list[str], log: str) -> str:
    """The default (template) problem statement: the observed failures, never the fix."""
    mutations = bug.mutations if isinstance(bug, Bug) else (bug,)
    m = mutations[0]
    func = m.function.split(".")[-1]
    module = m.path[4:] if m.path.startswith("src/") else m.path
    module = module[:-3].replace("/", ".").removesuffix(".__init__")
    sections = failure_sections(log)
    test_files = {t.split("::")[0] for t in f2p}
    examples = []
    for t in f2p:
        parts = t.split("::")
        key = ".".join(parts[1:])
        text = sections.get(key) or sections.get(parts[-1])
        if text:
            ex = _excerpt(text, test_files)
            if ex:
                examples.append(ex)
        if len(examples) == 2:
            break
    where = f"`{m.function}` in `{module}`"
    body = [
        f"Wrong behaviour in {name}: {func}",
        "",
        f"{where} does not behave as documented any more. "
        f"{len(f2p)} test{'s' if len(f2p) != 1 else ''} of the project's own test suite "
        f"fail{'s' if len(f2p) == 1 else ''} because of it.",
    ]
    if examples:
        body += ["", "What I observe:", ""]
        for ex in examples:
            body += ["```", ex, "```", ""]
    else:
        body += [
            "",
            f"The failing tests exercise `{func}`; calling it now gives wrong results or raises.",
            "",
        ]
    body += [
        "Please fix the library code so that it behaves correctly again. The tests are not part of the fix."
    ]
    return "\n".join(body).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# the coverage-guided builder

_PLUGIN_DIR = "/tmp/agentgym-build"
_PLUGIN_NAME = "agentgym_line_coverage"
_TOLERANT = "--continue-on-collection-errors -p no:randomly"


@dataclass
class _Baseline:
    tests: list[str]  # passing twice, ids without spaces
    test_files: list[str]
    seconds: float
    #: path -> line -> baseline tests executing it; "*" marks a line also run outside any test
    lines: dict[str, dict[int, set[str]]]
    log: str


def _read_text(sb: DriverSandbox, path: str) -> str | None:
    try:
        return sb.read_file(path).decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - an unreadable file reads as absent (callers treat it as empty)
        return None


def _install_helpers(sb: DriverSandbox, sources: list[str]) -> None:
    here = Path(__file__).parent
    sb.run(f"mkdir -p {_PLUGIN_DIR}", timeout=30)
    sb.write_file(f"{_PLUGIN_DIR}/{_PLUGIN_NAME}.py", (here / "coverage_plugin.py").read_text())
    sb.write_file(f"{_PLUGIN_DIR}/mutant_runner.py", (here / "mutant_runner.py").read_text())
    sb.write_file(f"{_PLUGIN_DIR}/sources.txt", "\n".join(sources) + "\n")


def _baseline(
    sb: DriverSandbox, tests: list[str], sources: list[str], env: dict[str, str], max_suite_seconds: float
) -> tuple[_Baseline | None, str]:
    """Run the suite plainly, then once more under the per-test line tracer; (baseline, error)."""
    t0 = time.time()
    # test files that cannot be imported here (a missing optional dependency) are left out: the
    # records' test_files list only files holding baseline tests
    log1 = _run_tests(sb, tests, env, max(300.0, max_suite_seconds * 2), extra=_TOLERANT)
    seconds = time.time() - t0
    ev1 = evaluate_log(log1)
    if not ev1.usable:
        return None, f"baseline test run unusable: {ev1.reason}"
    if seconds > max_suite_seconds:
        return None, f"test suite too slow for training ({seconds:.0f} s > {max_suite_seconds:.0f} s)"
    _install_helpers(sb, sources)
    traced_env = dict(env)
    traced_env["PYTHONPATH"] = ":".join(p for p in (env.get("PYTHONPATH", ""), _PLUGIN_DIR) if p)
    traced_env.update(
        AGENTGYM_COV_ROOT="/testbed",
        AGENTGYM_COV_SOURCES=f"{_PLUGIN_DIR}/sources.txt",
        AGENTGYM_COV_OUT=f"{_PLUGIN_DIR}/coverage.json",
    )
    files = " ".join(shlex.quote(f) for f in tests)
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in traced_env.items())
    timeout = max(120.0, seconds * 10 + 30)
    script = (
        "cd /testbed; echo '>>>>> Start Test Output'; "
        f"env {envs} timeout -s KILL {int(timeout)} {TEST_CMD} {_TOLERANT} -p {_PLUGIN_NAME} {files} 2>&1; rc=$?; "
        "echo '>>>>> End Test Output'; [ $rc -eq 137 ] && echo '>>>>> Tests Timed Out'; "
        'echo ">>>>> Test Exit Code: $rc"; true'
    )
    log2 = sb.run_detailed(script, timeout=timeout + 30, head=2_000, tail=8_000_000).output
    ev2 = evaluate_log(log2)
    if not ev2.usable:
        return None, f"traced baseline run unusable: {ev2.reason}"
    try:
        cov = json.loads(sb.read_file(f"{_PLUGIN_DIR}/coverage.json"))
    except Exception as exc:  # noqa: BLE001 - reported as the package's error
        return None, f"no coverage map from the traced run: {exc}"
    baseline = sorted(
        t
        for t, s in ev1.status_map.items()
        if s == "PASSED" and ev2.status_map.get(t) == "PASSED" and not re.search(r"\s", t)
    )
    # a test asserting on a clock reading passes or fails with the machine's load: never graded
    timed = clock_reading_tests(baseline, lambda path: _read_text(sb, "/testbed/" + path))
    baseline = [t for t in baseline if t not in timed]
    keep = set(baseline)
    names = cov["tests"]
    lines: dict[str, dict[int, set[str]]] = {}
    for path, per_line in cov["lines"].items():
        out = lines.setdefault(path, {})
        for line, idxs in per_line.items():
            hit = {names[i] for i in idxs if i >= 0 and names[i] in keep}
            if -1 in idxs:
                hit.add("*")
            out[int(line)] = hit
    return (
        _Baseline(baseline, sorted({t.split("::")[0] for t in baseline}), seconds, lines, log1),
        "",
    )


def _covering_tests(bug: Bug, base: _Baseline) -> set[str] | None:
    """The baseline tests that run a line the bug changes (None: no test does). A line also run
    outside any test (at import) may change every test: all of them then."""
    hit: set[str] = set()
    for path, line in bug.lines:
        tests = base.lines.get(path, {}).get(line)
        if tests:
            hit |= tests
    if not hit:
        return None
    if "*" in hit:
        return set(base.tests)
    return hit


def _plan(
    candidates: list[Mutation], rng: random.Random, multi_fraction: float, limit: int, texts: dict[str, str]
) -> list[Bug]:
    """Single-site bugs interleaved by operator (so no operator dominates), with a two-site bug
    every 1/multi_fraction places."""
    by_op: dict[str, list[Mutation]] = {}
    for m in candidates:
        by_op.setdefault(m.operator, []).append(m)
    singles: list[Bug] = []
    ops = sorted(by_op)
    rng.shuffle(ops)
    while any(by_op.values()) and len(singles) < limit:
        for op in ops:
            if by_op[op]:
                singles.append(Bug((by_op[op].pop(0),)))
    pairs = pair_bugs(candidates, max(1, int(limit * multi_fraction)), texts) if multi_fraction > 0 else []
    plan: list[Bug] = []
    every = max(2, round(1 / multi_fraction)) if multi_fraction > 0 else 0
    for bug in singles:
        if every and pairs and len(plan) % every == every - 1:
            plan.append(pairs.pop(0))
        plan.append(bug)
    return plan + pairs


def _test_ids_argv(tests: set[str]) -> list[str]:
    """Node ids to run; whole files when the ids would make a very long command line."""
    if len(tests) > 400:
        return sorted({t.split("::")[0] for t in tests})
    return sorted(tests)


def build_package_tasks(
    spec: str,
    out_dir: Path,
    *,
    seed: int = 0,
    max_tasks: int = 12,
    max_tries: int = 80,
    max_f2p: int = 25,
    max_suite_seconds: float = 90.0,
    multi_fraction: float = 0.25,
    batch_size: int = 12,
    archive_dir: Path | None = None,
    select_tests: bool = True,
    log=print,
) -> BuildReport:
    """Build up to `max_tasks` tasks from one package (see the module docstring).

    Each candidate bug runs only the baseline tests that execute a line it changes (from one
    traced baseline run); the other tests cannot change outcome, so they count as passing.
    Candidates run in batches inside the package sandbox (`mutant_runner`). `select_tests=False`
    runs every baseline test file for every candidate instead (the reference the benchmark
    compares against)."""
    from agentgym.sandbox.docker_backend import DockerSandbox

    t0 = time.time()
    report = BuildReport(spec)
    archive = download_sdist(spec, archive_dir or (out_dir / "archives"))
    if "==" in spec:
        name, version = spec.split("==", 1)
    else:  # a local sdist NAME-VERSION.tar.gz
        name, version = archive.name.removesuffix(".tar.gz").removesuffix(".tgz").rsplit("-", 1)
    sha = sha256_file(archive)
    image = package_image_tag(name, version, sha)
    pristine = ensure_package_image(archive, image, log=log)
    sb = DockerSandbox(image, default_timeout=300)
    try:
        sources, tests, env = _layout(sb)
        if not tests:
            report.error = "the sdist ships no test files"
            return report
        base, error = _baseline(sb, tests, sources, env, max_suite_seconds)
        if base is None:
            report.error = error
            return report
        report.baseline_tests = len(base.tests)
        report.baseline_seconds = base.seconds
        log(
            f"{spec}: {len(base.tests)} baseline tests in {len(base.test_files)} files "
            f"({base.seconds:.1f} s per run), {len(sources)} source files"
        )
        if len(base.tests) < 5:
            report.error = f"only {len(base.tests)} passing tests"
            return report
        texts: dict[str, str] = {}
        candidates: list[Mutation] = []
        for path in sources:
            if path not in base.lines:
                continue  # no test runs this file
            texts[path] = sb.read_file("/testbed/" + path).decode("utf-8", errors="replace")
            candidates += list(find_mutations(path, texts[path]))
        rng = random.Random(seed * 1_000_003 + zlib.crc32(spec.encode()))
        rng.shuffle(candidates)
        plan = _plan(candidates, rng, multi_fraction, limit=max(max_tries * 4, 200), texts=texts)
        # cheap candidates first: a bug few tests run is fast to check and rarely fails too many
        # tests; the order within a cost band stays the seeded shuffle
        covers = {bug.key: _covering_tests(bug, base) for bug in plan}
        plan.sort(key=lambda bug: min(len(covers[bug.key] or ()), max_f2p * 8) // max(1, max_f2p))
        timeout = max(30.0, base.seconds * 5 + 10)
        used: set[tuple[str, str]] = set()  # (function, single|multi)
        test_sources: dict[str, str] = {}
        pending = list(plan)  # candidates not run yet, in order
        while len(report.kept) < max_tasks and report.tried < max_tries:
            chosen: list[tuple[Bug, set[str]]] = []
            in_batch: set[tuple[str, str]] = set()
            deferred: list[Bug] = []  # same function as a candidate of this batch: next batches
            room = min(batch_size, max_tries - report.tried, 2 * (max_tasks - len(report.kept)) + 2)
            while pending and len(chosen) < room:
                bug = pending.pop(0)
                slot = (",".join(bug.functions), "multi" if len(bug.mutations) > 1 else "single")
                if slot in used:
                    continue
                if slot in in_batch:
                    deferred.append(bug)
                    continue
                tests_hit = covers[bug.key]
                if tests_hit is None:
                    report.reject("no test runs the changed lines (not run)")
                    continue
                chosen.append((bug, tests_hit))
                in_batch.add(slot)
            pending = deferred + pending
            if not chosen:
                break
            if not select_tests:
                chosen = [(bug, set(base.tests)) for bug, _ in chosen]
            # a candidate's time limit follows the share of the suite it runs (an infinite loop
            # must not cost a full-suite timeout when one test covers the line)
            limits = [
                min(timeout, 15.0 + 4 * base.seconds * len(hit) / max(1, len(base.tests)))
                for _, hit in chosen
            ]
            t_batch = time.time()
            results = _run_batch(
                sb, chosen, texts, env, limits, files=None if select_tests else base.test_files
            )
            report.candidate_seconds += time.time() - t_batch
            for (bug, tests_hit), mlog in zip(chosen, results, strict=True):
                report.tried += 1
                slot = (",".join(bug.functions), "multi" if len(bug.mutations) > 1 else "single")
                ev = evaluate_log(mlog)
                if not ev.usable:
                    report.reject("unusable log / timeout")
                    continue
                failing = sorted(t for t in tests_hit if ev.status_map.get(t) not in ("PASSED", "XFAIL"))
                passing = [t for t in base.tests if t not in set(failing)]
                if not failing:
                    report.reject("no test fails (equivalent mutant)")
                elif len(failing) > max_f2p:
                    report.reject(f"too many failures (> {max_f2p})")
                elif not passing:
                    report.reject("every baseline test fails")
                elif len(report.kept) >= max_tasks or slot in used:
                    report.reject("surplus (function or package already has its task)")
                else:
                    inst = _make_record(
                        sb,
                        name,
                        version,
                        image,
                        archive,
                        sha,
                        pristine,
                        bug,
                        failing,
                        passing,
                        base.test_files,
                        env,
                        mlog,
                        timeout,
                        texts,
                        test_sources,
                    )
                    report.kept.append(inst)
                    used.add(slot)
                    log(f"  kept {inst.instance_id}: {bug.kind} ({len(failing)} F2P, {len(passing)} P2P)")
    finally:
        sb.close()
    report.seconds = time.time() - t0
    return report


def _run_batch(
    sb: DriverSandbox,
    chosen: list[tuple[Bug, set[str]]],
    texts: dict[str, str],
    env: dict[str, str],
    limits: list[float],
    files: list[str] | None = None,
) -> list[str]:
    """Logs of running each candidate's covering tests with the bug in (one exec for the batch)."""
    job = {
        "root": "/testbed",
        "env": env,
        "test_cmd": TEST_CMD,
        "candidates": [
            {
                "id": str(n),
                "files": bug.apply(texts),
                "tests": files if files is not None else _test_ids_argv(tests_hit),
                "timeout": limit,
            }
            for n, ((bug, tests_hit), limit) in enumerate(zip(chosen, limits, strict=True))
        ],
    }
    sb.write_file(f"{_PLUGIN_DIR}/job.json", json.dumps(job))
    sb.run(f"rm -f {_PLUGIN_DIR}/results.jsonl", timeout=30)
    sb.run(
        f"cd /testbed && python3 {_PLUGIN_DIR}/mutant_runner.py {_PLUGIN_DIR}/job.json {_PLUGIN_DIR}/results.jsonl",
        timeout=sum(limits) + 60,
    )
    logs = {str(n): ">>>>> Tests Errored\n" for n in range(len(chosen))}
    try:
        raw = sb.read_file(f"{_PLUGIN_DIR}/results.jsonl").decode("utf-8", errors="replace")
    except Exception:  # noqa: BLE001 - no results: every candidate counts as unusable
        raw = ""
    for line in raw.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        logs[rec["id"]] = rec["log"]
    # the runner restores the files; make sure nothing else changed
    sb.run("cd /testbed && git checkout -q -- . && git clean -qfd -e __pycache__", timeout=60)
    return [logs[str(n)] for n in range(len(chosen))]


def _mentions(test_sources: dict[str, str], sb: DriverSandbox, files: list[str], name: str) -> bool:
    for f in files:
        if f not in test_sources:
            test_sources[f] = _read_text(sb, "/testbed/" + f) or ""
        if re.search(rf"\b{re.escape(name)}\b", test_sources[f]):
            return True
    return False


def _make_record(
    sb,
    name,
    version,
    image,
    archive,
    sha,
    pristine,
    bug: Bug,
    failing,
    passing,
    tests,
    env,
    mlog,
    timeout,
    texts,
    test_sources,
) -> SWEInstance:
    hidden = sorted({t.split("::")[0] for t in failing})
    for path, text in bug.apply(texts).items():
        sb.write_file("/testbed/" + path, text)
    rm = " ".join(shlex.quote(h) for h in hidden)
    files = " ".join(shlex.quote(f) for f in bug.files)
    # one exec: commit the base (bug in, hidden tests out), the three patches, back to pristine
    code, out = sb.run(
        f"set -e; cd /testbed; git rm -q -- {rm}; git add -A; git diff --cached --binary HEAD > /tmp/setup.patch; "
        f"{GIT_ENV} git commit -q --no-verify -m 'agentgym task base'; base=$(git rev-parse HEAD); "
        f"git diff $base {pristine} -- {files} > /tmp/gold.patch; "
        f"git diff --binary $base {pristine} -- {rm} > /tmp/test.patch; "
        f"git reset -q --hard {pristine}; git clean -qfd; echo $base",
        timeout=60,
    )
    if code != 0:
        raise RuntimeError(f"could not commit the task base and its patches: {out}")
    base = out.strip().splitlines()[-1]
    setup_patch = sb.read_file("/tmp/setup.patch").decode()
    gold = sb.read_file("/tmp/gold.patch").decode()
    test_patch = sb.read_file("/tmp/test.patch").decode()
    functions = [m.function.split(".")[-1] for m in bug.mutations]
    indirect = not any(_mentions(test_sources, sb, hidden, f) for f in functions)
    difficulty = estimate_difficulty(
        kind=bug.kind,
        fail_to_pass=len(failing),
        files=len(bug.files),
        functions=len(bug.functions),
        indirect=indirect,
    )
    digest = format(zlib.crc32(bug.key.encode()), "08x")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
    m = bug.mutations[0]
    return SWEInstance(
        instance_id=f"{slug}__{slug}-{version}-{m.function.split('.')[-1].strip('_').lower() or 'fn'}-{digest}",
        repo=f"pypi/{name}",
        base_commit=base,
        patch=gold,
        test_patch=test_patch,
        problem_statement=problem_statement(name, bug, failing, mlog),
        created_at="2000-01-01T00:00:00Z",
        version=version,
        FAIL_TO_PASS=failing,
        PASS_TO_PASS=passing,
        environment_setup_commit=pristine,
        image=image,
        source_archive=str(archive),
        archive_sha256=sha,
        setup_patch=setup_patch,
        test_cmd=TEST_CMD,
        test_files=tests,
        test_env=env,
        eval_timeout=float(int(timeout)),
        mutation=bug.describe(),
        difficulty=difficulty,
    )
