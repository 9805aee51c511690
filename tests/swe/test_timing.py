"""Tests that assert on a clock reading are found statically and never graded (tasks/swe/timing.py)."""

from agentgym.tasks.swe.timing import clock_reading_functions, clock_reading_tests, node_function

TIMED = """
import time
from time import perf_counter as pc, perf_counter
import timeit

def test_ratio():
    from timeit import timeit
    fast = timeit("d.items()", number=100)
    slow = timeit("list(d)", number=100)
    assert fast < 1.4 * slow

def test_deadline():
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, "too slow"

def test_chain():
    s = time.time(); e = time.time()
    d = e - s
    total = d * 2
    assert total < 5

class TestTimer:
    def test_unittest_style(self):
        t0 = time.monotonic()
        self.assertLess(time.monotonic() - t0, 0.5)

    def test_timer_object(self):
        assert timeit.Timer("pass").timeit(10) < 1

def test_bare_name():
    t = perf_counter()
    assert perf_counter() - t < 2
"""

UNTIMED = """
import time

def test_prints_latency():
    s = time.time()
    result = run()
    print("latency", time.time() - s)
    assert result == "pong"

def test_sleeps():
    time.sleep(0.01)
    assert work() is None

def test_datetime_parsing():
    from datetime import datetime
    assert datetime(2020, 1, 1).year == 2020

class TestPlain:
    def test_time_module_name_only(self):
        assert time.gmtime(0).tm_year == 1970
"""


def test_asserts_on_clock_readings_are_found_through_variables_and_styles():
    assert clock_reading_functions(TIMED) == {
        "test_ratio", "test_deadline", "test_chain", "TestTimer.test_unittest_style",
        "TestTimer.test_timer_object", "test_bare_name",
    }  # fmt: skip


def test_clock_reads_without_an_assert_on_them_stay_graded():
    assert clock_reading_functions(UNTIMED) == set()
    assert clock_reading_functions("def broken(:\n") == set()


def test_node_ids_map_to_functions_and_only_timed_ids_are_left_out():
    assert node_function("tests/t.py::TestTimer::test_timer_object[x-1]") == (
        "tests/t.py",
        "TestTimer.test_timer_object",
    )
    assert node_function("t.py::test_ratio[for") == ("t.py", "test_ratio")  # an id the log cut at a space
    files = {"tests/timed.py": TIMED, "tests/plain.py": UNTIMED}
    ids = [
        "tests/timed.py::test_ratio[for", "tests/timed.py::TestTimer::test_unittest_style",
        "tests/plain.py::test_prints_latency", "tests/plain.py::TestPlain::test_time_module_name_only",
        "tests/missing.py::test_deadline",
    ]  # fmt: skip
    assert clock_reading_tests(ids, files.get) == {
        "tests/timed.py::test_ratio[for",
        "tests/timed.py::TestTimer::test_unittest_style",
    }
