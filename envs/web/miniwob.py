"""MiniWoB++ in the browser: episode control, the outcome check, and oracles that read the page.

The tasks (one per page of the PyPI `miniwob` package, served from local `file://` URLs, and
the list of those left out) are task data: `agentgym.tasks.web.miniwob`. Episode control uses the
same JavaScript hooks as miniwob's own Python env (`miniwob/selenium_instance.py`):
`Math.seedrandom(seed)`, `core.startEpisodeReal()`, `WOB_TASK_READY`, and the result globals
`WOB_DONE_GLOBAL`, `WOB_RAW_REWARD_GLOBAL`, `WOB_REWARD_REASON`. The episode timer
(`core.EPISODE_MAX_TIME`, 10 s by default, far too short for an LLM) is raised to an hour. The outcome is 1 when the task's raw reward is > 0 (MiniWoB++'s
own success rule) and 0 otherwise; the raw reward in [-1, 1] is the `raw_reward` component.
"""

from __future__ import annotations

import re
import time
from typing import Any

from agentgym.errors import InfrastructureError, TaskError
from agentgym.rewards.components import trajectory_component
from agentgym.tasks.web.task import WebTask

from .suite import Check, Suite

EPISODE_MAX_TIME_MS = 3_600_000

START_JS = (
    "(seed) => { Math.seedrandom(seed); core.EPISODE_MAX_TIME = "
    + str(EPISODE_MAX_TIME_MS)
    + "; core.startEpisodeReal(); return [WOB_TASK_READY, core.getUtterance()]; }"
)

#: the task's result globals; all null on a page that is not a MiniWoB++ task (nothing to grade: 0)
STATE_JS = ("() => typeof WOB_DONE_GLOBAL === 'undefined' ? [false, 0, null, null] : "
            "[WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL, WOB_REWARD_REASON, WOB_TASK_READY]")


class MiniWoBSuite(Suite):
    name = "miniwob"
    root_selector = "body"
    hide_ids = ["reward-display", "sync-task-cover", "click-canvas"]
    screenshot_selector = "#wrap"
    components = (
        trajectory_component("raw_reward", -1.0, 1.0, description="the MiniWoB++ task's own reward (0 until it ends)"),
    )

    def start(self, page: Any, task: WebTask, seed: int) -> WebTask:
        page.goto(task.start_url, wait_until="load")
        ready, utterance = page.evaluate(START_JS, seed)
        deadline = time.monotonic() + 2.0
        while not ready:  # tasks that build their problem asynchronously
            if time.monotonic() > deadline:
                raise InfrastructureError(f"MiniWoB task {task.id} did not become ready")
            time.sleep(0.02)
            ready, utterance = page.evaluate("() => [WOB_TASK_READY, core.getUtterance()]")
        if isinstance(utterance, dict):  # some tasks return {utterance, fields} (as miniwob's own env handles)
            utterance = utterance.get("utterance", "")
        return task.model_copy(update={"prompt": utterance, "metadata": {**task.metadata, "seed": seed}})

    def check(self, page: Any, task: WebTask, answer: str | None) -> Check:
        done, raw, reason, _ready = page.evaluate(STATE_JS)
        try:
            raw = max(-1.0, min(1.0, float(raw or 0.0))) if done else 0.0
        except (TypeError, ValueError):
            raw = 0.0
        if raw != raw:  # NaN
            raw = 0.0
        return Check(done=bool(done), score=1.0 if done and raw > 0 else 0.0,
                     detail={"raw_reward": raw, "reason": reason})

    def oracle(self, page: Any, task: WebTask) -> list[str] | None:
        solver = ORACLES.get(task.id)
        if solver is None:
            return None
        return solver(page, task.prompt)


# ---------------------------------------------------------------------- oracles (read the task's DOM)
FIND_JS = """
([selector, text, attr]) => {
  const norm = s => (s || '').replace(/\\s+/g, ' ').trim();
  const area = document.querySelector('#area') || document.body;
  const candidates = [...area.querySelectorAll(selector), ...document.body.querySelectorAll(selector)];
  for (const el of candidates) {
    const value = attr ? el.getAttribute(attr) : norm(el.textContent);
    if (text === null || norm(value) === norm(text)) {
      let id = el.getAttribute('data-agentgym-id');
      if (!id) { if (window.__agNext === undefined) window.__agNext = 1; id = String(window.__agNext++); el.setAttribute('data-agentgym-id', id); }
      return id;
    }
  }
  return null;
}
"""


