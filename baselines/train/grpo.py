"""GRPO for multi-turn agent trajectories, on agentgym envs, in one process (CPU or one GPU).

Each step:
1. Rollouts: `groups_per_step` tasks x `group_size` samples through `agentgym.rollout`
   (`plan_jobs` + `arun_episodes`), from the policy being trained (`LocalTokenPolicy`: transformers,
   exact token ids and logprobs per turn, KV cache across turns) or from a vLLM in-process engine
   re-created from a saved checkpoint after every update (`rollout_backend="vllm"`).
2. Advantages: group-relative over the env's `RewardReport.return_` under the chosen reward mode
   (`rewards.groups.group_advantages`); with `advantage="turn"`, per-turn advantages from the
   report's `step_rewards` (group-normalised return-to-go). Episodes with `reward_invalid` get no
   advantage and no loss, and do not count in their group's statistics.
3. Loss on policy tokens only (env and tool tokens masked, see `sequences.py`): PPO-style clipped
   ratio against the recorded logprobs, optional k3 KL to a frozen reference, token-level or
   sequence-level aggregation, gradient accumulation over micro-batches, `ppo_epochs` x
   `minibatches` optimizer steps per rollout batch.
4. Metrics (JSONL + a rich console line): returns under gated/direct/outcome, completion and
   success rates, mean turns, zero-variance-group fraction, loss, KL, clip fraction, timings.
5. Checkpoints (`save_every`): model (`save_pretrained`), tokenizer, optimizer, RNG states and the
   step; `GRPOTrainer.resume(dir)` continues bit-exactly (rollout seeds derive from the step).
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentgym.baselines.train.constrained import ActionTrie
from agentgym.baselines.train.sequences import EpisodeSequences, Segment, episode_segments
from agentgym.outcome import success_of
from agentgym.trajectory import EpisodeRecord, TrajectoryWriter

STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "grpo_config.json"


@dataclass
class GRPOConfig:
    env_id: str = "agentgym/StallOrSubmit-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    reward: str = "gated"  # gated | direct | outcome | a spec path
    model: str = "smollm2"  # see `load_model`: smollm2 | hf:PATH | PATH | tiny[:TOKENIZER]
    out_dir: str = "runs/grpo"
    seed: int = 0
    steps: int = 10
    groups_per_step: int = 2
    group_size: int = 4
    task_ids: list[str] | None = None
    concurrency: int = 1
    mixture: list[str] | None = None  # ID:WEIGHT: each step's groups drawn over these envs (agentgym.mixture)
    curriculum: str | None = None  # difficulty | success_rate: the tasks of each step (agentgym.curriculum)
    curriculum_split: str | None = None  # the named split the curriculum draws from (None: every task)
    curriculum_field: str = "difficulty"  # the task field (or metadata key) a difficulty curriculum orders by
    # sampling
    max_new_tokens: int = 32
    temperature: float = 1.0
    action_words: list[str] | None = None  # constrained decoding to these words (+ end token)
    system_prompt: str | None = None  # the agent's own system prompt (replaces the env's)
    rollout_backend: str = "local"  # local | vllm | ray
    ray_workers: int = 2
    # optimisation
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    max_grad_norm: float = 1.0
    clip_eps: float = 0.2
    clip_eps_high: float | None = None  # DAPO-style asymmetric clip; None = clip_eps
    beta_kl: float = 0.0
    ppo_epochs: int = 1
    minibatches: int = 1
    micro_batch_episodes: int = 1  # episodes per forward/backward (gradient accumulation)
    advantage: str = "trajectory"  # trajectory | turn | tree (sibling-relative; needs tree_branch)
    tree_branch: str | None = None  # K@TURNS: roll out trees (agentgym.tree), one per group sample
    normalize_advantage: bool = True  # divide by the group std
    loss_aggregation: str = "token"  # token (sum over tokens / tokens in minibatch) | sequence
    trainable_layers: int | None = None  # train only the top N decoder blocks (+ final norm); None = all
    trunk_features: bool = True  # with trainable_layers: reuse the rollout's frozen-trunk hidden states
    # bookkeeping
    save_every: int = 0  # 0: only at the end (when save_final)
    save_final: bool = True
    keep_rollouts: bool = True
    threads: int | None = None
    device: str = "cpu"  # cpu | cuda | cuda:N (model, rollouts and update)
    # held-out evaluation (heldout.py): on `eval_split` before training, every `eval_every` steps, after
    eval_every: int = 0  # 0: none
    eval_split: str = "test"
    eval_episodes: int | None = None  # None: every task of the split once (greedy)
    records: str | None = None  # a trajectory file to train on instead of rollouts (each step: all of it)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------- model loading
def resolve_model_path(spec: str) -> str:
    if spec.startswith("hf:"):
        spec = spec[3:]
    if spec == "smollm2" or spec.startswith("smollm2"):
        home = Path(os.environ.get("AGENTGYM_HOME", Path.home() / ".cache" / "agentgym"))
        path = home / "models" / "smollm2"
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path} has no model: run `agentgym models fetch smollm2` first")
        return str(path)
    return spec


def tiny_model(tokenizer: Any, *, seed: int = 0, layers: int = 2, hidden: int = 64) -> Any:
    """A randomly initialised 2-layer Llama over the tokenizer's vocabulary (tests, smoke runs)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).float()


