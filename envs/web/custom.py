"""Custom tasks from a file (format: `agentgym.tasks.web.custom`): `suite="custom", task_file=...`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.errors import TaskError
from agentgym.tasks.web.custom import CustomTaskSpec, load_custom_tasks

from .apps.server import AppServer
from .suite import Check, Suite, WebTask, origin_of

PREDICATE_JS = """
(p) => {
  const el = document.querySelector(p.selector);
  if (p.exists === false) return el === null;
  if (!el) return false;
  const text = (el.innerText || el.textContent || '').replace(/\\s+/g, ' ').trim();
  if (p.text !== null && p.text !== undefined && text !== p.text) return false;
  if (p.text_contains !== null && p.text_contains !== undefined && !text.includes(p.text_contains)) return false;
  if (p.value !== null && p.value !== undefined && el.value !== p.value) return false;
  if (p.checked !== null && p.checked !== undefined && !!el.checked !== p.checked) return false;
  return true;
}
"""


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .\"'")


class CustomSuite(Suite):
    name = "custom"

    def __init__(self, task_file: str | Path | None = None, tasks: list[CustomTaskSpec] | None = None) -> None:
        if tasks is None:
            if task_file is None:
                raise TaskError('suite="custom" needs task_file=PATH (see agentgym.tasks.web.custom)')
            tasks = load_custom_tasks(task_file)
        self.specs = {t.id: t for t in tasks}
        self.server: AppServer | None = None

    def task_ids(self) -> list[str]:
        return list(self.specs)

    def get_task(self, task_id: str) -> WebTask:
        spec = self.specs.get(task_id)
        if spec is None:
            raise TaskError(f"unknown custom task {task_id!r}; tasks: {', '.join(list(self.specs)[:10])}")
        return WebTask(id=spec.id, suite="custom", prompt=spec.goal, start_url=spec.start_url or f"/custom/{spec.id}",
                       allowed_origins=list(spec.allowed_origins or []), subgoals=[s.name for s in spec.subgoals],
                       oracle=spec.oracle, metadata=dict(spec.metadata))

    def start(self, env: Any, page: Any, task: WebTask, seed: int) -> WebTask:
        spec = self.specs[task.id]
        if spec.html is not None:
            if self.server is None:
                self.server = AppServer()
            self.server.static[f"/custom/{spec.id}"] = spec.html
            url = self.server.url(f"/custom/{spec.id}")
        else:
            url = task.start_url
        allowed = task.allowed_origins or [origin_of(url)]
        page.goto(url, wait_until="load")
        return task.model_copy(update={"start_url": url, "allowed_origins": allowed})

    def check(self, page: Any, task: WebTask, answer: str | None) -> Check:
        spec = self.specs[task.id]
        results = []
        if spec.success_js:
            results.append(bool(page.evaluate(f"() => {{ try {{ return !!({spec.success_js}); }} catch (e) {{ return false; }} }}")))
        if spec.success is not None:
            results.append(bool(page.evaluate(PREDICATE_JS, spec.success.model_dump())))
        if spec.answer is not None:
            golds = [spec.answer] if isinstance(spec.answer, str) else spec.answer
            results.append(answer is not None and _norm(answer) in {_norm(g) for g in golds})
        success = all(results)
        reached = set()
        for subgoal in spec.subgoals:
            if page.evaluate(f"() => {{ try {{ return !!({subgoal.js}); }} catch (e) {{ return false; }} }}"):
                reached.add(subgoal.name)
        done = success and spec.end_on_success and spec.answer is None
        return Check(done=done, score=1.0 if success else 0.0, success=success, subgoals=reached)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
