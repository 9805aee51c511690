"""`agentgym/SWE-v0`: repair a bug in a real Python package inside a sandbox, graded SWE-bench style.

Tools: `bash` (a long-lived shell in the sandbox; cwd and exports persist), `editor` (view /
create / str_replace / insert, SWE-agent style), `submit`. Components are declared in
`SWEEnv.components`; the outcome is `tests_pass` for a resolved task (`SWEEnv.outcome`).

Grading happens in a clean room (`agentgym.tasks.swe.grading`): the agent's leftover processes
are killed, its repository's files (nothing else: not its `.git`, exports, home or /tmp) are
diffed against the base commit in a fresh sandbox of the task image, test files and test
infrastructure are left out, the hidden tests applied, FAIL_TO_PASS and PASS_TO_PASS run with a
fixed environment and the log graded with SWE-bench's rules; code that tampers with the test
runner (found in the change, or by canary tests and a JUnit cross-check) never scores as a pass.

What the agent does to its own sandbox is its outcome: the driver cannot be killed from inside, a
fork bomb or a full disk is contained and reported in the observation; a sandbox the agent
managed to kill anyway (its memory limit hit) is replaced by a fresh one (the observation says
so, the episode goes on), or at grading ends the episode with the outcome `sandbox_crash`.
`reward_invalid=True` is kept for failures of the machinery (engine, container, driver).
"""

from __future__ import annotations

import copy
import re
import shlex
import threading
import time
from pathlib import Path
from typing import Any, Literal

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import TaskError, ToolError
from agentgym.outcome import Outcome
from agentgym.rewards.components import step_component, trajectory_component
from agentgym.rewards.functions.swebench import GradeResult
from agentgym.sandbox.base import DriverSandbox, SandboxCrashed, SandboxError
from agentgym.tasks.swe.environment import (
    diff_paths,
    ensure_package_image,
    is_test_path,
    setup_base,
)
from agentgym.tasks.swe.grading import CleanRoomResult, collect_tree, grade_in_clean_room, open_clean_room
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
OUTCOMES = ("sandbox_crash", "no_submit", "empty_patch", "tests_fail", "tests_pass")


