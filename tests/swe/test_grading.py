"""SWE-bench grading rules, and agreement with the `swebench` package's own log parsing."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest

from agentgym.rewards.functions.swebench import (
    evaluate_log,
    grade_log,
    grade_status_map,
    junit_address,
    junit_disagreements,
    parse_junit,
    parse_pytest_log,
    strip_canaries,
)
from agentgym.rewards.functions.swebench import (
    test_exit_code as exit_code_of,
)


def wrap(body: str, code: int = 1) -> str:
    return f">>>>> Start Test Output\n{body}\n>>>>> End Test Output\n>>>>> Test Exit Code: {code}\n"


SUMMARY = """============================= test session starts ==============================
collected 6 items

tests/test_a.py ..F.sx                                                    [100%]

=================================== FAILURES ===================================
___________________________________ test_c ____________________________________
E   assert 1 == 2
=========================== short test summary info ============================
PASSED tests/test_a.py::test_a
PASSED tests/test_a.py::test_b
PASSED tests/test_a.py::TestK::test_p[1-2]
SKIPPED [1] tests/test_a.py:30: needs numpy
XFAIL tests/test_a.py::test_x - reason: known
FAILED tests/test_a.py::test_c - assert 1 == 2
ERROR tests/test_b.py::test_fixture_broken - RuntimeError: boom
========================= 1 failed, 3 passed, 1 skipped ========================"""


def test_parse_pytest_summary():
    sm = parse_pytest_log(SUMMARY)
    assert sm == {
        "tests/test_a.py::test_a": "PASSED",
        "tests/test_a.py::test_b": "PASSED",
        "tests/test_a.py::TestK::test_p[1-2]": "PASSED",
        "tests/test_a.py::test_x": "XFAIL",
        "tests/test_a.py::test_c": "FAILED",
        "tests/test_b.py::test_fixture_broken": "ERROR",
    }


def test_rules():
    sm = {"f1": "PASSED", "f2": "XFAIL", "p1": "PASSED", "p2": "SKIPPED", "f3": "SKIPPED", "p3": "FAILED"}
    assert grade_status_map(sm, ["f1", "f2"], ["p1", "p2"]).resolved
    assert not grade_status_map(sm, ["f1", "f3"], ["p1"]).resolved  # skipped F2P fails
    assert not grade_status_map(sm, ["f1"], ["p1", "p3"]).resolved
    assert not grade_status_map(sm, ["f1"], ["p1", "missing"]).resolved  # missing counts as failure
    r = grade_status_map(sm, ["f1", "f3"], ["p1"])
    assert r.f2p_fraction == 0.5


def test_unusable_logs():
    assert not evaluate_log("PASSED a::b\n").usable  # no markers
    assert not evaluate_log(">>>>> Start Test Output\nPASSED a::b\n").usable  # killed before the end
    assert not evaluate_log(wrap("nothing parsed here", 2)).usable
    assert not evaluate_log(wrap("PASSED a::b", 1)).usable  # non-zero exit, no failing test named
    assert not evaluate_log(">>>>> Patch Apply Failed\n" + wrap("PASSED a::b", 0)).usable
    assert not evaluate_log(wrap("PASSED a::b", 137) + ">>>>> Tests Timed Out\n").usable
    assert evaluate_log(wrap("PASSED a::b\nFAILED a::c - x", 1)).usable
    g = grade_log("garbage", ["a::b"], [])
    assert not g.usable and not g.resolved and g.f2p_fraction == 0.0


_SWEBENCH = None


def _import_swebench():
    """swebench's grading modules without its package __init__ (which needs `datasets`, `modal`, ...)."""
    global _SWEBENCH
    if _SWEBENCH is not None:
        return _SWEBENCH
    if "swebench" in sys.modules and getattr(sys.modules["swebench"], "__file__", None):
        root = sys.modules["swebench"].__path__[0]  # already imported for real
    else:
        spec = importlib.util.find_spec("swebench")
        if spec is None:
            pytest.skip(reason="swebench not installed (pip install --no-deps swebench)")
        root = spec.submodule_search_locations[0]
        for name, sub in (("swebench", ""), ("swebench.harness", "/harness")):
            mod = types.ModuleType(name)
            mod.__path__ = [root + sub]
            sys.modules[name] = mod
    from swebench.harness import grading as sg
    from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS
    from swebench.harness.log_parsers.python import parse_log_pytest

    _SWEBENCH = (sg, parse_log_pytest, FAIL_TO_PASS, PASS_TO_PASS)
    return _SWEBENCH


def agree_with_swebench(log: str, f2p: list[str], p2p: list[str], tmp_path) -> tuple[bool, bool]:
    sg, parse_log_pytest, F2P, P2P = _import_swebench()
    spec = types.SimpleNamespace(log_parser="parse_log_pytest")
    ours = evaluate_log(log)
    assert parse_pytest_log(log.split(">>>>> Start Test Output")[-1]) == parse_log_pytest(
        log.split(">>>>> Start Test Output")[-1], spec
    )
    fp = tmp_path / "log.txt"
    fp.write_text(log)
    their_map, their_ok = sg.get_logs_eval(spec, str(fp))
    assert ours.usable == their_ok
    assert ours.status_map == their_map
    ours_resolved = grade_log(log, f2p, p2p).resolved
    if their_ok:
        report = sg.get_eval_tests_report(their_map, {F2P: f2p, P2P: p2p})
        their_resolved = sg.get_resolution_status(report) == "RESOLVED_FULL"
    else:
        their_resolved = False
    assert ours_resolved == their_resolved
    return ours.usable, ours_resolved


