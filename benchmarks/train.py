"""Trainer overhead: a GRPO update vs a plain forward+backward of the same model on the same batch.

One rollout batch is collected on StallOrSubmit (constrained actions), then timed, each `--repeats`
times on the same tokens:
  reference  plain causal-LM forward + backward (+ AdamW step) over every episode's tokens
  grpo       GRPOTrainer.update: masked policy-token logprobs, clipped ratio, aggregation, backward, step
  grpo+trunk (with --trainable-layers N) the same update reusing the rollout's frozen-trunk features
Prints seconds per update, tokens/s, and the ratio grpo/reference measured in this run.

With `--split-steps N`: the wall-clock split of full GRPO steps (`GRPOTrainer.train_step`) into
rollout and update on ToolUse-v0 (files world, free decoding, tools in the prompt), and the
rollout time with the shared-prompt KV cache (the default) against without it, measured in this run.

    python benchmarks/train.py --quick            # tiny random Llama over the SmolLM2 tokenizer
    python benchmarks/train.py --model smollm2    # the real 135M model (slow on CPU)
    python benchmarks/train.py --split-steps 2 --model smollm2 --trainable-layers 4 --device cpu
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model, small batch, 2 repeats")
    parser.add_argument("--model", default="tiny", help="tiny | smollm2 | hf:PATH")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trainable-layers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--split-steps", type=int, default=0, help="time N GRPO steps on ToolUse-v0: rollout vs update")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.split_steps:
        if args.threads:
            torch.set_num_threads(args.threads)
        wallclock_split(args)
        return
    if args.quick:
        args.model, args.episodes, args.repeats = "tiny", 8, 2
        args.trainable_layers = args.trainable_layers or 1
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, load_model
    from agentgym.baselines.train.sequences import episode_segments

    model, tokenizer = load_model(args.model, seed=0)
    cfg = GRPOConfig(
        model=args.model, out_dir="/tmp/agentgym-bench-train", groups_per_step=max(1, args.episodes // 4), group_size=4,
        action_words=["work", "noop", "submit"], system_prompt="Reply with one word: work, noop or submit.",
        max_new_tokens=4, env_kwargs={"max_turns": args.max_turns, "pass_prob": 0.5}, temperature=1.5,
        learning_rate=1e-5, save_final=False, keep_rollouts=False, trainable_layers=args.trainable_layers,
    )
    trainer = GRPOTrainer(cfg, model=model, tokenizer=tokenizer, console=False)
    records = trainer.collect(0)
    segments = [s for r in records for s in episode_segments(r, trainer.trie).segments]
    tokens = sum(len(s.input_ids) for s in segments)
    policy_tokens = sum(s.n_loss_tokens for s in segments)
    print(f"model={args.model} episodes={len(records)} tokens={tokens} loss_tokens={policy_tokens} "
          f"trainable_layers={args.trainable_layers} threads={torch.get_num_threads()}")

    state = copy.deepcopy(trainer.model.state_dict())

    def reference() -> None:
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-5)
        for segment in segments:
            ids = torch.tensor([segment.input_ids])
            trainer.model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def grpo(use_trunk: bool) -> None:
        saved = trainer.first_trainable_layer
        if not use_trunk:
            trainer._policy.feature_layer, feature_layer = None, trainer._policy.feature_layer
        try:
            trainer.update(records)
        finally:
            if not use_trunk:
                trainer._policy.feature_layer = feature_layer
            trainer.first_trainable_layer = saved

    def timed(fn) -> float:
        times = []
        for _ in range(args.repeats):
            trainer.model.load_state_dict(state)
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    ref = timed(reference)
    full = timed(lambda: grpo(False))
    print(f"reference fwd+bwd : {ref:8.3f} s/update  {tokens / ref:10.1f} tokens/s")
    print(f"grpo update       : {full:8.3f} s/update  {tokens / full:10.1f} tokens/s  ratio {full / ref:.2f}x reference")
    if args.trainable_layers and trainer._policy is not None and trainer._policy.feature_layer is not None:
        trunk = timed(lambda: grpo(True))
        print(f"grpo + trunk reuse: {trunk:8.3f} s/update  {tokens / trunk:10.1f} tokens/s  ratio {trunk / ref:.2f}x reference")


def wallclock_split(args: argparse.Namespace) -> None:
    """Rollout vs update seconds per GRPO step on a real tool family, and the prompt-cache speed-up."""
    warnings.filterwarnings("ignore")
    from agentgym.baselines.train.grpo import GRPOConfig, GRPOTrainer, load_model

    model, tokenizer = load_model(args.model, seed=0)
    cfg = GRPOConfig(
        env_id="agentgym/ToolUse-v0", env_kwargs={"world": "files", "split": "train", "max_turns": 3},
        model=args.model, out_dir="/tmp/agentgym-bench-train-split", groups_per_step=1, group_size=max(2, args.episodes // 2),
        max_new_tokens=48, temperature=1.0, learning_rate=1e-5, save_final=False, keep_rollouts=False,
        trainable_layers=args.trainable_layers, device=args.device,
    )
    trainer = GRPOTrainer(cfg, model=model, tokenizer=tokenizer, console=False)
    rows = [trainer.train_step() for _ in range(args.split_steps)]
    print(f"model={args.model} device={args.device} episodes/step={cfg.groups_per_step * cfg.group_size} "
          f"trainable_layers={args.trainable_layers} threads={torch.get_num_threads()}")
    for row in rows:
        share = row["rollout_s"] / max(row["step_s"], 1e-9)
        print(f"step {row['step']}: rollout {row['rollout_s']:7.2f} s  update {row['train_s']:7.2f} s  "
              f"rollout share {share:.0%}  turns {row.get('mean_turns', 0):.2f}  policy_tokens {row['policy_tokens']:.0f}")
    # the same rollout batch with and without the shared-prompt cache (same seed: same episodes)
    policy = trainer.policy()
    timings = {}
    for label, reuse in (("prompt cache", True), ("no prompt cache", False)):
        policy.reuse_cache = reuse
        started = time.perf_counter()
        trainer.collect(trainer.step)
        timings[label] = time.perf_counter() - started
    policy.reuse_cache = True
    print(f"rollout with prompt cache {timings['prompt cache']:.2f} s, without {timings['no prompt cache']:.2f} s: "
          f"ratio {timings['no prompt cache'] / max(timings['prompt cache'], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