def load_model(spec: str, *, seed: int = 0) -> tuple[Any, Any]:
    """(model, tokenizer) from a model spec: `smollm2`, `hf:PATH`, `PATH`, or `tiny[:TOKENIZER]`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec == "tiny" or spec.startswith("tiny:"):
        tok_path = resolve_model_path(spec.split(":", 1)[1] if ":" in spec else "smollm2")
        tokenizer = AutoTokenizer.from_pretrained(tok_path)
        return tiny_model(tokenizer, seed=seed), tokenizer
    path = resolve_model_path(spec)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model, tokenizer


def freeze_all_but_top(model: Any, n_layers: int | None) -> int:
    """Freeze embeddings and all but the top `n_layers` blocks (the final norm stays trainable)."""
    if n_layers is None:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    decoder = model.get_decoder()
    for p in model.parameters():
        p.requires_grad_(False)
    layers = decoder.layers
    for block in list(layers)[len(layers) - n_layers:]:
        for p in block.parameters():
            p.requires_grad_(True)
    for p in decoder.norm.parameters():
        p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------- the loss
def top_forward(model: Any, features: torch.Tensor, first_layer: int) -> torch.Tensor:
    """Run decoder blocks `first_layer..` and the final norm on recorded block inputs [T, H]."""
    from transformers.masking_utils import create_causal_mask

    decoder = model.get_decoder()
    hidden = features[None]
    position_ids = torch.arange(hidden.shape[1], device=hidden.device)[None]
    mask = create_causal_mask(
        config=model.config, inputs_embeds=hidden, attention_mask=None, past_key_values=None,
        position_ids=position_ids,
    )
    position_embeddings = decoder.rotary_emb(hidden, position_ids=position_ids)
    for block in decoder.layers[first_layer:]:
        hidden = block(hidden, attention_mask=mask, position_embeddings=position_embeddings,
                       position_ids=position_ids, past_key_values=None, use_cache=False)
    return decoder.norm(hidden)[0]


def token_logprobs(
    model: Any, segment: Segment, temperature: float, *, features: torch.Tensor | None = None,
    first_layer: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of the loss tokens of a segment under `model` (with grad when enabled).

    Only the hidden states that predict loss tokens go through the LM head (env positions never
    produce logits), and constrained positions are renormalised over their allowed tokens. With
    `features` (the recorded inputs of block `first_layer` for the segment's leading positions,
    valid when the blocks below are frozen), only the top blocks run.
    Returns (logprobs [n_loss_tokens], positions [n_loss_tokens]).
    """
    device = next(model.parameters()).device
    ids = torch.tensor([segment.input_ids], dtype=torch.long, device=device)
    positions = torch.tensor([i for i, m in enumerate(segment.loss_mask) if m], dtype=torch.long, device=device)
    if features is not None and first_layer is not None:
        hidden = top_forward(model, features, first_layer)
    else:
        hidden = model.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state[0]
    logits = model.get_output_embeddings()(hidden[positions - 1]).float() / temperature
    allowed = [segment.allowed[i] for i in positions.tolist()]
    if any(a is not None for a in allowed):
        mask = torch.zeros_like(logits)
        for row, ok in enumerate(allowed):
            if ok is not None:
                mask[row].fill_(float("-inf"))
                mask[row, ok] = 0.0
        logits = logits + mask
    targets = ids[0, positions]
    logp = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]
    return logp, positions


