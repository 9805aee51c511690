"""agentgym.rewards: the reward layer (standalone: components in, report out).

Envs emit named raw components: step components per step (floats, bools or labels) and trajectory
components at the end. An env declares them as `Component`s (`step_component`,
`trajectory_component`), and `check_spec_components` checks a spec against the declaration. A
`RewardSpec` (YAML) lists levels in priority order (0 = long-term outcome). For level l, the
per-step raw value is ``r_{l,t} = sum_c coef_c * value_c`` (labels mapped by the level's
``values``; bools 0/1; a missing component is 0). Its per-step value is
``v_{l,t} = clip(transform(r_{l,t}))`` with transform none: ``r_t`` | delta: ``r_t - r_{t-1}`` |
potential: ``gamma*Phi_t - Phi_{t-1}`` with ``Phi_t = r_{l,t}`` (``r_{-1} = Phi_{-1} = 0``) and
the per-step ``clip``. ``A_l`` is ``clip.total`` of ``aggregate`` over ``v_{l,t}``: sum, mean,
min, max, softmin ``sum_t softmax(-v/T)_t v_t``, last, discounted ``sum_t gamma^t v_t``; 0 over
zero steps. A trajectory level's value is its single ``r_l``, clipped by ``clip`` then ``clip.total``.
(`agentgym.rewards.engine` computes each of these steps once, for the offline scorer and the
live `RewardTracker` alike.)

Modes (MODES), always all reported:
- gated (G-RA): ``R = sum_l w_l G_l A_l``, ``G_0 = 1``, ``G_l = G_{l-1} * gate_{l-1}(A_{l-1})`` where a
  hard gate is ``1[A >= threshold - eps]`` (so equality opens), ``>`` makes it strict, a soft gate is
  ``sigmoid((A - threshold)/T)`` and a level without a gate passes its parent's state through.
  With ``penalties_bypass`` on a gate, while it is closed the levels below it still count their
  penalties: level l adds ``w_l (Q_l - G_l) A_l^-``, where ``Q_l`` is ``G_l`` with bypassing gates
  counted as open and ``A_l^-`` is its aggregate over ``min(v_t, 0)`` (trajectory: ``min(A_l, 0)``).
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
``step_rewards`` sum to the return: step levels contribute ``G_l w_l v_{l,t}`` at each step (plus
``(Q_l - G_l) w_l min(v_{l,t}, 0)`` under a bypassing gate), trajectory levels at the last step; a
level whose aggregate is not a plain sum has those shares rescaled to its contribution (spread
evenly when they sum to 0), and float rounding goes to the last step. A zero-step episode has an
empty trace and a return made of the trajectory levels (and any nonzero `clip.total.min` of a
step level) only. ``reward_invalid=True`` (infrastructure failure, or a lazy component raising
`ComponentUnavailable`) zeroes every return: trainers mask it. A component value, or a value
computed from it, that is NaN or infinite raises `SpecError`; so does a spec with a non-finite
number.
"""

from agentgym.rewards.components import (
    Component,
    check_spec_components,
    component_bounds,
    step_component,
    trajectory_component,
)
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
    "Component",
    "ComponentUnavailable",
    "Gate",
    "Level",
    "LevelReport",
    "RewardReport",
    "RewardSpec",
    "RewardTracker",
    "SpecError",
    "check_dominance",
    "check_spec_components",
    "component_bounds",
    "group_advantages",
    "load_spec",
    "resolve_spec",
    "step_component",
    "trajectory_component",
    "zero_variance_fraction",
]
