"""Runs bfcl-eval's own multi-turn checker on trajectories read from stdin (JSON lines).

Each input line: {"key", "entry": BFCL test entry (id, initial_config, involved_classes),
"ground_truth": [[call source, ...] per turn], "turns": [[call source, ...] per turn]}; every call
is its own model step. Output lines: {"key", "valid", "error_type"}. Run with the Python of a
virtual environment where bfcl-eval is installed with its dependencies.
"""

import json
import sys

from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

MODEL = "gorilla-openfunctions-v2"

for index, line in enumerate(sys.stdin):
    record = json.loads(line)
    decoded = [[[call] for call in turn] for turn in record["turns"]]
    entry = dict(record["entry"])
    entry["id"] = f"{entry['id']}"  # instances are cached per (model, id): use a distinct model name per record
    try:
        result = multi_turn_checker(decoded, record["ground_truth"], entry, "multi_turn_base", f"{MODEL}-{index}")
        verdict = {"key": record["key"], "valid": bool(result["valid"]), "error_type": result.get("error_type", "")}
    except Exception as exc:
        verdict = {"key": record["key"], "valid": False, "error_type": f"crash:{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(verdict) + "\n")
