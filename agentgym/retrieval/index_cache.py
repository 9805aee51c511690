"""Built BM25 indexes kept on disk, so a process that makes a search env loads its index (a few
milliseconds) instead of tokenizing and indexing the corpus again (about half a second for the
built-in 3,000-document corpus, most of it starting bm25s and numba).

An entry is keyed by a SHA-256 of everything the index depends on: the corpus content (ids,
titles, texts), the tokenizer's settings, stopword list and source code, the BM25 parameters, this module's
format version and the bm25s version. A changed corpus or setting is a different key, so an entry
is never stale; an unreadable or inconsistent entry is rebuilt. Entries are written to a temporary
file and renamed into place, so concurrent processes never read a partial one.

Folder: `$AGENTGYM_INDEX_CACHE`, else `$XDG_CACHE_HOME/agentgym/bm25`, else
`~/.cache/agentgym/bm25`. `AGENTGYM_INDEX_CACHE=off` disables the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from agentgym.retrieval import tokenizer as tokenizer_module
from agentgym.retrieval.bm25 import BM25Retriever
from agentgym.retrieval.corpus import Corpus
from agentgym.retrieval.tokenizer import WordTokenizer

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def cache_dir() -> Path | None:
    """Where entries live; None when the cache is disabled."""
    configured = os.environ.get("AGENTGYM_INDEX_CACHE")
    if configured is not None and configured.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "agentgym" / "bm25"


def corpus_digest(corpus: Corpus) -> str:
    """SHA-256 of the corpus content (ids, titles, texts, in order)."""
    digest = hashlib.sha256()
    for part in (corpus.ids, corpus.titles, corpus.texts):
        digest.update("\x1f".join(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def _bm25s_version() -> str:
    try:
        return metadata.version("bm25s")
    except metadata.PackageNotFoundError:  # pragma: no cover - depends on the environment
        return "absent"


def index_key(corpus: Corpus, tokenizer: WordTokenizer, params: dict[str, Any]) -> str:
    """The cache key of a BM25 index over `corpus` built with these settings."""
    settings = {
        "format": CACHE_FORMAT,
        "tokenizer_source": hashlib.sha256(Path(tokenizer_module.__file__).read_bytes()).hexdigest(),
        "bm25s": _bm25s_version(),
        "tokenizer": tokenizer.config(),
        "stopwords": sorted(tokenizer.stopwords),
        "params": params,
        "corpus": corpus_digest(corpus),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


def _save(path: Path, retriever: BM25Retriever, key: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = retriever.score_arrays()
    terms = sorted(retriever.vocab, key=retriever.vocab.__getitem__)
    meta = {"key": key, "params": retriever.params, "num_docs": arrays["num_docs"], "num_terms": len(terms)}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(
                file,
                data=arrays["data"],
                indices=arrays["indices"],
                indptr=arrays["indptr"],
                terms=np.array(json.dumps(terms)),
                meta=np.array(json.dumps(meta)),
            )
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load(path: Path, key: str, corpus: Corpus, tokenizer: WordTokenizer, backend: str) -> BM25Retriever:
    with np.load(path, allow_pickle=False) as stored:
        meta = json.loads(str(stored["meta"]))
        terms = json.loads(str(stored["terms"]))
        data, indices, indptr = stored["data"], stored["indices"], stored["indptr"]
    if meta.get("key") != key or meta.get("num_docs") != len(corpus) or meta.get("num_terms") != len(terms):
        raise ValueError("entry does not match its key")
    if (
        indptr.shape[0] not in (len(terms), len(terms) + 1)
        or indices.shape != data.shape
        or int(indptr[-1]) != data.shape[0]
    ):
        raise ValueError("inconsistent score matrix")
    scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(corpus)}
    vocab = {term: i for i, term in enumerate(terms)}
    return BM25Retriever(corpus, None, tokenizer, backend, scores=scores, vocab=vocab, params=meta["params"])


def cached_bm25(
    corpus: Corpus,
    *,
    k1: float = 1.2,
    b: float = 0.75,
    method: str = "lucene",
    stemmer: str | None = "english",
    backend: str = "auto",
) -> BM25Retriever:
    """`BM25Retriever.build(corpus, ...)`, loaded from the disk cache when an entry exists (and
    stored there after a build). `cache_hit` on the result says which."""
    directory = cache_dir()
    params = {"k1": k1, "b": b, "method": method}
    if directory is None:
        return BM25Retriever.build(corpus, k1=k1, b=b, method=method, stemmer=stemmer, backend=backend)
    tokenizer = WordTokenizer(stemmer=stemmer)
    key = index_key(corpus, tokenizer, params)
    path = directory / f"{key}.npz"
    if path.exists():
        try:
            retriever = _load(path, key, corpus, tokenizer, backend)
            retriever.cache_hit = True
            return retriever
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("rebuilding the BM25 index: cached entry %s unusable (%s)", path, exc)
    retriever = BM25Retriever.build(corpus, k1=k1, b=b, method=method, stemmer=stemmer, backend=backend)
    retriever.cache_hit = False
    try:
        _save(path, retriever, key)
    except OSError as exc:  # a read-only home: work without the cache
        log.warning("could not cache the BM25 index in %s: %s", directory, exc)
    return retriever
