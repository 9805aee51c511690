"""Process reward models: score each step of a trajectory; the scores are a step-scope component.

    from agentgym.rewards.prm import TransformersPRM, prm_step_components
    prm = TransformersPRM("~/.cache/agentgym/models/smollm2")          # causal LM reading P("Yes")
    steps = prm_step_components(prm, question, ["step 1 text", "step 2 text"], name="prm")
    spec.score(merge(step_components, steps), trajectory_components)  # min-form, clip, gates apply

In a reward spec: ``judges: {prm: {kind: prm, model: PATH, scope: step, prm_mode: verdict}}`` and a
level reading the step component ``prm`` (e.g. ``aggregate: softmin``). torch and transformers
are imported only when a PRM is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentgym.rewards.prm.transformers_prm import STEP_PROMPT, TransformersPRM, resolve_model_dir


def prm_step_components(
    prm: Any, question: str, steps: Sequence[str], name: str = "prm"
) -> list[dict[str, float]]:
    """[{name: score_t}] for each step, ready to merge into step components."""
    return [{name: float(v)} for v in prm.score_steps(question, list(steps))]


def merge_step_components(
    step_components: Sequence[Mapping[str, Any]], extra: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per-step union of two component lists of the same length (extra wins on a name clash)."""
    if len(step_components) != len(extra):
        raise ValueError(f"step counts differ: {len(step_components)} vs {len(extra)}")
    return [{**a, **b} for a, b in zip(step_components, extra, strict=True)]


def load_prm(config: Any) -> TransformersPRM:
    """A TransformersPRM from a judge config of kind 'prm' (model: a checkpoint dir, hf:DIR, or a
    fetched model name under $AGENTGYM_HOME/models)."""
    return TransformersPRM(
        config.model, mode=config.prm_mode, yes_token=config.yes_token, no_token=config.no_token
    )


__all__ = [
    "STEP_PROMPT",
    "TransformersPRM",
    "load_prm",
    "merge_step_components",
    "prm_step_components",
    "resolve_model_dir",
]
