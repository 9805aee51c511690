"""Model-based reward components: LLM judges, rubric and checklist judges, with robustness probes.

A reward spec names judges in a ``judges:`` section; each judge's key is the component it
produces, read by levels like any other component (see rewards/judges/README.md):

    judges:
      judge_correct: {kind: reference, model: "vllm:http://127.0.0.1:8000#smollm2", max_fpr: 0.3}
    levels:
      - {name: outcome, scope: trajectory, components: [exact_match], gate: {threshold: 1.0}}
      - {name: judge, scope: trajectory, components: [judge_correct], lazy: true}

`JudgeRunner(spec, resolve=...)` turns episodes into those components (eager and batched, or as
lazy callables that the engine calls only when the level's gates are open); `LiveJudges(spec,
resolve=...)` does it for one live episode at its end (what an env calls); `make_judge` builds one
judge (one class per kind, in `kinds`, over the shared serving discipline of `Judge`);
`probe_judge` runs the robustness suite. Models are reached through the `JudgeModel` protocol. A
model string is a policy string: pass ``resolve=agentgym.policy.make_judge_model`` to resolve it
(the reward layer registers nothing and imports no backend), or `JudgeModel` instances.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "JudgeModel": "protocol",
    "JudgeRequest": "protocol",
    "JudgeOutput": "protocol",
    "JudgeError": "protocol",
    "ModelResolver": "protocol",
    "resolve_model": "protocol",
    "PolicyJudgeModel": "adapters",
    "JudgeConfig": "config",
    "load_judge_config": "config",
    "PreGate": "config",
    "Criterion": "config",
    "JUDGE_KINDS": "config",
    "JudgeCache": "cache",
    "cache_key": "cache",
    "judge_home": "cache",
    "PromptTemplate": "prompts",
    "TEMPLATES": "prompts",
    "get_template": "prompts",
    "parse_yes_no": "parsing",
    "parse_score": "parsing",
    "parse_winner": "parsing",
    "parse_ranking": "parsing",
    "parse_checklist": "parsing",
    "Judge": "judge",
    "JudgeInput": "judge",
    "Judgment": "judge",
    "invalid_judgment": "judge",
    "run_sync": "judge",
    "make_judge": "kinds",
    "judge_class": "kinds",
    "JUDGE_CLASSES": "kinds",
    "PointwiseJudge": "kinds",
    "ReferenceJudge": "kinds",
    "PrincipleJudge": "kinds",
    "RubricJudge": "kinds",
    "ChecklistJudge": "kinds",
    "PairwiseJudge": "kinds",
    "GroupJudge": "kinds",
    "StepJudge": "kinds",
    "LiveJudges": "live",
    "LiveJudgment": "live",
    "task_reference": "live",
    "JudgeRunner": "runner",
    "rescore_with_judges": "runner",
    "LazyJudgment": "runner",
    "EpisodeView": "runner",
    "EpisodeJudgments": "runner",
    "episode_view": "runner",
    "episode_view_from_messages": "runner",
    "step_text": "runner",
    "ProbeReport": "probe",
    "probe_judge": "probe",
    "load_probe_result": "probe",
    "check_probe": "probe",
    "save_probe_result": "probe",
    "aprobe_judge": "probe",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy: rewards.spec imports .config without the rest
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentgym.rewards.judges' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"agentgym.rewards.judges.{module}"), name)
    globals()[name] = value
    return value
