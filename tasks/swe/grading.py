"""Clean-room grading: the hidden tests run where nothing but the agent's source change can reach.

An RL policy optimises whatever the grader pays for, so the grader trusts nothing from the agent's
sandbox but the repository's files, and not all of those:

1. **Collect** (`collect_tree`, in the agent's sandbox, by the machinery): every leftover process is
   killed, then the repository's working tree is archived (no `.git`, no bytecode, no file over 10
   MB). The agent's `.git` (history, index, config, hooks, `info/exclude`), its exported variables,
   its home directory and `/tmp` play no part.
2. **Clean room** (`grade_in_clean_room`): a fresh sandbox from the task image, at the base commit.
   The agent's tree is unpacked aside and diffed against the base by the clean room's own git;
   test files and test infrastructure (`is_test_path`: test directories and `test_*.py` files,
   conftest, pytest.ini, tox.ini, setup.cfg, pyproject.toml, sitecustomize/usercustomize, `.pth`)
   and every file of the hidden test patch are left out; the rest (the agent's change to the
   library) is applied with `git apply`, then the hidden test patch.
3. **Scan** the applied change for code that tampers with the test runner (`scan_change`): added
   lines that reach into pytest or the import system, rewrite code objects or frames, spawn or
   kill processes, print test verdicts; new top-level modules that shadow an installed module
   (`pytest.py`, `inspect.py`); compiled modules; exotic source encodings.
4. **Run** the FAIL_TO_PASS and PASS_TO_PASS test files between SWE-bench's markers with a fixed
   environment (`env -i`, no user site-packages, only the task's `test_env`), plus two canary
   tests with random names (one must pass, one must fail), a JUnit XML report, and
   `--continue-on-collection-errors` (a test file that fails to import fails its own tests, as
   without it, but the canaries still run).
5. **Grade** the log with SWE-bench's rules (`rewards/functions/swebench.py`, canary lines
   stripped), then check the tripwires: a canary with the wrong verdict, or a test the log calls
   passing that the JUnit report does not, is tampering too.

Tampering of any kind (3 or 5) is reported in `CleanRoomResult.tampering` and never scores as a
pass. Code under test runs in the same process as pytest, so no in-process runner can be made
tamper-proof; the scan and the tripwires make every route we know of fail loudly instead.
"""

from __future__ import annotations

import re
import secrets
import shlex
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from agentgym.rewards.functions.swebench import (
    APPLY_PATCH_FAIL,
    GradeResult,
    evaluate_log,
    grade_log,
    junit_disagreements,
    parse_junit,
    strip_canaries,
)
from agentgym.sandbox.base import GENERATED_FILES, GIT_SAFE, DriverSandbox

from .environment import diff_paths, is_test_path
from .records import SWEInstance

#: the clean room's scratch folder (outside the repository)
SCRATCH = "/tmp/agentgym-grade"
#: what a grading process sees of the environment, besides the task's `test_env`
CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/nonexistent",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
}

