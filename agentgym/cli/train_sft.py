"""`agentgym train sft`: supervised warm start on successful episodes of record files.

Mounted in `agentgym/cli/main.py` (`SUB_APPS`: `train sft`). The trainer is
`baselines/train/sft.py`; heavy imports stay inside the function so `agentgym --help` stays fast.

    agentgym eval ENV_ID -p oracle -e split=train -n 50 -o oracle.jsonl
    agentgym train sft --records oracle.jsonl --policy smollm2 --out runs/sft --steps 40 \\
        --trainable-layers 4 --eval-env ENV_ID --eval-every 20          (README: "Baselines that learn")
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from agentgym.cli.train import _parse_kv


def sft_command(
    records: Annotated[list[Path], typer.Option("--records", help="Trajectory file(s) (JSONL records), repeatable: oracle episodes or any policy's.")],
    policy: Annotated[str, typer.Option("--policy", help="Model to start from: smollm2 | hf:PATH | PATH | tiny[:TOKENIZER].")] = "smollm2",
    out: Annotated[Path, typer.Option("--out", help="Run directory (metrics.jsonl, eval.jsonl, checkpoint-last/).")] = Path("runs/sft"),
    steps: Annotated[int, typer.Option(help="Optimizer steps.", min=1)] = 50,
    batch: Annotated[int, typer.Option("--batch", help="Episodes per step.", min=1)] = 4,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-4,
    warmup: Annotated[int, typer.Option("--warmup", help="Linear warm-up steps.", min=0)] = 0,
    split: Annotated[str, typer.Option("--split", help="Only episodes of this task split are accepted ('' for any).")] = "train",
    all_episodes: Annotated[bool, typer.Option("--all-episodes", help="Train on every episode, not only the successful ones.")] = False,
    lora: Annotated[int | None, typer.Option("--lora", help="LoRA rank (peft); merged into the weights at save.", min=1)] = None,
    trainable_layers: Annotated[int | None, typer.Option("--trainable-layers", help="Train only the top N blocks (frozen trunk).", min=1)] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt", help="The agent's system prompt (replaces the recorded one, as at rollout).")] = None,
    eval_env: Annotated[str | None, typer.Option("--eval-env", help="Env id for held-out evaluation (greedy).")] = None,
    eval_arg: Annotated[list[str] | None, typer.Option("--eval-arg", help="Eval env kwarg KEY=VALUE, repeatable.")] = None,
    eval_split: Annotated[str, typer.Option("--eval-split")] = "test",
    eval_every: Annotated[int, typer.Option("--eval-every", help="Evaluate before, every N steps and after (0: before/after only when --eval-env).", min=0)] = 0,
    eval_episodes: Annotated[int | None, typer.Option("--eval-episodes", help="First N tasks of the split (default: all).", min=1)] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Tokens per turn in evaluation.", min=1)] = 96,
    seed: Annotated[int, typer.Option(help="Seed (batch order, evaluation).")] = 0,
    device: Annotated[str, typer.Option("--device", help="cpu | cuda | cuda:N.")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="torch CPU threads.")] = None,
) -> None:
    """Fine-tune a policy on successful episodes (oracle or rejection sampling), assistant tokens only."""
    import warnings

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentgym.baselines.train.sft import SFTConfig, SFTTrainer, select_records
    from agentgym.cli.common import fail
    from agentgym.errors import AgentGymError

    warnings.filterwarnings("ignore", message=".*dominance.*")
    if lora is not None and trainable_layers is not None:
        fail("--lora and --trainable-layers are alternatives: choose one")
    for path in records:
        if not path.exists():
            fail(f"--records {path}: no such file")
    try:
        selected = select_records(records, split=split or None, successful_only=not all_episodes)
    except AgentGymError as exc:
        fail(str(exc))
    if not selected:
        fail("no successful episodes in --records (use --all-episodes to train on every episode)")
    config = SFTConfig(
        records=[str(p) for p in records], model=policy, out_dir=str(out), split=split or None,
        successful_only=not all_episodes, system_prompt=system_prompt, steps=steps, batch_episodes=batch,
        learning_rate=lr, warmup_steps=warmup, lora_rank=lora, trainable_layers=trainable_layers, seed=seed,
        device=device, threads=threads, eval_every=(eval_every or steps) if eval_env else 0, eval_env=eval_env,
        eval_env_kwargs=_parse_kv(eval_arg), eval_split=eval_split, eval_episodes=eval_episodes,
        eval_max_new_tokens=max_new_tokens,
    )
    console = Console(stderr=True)
    started = time.perf_counter()
    trainer = SFTTrainer(config, records=selected)
    console.print(f"sft: {len(selected)} episode(s), {trainer.n_loss_tokens} assistant tokens, "
                  f"{trainer.n_trainable:,} trainable parameters")
    with Progress(TextColumn("sft"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}"), console=console) as progress:
        task = progress.add_task("sft", total=steps, info="")

        def on_step(row: dict) -> None:
            progress.update(task, advance=1, info=f"loss {row['loss']:.4f}")

        def on_eval(row: dict) -> None:
            progress.console.print(
                f"eval {row['tag']} (step {row['step']}, {row['split']}): success {row['success_rate']:.3f} "
                f"[{row['success_ci_low']:.3f}, {row['success_ci_high']:.3f}] n={row['n']}, "
                f"completion {row.get('completion_rate', float('nan')):.3f}, turns {row.get('mean_turns', float('nan')):.2f}")

        trainer.train(on_step=on_step, on_eval=on_eval)
    path = trainer.save()
    typer.echo(f"trained {trainer.step} step(s) in {time.perf_counter() - started:.0f}s; checkpoint: {path} "
               f"(use --policy hf:{path}, vllm-engine:{path}, or `agentgym serve {path}`)")


if __name__ == "__main__":
    typer.run(sft_command)
