"""Judge models through the policy-string parser (no import side effect), one class per judge
kind, and `LiveJudges`: a spec's judges on one live transcript (scripted models, no server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from agentgym.rewards import ComponentUnavailable, RewardSpec, SpecError
from agentgym.rewards.components import Component
from agentgym.rewards.judges import (
    JUDGE_CLASSES,
    Judge,
    JudgeError,
    JudgeOutput,
    JudgeRunner,
    LazyJudgment,
    LiveJudges,
    make_judge,
)

Q = "What is 17 + 25?"


# ---------------------------------------------------------------------- model strings
def test_scripted_policy_string_resolves_in_a_fresh_process_without_import_side_effect(tmp_path):
    code = textwrap.dedent(
        """
        import json, sys
        from agentgym.rewards.judges import JudgeError, JudgeModel, make_judge
        from agentgym.policy import make_judge_model

        loaded = sorted(m for m in sys.modules if m.startswith("agentgym.baselines"))
        config = {"kind": "reference", "model": "scripted:Verdict: YES", "cache": False}
        try:
            make_judge("j", config)
            refused = None
        except JudgeError as exc:
            refused = str(exc)
        model = make_judge_model("scripted:Verdict: YES")
        judge = make_judge("j", config, resolve=make_judge_model)
        print(json.dumps({
            "loaded_before": loaded,
            "refused": refused,
            "protocol": isinstance(model, JudgeModel),
            "model_id": model.model_id,
            "adapter": type(judge.model).__name__,
            "score": judge.judge_one("What is 17 + 25?", "42", "42").score,
        }))
        """
    )
    env = {**os.environ, "AGENTGYM_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loaded_before"] == []  # nothing imported the backends (or registered anything) up front
    assert "resolve=agentgym.policy.make_judge_model" in out["refused"]  # a string needs a resolver
    assert out["protocol"] and out["model_id"] == "policy:scripted:Verdict: YES"
    assert out["adapter"] == "PolicyJudgeModel" and out["score"] == 1.0


def test_policy_kinds_come_from_entry_points():
    from agentgym.policy import make_policy, policy_kind

    assert policy_kind("vllm:http://127.0.0.1:8000#smollm2?temperature=0") == "vllm"
    assert policy_kind("smollm2?temperature=0.7") == "smollm2"
    assert policy_kind("oracle") == "oracle"
    assert make_policy("scripted:a|b").act([], []).message["content"] == "a"
    with pytest.raises(ValueError, match=r"unknown policy kind 'nosuch'.*known kinds: .*scripted"):
        make_policy("nosuch:x")


def test_any_policy_is_a_judge_model():
    from agentgym.policy import make_judge_model
    from agentgym.rewards.judges import JudgeModel, PolicyJudgeModel

    model = make_judge_model("scripted:Verdict: YES|Verdict: NO|I am not sure")
    assert isinstance(model, JudgeModel) and isinstance(model, PolicyJudgeModel)
    assert make_judge_model(model) is model  # an instance passes through
    judge = Judge({"kind": "reference", "model": "unused", "cache": False}, model)
    results = [judge.judge_one(Q, "42", "42") for _ in range(3)]
    assert [r.score for r in results] == [1.0, 0.0, None]
    assert not results[2].valid and model.calls == 3


def test_server_policies_give_the_batched_chat_completions_judge():
    from agentgym.baselines.judge_backends import ChatCompletionsJudgeModel
    from agentgym.policy import make_judge_model

    model = make_judge_model("openai:http://127.0.0.1:9/v1#gpt-test?api_key_env=NO_SUCH_KEY_VAR")
    assert isinstance(model, ChatCompletionsJudgeModel)  # no request is sent to build it
    assert model.url == "http://127.0.0.1:9/v1/chat/completions" and model.model_id == "openai:gpt-test"
    assert not model.vllm


def test_string_model_without_resolver_is_refused(scripted):
    spec = RewardSpec.model_validate(_spec(lazy=True))
    with pytest.raises(JudgeError, match="resolve=agentgym.policy.make_judge_model"):
        JudgeRunner(spec)
    with pytest.raises(JudgeError, match="resolve=agentgym.policy.make_judge_model"):
        LiveJudges(spec)
    with pytest.raises(JudgeError, match="no resolver"):
        Judge({"kind": "pointwise", "model": "scripted:Score: 5"})
    LiveJudges(spec, models=scripted(lambda p: "Verdict: YES"))  # an instance needs no resolver


# ---------------------------------------------------------------------- one class per kind
def test_one_class_per_kind_and_the_factory(scripted):
    model = scripted(lambda p: "Verdict: YES")
    configs = {
        "pointwise": {},
        "reference": {},
        "principle": {"principles": ["Is short."]},
        "rubric": {"criteria": [{"name": "c", "text": "Is short."}]},
        "checklist": {"items": ["Says 42"]},
        "pairwise": {},
        "group": {},
        "step": {"scope": "step"},
    }
    assert set(JUDGE_CLASSES) == set(configs)
    for kind, extra in configs.items():
        config = {"kind": kind, "model": "x", "cache": False, **extra}
        judge = make_judge(f"j_{kind}", config, model)
        assert type(judge) is JUDGE_CLASSES[kind] and isinstance(judge, Judge) and judge.name == f"j_{kind}"
        assert type(Judge(config, model)) is JUDGE_CLASSES[kind]  # Judge(config) builds the kind's class
        assert judge.compares_groups == (kind in ("pairwise", "group"))
    with pytest.raises(ValueError, match="process reward model"):
        make_judge("p", {"kind": "prm", "model": "x", "scope": "step"}, model)
    with pytest.raises(ValueError, match="judges kind 'reference'"):
        JUDGE_CLASSES["reference"]({"kind": "pointwise", "model": "x"}, model)


def test_reference_judge_without_reference_makes_no_call(scripted):
    model = scripted(lambda p: "Verdict: YES")
    judged = make_judge("j", {"kind": "reference", "model": "x", "cache": False}, model).judge_one(Q, "42")
    assert not judged.valid and "no reference" in judged.error and model.requests == []


# ---------------------------------------------------------------------- LiveJudges
def _spec(*, lazy: bool = True, step: bool = False, reference_field: str = "reference") -> dict:
    judges: dict = {
        "judge_correct": {
            "kind": "reference",
            "model": "scripted:Verdict: YES",
            "lazy": lazy,
            "cache": False,
            "reference_field": reference_field,
        }
    }
    levels: list = [
        {"name": "outcome", "scope": "trajectory", "components": ["exact_match"], "gate": {"threshold": 1.0}},
        {"name": "judge", "scope": "trajectory", "components": ["judge_correct"], "lazy": True},
    ]
    if step:
        judges["judge_step"] = {
            "kind": "step",
            "model": "scripted:Verdict: YES",
            "scope": "step",
            "cache": False,
        }
        levels.append({"name": "process", "scope": "step", "components": {"judge_step": 0.1}})
    return {"name": "live", "judges": judges, "levels": levels}


TRANSCRIPT = [
    {"role": "system", "content": "You are an agent."},
    {"role": "user", "content": Q},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 17, "b": 25}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "42"},
    {"role": "assistant", "content": [{"type": "text", "text": "42"}]},
    {"role": "user", "content": "ok"},
]
TASK = {"id": "t1", "prompt": Q, "metadata": {"reference": "42"}}


class Counting:
    """A resolver that records every model string it is asked for."""

    def __init__(self, model):
        self.model = model
        self.asked: list[str] = []

    def __call__(self, spec: str):
        self.asked.append(spec)
        return self.model


def test_live_components_and_nothing_built_before_an_episode(scripted):
    model = scripted(lambda p: "Verdict: YES")
    resolve = Counting(model)
    live = LiveJudges(RewardSpec.model_validate(_spec(step=True)), resolve=resolve)
    assert live.components() == [
        Component("judge_correct", "trajectory", (0.0, 1.0), description="reference judge"),
        Component("judge_step", "step", (0.0, 1.0), description="step judge"),
    ]
    assert resolve.asked == [] and model.requests == []  # building calls no model, resolves nothing
    live.judge_episode(TRANSCRIPT, TASK, 2)
    live.judge_episode(TRANSCRIPT, TASK, 2)
    assert resolve.asked == ["scripted:Verdict: YES"] * 2  # the judges were built once, on first use


def test_live_lazy_trajectory_judge_called_only_when_the_engine_needs_it(scripted):
    spec = RewardSpec.model_validate(_spec(lazy=True))
    model = scripted(lambda p: "Verdict: YES")
    live = LiveJudges(spec, models=model)
    judged = live.judge_episode(TRANSCRIPT, TASK, 2)
    assert judged.step_components == [{}, {}] and not judged.invalid and judged.errors == []
    lazy = judged.trajectory["judge_correct"]
    assert isinstance(lazy, LazyJudgment) and model.requests == []

    closed = spec.score([{}, {}], {"exact_match": 0.0, **judged.trajectory})
    assert closed.level("judge").skipped and model.requests == [] and judged.judgments == {}

    judged = live.judge_episode(TRANSCRIPT, TASK, 2)
    opened = spec.score([{}, {}], {"exact_match": 1.0, **judged.trajectory})
    assert opened.return_ == 2.0 and len(model.requests) == 1
    assert judged.judgments["judge_correct"]["score"] == 1.0  # filled when it was called
    prompt = model.requests[0].messages[-1]["content"]
    assert "Reference answer:\n42\n" in prompt and "Response:\n42\n" in prompt  # last step, task metadata


def test_live_eager_step_and_trajectory_judges(scripted):
    spec = RewardSpec.model_validate(_spec(lazy=False, step=True))
    model = scripted(lambda p: "Verdict: NO" if "Step to judge:\nadd(" in p else "Verdict: YES")
    judged = LiveJudges(spec, models=model).judge_episode(TRANSCRIPT, TASK, 2)
    assert judged.trajectory == {"judge_correct": 1.0} and not judged.invalid
    assert judged.step_components == [{"judge_step": 0.0}, {"judge_step": 1.0}]
    assert [j["score"] for j in judged.judgments["judge_step"]] == [0.0, 1.0]
    assert len(model.requests) == 3  # two steps, one answer, batched in one episode call
    step_two = next(r for r in model.requests if "Earlier steps:\n1. add(" in r.messages[-1]["content"])
    assert 'add({"a": 17, "b": 25})' in step_two.messages[-1]["content"]  # tool calls rendered as text

    more_steps = LiveJudges(spec, models=model).judge_episode(TRANSCRIPT, TASK, 3)  # aligned at the end
    assert more_steps.step_components == [{}, {"judge_step": 0.0}, {"judge_step": 1.0}]


def test_live_reference_from_a_task_model_field():
    from agentgym.rewards.judges import task_reference
    from agentgym.task import Task

    class QATask(Task):
        answer: str = ""

    task = QATask(id="t", prompt=Q, answer="42", metadata={"source": {"gold": "forty-two"}})
    assert task_reference(task, "answer") == "42"
    assert task_reference(task, "source.gold") == "forty-two"  # from metadata, dotted
    assert task_reference(task, "missing") is None and task_reference(None, "answer") is None
    assert task_reference({"reference": 7}, "reference") == "7"


class Raising:
    model_id = "raising"

    async def complete(self, requests):
        raise RuntimeError("backend exploded")


def test_live_judge_raising_or_timing_out_makes_the_reward_invalid(scripted):
    step_spec = RewardSpec.model_validate(_spec(lazy=True, step=True))
    judged = LiveJudges(
        step_spec, models={"judge_correct": scripted(lambda p: "Verdict: YES"), "judge_step": Raising()}
    ).judge_episode(TRANSCRIPT, TASK, 2)
    assert judged.invalid and any("backend exploded" in e for e in judged.errors)
    assert judged.judgments["judge_step"][0]["valid"] is False
    assert judged.trajectory == {}  # invalid anyway: no lazy judge is offered

    slow = scripted(lambda p: "Verdict: YES", delay=2.0)
    eager = RewardSpec.model_validate(
        {
            **_spec(lazy=False),
            "judges": {"judge_correct": {**_spec(lazy=False)["judges"]["judge_correct"], "timeout_s": 0.05}},
        }
    )
    judged = LiveJudges(eager, models=slow).judge_episode(TRANSCRIPT, TASK, 2)
    assert judged.invalid and "timeout" in judged.errors[0] and "judge_correct" not in judged.trajectory

    lazy_spec = RewardSpec.model_validate(_spec(lazy=True))
    judged = LiveJudges(lazy_spec, models=Raising()).judge_episode(TRANSCRIPT, TASK, 2)
    assert not judged.invalid  # nothing eager failed; the lazy judge fails when it is needed
    report = lazy_spec.score([{}, {}], {"exact_match": 1.0, **judged.trajectory})
    assert report.reward_invalid and report.return_ == 0.0
    assert judged.judgments["judge_correct"]["valid"] is False and "backend exploded" in judged.errors[0]
    with pytest.raises(ComponentUnavailable):
        judged.trajectory["judge_correct"]()


def test_live_refuses_group_judges():
    spec = RewardSpec.model_validate(
        {
            "name": "grp",
            "judges": {"rank": {"kind": "group", "model": "scripted:Ranking: 1"}},
            "levels": [{"name": "judge", "scope": "trajectory", "components": ["rank"]}],
        }
    )
    with pytest.raises(SpecError, match=r"judges\.rank\.kind: a 'group' judge compares episodes of a group"):
        LiveJudges(spec, resolve=lambda s: None)


def test_live_prm_scores_steps_eagerly(scripted):
    class FakePRM:
        def score_episodes(self, episodes):
            return [[0.25 * (t + 1) for t in range(len(steps))] for _, steps in episodes]

    spec = RewardSpec.model_validate(
        {
            "name": "prm",
            "judges": {"prm": {"kind": "prm", "model": "/nowhere", "scope": "step"}},
            "levels": [{"name": "process", "scope": "step", "components": ["prm"], "aggregate": "min"}],
        }
    )
    live = LiveJudges(spec)  # a PRM needs no resolver
    live._runner = JudgeRunner(spec, prms={"prm": FakePRM()})  # stands in for loading a checkpoint
    judged = live.judge_episode(TRANSCRIPT, TASK, 2)
    assert judged.step_components == [{"prm": 0.25}, {"prm": 0.5}] and not judged.invalid
    assert judged.judgments["prm"] == [{"score": 0.25, "valid": True}, {"score": 0.5, "valid": True}]


def test_live_without_judges_is_empty():
    spec = RewardSpec.model_validate(
        {"name": "plain", "levels": [{"name": "o", "scope": "trajectory", "components": ["x"]}]}
    )
    judged = LiveJudges(spec).judge_episode(TRANSCRIPT, TASK, 2)
    assert judged.step_components == [{}, {}] and judged.trajectory == {} and not judged.invalid
    assert JudgeOutput(text="x").ok


def test_live_judges_copy_and_pickle_without_their_built_judges():
    import copy
    import pickle

    live = LiveJudges(RewardSpec.model_validate(_spec(lazy=False)), resolve=_resolve_yes)
    live.judge_episode(TRANSCRIPT, TASK, 2)
    clone = pickle.loads(pickle.dumps(live))
    assert clone._runner is None and copy.deepcopy(live)._runner is None
    assert clone.judge_episode(TRANSCRIPT, TASK, 2).trajectory == {"judge_correct": 1.0}


def _resolve_yes(spec: str):
    from agentgym.policy import make_judge_model

    return make_judge_model("scripted:Verdict: YES")