#: (pattern, why) matched against every added line of the applied change, NFKC-normalised as
#: Python normalises identifiers. A bug fix in a library has no business with any of these.
_MACHINERY = (
    "importlib|pkgutil|builtins|ctypes|cffi|gc|marshal|atexit|signal|faulthandler|threading|_thread|"
    "multiprocessing|subprocess|pty|runpy|zipimport|codeop|tracemalloc|sysconfig|site"
)
RUNNER_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b_?pytest\b|\bpluggy\b|\bunittest\b|\bconftest\b|\bjunit|\bdoctest\b", "refers to the test runner"),
    (
        r"\bsys\s*\.\s*(modules|meta_path|path_hooks|path_importer_cache|path|settrace|setprofile|monitoring|"
        r"_getframe|exit|excepthook|displayhook|addaudithook|stdout|stderr|__stdout__|__stderr__|stdin)\b",
        "rewires the interpreter (sys.modules, sys.path, tracing, frames, exit, streams)",
    ),
    (
        rf"^\s*(from\s+({_MACHINERY})\b|import\s+[\w., ]*\b({_MACHINERY})\b)|\b({_MACHINERY})\s*\.\s*[A-Za-z_]",
        "uses machinery a fix does not need (import system, processes, signals, exit hooks, memory)",
    ),
    (
        r"\binspect\s*\.\s*(stack|currentframe|getouterframes|getinnerframes|trace|getframeinfo)\b"
        r"|\btypes\s*\.\s*(CodeType|FunctionType|FrameType|ModuleType|TracebackType)\b",
        "walks or builds frames and code objects",
    ),
    (
        r"__import__|__builtins__|__subclasses__|__globals__|__code__|__closure__|__loader__|__spec__"
        r"|\bco_code\b|\bf_back\b|\bf_locals\b|\bf_globals\b|\bf_code\b|\btb_frame\b|\bgi_frame\b",
        "reaches into interpreter internals",
    ),
    (r"(?<![\w.])(exec|eval|compile|breakpoint|globals|vars)\s*\(", "executes or rewires code dynamically"),
    (
        r"\bos\s*\.\s*(_exit|kill|killpg|abort|fork|forkpty|system|popen|exec[lv]\w*|spawn\w*|posix_spawn\w*|"
        r"dup2?|putenv|unsetenv)\b",
        "spawns, kills or exits processes, or redirects file descriptors",
    ),
    (r"\b(PASSED|FAILED|XFAIL|XPASS)\b|>>>>>|short test summary", "prints test verdicts"),
)
_RUNNER_RE = [(re.compile(p), why) for p, why in RUNNER_PATTERNS]
_CODING_RE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_SAFE_CODINGS = {
    "utf-8",
    "utf8",
    "utf_8",
    "ascii",
    "us-ascii",
    "latin-1",
    "latin1",
    "iso-8859-1",
    "iso8859-1",
}
#: files that run as code without being source: never part of a fix
COMPILED_SUFFIXES = (".so", ".pyd", ".pyc", ".pyo", ".pth", ".egg", ".whl")


@dataclass
class CleanRoomResult:
    """What the clean room saw and decided."""

    diff: str = ""  #: the agent's change as applied (test files and test infrastructure left out)
    paths: list[str] = field(default_factory=list)  #: every path the agent's change touched
    dropped: list[str] = field(default_factory=list)  #: those left out (test files, infrastructure)
    tampering: list[str] = field(default_factory=list)  #: why the change tampers with the runner
    log: str = ""  #: the graded log (canary lines stripped)
    raw_log: str = ""  #: the log as pytest wrote it
    grade: GradeResult | None = None  #: None when no test ran (no change to grade)
    seconds: dict[str, float] = field(default_factory=dict)  #: time per phase
    complete: bool = True  #: False when the agent's tree could not be collected whole

    @property
    def modified(self) -> bool:
        """The change touches files other than tests and test infrastructure."""
        return any(not is_test_path(p) for p in self.paths)

    @property
    def test_tampering(self) -> bool:
        """The agent edited test files or test infrastructure (left out), or tampered with the runner."""
        return bool(self.dropped_agent) or bool(self.tampering)

    @property
    def dropped_agent(self) -> list[str]:
        return [p for p in self.dropped if is_test_path(p)]

    @property
    def resolved(self) -> bool:
        return bool(self.grade and self.grade.resolved and not self.tampering)


# ----------------------------------------------------------------------------- the agent's side
def collect_tree(sb: DriverSandbox) -> tuple[bytes, bool]:
    """Kill the agent's leftover processes, then archive its /testbed (see the module docstring)."""
    sb.kill_all()
    return sb.export_tree()


# ----------------------------------------------------------------------------- the scan
def scan_change(
    text_diff: str,
    new_files: list[str],
    *,
    base_top_level: set[str],
    system_modules: set[str],
    roots: list[str],
) -> list[str]:
    """Reasons the change (a `git diff -a -U0` of the applied change) tampers with the test runner."""
    findings: list[str] = []
    path = "?"
    seen: set[tuple[str, str]] = set()
    for line in text_diff.split("\n"):
        if line.startswith("+++ "):
            path = line[6:] if line.startswith("+++ b/") else line[4:]
            continue
        if not line.startswith("+") or line.startswith("+++"):
            continue
        text = unicodedata.normalize("NFKC", line[1:])
        for rx, why in _RUNNER_RE:
            m = rx.search(text)
            if m and (path, why) not in seen:
                seen.add((path, why))
                findings.append(f"{path}: {why} ({m.group(0).strip()!r})")
        m = _CODING_RE.match(text)
        if m and m.group(1).lower() not in _SAFE_CODINGS and (path, "coding") not in seen:
            seen.add((path, "coding"))
            findings.append(f"{path}: declares the source encoding {m.group(1)!r}")
    for p in new_files:
        if p.endswith(COMPILED_SUFFIXES):
            findings.append(f"{p}: a compiled module or path hook, not source")
            continue
        for root in roots:
            prefix = "" if root in ("", ".") else root.rstrip("/") + "/"
            if not p.startswith(prefix):
                continue
            rel = p[len(prefix) :]
            top = rel.split("/", 1)[0]
            name = top[:-3] if top.endswith(".py") and "/" not in rel else top.split(".", 1)[0]
            key = prefix + top
            if key not in base_top_level and name in system_modules:
                findings.append(f"{p}: shadows the installed module {name!r}")
    return findings