class SWEEnv(AgentEnv[SWETask]):
    """Fix a bug in a real Python package; graded with SWE-bench's rules in a sandbox."""

    default_reward = Path(__file__).with_name("reward.yaml")
    components = (
        step_component("command_ok", description="the step's first bash command exited 0 (not timed out)"),
        step_component("edit_applied", description="the step's first editor edit changed a file"),
        trajectory_component(
            "outcome",
            labels=OUTCOMES,
            description=(
                "sandbox_crash (the agent killed its sandbox before grading) = no_submit < empty_patch "
                "(no change to non-test files) < tests_fail (also: runner tampering) < tests_pass"
            ),
        ),
        trajectory_component("f2p_fraction", description="fraction of FAIL_TO_PASS tests passing at grading"),
        trajectory_component("modification", description="1 when the diff touches non-test files"),
        trajectory_component(
            "test_tampering",
            description="1 when the agent edited test files or test infrastructure (left out of grading) "
            "or tampered with the test runner",
        ),
        trajectory_component(
            "runner_tampering",
            description="1 when the change tampers with the test runner (code reaching into pytest or the "
            "import system, a shadowing module, a canary or JUnit mismatch): never a pass",
        ),
        trajectory_component("log_unusable", description="1 when the grading log could not be graded"),
    )
    outcome = Outcome(component="outcome", success=("tests_pass",))
    default_max_turns = 30
    max_observation_chars = 20_000
    # snapshots: a filesystem checkpoint (tars of the writable places, /testbed and /tmp, which hold
    # the shell's cwd and exports) restored into a fresh sandbox; running processes are not carried
    snapshot_exact = False
    snapshot_caveat = ("a filesystem checkpoint (/testbed and /tmp, with the shell's cwd and exports) restored "
                       "into a fresh sandbox: background processes are not carried")
    _CHECKPOINT_DIRS = ("/testbed", "/tmp")

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
        pids: int = 512,
        disk: str = "1g",
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
        #: the sandbox limits (agent sandboxes and clean rooms alike)
        self.container_kwargs: dict[str, Any] = {
            "memory": memory,
            "cpus": cpus,
            "pids": int(pids),
            "disk": disk,
        }
        self._pools: dict[str, Any] = {}
        self._templates: dict[str, Path] = {}
        self._images_ready: set[str] = set()
        self.sandbox: DriverSandbox | None = None
        self.submitted = False
        self.last_grade: GradeResult | None = None
        self.last_clean_room: CleanRoomResult | None = None
        self.last_diff = ""
        self.last_eval_log = ""
        self.last_test_seconds: float | None = None
        self.sandbox_restarts = 0
        #: seconds per grading phase of the last episode (collect, clean_room_start, clean_room_*, total)
        self.last_grading_seconds: dict[str, float] = {}
        self._closers: list[threading.Thread] = []
        self._emitted_turn: dict[str, int] = {}

    # ------------------------------------------------------------------ sandboxes
    def _sandbox_for(self, inst: SWEInstance) -> DriverSandbox:
        if self.backend == "local":
            return self._local_sandbox(inst)
        from agentgym.sandbox.docker_backend import DockerPool, DockerSandbox

        if inst.image not in self._images_ready:  # checked once per env: a reset is a pool pop, no API call
            ensure_package_image(inst.archive_path(), inst.image)
            self._images_ready.add(inst.image)
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

    def _template(self, inst: SWEInstance) -> Path:
        """bubblewrap: a per-image template directory holding the pristine repository."""
        from agentgym.sandbox.local_backend import LocalSandbox, make_template
        from agentgym.tasks.swe.environment import prepare_pristine

        template = self._templates.get(inst.image)
        if template is None:
            sb = LocalSandbox(default_timeout=self.command_timeout, **self.container_kwargs)
            try:
                prepare_pristine(sb, inst.archive_path())
                template = sb.export_workdir(make_template("agentgym-swe-template-") / "testbed")
            finally:
                sb.close()
            self._templates[inst.image] = template
        return template

    def _local_sandbox(self, inst: SWEInstance) -> DriverSandbox:
        from agentgym.sandbox.local_backend import LocalSandbox

        return LocalSandbox(
            self._template(inst), default_timeout=self.command_timeout, **self.container_kwargs
        )

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
        self.last_clean_room = None
        self.last_diff = ""
        self.last_eval_log = ""
        self.last_test_seconds = None
        self.sandbox_restarts = 0
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

    # ------------------------------------------------------------------ snapshots
    def save_state(self) -> dict[str, Any]:
        """Tars of the sandbox's writable places and the episode's fields (a checkpoint over 200 MB
        cannot be taken: SnapshotError)."""
        from agentgym.snapshot import SnapshotError

        sb = self._sb()
        trees = {}
        for place in self._CHECKPOINT_DIRS:  # the entries of `place`, not `place` itself (its mode is the mount's)
            script = (f"cd {shlex.quote(place)} && find . -mindepth 1 -maxdepth 1 -print0 | "
                      "tar --null -T - --ignore-failed-read --warning=none -S -cf -")
            res = sb.exec(["/bin/sh", "-c", script], timeout=120, limit=200_000_000)
            if res.truncated or res.timed_out or res.exit_code not in (0, 1):
                raise SnapshotError(f"cannot checkpoint {place}: too large, too slow or unreadable for a tar")
            trees[place] = res.stdout
        fields = ("submitted", "last_grade", "last_clean_room", "last_diff", "last_eval_log", "last_test_seconds",
                  "sandbox_restarts", "_emitted_turn")
        return {"trees": trees, "fields": copy.deepcopy({name: getattr(self, name) for name in fields})}

    def load_state(self, state: dict[str, Any]) -> None:
        assert self.task is not None
        inst = self.task.instance
        self._release_sandbox()
        self.sandbox = self._sandbox_for(inst)
        self._prepare(self.sandbox, inst)
        for place, data in state["trees"].items():
            quoted = shlex.quote(place)
            res = self.sandbox.exec(
                ["/bin/sh", "-c", f"find {quoted} -mindepth 1 -delete 2>/dev/null; tar -xf - -C {quoted}"],
                stdin=data, timeout=120,
            )
            if res.exit_code != 0:
                raise SandboxError(f"could not restore {place}: {res.stderr[-300:]}")
        for name, value in copy.deepcopy(state["fields"]).items():
            setattr(self, name, value)

    def close(self) -> None:
        super().close()
        self._release_sandbox()
        for closer in self._closers:
            closer.join(timeout=60)
        self._closers.clear()
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

    def _recover(self, exc: SandboxCrashed) -> str:
        """The agent killed its sandbox: a fresh one at the base commit replaces it (a failure to
        make one is the machinery's: SandboxError). Returns the note for the observation."""
        assert self.task is not None
        inst = self.task.instance
        self._release_sandbox()
        self.sandbox = self._sandbox_for(inst)
        self._prepare(self.sandbox, inst)
        self.sandbox_restarts += 1
        return (
            f"[the sandbox died: {exc.cause}. A fresh sandbox at the task's base commit replaced it: every "
            "change made so far is lost and no process survived; the working directory and exported "
            "variables are reset.]"
        )

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
        try:
            detail = self._sb().run_detailed(command, timeout=self.command_timeout)
        except SandboxCrashed as exc:
            self._emit_once("command_ok", 0.0)
            return f"{self._recover(exc)}\n[exit code 137]"
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
        try:
            return self._edit(command, path, file_text, old_str, new_str, insert_line, view_range)
        except SandboxCrashed as exc:
            self._emit_once("edit_applied", 0.0)
            return self._recover(exc)

    def _edit(
        self,
        command: str,
        path: str,
        file_text: str | None,
        old_str: str | None,
        new_str: str | None,
        insert_line: int | None,
        view_range: list[int] | None,
    ) -> str:
        sb = self._sb()
        full = path if path.startswith("/") else f"/testbed/{path}"
        if command == "view":
            return self._view(sb, full, view_range)
        try:
            if command == "create":
                if file_text is None:
                    raise ToolError("create needs file_text")
                _write(sb, full, file_text)
                self._emit_once("edit_applied", 1.0)
                return f"Created {full} ({len(file_text.splitlines())} lines)."
            try:
                text = sb.read_file(full).decode("utf-8")
            except FileNotFoundError as exc:
                raise ToolError(f"{full}: no such file" if "No such file" in str(exc) else str(exc)) from None
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
            _write(sb, full, new_text)
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
        components: dict[str, float | str] = {
            "modification": 0.0,
            "test_tampering": 0.0,
            "runner_tampering": 0.0,
            "f2p_fraction": 0.0,
            "log_unusable": 0.0,
        }
        if not self.submitted and not self.grade_unsubmitted:
            # not graded: what the agent changed, as its own repository says (informational)
            try:
                paths = diff_paths(sb.diff(inst.base_commit))
            except SandboxCrashed:
                paths = []
            except SandboxError:
                if not sb.ping():  # a dead sandbox is the machinery's failure
                    raise
                paths = []  # the agent broke its own repository (e.g. removed .git)
            components["modification"] = float(any(not is_test_path(p) for p in paths))
            components["test_tampering"] = float(any(is_test_path(p) for p in paths))
            components["outcome"] = "no_submit"
            return components
        # the clean room starts while the agent's tree is collected
        t0 = time.perf_counter()
        room: dict[str, Any] = {}

        def open_room() -> None:
            try:
                room["sb"] = self._clean_room(inst)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                room["error"] = exc
            room["seconds"] = time.perf_counter() - t0

        opener = threading.Thread(target=open_room, daemon=True)
        opener.start()
        timing = self.last_grading_seconds = {}
        try:
            try:
                tree, complete = collect_tree(sb)
            except SandboxCrashed:
                components["outcome"] = "sandbox_crash" if self.submitted else "no_submit"
                return components
            timing["collect"] = time.perf_counter() - t0
            opener.join()
            timing["clean_room_start"] = room.get("seconds", 0.0)
            if "error" in room:
                raise room["error"]
            if not complete:  # over the size limits, or unreadable: the agent's doing, nothing to grade
                components.update(modification=1.0, log_unusable=1.0)
                components["outcome"] = "tests_fail" if self.submitted else "no_submit"
                return components
            try:
                result = grade_in_clean_room(
                    inst,
                    room["sb"],
                    tree=tree,
                    timeout=self.eval_timeout or inst.eval_timeout,
                    image_key=f"{self.backend}:{inst.image}",
                )
            except SandboxCrashed:  # the agent's code killed the clean room (its memory limit): a failure
                components.update(modification=1.0, log_unusable=1.0)
                components["outcome"] = "tests_fail" if self.submitted else "no_submit"
                return components
            timing.update({f"clean_room_{k}": v for k, v in result.seconds.items()})
        finally:
            opener.join()
            if "sb" in room:  # removed in the background: grading need not wait for it
                closer = threading.Thread(target=room["sb"].close, daemon=True)
                closer.start()
                self._closers = [t for t in self._closers if t.is_alive()] + [closer]
            timing["total"] = time.perf_counter() - t0
        self.last_clean_room = result
        self.last_diff = result.diff
        self.last_eval_log = result.raw_log
        self.last_grade = result.grade
        self.last_test_seconds = result.seconds.get("tests")
        components["modification"] = float(result.modified)
        components["test_tampering"] = float(result.test_tampering)
        components["runner_tampering"] = float(bool(result.tampering))
        if result.grade is not None:
            components["f2p_fraction"] = 0.0 if result.tampering else result.grade.f2p_fraction
            components["log_unusable"] = float(not result.grade.usable)
        if not self.submitted:
            components["outcome"] = "no_submit"
        elif not result.modified:
            components["outcome"] = "empty_patch"
        else:
            components["outcome"] = "tests_pass" if result.resolved else "tests_fail"
        return components

    def _clean_room(self, inst: SWEInstance) -> DriverSandbox:
        """A sandbox no agent ever touched, at the base commit: with a warm pool, the next pooled
        container (prepared in the background, as for a reset); else a new one."""
        if self.backend == "local":
            return open_clean_room(
                inst, backend="local", template=self._template(inst), limits=self.container_kwargs
            )
        if self.pool_size > 0:
            sb = self._sandbox_for(inst)
            try:
                self._prepare(sb, inst)
            except BaseException:
                sb.close()
                raise
            return sb
        return open_clean_room(inst, backend="docker", limits=self.container_kwargs)

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {
            "completed": float(self.submitted),
            "modified": float(trajectory_components.get("modification", 0.0)),
            "test_tampering": float(trajectory_components.get("test_tampering", 0.0)),
            "runner_tampering": float(trajectory_components.get("runner_tampering", 0.0)),
            "sandbox_restarts": float(self.sandbox_restarts),
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


def _write(sb: DriverSandbox, path: str, text: str) -> None:
    try:
        sb.write_file(path, text)
    except FileNotFoundError as exc:  # e.g. the disk limit: the agent's to see
        raise ToolError(str(exc)) from None


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
