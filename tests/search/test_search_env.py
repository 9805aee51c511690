"""SearchQA-v0: Gymnasium contract, oracle, random policy, tag grammar, masking spans, rewards."""

from __future__ import annotations

import json
import random
import re

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym  # noqa: F401  (registers the envs)
from agentgym.envs.search.env import SearchQAEnv


@pytest.fixture()
def env(small_suite, small_bm25):
    e = SearchQAEnv(suite=small_suite, retriever=small_bm25)
    yield e
    e.close()


def run(env, actions):
    info = {}
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            return obs, reward, terminated, truncated, info
    return obs, reward, terminated, truncated, info


def test_check_env_and_gym_make():
    env = gym.make("agentgym/SearchQA-v0", n_docs=400, n_questions=40, world_seed=2)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert "Question:" in obs and {t["function"]["name"] for t in info["tools"]} == {
        "search",
        "open",
        "answer",
    }
    assert "golden_answers" not in info["task"] and "supporting_doc_ids" not in info["task"]
    env.close()


def test_same_seed_same_task(env):
    a = env.reset(seed=11)[1]["task_id"]
    b = env.reset(seed=11)[1]["task_id"]
    assert a == b


def test_oracle_reaches_em_1_on_every_hop_count(env, small_suite):
    seen_hops = set()
    for task in small_suite.tasks[:120]:
        env.reset(seed=0, options={"task_id": task.id})
        _, reward, terminated, truncated, info = run(env, env.oracle_actions())
        assert terminated and not truncated
        assert info["metrics"]["em"] == 1.0 and info["metrics"]["f1"] == 1.0
        assert info["metrics"]["support_recall"] == 1.0
        assert info["trajectory_components"]["outcome"] == "correct"
        assert info["report"].return_gated >= 1.0
        seen_hops.add(task.hops)
    assert seen_hops == {1, 2, 3, 4}


_CAPS = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")


def random_action(rng: random.Random, question: str, last_obs: str) -> str:
    choice = rng.random()
    if choice < 0.45:
        words = question.split()
        return f"<search>{' '.join(rng.sample(words, k=min(3, len(words))))}</search>"
    ids = re.findall(r"\[(d\d+)\]", last_obs)
    if choice < 0.65 and ids:
        return json.dumps({"name": "open", "arguments": {"doc_id": rng.choice(ids)}}).join(
            ["<tool_call>", "</tool_call>"]
        )
    candidates = _CAPS.findall(last_obs) + re.findall(r"\b\d{3,4}\b", last_obs) or ["unknown"]
    if choice < 0.85:
        return f"<answer>{rng.choice(candidates)}</answer>"
    return rng.choice(["I am not sure.", "<search>unclosed", "<answer></answer>"])


def test_random_policy_scores_low(env):
    rng = random.Random(0)
    ems, returns = [], []
    for episode in range(40):
        obs, info = env.reset(seed=episode)
        question = info["task"]["question"]
        for _ in range(env.max_turns):
            obs, reward, terminated, truncated, info = env.step(random_action(rng, question, obs))
            if terminated or truncated:
                break
        ems.append(info["metrics"]["em"])
        returns.append(info["report"].return_gated)
    assert sum(ems) / len(ems) <= 0.2
    assert sum(returns) / len(returns) <= 0.3


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("<search>no closing tag", "<search> is not closed"),
        ("just some prose", "no complete action"),
        ("<answer>  </answer>", "is empty"),
        ("<think>let me think</think>", "no complete action"),
        ('<tool_call>{"name": "search", "arguments": {"query": </tool_call>', "not valid JSON"),
        ('<tool_call>{"name": "fly", "arguments": {}}</tool_call>', "unknown tool"),
        ('<tool_call>{"name": "search", "arguments": {"k": 3}}</tool_call>', "query"),
        ("<judge>useful</judge>", "unknown tool 'judge'"),
    ],
)
def test_malformed_actions_give_error_observations(env, action, message):
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert message in obs
    assert info["action_valid"] is False and info["components"]["action_valid"] == 0.0
    assert not terminated and not truncated and reward == 0.0
    assert info["information_spans"] == [] and info["retrieved"] is False


