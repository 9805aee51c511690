from __future__ import annotations

import gymnasium as gym
import pytest

from agentgym.baselines.policies.scripted import RandomPolicy, ScriptedPolicy
from agentgym.envs.toy.stall_or_submit import StallOrSubmitEnv
from agentgym.replay.reexec import reexec, reexec_many, reexec_result
from agentgym.rollout import run_episode

TOY = "agentgym/StallOrSubmit-v0"
FLAKY = "agentgym-test/FlakyToy-v0"


class FlakyToyEnv(StallOrSubmitEnv):
    """Nondeterministic on purpose: from turn 3 on, observations show a process-wide episode count."""

    episodes_started = 0

    def start_episode(self, task, options):
        type(self).episodes_started += 1
        return super().start_episode(task, options)

    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        if self.turn >= 3:
            observation += f" (episode #{type(self).episodes_started} of this process)"
        return observation, reward, terminated, truncated, info


if FLAKY not in gym.registry:
    gym.register(id=FLAKY, entry_point=FlakyToyEnv)


def test_no_divergence_on_deterministic_toy_episodes(toy_records):
    results = reexec_many(toy_records)
    assert [r.error for r in results] == [None] * len(toy_records)
    assert [r.divergence for r in results] == [None] * len(toy_records)
    assert [r.turns_replayed for r in results] == [len(r.steps) for r in toy_records]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_policy_episode_reproduces(seed):
    env = gym.make(TOY, max_turns=8)
    try:
        record = run_episode(
            env, RandomPolicy(seed), seed=seed, task_id=f"toy-{seed}", env_id=TOY, env_kwargs={"max_turns": 8}
        )
    finally:
        env.close()
    assert reexec(record) is None


def test_episode_whose_task_the_env_drew_reproduces():
    env = gym.make(TOY)
    try:  # no task id: the env draws the task from its seeded RNG before the submit draw
        record = run_episode(
            env, ScriptedPolicy(["work", "work", "work", "work", "work", "submit"]), seed=0, env_id=TOY
        )
    finally:
        env.close()
    assert record.trajectory_components["outcome"] == "tests_pass"
    assert record.reset_options == {}  # the exact reset options are recorded: replay needs no guess
    result = reexec_result(record)
    assert result.ok and not result.notes, (result.divergence, result.notes)
    # a record from before `reset_options` existed: forcing the task skips the env's task draw,
    # shifts its RNG and flips the pass draw; the retry without a forced task fixes it
    legacy = record.model_copy()
    del legacy.__dict__["reset_options"]
    result = reexec_result(legacy)
    assert result.ok, result.divergence
    assert result.notes and "no task_id forced" in result.notes[0]


def test_injected_nondeterminism_is_found_at_turn_3():
    env = gym.make(FLAKY)
    try:
        record = run_episode(
            env,
            ScriptedPolicy(["work", "noop", "work", "work", "submit"]),
            seed=1,
            task_id="toy-2",
            env_id=FLAKY,
        )
    finally:
        env.close()
    divergence = reexec(record)
    assert divergence is not None
    assert (divergence.turn, divergence.field) == (3, "observation")
    assert "episode #" in divergence.recorded and "episode #" in divergence.replayed
    assert divergence.recorded != divergence.replayed
    assert "turn 3: observation differs" in divergence.describe()


def test_tampered_record_is_found_at_the_tampered_turn(toy_records):
    record = next(r for r in toy_records if len(r.steps) >= 4).model_copy(deep=True)
    record.steps[2].observation = "something the env never said"
    divergence = reexec(record)
    assert divergence is not None and (divergence.turn, divergence.field) == (3, "observation")

    record = next(r for r in toy_records if len(r.steps) >= 2).model_copy(deep=True)
    record.steps[1].components["critic"] = 123.0
    divergence = reexec(record)
    assert divergence is not None and (divergence.turn, divergence.field) == (2, "components")
    assert "critic" in divergence.detail


def test_changed_outcome_and_return_are_found_at_the_end(toy_records):
    record = toy_records[0].model_copy(deep=True)
    record.trajectory_components["outcome"] = (
        "tests_pass" if record.trajectory_components["outcome"] != "tests_pass" else "tests_fail"
    )
    divergence = reexec(record)
    assert divergence is not None and divergence.turn == -1 and divergence.field == "trajectory_components"

    record = toy_records[0].model_copy(deep=True)
    assert record.report is not None
    record.report = record.report.model_copy(update={"return_direct": record.report.return_direct + 1})
    divergence = reexec(record)
    assert divergence is not None and (divergence.turn, divergence.field) == (-1, "return_direct")


def test_ignore_skips_a_field(toy_records):
    record = next(r for r in toy_records if len(r.steps) >= 2).model_copy(deep=True)
    record.steps[1].components["critic"] = 123.0
    assert reexec(record, ignore=["critic"]) is None


def test_early_end_is_a_divergence(toy_records):
    record = next(r for r in toy_records if r.terminated and len(r.steps) >= 2).model_copy(deep=True)
    # pretend the recorded episode went on after submit: the replay ends at the submit turn
    extra = record.steps[-1].model_copy(update={"turn": record.steps[-1].turn + 1})
    record.steps[-1] = record.steps[-1].model_copy(update={"terminated": False})
    record.steps.append(extra)
    divergence = reexec(record)
    assert divergence is not None and divergence.field == "terminated"


def test_changed_step_reward_is_found(toy_records):
    record = next(r for r in toy_records if len(r.steps) >= 2).model_copy(deep=True)
    record.steps[0].reward = 0.5  # terminal emission: the env pays 0 before the last step
    divergence = reexec(record)
    assert divergence is not None and (divergence.turn, divergence.field) == (1, "reward")


def test_describe_shows_a_long_text_around_its_first_difference():
    from agentgym.replay.reexec import Divergence

    recorded = "x" * 5000 + "RECORDED tail"
    replayed = "x" * 5000 + "REPLAYED tail"
    text = Divergence(2, "observation", recorded, replayed).describe()
    assert "RECORDED tail" in text and "REPLAYED tail" in text and text.count("...") >= 2
