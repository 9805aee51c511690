"""Declarative reward specs: `RewardSpec` and its levels, loading from YAML/JSON, clear errors.

A spec lists levels in priority order (level 0 = the long-term outcome). Each level turns named
components into a per-step value (step scope) or a single value (trajectory scope), aggregates
it, and may carry a gate that lower levels must pass (see `agentgym.rewards` for the semantics).
Every model forbids unknown keys and every number must be finite (NaN or an infinity in a
coefficient, value, weight, threshold, clip bound, temperature, gamma or eps is an error). Every
validation error becomes a `SpecError` whose message names the field (``levels.1.aggregate: ...``,
``levels.1.weight: must be a finite number``) and the file it came from, whether the spec comes
through `load_spec`, `resolve_spec`, `spec_from_data` or `RewardSpec.model_validate`. (Keyword
construction, ``RewardSpec(levels=...)``, raises pydantic's `ValidationError`: a custom
``__init__`` would make pydantic wrap the `SpecError` in its own error.)

Sizes are bounded, so a huge or hostile spec is refused at once instead of being parsed for
minutes: a spec file is at most `MAX_SPEC_BYTES` (1 MB), a spec at most `MAX_LEVELS` levels, a
level at most `MAX_COMPONENTS` components (and as many labels in `values`), the judges section
at most `MAX_JUDGES` judges; the error names the field (``levels: at most 64 levels, got 130000``).
Judge configs' numbers must be finite too (``judges: j.pregate.fail_value: must be a finite
number``).
"""

from __future__ import annotations

import difflib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from agentgym.rewards.judges.config import JudgeConfig
from agentgym.rewards.noise import NoiseRule
from agentgym.rewards.schedules import Schedule, Scheduled, resolve

if TYPE_CHECKING:
    from agentgym.rewards.engine import CompiledSpec
    from agentgym.rewards.report import RewardReport

MODES: tuple[str, ...] = ("gated", "direct", "outcome")
AGGREGATES: tuple[str, ...] = ("sum", "mean", "min", "max", "softmin", "last", "discounted")
TRANSFORMS: tuple[str, ...] = ("none", "delta", "potential")
_AGGREGATE_ALIASES = {"soft-min": "softmin", "soft_min": "softmin", "average": "mean"}

ComponentValue = float | int | bool | str

BUILTIN_DEFAULT = Path(__file__).with_name("specs") / "default.yaml"

MAX_SPEC_BYTES = 1_000_000  # a spec file larger than this is refused before it is parsed
MAX_LEVELS = 64
MAX_COMPONENTS = 256  # per level (and labels per level's `values`)
MAX_JUDGES = 64


def _check_count(value: Any, limit: int, what: str) -> None:
    if isinstance(value, Sized) and not isinstance(value, (str, bytes)) and len(value) > limit:
        raise ValueError(f"at most {limit} {what}, got {len(value)}")


class SpecError(ValueError):
    """A reward spec (or a component it reads) is invalid; the message names the field and file."""


class ComponentUnavailable(RuntimeError):
    """A lazily computed component (e.g. a judge behind a gate) has no trustworthy value (timeout,
    backend error, unparseable verdict). Scoring then returns a `reward_invalid` report: never 0."""


class _Strict(BaseModel):
    # allow_inf_nan=False: every float field (and every float inside a dict field) must be finite
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Bounds(_Strict):
    """Closed interval; either end may be left open (None) or be a `Schedule` over training steps."""

    min: Scheduled | None = None
    max: Scheduled | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        scheduled = isinstance(self.min, Schedule) or isinstance(self.max, Schedule)
        if not scheduled and self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class Clip(Bounds):
    """Per-step clip (`min`/`max`; for trajectory scope: the level's value) and optional `total`
    bounds applied to the level's aggregate."""

    total: Bounds | None = None


class Gate(_Strict):
    """Gate on a level's aggregate A: lower levels count only while it is open.

    Hard gate: open iff ``A >= threshold - eps`` (op ``>=``, equality opens) or
    ``A > threshold + eps`` (op ``>``). Soft gate (``soft_temperature`` set): the lower levels are
    multiplied by ``sigmoid((A - threshold) / soft_temperature)`` instead.
    ``penalties_bypass``: while this gate is closed, the negative per-step values of the levels it
    gates still count (so penalties cannot be escaped by failing the outcome).
    """

    threshold: Scheduled
    op: Literal[">=", ">"] = ">="
    eps: float = Field(default=1e-9, ge=0.0)
    soft_temperature: float | None = Field(default=None, gt=0.0)
    penalties_bypass: bool = False


