"""Custom web tasks from a file: JSONL (one task per line), or a JSON/YAML list.

Fields of one task:
  id            unique id
  goal          the goal text shown to the agent
  start_url     a URL (http(s):// or file://) ...
  html          ... or an inline HTML page, or
  html_file     a path (relative to the task file) of an HTML page; html pages are served by
                the env's local server at http://127.0.0.1:PORT/custom/<id>
  allowed_origins   where goto() may go (default: the start page's origin)
  success_js    a JavaScript expression, true when the task is solved, e.g.
                "document.querySelector('#status').textContent.includes('Saved')"
  success       a DOM predicate: {"selector": "#status", "text_contains": "Saved"}; keys:
                exists (bool), text, text_contains, value, checked (bool)
  answer        expected answer(s) for answer("..."): a string or a list (normalized match)
  subgoals      [{"name": "opened_form", "js": "<expression>"}, ...] (optional checklist)
  oracle        the gold action list, e.g. ["fill(\"name\", \"Ada\")", "click(\"save\")"]
  end_on_success    end the episode as soon as the check passes (default true)
At least one of success_js, success, answer is required.

`custom_web_task` turns a spec into the `WebTask` the env plays; the whole spec travels in the
task's hidden `spec` field, which the env's custom suite checks against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentgym.errors import TaskError

from .task import WebTask


class DomPredicate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selector: str
    exists: bool | None = None
    text: str | None = None
    text_contains: str | None = None
    value: str | None = None
    checked: bool | None = None


class Subgoal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    js: str


class CustomTaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    goal: str = Field(min_length=1)
    start_url: str | None = None
    html: str | None = None
    html_file: str | None = None
    allowed_origins: list[str] | None = None
    success_js: str | None = None
    success: DomPredicate | None = None
    answer: str | list[str] | None = None
    subgoals: list[Subgoal] = Field(default_factory=list)
    oracle: list[str] | None = None
    end_on_success: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CustomTaskSpec:
        sources = [x for x in (self.start_url, self.html, self.html_file) if x]
        if len(sources) != 1:
            raise ValueError("give exactly one of start_url, html, html_file")
        if not (self.success_js or self.success or self.answer):
            raise ValueError("give a success check: success_js, success (DOM predicate) or answer")
        return self


def _records(path: Path) -> list[tuple[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        out = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                out.append((f"{path}:{line_no}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise TaskError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
        return out
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise TaskError(f"{path}: cannot parse ({exc})") from None
    if isinstance(data, dict) and "tasks" in data:
        data = data["tasks"]
    if not isinstance(data, list):
        raise TaskError(f"{path}: expected a list of tasks (or {{tasks: [...]}})")
    return [(f"{path}: task {i + 1}", record) for i, record in enumerate(data)]


def load_custom_tasks(path: str | Path) -> list[CustomTaskSpec]:
    """Load and validate a custom task file; errors name the file, line/task and field."""
    path = Path(path)
    if not path.exists():
        raise TaskError(f"task file not found: {path}")
    tasks: list[CustomTaskSpec] = []
    for where, record in _records(path):
        try:
            task = CustomTaskSpec.model_validate(record)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "task"
            raise TaskError(f"{where}: {field}: {first['msg']}") from None
        if task.html_file:
            html_path = (path.parent / task.html_file).resolve()
            if not html_path.exists():
                raise TaskError(f"{where}: html_file not found: {html_path}")
            task = task.model_copy(update={"html": html_path.read_text(encoding="utf-8"), "html_file": None})
        tasks.append(task)
    ids = [t.id for t in tasks]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise TaskError(f"{path}: duplicate task ids: {', '.join(dupes)}")
    return tasks


def custom_web_task(spec: CustomTaskSpec) -> WebTask:
    """The `WebTask` of a custom task (its HTML, checks and subgoal scripts kept hidden in `spec`)."""
    return WebTask(id=spec.id, suite="custom", prompt=spec.goal, start_url=spec.start_url or f"/custom/{spec.id}",
                   allowed_origins=list(spec.allowed_origins or []), subgoals=[s.name for s in spec.subgoals],
                   oracle=spec.oracle, spec=spec.model_dump(mode="json"), metadata=dict(spec.metadata))
