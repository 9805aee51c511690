"""Hybrid ranking: reciprocal rank fusion (RRF) of several retrievers over the same corpus.

score(d) = sum over retrievers of 1 / (rrf_k + rank(d)), rank 1-based; documents a retriever did
not return (within `depth`) get nothing from it. Ties go to the document ranked best by any
retriever, then to corpus order.
"""

from __future__ import annotations

from agentgym.retrieval.types import Hit, Retriever


class HybridRetriever:
    name = "hybrid"

    def __init__(
        self,
        retrievers: list[Retriever],
        rrf_k: int = 60,
        depth: int = 50,
        weights: list[float] | None = None,
    ):
        if not retrievers:
            raise ValueError("a hybrid retriever needs at least one retriever")
        self.retrievers = retrievers
        self.rrf_k = rrf_k
        self.depth = depth
        self.weights = weights or [1.0] * len(retrievers)
        self.corpus = getattr(retrievers[0], "corpus", None)

    def _fuse(self, ranked: list[list[Hit]], k: int) -> list[Hit]:
        fused: dict[str, float] = {}
        best_rank: dict[str, int] = {}
        hits: dict[str, Hit] = {}
        for weight, hits_i in zip(self.weights, ranked, strict=True):
            for h in hits_i:
                fused[h.doc_id] = fused.get(h.doc_id, 0.0) + weight / (self.rrf_k + h.rank + 1)
                best_rank[h.doc_id] = min(best_rank.get(h.doc_id, h.rank), h.rank)
                hits.setdefault(h.doc_id, h)
        order = sorted(fused, key=lambda d: (-fused[d], best_rank[d], d))[:k]
        return [Hit(d, fused[d], rank, hits[d].title, hits[d].text) for rank, d in enumerate(order)]

    def search(self, query: str, k: int = 5) -> list[Hit]:
        depth = max(self.depth, k)
        return self._fuse([r.search(query, depth) for r in self.retrievers], k)

    def batch_search(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        depth = max(self.depth, k)
        per = [r.batch_search(queries, depth) for r in self.retrievers]
        return [self._fuse([p[i] for p in per], k) for i in range(len(queries))]
