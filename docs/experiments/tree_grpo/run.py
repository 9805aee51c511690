"""Tree-aware vs plain GRPO advantages at equal episode budget on StallOrSubmit (tabular, CPU).

Usage: python docs/experiments/tree_grpo/run.py [OUT_DIR] [SEEDS] [ITERATIONS] [REWARD] [NORM] [LR]
Writes OUT_DIR/metrics.jsonl (one row per arm, seed and iteration) and OUT_DIR/final.json.

The policy is a table of logits indexed by turn over work / noop / submit (as `agentgym train toy`),
acting through the real env (`agentgym/StallOrSubmit-v0`, REWARD gated | outcome, max_turns=5). Each
iteration spends the same number of episodes in both arms:
- plain: `groups` groups of `budget/groups` independent episodes per task; every step of an
  episode gets its group-relative advantage (GRPO);
- tree: per group, trees (`agentgym.tree.run_tree`, K continuations from each branch turn) until
  the group has spent its share of episodes; every step owned by an episode gets the advantage
  relative to the episodes sharing its latest branch point (`tree_advantages`); shared prefix
  steps are trained once, in their owner.
The update is the policy gradient of the advantages (one step per iteration, learning rate LR),
divided by the batch's episodes (NORM=episode, as `agentgym train toy`) or by the steps it trains
(NORM=step, as the GRPO trainer's token-level loss: a tree trains each shared step once, so it has
fewer terms per episode).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np

import agentgym  # noqa: F401
from agentgym.baselines.train.tree_advantage import tree_advantages
from agentgym.policy import PolicyOutput
from agentgym.rollout import run_episode
from agentgym.tree import TreeRunner

ACTIONS = ("work", "noop", "submit")
ENV_ID = "agentgym/StallOrSubmit-v0"
ENV_KWARGS: dict = {"max_turns": 5}
EVAL_EVERY = 5
NORM = {"by": "episode"}


class TablePolicy:
    """Samples an action from softmax(logits[turn]); remembers (turn, action, probs) per message."""

    name = "table"

    def __init__(self, logits: np.ndarray, seed: int) -> None:
        self.logits = logits
        self.rng = np.random.default_rng(seed)

    def describe(self) -> dict:
        return {"name": self.name}

    def for_episode(self, seed: int) -> TablePolicy:
        return TablePolicy(self.logits, int(self.rng.integers(2**31)) ^ seed)

    def act(self, messages: list, tools: list) -> PolicyOutput:
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        row = self.logits[min(turn, len(self.logits) - 1)]
        p = np.exp(row - row.max())
        p /= p.sum()
        return PolicyOutput.from_text(ACTIONS[int(self.rng.choice(3, p=p))])


def _gradient(logits: np.ndarray, records: list, advantages: list) -> tuple[np.ndarray, int]:
    grad = np.zeros_like(logits)
    terms = 0
    for record, adv in zip(records, advantages, strict=True):
        if adv is None:
            continue
        for t, (step, a) in enumerate(zip(record.steps, adv, strict=True)):
            if a is None or step.action.strip() not in ACTIONS:
                continue
            row = logits[t]
            p = np.exp(row - row.max())
            p /= p.sum()
            g = -p
            g[ACTIONS.index(step.action.strip())] += 1.0
            grad[t] += a * g
            terms += 1
    return grad, terms


def _plain(records: list) -> list:
    from agentgym.baselines.train.grpo import compute_advantages

    return compute_advantages(records, mode="trajectory")


def run(arm: str, seed: int, iterations: int, budget: int, groups: int, k: int, turns: list[int], lr: float,
        log) -> dict:
    env = gym.make(ENV_ID, **ENV_KWARGS)
    task_ids = env.unwrapped.task_ids()
    logits = np.zeros((ENV_KWARGS["max_turns"], 3))
    rng = np.random.default_rng(seed)
    policy = TablePolicy(logits, seed)
    episodes_used = env_steps = 0
    started = time.perf_counter()
    curve = []
    for iteration in range(iterations):
        if iteration % EVAL_EVERY == 0:
            curve.append({"iteration": iteration, "episodes": episodes_used, **_evaluate(env, logits, seed, 200)})
            log({"arm": arm, "seed": seed, "eval": True, **curve[-1]})
        records = []
        for group in range(groups):
            task_id = task_ids[int(rng.integers(len(task_ids)))]
            share = budget // groups
            group_records = []
            while len(group_records) < share:
                episode_seed = int(rng.integers(2**31))
                if arm == "plain":
                    r = run_episode(env, policy, seed=episode_seed, task_id=task_id, env_id=ENV_ID,
                                    env_kwargs=ENV_KWARGS)
                    group_records.append(r)
                else:
                    tree = TreeRunner(env, policy, env_id=ENV_ID, env_kwargs=ENV_KWARGS, branch_turns=turns, k=k,
                                      seed=episode_seed, task_id=task_id).run()
                    group_records.extend(tree[: share - len(group_records)])
            for r in group_records:
                r.group_id = f"i{iteration}g{group}"
            records.extend(group_records)
        advantages = _plain(records) if arm == "plain" else tree_advantages(records)
        grad, terms = _gradient(logits, records, advantages)
        logits += lr * grad / (len(records) if NORM["by"] == "episode" else max(terms, 1))
        episodes_used += len(records)
        env_steps += sum(len(r.steps) - (getattr(r, "branch_turn", None) or 0) for r in records)  # restored, not replayed
        returns = [r.report.return_ for r in records if r.report is not None]
        log({"arm": arm, "seed": seed, "iteration": iteration, "episodes": episodes_used, "env_steps": env_steps,
             "mean_return": float(np.mean(returns)), "success": float(np.mean([bool(r.success) for r in records])),
             "completion": float(np.mean([r.metrics.get("completed", 0.0) for r in records])),
             "mean_turns": float(np.mean([len(r.steps) for r in records]))})
    final = _evaluate(env, logits, seed, 300)
    curve.append({"iteration": iterations, "episodes": episodes_used, **final})
    log({"arm": arm, "seed": seed, "eval": True, **curve[-1]})
    env.close()
    return {"arm": arm, "seed": seed, "episodes": episodes_used, "env_steps": env_steps,
            "wall_s": time.perf_counter() - started, **{f"eval_{k}": v for k, v in final.items()},
            "logits": logits.round(3).tolist()}


def _evaluate(env, logits: np.ndarray, seed: int, episodes: int) -> dict:
    """Fresh episodes of the current table (the same evaluation seeds in both arms)."""
    policy = TablePolicy(logits.copy(), 10_000 + seed)
    evals = [run_episode(env, policy, seed=20_000_000 + seed * 1000 + i, env_id=ENV_ID, env_kwargs=ENV_KWARGS)
             for i in range(episodes)]
    return {"success": float(np.mean([bool(r.success) for r in evals])),
            "completion": float(np.mean([r.metrics.get("completed", 0.0) for r in evals])),
            "return": float(np.mean([r.report.return_ for r in evals])),
            "turns": float(np.mean([len(r.steps) for r in evals]))}


def main() -> None:
    warnings.simplefilter("ignore")
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tree_grpo")
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    iterations = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    ENV_KWARGS["reward"] = sys.argv[4] if len(sys.argv) > 4 else "gated"
    NORM["by"] = sys.argv[5] if len(sys.argv) > 5 else "episode"
    out.mkdir(parents=True, exist_ok=True)
    config = {"budget": 16, "groups": 2, "k": 2, "turns": [1, 2, 3], "lr": float(sys.argv[6]) if len(sys.argv) > 6 else 1.0,
              "normalize_by": NORM["by"]}
    (out / "config.json").write_text(json.dumps({**config, "seeds": seeds, "iterations": iterations,
                                                  "env": ENV_ID, "env_kwargs": ENV_KWARGS}, indent=2))
    metrics = (out / "metrics.jsonl").open("w")

    def log(row: dict) -> None:
        metrics.write(json.dumps(row) + "\n")
        metrics.flush()

    finals = []
    for seed in range(seeds):
        for arm in ("plain", "tree"):
            finals.append(run(arm, seed, iterations, config["budget"], config["groups"], config["k"],
                              config["turns"], config["lr"], log))
            (out / "final.json").write_text(json.dumps(finals, indent=2))
    metrics.close()


if __name__ == "__main__":
    main()
