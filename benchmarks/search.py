"""Search-QA retrieval benchmark: index build time and search latency, ours beside references.

On one synthetic corpus (the fictional-world generator) and one set of queries (its questions),
measured in the same run:
- build: our BM25Retriever.build (tokenizer + bm25s index), bm25s's own pipeline
  (bm25s.tokenize + BM25.index), rank_bm25's BM25Okapi; both ours and bm25s's are warmed up first
  on a 2,000-document slice (imports, numba), so the timings compare the builds alone;
- single-query latency, tokenization included: our in-process search (numba kernel, and the
  numpy kernel), bm25s.retrieve with its default (numpy) backend and with its numba backend,
  rank_bm25 get_scores + top-k, a full SearchQA-v0 env step (`<search>...</search>`: parsing,
  retrieval, formatting, reward bookkeeping), and a round trip through our Search-R1-compatible
  HTTP retrieval server;
- recall@5 of the supporting document on single-hop questions, per method (a correctness check).

    python benchmarks/search.py --quick       # 20k documents
    python benchmarks/search.py               # 100k documents (the issue's setting)

Prints medians, p90 and ratios against the references; no pass/fail gate on absolute times.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from typing import Any

import numpy as np


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "median_ms": statistics.median(ms),
        "p90_ms": ms[min(len(ms) - 1, int(0.9 * len(ms)))],
        "mean_ms": statistics.fmean(ms),
        "n": len(ms),
    }


def _time_each(fn, items, warmup: int = 3) -> list[float]:
    for item in items[:warmup]:
        fn(item)
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t)
    return out


def english_stemmer() -> Any:
    """PyStemmer's English stemmer (what bm25s's docs pair it with), or None without PyStemmer."""
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        return None


def bm25s_pipeline(texts: list[str], stemmer: Any) -> Any:
    """bm25s's own documented pipeline: `bm25s.tokenize` then `BM25.index` (the build reference)."""
    import bm25s

    native = bm25s.BM25(k1=1.2, b=0.75)
    native.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    return native


