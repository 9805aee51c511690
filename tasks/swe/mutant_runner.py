"""Runs a batch of candidate bugs inside a package sandbox: one `docker exec` for many mutants.

Why: the builder's cost per mutant used to be a full test-suite run plus several round trips to
the sandbox. This standalone script (stdlib only; the builder copies it into the sandbox) takes a
JSON job {"root", "env", "test_cmd", "candidates": [{"id", "files": {path: text}, "tests": [node
ids], "timeout"}]}, and for each candidate writes the mutated files, runs only the listed tests,
restores the originals and appends {"id", "log", "seconds"} to a JSONL results file. The log
carries the SWE-bench markers, so the builder grades it with the same `evaluate_log` as the grader.

Every write gets a fresh modification time, so a stale compiled module can never stand in for a
mutant of the same size (bytecode caching is off in sandboxes anyway).
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import subprocess
import sys
import time

_MTIME = itertools.count(1_000_000_000)
MAX_LOG = 400_000


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    stamp = next(_MTIME)
    os.utime(path, (stamp, stamp))


def run_candidate(job: dict, cand: dict) -> dict:
    root = job["root"]
    originals: dict[str, str] = {}
    t0 = time.time()
    try:
        for rel, text in cand["files"].items():
            path = os.path.join(root, rel)
            with open(path, encoding="utf-8") as handle:
                originals[path] = handle.read()
            _write(path, text)
        argv = shlex.split(job["test_cmd"]) + list(cand["tests"])
        env = dict(os.environ, **job["env"])
        try:
            proc = subprocess.run(
                argv,
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=cand["timeout"],
                start_new_session=True,
            )
            out = proc.stdout.decode("utf-8", errors="replace")
            if len(out) > MAX_LOG:
                out = out[:20_000] + "\n[...]\n" + out[-(MAX_LOG - 20_000) :]
            log = f">>>>> Start Test Output\n{out}\n>>>>> End Test Output\n>>>>> Test Exit Code: {proc.returncode}\n"
        except subprocess.TimeoutExpired:
            log = ">>>>> Start Test Output\n>>>>> Tests Timed Out\n"
    finally:
        for path, text in originals.items():
            _write(path, text)
    return {"id": cand["id"], "log": log, "seconds": round(time.time() - t0, 3)}


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        job = json.load(handle)
    with open(sys.argv[2], "a", encoding="utf-8") as out:
        for cand in job["candidates"]:
            out.write(json.dumps(run_candidate(job, cand)) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
