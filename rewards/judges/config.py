"""`JudgeConfig`: one named judge in a reward spec's ``judges:`` section (pydantic, strict keys).

Only pydantic here: `agentgym.rewards.spec` imports this module to validate ``judges:``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

JUDGE_KINDS = (
    "pointwise",
    "reference",
    "principle",
    "rubric",
    "checklist",
    "pairwise",
    "group",
    "step",
    "prm",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PreGate(_Strict):
    """Rule checks before any model call; a failing episode scores `fail_value` without a call."""

    non_empty: bool = True
    answer_pattern: str | None = Field(
        default=None, description="regex; the answer is its first group (or whole match); no match fails"
    )
    max_chars: int | None = Field(default=None, gt=0)
    fail_value: float = 0.0


class Criterion(_Strict):
    """A rubric criterion. `hard` ones are evaluated first and zero the score when they fail;
    a `pattern` criterion is a regex rule checked without a model."""

    name: str
    text: str | None = None
    pattern: str | None = None
    weight: float = Field(default=1.0, ge=0.0)
    hard: bool = False

    @model_validator(mode="after")
    def _needs_text_or_pattern(self) -> Criterion:
        if not self.text and not self.pattern:
            raise ValueError(
                f"criterion {self.name!r} needs `text` (judged by the model) or `pattern` (a regex rule)"
            )
        return self


class PromptOverride(_Strict):
    system: str | None = None
    user: str | None = None
    version: str | None = None


class JudgeConfig(_Strict):
    """A named judge: its kind, model, prompt, limits, pre-gates and robustness requirement.

    The judge's component carries the judge's key in ``judges:`` as its name, at `scope`.
    """

    kind: Literal[
        "pointwise", "reference", "principle", "rubric", "checklist", "pairwise", "group", "step", "prm"
    ]
    model: str = Field(
        description="model string: vllm:URL#MODEL, openai:URL#MODEL, hf:PATH, smollm2 (prm: a path)"
    )
    scope: Literal["step", "trajectory"] = "trajectory"
    prompt: PromptOverride | None = None
    max_tokens: int = Field(default=64, gt=0)
    temperature: float = Field(default=0.0, ge=0.0)
    timeout_s: float = Field(default=60.0, gt=0.0)
    batch_size: int = Field(default=32, gt=0)
    cache: bool = True
    lazy: bool = True
    pregate: PreGate = Field(default_factory=PreGate)
    # kind-specific
    principles: list[str] = Field(
        default_factory=list, description="principle: yes/no principles (score = mean)"
    )
    criteria: list[Criterion] = Field(default_factory=list, description="rubric: weighted criteria")
    items: list[str] = Field(default_factory=list, description="checklist: binary items")
    require_evidence: bool = Field(
        default=True, description="checklist: a YES counts only if its quote is in the turn"
    )
    swap: bool = Field(default=True, description="pairwise: judge both orders; disagreement is a tie")
    reference_field: str = Field(default="reference", description="where the reference answer is read from")
    score_range: tuple[float, float] = (1.0, 10.0)
    # prm
    prm_mode: Literal["verdict", "classifier"] = "verdict"
    yes_token: str = "Yes"
    no_token: str = "No"
    # robustness
    max_fpr: float | None = Field(
        default=None, ge=0.0, le=1.0, description="refuse the judge above this probe FPR"
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> JudgeConfig:
        if self.kind == "principle" and not self.principles:
            raise ValueError("kind 'principle' needs `principles`")
        if self.kind == "rubric" and not self.criteria:
            raise ValueError("kind 'rubric' needs `criteria`")
        if self.kind == "checklist" and not self.items:
            raise ValueError("kind 'checklist' needs `items`")
        if self.kind in ("step", "prm") and self.scope != "step":
            raise ValueError(f"kind {self.kind!r} scores steps: set scope: step")
        if self.kind in ("pairwise", "group") and self.scope != "trajectory":
            raise ValueError(f"kind {self.kind!r} compares whole trajectories: scope must be trajectory")
        return self


def load_judge_config(spec: str) -> tuple[str, JudgeConfig]:
    """(name, config) from a judge reference as the CLI takes it:

    - ``kind=reference,model=vllm:http://127.0.0.1:8000#smollm2,max_tokens=32`` (inline key=value);
    - ``judge.yaml`` (a judge config mapping, or a reward spec / mapping with exactly one judge);
    - ``reward.yaml#name`` (the judge `name` of a reward spec's ``judges:``).
    """
    import yaml

    if spec.lstrip().startswith("kind="):
        data: dict[str, object] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"inline judge spec: expected key=value, got {part!r}")
            data[key.strip()] = value.strip() if key.strip() == "model" else yaml.safe_load(value)
        return str(data.get("kind")), JudgeConfig.model_validate(data)
    from pathlib import Path

    path_text, _, name = spec.partition("#")
    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(f"judge spec file not found: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    if "kind" in data and not name:
        return path.stem, JudgeConfig.model_validate(data)
    judges = data.get("judges", data)
    if not isinstance(judges, dict) or not judges:
        raise ValueError(f"{path}: no judges found")
    if not name:
        if len(judges) != 1:
            raise ValueError(f"{path} defines judges {sorted(judges)}; pick one with {path}#NAME")
        name = next(iter(judges))
    if name not in judges:
        raise KeyError(f"{path} has no judge {name!r}; judges: {sorted(judges)}")
    return name, JudgeConfig.model_validate(judges[name])
