"""Search-QA suites: a corpus plus questions, generated or loaded from files.

The default suite is generated on first use (3,000 documents, 600 questions, seed 0; about a
second) and kept in memory; `build_suite(...).save(dir)` writes it as FlashRAG-style files
(`corpus.jsonl`, `questions.jsonl`, `suite.json`) that `load_suite(dir)` reads back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentgym.errors import TaskError
from agentgym.retrieval.corpus import Corpus
from agentgym.tasks.search.data import QATask, load_questions, save_questions

DEFAULT_SUITE = {"n_docs": 3000, "n_questions": 600, "seed": 0}
GENERATOR_VERSION = 1


@dataclass
class SearchSuite:
    name: str
    corpus: Corpus
    tasks: list[QATask]
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def task(self, task_id: str) -> QATask:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise TaskError(f"unknown task id {task_id!r} in suite {self.name!r}")

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.corpus.save_jsonl(directory / "corpus.jsonl")
        save_questions(self.tasks, directory / "questions.jsonl")
        meta = {
            "name": self.name,
            "num_docs": len(self.corpus),
            "num_questions": len(self.tasks),
            **self.info,
        }
        (directory / "suite.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        self.path = directory
        return directory


def build_suite(
    n_docs: int = 3000,
    n_questions: int = 600,
    seed: int = 0,
    hops: dict[int, float] | None = None,
    comparison_share: float = 0.25,
    name: str | None = None,
) -> SearchSuite:
    """Generate a world of `n_docs` documents and `n_questions` questions (deterministic)."""
    from agentgym.tasks.search.data import _record_to_task
    from agentgym.tasks.search.documents import world_corpus
    from agentgym.tasks.search.questions import QuestionGenerator
    from agentgym.tasks.search.world import generate_world, world_summary

    world = generate_world(n_docs=n_docs, seed=seed)
    corpus = world_corpus(world)
    questions = QuestionGenerator(world, seed=seed).generate(
        n_questions, hops=hops, comparison_share=comparison_share, id_prefix=f"fw{seed}-"
    )
    tasks = [_record_to_task(q.to_record(), q.id) for q in questions]
    info = {
        "generator": "agentgym.tasks.search (fictional world)",
        "generator_version": GENERATOR_VERSION,
        "world": world_summary(world),
        "n_questions": n_questions,
        "hops": {str(k): v for k, v in (hops or {}).items()},
        "comparison_share": comparison_share,
    }
    return SearchSuite(name or f"fictional-{n_docs}-s{seed}", corpus, tasks, info)


@lru_cache(maxsize=4)
def _cached_suite(n_docs: int, n_questions: int, seed: int) -> SearchSuite:
    return build_suite(n_docs=n_docs, n_questions=n_questions, seed=seed, name=f"fictional-{n_docs}-s{seed}")


def default_suite() -> SearchSuite:
    """The built-in suite (generated once per process)."""
    return _cached_suite(**DEFAULT_SUITE)


def generated_suite(n_docs: int, n_questions: int, seed: int) -> SearchSuite:
    """A generated suite, memoized per process (envs made with the same arguments share it)."""
    return _cached_suite(int(n_docs), int(n_questions), int(seed))


def load_suite(
    directory: str | Path | None = None,
    *,
    corpus: str | Path | None = None,
    questions: str | Path | None = None,
) -> SearchSuite:
    """A suite from a directory (`corpus.jsonl` + `questions.jsonl`) or from two explicit files."""
    if directory is not None:
        directory = Path(directory)
        corpus = corpus or directory / "corpus.jsonl"
        questions = questions or directory / "questions.jsonl"
    if corpus is None or questions is None:
        raise TaskError("load_suite needs a directory or both corpus= and questions=")
    info: dict[str, Any] = {}
    meta_path = (Path(directory) if directory is not None else Path(questions).parent) / "suite.json"
    if meta_path.exists():
        info = json.loads(meta_path.read_text(encoding="utf-8"))
    corpus_obj = Corpus.load_jsonl(corpus)
    tasks = load_questions(questions)
    name = str(info.get("name") or Path(questions).stem)
    return SearchSuite(name, corpus_obj, tasks, info, Path(directory) if directory else None)
