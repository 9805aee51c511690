from __future__ import annotations

import pytest

pytest.importorskip("bm25s", reason="search tests need bm25s (pip install 'agentgym[search]')")


@pytest.fixture(scope="session")
def small_suite():
    from agentgym.tasks.search.suite import build_suite

    return build_suite(n_docs=1500, n_questions=240, seed=3)


@pytest.fixture(scope="session")
def small_bm25(small_suite):
    from agentgym.retrieval.bm25 import BM25Retriever

    return BM25Retriever.build(small_suite.corpus)
