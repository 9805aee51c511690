"""The G-RA paper's toy reproduction: under D-RA a learner stalls, under G-RA it submits."""

import pytest

from agentgym.envs.toy.learner import ToyTrainConfig, train_toy

BUDGET = {"iterations": 80, "batch_size": 24, "learning_rate": 1.5, "eval_episodes": 100}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_direct_stalls_and_gated_submits(seed):
    direct = train_toy(ToyTrainConfig(reward="direct", seed=seed, **BUDGET))
    gated = train_toy(ToyTrainConfig(reward="gated", seed=seed, **BUDGET))
    # D-RA: stalling to the cap farms the critic, so completion collapses (from ~1.0 at the start)
    assert direct.history[0]["completion_rate"] > 0.8
    assert direct.completion_rate <= 0.2, direct.completion_rate
    assert direct.mean_turns > 18
    # G-RA: a run that never submits earns nothing, so the learner keeps submitting
    assert gated.completion_rate >= 0.9, gated.completion_rate
    assert gated.success_rate > direct.success_rate
