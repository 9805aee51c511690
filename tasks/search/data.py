"""Question files: FlashRAG-style JSONL `{id, question, golden_answers}` with optional
`supporting_doc_ids` and `metadata`. Also accepted: `answer`/`answers` instead of
`golden_answers` (a string or a list)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from agentgym.errors import TaskError
from agentgym.task import Task, hidden


class QATask(Task):
    """A search-QA task: the question is public, answers and supporting documents are hidden."""

    question: str
    golden_answers: list[str] = hidden(default_factory=list)
    supporting_doc_ids: list[str] = hidden(default_factory=list)
    hops: int | None = Field(default=None)


def _record_to_task(rec: dict[str, Any], where: str) -> QATask:
    if not isinstance(rec, dict):
        raise TaskError(f"{where}: a question record must be a JSON object")
    for key in ("id", "question"):
        if key not in rec:
            raise TaskError(f"{where}: missing '{key}'")
    answers = rec.get("golden_answers", rec.get("answers", rec.get("answer")))
    if answers is None:
        raise TaskError(f"{where}: missing 'golden_answers'")
    if isinstance(answers, str):
        answers = [answers]
    if (
        not isinstance(answers, list)
        or not answers
        or not all(isinstance(a, str | int | float) for a in answers)
    ):
        raise TaskError(f"{where}: 'golden_answers' must be a non-empty list of strings")
    meta = dict(rec.get("metadata") or {})
    hops = meta.get("hops")
    return QATask(
        id=str(rec["id"]),
        prompt=str(rec["question"]),
        question=str(rec["question"]),
        golden_answers=[str(a) for a in answers],
        supporting_doc_ids=[str(d) for d in rec.get("supporting_doc_ids") or []],
        hops=int(hops) if hops is not None else None,
        metadata=meta,
    )


def load_questions(path: str | Path) -> list[QATask]:
    path = Path(path)
    if not path.exists():
        raise TaskError(f"question file not found: {path}")
    tasks: list[QATask] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TaskError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            task = _record_to_task(rec, f"{path}:{line_no}")
            if task.id in seen:
                raise TaskError(f"{path}:{line_no}: duplicate question id {task.id!r}")
            seen.add(task.id)
            tasks.append(task)
    return tasks


def task_to_record(task: QATask) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": task.id, "question": task.question, "golden_answers": task.golden_answers}
    if task.supporting_doc_ids:
        rec["supporting_doc_ids"] = task.supporting_doc_ids
    if task.metadata:
        rec["metadata"] = task.metadata
    return rec


def save_questions(records: list[dict[str, Any]] | list[QATask], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for rec in records:
            if isinstance(rec, QATask):
                rec = task_to_record(rec)
            handle.write(json.dumps(rec, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path