def _find(page: Any, selector: str, text: str | None = None, attr: str | None = None) -> str:
    found = page.evaluate(FIND_JS, [selector, text, attr])
    if found is None:
        raise TaskError(f"oracle: no {selector} with text {text!r}")
    return found


def _quoted(utterance: str) -> list[str]:
    return re.findall(r'"([^"]*)"', utterance)


def _click_button(page: Any, u: str) -> list[str]:
    return [f'click("{_find(page, "button", _quoted(u)[0])}")']


def _click_link(page: Any, u: str) -> list[str]:
    return [f'click("{_find(page, "span.alink", _quoted(u)[0])}")']


def _click_test(page: Any, u: str) -> list[str]:
    return [f'click("{_find(page, "button")}")']


def _click_test_2(page: Any, u: str) -> list[str]:
    label = re.search(r"button (\w+)", u).group(1)
    return [f'click("{_find(page, "button", label)}")']


def _focus_text(page: Any, u: str) -> list[str]:
    return [f'click("{_find(page, "input")}")']


def _enter_text(page: Any, u: str) -> list[str]:
    text = _quoted(u)[0]
    return [f'fill("{_find(page, "input")}", {text!r})'.replace("'", '"'), f'click("{_find(page, "button")}")']


def _enter_password(page: Any, u: str) -> list[str]:
    password = _quoted(u)[0]
    first = _find(page, "input#password")
    second = _find(page, "input#verify")
    return [f'fill("{first}", "{password}")', f'fill("{second}", "{password}")', f'click("{_find(page, "button")}")']


def _login_user(page: Any, u: str) -> list[str]:
    user, password = _quoted(u)[:2]
    return [f'fill("{_find(page, "input#username")}", "{user}")',
            f'fill("{_find(page, "input#password")}", "{password}")',
            f'click("{_find(page, "button")}")']


def _click_dialog_2(page: Any, u: str) -> list[str]:
    if _quoted(u)[0].lower() == "x":
        return _click_dialog(page, u)
    return [f'click("{_find(page, ".ui-dialog button", _quoted(u)[0])}")']


def _click_dialog(page: Any, u: str) -> list[str]:
    return [f'click("{_find(page, "button.ui-dialog-titlebar-close")}")']


def _click_option(page: Any, u: str) -> list[str]:
    label = re.match(r"Select (.*) and click Submit\.", u).group(1)
    radio = page.evaluate(
        """(label) => { for (const l of document.querySelectorAll('#area label')) {
             if (l.textContent.trim() === label) { const i = l.querySelector('input');
               if (!i.getAttribute('data-agentgym-id')) i.setAttribute('data-agentgym-id', 'o' + (window.__agNext++));
               return i.getAttribute('data-agentgym-id'); } } return null; }""",
        label,
    )
    return [f'click("{radio}")', f'click("{_find(page, "button")}")']


def _click_checkboxes(page: Any, u: str) -> list[str]:
    body = re.match(r"Select (.*) and click Submit\.", u).group(1)
    words = [] if body.strip() == "nothing" else [w.strip() for w in body.split(",") if w.strip()]
    actions = []
    for word in words:
        found = page.evaluate(
            """(word) => { for (const l of document.querySelectorAll('#area label')) {
                 if (l.textContent.trim() === word) { const i = l.querySelector('input');
                   if (!i.getAttribute('data-agentgym-id')) i.setAttribute('data-agentgym-id', 'c' + (window.__agNext++));
                   return i.getAttribute('data-agentgym-id'); } } return null; }""",
            word,
        )
        actions.append(f'click("{found}")')
    return actions + [f'click("{_find(page, "button")}")']


def _choose_list(page: Any, u: str) -> list[str]:
    item = re.match(r"Select (.*) from the list and click Submit\.", u).group(1)
    return [f'select("{_find(page, "select")}", "{item}")', f'click("{_find(page, "button")}")']


def _click_tab(page: Any, u: str) -> list[str]:
    number = re.search(r"Tab #(\d+)", u).group(1)
    return [f'click("{_find(page, "a", "Tab #" + number)}")']


ORACLES = {
    "click-button": _click_button,
    "click-link": _click_link,
    "click-test": _click_test,
    "click-test-2": _click_test_2,
    "focus-text": _focus_text,
    "enter-text": _enter_text,
    "enter-password": _enter_password,
    "login-user": _login_user,
    "click-dialog": _click_dialog,
    "click-dialog-2": _click_dialog_2,
    "click-option": _click_option,
    "click-checkboxes": _click_checkboxes,
    "choose-list": _choose_list,
    "click-tab": _click_tab,
}