def test_agrees_with_swebench_on_synthetic_logs(tmp_path):
    f2p, p2p = ["tests/test_a.py::test_c"], ["tests/test_a.py::test_a", "tests/test_a.py::test_b"]
    assert agree_with_swebench(wrap(SUMMARY, 1), f2p, p2p, tmp_path) == (True, False)
    fixed = SUMMARY.replace(
        "FAILED tests/test_a.py::test_c - assert 1 == 2", "PASSED tests/test_a.py::test_c"
    )
    fixed = fixed.replace("ERROR tests/test_b.py::test_fixture_broken - RuntimeError: boom", "")
    assert agree_with_swebench(wrap(fixed, 0), f2p, p2p, tmp_path) == (True, True)
    assert agree_with_swebench(wrap("PASSED tests/test_a.py::test_c", 1), f2p, [], tmp_path)[0] is False
    assert agree_with_swebench(">>>>> Start Test Output\nPASSED x::y\n", ["x::y"], [], tmp_path) == (
        False,
        False,
    )


@pytest.mark.docker
def test_agrees_with_swebench_on_real_logs(mini_tasks, tmp_path):
    """Real clean-room eval logs (gold, empty), as graded (canaries stripped) and as pytest wrote
    them, graded by both."""
    from agentgym.tasks.swe.validate import clean_room_patch

    _, instances, _ = mini_tasks
    inst = instances[0]
    outcomes = []
    for patch in (inst.patch, ""):
        result = clean_room_patch(inst, patch)
        assert not result.tampering
        outcomes.append(agree_with_swebench(result.log, inst.FAIL_TO_PASS, inst.PASS_TO_PASS, tmp_path))
        # the raw log (with the canaries) parses the same way in both too
        agree_with_swebench(result.raw_log, inst.FAIL_TO_PASS, inst.PASS_TO_PASS, tmp_path)
    assert outcomes == [(True, True), (True, False)]


def test_strip_canaries_restores_the_exit_code():
    canary = "test_agentgym_canary_ab12.py"
    body = (
        "PASSED tests/test_a.py::test_a\n"
        f"PASSED {canary}::test_pass_ab12\n"
        f"FAILED {canary}::test_fail_ab12 - AssertionError: canary\n"
    )
    stripped = strip_canaries(wrap(body, 1), canary)
    assert canary not in stripped and exit_code_of(stripped) == 0
    assert evaluate_log(stripped).status_map == {"tests/test_a.py::test_a": "PASSED"}
    # a real failure keeps the exit code
    stripped = strip_canaries(wrap(body + "FAILED tests/test_a.py::test_b - x\n", 1), canary)
    assert exit_code_of(stripped) == 1
    # an internal error (3) stays unusable
    assert not evaluate_log(strip_canaries(wrap(body, 3), canary)).usable


def test_junit_cross_check():
    xml = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
    <testcase classname="tests.test_a" name="test_a" time="0.001" />
    <testcase classname="tests.test_a.TestK" name="test_p[1-2]" time="0.001"><failure message="x">x</failure></testcase>
    <testcase classname="tests.test_a" name="test_x" time="0.001"><skipped type="pytest.xfail" message="r" /></testcase>
    </testsuite></testsuites>"""
    report = parse_junit(xml)
    assert junit_address("tests/test_a.py::TestK::test_p[1-2]") == ("tests.test_a.TestK", "test_p[1-2]")
    assert junit_address("tests/test_a.py::test_p[a::b/c]") == ("tests.test_a", "test_p[a::b/c]")
    log_says = {
        "tests/test_a.py::test_a": "PASSED",
        "tests/test_a.py::TestK::test_p[1-2]": "PASSED",  # printed by something other than pytest
        "tests/test_a.py::test_x": "XFAIL",
        "tests/test_a.py::test_gone": "PASSED",
    }
    bad = junit_disagreements(log_says, report, list(log_says))
    assert [b.split(":")[0] for b in bad] == ["tests/test_a.py", "tests/test_a.py"]
    assert "TestK::test_p[1-2]" in bad[0] and "test_gone" in bad[1]
    assert parse_junit("<not xml") is None
    # an id the -rA parser cut at a space in a parameter stands for the cases it is a prefix of
    report[("tests.test_d", "test_f[2014-08-18 12:00]")] = "PASSED"
    report[("tests.test_d", "test_f[2014-08-18 13:00]")] = "FAILED"
    assert (
        junit_disagreements(
            {"tests/test_d.py::test_f[2014-08-18": "PASSED"}, report, ["tests/test_d.py::test_f[2014-08-18"]
        )
        == []
    )
    del report[("tests.test_d", "test_f[2014-08-18 12:00]")]
    assert junit_disagreements(
        {"tests/test_d.py::test_f[2014-08-18": "PASSED"}, report, ["tests/test_d.py::test_f[2014-08-18"]
    )
