"""`agentgym/SWE-v0`: repair a bug in a real Python package inside a sandbox, graded SWE-bench style.

Tools: `bash` (a long-lived shell in the sandbox; cwd and exports persist), `editor` (view /
create / str_replace / insert, SWE-agent style), `submit`. Components are declared in
`SWEEnv.components`; the outcome is `tests_pass` for a resolved task (`SWEEnv.outcome`).

Grading uses the env's own `git diff` against the task's base commit, never a patch the agent
claims: test files are restored, the hidden tests applied, FAIL_TO_PASS and PASS_TO_PASS run
under a timeout and the log graded with SWE-bench's rules. A dead sandbox ends the episode with
`reward_invalid=True`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any, Literal

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError, ToolError
from agentgym.outcome import Outcome
from agentgym.rewards.components import step_component, trajectory_component
from agentgym.rewards.functions.swebench import GradeResult, grade_log
from agentgym.sandbox.base import DriverSandbox, SandboxError
from agentgym.tasks.swe.environment import (
    diff_paths,
    ensure_package_image,
    is_test_path,
    run_eval,
    setup_base,
)
from agentgym.tasks.swe.records import SWEInstance
from agentgym.tasks.swe.source import SWETask, swe_tasks
from agentgym.tools import ToolCall, tool

SYSTEM_PROMPT = (
    "You are a software engineer fixing a bug in a Python repository checked out at /testbed, inside a "
    "sandbox without network access. Use the tools: `bash` runs a shell command (the working directory and "
    "exported variables persist between calls), `editor` views and edits files, `submit` hands in your "
    "changes and ends the episode. Change the library code, not the tests. Call exactly one tool per turn, as "
    '<tool_call>{"name": ..., "arguments": {...}}</tool_call>.'
)
VIEW_LIMIT = 400  # lines shown by `editor view` without a range
#: outcome labels, worst to best
OUTCOMES = ("no_submit", "empty_patch", "tests_fail", "tests_pass")


class SWEEnv(AgentEnv[SWETask]):
    """Fix a bug in a real Python package; graded with SWE-bench's rules in a sandbox."""

    default_reward = Path(__file__).with_name("reward.yaml")
    components = (
        step_component("command_ok", description="the step's first bash command exited 0 (not timed out)"),
        step_component("edit_applied", description="the step's first editor edit changed a file"),
        trajectory_component(
            "outcome",
            labels=OUTCOMES,
            description="no_submit < empty_patch (no change to non-test files) < tests_fail < tests_pass",
        ),
        trajectory_component("f2p_fraction", description="fraction of FAIL_TO_PASS tests passing at grading"),
        trajectory_component("modification", description="1 when the diff touches non-test files"),
        trajectory_component(
            "test_tampering", description="1 when the agent edited test files (restored before grading)"
        ),
        trajectory_component("log_unusable", description="1 when the grading log could not be graded"),
    )
    outcome = Outcome(component="outcome", success=("tests_pass",))
    default_max_turns = 30
    max_observation_chars = 20_000

    def __init__(
        self,
        *,
        tasks: str | Path | list[SWEInstance] | None = None,
        backend: Literal["docker", "local"] = "docker",
        pool_size: int = 1,
        command_timeout: float = 60.0,
        eval_timeout: float | None = None,
        output_limit: int = 10_000,
        grade_unsubmitted: bool = False,
        memory: str = "2g",
        cpus: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(tasks=swe_tasks(tasks), **kwargs)
        assert self.tasks is not None
        if not len(self.tasks):  # load the task file now: a bad path fails at construction
            raise TaskError("no SWE tasks to run")
        self.backend = backend
        self.pool_size = int(pool_size)
        self.command_timeout = float(command_timeout)
        self.eval_timeout = eval_timeout
        self.output_limit = int(output_limit)
        self.grade_unsubmitted = grade_unsubmitted
        self.container_kwargs = {"memory": memory, "cpus": cpus}
        self._pools: dict[str, Any] = {}
        self._templates: dict[str, Path] = {}
        self.sandbox: DriverSandbox | None = None
        self.submitted = False
        self.last_grade: GradeResult | None = None
        self.last_diff = ""
        self.last_eval_log = ""
        self._emitted_turn: dict[str, int] = {}

    # ------------------------------------------------------------------ sandboxes
    def _sandbox_for(self, inst: SWEInstance) -> DriverSandbox:
        if self.backend == "local":
            return self._local_sandbox(inst)
        from agentgym.sandbox.docker_backend import DockerPool, DockerSandbox

        ensure_package_image(inst.archive_path(), inst.image)
        if self.pool_size <= 0:
            return DockerSandbox(inst.image, default_timeout=self.command_timeout, **self.container_kwargs)
        pool = self._pools.get(inst.image)
        if pool is None:
            pool = self._pools[inst.image] = DockerPool(
                inst.image, size=self.pool_size, **self.container_kwargs
            )
        return DockerSandbox(
            pool=pool,
            default_timeout=self.command_timeout,
            pool_key=inst.instance_id,
            prepare=lambda sb, inst=inst: setup_base(sb, inst),
        )

    def _local_sandbox(self, inst: SWEInstance) -> DriverSandbox:
        """bubblewrap: a per-image template directory holding the pristine repository."""
        import shutil
        import tempfile

        from agentgym.sandbox.local_backend import LocalSandbox
        from agentgym.tasks.swe.environment import prepare_pristine

        template = self._templates.get(inst.image)
        if template is None:
            sb = LocalSandbox(default_timeout=self.command_timeout)
            try:
                prepare_pristine(sb, inst.archive_path())
                template = Path(tempfile.mkdtemp(prefix="agentgym-swe-template-")) / "testbed"
                shutil.copytree(sb.host_workdir, template, symlinks=True)
            finally:
                sb.close()
            self._templates[inst.image] = template
        return LocalSandbox(template, default_timeout=self.command_timeout)

    def start_episode(self, task: SWETask, options: dict[str, Any]) -> EpisodeStart:
        inst = task.instance
        for attempt in range(3):  # a pooled container may have died while idle: take another
            self._release_sandbox()
            try:
                self.sandbox = self._sandbox_for(inst)
                self._prepare(self.sandbox, inst)
                break
            except SandboxError:
                if attempt == 2:
                    self._release_sandbox()
                    raise
        self.submitted = False
        self.last_grade = None
        self.last_diff = ""
        self.last_eval_log = ""
        self._emitted_turn = {}
        return EpisodeStart(task=task, prompt=task.prompt, system_prompt=SYSTEM_PROMPT)

    @staticmethod
    def _prepare(sb: DriverSandbox, inst: SWEInstance) -> None:
        prepared = getattr(sb, "prepared_for", None)
        if prepared == inst.instance_id:
            if not sb.ping():  # prepared in the background, then died while idle
                raise SandboxError("pooled sandbox is dead")
            return
        if prepared is not None:  # prepared for another task of the same package: back to pristine
            code, out = sb.run(
                f"cd /testbed && git reset -q --hard {inst.environment_setup_commit} && git clean -qfdx",
                timeout=60,
            )
            if code != 0:
                raise SandboxError(f"could not reset the repository: {out[-500:]}")
        setup_base(sb, inst)

    def _release_sandbox(self) -> None:
        sb, self.sandbox = self.sandbox, None
        if sb is not None:
            try:
                sb.close()
            except Exception:  # noqa: BLE001 - a dead sandbox may fail to close cleanly
                pass

    def end_episode(self) -> None:
        self._release_sandbox()

    def close(self) -> None:
        super().close()
        self._release_sandbox()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        import shutil

        for template in self._templates.values():
            shutil.rmtree(template.parent, ignore_errors=True)
        self._templates.clear()

    def _sb(self) -> DriverSandbox:
        if self.sandbox is None:
            raise SandboxError("no sandbox (the episode has not started)")
        return self.sandbox

    def _emit_once(self, name: str, value: float) -> None:
        """At most one value per component per step (the first call's), so per-step bounds hold
        with several calls. A 0 is only recorded: the core zero-fills the step's components."""
        if self._emitted_turn.get(name) == self.turn:
            return
        self._emitted_turn[name] = self.turn
        if value:
            self.emit(name, value)

    # ------------------------------------------------------------------ tools
    @tool
    def bash(self, command: str) -> str:
        """Run a shell command in the repository sandbox (cwd and exported variables persist).

        Args:
            command: the bash command line to run.
        """
        if not command.strip():
            raise ToolError("empty command")
        detail = self._sb().run_detailed(command, timeout=self.command_timeout)
        self._emit_once("command_ok", float(detail.exit_code == 0 and not detail.timed_out))
        output = detail.output
        if len(output) > self.output_limit:
            half = self.output_limit // 2
            output = (
                output[:half]
                + f"\n[... {len(output) - 2 * half} characters truncated ...]\n"
                + output[-half:]
            )
        return f"{output}[exit code {detail.exit_code}]"

    @tool
    def editor(
        self,
        command: Literal["view", "create", "str_replace", "insert"],
        path: str,
        file_text: str | None = None,
        old_str: str | None = None,
        new_str: str | None = None,
        insert_line: int | None = None,
        view_range: list[int] | None = None,
    ) -> str:
        """View, create or edit a file in the repository.

        Args:
            command: view (a file with line numbers, or a directory listing), create (write file_text),
                str_replace (replace the unique occurrence of old_str with new_str), insert (new_str after
                line insert_line; 0 inserts at the top).
            path: file or directory, absolute or relative to /testbed.
            file_text: the content for create.
            old_str: the exact text to replace (must occur exactly once) for str_replace.
            new_str: the replacement for str_replace, or the text to insert for insert.
            insert_line: for insert, the line after which new_str goes.
            view_range: for view, [first, last] line numbers (1-based; last -1 means the end).
        """
        sb = self._sb()
        full = path if path.startswith("/") else f"/testbed/{path}"
        if command == "view":
            return self._view(sb, full, view_range)
        try:
            if command == "create":
                if file_text is None:
                    raise ToolError("create needs file_text")
                sb.write_file(full, file_text)
                self._emit_once("edit_applied", 1.0)
                return f"Created {full} ({len(file_text.splitlines())} lines)."
            try:
                text = sb.read_file(full).decode("utf-8")
            except FileNotFoundError:
                raise ToolError(f"{full}: no such file") from None
            except UnicodeDecodeError:
                raise ToolError(f"{full}: not a UTF-8 text file") from None
            if command == "str_replace":
                if old_str is None or new_str is None:
                    raise ToolError("str_replace needs old_str and new_str")
                count = text.count(old_str)
                if count != 1:
                    raise ToolError(
                        f"old_str occurs {count} times in {full}; it must occur exactly once"
                        + (" (check whitespace and indentation)" if count == 0 else " (add context)")
                    )
                new_text = text.replace(old_str, new_str, 1)
                start = text[: text.index(old_str)].count("\n") + 1
            else:  # insert
                if new_str is None or insert_line is None:
                    raise ToolError("insert needs new_str and insert_line")
                lines = text.splitlines(keepends=True)
                if not 0 <= insert_line <= len(lines):
                    raise ToolError(f"insert_line must be between 0 and {len(lines)}")
                chunk = new_str if new_str.endswith("\n") else new_str + "\n"
                if insert_line == len(lines) and lines and not lines[-1].endswith("\n"):
                    chunk = "\n" + chunk
                new_text = "".join(lines[:insert_line]) + chunk + "".join(lines[insert_line:])
                start = insert_line + 1
            if new_text == text:
                raise ToolError("the edit changes nothing")
            sb.write_file(full, new_text)
        except ToolError:
            self._emit_once("edit_applied", 0.0)
            raise
        self._emit_once("edit_applied", 1.0)
        snippet = new_text.splitlines()[max(0, start - 4) : start + 4 + (new_str or "").count("\n")]
        numbered = "\n".join(f"{max(1, start - 3) + i:6d}\t{line}" for i, line in enumerate(snippet))
        return f"Edited {full}. Snippet of the result:\n{numbered}"

    def _view(self, sb: DriverSandbox, full: str, view_range: list[int] | None) -> str:
        q = shlex.quote(full)
        code, out = sb.run(
            f"if [ -d {q} ]; then echo __DIR__; find {q} -maxdepth 2 -not -path '*/.git*' "
            f"-not -name '*.pyc' | sort | head -300; elif [ -f {q} ]; then echo __FILE__; "
            f"else echo __MISSING__; fi",
            timeout=30,
        )
        if out.startswith("__MISSING__"):
            raise ToolError(f"{full}: no such file or directory")
        if out.startswith("__DIR__"):
            return f"Files and directories in {full} (2 levels):\n" + out.split("\n", 1)[1]
        try:
            text = sb.read_file(full).decode("utf-8", errors="replace")
        except FileNotFoundError:
            raise ToolError(f"{full}: cannot read") from None
        lines = text.splitlines()
        first, last = 1, min(len(lines), VIEW_LIMIT)
        if view_range:
            if len(view_range) != 2:
                raise ToolError("view_range must be [first, last]")
            first, last = view_range[0], (len(lines) if view_range[1] == -1 else view_range[1])
            if not 1 <= first <= max(1, len(lines)) or last < first:
                raise ToolError(f"view_range {view_range} is outside the file's {len(lines)} lines")
        body = "\n".join(f"{n:6d}\t{lines[n - 1]}" for n in range(first, min(last, len(lines)) + 1))
        more = (
            ""
            if view_range or len(lines) <= VIEW_LIMIT
            else (f"\n[... {len(lines) - VIEW_LIMIT} more lines; use view_range]")
        )
        return f"{full} ({len(lines)} lines):\n{body}{more}"

    @tool
    def submit(self) -> str:
        """Hand in your changes (the repository's current state) for grading; ends the episode."""
        self.submitted = True
        self.finish()
        return "Submitted. Your changes will be graded against the hidden tests."

    # ------------------------------------------------------------------ grading
    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        assert self.task is not None
        inst, sb = self.task.instance, self._sb()
        diff = sb.diff(inst.base_commit)  # SandboxError (dead container) -> reward_invalid
        self.last_diff = diff
        paths = diff_paths(diff)
        tampering = any(is_test_path(p) for p in paths)
        modified = any(not is_test_path(p) for p in paths)
        components: dict[str, float | str] = {
            "modification": float(modified),
            "test_tampering": float(tampering),
            "f2p_fraction": 0.0,
            "log_unusable": 0.0,
        }
        if not self.submitted and not self.grade_unsubmitted:
            components["outcome"] = "no_submit"
            return components
        if not modified and not self.grade_unsubmitted:
            components["outcome"] = "empty_patch"
            return components
        log, _ = run_eval(sb, inst, diff, timeout=self.eval_timeout or inst.eval_timeout)
        grade = grade_log(log, inst.FAIL_TO_PASS, inst.PASS_TO_PASS)
        self.last_grade = grade
        self.last_eval_log = log
        components["f2p_fraction"] = grade.f2p_fraction
        components["log_unusable"] = float(not grade.usable)
        if not self.submitted:
            components["outcome"] = "no_submit"
        elif not modified:
            components["outcome"] = "empty_patch"
        else:
            components["outcome"] = "tests_pass" if grade.resolved else "tests_fail"
        return components

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {
            "completed": float(self.submitted),
            "modified": float(trajectory_components.get("modification", 0.0)),
            "test_tampering": float(trajectory_components.get("test_tampering", 0.0)),
        }

    # ------------------------------------------------------------------ oracle
    def oracle_actions(self) -> list[ToolCall] | None:
        """The gold patch applied through the editor (one str_replace per hunk), then submit."""
        if self.task is None:
            return None
        actions = [ToolCall(name="bash", arguments={"command": "git status --short && git log --oneline -1"})]
        for path, old, new in gold_edits(self.task.instance.patch):
            actions.append(
                ToolCall(
                    name="editor",
                    arguments={"command": "str_replace", "path": path, "old_str": old, "new_str": new},
                )
            )
        actions.append(ToolCall(name="submit"))
        return actions


def gold_edits(patch: str) -> list[tuple[str, str, str]]:
    """(path, old text, new text) per hunk of a unified diff (context lines included on both sides)."""
    edits: list[tuple[str, str, str]] = []
    path = None
    old: list[str] = []
    new: list[str] = []
    in_hunk = False

    def flush() -> None:
        if path and (old or new):
            edits.append((path, "".join(old), "".join(new)))

    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git "):
            flush()
            old, new, in_hunk = [], [], False
            m = re.match(r"diff --git a/(.+?) b/(.+?)$", line.rstrip("\n"))
            path = m.group(2) if m else None
        elif line.startswith("@@"):
            flush()
            old, new, in_hunk = [], [], True
        elif in_hunk:
            if line.startswith("\\"):
                continue
            tag, body = line[:1], line[1:]
            if tag in (" ", "-"):
                old.append(body)
            if tag in (" ", "+"):
                new.append(body)
    flush()
    return edits