# ----------------------------------------------------------------------------- the clean room
_system_modules: dict[str, set[str]] = {}
_system_lock = threading.Lock()


def system_modules(sb: DriverSandbox, key: str) -> set[str]:
    """Top-level module names the clean room's Python can import without the repository (cached)."""
    with _system_lock:
        if key in _system_modules:
            return _system_modules[key]
    res = sb.exec(
        [
            "python3",
            "-I",
            "-c",
            "import sys, pkgutil; print('\\n'.join(sorted(set(sys.stdlib_module_names) | "
            "{m.name for m in pkgutil.iter_modules()} | set(sys.builtin_module_names))))",
        ],
        cwd="/",
        timeout=60,
    )
    names = set(res.stdout.decode().split()) if res.exit_code == 0 else set()
    names |= {"pytest", "_pytest", "py", "pluggy", "sitecustomize", "usercustomize"}
    with _system_lock:
        _system_modules[key] = names
    return names


def _git(*args: str) -> str:
    return f"git {GIT_SAFE} --git-dir=/testbed/.git " + " ".join(args)


def _canary_source(token: str) -> str:
    return (
        f"def test_pass_{token}():\n    assert True\n\n\n"
        f"def test_fail_{token}():\n    assert False, 'canary {token}: this test must fail'\n"
    )


