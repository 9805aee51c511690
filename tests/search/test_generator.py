"""The fictional-world generator: determinism, consistency of questions with documents."""

from __future__ import annotations

import re
from collections import Counter

from agentgym.rewards.functions.qa import normalize_answer
from agentgym.tasks.search.suite import build_suite
from agentgym.tasks.search.world import generate_world


def test_same_seed_same_suite_other_seed_differs():
    a = build_suite(n_docs=600, n_questions=80, seed=5)
    b = build_suite(n_docs=600, n_questions=80, seed=5)
    c = build_suite(n_docs=600, n_questions=80, seed=6)
    assert a.corpus.texts == b.corpus.texts and a.corpus.ids == b.corpus.ids
    assert [t.model_dump() for t in a.tasks] == [t.model_dump() for t in b.tasks]
    assert a.corpus.texts != c.corpus.texts


def test_exact_document_count_and_unique_names():
    world = generate_world(n_docs=5000, seed=1)
    assert world.n_docs == 5000
    names = [n.lower() for t in world.names.values() for n in t]
    assert len(names) == len(set(names)) == 5000


def test_questions_are_answerable_from_their_supporting_documents(small_suite):
    corpus = small_suite.corpus
    for task in small_suite.tasks:
        assert 1 <= task.hops <= 4 and task.hops == len(task.supporting_doc_ids)
        assert len(set(task.supporting_doc_ids)) == len(task.supporting_doc_ids)
        texts = [" ".join(corpus.get(d)) for d in task.supporting_doc_ids]
        answer = normalize_answer(task.golden_answers[0])
        # the gold answer is stated in (or is the title of) one of the supporting documents
        assert any(answer in normalize_answer(t) for t in texts), (task.question, task.golden_answers)
        # the question names the first supporting document's entity
        first_title = corpus.get(task.supporting_doc_ids[0])[0]
        assert normalize_answer(first_title) in normalize_answer(task.question), task.question


def test_hop_and_kind_mix(small_suite):
    hops = Counter(t.hops for t in small_suite.tasks)
    kinds = Counter(t.metadata["kind"] for t in small_suite.tasks)
    assert set(hops) == {1, 2, 3, 4}
    assert kinds["comparison"] > 0 and kinds["bridge"] > kinds["comparison"]
    for t in small_suite.tasks:
        if t.metadata["kind"] == "comparison":
            assert re.search(r" or ", t.question)


def test_comparison_answers_are_one_of_the_compared_entities(small_suite):
    corpus = small_suite.corpus
    for t in small_suite.tasks:
        if t.metadata["kind"] != "comparison":
            continue
        titles = {corpus.get(d)[0] for d in t.supporting_doc_ids}
        assert t.golden_answers[0] in titles


def test_saved_suite_loads_back(tmp_path, small_suite):
    from agentgym.tasks.search.suite import load_suite

    small_suite.save(tmp_path)
    loaded = load_suite(tmp_path)
    assert loaded.corpus.ids == small_suite.corpus.ids
    assert loaded.corpus.texts == small_suite.corpus.texts
    assert [t.model_dump() for t in loaded.tasks] == [t.model_dump() for t in small_suite.tasks]
    assert loaded.name == small_suite.name
