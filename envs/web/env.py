"""`agentgym/Web-v0`: browser tasks in a real Chromium (MiniWoB++, shop, booking, mail, custom).

    env = gymnasium.make("agentgym/Web-v0", suite="miniwob", task="click-button")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step('click("4")')

Observation: the goal (in the prompt), URL, title, last action error and a flattened accessibility
tree whose elements carry stable ids (`[12] button "Submit"`). With
`obs_mode="text+screenshot"` the observation is a dict `{"text": str, "screenshot": PNG bytes}`.
Actions: `click(id)`, `fill(id, text)`, `select(id, option)`, `press(key)`, `scroll(direction)`,
`goto(url)` (only inside the task's allowed origins), `go_back()`, `answer(text)`; as tool calls
or in the text grammar of `agentgym.envs.web.actions`.

Reward components: trajectory `outcome` (shop: the WebShop score in [0, 1]; MiniWoB: 1 when the
task's own JS reward is > 0, else 0; booking, mail, custom: 0/1), `subgoal_fraction` (the share of
the task's checklist reached: the env's checklist) and the suite's numbers (MiniWoB `raw_reward`,
shop `orders`, booking `validation_errors`, mail `sent`); step `subgoal` (share of the checklist
newly reached), `noop` (the page did not change), plus the core's `action_valid` and
`repeated_action`. An episode succeeds when its outcome is 1 (`Outcome(success_threshold=1.0)`).
The default spec (reward.yaml) is G-RA with the outcome gating the rest.

Only a dead browser or page is an infrastructure failure (`reward_invalid`): whatever an action does
(a key or URL Playwright refuses, a page left for another), the episode stays the agent's, graded.

Tasks come from `agentgym.tasks.web.source.web_tasks` (the `suite`, `task`, `task_file` and
`num_tasks` kwargs); every Playwright call runs on the env's own browser thread (`execute`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

from gymnasium import spaces

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import ActionParseError, InfrastructureError, TaskError, ToolError
from agentgym.outcome import Outcome
from agentgym.rewards.components import Component, step_component, trajectory_component
from agentgym.spaces import AnyText
from agentgym.tasks.web.source import SUITES, canonical_task_id, web_tasks
from agentgym.tasks.web.task import WebTask
from agentgym.tools import ToolCall, tool

from .actions import ACTIONS, ActionSyntaxError, attempts_action, parse_text_action
from .browser import Browser, is_dead_browser_error
from .observe import PageState, format_observation, read_page
from .spaces import PngBytes, blank_png
from .suite import Check, Suite, url_allowed

R = TypeVar("R")

_ID_OK = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")
#: how the agent sees the origin of the env's own server (its port is random), so that episodes on
#: served pages read the same in every env instance and replay exactly; `goto` maps it back
SITE_ORIGIN = "http://site.test"

SYSTEM_PROMPT = """You control a web browser to reach a goal. Each observation shows the page as a list of elements, one per line, as `[id] role "name" properties`.
Act with exactly one action per turn, either as a tool call or as one line of text:
  click("id")             click an element
  fill("id", "text")      replace the text of an input or textarea
  select("id", "option")  choose an option of a <select> by its text
  press("Enter")          press a key (Enter, Tab, Backspace, ArrowDown, Control+a, ...)
  scroll("down")          scroll the page: up, down, left, right
  goto("url")             open a URL (only inside the task's site)
  go_back()               go back in history
  answer("text")          give your final answer (ends the episode)"""


def make_suite(name: str) -> Suite:
    """The browser side of a web suite (its tasks: `agentgym.tasks.web.source.web_tasks`)."""
    if name == "miniwob":
        from .miniwob import MiniWoBSuite

        return MiniWoBSuite()
    if name in ("shop", "booking", "mail", "apps"):
        from .apps.suite import AppSuite

        return AppSuite(name)
    if name == "custom":
        from .custom import CustomSuite

        return CustomSuite()
    raise TaskError(f"unknown web suite {name!r}; suites: {', '.join(SUITES)}")


class WebEnv(AgentEnv[WebTask]):
    """Browser tasks in Chromium through Playwright (see the module docstring)."""

    default_reward = Path(__file__).with_name("reward.yaml")
    components = (
        step_component("subgoal", description="share of the task's checklist newly reached by the step"),
        step_component("noop", description="1 when the action left the page unchanged"),
        trajectory_component("outcome", description="shop: the WebShop score; MiniWoB: 1 if the task's reward > 0; "
                                                    "booking, mail, custom: 1 on success; else 0"),
        trajectory_component("subgoal_fraction", description="share of the task's checklist reached (the "
                                                             "outcome for a task without a checklist)"),
    )
    # One numeric outcome for every suite (the shop's WebShop score is partial credit), so success is a
    # threshold: 1.0 is the shop's perfect score and the 1 of the binary suites (MiniWoB's outcome is
    # 1 exactly when its raw reward is > 0).
    outcome = Outcome(component="outcome", success_threshold=1.0, checklist="subgoal_fraction")
    default_max_turns = 30
    # snapshots: no save_state, so the core restores by opening the task anew in a fresh page and
    # replaying the action prefix; exact for pages driven only by the seed and the actions
    snapshot_caveat = "restored by replay in a fresh page: timers and live content are not carried"

    def __init__(
        self,
        *,
        suite: str = "miniwob",
        task: str | None = None,
        task_file: str | None = None,
        num_tasks: int | None = None,
        obs_mode: Literal["text", "text+screenshot"] = "text",
        headless: bool = True,
        action_timeout_ms: int = 2000,
        max_tree_lines: int = 400,
        **kwargs: Any,
    ) -> None:
        if obs_mode not in ("text", "text+screenshot"):
            raise ValueError(f"obs_mode must be 'text' or 'text+screenshot', got {obs_mode!r}")
        self.suite_name = suite
        self.suite = make_suite(suite)  # before super().__init__: its components are declared there
        source = web_tasks(suite, task=task, task_file=task_file, num_tasks=num_tasks)
        source.ids()  # a broken task file or an unknown `task` fails here, not at the first reset
        super().__init__(tasks=source, **kwargs)
        self.obs_mode = obs_mode
        if obs_mode == "text+screenshot":
            self.observation_space = spaces.Dict({"text": AnyText(), "screenshot": PngBytes()})
        self.action_timeout_ms = int(action_timeout_ms)
        self.max_tree_lines = int(max_tree_lines)
        self.browser = Browser(headless=headless)
        # Playwright's sync API is bound to one thread; rollouts may call the env from several
        # (thread pools, asyncio.to_thread). Every browser call runs on this env's own thread.
        self._worker: ThreadPoolExecutor | None = None
        self._worker_thread: threading.Thread | None = None
        self.page: Any = None
        self._state: PageState | None = None
        self._last_error: str | None = None
        self._answer: str | None = None
        self._reached: set[str] = set()
        self._check = Check()
        self._grammar_error: str | None = None
        self._episode_seed = 0
        self._crashed = False  # the page's renderer crashed (Playwright's "crash" event)
        self.timings: dict[str, float] = {}

    def declared_components(self) -> dict[str, Component]:
        declared = super().declared_components()
        declared.update({c.name: c for c in self.suite.components})
        return declared

    # ------------------------------------------------------------------ tasks
    def select_task(self, task_id: str | None, options: dict[str, Any]) -> WebTask:
        """As the core's, and a MiniWoB++ task may also be named `miniwob/<name>-v1` or `miniwob.<name>`."""
        if task_id is not None and self.tasks is not None:
            canonical = canonical_task_id(self.suite_name, task_id)
            if canonical in self.tasks:
                task_id = canonical
        return super().select_task(task_id, options)

    def default_system_prompt(self) -> str:
        return SYSTEM_PROMPT

    def start_episode(self, task: WebTask, options: dict[str, Any]) -> EpisodeStart:
        started = time.perf_counter()
        self._episode_seed = int(self.np_random.integers(2**31 - 1))
        self._last_error = None
        self._answer = None
        self._reached = set()
        self._check = Check()
        try:
            self._open_page()
            task = self.suite.start(self.page, task, self._episode_seed)
            self._state = self._read()
        except InfrastructureError:
            raise
        except Exception as exc:
            if not self.browser.alive or is_dead_browser_error(exc):
                # the browser died between episodes: relaunch once and retry
                self.browser.close_context()
                self._open_page()
                task = self.suite.start(self.page, task, self._episode_seed)
                self._state = self._read()
            else:
                raise
        prompt = f"Goal: {task.prompt}\n\n" + format_observation(self._state)
        self.timings["reset"] = time.perf_counter() - started
        return EpisodeStart(task=task, prompt=prompt, system_prompt=SYSTEM_PROMPT)

    def _open_page(self) -> None:
        self._crashed = False
        self.page = self.browser.new_page()
        self.page.on("crash", self._on_crash)

    def _on_crash(self, _page: Any) -> None:
        self._crashed = True

    # ------------------------------------------------------------------ browser thread
    def run_in_browser(self, fn: Callable[[], R]) -> R:
        """Run `fn` on the env's browser thread (use it to touch `env.page` directly)."""
        if threading.current_thread() is self._worker_thread:
            return fn()
        if self._worker is None:  # first use, or first use after close()
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentgym-web")

        def wrapped() -> R:
            self._worker_thread = threading.current_thread()
            return fn()

        return self._worker.submit(wrapped).result()

    def execute(self, work: Callable[[], R]) -> R:
        """Reset, step, truncate and close run on the browser thread. In screenshot mode the
        observation of a reset or step result becomes `{"text", "screenshot"}` here: the core's
        pipeline produces text observations and has no hook for richer ones."""

        def run() -> R:
            result = work()
            if self.obs_mode != "text" and isinstance(result, tuple) and result and isinstance(result[0], str):
                return (self._wrap(result[0]), *result[1:])  # type: ignore[return-value]
            return result

        return self.run_in_browser(run)

    def _wrap(self, text: str) -> Any:
        if self.obs_mode == "text":
            return text
        return {"text": text, "screenshot": self.screenshot()}

    def screenshot(self) -> bytes:
        """A PNG of the task area (MiniWoB) or the viewport; a blank PNG when the page is gone."""
        return self.run_in_browser(self._screenshot)

    def _screenshot(self) -> bytes:
        try:
            if self.page is None or self.page.is_closed():
                return blank_png()
            if self.suite.screenshot_selector:
                return self.page.locator(self.suite.screenshot_selector).first.screenshot(timeout=2000)
            return self.page.screenshot(timeout=2000)
        except Exception:
            return blank_png()

    # ------------------------------------------------------------------ observation helpers
    def _read(self) -> PageState:
        state = read_page(self.page, root=self.suite.root_selector, hide=self.suite.hide_ids,
                          max_lines=self.max_tree_lines)
        state.url = self._shown(state.url)
        return state

    def _shown(self, text: str) -> str:
        """`text` with the suite server's origin written as `SITE_ORIGIN`."""
        site = self.suite.site_origin()
        return text.replace(site, SITE_ORIGIN) if site else text

    def _actual(self, url: str) -> str:
        """A URL the agent wrote with `SITE_ORIGIN`, pointed at the suite's server."""
        site = self.suite.site_origin()
        if site and (url == SITE_ORIGIN or url.startswith(SITE_ORIGIN + "/")):
            return site + url[len(SITE_ORIGIN):]
        return url

    def _infra(self, exc: BaseException) -> InfrastructureError:
        return InfrastructureError(f"the browser failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")

    def _guard_alive(self, exc: BaseException) -> None:
        if isinstance(exc, InfrastructureError):
            raise exc
        if self._browser_failed(exc):
            raise self._infra(exc) from exc

    def _browser_failed(self, exc: BaseException) -> bool:
        """Whether `exc` comes from a dead browser or page (infrastructure) rather than from the
        agent's action. Playwright's messages echo the agent's own text (an unknown key, a URL, a
        selector), so a message that merely reads like a dead target's (`press("Target crashed")`)
        is believed only when the page then fails a probe of the env's own."""
        if not self.browser.alive or (self.page is not None and self.page.is_closed()) or self._crashed:
            return True
        if not is_dead_browser_error(exc):
            return False
        if self.page is None:
            return True
        try:
            self.page.evaluate("() => 1")
        except Exception as probe:
            return (not self.browser.alive or self.page.is_closed() or self._crashed
                    or is_dead_browser_error(probe))
        return False

    def _settle(self) -> None:
        try:
            self.page.wait_for_load_state("domcontentloaded", timeout=10000)
        except Exception as exc:
            self._guard_alive(exc)

    def _after_action(self, result: str, error: str | None = None, *, check_noop: bool = True) -> str:
        """Observe the page, emit step components, and build the observation text."""
        self._settle()
        previous = self._state
        try:
            self._state = self._read()
        except Exception as exc:
            self._guard_alive(exc)
            # a navigation raced the read: wait and read again
            self._settle()
            try:
                self._state = self._read()
            except Exception as exc2:
                self._guard_alive(exc2)
                raise ToolError(f"could not read the page: {exc2}") from exc2
        self._update_check()
        if (check_noop and not self._check.done and previous is not None
                and previous.signature() == self._state.signature()):
            self.emit("noop", 1.0)
        self._last_error = error
        error = self._shown(error) if error else error
        text = self._shown(format_observation(self._state, error=error, result=result))
        if self._check.done:
            self.finish()
            text += "\n\nThe task has ended."
        if error:
            raise ToolError(f"{error}\n\n{text}")
        return text

    def _update_check(self) -> None:
        assert self.task is not None
        try:
            check = self.suite.check(self.page, self.task, self._answer)
        except Exception as exc:
            self._guard_alive(exc)
            raise
        new = check.subgoals - self._reached
        if new and self.task.subgoals:
            known = [s for s in new if s in self.task.subgoals]
            if known:
                self.emit("subgoal", len(known) / len(self.task.subgoals))
        self._reached |= check.subgoals
        self._check = check

    def _element(self, element_id: str) -> tuple[Any, str]:
        """The element with this id and its tag name (one round trip); ToolError when absent."""
        if not _ID_OK.match(element_id):
            raise ToolError(f"invalid element id {element_id!r}: use an id shown in brackets, e.g. click(\"12\")")
        selector = f'[data-agentgym-id="{element_id}"]'
        tag = self.page.evaluate("(s) => { const e = document.querySelector(s); return e ? e.tagName : null; }", selector)
        if tag is None:
            raise ToolError(f"no element with id {element_id!r} on this page")
        return self.page.locator(selector).first, tag

    def _perform(self, description: str, fn: Any) -> str:
        """Run a page action; Playwright failures become error observations or infra errors."""
        if self.page is None:
            raise InfrastructureError("no browser page")
        error = None
        try:
            fn()
        except ToolError as exc:
            error = str(exc)
        except Exception as exc:
            self._guard_alive(exc)
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "Timeout" in type(exc).__name__ or "timeout" in message.lower():
                message = "the element could not be acted on in time (hidden, covered, disabled or detached)"
            error = f"{description} failed: {message}"
        return self._after_action(f"{description}." if error is None else "", error)

    # ------------------------------------------------------------------ tools
    @tool
    def click(self, id: str) -> str:
        """Click an element.

        Args:
            id: the element id shown in brackets, e.g. "12".
        """

        def run() -> None:
            element, tag = self._element(id)
            if tag == "OPTION":
                value = element.evaluate("e => { const s = e.closest('select'); s.value = e.value; "
                                         "s.dispatchEvent(new Event('input', {bubbles: true})); "
                                         "s.dispatchEvent(new Event('change', {bubbles: true})); return e.value; }")
                del value
                return
            element.click(timeout=self.action_timeout_ms)

        return self._perform(f"Clicked [{id}]", run)

    @tool
    def fill(self, id: str, text: str) -> str:
        """Replace the text of an input field or textarea.

        Args:
            id: the element id of the field.
            text: the text to type.
        """

        def run() -> None:
            element, _tag = self._element(id)
            element.fill(text, timeout=self.action_timeout_ms)

        return self._perform(f"Filled [{id}] with {text!r}", run)

    @tool
    def select(self, id: str, option: str) -> str:
        """Choose an option of a select (drop-down) element by its visible text or value.

        Args:
            id: the element id of the select.
            option: the option's text.
        """

        def run() -> None:
            element, tag = self._element(id)
            if tag != "SELECT":
                raise ToolError(f"element [{id}] is not a select; click it instead")
            labels = element.evaluate("e => Array.from(e.options).map(o => [o.text.trim(), o.value])")
            for label, value in labels:
                if option.strip().lower() in (label.lower(), value.lower()):
                    element.select_option(value=value, timeout=self.action_timeout_ms)
                    return
            raise ToolError(f"[{id}] has no option {option!r}; options: {', '.join(lab for lab, _ in labels)}")

        return self._perform(f"Selected {option!r} in [{id}]", run)

    @tool
    def press(self, key: str) -> str:
        """Press a key or key combination on the focused element (Enter, Tab, ArrowDown, Control+a, ...).

        Args:
            key: the key, in Playwright's names (e.g. "Enter", "Shift+Tab").
        """
        if not re.fullmatch(r"[A-Za-z0-9+_\- ]{1,40}|.", key):
            raise ToolError(f"invalid key {key!r}")
        return self._perform(f"Pressed {key}", lambda: self.page.keyboard.press(key))

    @tool
    def scroll(self, direction: Literal["up", "down", "left", "right"]) -> str:
        """Scroll the page by about one screen.

        Args:
            direction: up, down, left or right.
        """
        dx, dy = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[direction]
        script = f"window.scrollBy({dx} * window.innerWidth * 0.8, {dy} * window.innerHeight * 0.8)"
        return self._perform(f"Scrolled {direction}", lambda: self.page.evaluate(script))

    @tool
    def goto(self, url: str) -> str:
        """Open a URL inside the task's site.

        Args:
            url: an absolute URL, or a path relative to the current page.
        """
        from urllib.parse import urljoin

        assert self.task is not None
        target = urljoin(self.page.url, self._actual(url))
        if not url_allowed(target, self.task.allowed_origins):
            allowed = self._shown(", ".join(self.task.allowed_origins)) or "(none)"
            raise ToolError(f"goto({url!r}) is outside the task's allowed origins ({allowed})")
        return self._perform(f"Opened {self._shown(target)}",
                             lambda: self.page.goto(target, wait_until="domcontentloaded"))

    @tool
    def go_back(self) -> str:
        """Go back to the previous page."""
        return self._perform("Went back", lambda: self.page.go_back(wait_until="domcontentloaded"))

    @tool
    def answer(self, text: str) -> str:
        """Give the final answer (for questions about the page) and end the episode.

        Args:
            text: the answer.
        """
        self._answer = text
        self._update_check()
        self.finish()
        return f"Answer recorded: {text!r}. The episode has ended."

    # ------------------------------------------------------------------ text grammar
    def parse_text_action(self, text: str) -> list[ToolCall] | None:
        self._grammar_error = None
        try:
            return [parse_text_action(text)]
        except ActionSyntaxError as exc:
            if attempts_action(text):  # a malformed action: the agent sees what is wrong with it
                raise ActionParseError(f"{exc}. {_action_help()}") from None
            self._grammar_error = str(exc)  # prose without an action: `no_call_message` says why
            return None

    def no_call_message(self) -> str:
        reason = f" ({self._grammar_error})" if self._grammar_error else ""
        self._grammar_error = None
        return f"Error: no valid action found in your reply{reason}. {_action_help()}"

    # ------------------------------------------------------------------ episode end
    def score_episode(self, truncated: bool) -> dict[str, float | str]:
        assert self.task is not None
        if self.page is None or not self.browser.alive:
            raise InfrastructureError("the browser is gone; the episode cannot be graded")
        try:
            check = self.suite.check(self.page, self.task, self._answer)
        except Exception as exc:
            self._guard_alive(exc)
            # a check racing a navigation the last action started ("execution context was
            # destroyed"): let the page settle and grade again
            self._settle()
            try:
                check = self.suite.check(self.page, self.task, self._answer)
            except Exception as exc2:
                self._guard_alive(exc2)
                raise InfrastructureError(f"grading failed: {exc2}") from exc2
        self._check = check
        outcome = float(max(0.0, min(1.0, check.score)))
        reached = self._reached | check.subgoals
        n = len(self.task.subgoals)
        components: dict[str, float | str] = {
            "outcome": outcome,
            "subgoal_fraction": (len(reached & set(self.task.subgoals)) / n) if n else outcome,
        }
        for key, value in check.detail.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                components[key] = float(value)
        return components

    def episode_metrics(self, trajectory_components: dict[str, float | str]) -> dict[str, float]:
        return {
            "score": float(trajectory_components.get("outcome", 0.0)),
            "answered": float(self._answer is not None),
        }

    def oracle_actions(self) -> list[str | dict[str, Any] | ToolCall | list[ToolCall]] | None:
        if self.task is None or self.page is None:
            return None
        task = self.task
        actions = self.run_in_browser(lambda: self.suite.oracle(self.page, task))
        return list(actions) if actions is not None else None

    def close(self) -> None:
        if getattr(self, "_worker", None) is None:
            return  # never used since construction or the last close: no browser, no server
        try:
            super().close()  # ends an open episode, on the browser thread (`execute`)
            self.run_in_browser(self._release)
        finally:
            assert self._worker is not None
            self._worker.shutdown(wait=True)
            self._worker = None
            self._worker_thread = None

    def _release(self) -> None:
        try:
            self.suite.close()
        finally:
            self.browser.close()
            self.page = None


def _action_help() -> str:
    names = ", ".join(f"{n}({', '.join(p)})" for n, p in ACTIONS.items())
    return f"Reply with one action such as click(\"12\"), or a tool call. Actions: {names}."
