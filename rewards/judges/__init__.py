"""Model-based reward components: LLM judges, rubric and checklist judges, with robustness probes.

A reward spec names judges in a ``judges:`` section; each judge's key is the component it
produces, read by levels like any other component (see rewards/judges/README.md):

    judges:
      judge_correct: {kind: reference, model: "vllm:http://127.0.0.1:8000#smollm2", max_fpr: 0.3}
    levels:
      - {name: outcome, scope: trajectory, components: [exact_match], gate: {threshold: 1.0}}
      - {name: judge, scope: trajectory, components: [judge_correct], lazy: true}

`JudgeRunner(spec)` turns an episode into those components (eager and batched, or as lazy
callables that the engine calls only when the level's gates are open); `Judge` is one judge;
`probe_judge` runs the robustness suite. Models are reached through the `JudgeModel` protocol;
`agentgym.baselines.judge_backends` adapts servers and policies to it.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "JudgeModel": "protocol",
    "JudgeRequest": "protocol",
    "JudgeOutput": "protocol",
    "JudgeError": "protocol",
    "register_model_factory": "protocol",
    "resolve_model": "protocol",
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
    "run_sync": "judge",
    "JudgeRunner": "runner",
    "rescore_with_judges": "runner",
    "LazyJudgment": "runner",
    "EpisodeView": "runner",
    "EpisodeJudgments": "runner",
    "episode_view": "runner",
    "episode_view_from_messages": "runner",
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
