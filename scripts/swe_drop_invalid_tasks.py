"""Drop from the shipped SWE suite the tasks a whole-suite validation found invalid.

Reads the verdicts of `agentgym tasks swe validate --suite --results FILE` and removes every task
whose verdict is not ok (the gold patch did not resolve, or the empty patch did: a task that pays
doing nothing). Each package's `build_state.json` entry is updated to match: `kept` falls by the
number dropped and `rejected` counts them under "invalid in validation (...)", so the per-package
report stays true. Run the validation again on the failures first (a flaky test can fail one
gold run), then:

    python scripts/swe_drop_invalid_tasks.py runs/suite_verdicts.jsonl [SUITE_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agentgym.tasks.swe.records import load_instances, write_instances
from agentgym.tasks.swe.suite import SUITE_DIR, suite_files


def reason(verdict: dict) -> str:
    if verdict.get("error"):
        return "invalid in validation (grading error)"
    if verdict.get("empty_resolved"):
        return "invalid in validation (the empty patch resolves)"
    return "invalid in validation (the gold patch does not resolve)"


def main(results: Path, suite_dir: Path) -> None:
    verdicts: dict[str, dict] = {}
    for line in results.read_text().splitlines():
        if line.strip().endswith("}"):
            row = json.loads(line)
            verdicts[row["instance_id"]] = row  # the last verdict of a task wins (a rerun)
    state_path = suite_dir / "build_state.json"
    state = json.loads(state_path.read_text())
    for path in suite_files(suite_dir):
        instances = load_instances(path)
        bad = [i for i in instances if i.instance_id in verdicts and not verdicts[i.instance_id]["ok"]]
        if not bad:
            continue
        dropped = {i.instance_id for i in bad}
        write_instances(path, [i for i in instances if i.instance_id not in dropped])
        spec = f"{bad[0].sdist['name']}=={bad[0].sdist['version']}"
        entry = next(v for k, v in state["packages"].items() if k.lower() == spec.lower())
        entry["kept"] -= len(bad)
        for inst in bad:
            why = reason(verdicts[inst.instance_id])
            entry["rejected"][why] = entry["rejected"].get(why, 0) + 1
            print(f"dropped {inst.instance_id}: {why}")
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))  # as the builder writes it


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else SUITE_DIR)
