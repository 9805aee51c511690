"""A whole agent program (a harness) as an agentgym policy: its calls token-exact, its commands env steps.

Why: `agentgym eval` and the trainers drive a policy turn by turn, while a harness such as
mini-swe-agent runs its own loop: it calls an OpenAI endpoint, parses the reply, runs a command,
and decides itself when it is done. `HarnessPolicy` inverts that loop. Per episode
(`for_episode`), `on_episode_start` starts the harness on a thread with the task's prompt; the
harness's model calls go to an in-process token-recording gateway (`agentgym.baselines.gateway`,
one per policy, in front of any backend policy string) and its commands come back through an
`execute` callback. Each `act` returns the next thing the harness did, as one env step:

- a model call followed by a command: an assistant message with the call's text and one tool call
  (`command_tool`, e.g. the SWE env's `bash`), carrying the call's exact prompt and completion
  ids and logprobs; the env's tool result goes back to the harness as the command's output;
- a model call the harness did not turn into a command (its own format error): the text as a
  plain action (the env answers it as an action without a call), tokens recorded;
- the harness's exit: the env's `submit_tool` (`submit="always"`: the final repository state is
  graded whatever made the harness stop, as SWE-bench grades a harness's final diff), recorded
  with the last prompt + completion as its prompt and no completion tokens, so the token stream
  stays one sequence; or, with `submit="agent"` and no submission, the episode is truncated. A
  harness that crashed (its model calls kept failing) is an `InfrastructureError`: the episode is
  recorded `reward_invalid`, never scored as the agent's failure.

A command that says it submits (`submit_marker` in the command) is sent with the submit call in
the same step. So every step the record holds is what the harness did, with the tokens its model
produced, and the reward is the env's (the SWE grader's). Another harness plugs in by
implementing `HarnessRunner` (see docs/harness.md).
"""

from __future__ import annotations

import json
import queue
import re
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agentgym.baselines.gateway.book import GatewayCall
from agentgym.errors import InfrastructureError
from agentgym.parsing import message_text
from agentgym.policy import PolicyOutput

_EXIT_CODE = re.compile(r"\[exit code (-?\d+)\]\s*$")


@dataclass
class CommandResult:
    """What a command printed and its exit code, as the env reported them."""

    output: str
    returncode: int


class HarnessStopped(RuntimeError):
    """The episode was abandoned (the env ended first, or the policy closed): the harness stops."""


class HarnessRunner(Protocol):
    """One harness: runs a whole episode on `task`, its model at `base_url` (OpenAI API, every call
    with `headers`, which name the episode), its commands through `execute`. Returns at least
    `exit_status` (and, if it has one, `submission`)."""

    name: str

    def describe(self) -> dict[str, Any]: ...

    def run(self, task: str, *, base_url: str, model: str, headers: dict[str, str],
            execute: Callable[[str], CommandResult]) -> dict[str, Any]: ...


def command_result(content: str) -> CommandResult:
    """A tool result as a command result: a trailing `[exit code N]` (the SWE env's bash) is the
    exit code; without one the command counts as exit 0."""
    match = _EXIT_CODE.search(content)
    if match is None:
        return CommandResult(content, 0)
    return CommandResult(content[: match.start()], int(match.group(1)))


def _tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


