"""BM25 retrieval on bm25s indexes: build, save, load, search.

The index is bm25s's (Lucene BM25 variant by default, scores precomputed per term and document in
a sparse CSC matrix). Queries on large corpora run through a numba-compiled top-k kernel when numba
is installed (sub-millisecond at 100k documents), on small ones through numpy (no JIT to start);
both return the same rankings, ties broken by corpus order. Saved indexes hold bm25s's files, the
tokenizer settings and the corpus, so `BM25Retriever.load(dir)` needs nothing else.
`agentgym.retrieval.index_cache` keeps built indexes on disk, keyed by the corpus content.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.retrieval._kernels import resolve_backend, topk_scores
from agentgym.retrieval.corpus import Corpus
from agentgym.retrieval.tokenizer import WordTokenizer
from agentgym.retrieval.types import Hit

FORMAT_VERSION = 1
META_FILE = "agentgym_bm25.json"
CORPUS_FILE = "corpus.jsonl"


def _require_bm25s():
    try:
        import bm25s
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("BM25 retrieval needs bm25s: pip install 'agentgym[search]'") from exc
    return bm25s


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a bulk build, on again after (as it was).

    Tokenizing 100k documents makes ~100k lists holding ~2.5M ids, all alive until the index is
    built and none in a reference cycle; each collection the allocations trigger rescans them for
    nothing. Measured at 100k documents: the tokenize step took 1.9-3.0 s with the collector on,
    1.7-2.1 s with it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class BM25Retriever:
    """A BM25 index over a `Corpus`."""

    name = "bm25"

    def __init__(
        self,
        corpus: Corpus,
        model: Any,
        tokenizer: WordTokenizer,
        backend: str = "auto",
        *,
        scores: dict[str, Any] | None = None,
        vocab: dict[str, int] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        """From a bm25s model, or (model None) from its score matrix, vocabulary and parameters."""
        self.corpus = corpus
        self._model = model  # bm25s.BM25, made on demand when the index came from arrays
        self.tokenizer = tokenizer
        self.backend = backend
        if model is not None:
            vocab, scores = model.vocab_dict, model.scores
            params = {"k1": model.k1, "b": model.b, "method": model.method}
        if scores is None or vocab is None:
            raise ValueError("BM25Retriever needs a bm25s model, or scores and vocab")
        self.vocab: dict[str, int] = vocab
        self.params: dict[str, Any] = dict(params or {})
        self._data = np.ascontiguousarray(scores["data"])
        self._indices = np.ascontiguousarray(scores["indices"]).astype(np.int64, copy=False)
        self._indptr = np.ascontiguousarray(scores["indptr"]).astype(np.int64, copy=False)
        self._num_docs = int(scores["num_docs"])
        self.build_seconds: float | None = None
        if self.backend_name == "numba":  # compile (or load the cached machine code) now, not in a step
            topk_scores(self._data, self._indices, self._indptr, self._num_docs, [0], 1, backend="numba")

    @property
    def backend_name(self) -> str:
        return resolve_backend(self.backend, self._num_docs)

    def score_arrays(self) -> dict[str, Any]:
        """The CSC score matrix: data, indices, indptr, num_docs."""
        return {"data": self._data, "indices": self._indices, "indptr": self._indptr, "num_docs": self._num_docs}

    @property
    def model(self) -> Any:
        """The bm25s model (rebuilt from the score matrix when the index was loaded from arrays)."""
        if self._model is None:
            bm25s = _require_bm25s()
            model = bm25s.BM25(**self.params, backend="numpy")
            model.scores = self.score_arrays()
            model.vocab_dict = self.vocab
            model.nonoccurrence_array = None  # our kernels score without it
            self._model = model
        return self._model

    # ------------------------------------------------------------------ build / save / load
    @classmethod
    def build(
        cls,
        corpus: Corpus,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
        stemmer: str | None = "english",
        backend: str = "auto",
    ) -> BM25Retriever:
        bm25s = _require_bm25s()
        from bm25s.tokenization import Tokenized

        started = time.perf_counter()
        tokenizer = WordTokenizer(stemmer=stemmer)
        vocab: dict[str, int] = {}
        with _gc_paused():
            ids = tokenizer.tokenize_to_ids(corpus.index_texts(), vocab, grow=True)
            model = bm25s.BM25(k1=k1, b=b, method=method)
            model.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
        retriever = cls(corpus, model, tokenizer, backend=backend)
        retriever.build_seconds = time.perf_counter() - started
        return retriever

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(str(directory), show_progress=False)
        self.corpus.save_jsonl(directory / CORPUS_FILE)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": "bm25",
            "num_docs": len(self.corpus),
            "tokenizer": self.tokenizer.config(),
            "params": {"k1": self.model.k1, "b": self.model.b, "method": self.model.method},
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path, *, backend: str = "auto", mmap: bool = False) -> BM25Retriever:
        bm25s = _require_bm25s()
        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.exists():
            raise FileNotFoundError(f"not an agentgym BM25 index (no {META_FILE}): {directory}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{directory}: index format {meta.get('format_version')} != {FORMAT_VERSION}")
        model = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False, verbosity=0)
        corpus = Corpus.load_jsonl(directory / CORPUS_FILE)
        tokenizer = WordTokenizer(**meta["tokenizer"])
        return cls(corpus, model, tokenizer, backend=backend)

    # ------------------------------------------------------------------ search
    def query_ids(self, query: str) -> list[int]:
        vocab = self.vocab
        return [vocab[t] for t in self.tokenizer.tokenize(query) if t in vocab]

    def search_indices(self, query: str, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(corpus positions, scores), best first."""
        qids = self.query_ids(query)
        if not qids or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        return topk_scores(
            self._data, self._indices, self._indptr, self._num_docs, qids, k, backend=self.backend_name
        )

    def search(self, query: str, k: int = 5) -> list[Hit]:
        idx, scores = self.search_indices(query, k)
        corpus = self.corpus
        return [
            Hit(corpus.ids[i], float(s), rank, corpus.titles[i], corpus.texts[i])
            for rank, (i, s) in enumerate(zip(idx.tolist(), scores.tolist(), strict=True))
        ]

    def batch_search(self, queries: list[str], k: int = 5) -> list[list[Hit]]:
        return [self.search(q, k) for q in queries]
