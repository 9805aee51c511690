"""Custom tasks from a file (format: `agentgym.tasks.web.custom`): `suite="custom", task_file=...`.

Each task carries its whole spec (hidden); inline HTML pages are served by the env's server at
`/custom/<id>`, and the checks (a JS expression, a DOM predicate, an expected answer) and the
subgoal scripts run in the page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from agentgym.tasks.web.custom import CustomTaskSpec
from agentgym.tasks.web.task import WebTask

from .apps.server import AppServer
from .suite import Check, Suite, origin_of

PREDICATE_JS = """
(p) => { try {
  const el = document.querySelector(p.selector);
  if (p.exists === false) return el === null;
  if (!el) return false;
  const text = (el.innerText || el.textContent || '').replace(/\\s+/g, ' ').trim();
  if (p.text !== null && p.text !== undefined && text !== p.text) return false;
  if (p.text_contains !== null && p.text_contains !== undefined && !text.includes(p.text_contains)) return false;
  if (p.value !== null && p.value !== undefined && el.value !== p.value) return false;
  if (p.checked !== null && p.checked !== undefined && !!el.checked !== p.checked) return false;
  return true;
} catch (e) { return false; } }
"""


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .\"'")


class CustomSuite(Suite):
    name = "custom"

    def __init__(self) -> None:
        self.server: AppServer | None = None
        self._spec: CustomTaskSpec | None = None  # the current episode's

    def _spec_of(self, task: WebTask) -> CustomTaskSpec:
        if self._spec is None or self._spec.id != task.id:
            self._spec = CustomTaskSpec.model_validate(task.spec)
        return self._spec

    def start(self, page: Any, task: WebTask, seed: int) -> WebTask:
        self._spec = None
        spec = self._spec_of(task)
        if spec.html is not None:
            if self.server is None:
                self.server = AppServer()
            # only this episode's page is served: another task's page (whose check this one's might
            # pass) is not reachable with goto()
            self.server.static.clear()
            self.server.static[f"/custom/{spec.id}"] = spec.html
            url = self.server.url(f"/custom/{spec.id}")
        else:
            url = task.start_url
        allowed = task.allowed_origins or [origin_of(url)]
        page.goto(url, wait_until="load")
        return task.model_copy(update={"start_url": url, "allowed_origins": allowed})

    def check(self, page: Any, task: WebTask, answer: str | None) -> Check:
        spec = self._spec_of(task)
        # a served task's page checks hold on its own page only: they run in whatever page is open,
        # and an agent that navigated elsewhere on the server is not on the task's page
        on_page = spec.html is None or urlsplit(page.url).path == urlsplit(task.start_url).path
        results = []
        if spec.success_js:
            results.append(on_page and bool(page.evaluate(
                f"() => {{ try {{ return !!({spec.success_js}); }} catch (e) {{ return false; }} }}")))
        if spec.success is not None:
            results.append(on_page and bool(page.evaluate(PREDICATE_JS, spec.success.model_dump())))
        if spec.answer is not None:
            golds = [spec.answer] if isinstance(spec.answer, str) else spec.answer
            results.append(answer is not None and _norm(answer) in {_norm(g) for g in golds})
        success = all(results)
        reached = set()
        for subgoal in spec.subgoals if on_page else []:
            if page.evaluate(f"() => {{ try {{ return !!({subgoal.js}); }} catch (e) {{ return false; }} }}"):
                reached.add(subgoal.name)
        done = success and spec.end_on_success and spec.answer is None
        return Check(done=done, score=1.0 if success else 0.0, subgoals=reached)

    def site_origin(self) -> str | None:
        return self.server.origin if self.server is not None else None

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
