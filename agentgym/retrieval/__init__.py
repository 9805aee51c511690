"""Retrieval for search environments: BM25 (bm25s + numba), dense (MiniLM), hybrid (RRF), and a
Search-R1-compatible HTTP retrieval server. Heavy dependencies load only when used."""

from agentgym.retrieval.corpus import Corpus, CorpusError, split_contents
from agentgym.retrieval.types import Hit, Retriever

__all__ = ["Corpus", "CorpusError", "Hit", "Retriever", "split_contents", "load_retriever", "build_retriever"]


def __getattr__(name: str):
    if name in ("load_retriever", "build_retriever"):
        from agentgym.retrieval import factory

        return getattr(factory, name)
    raise AttributeError(name)
