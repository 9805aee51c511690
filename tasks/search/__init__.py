"""Search-QA task suites: a contamination-free synthetic world generator with multi-hop questions,
loaders for FlashRAG-style corpus/question JSONL files, and `search_tasks`, the `TaskSource` of
`agentgym/SearchQA-v0`."""

from agentgym.tasks.search.data import QATask, load_questions, save_questions
from agentgym.tasks.search.source import resolve_suite, search_tasks, suite_tasks
from agentgym.tasks.search.suite import SearchSuite, build_suite, default_suite, load_suite

__all__ = [
    "QATask",
    "SearchSuite",
    "build_suite",
    "default_suite",
    "load_questions",
    "load_suite",
    "resolve_suite",
    "save_questions",
    "search_tasks",
    "suite_tasks",
]
