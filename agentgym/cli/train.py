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
    env: Annotated[list[str], typer.Option("--env", help="Env id (see `agentgym list`); repeat as ID:WEIGHT for a mixture of envs.")],
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
    advantage: Annotated[str, typer.Option(help="trajectory | turn (from the report's step_rewards) | tree (sibling-relative; needs --tree-branch).")] = "trajectory",
    tree_branch: Annotated[str | None, typer.Option("--tree-branch", help="Roll out trees: K continuations from each of TURNS (K@TURNS, e.g. 2@1,2); one tree per group sample.")] = None,
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
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | cuda:N: where the model, rollouts and updates run.")] = "cpu",
    eval_every: Annotated[int, typer.Option("--eval-every", help="Held-out evaluation (greedy, --eval-split tasks) before training, every N steps and after (0: none); eval.jsonl.")] = 0,
    eval_split: Annotated[str, typer.Option("--eval-split", help="The split evaluated with --eval-every.")] = "test",
    eval_episodes: Annotated[int | None, typer.Option("--eval-episodes", help="Evaluate on the first N tasks of the split (default: all).")] = None,
    records: Annotated[Path | None, typer.Option("--records", help="Train on the episodes of this trajectory file (e.g. a harness's, recorded through the gateway) instead of playing rollouts; each step uses all of it.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No per-step console lines.")] = False,
    curriculum: Annotated[str | None, typer.Option("--curriculum", help="difficulty | success_rate: which tasks each step plays (agentgym.curriculum).")] = None,
    curriculum_split: Annotated[str | None, typer.Option("--curriculum-split", help="The named task split the curriculum draws from.")] = None,
) -> None:
    """Train a policy with multi-turn GRPO on an agentgym env under a reward mode."""
    import warnings

    from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer
    from agentgym.cli.common import fail
    from agentgym.tree import parse_branch

    if tree_branch is not None:
        try:
            parse_branch(tree_branch)
        except ValueError as exc:
            fail(str(exc).replace("--branch", "--tree-branch"))
    if tree_branch is not None and rollout_backend == "ray":
        fail("--tree-branch plays trees in this process: use --rollout local or vllm, not ray")
    if advantage == "tree" and tree_branch is None:
        fail("--advantage tree needs --tree-branch K@TURNS (the trees it compares siblings in)")
    if records is not None:
        from agentgym.baselines.gateway.training import recorded_batch

        try:
            recorded_batch(records)  # readable, with token ids: checked before the model loads
        except ValueError as exc:
            fail(str(exc))
    warnings.filterwarnings("ignore", message=".*dominance.*")
    deadline = time.time() + time_limit if time_limit else None
    if resume is not None:
        trainer = GRPOTrainer.resume(resume, console=not quiet, steps=steps, out_dir=str(out))
    else:
        from agentgym.mixture import MixtureError, parse_entry

        try:
            entries = [parse_entry(e) for e in env]
        except MixtureError as exc:
            fail(str(exc))
        mixed = len(entries) > 1
        if mixed and (tree_branch is not None or rollout_backend == "ray"):
            fail("a mixture of envs (--env repeated) trains with --rollout local or vllm, without --tree-branch")
        if curriculum is not None and curriculum not in ("difficulty", "success_rate"):
            fail(f"--curriculum must be difficulty or success_rate, got {curriculum!r}")
        config = GRPOConfig(
            env_id=entries[0].env_id,
            mixture=list(env) if mixed else None,
            curriculum=curriculum,
            curriculum_split=curriculum_split,
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
            tree_branch=tree_branch,
            trainable_layers=trainable_layers,
            save_every=save_every,
            threads=threads,
            device=device,
            eval_every=eval_every,
            eval_split=eval_split,
            eval_episodes=eval_episodes,
            records=str(records) if records is not None else None,
        )
        trainer = GRPOTrainer(config, console=not quiet)
    rows = trainer.train(deadline=deadline)
    typer.echo(f"trained {len(rows)} step(s) to step {trainer.step}; metrics: {trainer.out_dir / 'metrics.jsonl'}")
    if not rows:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(train_command)
