"""Run a task's gold patch and an empty patch through the clean-room grader, in fresh sandboxes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from agentgym.rewards.functions.swebench import GradeResult

from .environment import ensure_package_image
from .grading import CleanRoomResult, grade_in_clean_room, open_clean_room
from .records import SWEInstance


@dataclass
class Validation:
    instance_id: str
    gold: GradeResult | None
    empty: GradeResult | None
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.gold and self.empty and self.gold.resolved and not self.empty.resolved)


def apply_patch(sb, patch: str) -> None:
    if not patch.strip():
        return
    sb.write_file("/tmp/agentgym-apply.patch", patch)
    code, out = sb.run(
        "cd /testbed && git apply --whitespace=nowarn /tmp/agentgym-apply.patch && rm -f /tmp/agentgym-apply.patch",
        timeout=60,
    )
    if code != 0:
        raise RuntimeError(f"patch does not apply: {out[-500:]}")


def clean_room_patch(
    inst: SWEInstance, patch: str, *, backend: str = "docker", template=None
) -> CleanRoomResult:
    """Grade `patch` for `inst` in a fresh clean room (the tests run even for an empty patch)."""
    if backend == "docker":
        ensure_package_image(inst.archive_path(), inst.image)
    sb = open_clean_room(inst, backend=backend, template=template)
    try:
        return grade_in_clean_room(inst, sb, patch=patch, run_empty=True)
    finally:
        sb.close()


def grade_patch(inst: SWEInstance, patch: str, *, backend: str = "docker", template=None) -> GradeResult:
    """Grade `patch` for `inst` in a fresh clean room; a patch that tampers with the test runner
    never resolves."""
    result = clean_room_patch(inst, patch, backend=backend, template=template)
    grade = result.grade
    assert grade is not None
    if result.tampering:
        grade.resolved = False
        grade.reason = "tampering: " + "; ".join(result.tampering[:3])
    return grade


def verdict_row(v: Validation) -> dict:
    """One JSON line of `agentgym tasks swe validate --results`: the verdict and why.

    `gold_failed_tests` names the tests the gold patch failed: a test that fails there only some of
    the time (it reads a clock, say) pays a correct patch nothing at random, and is found this way."""
    failed = (v.gold.f2p_failure + v.gold.p2p_failure) if v.gold else []
    return {
        "instance_id": v.instance_id, "ok": v.ok, "seconds": round(v.seconds, 2), "error": v.error,
        "gold_resolved": bool(v.gold and v.gold.resolved), "gold_reason": v.gold.reason if v.gold else "",
        "gold_failed_tests": failed[:20],
        "empty_resolved": bool(v.empty and v.empty.resolved), "empty_reason": v.empty.reason if v.empty else "",
    }  # fmt: skip


def validate_instance(inst: SWEInstance) -> Validation:
    t0 = time.time()
    try:
        gold = grade_patch(inst, inst.patch)
        empty = grade_patch(inst, "")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return Validation(inst.instance_id, None, None, time.time() - t0, f"{type(exc).__name__}: {exc}")
    return Validation(inst.instance_id, gold, empty, time.time() - t0)
