"""Build SWE tasks from a real PyPI package: sdist -> image -> passing tests -> injected bugs.

    build_package_tasks("toolz==1.2.0", out_dir, seed=0, max_tasks=12)

1. `pip download --no-deps --no-binary :all:` fetches the sdist (it must ship its tests).
2. The package image is the base image with the sdist unpacked in /testbed (git, fixed dates).
3. The test suite runs twice; tests passing both times (ids without spaces) are the baseline.
4. AST mutations of non-test source (shuffled by `seed`) are tried one by one: a mutation is kept
   when some baseline tests fail (FAIL_TO_PASS) and the rest still pass (PASS_TO_PASS), at most
   one per function. Timeouts, unusable logs and equivalent mutants are dropped.
5. Records hide the test files holding FAIL_TO_PASS tests (`test_patch` brings them back at
   grading), and the problem statement quotes the observed failure, never the fix.
"""

from __future__ import annotations

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

from .environment import GIT_ENV, ensure_package_image, is_test_path, package_image_tag, sha256_file
from .mutate import Mutation, apply_mutation, find_mutations
from .records import TEST_CMD, SWEInstance

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


def _run_tests(sb: DriverSandbox, test_files: list[str], env: dict[str, str], timeout: float) -> str:
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    files = " ".join(shlex.quote(f) for f in test_files)
    script = (
        "cd /testbed; echo '>>>>> Start Test Output'; "
        f"env {envs} timeout -s KILL {int(timeout)} {TEST_CMD} {files} 2>&1; rc=$?; "
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


def problem_statement(name: str, m: Mutation, f2p: list[str], log: str) -> str:
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


def build_package_tasks(
    spec: str,
    out_dir: Path,
    *,
    seed: int = 0,
    max_tasks: int = 12,
    max_tries: int = 80,
    max_f2p: int = 25,
    max_suite_seconds: float = 60.0,
    log=print,
) -> BuildReport:
    from agentgym.sandbox.docker_backend import DockerSandbox

    t0 = time.time()
    report = BuildReport(spec)
    archives = out_dir / "archives"
    archive = download_sdist(spec, archives)
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
        # baseline, twice
        t_base = time.time()
        log1 = _run_tests(sb, tests, env, 300)
        base_time = time.time() - t_base
        ev1, ev2 = evaluate_log(log1), evaluate_log(_run_tests(sb, tests, env, 300))
        if not ev1.usable or not ev2.usable:
            report.error = f"baseline test run unusable: {ev1.reason or ev2.reason}"
            return report
        baseline = sorted(
            t
            for t, s in ev1.status_map.items()
            if s == "PASSED" and ev2.status_map.get(t) == "PASSED" and not re.search(r"\s", t)
        )
        # keep only test files that hold baseline tests
        tests = sorted({t.split("::")[0] for t in baseline})
        report.baseline_tests = len(baseline)
        log(
            f"{spec}: {len(baseline)} baseline tests in {len(tests)} files ({base_time:.1f} s per run), "
            f"{len(sources)} source files"
        )
        if base_time > max_suite_seconds:
            report.error = f"test suite too slow for training ({base_time:.0f} s > {max_suite_seconds:.0f} s)"
            return report
        if len(baseline) < 5:
            report.error = f"only {len(baseline)} passing tests"
            return report
        candidates: list[Mutation] = []
        for path in sources:
            src = sb.read_file("/testbed/" + path).decode("utf-8", errors="replace")
            candidates += list(find_mutations(path, src))
        rng = random.Random(seed * 1_000_003 + zlib.crc32(spec.encode()))
        rng.shuffle(candidates)
        used_functions: set[tuple[str, str]] = set()
        timeout = max(30.0, base_time * 5 + 10)
        sources_cache: dict[str, str] = {}
        for m in candidates:
            if len(report.kept) >= max_tasks or report.tried >= max_tries:
                break
            if (m.path, m.function) in used_functions:
                continue
            report.tried += 1
            src = sources_cache.setdefault(m.path, sb.read_file("/testbed/" + m.path).decode())
            sb.write_file("/testbed/" + m.path, apply_mutation(src, m))
            mlog = _run_tests(sb, tests, env, timeout)
            ev = evaluate_log(mlog)
            if not ev.usable:
                report.reject("unusable log / timeout")
                sb.run("cd /testbed && git checkout -q -- . && git clean -qfd", timeout=60)
                continue
            failing = [t for t in baseline if ev.status_map.get(t) not in ("PASSED", "XFAIL")]
            passing = [t for t in baseline if t not in failing]
            if not failing:
                report.reject("no test fails (equivalent or untested)")
            elif len(failing) > max_f2p or not passing:
                report.reject(f"too many failures (> {max_f2p})")
            else:
                inst = _make_record(
                    sb,
                    name,
                    version,
                    image,
                    archive,
                    sha,
                    pristine,
                    m,
                    failing,
                    passing,
                    tests,
                    env,
                    mlog,
                    timeout,
                )
                report.kept.append(inst)
                used_functions.add((m.path, m.function))
                log(
                    f"  kept {inst.instance_id}: {m.operator} in {m.function} ({len(failing)} F2P, {len(passing)} P2P)"
                )
            sb.run(f"cd /testbed && git reset -q --hard {pristine} && git clean -qfd", timeout=60)
    finally:
        sb.close()
    report.seconds = time.time() - t0
    return report


def _make_record(
    sb, name, version, image, archive, sha, pristine, m: Mutation, failing, passing, tests, env, mlog, timeout
) -> SWEInstance:
    hidden = sorted({t.split("::")[0] for t in failing})
    rm = " ".join(shlex.quote(h) for h in hidden)
    code, out = sb.run(
        f"set -e; cd /testbed; git rm -q -- {rm}; git add -A; git diff --cached --binary HEAD > /tmp/setup.patch; "
        f"{GIT_ENV} git commit -q --no-verify -m 'agentgym task base'; git rev-parse HEAD",
        timeout=60,
    )
    if code != 0:
        raise RuntimeError(f"could not commit the task base: {out}")
    base = out.strip().splitlines()[-1]
    setup_patch = sb.read_file("/tmp/setup.patch").decode()
    code, out = sb.run(
        f"cd /testbed && git diff {base} {pristine} -- {shlex.quote(m.path)} > /tmp/gold.patch && "
        f"git diff --binary {base} {pristine} -- {rm} > /tmp/test.patch",
        timeout=60,
    )
    if code != 0:
        raise RuntimeError(f"could not compute the gold and test patches: {out}")
    gold = sb.read_file("/tmp/gold.patch").decode()
    test_patch = sb.read_file("/tmp/test.patch").decode()
    digest = format(zlib.crc32(m.key.encode()), "08x")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower())
    return SWEInstance(
        instance_id=f"{slug}__{slug}-{version}-{m.function.split('.')[-1].strip('_').lower() or 'fn'}-{digest}",
        repo=f"pypi/{name}",
        base_commit=base,
        patch=gold,
        test_patch=test_patch,
        problem_statement=problem_statement(name, m, failing, mlog),
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
        mutation=m.describe(),
    )
