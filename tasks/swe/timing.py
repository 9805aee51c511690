"""Tests whose outcome depends on the machine's speed, because they read a clock.

A test that times code (`timeit`, the difference of two `time.perf_counter()` calls, a deadline
checked against `time.time()`) can fail a correct patch when the machine is loaded, and RL
rollouts load it: 64 sandboxes share the cores. Graded as PASS_TO_PASS or FAIL_TO_PASS, such a
test pays a correct patch nothing at random (the whole-suite validation found one doing exactly
that: immutabledict's `test_performance`, a `timeit` ratio, failed 3 of 12 gold patches). The
builder therefore leaves them out of a package's baseline.

The check is static: a test function (or method) is left out when one of its own asserts reads a
clock, directly or through variables computed from one. Clocks read in a helper in another
function are not seen; the validation's verdicts name any test a gold patch failed.
"""

from __future__ import annotations

import ast

# `time.<name>()` and `timeit.<name>()` calls that read a clock (time.sleep does not)
TIME_CLOCKS = frozenset({"time", "time_ns", "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns",
                         "process_time", "process_time_ns", "thread_time", "thread_time_ns"})  # fmt: skip
TIMEIT_CLOCKS = frozenset({"timeit", "repeat", "Timer", "default_timer"})
# bare names, as `from time import perf_counter` / `from timeit import timeit` leave them
BARE_CLOCKS = frozenset({"timeit", "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "process_time",
                         "default_timer"})  # fmt: skip


def _is_clock_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return (func.value.id == "time" and func.attr in TIME_CLOCKS) or (
            func.value.id == "timeit" and func.attr in TIMEIT_CLOCKS
        )
    return isinstance(func, ast.Name) and func.id in BARE_CLOCKS


def _uses(node: ast.AST, tainted: set[str]) -> bool:
    """Whether `node` calls a clock or reads a name that holds a clock reading."""
    return any(_is_clock_call(n) or (isinstance(n, ast.Name) and n.id in tainted) for n in ast.walk(node))


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _asserts_on_clock(function: ast.AST) -> bool:
    """Whether the function asserts on a clock reading: an `assert` (or a unittest `self.assert*`
    call) whose expression calls a clock or reads a variable computed from one (`start =
    time.perf_counter()`, `elapsed = time.perf_counter() - start`, `assert elapsed < 1`). A test
    that reads a clock only to print it is not load-dependent and stays."""
    tainted: set[str] = set()
    assignments = [n for n in ast.walk(function) if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign)]
    changed = True
    while changed:  # propagate through chains of assignments (s = clock(); e = clock(); d = e - s)
        changed = False
        for node in assignments:
            if node.value is None or not _uses(node.value, tainted):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            new = set().union(*(_targets(t) for t in targets)) - tainted
            if new:
                tainted |= new
                changed = True
    for node in ast.walk(function):
        if isinstance(node, ast.Assert) and _uses(node.test, tainted):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("assert")
            and any(_uses(arg, tainted) for arg in [*node.args, *(k.value for k in node.keywords)])
        ):
            return True
    return False


def clock_reading_functions(source: str) -> set[str]:
    """Qualified names (`test_x`, `TestCase.test_x`) of the module's functions and methods that
    assert on a clock reading; an unparsable module gives none."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _asserts_on_clock(node):
                found.add(prefix + node.name)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return found


def node_function(test_id: str) -> tuple[str, str]:
    """(file, qualified function) of a pytest node id: `t.py::C::test_a[x-1]` -> (`t.py`, `C.test_a`)."""
    path, _, rest = test_id.partition("::")
    return path, rest.split("[", 1)[0].replace("::", ".")


def clock_reading_tests(test_ids: list[str], read_source) -> set[str]:
    """The ids among `test_ids` whose test function asserts on a clock reading; `read_source(path)`
    returns a test file's text (None when it cannot be read)."""
    by_file: dict[str, set[str]] = {}
    out: set[str] = set()
    for test_id in test_ids:
        path, name = node_function(test_id)
        if path not in by_file:
            source = read_source(path)
            by_file[path] = clock_reading_functions(source) if source else set()
        if name in by_file[path]:
            out.add(test_id)
    return out
