"""Runs bfcl-eval's own AST checker on records read from stdin (JSON lines); prints verdicts.

Run with the Python of a virtual environment where bfcl-eval is installed with its dependencies
(e.g. /work/bfclvenv/bin/python tests/tool/bfcl_reference.py < records.jsonl). Each output line:
{"id": ..., "valid": bool, "error_type": str}.
"""

import json
import sys

from bfcl_eval.constants.enums import Language
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

MODEL = "gorilla-openfunctions-v2"  # a model whose names keep their dots (underscore_to_dot False)

for line in sys.stdin:
    record = json.loads(line)
    try:
        result = ast_checker(
            record["functions"],
            record["output"],
            record["possible"],
            Language.PYTHON,
            record["category"],
            MODEL,
        )
        verdict = {
            "id": record["id"],
            "valid": bool(result["valid"]),
            "error_type": result.get("error_type", ""),
        }
    except Exception as exc:  # the reference checker crashing on a record counts as "invalid"
        verdict = {"id": record["id"], "valid": False, "error_type": f"crash:{type(exc).__name__}"}
    sys.stdout.write(json.dumps(verdict) + "\n")
