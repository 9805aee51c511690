"""agentgym.rewards: the reward layer (standalone: components in, report out).

Envs emit named raw components: step components per step (floats, bools or labels) and trajectory
components at the end. A `RewardSpec` (YAML) lists levels in priority order (0 = long-term
outcome). For level l, the per-step value is ``r_{l,t} = sum_c coef_c * value_c`` (labels mapped
by the level's ``values``; a missing component is 0), then ``transform`` (none | delta:
``r_t - r_{t-1}`` | potential: ``gamma*Phi_t - Phi_{t-1}`` with ``Phi_t = r_{l,t}``, ``Phi_{-1} = 0``),
then the per-step ``clip``, then ``aggregate`` into ``A_l`` (sum, mean, min, max, softmin with
weights softmax(-r/T), last, discounted ``sum_t gamma^t r_t``; 0 over zero steps), then
``clip.total``. A trajectory level's value is its single ``r_l`` (clipped).

Modes (MODES), always all reported:
- gated (G-RA): ``R = sum_l w_l G_l A_l``, ``G_0 = 1``, ``G_l = G_{l-1} * gate_{l-1}(A_{l-1})`` where a
  hard gate is ``1[A >= threshold - eps]`` (so equality opens), ``>`` makes it strict, a soft gate is
  ``sigmoid((A - threshold)/T)`` and a level without a gate passes its parent's state through.
  With ``penalties_bypass`` on a gate, while it is closed the levels below it still count their
  negative per-step values (their aggregate over ``min(r_t, 0)``).
- direct (D-RA): every gate open, ``R = sum_l w_l A_l``.
- outcome: ``R = w_0 A_0``.

The other combinators of the literature are expressed with the same levels:
- min-form credit (PURE): ``aggregate: softmin`` (``temperature``, default 0.1) or ``aggregate: min``;
- bounded accumulation (clipping / delta): ``clip: {max: ...}`` per step, ``clip: {total: {...}}``,
  ``aggregate: mean``, or ``transform: delta``; a turn cost is a negative coefficient on a
  per-step component;
- success-only process reward (Posterior-GRPO): ``success_only: true`` (level 0's gate threshold
  becomes the max of its ``values``);
- potential-based shaping (policy-invariant): ``transform: potential`` with ``gamma``;
- tiered gates (rules, then rubric, then steps): one gated level per tier;
- discounting: ``aggregate: discounted``; lazy evaluation of expensive judges: ``lazy: true`` and a
  zero-argument callable as the trajectory component value (called only if the level is needed).

Finalization (`RewardSpec.score` / `RewardTracker.finish`) returns a `RewardReport` whose
``step_rewards`` sum to the return: step levels contribute ``G_l w_l r_{l,t}`` at each step,
trajectory levels at the last step; a level whose aggregate is not a plain sum is rescaled to its
contribution (spread evenly when its values sum to 0). A zero-step episode has an empty trace and
a return made of the trajectory levels (and any nonzero `clip.total.min` of a step level) only.
``reward_invalid=True`` (infrastructure failure) zeroes every return: trainers mask it.
"""

from agentgym.rewards.dominance import check_dominance
from agentgym.rewards.groups import group_advantages, zero_variance_fraction
from agentgym.rewards.report import LevelReport, RewardReport
from agentgym.rewards.spec import (
    AGGREGATES,
    MODES,
    TRANSFORMS,
    Bounds,
    Clip,
    ComponentUnavailable,
    Gate,
    Level,
    RewardSpec,
    SpecError,
    load_spec,
    resolve_spec,
)
from agentgym.rewards.tracker import RewardTracker

__all__ = [
    "AGGREGATES",
    "MODES",
    "TRANSFORMS",
    "Bounds",
    "Clip",
    "ComponentUnavailable",
    "Gate",
    "Level",
    "LevelReport",
    "RewardReport",
    "RewardSpec",
    "RewardTracker",
    "SpecError",
    "check_dominance",
    "group_advantages",
    "load_spec",
    "resolve_spec",
    "zero_variance_fraction",
]
