"""BM25 retrieval, index persistence, corpus files, hybrid fusion and the retrieval server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from agentgym.retrieval import Corpus, Hit, split_contents
from agentgym.retrieval._kernels import NUMBA_AVAILABLE, topk_scores
from agentgym.retrieval.bm25 import BM25Retriever
from agentgym.retrieval.hybrid import HybridRetriever
from agentgym.retrieval.server import RemoteRetriever, RetrievalServer


def test_single_hop_recall_at_5(small_suite, small_bm25):
    single = [t for t in small_suite.tasks if t.hops == 1]
    assert len(single) >= 20
    found = sum(
        t.supporting_doc_ids[0] in {h.doc_id for h in small_bm25.search(t.question, 5)} for t in single
    )
    assert found / len(single) >= 0.8


def test_saved_index_gives_identical_rankings(tmp_path, small_suite, small_bm25):
    small_bm25.save(tmp_path / "idx")
    loaded = BM25Retriever.load(tmp_path / "idx")
    for mmap in (False, True):
        loaded = BM25Retriever.load(tmp_path / "idx", mmap=mmap)
        for task in small_suite.tasks[:60]:
            a = small_bm25.search(task.question, 10)
            b = loaded.search(task.question, 10)
            assert [h.doc_id for h in a] == [h.doc_id for h in b]
            assert [h.score for h in a] == [h.score for h in b]
            assert [h.text for h in a] == [h.text for h in b]


@pytest.mark.skipif(not NUMBA_AVAILABLE, reason="numba not installed: only the numpy kernel exists")
def test_numba_and_numpy_kernels_agree(small_suite, small_bm25):
    r = small_bm25
    for task in small_suite.tasks[:80]:
        q = r.query_ids(task.question)
        a_idx, a_sc = topk_scores(r._data, r._indices, r._indptr, r._num_docs, q, 7, backend="numba")
        b_idx, b_sc = topk_scores(r._data, r._indices, r._indptr, r._num_docs, q, 7, backend="numpy")
        assert a_idx.tolist() == b_idx.tolist()
        np.testing.assert_allclose(a_sc, b_sc, rtol=1e-6)


def test_rankings_match_bm25s_own_retrieval(small_suite, small_bm25):
    """Our kernel ranks like bm25s's retrieve() on the same index (scores equal up to float error)."""
    r = small_bm25
    for task in small_suite.tasks[:40]:
        q = r.query_ids(task.question)
        if not q:
            continue
        docs, scores = r.model.retrieve([q], k=5, show_progress=False, backend_selection="numpy")
        ours = r.search_indices(task.question, 5)
        np.testing.assert_allclose(np.sort(scores[0])[::-1], ours[1], rtol=1e-5)
        # same documents above the k-th score (documents tied at the k-th score may differ)
        kth = ours[1][-1]
        theirs_above = {int(d) for d, s in zip(docs[0], scores[0], strict=True) if s > kth + 1e-4}
        ours_above = {int(d) for d, s in zip(*ours, strict=True) if s > kth + 1e-4}
        assert theirs_above == ours_above


def test_tie_break_and_no_match():
    corpus = Corpus(["a", "b", "c"], ["", "", ""], ["apple pie", "apple pie", "banana split"])
    r = BM25Retriever.build(corpus, stemmer=None)
    assert [h.doc_id for h in r.search("apple", 3)] == ["a", "b"]  # equal scores: corpus order
    assert r.search("zucchini", 3) == []
    assert r.search("", 3) == []


def test_corpus_jsonl_roundtrip_and_flashrag_titles(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps({"id": "1", "contents": '"Quoted Title"\nbody text'})
        + "\n"
        + json.dumps({"id": "2", "title": "T2", "text": "second"})
        + "\n",
        encoding="utf-8",
    )
    c = Corpus.load_jsonl(path)
    assert c.get("1") == ("Quoted Title", "body text") and c.get("2") == ("T2", "second")
    c.save_jsonl(tmp_path / "out.jsonl.gz")
    assert Corpus.load_jsonl(tmp_path / "out.jsonl.gz").texts == c.texts
    assert split_contents("no title line") == ("", "no title line")


def test_corpus_errors_name_the_line(tmp_path):
    from agentgym.retrieval import CorpusError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "1", "contents": "x"}\n{"id": "2"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=":2:"):
        Corpus.load_jsonl(path)
    path.write_text('{"id": "1", "contents": "x"}\n{"id": "1", "contents": "y"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="duplicate"):
        Corpus.load_jsonl(path)


class _Fixed:
    def __init__(self, name, order):
        self.name = name
        self.order = order

    def search(self, query, k=5):
        return [Hit(d, 1.0 / (i + 1), i, d, d) for i, d in enumerate(self.order[:k])]

    def batch_search(self, queries, k=5):
        return [self.search(q, k) for q in queries]


def test_reciprocal_rank_fusion():
    h = HybridRetriever([_Fixed("x", ["a", "b", "c"]), _Fixed("y", ["c", "b", "d"])], rrf_k=60)
    ranked = [hit.doc_id for hit in h.search("q", 4)]
    # c: 1/61 + 1/63 = 0.032266 > b: 2/62 = 0.032258 > a: 1/61 > d: 1/63
    assert ranked == ["c", "b", "a", "d"]
    assert [x.doc_id for x in h.batch_search(["q"], 4)[0]] == ranked
    weighted = HybridRetriever(
        [_Fixed("x", ["a", "b", "c"]), _Fixed("y", ["c", "b", "d"])], weights=[1.0, 0.0]
    )
    assert weighted.search("q", 1)[0].doc_id == "a"


def _post(url, payload):
    req = urllib.request.Request(
        url + "/retrieve", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_server_answers_search_r1_requests(small_suite, small_bm25):
    questions = [t.question for t in small_suite.tasks[:3]]
    with RetrievalServer(small_bm25) as server:
        body = _post(server.url, {"queries": questions, "topk": 2, "return_scores": True})
        assert len(body["result"]) == 3
        for q, items in zip(questions, body["result"], strict=True):
            assert len(items) == 2
            expected = small_bm25.search(q, 2)
            assert [i["document"]["id"] for i in items] == [h.doc_id for h in expected]
            assert items[0]["document"]["contents"].split("\n")[0] == expected[0].title
            assert items[0]["score"] == pytest.approx(expected[0].score)
        plain = _post(server.url, {"queries": questions[:1], "topk": 1, "return_scores": False})
        assert set(plain["result"][0][0]) == {"id", "contents"}
        with pytest.raises(urllib.error.HTTPError) as err:
            _post(server.url, {"queries": "not", "topk": -1})
        assert err.value.code == 400
        remote = RemoteRetriever(server.url)
        hits = remote.search(questions[0], 3)
        assert [h.doc_id for h in hits] == [h.doc_id for h in small_bm25.search(questions[0], 3)]
        remote.close()


def test_build_pauses_the_garbage_collector_and_restores_it_as_it_was():
    """The bulk build runs with the cyclic collector off (speed), and leaves it as it found it,
    even when the build fails."""
    import gc

    corpus = Corpus(["a", "b"], ["A", "B"], ["alpha beta", "beta gamma"])
    assert gc.isenabled()
    BM25Retriever.build(corpus)
    assert gc.isenabled()
    gc.disable()
    try:
        BM25Retriever.build(corpus)
        assert not gc.isenabled()  # a caller who turned it off keeps it off
    finally:
        gc.enable()
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the build
        BM25Retriever.build(corpus, method="no-such-method")
    assert gc.isenabled()
