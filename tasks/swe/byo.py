"""Bring-your-own SWE datasets: records in SWE-bench / SWE-Gym / SWE-smith JSONL form that name a
prebuilt image load and grade with the same clean-room grader as the shipped tasks.

Why: public SWE datasets ship as JSONL records plus one Docker image per task with the repository
at `base_commit` in /testbed. `SWEInstance` reads those records as they are (FAIL_TO_PASS /
PASS_TO_PASS as lists or JSON strings; the image under `image`, SWE-smith's `image_name` or
`docker_image`); a record with no `source_archive` uses its image as is. `export_prebuilt` makes
such an image and record from a shipped task, so the whole path is exercised here end to end
(`agentgym tasks swe export-image`).
"""

from __future__ import annotations

import json
from typing import Any

from agentgym.sandbox.base import SandboxError

from .environment import IMAGE_LAYOUT, IMAGE_SEED, SEED_ROOT, ensure_package_image, setup_base
from .records import SWEInstance

#: the SWE-bench fields a prebuilt-image record carries (plus `image_name`, as SWE-smith names it)
SWEBENCH_FIELDS = (
    "instance_id",
    "repo",
    "base_commit",
    "patch",
    "test_patch",
    "problem_statement",
    "hints_text",
    "created_at",
    "version",
    "FAIL_TO_PASS",
    "PASS_TO_PASS",
    "environment_setup_commit",
)


def swebench_record(inst: SWEInstance, image: str) -> dict[str, Any]:
    """`inst` as a SWE-bench-style record naming the prebuilt `image` (lists JSON-encoded, as in
    the Hugging Face datasets)."""
    d = inst.model_dump(mode="json")
    rec = {k: d[k] for k in SWEBENCH_FIELDS}
    rec["FAIL_TO_PASS"] = json.dumps(inst.FAIL_TO_PASS)
    rec["PASS_TO_PASS"] = json.dumps(inst.PASS_TO_PASS)
    rec["environment_setup_commit"] = inst.base_commit
    rec["image_name"] = image
    # how the tests are run: optional (defaults: pytest over the test files of the test lists)
    rec["test_cmd"] = inst.test_cmd
    rec["test_env"] = inst.test_env
    return rec


def export_prebuilt(inst: SWEInstance, tag: str) -> dict[str, Any]:
    """Commit an image whose /testbed is `inst`'s repository at its base commit (bug in, hidden
    tests out) and return the SWE-bench-style record that names it."""
    from agentgym.sandbox.docker_backend import DockerSandbox, forget_image_seed

    if ":" not in tag.rsplit("/", 1)[-1]:
        tag += ":latest"
    ensure_package_image(inst.archive_path(), inst.image)
    sb = DockerSandbox(inst.image, disk=None)  # the writable layer, committed below
    try:
        head = setup_base(sb, inst)
        steps = [  # the seed copy (what size-limited sandboxes start from) at the base commit too
            ("root", f"chmod 777 {SEED_ROOT}"),
            ("1000", f"rm -rf {SEED_ROOT}/testbed && cp -a /testbed {SEED_ROOT}/testbed"),
            ("root", f"chmod 755 {SEED_ROOT}"),
        ]
        for user, script in steps:
            code, out = sb.container.exec_run(["sh", "-c", script], user=user)
            if code != 0:
                raise SandboxError(f"could not refresh the image's seed copy ({script}): {out!r}")
        repo, name = tag.rsplit(":", 1)
        sb.container.commit(
            repository=repo,
            tag=name,
            changes=[
                f"LABEL agentgym.pristine_commit={head}",
                "LABEL agentgym.sandbox.image=1",
                f"LABEL agentgym.layout={IMAGE_LAYOUT}",
                f'LABEL agentgym.seed="{IMAGE_SEED}"',
            ],
        )
    finally:
        sb.close()
    forget_image_seed(tag)
    return swebench_record(inst, tag)