class _Channel:
    """What the harness thread and the episode share (the thread never holds the episode itself,
    so an episode the rollout loop drops is collected, and its finalizer stops the harness)."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.closed = False
        self.waiting: queue.Queue[CommandResult | None] | None = None

    def execute(self, command: str) -> CommandResult:
        if self.closed:
            raise HarnessStopped("the episode is over")
        slot: queue.Queue[CommandResult | None] = queue.Queue(maxsize=1)
        self.waiting = slot
        self.events.put(("command", command, slot))
        result = slot.get()
        self.waiting = None
        if result is None:
            raise HarnessStopped("the episode is over")
        return result

    def close(self) -> None:
        self.closed = True
        slot = self.waiting
        if slot is not None:
            try:
                slot.put_nowait(None)
            except queue.Full:
                pass


def _run_harness(runner: HarnessRunner, task: str, base_url: str, key: str, header: str, channel: _Channel) -> None:
    try:
        result = runner.run(task, base_url=base_url, model=key, headers={header: key}, execute=channel.execute)
        channel.events.put(("exit", dict(result)))
    except HarnessStopped:
        channel.events.put(("exit", {"exit_status": "Stopped"}))
    except BaseException as exc:  # noqa: BLE001 - reported to the rollout loop through act()
        channel.events.put(("exit", {"exit_status": type(exc).__name__, "error": str(exc)[:500]}))


def _release(channel: _Channel, book: Any, key: str) -> None:
    channel.close()
    if book is not None:
        book.pop(key)


class HarnessEpisode:
    """One episode of a harness, driven by the rollout loop's `act` calls."""

    def __init__(self, parent: HarnessPolicy, seed: int) -> None:
        self.parent = parent
        self.seed = seed
        self.key = f"harness-{uuid.uuid4().hex[:16]}"
        self.name = parent.name
        self._channel = _Channel()
        self._events = self._channel.events
        self._pending: GatewayCall | None = None
        self._last: GatewayCall | None = None
        self._reply: queue.Queue[CommandResult | None] | None = None
        self._reply_id: str | None = None
        self._exit: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self._finalizer: weakref.finalize | None = None

    def describe(self) -> dict[str, Any]:
        return self.parent.describe()

    def on_episode_start(self, env: Any, info: dict[str, Any]) -> None:
        parent = self.parent
        parent.start()
        book = parent.gateway.book
        events = self._events
        book.listen(self.key, lambda call: events.put(("call", call)))
        # when the rollout loop drops this episode (it ended, by any path), the harness is stopped
        self._finalizer = weakref.finalize(self, _release, self._channel, book, self.key)
        task = info.get("task") or {}
        prompt = task.get("prompt") if isinstance(task, dict) else None
        if not prompt:
            prompt = message_text((getattr(env.unwrapped, "transcript", None) or [{}])[-1].get("content"))
        self._thread = threading.Thread(
            target=_run_harness, name=f"harness-{self.key}", daemon=True,
            args=(parent.runner, str(prompt), parent.base_url, self.key, parent.episode_header, self._channel),
        )
        self._thread.start()

    def _answer(self, messages: list[dict[str, Any]]) -> None:
        """Hand the env's answer to the command the harness is waiting on."""
        if self._reply is None:
            return
        content: str | None = None
        for message in reversed(messages):
            if message.get("role") == "assistant":
                break
            if message.get("role") == "tool" and message.get("tool_call_id") == self._reply_id:
                content = message_text(message.get("content"))
                break
        if content is None:  # the env answered with an observation instead of a tool result
            last = messages[-1] if messages else {}
            content = message_text(last.get("content")) if last.get("role") != "assistant" else ""
        self._reply.put(command_result(content))
        self._reply, self._reply_id = None, None

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        self._answer(messages)
        while True:
            if self._exit is not None and self._pending is None:
                return self._final()
            try:
                event = self._events.get(timeout=self.parent.timeout)
            except queue.Empty:
                raise InfrastructureError(f"the {self.parent.runner.name} harness did nothing for "
                                          f"{self.parent.timeout:.0f} s") from None
            kind = event[0]
            if kind == "call":
                previous, self._pending = self._pending, event[1]
                self._last = event[1]
                if previous is not None:  # that call was not turned into a command (the harness's format error)
                    return self._text(previous)
            elif kind == "command":
                return self._command(event[1], event[2])
            elif kind == "exit":
                self._exit = event[1]
                if self._pending is not None:
                    previous, self._pending = self._pending, None
                    return self._text(previous)

    def _output(self, call: GatewayCall | None, message: dict[str, Any], what: str) -> PolicyOutput:
        meta: dict[str, Any] = {"harness": {"name": self.parent.runner.name, "episode": self.key, "action": what}}
        if call is None:
            return PolicyOutput(message=message, meta=meta)
        meta.update(call.output.meta)
        meta["harness"]["call"] = call.index
        out = call.output
        return PolicyOutput(message=message, prompt_token_ids=out.prompt_token_ids,
                            completion_token_ids=out.completion_token_ids, logprobs=out.logprobs,
                            finish_reason=out.finish_reason, meta=meta)

    def _text(self, call: GatewayCall) -> PolicyOutput:
        return self._output(call, {"role": "assistant", "content": call.text}, "text")

    def _command(self, command: str, slot: queue.Queue[CommandResult | None]) -> PolicyOutput:
        call, self._pending = self._pending, None
        index = call.index if call is not None else "x"
        self._reply, self._reply_id = slot, f"call_{self.key[-8:]}_{index}"
        calls = [_tool_call(self._reply_id, self.parent.command_tool, {self.parent.command_argument: command})]
        marker = self.parent.submit_marker
        if marker and marker in command and self.parent.submit_tool:
            calls.append(_tool_call(f"{self._reply_id}_submit", self.parent.submit_tool, {}))
        message = {"role": "assistant", "content": call.text if call is not None else "", "tool_calls": calls}
        return self._output(call, message, "command")

    def _final(self) -> PolicyOutput:
        exit_info = dict(self._exit or {})
        if "error" in exit_info:  # the harness crashed (e.g. its model calls kept failing): not the agent's outcome
            raise InfrastructureError(f"the {self.parent.runner.name} harness failed: "
                                      f"{exit_info.get('exit_status')}: {exit_info['error']}")
        submits = self.parent.submit == "always" or exit_info.get("exit_status") == "Submitted"
        if not submits or not self.parent.submit_tool:
            meta = {"stop": True, "harness": {"name": self.parent.runner.name, "episode": self.key, **exit_info}}
            return PolicyOutput(message={"role": "assistant", "content": ""}, finish_reason="harness_exit", meta=meta)
        call_id = f"call_{self.key[-8:]}_final"
        message = {"role": "assistant", "content": "",
                   "tool_calls": [_tool_call(call_id, self.parent.submit_tool, {})]}
        out = self._output(None, message, "submit")
        out.meta["harness"].update(exit_info)
        last = self._last
        if last is not None and last.output.prompt_token_ids is not None:
            # the model produced nothing for this step: its prompt is the last call's prompt + completion
            out.prompt_token_ids = list(last.output.prompt_token_ids) + list(last.output.completion_token_ids or [])
            out.completion_token_ids, out.logprobs = [], ([] if last.output.logprobs is not None else None)
        return out

    def close(self) -> None:
        """Stop the harness (a command it waits on gets no answer) and forget its calls."""
        if self._finalizer is not None:
            self._finalizer()
        else:
            self._channel.close()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def closed(self) -> bool:
        return self._channel.closed


