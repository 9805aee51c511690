"""The search family under the closed contract: plugin declaration, task source, declared
components per configuration, shipped reward specs, outcome/success, conformance."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import agentgym  # noqa: F401  (registers the envs)
from agentgym.env import AgentEnv, UndeclaredComponentWarning
from agentgym.envs.search.env import SearchQAEnv
from agentgym.rewards import MODES
from agentgym.rewards.components import check_spec_components
from agentgym.rewards.spec import SpecError

ENV_ID = "agentgym/SearchQA-v0"
SMALL = {"n_docs": 400, "n_questions": 40, "world_seed": 2}
SPEC_DIR = Path(SearchQAEnv.default_reward).parent


def _scorer(messages, gold):
    return 0.0 if any(gold in (m.get("content") or "") for m in messages if m["role"] == "tool") else -5.0


def test_family_declaration_and_task_source_without_an_env():
    from typer import Typer

    from agentgym.family import env_entries, load_object, task_source

    family, entry = env_entries()[ENV_ID]
    assert family.name == "search" and family.extra == "search"
    assert entry.entry_point == "agentgym.envs.search.env:SearchQAEnv"
    for path in ("tasks search", "search"):
        assert isinstance(load_object(family.commands[path]), Typer)
    source = task_source(ENV_ID, SMALL)
    env = SearchQAEnv(**SMALL)
    try:
        assert source.ids() == env.task_ids() and len(source) == 40
        assert source.ids("test") == env.task_ids("test") and source.splits() == ["train", "test"]
    finally:
        env.close()
    hops = task_source(ENV_ID, {**SMALL, "hops": [1]})
    assert hops.ids() and all(hops.get(i).hops == 1 for i in hops.ids())


def test_tasks_package_imports_nothing_from_envs():
    import agentgym.tasks.search

    tasks_dir = Path(agentgym.tasks.search.__file__).parent
    for path in tasks_dir.glob("*.py"):
        assert "agentgym.envs" not in path.read_text(encoding="utf-8"), path


def test_only_public_hooks_are_overridden():
    core = {n for n in vars(AgentEnv) if n.startswith("_") and not n.startswith("__")}
    overridden = {n for n in vars(SearchQAEnv) if n in core}
    assert not overridden and "step" not in vars(SearchQAEnv) and "reset" not in vars(SearchQAEnv)


def test_declared_components_follow_the_configuration(small_suite, small_bm25):
    optional = {"info_gain", "judge"}
    cases = [
        ({}, set()),
        ({"answer_scorer": _scorer}, {"info_gain"}),
        ({"judge": True}, {"judge"}),
        ({"answer_scorer": _scorer, "judge": True}, optional),
    ]
    for kwargs, extra in cases:
        env = SearchQAEnv(suite=small_suite, retriever=small_bm25, **kwargs)
        assert set(env.declared) & optional == extra
        assert {
            "gold_doc_retrieved",
            "repeated_query",
            "format_error",
            "outcome",
            "em",
            "f1",
            "support_recall",
            "action_valid",
            "repeated_action",
        } <= set(env.declared)
        assert env.declared["outcome"].labels == ("correct", "wrong", "no_answer")
        env.close()


@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [
        ("reward.yaml", {}),
        ("reward_igpo.yaml", {"answer_scorer": _scorer}),
        ("reward_reseek.yaml", {"judge": True}),
        ("reward_full.yaml", {"answer_scorer": _scorer, "judge": True}),
    ],
)
def test_every_shipped_spec_passes_the_spec_check(small_suite, small_bm25, spec, kwargs):
    env = SearchQAEnv(suite=small_suite, retriever=small_bm25, **kwargs)  # picks the spec itself
    try:
        assert env.reward_spec.name == f"search_qa_{'default' if spec == 'reward.yaml' else spec[7:-5]}"
        for mode in MODES:
            check_spec_components(env.reward_spec.with_mode(mode), env.declared)
    finally:
        env.close()
    if spec != "reward.yaml":  # a spec reading info_gain / judge on an env that never emits them
        with pytest.raises(SpecError, match="does not declare"):
            SearchQAEnv(suite=small_suite, retriever=small_bm25, reward=SPEC_DIR / spec)


def test_oracle_succeeds_and_random_text_fails(small_suite, small_bm25):
    env = SearchQAEnv(suite=small_suite, retriever=small_bm25)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndeclaredComponentWarning)
        for task in small_suite.tasks[:10]:
            env.reset(seed=0, options={"task_id": task.id})
            for action in env.oracle_actions():
                _, _, terminated, truncated, info = env.step(action)
            assert terminated and not truncated
            assert info["success"] is True and info["metrics"]["success"] == 1.0
            assert info["metrics"]["em"] == 1.0 and info["metrics"]["checklist"] == 1.0
            env.reset(seed=0, options={"task_id": task.id})
            for turn in range(env.max_turns):
                _, _, terminated, truncated, info = env.step(f"random words {turn} about nothing")
            assert truncated and info["success"] is False and info["metrics"]["success"] == 0.0
            assert info["trajectory_components"]["outcome"] == "no_answer"
            # a random answer fails too
            env.reset(seed=0, options={"task_id": task.id})
            *_, info = env.step("<answer>qwxz vbnm</answer>")
            assert info["success"] is False and info["trajectory_components"]["outcome"] == "wrong"
    env.close()


def test_step_components_are_zero_filled_and_format_error_measured(small_suite, small_bm25):
    env = SearchQAEnv(suite=small_suite, retriever=small_bm25)
    env.reset(seed=0)
    *_, info = env.step("no action at all")
    assert {k: info["components"][k] for k in ("gold_doc_retrieved", "repeated_query", "format_error")} == {
        "gold_doc_retrieved": 0.0,
        "repeated_query": 0.0,
        "format_error": 0.0,
    }
    assert "info_gain" not in info["components"] and "judge" not in info["components"]
    assert "format_error" not in env.emitted_names  # zero-filled by the core, not emitted
    env.step("<search>founded</search>")
    assert "format_error" in env.emitted_names  # measured on a tag reply
    env.close()


def test_information_gain_is_clipped_to_its_bounds(small_suite, small_bm25):
    env = SearchQAEnv(
        suite=small_suite,
        retriever=small_bm25,
        answer_scorer=lambda messages, gold: 0.0 if len(messages) > 2 else -100.0,
    )
    env.reset(seed=0)
    *_, info = env.step("<search>founded</search>")
    assert info["components"]["info_gain"] == 10.0
    assert env.declared["info_gain"].admits(info["components"]["info_gain"])
    env.close()


def test_information_spans_hold_for_a_long_document(small_suite, small_bm25):
    env = SearchQAEnv(suite=small_suite, retriever=small_bm25)
    env.max_observation_chars = 150
    env.reset(seed=0)
    doc_id = small_suite.corpus.ids[0]
    obs, *_, info = env.step(f"<open>{doc_id}</open>")
    assert len(obs) <= 150 and "characters truncated" not in obs
    [(start, end)] = info["information_spans"]
    assert obs[start:end].startswith("<information>") and obs[start:end].endswith(" ...</information>")
    env.close()


def test_conformance():
    from agentgym.conformance import check_conformance

    for kwargs in (SMALL, {**SMALL, "judge": True}):
        report = check_conformance(ENV_ID, kwargs, episodes=3)
        assert report.passed, [(c.name, c.detail) for c in report.failures()]
