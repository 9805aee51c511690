"""Schedules over training steps and reward noise in specs: values, errors, stamps, re-scoring."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import gymnasium as gym
import pytest

from agentgym.policy import make_policy
from agentgym.replay.rescore import rescore
from agentgym.reward_schedule import reward_at_step
from agentgym.rewards import RewardSpec, SpecError, load_spec
from agentgym.rewards.schedules import Schedule
from agentgym.rewards.spec import spec_from_data
from agentgym.rollout import run_episode

ROOT = Path(__file__).resolve().parents[2]
ANNEALED = ROOT / "examples" / "reward_toolkit" / "annealed_critic.yaml"
NOISY = ROOT / "examples" / "reward_toolkit" / "noisy_outcome.yaml"


def _spec(weight, gate=0.0, clip_max=None) -> RewardSpec:
    level1 = {"name": "bonus", "scope": "step", "components": ["x"], "weight": weight}
    if clip_max is not None:
        level1["clip"] = {"max": clip_max}
    return spec_from_data({
        "mode": "gated",
        "levels": [
            {"name": "outcome", "scope": "trajectory", "components": ["ok"], "gate": {"threshold": gate}},
            level1,
        ],
    })  # fmt: skip


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"schedule": "constant", "value": 2.5}, {0: 2.5, 7: 2.5, 1000: 2.5}),
        ({"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 10}, {0: 0.0, 5: 0.5, 10: 1.0, 30: 1.0}),
        (
            {"schedule": "linear", "start": 1.0, "end": 3.0, "steps": 4, "begin": 2},
            {0: 1.0, 2: 1.0, 3: 1.5, 6: 3.0},
        ),
        ({"schedule": "cosine", "start": 1.0, "end": 0.0, "steps": 10}, {0: 1.0, 5: 0.5, 10: 0.0, 11: 0.0}),
        (
            {"schedule": "step", "boundaries": [3, 8], "values": [0.0, 0.5, 1.0]},
            {0: 0.0, 2: 0.0, 3: 0.5, 7: 0.5, 8: 1.0},
        ),
    ],
)
def test_schedule_values_at_steps(schedule, expected):
    parsed = Schedule.model_validate(schedule)
    for step, value in expected.items():
        assert parsed.at(step) == pytest.approx(value, abs=1e-12), (schedule, step)


def test_cosine_is_between_its_ends_and_monotone():
    cosine = Schedule(schedule="cosine", start=2.0, end=-1.0, steps=7)
    values = [cosine.at(s) for s in range(9)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert values[2] == pytest.approx(-1.0 + 3.0 * 0.5 * (1 + math.cos(math.pi * 2 / 7)))


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        ({"schedule": "linear", "start": 0.0}, r"levels\.1\.weight: a linear schedule needs end, steps"),
        (
            {"schedule": "step", "boundaries": [2], "values": [1.0]},
            r"levels\.1\.weight: a step schedule needs one more value",
        ),
        ({"schedule": "ramp"}, r"levels\.1\.weight\.schedule: "),
        (
            {"schedule": "constant", "value": float("nan")},
            r"levels\.1\.weight\.value: must be a finite number",
        ),
        ({"schedule": "step", "boundaries": [5, 2], "values": [0, 1, 2]}, r"increasing"),
    ],
)
def test_bad_schedules_name_the_field_in_one_line(weight, message):
    with pytest.raises(SpecError, match=message) as caught:
        _spec(weight)
    assert "\n" not in str(caught.value)


def test_a_spec_resolves_at_a_step_and_stamps_the_report():
    spec = _spec({"schedule": "linear", "start": 0.0, "end": 2.0, "steps": 4},
                 gate={"schedule": "step", "boundaries": [2], "values": [0.0, 1.0]},
                 clip_max={"schedule": "constant", "value": 0.75})  # fmt: skip
    steps = [{"x": 1.0}, {"x": 1.0}]
    at1 = spec.at_step(1)
    report = at1.score(steps, {"ok": 0.5})
    # weight 0.5 at step 1; gate open (0.5 >= 0); per-step clip 0.75 keeps 1.0 at 0.75
    assert report.return_ == pytest.approx(0.5 + 0.5 * 1.5)
    assert report.training_step == 1
    assert report.schedule == {
        "levels.1.weight": 0.5,
        "levels.0.gate.threshold": 0.0,
        "levels.1.clip.max": 0.75,
    }
    at3 = spec.at_step(3)
    closed = at3.score(steps, {"ok": 0.5})  # threshold 1.0 from step 2: the gate closes
    assert closed.return_ == pytest.approx(0.5)
    assert closed.schedule["levels.1.weight"] == pytest.approx(1.5)
    # the stored form carries the step: loading it back scores the same
    again = RewardSpec.model_validate(at1.model_dump(mode="json"))
    assert again.training_step == 1 and again.score(steps, {"ok": 0.5}).return_ == report.return_
    # a spec with no schedules stores nothing new
    plain = _spec(1.0)
    assert "training_step" not in plain.model_dump(mode="json") and "noise" not in plain.model_dump(
        mode="json"
    )
    assert (
        plain.score(steps, {"ok": 1.0})
        .model_dump(by_alias=True)
        .keys()
        .isdisjoint({"training_step", "schedule"})
    )


def test_a_scheduled_clip_whose_bounds_cross_is_an_error_at_that_step():
    spec = _spec(1.0, clip_max={"schedule": "linear", "start": 1.0, "end": -1.0, "steps": 2})
    spec = spec.model_copy(update={"levels": [spec.levels[0], spec.levels[1].model_copy(
        update={"clip": spec.levels[1].clip.model_copy(update={"min": 0.0})})]})  # fmt: skip
    assert spec.at_step(0).score([{"x": 2.0}], {"ok": 1.0}).return_ == pytest.approx(2.0)
    with pytest.raises(SpecError, match=r"levels\.1\.clip: min \(0\) exceeds max \(-1\) at training step 2"):
        spec.at_step(2).score([{"x": 2.0}], {"ok": 1.0})


def test_scheduled_weight_changes_across_steps_and_rescoring_reproduces_each_steps_return():
    """The trainer's path: the env's spec resolved per step; records re-scored from their own spec."""
    records = []
    policy = make_policy("scripted:work|work|noop|submit")
    for step in (0, 5, 10, 20):
        reward = reward_at_step("agentgym/StallOrSubmit-v0", str(ANNEALED), step)
        assert isinstance(reward, dict) and reward["training_step"] == step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make("agentgym/StallOrSubmit-v0", reward=reward, pass_prob=0.0)
        records.append(run_episode(env, policy, seed=3, task_id="toy-0", env_kwargs={"reward": reward}))
        env.close()
    weights = [r.report.schedule["levels.1.weight"] for r in records]
    assert weights == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.0])
    assert [r.report.training_step for r in records] == [0, 5, 10, 20]
    returns = [r.report.return_ for r in records]
    # outcome tests_fail (0.1) opens the gate only before step 10; the critic (3 payments) is annealed
    assert returns == pytest.approx([0.1 + 3 * weights[0], 0.1 + 3 * weights[1], 0.1, 0.1])
    assert len(set(returns)) == 3
    rescored = rescore(records)  # each record's own stored spec
    assert [r.return_ for r in rescored] == returns
    assert [r.schedule for r in rescored] == [r.report.schedule for r in records]
    # a spec without a training step resolves at step 0: another return for the later records
    unstamped = load_spec(ANNEALED)
    assert unstamped.score(records[2].step_components, records[2].trajectory_components).return_ != returns[2]


def test_reward_at_step_leaves_a_run_without_schedules_unchanged():
    assert reward_at_step("agentgym/StallOrSubmit-v0", "gated", 7) == "gated"
    assert reward_at_step("agentgym/StallOrSubmit-v0", None, 7) is None


# ----------------------------------------------------------------------------------- noise
def _noisy(fraction: float, seed: int = 7, kind: str = "flip", **extra) -> RewardSpec:
    return spec_from_data({
        "mode": "direct",
        "noise": [{"component": "ok", "kind": kind, "fraction": fraction, "seed": seed, **extra}],
        "levels": [{"name": "outcome", "scope": "trajectory", "components": ["ok"]},
                   {"name": "steps", "scope": "step", "components": ["ok"]}],
    })  # fmt: skip


def test_flip_noise_changes_about_its_fraction_and_is_recorded():
    spec = _noisy(0.2)
    flipped = 0
    n = 2000
    for i in range(n):
        report = spec.score([{"ok": 1.0}], {"ok": 1.0}, noise_key=f"task/{i}")
        assert report.noise_key == f"task/{i}"
        for change in report.noise:
            assert change["original"] == 1.0 and change["noised"] == 0.0
            assert change["step"] in (0, None)
        flipped += sum(1 for c in report.noise if c["step"] is None)
        expected = (0.0 if any(c["step"] is None for c in report.noise) else 1.0) + (
            0.0 if any(c["step"] == 0 for c in report.noise) else 1.0)  # fmt: skip
        assert report.return_ == expected
    share = flipped / n
    assert abs(share - 0.2) <= 3 * math.sqrt(0.2 * 0.8 / n)


def test_noise_is_reproducible_per_key_and_seed_and_undone_without_it():
    spec = _noisy(0.5, kind="perturb", scale=0.3)
    steps = [{"ok": 0.5}] * 6
    a = spec.score(steps, {"ok": 0.5}, noise_key="t/1")
    assert a.noise and a.return_ != 3.5
    assert spec.score(steps, {"ok": 0.5}, noise_key="t/1") == a  # same key: the same noise
    assert spec.score(steps, {"ok": 0.5}, noise_key="t/2").noise != a.noise
    assert (
        _noisy(0.5, seed=8, kind="perturb", scale=0.3).score(steps, {"ok": 0.5}, noise_key="t/1").noise
        != a.noise
    )
    clean = spec.without_noise().score(steps, {"ok": 0.5}, noise_key="t/1")
    assert clean.return_ == pytest.approx(3.5) and clean.noise is None
    # undo from the report alone: put back each recorded original
    restored = [dict(s) for s in steps]
    for change in a.noise:
        if change["step"] is not None:
            restored[change["step"]][change["component"]] = change["original"]
    assert restored == steps


def test_label_flip_noise_in_an_env_is_stamped_and_rescoring_reproduces_or_undoes_it():
    policy = make_policy("scripted:work|submit")
    records = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make("agentgym/StallOrSubmit-v0", reward=str(NOISY), pass_prob=0.0)
    for seed in range(40):
        records.append(run_episode(env, policy, seed=seed, task_id="toy-0"))
    env.close()
    noised = [r for r in records if r.report.noise]
    assert 0 < len(noised) < len(records)
    for record in noised:
        change = record.report.noise[0]
        assert change == {
            "component": "outcome",
            "step": None,
            "original": "tests_fail",
            "noised": "tests_pass",
        }
        assert record.trajectory_components["outcome"] == "tests_fail"  # stored clean
        assert record.report.noise_key == f"toy-0/{record.seed}"
    spec = load_spec(NOISY)
    for record in records:
        again = spec.score(
            record.step_components, record.trajectory_components, noise_key=record.report.noise_key
        )
        assert again.return_ == record.report.return_
        clean = spec.without_noise().score(record.step_components, record.trajectory_components)
        assert clean.return_ == pytest.approx(0.1 + 1.0)  # tests_fail opens the gate; one critic payment


def test_bad_noise_rules_name_the_field():
    with pytest.raises(SpecError, match=r"noise\.0\.fraction: "):
        _noisy(1.5)
    with pytest.raises(SpecError, match=r"noise\.0: .*labels.*flip"):
        _noisy(0.1, kind="perturb", labels={"a": "b"})