class HarnessPolicy:
    """A harness (`HarnessRunner`) with its model calls served by `backend` through a gateway."""

    episode_header = "x-agentgym-episode"

    def __init__(self, runner: HarnessRunner, backend: Any, *, submit: str = "always", command_tool: str = "bash",
                 command_argument: str = "command", submit_tool: str | None = "submit",
                 submit_marker: str | None = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", timeout: float = 600.0) -> None:
        if submit not in ("always", "agent"):
            raise ValueError(f"submit={submit!r}: expected always or agent")
        self.runner = runner
        self.backend = backend
        self.name = runner.name
        self.submit = submit
        self.command_tool = command_tool
        self.command_argument = command_argument
        self.submit_tool = submit_tool
        self.submit_marker = submit_marker
        self.timeout = float(timeout)
        self._server: Any = None
        self._lock = threading.Lock()
        self._episodes: weakref.WeakSet[HarnessEpisode] = weakref.WeakSet()  # live episodes (close() stops them)

    @property
    def gateway(self) -> Any:
        self.start()
        return self._server.gateway

    @property
    def base_url(self) -> str:
        self.start()
        return str(self._server.base_url)

    def start(self) -> None:
        """Start the in-process gateway (once)."""
        with self._lock:
            if self._server is None:
                from agentgym.baselines.gateway import Gateway, GatewayServer

                self._server = GatewayServer(Gateway(self.backend)).start()

    def describe(self) -> dict[str, Any]:
        backend = self.backend.describe() if hasattr(self.backend, "describe") else {}
        return {"name": self.runner.name, "harness": self.runner.describe(), "backend": backend, "gateway": True,
                "submit": self.submit, "command_tool": self.command_tool, "submit_tool": self.submit_tool}

    def for_episode(self, seed: int) -> HarnessEpisode:
        episode = HarnessEpisode(self, seed)
        self._episodes.add(episode)
        return episode

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        raise RuntimeError("a harness policy runs whole episodes: use it through run_episode/run_episodes "
                           "(they call for_episode), not act() directly")

    def close(self) -> None:
        for episode in list(self._episodes):
            episode.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
