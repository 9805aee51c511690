"""Per-test line coverage as a pytest plugin, run once per package inside its sandbox by the builder.

Why: a mutation can only change the outcome of tests that execute the mutated line, so the builder
runs just those tests for each mutation instead of the whole suite (the others pass by
construction). The base image has no coverage.py, so this is a small `sys.settrace` tracer: the
global trace function returns a line tracer only for frames whose file is one of the package's
source files, and the current test's node id is the "context" every line is recorded under
(lines run outside any test, e.g. at import or collection, go under index -1).

Standalone (stdlib only, Python >= 3.8): the builder copies this file into the sandbox and runs
pytest with `-p agentgym_line_coverage`. Environment: AGENTGYM_COV_ROOT (repository root),
AGENTGYM_COV_SOURCES (a file listing source paths relative to the root, one per line),
AGENTGYM_COV_OUT (where the JSON map is written at the end of the session):
{"tests": [node ids], "lines": {path: {line: [test index, ...]}}}.
"""

from __future__ import annotations

import json
import os
import sys
import threading

_ROOT = os.path.abspath(os.environ.get("AGENTGYM_COV_ROOT", "/testbed"))
with open(os.environ["AGENTGYM_COV_SOURCES"], encoding="utf-8") as _handle:
    _SOURCES = {line.strip() for line in _handle if line.strip()}
_OUT = os.environ["AGENTGYM_COV_OUT"]

_tests: list[str] = []
_current = [-1]
_hits: dict[tuple[str, int], set[int]] = {}
_paths: dict[str, str | None] = {}


def _relative(filename: str) -> str | None:
    rel = _paths.get(filename, "")
    if rel == "":
        path = os.path.abspath(filename)
        rel = os.path.relpath(path, _ROOT) if path.startswith(_ROOT + os.sep) else None
        rel = rel if rel in _SOURCES else None
        _paths[filename] = rel
    return rel


def _line_tracer(rel: str):
    def trace(frame, event, arg):
        if event == "line":
            key = (rel, frame.f_lineno)
            seen = _hits.get(key)
            if seen is None:
                _hits[key] = {_current[0]}
            else:
                seen.add(_current[0])
        return trace

    return trace


def _global_tracer(frame, event, arg):
    if event != "call":
        return None
    rel = _relative(frame.f_code.co_filename)
    if rel is None:
        return None
    key = (rel, frame.f_lineno)
    _hits.setdefault(key, set()).add(_current[0])
    return _line_tracer(rel)


def pytest_configure(config) -> None:
    sys.settrace(_global_tracer)
    threading.settrace(_global_tracer)


def pytest_runtest_protocol(item, nextitem):
    _tests.append(item.nodeid)
    _current[0] = len(_tests) - 1
    if sys.gettrace() is None:  # a test may have switched tracing off
        sys.settrace(_global_tracer)
    return None


def pytest_runtest_logfinish(nodeid, location) -> None:
    _current[0] = -1


def pytest_unconfigure(config) -> None:
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    lines: dict[str, dict[str, list[int]]] = {}
    for (rel, line), tests in _hits.items():
        lines.setdefault(rel, {})[str(line)] = sorted(tests)
    with open(_OUT, "w", encoding="utf-8") as handle:
        json.dump({"tests": _tests, "lines": lines}, handle)
