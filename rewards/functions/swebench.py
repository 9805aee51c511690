"""SWE-bench grading of a test log: a pure function of the log text, independent of any sandbox.

Used by the SWE env (the `outcome`, `f2p_fraction` and `log_unusable` components) and by the SWE
task builder and validator (`agentgym.tasks.swe`), which is why it lives in the reward layer that
both may import.

The eval script prints `>>>>> Start Test Output`, runs pytest with `-rA`, prints
`>>>>> End Test Output` and then `>>>>> Test Exit Code: N` (the markers SWE-bench's harness uses).
`parse_pytest_log` reads pytest's `-rA` summary lines into {test id: status};
`grade_log` applies the rules:

- a FAIL_TO_PASS test passes when PASSED or XFAIL; SKIPPED, FAILED, ERROR or missing fail it;
- a PASS_TO_PASS test is kept when PASSED, XFAIL or SKIPPED; FAILED, ERROR or missing fail it;
- resolved iff every FAIL_TO_PASS and every PASS_TO_PASS test passes;
- the log is unusable (score 0, flagged) when a marker is missing, a harness failure marker is
  present, nothing was parsed, or the test command exited non-zero while no test failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
TEST_EXIT_CODE = ">>>>> Test Exit Code"
APPLY_PATCH_FAIL = ">>>>> Patch Apply Failed"
RESET_FAILED = ">>>>> Reset Failed"
TESTS_ERROR = ">>>>> Tests Errored"
TESTS_TIMEOUT = ">>>>> Tests Timed Out"
HARNESS_FAILURES = (APPLY_PATCH_FAIL, RESET_FAILED, TESTS_ERROR, TESTS_TIMEOUT)
STATUSES = ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL")
PASSING = {"PASSED", "XFAIL"}
_EXIT_RE = re.compile(rf"{re.escape(TEST_EXIT_CODE)}:\s*(-?\d+)")
_SKIP_COUNT = re.compile(r"^\[\d+\]$")


def parse_pytest_log(log: str) -> dict[str, str]:
    """{test id: status} from pytest `-rA` summary lines (`STATUS test_id[ - message]`)."""
    status_map: dict[str, str] = {}
    for line in log.split("\n"):
        if not line.startswith(STATUSES):
            continue
        if line.startswith("FAILED"):
            line = line.replace(" - ", " ")
        parts = line.split()
        if len(parts) <= 1:
            continue
        status, name = parts[0], parts[1]
        if status not in STATUSES:  # e.g. "PASSEDfoo"
            continue
        if status == "SKIPPED" and _SKIP_COUNT.match(name):
            continue  # "SKIPPED [1] file:line: reason" names no test
        status_map[name] = status
    return status_map


def test_exit_code(log: str) -> int | None:
    m = _EXIT_RE.search(log)
    return int(m.group(1)) if m else None


@dataclass
class LogEval:
    status_map: dict[str, str]
    usable: bool
    reason: str = ""


def evaluate_log(log: str) -> LogEval:
    """Parse a whole eval log; says whether it is usable and why not."""
    for bad in HARNESS_FAILURES:
        if bad in log:
            return LogEval({}, False, bad.strip("> "))
    if START_TEST_OUTPUT not in log or END_TEST_OUTPUT not in log:
        return LogEval({}, False, "missing start/end markers (tests timed out or crashed)")
    sliced = log.split(START_TEST_OUTPUT, 1)[1].split(END_TEST_OUTPUT, 1)[0]
    status_map = parse_pytest_log(sliced)
    if not status_map:
        return LogEval({}, False, "no test results in the log")
    code = test_exit_code(log)
    if code not in (None, 0) and not any(s in ("FAILED", "ERROR") for s in status_map.values()):
        return LogEval({}, False, f"test command exited {code} but no test failed")
    return LogEval(status_map, True)


@dataclass
class GradeResult:
    resolved: bool
    usable: bool
    reason: str
    f2p_success: list[str] = field(default_factory=list)
    f2p_failure: list[str] = field(default_factory=list)
    p2p_success: list[str] = field(default_factory=list)
    p2p_failure: list[str] = field(default_factory=list)
    status_map: dict[str, str] = field(default_factory=dict)

    @property
    def f2p_fraction(self) -> float:
        total = len(self.f2p_success) + len(self.f2p_failure)
        return len(self.f2p_success) / total if total else 0.0

    @property
    def p2p_fraction(self) -> float:
        total = len(self.p2p_success) + len(self.p2p_failure)
        return len(self.p2p_success) / total if total else 1.0

    def summary(self) -> dict:
        return {
            "resolved": self.resolved,
            "usable": self.usable,
            "reason": self.reason,
            "FAIL_TO_PASS": {"success": self.f2p_success, "failure": self.f2p_failure},
            "PASS_TO_PASS": {"success": len(self.p2p_success), "failure": self.p2p_failure},
        }


def grade_status_map(
    status_map: dict[str, str], fail_to_pass: list[str], pass_to_pass: list[str]
) -> GradeResult:
    r = GradeResult(resolved=False, usable=True, reason="", status_map=status_map)
    for t in fail_to_pass:
        (r.f2p_success if status_map.get(t) in PASSING else r.f2p_failure).append(t)
    for t in pass_to_pass:
        ok = status_map.get(t) in PASSING or status_map.get(t) == "SKIPPED"
        (r.p2p_success if ok else r.p2p_failure).append(t)
    r.resolved = bool(fail_to_pass) and not r.f2p_failure and not r.p2p_failure
    r.reason = (
        "resolved"
        if r.resolved
        else (
            f"{len(r.f2p_failure)}/{len(fail_to_pass)} FAIL_TO_PASS and {len(r.p2p_failure)}/{len(pass_to_pass)} "
            "PASS_TO_PASS tests fail"
        )
    )
    return r


def grade_log(log: str, fail_to_pass: list[str], pass_to_pass: list[str]) -> GradeResult:
    """Grade one eval log with the SWE-bench rules; an unusable log scores 0 and says why."""
    ev = evaluate_log(log)
    if not ev.usable:
        return GradeResult(
            resolved=False,
            usable=False,
            reason=f"unusable log: {ev.reason}",
            f2p_failure=list(fail_to_pass),
            p2p_failure=list(pass_to_pass),
        )
    return grade_status_map(ev.status_map, fail_to_pass, pass_to_pass)


# ---------------------------------------------------------------------------- integrity checks
# The SWE env's clean-room grader adds two tripwires to the test run (see
# `agentgym.tasks.swe.grading`): canary tests whose outcome is known in advance, and a JUnit XML
# report written by pytest next to the log. Both are read here, as pure functions of text.


def strip_canaries(log: str, canary_file: str) -> str:
    """The log without the canary tests' summary lines, its exit code as without them.

    The failing canary makes pytest exit 1; when no other test failed or errored, the exit code
    line is set back to 0, so SWE-bench's rules see the log the real tests alone would give."""
    kept = [line for line in log.split("\n") if not (line.startswith(STATUSES) and canary_file in line)]
    out = "\n".join(kept)
    if test_exit_code(out) == 1:
        start = out.find(START_TEST_OUTPUT)
        sliced = out[start:] if start >= 0 else out
        if not any(
            s in ("FAILED", "ERROR") for s in parse_pytest_log(sliced.split(END_TEST_OUTPUT, 1)[0]).values()
        ):
            out = _EXIT_RE.sub(f"{TEST_EXIT_CODE}: 0", out, count=1)
    return out


