"""Leave the tests that assert on a clock reading out of the shipped SWE suite's records.

The builder leaves them out of new builds (`tasks/swe/timing.py`); this applies the same rule to
records built before it, reading each package's test files from its verified sdist (fetched into
the cache when missing). Such a test is removed from PASS_TO_PASS and FAIL_TO_PASS (and the
difficulty's count); a task left with no FAIL_TO_PASS test would be dropped. Prints what changed.

    python scripts/swe_drop_timed_tests.py [SUITE_DIR]
"""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

from agentgym.tasks.swe.difficulty import estimate_difficulty
from agentgym.tasks.swe.records import load_instances, write_instances
from agentgym.tasks.swe.sdist_cache import fetch_sdist
from agentgym.tasks.swe.suite import SUITE_DIR, suite_files
from agentgym.tasks.swe.timing import clock_reading_tests


def read_member(archive: tarfile.TarFile, root: str, test_file: str) -> str | None:
    """A test file's text from the sdist (its paths sit under the top-level folder `root`); None if absent."""
    try:
        member = archive.extractfile(f"{root}/{test_file}")
    except KeyError:
        return None
    return member.read().decode("utf-8", errors="replace") if member else None


def main(suite_dir: Path) -> None:
    for path in suite_files(suite_dir):
        instances = load_instances(path)
        archive = tarfile.open(fetch_sdist(instances[0].sdist))
        ids = sorted({t for i in instances for t in [*i.PASS_TO_PASS, *i.FAIL_TO_PASS]})
        root = archive.getnames()[0].split("/")[0]
        timed = clock_reading_tests(ids, lambda test_file, a=archive, r=root: read_member(a, r, test_file))
        if not timed:
            continue
        kept = []
        for inst in instances:
            inst.PASS_TO_PASS = [t for t in inst.PASS_TO_PASS if t not in timed]
            f2p = [t for t in inst.FAIL_TO_PASS if t not in timed]
            if not f2p:
                print(f"  dropped {inst.instance_id}: every FAIL_TO_PASS test is timed")
                continue
            if len(f2p) != len(inst.FAIL_TO_PASS):
                d = dict(inst.difficulty)
                inst.difficulty = estimate_difficulty(
                    kind=d["kind"], fail_to_pass=len(f2p), files=d["files"], functions=d["functions"],
                    indirect=d["indirect"],
                )  # fmt: skip
                inst.FAIL_TO_PASS = f2p
            kept.append(inst)
        write_instances(path, kept)
        print(f"{path.name}: left out {sorted(timed)}; {len(kept)}/{len(instances)} tasks kept")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SUITE_DIR)