class Level(_Strict):
    """One level of the reward hierarchy."""

    name: str = Field(min_length=1)
    scope: Literal["step", "trajectory"]
    components: dict[str, float] = Field(
        description="component names (coefficient 1) or a mapping name -> coefficient"
    )
    values: dict[str, float] | None = Field(default=None, description="label -> number for string components")
    aggregate: Literal["sum", "mean", "min", "max", "softmin", "last", "discounted"] = "sum"
    temperature: float = Field(default=0.1, gt=0.0, description="softmin temperature")
    gamma: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="discount (discounted: default 0.99; potential: default 1.0)",
    )
    transform: Literal["none", "delta", "potential"] = "none"
    clip: Clip | None = None
    weight: Scheduled = 1.0
    gate: Gate | None = None
    lazy: bool = False
    description: str | None = None

    @field_validator("components", mode="before")
    @classmethod
    def _components(cls, value: Any) -> Any:
        _check_count(value, MAX_COMPONENTS, "components in a level")
        if isinstance(value, str):
            return {value: 1.0}
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            names = list(value)
            for index, name in enumerate(names):
                if not isinstance(name, str) or not name:
                    raise ValueError(f"item {index} must be a non-empty component name, got {name!r}")
            if len(set(names)) != len(names):
                raise ValueError(f"duplicate component names in {names}")
            return {name: 1.0 for name in names}
        if isinstance(value, Mapping):
            for name, coef in value.items():
                if isinstance(coef, bool) or not isinstance(coef, (int, float)):
                    raise ValueError(f"coefficient of {name!r} must be a number, got {coef!r}")
            return value
        raise ValueError("must be a list of component names or a mapping name -> coefficient")

    @field_validator("values", mode="before")
    @classmethod
    def _values_count(cls, value: Any) -> Any:
        _check_count(value, MAX_COMPONENTS, "labels in `values`")
        return value

    @field_validator("components")
    @classmethod
    def _non_empty(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("a level needs at least one component")
        return value

    @field_validator("aggregate", mode="before")
    @classmethod
    def _aggregate_alias(cls, value: Any) -> Any:
        return _AGGREGATE_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _scope_rules(self) -> Level:
        if self.scope == "trajectory" and self.transform != "none":
            raise ValueError("transform applies to step-scope levels only (a trajectory level has one value)")
        return self

    @property
    def effective_gamma(self) -> float:
        if self.gamma is not None:
            return self.gamma
        return 0.99 if self.aggregate == "discounted" else 1.0


class RewardSpec(_Strict):
    """A declarative reward: levels in priority order and the mode that combines them."""

    name: str = "reward"
    mode: Literal["gated", "direct", "outcome"] = "gated"
    levels: list[Level] = Field(min_length=1)
    success_only: bool = Field(
        default=False,
        description="Posterior-GRPO: level 0's gate threshold is the success value (max of its values)",
    )
    description: str | None = None
    judges: dict[str, JudgeConfig] = Field(
        default_factory=dict,
        description="model-based components: name -> judge config (see agentgym.rewards.judges)",
    )
    training_step: int | None = Field(
        default=None,
        ge=0,
        exclude_if=lambda v: v is None,
        description="the training step the schedules are resolved at (None: step 0); set by `at_step`",
    )
    noise: list[NoiseRule] = Field(
        default_factory=list,
        exclude_if=lambda v: not v,
        description="reward noise: rules that flip or perturb a fraction of a component's values (seeded)",
    )

    _compiled: CompiledSpec | None = PrivateAttr(default=None)

    @classmethod
    def model_validate(cls, obj: Any, *, source: str | None = None, **options: Any) -> RewardSpec:  # type: ignore[override]
        """Validate `obj` into a spec; a problem raises `SpecError` naming the field (and `source`)."""
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise SpecError(format_validation_error(exc, source)) from None

    @field_validator("levels", mode="before")
    @classmethod
    def _levels_count(cls, value: Any) -> Any:
        _check_count(value, MAX_LEVELS, "levels")
        return value

    @field_validator("judges", mode="before")
    @classmethod
    def _judges_count(cls, value: Any) -> Any:
        _check_count(value, MAX_JUDGES, "judges")
        return value

    @field_validator("judges")
    @classmethod
    def _judges_finite(cls, value: dict[str, JudgeConfig]) -> dict[str, JudgeConfig]:
        for name, config in value.items():
            where = _non_finite(config.model_dump(mode="python"))
            if where is not None:
                raise ValueError(f"{name}.{where}: must be a finite number")
        return value

    @model_validator(mode="after")
    def _check(self) -> RewardSpec:
        counts = Counter(level.name for level in self.levels)
        duplicates = sorted(n for n, c in counts.items() if c > 1)
        if duplicates:
            raise ValueError(f"level names must be unique; repeated: {duplicates}")
        if self.success_only and not self.levels[0].values:
            raise ValueError(
                "success_only needs level 0 to map labels to numbers with `values` (the success value is their max)"
            )
        return self

    def __eq__(self, other: object) -> bool:  # fields only: the cached compiled form is not state
        if not isinstance(other, RewardSpec):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable containers inside

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = state.get("__pydantic_private__")
        if private and private.get("_compiled") is not None:  # rebuilt on demand after unpickling
            state["__pydantic_private__"] = {**private, "_compiled": None}
        return state

    # ------------------------------------------------------------------ derived
    @property
    def compiled(self) -> CompiledSpec:
        """The plain-Python form that scores episodes (built once per spec)."""
        if self._compiled is None:
            from agentgym.rewards.engine import CompiledSpec

            self._compiled = CompiledSpec(self)
        return self._compiled

    def gate_threshold(self, index: int) -> float | None:
        """The effective threshold of level `index`'s gate (success_only applied; a schedule
        resolved at `training_step`), or None."""
        level = self.levels[index]
        if index == 0 and self.success_only:
            return max(level.values.values())  # type: ignore[union-attr]
        return resolve(level.gate.threshold, self.step) if level.gate is not None else None

    # ------------------------------------------------------------------ schedules and noise
    @property
    def step(self) -> int:
        """The training step schedules resolve at (0 until `at_step` sets one)."""
        return self.training_step or 0

    def at_step(self, step: int) -> RewardSpec:
        """The same spec with its schedules resolved at training step `step` (stamped into the
        spec, so a record's stored spec re-scores with the exact values used)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise SpecError(f"training_step: must be a non-negative integer, got {step!r}")
        if step == self.training_step:
            return self
        copy = self.model_copy(update={"training_step": step})
        copy._compiled = None  # the compiled form holds the resolved values
        return copy

    def schedule_values(self) -> dict[str, float]:
        """Every scheduled number resolved at `training_step`: {"levels.1.weight": 0.3, ...}."""
        out: dict[str, float] = {}
        step = self.step
        for index, level in enumerate(self.levels):
            where = f"levels.{index}"
            if isinstance(level.weight, Schedule):
                out[f"{where}.weight"] = level.weight.at(step)
            if level.gate is not None and isinstance(level.gate.threshold, Schedule):
                out[f"{where}.gate.threshold"] = level.gate.threshold.at(step)
            clip = level.clip
            for name, bounds in (("clip", clip), ("clip.total", clip.total if clip is not None else None)):
                for end in ("min", "max"):
                    value = getattr(bounds, end) if bounds is not None else None
                    if isinstance(value, Schedule):
                        out[f"{where}.{name}.{end}"] = value.at(step)
        return out

    @property
    def has_schedules(self) -> bool:
        return bool(self.schedule_values())

    def without_noise(self) -> RewardSpec:
        """The same spec without its noise rules: re-scoring with it undoes the noise."""
        if not self.noise:
            return self
        copy = self.model_copy(update={"noise": []})
        copy._compiled = None
        return copy

    def with_mode(self, mode: str) -> RewardSpec:
        """The same spec under another mode (one of MODES)."""
        if mode not in MODES:
            raise SpecError(f"mode: unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if mode == self.mode:
            return self
        copy = self.model_copy(update={"mode": mode})
        copy._compiled = self._compiled  # compiled form does not depend on the mode
        return copy

    def component_names(self) -> dict[str, set[str]]:
        """Component names read per scope: {"step": {...}, "trajectory": {...}}."""
        out: dict[str, set[str]] = {"step": set(), "trajectory": set()}
        for level in self.levels:
            out[level.scope].update(level.components)
        return out

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_defaults=True)
        data = {"name": self.name, "mode": self.mode, **data}
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def score(
        self,
        step_components: Sequence[Mapping[str, ComponentValue]],
        trajectory_components: Mapping[str, Any],
        *,
        reward_invalid: bool = False,
        mode: str | None = None,
        noise_key: str | None = None,
    ) -> RewardReport:
        """Finalize an episode: all three returns, per-level state, and the per-step trace.

        Works on stored components alone (offline re-scoring needs no env). `noise_key` names
        the episode for the spec's noise rules (the env passes "TASK_ID/SEED"; re-scoring passes
        the report's `noise_key` to draw the same noise).
        """
        return self.compiled.score(
            step_components, trajectory_components, reward_invalid=reward_invalid, mode=mode or self.mode,
            noise_key=noise_key,
        )


def _non_finite(value: Any, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinity inside `value`, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "<value>"
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


# ---------------------------------------------------------------------- loading and errors
def _field_names() -> list[str]:
    names: set[str] = set()
    for model in (Bounds, Clip, Gate, Level, RewardSpec, JudgeConfig, Schedule, NoiseRule):
        names.update(model.model_fields)
    return sorted(names)


def format_validation_error(exc: ValidationError, source: str | None = None) -> str:
    """One line per problem, each starting with the dotted path of the bad field."""
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"] if not str(part).startswith("<")) or "<spec>"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            key = str(error["loc"][-1]) if error["loc"] else ""
            message = "unknown key"
            close = difflib.get_close_matches(key, _field_names(), n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        elif error["type"] == "finite_number":
            message = "must be a finite number"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        lines.append(f"{loc}: {message}")
    where = f" in {source}" if source else ""
    return f"invalid reward spec{where}: " + "; ".join(lines)


def spec_from_data(data: Any, source: str | None = None) -> RewardSpec:
    """Validate a mapping into a RewardSpec, converting errors into SpecError."""
    if not isinstance(data, Mapping):
        where = f" in {source}" if source else ""
        raise SpecError(
            f"invalid reward spec{where}: expected a mapping at the top level, got {type(data).__name__}"
        )
    return RewardSpec.model_validate(data, source=source)


def load_spec(path: str | Path) -> RewardSpec:
    """Load a spec from a .yaml, .yml or .json file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"reward spec file not found: {path}")
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError(
            f"invalid reward spec in {path}: the file is {size / 1e6:.1f} MB; a spec file may be at most "
            f"{MAX_SPEC_BYTES / 1e6:g} MB"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"invalid reward spec in {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except (yaml.YAMLError, json.JSONDecodeError, RecursionError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise SpecError(f"invalid reward spec in {path}: cannot parse: {reason}") from None
    return spec_from_data(data, str(path))


def _spec_from_default(default: RewardSpec | str | Path | Mapping[str, Any]) -> RewardSpec:
    if isinstance(default, RewardSpec):
        return default
    if isinstance(default, Mapping):
        return spec_from_data(default)
    if isinstance(default, str) and default in MODES:
        return load_spec(BUILTIN_DEFAULT).with_mode(default)
    return load_spec(default)


def resolve_spec(
    reward: RewardSpec | str | Path | Mapping[str, Any] | None,
    default: RewardSpec | str | Path | Mapping[str, Any],
) -> RewardSpec:
    """Turn what a user passed as `reward=` into a RewardSpec.

    None -> `default`; a mode name -> `default` under that mode; a RewardSpec, a mapping, or the
    path of a YAML/JSON file -> that spec. `default` is a RewardSpec, mapping, file path, or a
    mode name (the built-in generic spec `specs/default.yaml` under that mode).
    """
    if reward is None:
        return _spec_from_default(default)
    if isinstance(reward, RewardSpec):
        return reward
    if isinstance(reward, Mapping):
        return spec_from_data(reward)
    if isinstance(reward, str) and reward in MODES:
        return _spec_from_default(default).with_mode(reward)
    if isinstance(reward, (str, Path)):
        path = Path(reward)
        if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
            return load_spec(path)
        raise SpecError(
            f"reward: unknown value {str(reward)!r}; expected a mode ({', '.join(MODES)}), "
            "a RewardSpec, a mapping, or a path to a .yaml/.yml/.json spec"
        )
    raise SpecError(f"reward: unsupported type {type(reward).__name__}")