def junit_address(test_id: str) -> tuple[str, str]:
    """(classname, name) pytest's JUnit XML gives the test `test_id` (`path/to/test_x.py::Cls::test`),
    as pytest's `mangle_test_address` makes them."""
    path, bracket, params = test_id.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def parse_junit(xml: str | bytes) -> dict[tuple[str, str], str] | None:
    """{(classname, name): PASSED | FAILED | ERROR | SKIPPED} from a pytest JUnit XML report
    (None when it cannot be parsed). An xfail is reported as SKIPPED."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    out: dict[tuple[str, str], str] = {}
    for case in root.iter("testcase"):
        key = (case.get("classname", ""), case.get("name", ""))
        tags = {child.tag for child in case}
        if "error" in tags:
            status = "ERROR"
        elif "failure" in tags:
            status = "FAILED"
        elif "skipped" in tags:
            status = "SKIPPED"
        else:
            status = "PASSED"
        if out.get(key) in ("FAILED", "ERROR"):
            continue  # a teardown error after a pass, or the like: the worst verdict stands
        out[key] = status
    return out


def junit_disagreements(
    status_map: dict[str, str], junit: dict[tuple[str, str], str], tests: list[str]
) -> list[str]:
    """Tests of `tests` the log calls passing (PASSED or XFAIL) while the JUnit report does not
    (failed, errored, or absent): a log written by something other than pytest's own reporting.

    A test id cut at its first space by the `-rA` parser (a parameter with a space in it, as in
    SWE-bench) stands for every JUnit case it is a prefix of; one of them with the logged verdict
    backs the log, as the log's line came from one of them."""
    bad = []
    for t in tests:
        logged = status_map.get(t)
        if logged not in PASSING:
            continue
        want = "PASSED" if logged == "PASSED" else "SKIPPED"
        classname, name = junit_address(t)
        reported = junit.get((classname, name))
        if reported is None:
            candidates = [s for (c, n), s in junit.items() if c == classname and n.startswith(name)]
            reported = want if want in candidates else (candidates[0] if candidates else None)
        if reported != want:
            bad.append(f"{t}: log {logged}, junit {reported or 'absent'}")
    return bad
