"""Search-QA task suites: a contamination-free synthetic world generator with multi-hop questions,
and loaders for FlashRAG-style corpus/question JSONL files."""

from agentgym.tasks.search.data import QATask, load_questions, save_questions
from agentgym.tasks.search.suite import SearchSuite, build_suite, default_suite, load_suite

__all__ = [
    "QATask",
    "SearchSuite",
    "build_suite",
    "default_suite",
    "load_questions",
    "load_suite",
    "save_questions",
]
