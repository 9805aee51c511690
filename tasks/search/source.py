"""The tasks of `agentgym/SearchQA-v0` as a `TaskSource`, listable without building the env (no
retriever, no index): a suite chosen by the same keyword arguments the env takes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from agentgym.errors import TaskError
from agentgym.task import TaskSource
from agentgym.tasks.search.data import QATask
from agentgym.tasks.search.suite import DEFAULT_SUITE, SearchSuite


def resolve_suite(
    suite: SearchSuite | str | Path | None = None,
    corpus: str | Path | None = None,
    questions: str | Path | None = None,
    n_docs: int = DEFAULT_SUITE["n_docs"],
    n_questions: int = DEFAULT_SUITE["n_questions"],
    world_seed: int = DEFAULT_SUITE["seed"],
) -> SearchSuite:
    """The suite named by the env's keyword arguments: a `SearchSuite` as given; two files
    (`corpus`, `questions`) or a suite directory; else a generated world (the built-in default
    suite unless `suite="generated"` or the sizes or seed differ from it)."""
    from agentgym.tasks.search.suite import default_suite, generated_suite, load_suite

    if isinstance(suite, SearchSuite):
        return suite
    if corpus or questions:
        return load_suite(suite, corpus=corpus, questions=questions)
    if suite not in (None, "default", "generated"):
        return load_suite(suite)
    default = (DEFAULT_SUITE["n_docs"], DEFAULT_SUITE["n_questions"], DEFAULT_SUITE["seed"])
    if suite == "generated" or (n_docs, n_questions, world_seed) != default:
        return generated_suite(n_docs, n_questions, world_seed)
    return default_suite()


def filter_hops(suite: SearchSuite, hops: Iterable[int] | int | None) -> list[QATask]:
    """The suite's questions with one of the given hop counts (all of them for None); a
    `TaskError` when none is left."""
    tasks = suite.tasks
    if hops is not None:
        wanted = {int(hops)} if isinstance(hops, int) else {int(h) for h in hops}
        tasks = [t for t in tasks if t.hops in wanted]
    if not tasks:
        raise TaskError(f"no questions left in suite {suite.name!r} (hops filter {hops!r})")
    return list(tasks)


def suite_tasks(suite: SearchSuite, hops: Iterable[int] | int | None = None) -> TaskSource[QATask]:
    """The questions of a loaded suite (optionally only some hop counts) as a `TaskSource`;
    train/test split by each question id's stable hash."""
    return TaskSource(filter_hops(suite, hops), name=f"search suite {suite.name!r}")


def search_tasks(
    suite: SearchSuite | str | Path | None = None,
    corpus: str | Path | None = None,
    questions: str | Path | None = None,
    n_docs: int = DEFAULT_SUITE["n_docs"],
    n_questions: int = DEFAULT_SUITE["n_questions"],
    world_seed: int = DEFAULT_SUITE["seed"],
    hops: Iterable[int] | int | None = None,
) -> TaskSource[QATask]:
    """The tasks of `agentgym/SearchQA-v0` for these env keyword arguments (the suite is loaded or
    generated on first use, so listing the registered envs stays cheap)."""
    return TaskSource(
        lambda: filter_hops(resolve_suite(suite, corpus, questions, n_docs, n_questions, world_seed), hops),
        name="SearchQA tasks",
    )
