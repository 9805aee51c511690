"""Scoring kernels over a BM25 term->document CSC matrix (bm25s's `scores` layout).

`topk_scores(data, indices, indptr, num_docs, query_ids, k)` -> (doc indices, scores), best first,
ties broken by lower document index (deterministic); only documents sharing a term with the query
(score > 0) are returned. A numba-compiled version is used when numba
is installed; the numpy version gives the same rankings.

numba is imported and the kernel compiled only on first use (`numba_kernel()`), and the machine code
is cached on disk (`cache=True`), so a process that only queries a small corpus with the numpy
kernel never pays numba's start (about 0.1 s to import, 0.3 s to load cached code).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

NUMBA_AVAILABLE = importlib.util.find_spec("numba") is not None
# below this many documents the numpy kernel is as fast as a query needs (tens of microseconds)
# and needs no JIT; at and above it "auto" uses numba
NUMBA_MIN_DOCS = 20_000


def _topk_numpy(data, indices, indptr, num_docs, query_ids, k):
    scores = np.zeros(num_docs, dtype=np.float32)
    for t in query_ids:
        s, e = indptr[t], indptr[t + 1]
        scores[indices[s:e]] += data[s:e]
    matched = np.flatnonzero(scores > 0)
    k = min(k, matched.shape[0])
    if k <= 0:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    part = matched[np.argpartition(-scores[matched], k - 1)[:k]] if k < matched.shape[0] else matched
    # resolve ties at the boundary deterministically: take every doc scoring >= the k-th score
    kth = scores[part].min()
    cand = matched[scores[matched] >= kth]
    order = np.lexsort((cand, -scores[cand]))[:k]
    top = cand[order]
    return top.astype(np.int64), scores[top]


def _topk_python(data, indices, indptr, num_docs, query_ids, k):  # pragma: no cover - compiled
    scores = np.zeros(num_docs, dtype=np.float32)
    n_touched = 0
    total = 0
    for q in range(query_ids.shape[0]):
        t = query_ids[q]
        total += indptr[t + 1] - indptr[t]
    touched = np.empty(total, dtype=np.int64)
    for q in range(query_ids.shape[0]):
        t = query_ids[q]
        for j in range(indptr[t], indptr[t + 1]):
            d = indices[j]
            if scores[d] == 0.0:
                touched[n_touched] = d
                n_touched += 1
            scores[d] += data[j]
    if k > num_docs:
        k = num_docs
    if k < 0:
        k = 0
    top_idx = np.full(k, -1, dtype=np.int64)
    top_sc = np.full(k, -np.inf, dtype=np.float32)
    filled = 0
    # documents with a positive score, by insertion into a sorted buffer of size k
    for i in range(n_touched):
        d = touched[i]
        s = scores[d]
        if k == 0:
            break
        if filled == k:
            last_s = top_sc[k - 1]
            if s < last_s or (s == last_s and d > top_idx[k - 1]):
                continue
            pos = k - 1
        else:
            pos = filled
            filled += 1
        while pos > 0 and (top_sc[pos - 1] < s or (top_sc[pos - 1] == s and top_idx[pos - 1] > d)):
            top_sc[pos] = top_sc[pos - 1]
            top_idx[pos] = top_idx[pos - 1]
            pos -= 1
        top_sc[pos] = s
        top_idx[pos] = d
    return top_idx[:filled], top_sc[:filled]


@cache
def numba_kernel() -> Callable[..., Any]:
    """The numba-compiled kernel (imports numba; machine code cached on disk between processes)."""
    if not NUMBA_AVAILABLE:
        raise RuntimeError("backend='numba' needs the numba package (pip install numba)")
    import numba

    return numba.njit(cache=True, nogil=True)(_topk_python)


def resolve_backend(backend: str, num_docs: int) -> str:
    """"numba" or "numpy" for a corpus of `num_docs`: "auto" takes numba for large corpora only."""
    if backend not in ("auto", "numba", "numpy"):
        raise ValueError(f"unknown BM25 backend {backend!r}; expected auto, numba or numpy")
    if backend == "auto":
        return "numba" if NUMBA_AVAILABLE and num_docs >= NUMBA_MIN_DOCS else "numpy"
    return backend


def topk_scores(data, indices, indptr, num_docs, query_ids, k, backend: str = "auto"):
    """Top-k documents for one query of term ids; `backend` is "auto", "numba" or "numpy"."""
    query_ids = np.asarray(query_ids, dtype=np.int64)
    if resolve_backend(backend, int(num_docs)) == "numba":
        return numba_kernel()(data, indices, indptr, int(num_docs), query_ids, int(k))
    return _topk_numpy(data, indices, indptr, int(num_docs), query_ids, int(k))
