"""Fast env start: BM25 indexes and ToolUse tasks cached on disk (valid, never stale), and a
SearchQA env on the built-in corpus that needs no JIT."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from agentgym.retrieval.bm25 import BM25Retriever
from agentgym.retrieval.corpus import Corpus
from agentgym.retrieval.index_cache import cached_bm25


@pytest.fixture
def corpus():
    texts = [
        f"Document {i} about {'rivers' if i % 3 else 'mountains'} of region {i % 7} and river {i}"
        for i in range(60)
    ]
    return Corpus([f"d{i}" for i in range(60)], [f"Title {i}" for i in range(60)], texts)


def ranking(retriever, queries=("rivers of region 3", "mountains", "river 17", "nothing matches zzz")):
    return [[(h.doc_id, round(h.score, 5)) for h in retriever.search(q, 5)] for q in queries]


def test_bm25_index_cache_loads_the_same_index_and_rebuilds_a_bad_entry(tmp_path, monkeypatch, corpus):
    monkeypatch.setenv("AGENTGYM_INDEX_CACHE", str(tmp_path))
    built = BM25Retriever.build(corpus)
    first = cached_bm25(corpus)
    second = cached_bm25(corpus)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert ranking(second) == ranking(built) and ranking(second)[0]
    assert second.vocab == built.vocab
    # the loaded index can still be saved in bm25s's format and loaded back
    saved = BM25Retriever.load(second.save(tmp_path / "saved"))
    assert ranking(saved) == ranking(built)
    # a corrupt entry is rebuilt, not trusted
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"not an npz")
    third = cached_bm25(corpus)
    assert third.cache_hit is False and ranking(third) == ranking(built)
    # another corpus content is another entry
    changed = Corpus(corpus.ids, corpus.titles, [t + " extra" for t in corpus.texts])
    assert cached_bm25(changed).cache_hit is False
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_numpy_and_numba_backends_rank_alike_on_a_cached_index(tmp_path, monkeypatch, corpus):
    pytest.importorskip("numba", reason="numba not installed: only the numpy kernel exists")
    monkeypatch.setenv("AGENTGYM_INDEX_CACHE", str(tmp_path))
    assert cached_bm25(corpus).backend_name == "numpy"  # a small corpus needs no JIT
    assert ranking(cached_bm25(corpus, backend="numba")) == ranking(cached_bm25(corpus, backend="numpy"))


def test_tool_tasks_cache_matches_fresh_generation_and_regenerates_a_bad_entry(tmp_path, monkeypatch):
    from tasks.tool import worlds

    monkeypatch.setenv("AGENTGYM_TASK_CACHE", "off")
    worlds._generate.cache_clear()
    fresh = worlds.generate_tasks("travel", n=12, seed=3)
    monkeypatch.setenv("AGENTGYM_TASK_CACHE", str(tmp_path))
    worlds._generate.cache_clear()
    assert worlds.generate_tasks("travel", n=12, seed=3) == fresh
    (entry,) = tmp_path.glob("*.json")
    stored = json.loads(entry.read_text())
    assert len(stored["tasks"]) == 12 and stored["tasks"][0]["gold_actions"]  # hidden fields kept
    worlds._generate.cache_clear()
    assert worlds.generate_tasks("travel", n=12, seed=3) == fresh  # loaded from the entry
    stored["tasks"] = stored["tasks"][:5]
    entry.write_text(json.dumps(stored))
    worlds._generate.cache_clear()
    assert worlds.generate_tasks("travel", n=12, seed=3) == fresh  # a short entry is regenerated
    assert len(json.loads(entry.read_text())["tasks"]) == 12
    worlds._generate.cache_clear()


def test_search_env_on_the_builtin_corpus_starts_without_numba(tmp_path):
    script = (
        "import sys, gymnasium as gym, agentgym\n"
        "env = gym.make('agentgym/SearchQA-v0'); env.reset(seed=0)\n"
        "env.step({'role': 'assistant', 'content': '<search>capital river</search>'})\n"
        "print('numba' in sys.modules, env.unwrapped.retriever.backend_name)\n"
    )
    env = {**os.environ, "AGENTGYM_INDEX_CACHE": str(tmp_path)}
    outputs = []
    for _ in range(2):  # the first process builds the index (bm25s may start numba), the second loads it
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split())
    assert outputs[0][1] == "numpy" and outputs[1] == ["False", "numpy"]
    assert len(list(tmp_path.glob("*.npz"))) == 1
