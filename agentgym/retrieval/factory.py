"""Build or load retrievers by name, memoized per process so many envs share one index (BM25
indexes also on disk across processes: `agentgym.retrieval.index_cache`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from agentgym.retrieval.corpus import Corpus
from agentgym.retrieval.types import Retriever

KINDS = ("bm25", "dense", "hybrid")
_CACHE: dict[tuple[Any, ...], Retriever] = {}
_LOCK = threading.Lock()


def build_retriever(corpus: Corpus, kind: str = "bm25", **options: Any) -> Retriever:
    """A new retriever over `corpus`: "bm25", "dense" (MiniLM) or "hybrid" (RRF of both)."""
    if kind == "bm25":
        from agentgym.retrieval.bm25 import BM25Retriever

        return BM25Retriever.build(corpus, **options)
    if kind == "dense":
        from agentgym.retrieval.dense import DenseRetriever

        return DenseRetriever.build(corpus, **options)
    if kind == "hybrid":
        from agentgym.retrieval.bm25 import BM25Retriever
        from agentgym.retrieval.dense import DenseRetriever
        from agentgym.retrieval.hybrid import HybridRetriever

        return HybridRetriever([BM25Retriever.build(corpus), DenseRetriever.build(corpus, **options)])
    raise ValueError(f"unknown retriever kind {kind!r}; expected one of {KINDS}")


def load_retriever(directory: str | Path, **options: Any) -> Retriever:
    """Load a saved index directory (BM25 or dense; a hybrid directory holds one of each)."""
    directory = Path(directory)
    from agentgym.retrieval.bm25 import META_FILE as BM25_META
    from agentgym.retrieval.bm25 import BM25Retriever
    from agentgym.retrieval.dense import META_FILE as DENSE_META
    from agentgym.retrieval.dense import DenseRetriever

    if (directory / BM25_META).exists():
        return BM25Retriever.load(directory, **options)
    if (directory / DENSE_META).exists():
        return DenseRetriever.load(directory)
    if (directory / "bm25" / BM25_META).exists() and (directory / "dense" / DENSE_META).exists():
        from agentgym.retrieval.hybrid import HybridRetriever

        return HybridRetriever(
            [BM25Retriever.load(directory / "bm25"), DenseRetriever.load(directory / "dense")]
        )
    raise FileNotFoundError(f"no agentgym index in {directory}")


def retriever_for_corpus(
    corpus: Corpus, kind: str = "bm25", index: str | Path | None = None, cache_key: str | None = None
) -> Retriever:
    """A shared retriever: loaded from `index` or built over `corpus`, once per process and key."""
    key = ("index", str(Path(index).resolve())) if index else (cache_key or id(corpus), kind, len(corpus))
    with _LOCK:
        found = _CACHE.get(key)
        if found is None:
            if index:
                found = load_retriever(index)
            elif kind == "bm25":  # built once per corpus content, then loaded from the disk cache
                from agentgym.retrieval.index_cache import cached_bm25

                found = cached_bm25(corpus)
            else:
                found = build_retriever(corpus, kind)
            _CACHE[key] = found
        return found