def test_tool_errors_are_observations_not_exceptions(env):
    env.reset(seed=0)
    obs, *_ = env.step('<tool_call>{"name": "open", "arguments": {"doc_id": "nope"}}</tool_call>')
    assert obs.startswith("Error: no document with id")
    obs, *_ = env.step('<tool_call>{"name": "search", "arguments": {"query": "x", "k": 0}}</tool_call>')
    assert "k must be at least 1" in obs


def test_information_spans_mark_retrieved_text(env):
    _, info = env.reset(seed=0)
    obs, _, _, _, info = env.step(f"<think>find it</think><search>{info['task']['question']}</search>")
    assert info["retrieved"] and len(info["information_spans"]) == 1
    start, end = info["information_spans"][0]
    assert obs[start:end].startswith("<information>Doc 1 [d") and obs[start:end].endswith("</information>")
    assert obs.count("Doc ") == env.topk


def test_step_components_gold_repeat_and_format(env, small_suite):
    task = next(t for t in small_suite.tasks if t.hops == 2)
    env.reset(seed=0, options={"task_id": task.id})
    title = env.suite.corpus.get(task.supporting_doc_ids[0])[0]
    _, _, _, _, info = env.step(f"<search>{title}</search>")
    assert info["components"]["gold_doc_retrieved"] == pytest.approx(0.5)
    assert info["components"]["repeated_query"] == 0.0
    _, _, _, _, info = env.step(f"<search>{title.upper()}</search>")
    assert info["components"]["repeated_query"] == 1.0
    assert info["components"]["gold_doc_retrieved"] == 0.0  # nothing new
    _, _, _, _, info = env.step(f"<search>{title}</search><information>made up</information>")
    assert info["components"]["format_error"] == 1.0


def test_gating_wrong_answer_earns_nothing_but_direct_counts_shaping(env, small_suite):
    task = next(t for t in small_suite.tasks if t.hops == 2)
    env.reset(seed=0, options={"task_id": task.id})
    actions = env.oracle_actions()[:-1] + ["<answer>certainly not this</answer>"]
    _, reward, terminated, _, info = run(env, actions)
    report = info["report"]
    assert terminated and info["trajectory_components"]["outcome"] == "wrong"
    assert report.return_gated == 0.0 and reward == 0.0
    assert report.return_direct == pytest.approx(0.2)  # the gold docs found, ungated
    assert info["metrics"]["em"] == 0.0


def test_turn_limit_truncates_with_no_answer(small_suite, small_bm25):
    env = SearchQAEnv(suite=small_suite, retriever=small_bm25, max_turns=2)
    env.reset(seed=0)
    env.step("<search>alpha</search>")
    _, _, terminated, truncated, info = env.step("<search>beta</search>")
    assert truncated and not terminated
    assert info["trajectory_components"]["outcome"] == "no_answer" and info["metrics"]["answered"] == 0.0


def test_f1_partial_credit(env, small_suite):
    task = next(t for t in small_suite.tasks if len(t.golden_answers[0].split()) >= 2)
    env.reset(seed=0, options={"task_id": task.id})
    _, _, _, _, info = env.step(f"<answer>{task.golden_answers[0].split()[0]}</answer>")
    assert info["metrics"]["em"] == 0.0 and 0.0 < info["metrics"]["f1"] < 1.0


