"""`agentgym train grpo`: multi-turn GRPO on an agentgym env (baselines/train/grpo.py).

Mounted by the lead in `agentgym/cli/main.py` (`train_app.command("grpo")(train_command)`); also
runnable on its own: `python -m agentgym.cli.train --env ... --policy ... --reward gated`.
Heavy imports (torch, transformers) stay inside the function so `agentgym --help` stays fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer


def _parse_kv(items: list[str] | None) -> dict:
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def train_command(
    env: Annotated[str, typer.Option("--env", help="Env id (see `agentgym list`).")],
    policy: Annotated[str, typer.Option("--policy", help="Model: smollm2 | hf:PATH | PATH | tiny[:TOKENIZER] | a checkpoint dir.")] = "smollm2",
    reward: Annotated[str, typer.Option("--reward", help="gated | direct | outcome | a reward-spec YAML path.")] = "gated",
    out: Annotated[Path, typer.Option("--out", help="Run directory (metrics.jsonl, rollouts.jsonl, checkpoints).")] = Path("runs/grpo"),
    steps: Annotated[int, typer.Option(help="Training steps (rollout batch + update each).")] = 10,
    groups: Annotated[int, typer.Option("--groups", help="Tasks per step.")] = 2,
    group_size: Annotated[int, typer.Option("--group-size", "-G", help="Samples per task (GRPO group).")] = 4,
    seed: Annotated[int, typer.Option(help="Seed (model init for tiny, sampling, task choice).")] = 0,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-5,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (the loss uses the same).")] = 1.0,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Tokens per turn.")] = 64,
    actions: Annotated[str | None, typer.Option("--actions", help="Constrained decoding to these comma-separated words (+ end token), e.g. work,noop,submit.")] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt", help="The agent's system prompt (replaces the env's).")] = None,
    env_arg: Annotated[list[str] | None, typer.Option("--env-arg", help="Env kwarg KEY=VALUE (JSON values), repeatable.")] = None,
    advantage: Annotated[str, typer.Option(help="trajectory | turn (from the report's step_rewards).")] = "trajectory",
    clip_eps: Annotated[float, typer.Option("--clip-eps")] = 0.2,
    beta_kl: Annotated[float, typer.Option("--beta-kl", help="KL-to-reference coefficient (0: no reference model).")] = 0.0,
    ppo_epochs: Annotated[int, typer.Option("--ppo-epochs")] = 1,
    minibatches: Annotated[int, typer.Option("--minibatches", help="Optimizer steps per epoch.")] = 1,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="Episodes per forward/backward (gradient accumulation).")] = 1,
    trainable_layers: Annotated[int | None, typer.Option("--trainable-layers", help="Train only the top N blocks (frozen trunk).")] = None,
    rollout_backend: Annotated[str, typer.Option("--rollout", help="local (transformers, in-process) | vllm (in-process engine, re-created after each update) | ray (rollout actors)")] = "local",
    ray_workers: Annotated[int, typer.Option("--ray-workers", help="Rollout actors with --rollout ray.")] = 2,
    concurrency: Annotated[int, typer.Option(help="Episodes in flight during rollouts.")] = 1,
    save_every: Annotated[int, typer.Option("--save-every", help="Checkpoint every N steps (0: only the last).")] = 0,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue from a checkpoint directory.")] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Stop after this many seconds (finishing the current step).")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No per-step console lines.")] = False,
) -> None:
    """Train a policy with multi-turn GRPO on an agentgym env under a reward mode."""
    import warnings

    from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer

    warnings.filterwarnings("ignore", message=".*dominance.*")
    deadline = time.time() + time_limit if time_limit else None
    if resume is not None:
        trainer = GRPOTrainer.resume(resume, console=not quiet, steps=steps, out_dir=str(out))
    else:
        config = GRPOConfig(
            env_id=env,
            env_kwargs=_parse_kv(env_arg),
            reward=reward,
            model=policy,
            out_dir=str(out),
            seed=seed,
            steps=steps,
            groups_per_step=groups,
            group_size=group_size,
            concurrency=concurrency,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            action_words=[w.strip() for w in actions.split(",")] if actions else None,
            system_prompt=system_prompt,
            rollout_backend=rollout_backend,
            ray_workers=ray_workers,
            learning_rate=lr,
            clip_eps=clip_eps,
            beta_kl=beta_kl,
            ppo_epochs=ppo_epochs,
            minibatches=minibatches,
            micro_batch_episodes=micro_batch,
            advantage=advantage,
            trainable_layers=trainable_layers,
            save_every=save_every,
            threads=threads,
        )
        trainer = GRPOTrainer(config, console=not quiet)
    rows = trainer.train(deadline=deadline)
    typer.echo(f"trained {len(rows)} step(s) to step {trainer.step}; metrics: {trainer.out_dir / 'metrics.jsonl'}")
    if not rows:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(train_command)