def warm_up_builds(corpus: Any) -> None:
    """Build both indexes once on a 2,000-document slice, so neither timed build pays for imports,
    numba compilation (or loading its cached machine code) or first-use allocations."""
    from agentgym.retrieval._kernels import NUMBA_AVAILABLE
    from agentgym.retrieval.bm25 import BM25Retriever
    from agentgym.retrieval.corpus import Corpus

    warm = Corpus(corpus.ids[:2000], corpus.titles[:2000], corpus.texts[:2000])
    BM25Retriever.build(warm, backend="numba" if NUMBA_AVAILABLE else "numpy")
    bm25s_pipeline(warm.index_texts(), english_stemmer())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20k documents, fewer queries")
    parser.add_argument(
        "--docs", type=int, default=None, help="number of documents (default 100000; --quick 20000)"
    )
    parser.add_argument(
        "--queries", type=int, default=None, help="queries per method (default 1000; --quick 300)"
    )
    parser.add_argument("--rank-bm25-queries", type=int, default=None, help="queries for rank_bm25 (slow)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    n_docs = args.docs or (20_000 if args.quick else 100_000)
    n_queries = args.queries or (300 if args.quick else 1000)
    n_rank = args.rank_bm25_queries or (20 if args.quick else 20)
    k = args.k

    import bm25s

    from agentgym.envs.search.env import SearchQAEnv
    from agentgym.retrieval._kernels import NUMBA_AVAILABLE
    from agentgym.retrieval.bm25 import BM25Retriever
    from agentgym.retrieval.server import RemoteRetriever, RetrievalServer
    from agentgym.tasks.search.suite import build_suite

    results: dict[str, Any] = {
        "docs": n_docs,
        "k": k,
        "numba": NUMBA_AVAILABLE,
        "build_s": {},
        "query": {},
        "recall@5_1hop": {},
    }
    print(
        f"search benchmark: {n_docs} documents, {n_queries} queries, k={k}, numba={'yes' if NUMBA_AVAILABLE else 'no'}"
    )

    t = time.perf_counter()
    suite = build_suite(n_docs=n_docs, n_questions=max(n_queries, 400), seed=args.seed)
    results["generate_s"] = time.perf_counter() - t
    print(f"generated the corpus and {len(suite.tasks)} questions in {results['generate_s']:.1f} s")
    texts = suite.corpus.index_texts()
    queries = [q.question for q in suite.tasks][:n_queries]
    single = [q for q in suite.tasks if q.hops == 1][:300]
    pos = suite.corpus.position

    def recall(search_positions) -> float:
        hits = sum(pos[q.supporting_doc_ids[0]] in set(search_positions(q.question)) for q in single)
        return hits / max(1, len(single))

    stemmer = english_stemmer()
    warm_up_builds(suite.corpus)

    # ---------------------------------------------------------------- ours
    gc.collect()
    t = time.perf_counter()
    ours = BM25Retriever.build(suite.corpus)
    results["build_s"]["agentgym (bm25s index)"] = time.perf_counter() - t
    ours_numpy = BM25Retriever(suite.corpus, ours.model, ours.tokenizer, backend="numpy")

    # ---------------------------------------------------------------- bm25s's own pipeline
    gc.collect()
    t = time.perf_counter()
    native = bm25s_pipeline(texts, stemmer)
    results["build_s"]["bm25s pipeline"] = time.perf_counter() - t

    def bm25s_query(q: str, backend: str):
        tokens = bm25s.tokenize(q, stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)
        native.backend = backend
        docs, _ = native.retrieve(tokens, k=k, show_progress=False, backend_selection=backend, n_threads=1)
        return docs[0]

    # ---------------------------------------------------------------- rank_bm25
    rank = None
    try:
        from rank_bm25 import BM25Okapi

        gc.collect()
        t = time.perf_counter()
        tokenized = [ours.tokenizer.tokenize(x) for x in texts]
        rank = BM25Okapi(tokenized)
        results["build_s"]["rank_bm25 BM25Okapi"] = time.perf_counter() - t
        del tokenized
    except ImportError:
        print("rank_bm25 not installed: skipping it (pip install rank_bm25)")

    def rank_query(q: str):
        scores = rank.get_scores(ours.tokenizer.tokenize(q))
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    # ---------------------------------------------------------------- latencies
    q_ours = _time_each(lambda q: ours.search(q, k), queries)
    results["query"][
        "agentgym in-process (numba kernel)" if NUMBA_AVAILABLE else "agentgym in-process (numpy)"
    ] = _percentiles(q_ours)
    if NUMBA_AVAILABLE:
        results["query"]["agentgym in-process (numpy kernel)"] = _percentiles(
            _time_each(lambda q: ours_numpy.search(q, k), queries)
        )
    results["query"]["bm25s retrieve, default backend"] = _percentiles(
        _time_each(lambda q: bm25s_query(q, "numpy"), queries)
    )
    if NUMBA_AVAILABLE:
        bm25s_query(queries[0], "numba")  # compile outside the timing
        results["query"]["bm25s retrieve, numba backend"] = _percentiles(
            _time_each(lambda q: bm25s_query(q, "numba"), queries)
        )
    if rank is not None:
        results["query"]["rank_bm25 get_scores"] = _percentiles(
            _time_each(rank_query, queries[:n_rank], warmup=1)
        )

    try:
        env = SearchQAEnv(suite=suite, retriever=ours, max_turns=10_000)
        env.reset(seed=0)
        results["query"]["SearchQA-v0 env step (<search>)"] = _percentiles(
            _time_each(lambda q: env.step(f"<search>{q}</search>"), queries)
        )
        env.close()
    except Exception as exc:  # report, keep the retrieval numbers
        print(f"env step not measured: {type(exc).__name__}: {exc}")
    with RetrievalServer(ours) as server:
        remote = RemoteRetriever(server.url)
        results["query"]["HTTP /retrieve round trip (ours)"] = _percentiles(
            _time_each(lambda q: remote.search(q, k), queries)
        )
        remote.close()

    # ---------------------------------------------------------------- correctness: recall on single-hop
    results["recall@5_1hop"]["agentgym"] = recall(lambda q: ours.search_indices(q, 5)[0].tolist())
    results["recall@5_1hop"]["bm25s"] = recall(lambda q: bm25s_query(q, "numpy").tolist())
    if rank is not None:
        results["recall@5_1hop"]["rank_bm25 (first 50)"] = sum(
            pos[q.supporting_doc_ids[0]] in set(rank_query(q.question).tolist()) for q in single[:50]
        ) / max(1, len(single[:50]))

    # ---------------------------------------------------------------- report
    print("\nindex build (s)")
    ref_build = results["build_s"]["bm25s pipeline"]
    for name, secs in results["build_s"].items():
        print(f"  {name:40s} {secs:8.2f}   x{secs / ref_build:5.2f} of bm25s pipeline")
    print(f"\nsingle-query latency, tokenization included (ms; {len(queries)} queries)")
    ref = results["query"]["bm25s retrieve, default backend"]["median_ms"]
    rank_ref = results["query"].get("rank_bm25 get_scores", {}).get("median_ms")
    for name, st in results["query"].items():
        line = f"  {name:40s} median {st['median_ms']:8.3f}  p90 {st['p90_ms']:8.3f}  ({ref / st['median_ms']:7.1f}x faster than bm25s default"
        if rank_ref:
            line += f", {rank_ref / st['median_ms']:8.1f}x than rank_bm25"
        print(line + ")")
    print("\nrecall@5 of the supporting document, single-hop questions")
    for name, r in results["recall@5_1hop"].items():
        print(f"  {name:40s} {r:.3f}")
    key = "agentgym in-process (numba kernel)" if NUMBA_AVAILABLE else "agentgym in-process (numpy)"
    med = results["query"][key]["median_ms"]
    print(f"\ngoal: median in-process search <= 1 ms at 100k documents: {med:.3f} ms at {n_docs} documents")
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