def test_information_gain_with_a_policy_scorer(small_suite, small_bm25):
    calls = []

    def scorer(messages, gold):
        calls.append(len(messages))
        # a stand-in for the policy's log p(gold | messages): high once retrieved text shows the gold
        seen = any(gold in (m.get("content") or "") for m in messages if m["role"] == "tool")
        return 0.0 if seen else -5.0

    env = SearchQAEnv(suite=small_suite, retriever=small_bm25, answer_scorer=scorer)
    assert env.reward_spec.name == "search_qa_igpo"
    task = next(t for t in small_suite.tasks if t.hops == 1 and t.metadata["answer_type"] != "name")
    env.reset(seed=0, options={"task_id": task.id})
    _, _, _, _, info = env.step("<search>zzzz unrelated words</search>")
    assert info["components"]["info_gain"] == 0.0
    _, _, _, _, info = env.step(env.oracle_actions()[0])
    assert info["components"]["info_gain"] == pytest.approx(5.0)
    _, _, terminated, _, info = env.step(f"<answer>{task.golden_answers[0]}</answer>")
    # outcome 1 + process 0.2 (gold doc) + 0.05 * 5 (information gain) = 0.45, clipped to 0.3
    assert terminated and info["report"].return_gated == pytest.approx(1.3)
    assert len(calls) == 3  # reset + two information-bearing turns


def test_judge_action_rewards_correct_verdicts(small_suite, small_bm25):
    env = SearchQAEnv(suite=small_suite, retriever=small_bm25, judge=True)
    assert "judge" in {t["function"]["name"] for t in env.reset(seed=0)[1]["tools"]}
    task = next(t for t in small_suite.tasks if t.hops == 2)
    env.reset(seed=0, options={"task_id": task.id})
    obs, *_ = env.step("<judge>useful</judge>")
    assert "nothing has been retrieved" in obs
    env.step(env.oracle_actions()[0])
    _, _, _, _, info = env.step("<judge>useful | next, look up the bridge entity</judge>")
    assert info["components"]["judge"] == 1.0
    env.step("<search>zzzz qqqq</search>")
    _, _, _, _, info = env.step('<tool_call>{"name": "judge", "arguments": {"useful": true}}</tool_call>')
    assert info["components"]["judge"] == -1.0
    _, _, _, _, info = env.step("<judge>maybe</judge>")
    assert info["action_valid"] is False


def test_env_from_files_and_through_the_retrieval_server(tmp_path, small_suite, small_bm25):
    from agentgym.retrieval.server import RetrievalServer

    small_suite.save(tmp_path)
    with RetrievalServer(small_bm25) as server:
        env = gym.make(
            "agentgym/SearchQA-v0",
            corpus=str(tmp_path / "corpus.jsonl"),
            questions=str(tmp_path / "questions.jsonl"),
            retrieval_url=server.url,
        )
        u = env.unwrapped
        for task_id in u.task_ids()[:15]:
            env.reset(seed=0, options={"task_id": task_id})
            _, _, _, _, info = run(env, u.oracle_actions())
            assert info["metrics"]["em"] == 1.0
        env.close()


def test_hops_filter(small_suite, small_bm25):
    env = SearchQAEnv(suite=small_suite, retriever=small_bm25, hops=[3, 4])
    assert all(env.tasks.get(i).hops in (3, 4) for i in env.task_ids())
    with pytest.raises(Exception, match="no questions"):
        SearchQAEnv(suite=small_suite, retriever=small_bm25, hops=9)


def test_vector_env_shares_one_index():
    envs = gym.make_vec(
        "agentgym/SearchQA-v0",
        num_envs=2,
        vectorization_mode="sync",
        n_docs=400,
        n_questions=40,
        world_seed=2,
    )
    obs, info = envs.reset(seed=[0, 1])
    assert len(obs) == 2 and all("Question:" in o for o in obs)
    retrievers = [e.unwrapped.retriever for e in envs.envs]
    assert retrievers[0] is retrievers[1]
    obs, reward, terminated, truncated, info = envs.step(
        ["<search>founded</search>", "<answer>1900</answer>"]
    )
    assert obs[0].startswith("<information>") and bool(terminated[1])
    envs.close()