def grade_in_clean_room(
    inst: SWEInstance,
    sandbox: DriverSandbox,
    *,
    tree: bytes | None = None,
    patch: str | None = None,
    timeout: float | None = None,
    image_key: str | None = None,
    run_empty: bool = False,
) -> CleanRoomResult:
    """Grade the agent's `tree` (a tar of its /testbed, `collect_tree`) or a `patch` against
    `inst` in `sandbox`, a fresh sandbox at the task's base commit that nothing else has touched.

    With an empty change (nothing outside test files) the tests are not run unless `run_empty`."""
    t0 = time.perf_counter()
    result = CleanRoomResult()
    base = shlex.quote(inst.base_commit or "HEAD")
    ignore = "\\n".join(GENERATED_FILES)
    env = {"GIT_INDEX_FILE": f"{SCRATCH}/index", "GIT_LITERAL_PATHSPECS": "1"}
    fresh = f"rm -rf {SCRATCH} && mkdir -p {SCRATCH}/agent"
    # 1. the agent's change as a diff against the base, by the clean room's git
    if tree is not None:
        script = (
            f"set -e; {fresh}; tar -x -f - -C {SCRATCH}/agent --no-same-owner; chmod -R u+rwX {SCRATCH}/agent; "
            f"cp /testbed/.git/index {SCRATCH}/index; printf '{ignore}\\n' > {SCRATCH}/ignore; "
            # bytecode the base commit tracks (sdists that ship __pycache__) never travels in the
            # agent's tree (TREE_EXCLUDES): put the base's back, so it does not read as a deletion
            f"{{ {_git('ls-tree -r -z --name-only', base)} | grep -zE '(^|/)__pycache__/|[.]py[co]$' "
            f"> {SCRATCH}/bytecode || true; }}; if [ -s {SCRATCH}/bytecode ]; then "
            f"xargs -0 {_git('archive', base, '--')} < {SCRATCH}/bytecode | tar -x -i -f - -C {SCRATCH}/agent; fi; "
            f"cd {SCRATCH}/agent; {_git(f'--work-tree={SCRATCH}/agent', f'-c core.excludesFile={SCRATCH}/ignore', 'add -A')} "
            ">/dev/null; "
            f"{_git('diff --cached --name-only -z --no-renames', base)}"
        )
        res = sandbox.exec(["/bin/sh", "-c", script], env=env, stdin=tree, cwd="/", timeout=300)
    else:
        sandbox.exec(["/bin/sh", "-c", fresh], cwd="/", timeout=30)
        sandbox.write_file(f"{SCRATCH}/agent.patch", patch or "")
        script = (
            f"set -e; cd /testbed; cp .git/index {SCRATCH}/index; "
            f"if [ -s {SCRATCH}/agent.patch ]; then {_git('apply --cached --binary --whitespace=nowarn', f'{SCRATCH}/agent.patch')}; fi; "
            f"{_git('diff --cached --name-only -z --no-renames', base)}"
        )
        res = sandbox.exec(["/bin/sh", "-c", script], env=env, cwd="/", timeout=300)
    if res.exit_code != 0:
        # a patch that does not apply, or a tree git cannot read (the agent's doing: it made it):
        # graded as SWE-bench grades a patch that does not apply (unusable log, unresolved)
        what = "the patch does not apply" if tree is None else "the agent's tree could not be read"
        result.log = result.raw_log = f"{APPLY_PATCH_FAIL}\n{what} ({res.exit_code}): {res.stderr[-2000:]}"
        result.grade = grade_log(result.log, inst.FAIL_TO_PASS, inst.PASS_TO_PASS)
        result.paths = diff_paths(patch or "") if tree is None else ["<unreadable tree>"]
        result.seconds["total"] = time.perf_counter() - t0
        return result
    result.paths = [p for p in res.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
    hidden = set(diff_paths(inst.test_patch))
    result.dropped = [p for p in result.paths if is_test_path(p) or p in hidden]
    result.seconds["diff"] = time.perf_counter() - t0
    # 2. test files and test infrastructure back to the base; the rest is the change to apply
    if result.dropped:
        drop = "\0".join(result.dropped).encode("utf-8", "surrogateescape") + b"\0"
        sandbox.write_file(f"{SCRATCH}/drop", drop)
    base_ref = inst.base_commit or "HEAD"
    roots = [""] + [r for r in inst.test_env.get("PYTHONPATH", "").split(":") if r and not r.startswith("/")]
    script = (
        "set -e; cd /testbed; "
        + (
            f"{_git('reset -q', base, f'--pathspec-from-file={SCRATCH}/drop --pathspec-file-nul')} >/dev/null; "
            if result.dropped
            else ""
        )
        + f"{_git('diff --cached --binary --no-renames --no-ext-diff --no-textconv --no-color', base)} > {SCRATCH}/agent.patch; "
        f"{_git('diff --cached --name-only -z --no-renames --diff-filter=A', base)} > {SCRATCH}/new; "
        + " ".join(
            f"{_git('ls-tree --name-only -z', shlex.quote(f'{base_ref}:{r}') if r else base)} "
            f"> {SCRATCH}/top{i} 2>/dev/null || true; "
            for i, r in enumerate(roots)
        )
        + f"{_git('diff --cached -a -U0 --no-renames --no-ext-diff --no-textconv --no-color', base)}"
    )
    res = sandbox.exec(["/bin/sh", "-c", script], env=env, cwd="/", timeout=300)
    if res.exit_code != 0:  # git could not handle what the agent's tree holds: its failure, unusable
        result.log = result.raw_log = (
            f"{APPLY_PATCH_FAIL}\ncould not filter the change ({res.exit_code}): {res.stderr[-2000:]}"
        )
        result.grade = grade_log(result.log, inst.FAIL_TO_PASS, inst.PASS_TO_PASS)
        result.seconds["total"] = time.perf_counter() - t0
        return result
    text_diff = res.stdout.decode("utf-8", "replace")
    result.diff = sandbox.read_file(f"{SCRATCH}/agent.patch").decode("utf-8", "replace")
    new_files = [
        p for p in sandbox.read_file(f"{SCRATCH}/new").decode("utf-8", "surrogateescape").split("\0") if p
    ]
    base_top: set[str] = set()
    for i, r in enumerate(roots):
        try:
            names = sandbox.read_file(f"{SCRATCH}/top{i}").decode("utf-8", "surrogateescape").split("\0")
        except FileNotFoundError:
            continue
        base_top |= {(f"{r.rstrip('/')}/" if r else "") + n for n in names if n}
    if result.diff.strip():
        result.tampering = scan_change(
            text_diff,
            new_files,
            base_top_level=base_top,
            system_modules=system_modules(sandbox, image_key or inst.image or inst.instance_id),
            roots=roots,
        )
    result.seconds["filter"] = time.perf_counter() - t0 - result.seconds["diff"]
    if not result.modified and not run_empty:
        result.seconds["total"] = time.perf_counter() - t0
        return result
    # 3. apply, hidden tests, canaries, run
    token = secrets.token_hex(6)
    canary = f"test_agentgym_canary_{token}.py"
    junit = f"{SCRATCH}/junit-{token}.xml"
    if inst.test_patch:
        sandbox.write_file(f"{SCRATCH}/test.patch", inst.test_patch)
    sandbox.write_file(f"/testbed/{canary}", _canary_source(token))
    timeout = float(timeout or inst.eval_timeout)
    test_files = inst.test_files or sorted({t.split("::")[0] for t in inst.FAIL_TO_PASS + inst.PASS_TO_PASS})
    files = " ".join(shlex.quote(f) for f in [*test_files, canary])
    run_env = " ".join(f"{k}={shlex.quote(v)}" for k, v in {**CLEAN_ENV, **inst.test_env}.items())
    lines = [
        "echo 1000 > /proc/self/oom_score_adj 2>/dev/null",  # the code under test dies first, never the driver
        "cd /testbed",
        f"if [ -s {SCRATCH}/agent.patch ]; then git {GIT_SAFE} apply --binary --whitespace=nowarn {SCRATCH}/agent.patch"
        f" || echo '{APPLY_PATCH_FAIL}'; fi",
    ]
    if inst.test_patch:
        lines.append(
            f"git {GIT_SAFE} apply --binary --whitespace=nowarn {SCRATCH}/test.patch || echo '{APPLY_PATCH_FAIL}'"
        )
    lines += [
        "echo '>>>>> Start Test Output'",
        f"env -i {run_env} timeout -s KILL {int(timeout)} {inst.test_cmd} --continue-on-collection-errors "
        f"--junitxml={junit} -o junit_family=xunit1 "
        f"{files} 2>&1",
        "rc=$?",
        "echo '>>>>> End Test Output'",
        "[ $rc -eq 137 ] && echo '>>>>> Tests Timed Out'",
        'echo ">>>>> Test Exit Code: $rc"',
        "true",
    ]
    t_tests = time.perf_counter()
    res = sandbox.exec(
        ["/bin/sh", "-c", "\n".join(lines)], cwd="/testbed", timeout=timeout + 60, limit=64_000_000
    )
    result.seconds["tests"] = time.perf_counter() - t_tests
    raw = res.stdout.decode("utf-8", "replace")
    if res.timed_out or res.truncated:
        raw += "\n>>>>> Tests Timed Out\n"
    result.raw_log = raw
    result.log = strip_canaries(raw, canary)
    result.grade = grade_log(result.log, inst.FAIL_TO_PASS, inst.PASS_TO_PASS)
    # 4. tripwires
    ev = evaluate_log(raw)
    if ev.usable:
        statuses = {t.rsplit("::", 1)[-1]: s for t, s in ev.status_map.items() if t.startswith(canary + "::")}
        want = {f"test_pass_{token}": "PASSED", f"test_fail_{token}": "FAILED"}
        for name, status in want.items():
            if statuses.get(name) != status:
                result.tampering.append(
                    f"canary {name.split('_')[1]} test reported {statuses.get(name, 'absent')}, expected {status}"
                )
        try:
            report = parse_junit(sandbox.read_file(junit))
        except FileNotFoundError:
            report = None
        if report is None:
            result.tampering.append(
                "pytest's JUnit report is missing or unreadable while its log is complete"
            )
        else:
            bad = junit_disagreements(
                ev.status_map,
                report,
                [*inst.FAIL_TO_PASS, *inst.PASS_TO_PASS, f"{canary}::test_pass_{token}"],
            )
            result.tampering += [f"log and JUnit report disagree: {b}" for b in bad[:5]]
    result.seconds["total"] = time.perf_counter() - t0
    return result


# ----------------------------------------------------------------------------- sandboxes for it
def open_clean_room(
    inst: SWEInstance,
    *,
    backend: str = "docker",
    template=None,
    limits: dict | None = None,
    setup: Callable[[DriverSandbox, SWEInstance], str] | None = None,
) -> DriverSandbox:
    """A fresh sandbox of the task image at its base commit (docker: a new container; local: a new
    bubblewrap sandbox from `template`, the pristine repository)."""
    from .environment import setup_base

    limits = dict(limits or {})
    if backend == "local":
        from agentgym.sandbox.local_backend import LocalSandbox

        sb: DriverSandbox = LocalSandbox(template, **limits)
    else:
        from agentgym.sandbox.docker_backend import DockerSandbox

        sb = DockerSandbox(inst.image, **limits)
    try:
        (setup or setup_base)(sb, inst)
    except BaseException:
        sb.close()
        raise
    return sb