@dataclass
class LossTerms:
    loss: torch.Tensor
    n_tokens: int
    clipped: float
    kl: float
    ratio: float


def clipped_policy_loss(
    new_logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip_eps: float,
    clip_eps_high: float | None = None,
    ref_logp: torch.Tensor | None = None,
    beta_kl: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-token PPO-clip surrogate (+ beta * k3 KL to the reference); returns per-token losses."""
    high = clip_eps if clip_eps_high is None else clip_eps_high
    ratio = torch.exp(new_logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + high) * advantages
    per_token = -torch.minimum(unclipped, clipped)
    kl_value = 0.0
    if ref_logp is not None and beta_kl > 0:
        delta = ref_logp - new_logp
        kl = torch.exp(delta) - delta - 1.0
        per_token = per_token + beta_kl * kl
        kl_value = float(kl.detach().mean())
    stats = {
        "clip_frac": float(((ratio < 1 - clip_eps) | (ratio > 1 + high)).float().mean()),
        "ratio": float(ratio.detach().mean()),
        "kl": kl_value,
    }
    return per_token, stats


# ---------------------------------------------------------------------------------- advantages
def episode_return(record: EpisodeRecord) -> float | None:
    if record.reward_invalid or record.report is None or record.report.reward_invalid:
        return None
    return float(record.report.return_)


def _group(record: EpisodeRecord, index: int) -> Any:
    """A record's GRPO group: (env, task, group id), so a group never mixes envs or tasks."""
    return (record.env_id, record.task_id, record.group_id) if record.group_id else f"_solo{index}"


def compute_advantages(
    records: list[EpisodeRecord], *, mode: str = "trajectory", normalize: bool = True, eps: float = 1e-6
) -> list[list[float] | None]:
    """Per-episode, per-turn advantages (None for masked episodes).

    trajectory: every turn gets the episode's group-relative advantage (GRPO).
    turn: turn t gets (return-to-go_t - group mean return) / group std, from the report's
    `step_rewards` (whose sum is the return), so turns after the reward was earned get less credit.
    """
    from agentgym.rewards.groups import group_advantages

    returns = [episode_return(r) for r in records]
    groups = [_group(r, i) for i, r in enumerate(records)]
    base = group_advantages(returns, groups, normalize=normalize, eps=eps)
    out: list[list[float] | None] = []
    if mode == "trajectory":
        for record, adv in zip(records, base, strict=True):
            out.append(None if adv is None else [float(adv)] * len(record.steps))
        return out
    if mode != "turn":
        raise ValueError(f"advantage must be 'trajectory' or 'turn', got {mode!r}")
    stats: dict[str, tuple[float, float]] = {}
    for gid in set(groups):
        values = [v for v, g in zip(returns, groups, strict=True) if g == gid and v is not None]
        if values:
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            stats[gid] = (mean, std)
    for record, value, gid in zip(records, returns, groups, strict=True):
        if value is None:
            out.append(None)
            continue
        mean, std = stats[gid]
        steps = list(record.report.step_rewards) if record.report is not None else []
        steps = (steps + [0.0] * len(record.steps))[: len(record.steps)]
        rtg = np.cumsum(steps[::-1])[::-1] if steps else np.zeros(0)
        if std <= 1e-12:
            out.append([0.0] * len(record.steps))
            continue
        denom = (std + eps) if normalize else 1.0
        out.append([float((g - mean) / denom) for g in rtg])
    return out


# ---------------------------------------------------------------------------------- metrics
def rollout_metrics(records: list[EpisodeRecord]) -> dict[str, float]:
    from agentgym.rewards.groups import zero_variance_fraction

    valid = [r for r in records if episode_return(r) is not None]
    out: dict[str, float] = {"episodes": float(len(records)), "invalid": float(len(records) - len(valid))}
    returns = [episode_return(r) for r in records]
    groups = [_group(r, i) for i, r in enumerate(records)]
    out["zero_variance_groups"] = zero_variance_fraction(returns, groups)
    if not valid:
        return out
    out["return"] = float(np.mean([r.report.return_ for r in valid]))
    for name in ("gated", "direct", "outcome"):
        out[f"return_{name}"] = float(np.mean([getattr(r.report, f"return_{name}") for r in valid]))
    out["mean_turns"] = float(np.mean([len(r.steps) for r in valid]))
    completed = [r.metrics["completed"] for r in valid if "completed" in r.metrics]
    if completed:
        out["completion_rate"] = float(np.mean(completed))
    successes = [s for s in (success_of(r) for r in valid) if s is not None]
    if successes:
        out["success_rate"] = float(np.mean(successes))
    out["action_valid_rate"] = float(np.mean([s.action_valid for r in valid for s in r.steps] or [0.0]))
    return out


class MetricsLog:
    """Append metrics as JSON lines and print a compact line per step (rich)."""

    COLUMNS = ("step", "return", "return_gated", "return_direct", "return_outcome", "completion_rate",
               "success_rate", "mean_turns", "zero_variance_groups", "loss", "kl", "step_s")

    def __init__(self, path: Path, *, console: bool = True) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._console = None
        if console:
            from rich.console import Console

            self._console = Console(stderr=True)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        if self._console is not None:
            parts = []
            for key in self.COLUMNS:
                if key in row:
                    value = row[key]
                    parts.append(f"[bold]{key}[/]={value:.3g}" if isinstance(value, float) else f"[bold]{key}[/]={value}")
            self._console.print(" ".join(parts))


# ---------------------------------------------------------------------------------- the trainer
class GRPOTrainer:
    """Multi-turn GRPO on an agentgym env (see the module docstring)."""

    def __init__(
        self,
        config: GRPOConfig,
        *,
        model: Any | None = None,
        tokenizer: Any | None = None,
        console: bool = True,
    ) -> None:
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        self._seed_everything(config.seed)
        if model is None or tokenizer is None:
            model, tokenizer = load_model(config.model, seed=config.seed)
        self.model = model.to(config.device)
        self.tokenizer = tokenizer
        self.model.train()
        self.n_trainable = freeze_all_but_top(self.model, config.trainable_layers)
        self.first_trainable_layer = (
            None if config.trainable_layers is None
            else len(self.model.get_decoder().layers) - config.trainable_layers
        )
        self.ref_model = None
        if config.beta_kl > 0:
            self.ref_model = copy.deepcopy(self.model).eval()
            for p in self.ref_model.parameters():
                p.requires_grad_(False)
        self.trie = (
            ActionTrie.from_words(tokenizer, config.action_words) if config.action_words else None
        )
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=config.learning_rate,
            betas=tuple(config.adam_betas),
            weight_decay=config.weight_decay,
        )
        self.step = 0
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2))
        self.metrics = MetricsLog(self.out_dir / "metrics.jsonl", console=console)
        self._policy = None
        self._vllm = None
        self._ray_pool = None
        self.history: list[dict[str, Any]] = []
        self.curriculum = None
        if config.curriculum is not None:
            from agentgym.curriculum import make_curriculum

            self.curriculum = make_curriculum(config.curriculum, config.env_id, self._env_kwargs(),
                                              split=config.curriculum_split, field=config.curriculum_field)  # fmt: skip

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)

    def _env_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.config.env_kwargs)
        kwargs["reward"] = self.config.reward
        return kwargs

    def policy(self) -> Any:
        if self.config.rollout_backend == "vllm":
            from agentgym.baselines.train.vllm_rollout import VLLMEnginePolicy

            if self._vllm is None:
                self._vllm = VLLMEnginePolicy(
                    self.tokenizer,
                    work_dir=self.out_dir / "_vllm_sync",
                    max_new_tokens=self.config.max_new_tokens,
                    temperature=self.config.temperature,
                    action_trie=self.trie,
                    system_prompt=self.config.system_prompt,
                )
                self._vllm.sync(self.model)
            return self._vllm
        if self._policy is None:
            from agentgym.baselines.train.sampler import LocalTokenPolicy

            self._policy = LocalTokenPolicy(
                self.model,
                self.tokenizer,
                max_new_tokens=self.config.max_new_tokens,
                temperature=self.config.temperature,
                action_trie=self.trie,
                system_prompt=self.config.system_prompt,
                seed=self.config.seed,
                feature_layer=self.first_trainable_layer if self.config.trunk_features else None,
            )
        return self._policy

    def _task_ids(self) -> list[str] | None:
        if self.config.task_ids is not None:
            return list(self.config.task_ids)
        from agentgym.family import list_task_ids

        kwargs = self._env_kwargs()
        return list_task_ids(self.config.env_id, kwargs, kwargs.get("split"))

    def _step_seed(self, step: int) -> int:
        return (self.config.seed * 1_000_003 + step * 10_007) % (2**31)

    # ------------------------------------------------------------------ rollouts
    def collect(self, step: int) -> list[EpisodeRecord]:
        from agentgym.rollout import plan_jobs

        cfg = self.config
        if cfg.records:  # no rollouts: train on recorded episodes (e.g. a harness's, through the gateway)
            from agentgym.baselines.gateway.training import recorded_batch

            return recorded_batch(cfg.records)
        seed = self._step_seed(step)
        policy = None if cfg.rollout_backend == "ray" else self.policy()
        if policy is not None and hasattr(policy, "reseed"):
            policy.reseed(seed)
        if policy is not None and hasattr(policy, "reset_cache"):
            policy.reset_cache()
        env_kwargs = self._env_kwargs()
        if not cfg.mixture:  # the reward spec resolved at this step (its schedules; agentgym.reward_schedule)
            from agentgym.reward_schedule import reward_at_step

            env_kwargs["reward"] = reward_at_step(cfg.env_id, env_kwargs["reward"], step)
        if self.curriculum is not None:  # one group per task the curriculum chose
            jobs = plan_jobs(self.curriculum.next_tasks(cfg.groups_per_step, np.random.default_rng(seed)),
                             group_size=cfg.group_size, seed=seed)  # fmt: skip
        else:
            jobs = plan_jobs(self._task_ids(), episodes=cfg.groups_per_step, group_size=cfg.group_size, seed=seed)
        out = self.out_dir / "rollouts.jsonl" if cfg.keep_rollouts else None
        if cfg.mixture:  # several envs: each env's groups planned and played on their own
            from agentgym.mixture import EnvMixture, collect_step

            records = collect_step(
                EnvMixture.parse(cfg.mixture), policy, groups=cfg.groups_per_step, group_size=cfg.group_size,
                seed=seed, step=step, env_kwargs=env_kwargs, concurrency=cfg.concurrency,
                run_id=f"{self.out_dir.name}-step{step}",
            )  # fmt: skip
        elif cfg.tree_branch is not None:  # trees: group_size trees per group, sharing the group id
            from agentgym.tree import parse_branch, run_trees

            if policy is None:
                raise ValueError("tree_branch plays trees in this process: rollout_backend must be local or vllm")
            k, turns = parse_branch(cfg.tree_branch)
            records = run_trees(cfg.env_id, policy, jobs, branch_turns=turns, k=k, env_kwargs=env_kwargs,
                                run_id=f"{self.out_dir.name}-step{step}")
        elif cfg.rollout_backend == "ray":
            records = self._ray(env_kwargs).collect(jobs, seed)
        else:
            records = self._local_rollouts(policy, jobs, env_kwargs, step)
        if out is not None:
            with TrajectoryWriter(out, fsync=False) as writer:
                for record in records:
                    record.policy["train_step"] = step
                    writer.write(record)
        return records

    def _ray(self, env_kwargs: dict[str, Any]) -> Any:
        from agentgym.baselines.train.ray_rollout import RayRolloutPool

        first = self._ray_pool is None
        if first:
            cfg = self.config
            self._ray_pool = RayRolloutPool(
                cfg.env_id, env_kwargs=env_kwargs, model_spec=cfg.model, num_workers=cfg.ray_workers, seed=cfg.seed,
                policy_kwargs={"max_new_tokens": cfg.max_new_tokens, "temperature": cfg.temperature,
                               "action_words": cfg.action_words, "system_prompt": cfg.system_prompt},
            )
        self._ray_pool.sync(self.model, trainable_only=not first)
        return self._ray_pool

    def _local_rollouts(self, policy: Any, jobs: list, env_kwargs: dict[str, Any], step: int) -> list[EpisodeRecord]:
        import gymnasium as gym

        from agentgym.rollout import arun_episodes

        cfg = self.config
        return asyncio.run(
            arun_episodes(
                lambda: gym.make(cfg.env_id, **env_kwargs),
                policy,
                jobs,
                env_id=cfg.env_id,
                env_kwargs=env_kwargs,
                concurrency=cfg.concurrency,
                out=None,
                resume=False,
                run_id=f"{self.out_dir.name}-step{step}",
            )
        )

    # ------------------------------------------------------------------ update
    def _prepare(self, records: list[EpisodeRecord]) -> list[tuple[EpisodeSequences, list[float]]]:
        if self.config.advantage == "tree":
            from agentgym.baselines.train.tree_advantage import tree_advantages

            advantages: list = tree_advantages(records, normalize=self.config.normalize_advantage)
        else:
            advantages = compute_advantages(
                records, mode=self.config.advantage, normalize=self.config.normalize_advantage
            )
        items = []
        for record, adv in zip(records, advantages, strict=True):
            if adv is None or not record.steps:
                continue  # reward_invalid (or empty): masked from the loss
            seqs = episode_segments(record, self.trie)
            if any(a is None for a in adv):  # tree: shared prefix turns train in their owner's record
                for segment in seqs.segments:
                    segment.loss_mask = [m and adv[t] is not None for m, t in zip(segment.loss_mask, segment.turn,
                                                                                  strict=True)]
                adv = [0.0 if a is None else a for a in adv]
            items.append((seqs, adv))
        return items

    def _features(self, segment: Segment) -> torch.Tensor | None:
        if self.first_trainable_layer is None or self._policy is None or self._policy.feature_layer is None:
            return None
        needed = max(i for i, m in enumerate(segment.loss_mask) if m)
        return self._policy.features_for(segment.input_ids, needed)

    def _logprobs(self, model: Any, segment: Segment) -> tuple[torch.Tensor, torch.Tensor]:
        features = self._features(segment)
        return token_logprobs(model, segment, self.config.temperature, features=features,
                              first_layer=self.first_trainable_layer)

    def update(self, records: list[EpisodeRecord]) -> dict[str, float]:
        cfg = self.config
        items = self._prepare(records)
        stats = {"loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "ratio": 0.0, "grad_norm": 0.0, "policy_tokens": 0.0}
        if not items:
            return stats
        # old logprobs missing (a backend without logprobs): take them from the current model
        for seqs, _ in items:
            for segment in seqs.segments:
                if any(lp is None for lp, m in zip(segment.old_logprobs, segment.loss_mask, strict=True) if m):
                    with torch.no_grad():
                        logp, positions = self._logprobs(self.model, segment)
                    for value, pos in zip(logp.tolist(), positions.tolist(), strict=True):
                        segment.old_logprobs[pos] = value
        n_updates = 0
        order_rng = np.random.default_rng(self._step_seed(self.step) + 1)
        for _epoch in range(cfg.ppo_epochs):
            order = order_rng.permutation(len(items)) if cfg.minibatches > 1 else np.arange(len(items))
            for chunk in np.array_split(order, min(cfg.minibatches, len(items))):
                batch = [items[i] for i in chunk]
                terms = self._minibatch(batch)
                norm = torch.nn.utils.clip_grad_norm_(
                    [p for p in self.model.parameters() if p.requires_grad], cfg.max_grad_norm
                )
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                n_updates += 1
                for key in ("loss", "kl", "clip_frac", "ratio"):
                    stats[key] += terms[key]
                stats["grad_norm"] += float(norm)
                stats["policy_tokens"] += terms["policy_tokens"]
        for key in ("loss", "kl", "clip_frac", "ratio", "grad_norm"):
            stats[key] /= max(n_updates, 1)
        stats["policy_tokens"] /= max(cfg.ppo_epochs, 1)
        return stats

    def _minibatch(self, batch: list[tuple[EpisodeSequences, list[float]]]) -> dict[str, float]:
        """Accumulate gradients over the minibatch's episodes, `micro_batch_episodes` at a time."""
        cfg = self.config
        total_tokens = sum(s.n_loss_tokens for seqs, _ in batch for s in seqs.segments)
        n_episodes = len(batch)
        sums = {"loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "ratio": 0.0}
        counted = 0
        for start in range(0, n_episodes, max(1, cfg.micro_batch_episodes)):
            micro_loss = None
            for seqs, adv in batch[start:start + max(1, cfg.micro_batch_episodes)]:
                episode_tokens = sum(s.n_loss_tokens for s in seqs.segments)
                for segment in seqs.segments:
                    if segment.n_loss_tokens == 0:
                        continue
                    new_logp, positions = self._logprobs(self.model, segment)
                    pos = positions.tolist()
                    old = torch.tensor([segment.old_logprobs[p] for p in pos], dtype=torch.float32,
                                       device=new_logp.device)
                    advantages = torch.tensor([adv[segment.turn[p]] for p in pos], dtype=torch.float32,
                                              device=new_logp.device)
                    ref = None
                    if self.ref_model is not None:
                        with torch.no_grad():
                            ref, _ = self._logprobs(self.ref_model, segment)
                    per_token, info = clipped_policy_loss(
                        new_logp, old, advantages, clip_eps=cfg.clip_eps, clip_eps_high=cfg.clip_eps_high,
                        ref_logp=ref, beta_kl=cfg.beta_kl,
                    )
                    if cfg.loss_aggregation == "token":
                        part = per_token.sum() / max(total_tokens, 1)
                    elif cfg.loss_aggregation == "sequence":
                        part = per_token.sum() / max(episode_tokens, 1) / n_episodes
                    else:
                        raise ValueError(f"loss_aggregation must be token or sequence, got {cfg.loss_aggregation!r}")
                    micro_loss = part if micro_loss is None else micro_loss + part
                    n = len(pos)
                    sums["loss"] += float(part.detach())
                    sums["kl"] += info["kl"] * n
                    sums["clip_frac"] += info["clip_frac"] * n
                    sums["ratio"] += info["ratio"] * n
                    counted += n
            if micro_loss is not None:
                micro_loss.backward()
        for key in ("kl", "clip_frac", "ratio"):
            sums[key] /= max(counted, 1)
        sums["policy_tokens"] = float(total_tokens)
        return sums

    # ------------------------------------------------------------------ loop
    def train_step(self) -> dict[str, Any]:
        started = time.perf_counter()
        records = self.collect(self.step)
        rolled = time.perf_counter()
        row: dict[str, Any] = {"step": self.step}
        row.update(rollout_metrics(records))
        row.update(self.update(records))
        if self.curriculum is not None:
            self.curriculum.update(records)
            row.update(self.curriculum.state())
        stamped = next((r.report.schedule for r in records if r.report is not None and r.report.schedule), None)
        row.update({f"schedule:{path}": value for path, value in (stamped or {}).items()})  # the spec's values now
        finished = time.perf_counter()
        row.update(rollout_s=rolled - started, train_s=finished - rolled, step_s=finished - started)
        if self._policy is not None:
            row["retokenized_turns"] = float(self._policy.stats["retokenized"])
        self.step += 1
        if self._vllm is not None:
            self._vllm.sync(self.model)
        self.metrics.write(row)
        self.history.append(row)
        return row

    def train(self, steps: int | None = None, *, on_step: Callable[[dict[str, Any]], None] | None = None,
              deadline: float | None = None) -> list[dict[str, Any]]:
        """Train until `self.step == steps` (default config.steps) or the wall-clock `deadline`."""
        target = self.config.steps if steps is None else steps
        rows = []
        if self.config.eval_every and self.step == 0:
            self.evaluate("before")
        while self.step < target:
            if deadline is not None and time.time() > deadline:
                break
            row = self.train_step()
            rows.append(row)
            if on_step is not None:
                on_step(row)
            if self.config.save_every and self.step % self.config.save_every == 0:
                self.save(self.out_dir / f"checkpoint-{self.step}")
            if self.config.eval_every and self.step % self.config.eval_every == 0 and self.step < target:
                self.evaluate(f"step{self.step}")
        if self.config.eval_every and rows:
            self.evaluate("after")
        if self.config.save_final and rows:
            self.save(self.out_dir / "checkpoint-last")
        return rows

    def evaluate(self, tag: str) -> dict[str, Any]:
        """Held-out evaluation (`heldout.py`) of the current weights; one line in eval.jsonl."""
        from agentgym.baselines.train.heldout import HeldoutConfig, evaluate_model

        cfg = self.config
        kwargs = {k: v for k, v in self._env_kwargs().items() if k != "split"}
        result = evaluate_model(self.model, self.tokenizer, HeldoutConfig(
            env_id=cfg.env_id, env_kwargs=kwargs, split=cfg.eval_split, episodes=cfg.eval_episodes,
            max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, system_prompt=cfg.system_prompt,
        ), out=self.out_dir / f"eval_{tag}.jsonl")
        row = {"stage": "grpo", "tag": tag, "step": self.step, **result}
        with (self.out_dir / "eval.jsonl").open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        return row

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.tokenizer.save_pretrained(tmp)
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "policy": self._policy.generator.get_state() if self._policy is not None else None,
            },
            "config": self.config.to_json(),
        }
        torch.save(state, tmp / STATE_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(self.config.to_json(), indent=2))
        if path.exists():
            import shutil

            shutil.rmtree(path)
        tmp.rename(path)
        return path

    def load_state(self, path: str | Path) -> None:
        """Load weights, optimizer, RNG states and the step from a checkpoint into this trainer."""
        from safetensors.torch import load_file

        path = Path(path)
        weights = {}
        for file in sorted(path.glob("*.safetensors")):
            weights.update(load_file(file))
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        missing = [m for m in missing if not _is_tied(self.model, m)]
        if missing or unexpected:
            raise RuntimeError(f"checkpoint {path} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
        state = torch.load(path / STATE_FILE, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng.get("policy") is not None:
            self.policy().generator.set_state(rng["policy"])

    @classmethod
    def resume(cls, path: str | Path, *, console: bool = True, **overrides: Any) -> GRPOTrainer:
        """A trainer continuing from a checkpoint directory (config from the checkpoint, + overrides)."""
        path = Path(path)
        data = json.loads((path / CONFIG_FILE).read_text())
        data.update(overrides)
        config = GRPOConfig(**{**data, "adam_betas": tuple(data.get("adam_betas", (0.9, 0.999)))})
        trainer = cls(config, console=console)
        trainer.load_state(path)
        return trainer


def _is_tied(model: Any, name: str) -> bool:
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return name in tied or name == "lm_head.weight"


def train_grpo(config: GRPOConfig, **kwargs: Any) -> GRPOTrainer:
    trainer = GRPOTrainer(config, **kwargs)
    trainer.train()
    return trainer
