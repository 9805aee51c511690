"""RewardSpec validation, loading, errors that name the field, resolve_spec, YAML round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _reward_cases import STALL_SPEC

from agentgym.rewards import MODES, RewardSpec, SpecError, load_spec, resolve_spec


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_components_list_and_dict_forms() -> None:
    spec = RewardSpec.model_validate(STALL_SPEC)
    assert spec.levels[0].components == {"outcome": 1.0}
    spec2 = RewardSpec.model_validate(
        {"levels": [{"name": "p", "scope": "step", "components": {"a": 0.5, "b": -2}}]}
    )
    assert spec2.levels[0].components == {"a": 0.5, "b": -2.0}


def test_yaml_round_trip(tmp_path: Path) -> None:
    spec = RewardSpec.model_validate(
        {
            **STALL_SPEC,
            "success_only": True,
            "levels": [
                *STALL_SPEC["levels"],
                {
                    "name": "extra",
                    "scope": "step",
                    "components": {"x": 0.5},
                    "aggregate": "softmin",
                    "temperature": 0.2,
                    "clip": {"max": 1.0, "total": {"min": -1.0}},
                    "gate": {"threshold": 0.0, "op": ">", "soft_temperature": 0.5, "penalties_bypass": True},
                    "lazy": True,
                },
            ],
        }
    )
    path = write(tmp_path, "spec.yaml", spec.to_yaml())
    assert load_spec(path) == spec
    json_path = write(tmp_path, "spec.json", json.dumps(spec.model_dump(mode="json")))
    assert load_spec(json_path) == spec


def test_unknown_key_names_field_and_file(tmp_path: Path) -> None:
    data = json.loads(json.dumps(STALL_SPEC))
    data["levels"][1]["agregate"] = "sum"
    path = write(tmp_path, "bad.yaml", yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "levels.1.agregate" in message
    assert "did you mean 'aggregate'" in message
    assert str(path) in message


def test_bad_aggregate_names_field() -> None:
    data = json.loads(json.dumps(STALL_SPEC))
    data["levels"][1]["aggregate"] = "median"
    with pytest.raises(SpecError, match=r"levels\.1\.aggregate: "):
        resolve_spec(data, default="gated")


def test_bad_gate_and_clip_fields() -> None:
    data = json.loads(json.dumps(STALL_SPEC))
    data["levels"][0]["gate"] = {"threshold": 0.1, "op": "=="}
    with pytest.raises(SpecError, match=r"levels\.0\.gate\.op"):
        resolve_spec(data, default="gated")
    data["levels"][0]["gate"] = {"threshold": 0.1}
    data["levels"][1]["clip"] = {"min": 1.0, "max": 0.0}
    with pytest.raises(SpecError, match=r"levels\.1\.clip.*must not exceed"):
        resolve_spec(data, default="gated")


def test_structural_errors() -> None:
    with pytest.raises(SpecError, match="levels"):
        resolve_spec({"levels": []}, "gated")
    dup = {"levels": [{"name": "a", "scope": "step", "components": ["x"]}] * 2}
    with pytest.raises(SpecError, match="unique"):
        resolve_spec(dup, "gated")
    traj_delta = {"levels": [{"name": "a", "scope": "trajectory", "components": ["x"], "transform": "delta"}]}
    with pytest.raises(SpecError, match=r"levels\.0.*transform applies to step-scope"):
        resolve_spec(traj_delta, "gated")
    no_values = {"success_only": True, "levels": [{"name": "a", "scope": "trajectory", "components": ["x"]}]}
    with pytest.raises(SpecError, match="success_only"):
        resolve_spec(no_values, "gated")
    with pytest.raises(SpecError, match=r"levels\.0\.components"):
        resolve_spec({"levels": [{"name": "a", "scope": "step", "components": {"x": "big"}}]}, "gated")


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "levels: [\n  - {name: a\n")
    with pytest.raises(SpecError, match="broken.yaml"):
        load_spec(path)
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="top level"):
        load_spec(write(tmp_path, "list.yaml", "- 1\n- 2\n"))


def test_resolve_spec_variants(tmp_path: Path) -> None:
    default = RewardSpec.model_validate(STALL_SPEC)
    assert resolve_spec(None, default) is default
    for mode in MODES:
        spec = resolve_spec(mode, default)
        assert spec.mode == mode and spec.levels == default.levels
    assert resolve_spec(default, "gated") is default
    assert resolve_spec(STALL_SPEC, "gated") == default
    path = write(tmp_path, "s.yml", default.to_yaml())
    assert resolve_spec(str(path), "gated") == default
    assert resolve_spec(path, "gated") == default
    assert resolve_spec("direct", path).mode == "direct"
    with pytest.raises(SpecError, match="unknown value 'gatd'"):
        resolve_spec("gatd", default)


def test_builtin_default_for_mode_name() -> None:
    spec = resolve_spec(None, "gated")
    assert spec.name == "generic_default" and spec.mode == "gated"
    assert resolve_spec("outcome", "gated").mode == "outcome"
    report = spec.score([{"action_valid": 1.0}], {"success": 1.0})
    assert report.return_ == pytest.approx(1.01)


def test_with_mode_and_unknown_mode(stall_spec: RewardSpec) -> None:
    direct = stall_spec.with_mode("direct")
    assert direct.mode == "direct" and stall_spec.mode == "gated"
    with pytest.raises(SpecError, match="mode"):
        stall_spec.with_mode("best")
    with pytest.raises(SpecError, match="mode"):
        stall_spec.score([], {"outcome": "no_submit"}, mode="best")


def test_aggregate_alias_soft_min() -> None:
    spec = resolve_spec(
        {"levels": [{"name": "a", "scope": "step", "components": ["x"], "aggregate": "soft-min"}]}, "gated"
    )
    assert spec.levels[0].aggregate == "softmin"


def test_equality_ignores_compiled_cache(stall_spec: RewardSpec) -> None:
    fresh = RewardSpec.model_validate(stall_spec.model_dump())
    stall_spec.score([{"critic": 1.0}], {"outcome": "tests_pass"})
    assert stall_spec == fresh and stall_spec != fresh.with_mode("direct")


def test_spec_is_frozen(stall_spec: RewardSpec) -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        stall_spec.mode = "direct"  # type: ignore[misc]


# ---------------------------------------------------------------- every number finite
FINITE_BASE = {
    "levels": [
        {
            "name": "outcome",
            "scope": "trajectory",
            "components": ["o"],
            "values": {"pass": 1.0, "fail": 0.0},
            "gate": {"threshold": 0.5, "eps": 1e-6, "soft_temperature": 0.1},
        },
        {
            "name": "steps",
            "scope": "step",
            "components": {"x": 0.5},
            "aggregate": "softmin",
            "temperature": 0.2,
            "gamma": 0.9,
            "clip": {"min": -1.0, "max": 1.0, "total": {"min": -2.0, "max": 2.0}},
            "weight": 2.0,
        },
    ]
}
FINITE_FIELDS = [
    ("levels", 1, "components", "x"),
    ("levels", 0, "values", "pass"),
    ("levels", 1, "weight"),
    ("levels", 0, "gate", "threshold"),
    ("levels", 0, "gate", "eps"),
    ("levels", 0, "gate", "soft_temperature"),
    ("levels", 1, "clip", "min"),
    ("levels", 1, "clip", "max"),
    ("levels", 1, "clip", "total", "min"),
    ("levels", 1, "clip", "total", "max"),
    ("levels", 1, "temperature"),
    ("levels", 1, "gamma"),
]


def with_value(path: tuple, value: float) -> dict:
    data = json.loads(json.dumps(FINITE_BASE))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def test_finite_base_spec_is_valid() -> None:
    resolve_spec(FINITE_BASE, "gated")


@pytest.mark.parametrize("path", FINITE_FIELDS, ids=lambda p: ".".join(map(str, p)))
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_numbers_name_the_field(path: tuple, value: float) -> None:
    field = ".".join(map(str, path))
    data = with_value(path, value)
    with pytest.raises(SpecError, match=rf"^invalid reward spec: {field}: must be a finite number$"):
        resolve_spec(data, "gated")
    with pytest.raises(SpecError, match=rf"{field}: must be a finite number"):
        RewardSpec.model_validate(data)


def test_non_finite_numbers_in_yaml_name_field_and_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nan.yaml",
        "levels:\n"
        "  - {name: o, scope: trajectory, components: [o], values: {pass: .inf, fail: 0}}\n"
        "  - {name: s, scope: step, components: {x: .nan}, weight: -.inf}\n",
    )
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    for field in ("levels.0.values.pass", "levels.1.components.x", "levels.1.weight"):
        assert f"{field}: must be a finite number" in message


def test_non_finite_numbers_in_json_name_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, "nan.json", json.dumps(with_value(("levels", 0, "gate", "threshold"), float("nan")))
    )
    with pytest.raises(SpecError, match=r"nan\.json: levels\.0\.gate\.threshold: must be a finite number"):
        load_spec(path)
