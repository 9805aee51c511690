"""Declared reward components, and the check of a reward spec against what an env declares.

An env declares every component it emits, once, as data: its name, its scope (emitted per step,
or once at the end of the episode), its numeric bounds, and for a categorical component the set
of labels it can take. The declaration is what makes a spec checkable before any episode runs:
a level that reads a component nobody emits, or a label component without a `values` map, is a
mistake in the spec, and `check_spec_components` names it at construction instead of letting it
score 0 for a whole training run.

    Component("action_valid", "step")                         # a number in [0, 1] each step
    Component("outcome", "trajectory", labels=("pass", "fail"))  # a label at the end
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from agentgym.rewards.spec import RewardSpec

Scope = Literal["step", "trajectory"]


@dataclass(frozen=True)
class Component:
    """One named reward component an env emits.

    bounds: the closed interval a numeric value lies in (used by the dominance check and by the
    conformance check). labels: for a categorical component, every label it can take; a spec
    level reading it must map each label to a number with `values`.
    """

    name: str
    scope: Scope
    bounds: tuple[float, float] = (0.0, 1.0)
    labels: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.scope not in ("step", "trajectory"):
            raise ValueError(f"component {self.name!r}: scope must be 'step' or 'trajectory', got {self.scope!r}")
        low, high = self.bounds
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ValueError(f"component {self.name!r}: bounds must be finite with low <= high, got {self.bounds}")

    @property
    def categorical(self) -> bool:
        return bool(self.labels)

    def admits(self, value: object) -> bool:
        """Whether `value` is something this component may take (a declared label, or a finite
        number within the bounds; a categorical component may also carry a number)."""
        if isinstance(value, str):
            return value in self.labels
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False
        low, high = self.bounds
        return low - 1e-9 <= float(value) <= high + 1e-9


def step_component(name: str, low: float = 0.0, high: float = 1.0, description: str = "") -> Component:
    return Component(name, "step", (float(low), float(high)), (), description)


def trajectory_component(
    name: str, low: float = 0.0, high: float = 1.0, *, labels: Iterable[str] = (), description: str = ""
) -> Component:
    return Component(name, "trajectory", (float(low), float(high)), tuple(labels), description)


def component_bounds(declared: Mapping[str, Component], spec: RewardSpec) -> dict[str, tuple[float, float]]:
    """Numeric bounds of every component a spec reads, labels mapped through the level's values
    (what the dominance check needs). A categorical component read by several levels with
    different `values` gets the union of their ranges (the check applies one range per name)."""
    bounds = {name: c.bounds for name, c in declared.items() if not c.categorical}
    for level in spec.levels:
        for name in level.components:
            component = declared.get(name)
            if component is not None and component.categorical and level.values:
                numbers = [level.values[label] for label in component.labels if label in level.values]
                if numbers:
                    low, high = min(numbers), max(numbers)
                    if name in bounds:
                        low, high = min(low, bounds[name][0]), max(high, bounds[name][1])
                    bounds[name] = (low, high)
    return bounds


def check_spec_components(spec: RewardSpec, declared: Mapping[str, Component], *, owner: str = "the env") -> None:
    """Raise `SpecError` naming the field when `spec` reads what `declared` does not provide.

    Checked: every component a level reads is declared, at the level's scope; a level reading a
    categorical component has `values` mapping each of its labels. Finiteness of the spec's own
    numbers is checked when the spec is validated (`RewardSpec`).
    """
    from agentgym.rewards.spec import SpecError

    names = sorted(declared)
    for index, level in enumerate(spec.levels):
        for name in level.components:
            where = f"levels.{index}.components.{name}"
            component = declared.get(name)
            if component is None:
                raise SpecError(
                    f"invalid reward spec {spec.name!r}: {where}: {owner} does not declare a component {name!r}; "
                    f"declared: {', '.join(names) or '(none)'}"
                )
            if component.scope != level.scope:
                raise SpecError(
                    f"invalid reward spec {spec.name!r}: {where}: {name!r} is a {component.scope}-scope component, "
                    f"but level {level.name!r} has scope {level.scope}"
                )
            if component.categorical:
                if not level.values:
                    raise SpecError(
                        f"invalid reward spec {spec.name!r}: levels.{index}.values: level {level.name!r} reads the "
                        f"categorical component {name!r} (labels: {', '.join(component.labels)}) but has no `values` "
                        "mapping each label to a number"
                    )
                missing = [label for label in component.labels if label not in level.values]
                if missing:
                    raise SpecError(
                        f"invalid reward spec {spec.name!r}: levels.{index}.values: no number for label(s) "
                        f"{', '.join(missing)} of component {name!r}"
                    )
