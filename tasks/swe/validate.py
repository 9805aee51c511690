"""Run a task's gold patch and an empty patch through the grader, in fresh sandboxes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from agentgym.rewards.functions.swebench import GradeResult, grade_log

from .environment import ensure_package_image, run_eval, setup_base
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


def grade_patch(inst: SWEInstance, patch: str, *, sandbox=None) -> GradeResult:
    """Grade `patch` for `inst` in a fresh container (or the given one, which must be at base)."""
    from agentgym.sandbox.docker_backend import DockerSandbox

    own = sandbox is None
    if own:
        ensure_package_image(inst.archive_path(), inst.image)
        sandbox = DockerSandbox(inst.image, default_timeout=inst.eval_timeout + 60)
    try:
        if own:
            setup_base(sandbox, inst)
        apply_patch(sandbox, patch)
        log, _ = run_eval(sandbox, inst)
        return grade_log(log, inst.FAIL_TO_PASS, inst.PASS_TO_PASS)
    finally:
        if own:
            sandbox.close()


def validate_instance(inst: SWEInstance) -> Validation:
    t0 = time.time()
    try:
        gold = grade_patch(inst, inst.patch)
        empty = grade_patch(inst, "")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return Validation(inst.instance_id, None, None, time.time() - t0, f"{type(exc).__name__}: {exc}")
    return Validation(inst.instance_id, gold, empty, time.time() - t0)
