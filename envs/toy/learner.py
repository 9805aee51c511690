"""A tabular REINFORCE learner for StallOrSubmit: the G-RA vs D-RA effect in seconds on a CPU.

The policy is a table of logits indexed by turn (the only state StallOrSubmit reveals that
matters) over the actions work / noop / submit. Each iteration plays a batch of episodes through
the real Gymnasium env (`agentgym/StallOrSubmit-v0` with the chosen reward mode), uses the episode
returns from the env's reward report with a batch-mean baseline, and takes one policy-gradient
step. Under `direct` the learner stalls to the turn cap; under `gated` it submits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

ACTIONS = ("work", "noop", "submit")


@dataclass
class ToyTrainConfig:
    reward: str = "gated"
    iterations: int = 150
    batch_size: int = 32
    learning_rate: float = 1.0
    seed: int = 0
    eval_episodes: int = 200


@dataclass
class ToyTrainResult:
    config: ToyTrainConfig
    completion_rate: float  # submitted before the turn cap, measured after training
    success_rate: float
    mean_turns: float
    mean_return: float
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _softmax(row: np.ndarray) -> np.ndarray:
    z = np.exp(row - row.max())
    return z / z.sum()


def _play(env: gym.Env, logits: np.ndarray, rng: np.random.Generator, seed: int):
    """One episode: (visited turns, chosen actions, action probabilities, final info)."""
    env.reset(seed=seed)
    turns, actions, probs = [], [], []
    while True:
        t = len(turns)
        p = _softmax(logits[t])
        a = int(rng.choice(len(ACTIONS), p=p))
        turns.append(t)
        actions.append(a)
        probs.append(p)
        _, _, terminated, truncated, info = env.step(ACTIONS[a])
        if terminated or truncated:
            return turns, actions, probs, info


def evaluate(env: gym.Env, logits: np.ndarray, episodes: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    completed = success = turns = returns = 0.0
    for i in range(episodes):
        visited, _, _, info = _play(env, logits, rng, seed=seed + i)
        completed += info["metrics"]["completed"]
        success += info["metrics"]["success"]
        turns += len(visited)
        returns += info["report"].return_
    return {
        "completion_rate": completed / episodes,
        "success_rate": success / episodes,
        "mean_turns": turns / episodes,
        "mean_return": returns / episodes,
    }


def train_toy(
    config: ToyTrainConfig,
    on_iteration: Callable[[int, dict[str, float]], None] | None = None,
) -> ToyTrainResult:
    env = gym.make("agentgym/StallOrSubmit-v0", reward=config.reward)
    try:
        max_turns = env.unwrapped.max_turns
        logits = np.zeros((max_turns, len(ACTIONS)))
        rng = np.random.default_rng(config.seed)
        history = []
        episode_seed = config.seed * 1_000_003
        for iteration in range(config.iterations):
            batch = []
            for _ in range(config.batch_size):
                episode_seed += 1
                batch.append(_play(env, logits, rng, seed=episode_seed))
            returns = np.array([info["report"].return_ for *_, info in batch])
            advantages = (returns - returns.mean()) / (returns.std() + 1e-8)
            grad = np.zeros_like(logits)
            for advantage, (turns, actions, probs, _) in zip(advantages, batch, strict=True):
                for t, a, p in zip(turns, actions, probs, strict=True):
                    g = -p
                    g[a] += 1.0
                    grad[t] += advantage * g
            logits += config.learning_rate * grad / config.batch_size
            stats = {
                "iteration": float(iteration),
                "mean_return": float(returns.mean()),
                "completion_rate": float(np.mean([info["metrics"]["completed"] for *_, info in batch])),
                "mean_turns": float(np.mean([len(turns) for turns, *_ in batch])),
            }
            history.append(stats)
            if on_iteration is not None:
                on_iteration(iteration, stats)
        final = evaluate(env, logits, config.eval_episodes, seed=10_000_019 + config.seed)
    finally:
        env.close()
    return ToyTrainResult(config=config, history=history, **final)
