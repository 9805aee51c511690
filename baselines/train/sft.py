"""Supervised warm start from the gym's own records (`agentgym train sft`).

Why: a small model that never produces a well-formed tool call gives GRPO groups with zero
variance, so RL has nothing to learn from. Fine-tuning first on successful trajectories (the
oracle's episodes, or any policy's episodes filtered by success: rejection-sampling fine-tuning)
gives the RL stage a policy that sometimes succeeds.

What:
- `episode_tokens(record, chat)`: an episode record -> the exact token layout the policies use at
  rollout time. Turns recorded by a token-level policy keep their recorded prompt/completion ids;
  turns without ids (oracle, scripted) are rendered with `baselines/agent/chat.py` (`ChatFormat`,
  the same chat template and `<tool_call>` format every policy backend renders), each turn's prompt
  extending the previous prompt + completion by the template's suffix exactly as the turn builder
  and the trainer's rollout policy do. The result is an `EpisodeSequences` (`sequences.py`), whose
  loss mask covers the assistant's tokens only.
- `select_records(...)`: successful episodes of the `train` split only (a test task in the data is
  refused: train and test never overlap).
- `SFTTrainer`: token-level cross-entropy on assistant tokens, AdamW, optional LoRA (peft, merged
  into the weights at save) or a frozen trunk (`trainable_layers`), optional held-out evaluation
  (`heldout.evaluate`) before, every N steps and after. Checkpoints are plain transformers
  directories (`save_pretrained` + tokenizer), loadable as `hf:PATH`, `vllm-engine:PATH`, by
  `agentgym serve PATH` and as `--policy PATH` of `agentgym train grpo`.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentgym.baselines.agent.chat import ChatFormat
from agentgym.baselines.train.sequences import EpisodeSequences, episode_segments
from agentgym.errors import TaskError, TrajectoryError
from agentgym.outcome import success_of
from agentgym.trajectory import EpisodeRecord, TurnTokens, read_trajectories

CONFIG_FILE = "sft_config.json"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ---------------------------------------------------------------------------------- data
def conversation_before(record: EpisodeRecord, turn: int, *, system_prompt: str | None = None) -> list[dict[str, Any]]:
    """The messages the policy saw before turn `turn` (0-based), as the rollout loop builds them."""
    from agentgym.rollout import _conversation_update

    messages: list[dict[str, Any]] = []
    system = record.system_prompt if system_prompt is None else system_prompt
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": record.prompt})
    for step in record.steps[:turn]:
        info = {"tool_calls": step.tool_calls, "tool_results": step.tool_results}
        messages.extend(_conversation_update(dict(step.message), step.observation, info))
    return messages


def completion_ids(chat: ChatFormat, messages: Sequence[dict[str, Any]], assistant: dict[str, Any],
                   tools: Sequence[dict[str, Any]] | None) -> list[int]:
    """The token ids a policy would have generated for `assistant` after `messages`: the template's
    rendering of the assistant turn up to and including its end-of-turn token."""
    base = chat.render_text(messages, tools, add_generation_prompt=True)
    full = chat.render_text([*messages, assistant], tools, add_generation_prompt=False)
    if not full.startswith(base):
        raise ValueError("the chat template renders earlier turns differently once an assistant turn follows")
    ids = chat.encode(full[len(base):])
    eos = chat.tokenizer.eos_token_id
    if eos is not None and eos in ids:
        ids = ids[: ids.index(eos) + 1]
    elif eos is not None:
        ids.append(int(eos))
    return ids


def episode_tokens(record: EpisodeRecord, chat: ChatFormat, *, system_prompt: str | None = None) -> EpisodeSequences:
    """An episode as token sequences with the assistant tokens in the loss (see the module docstring)."""
    tools = record.tools or None
    prompt: list[int] | None = None
    previous: list[int] = []
    filled = []
    for turn, step in enumerate(record.steps):
        recorded = step.tokens
        if recorded is not None and recorded.prompt_token_ids is not None and recorded.completion_token_ids is not None:
            filled.append(recorded)
            prompt, previous = list(recorded.prompt_token_ids), list(recorded.completion_token_ids)
            continue
        messages = conversation_before(record, turn, system_prompt=system_prompt)
        if prompt is None:
            prompt = chat.render_ids(messages, tools)
        else:
            suffix = chat.render_suffix_ids(messages, tools, len(conversation_before(record, turn - 1, system_prompt=system_prompt)),
                                            previous)
            prompt = prompt + previous + suffix if suffix is not None else chat.render_ids(messages, tools)
        previous = completion_ids(chat, messages, _assistant_for_template(step.message), tools)
        filled.append(TurnTokens(prompt_token_ids=list(prompt), completion_token_ids=list(previous),
                                 logprobs=[0.0] * len(previous)))
    copy = record.model_copy(deep=True)
    for step, tokens in zip(copy.steps, filled, strict=True):
        step.tokens = tokens
    return episode_segments(copy)


def _assistant_for_template(message: dict[str, Any]) -> dict[str, Any]:
    """The assistant message as the rollout loop appends it (content + the env-parsed tool calls)."""
    out = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    return out


def select_records(paths: Iterable[str | Path], *, env_id: str | None = None, split: str | None = "train",
                   env_kwargs: dict[str, Any] | None = None, successful_only: bool = True) -> list[EpisodeRecord]:
    """Episodes to train on: successful ones (unless `successful_only=False`), none reward-invalid, all
    of the `split` (task ids of other splits are refused: they would leak held-out tasks)."""
    from agentgym.family import list_task_ids

    records: list[EpisodeRecord] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise TrajectoryError(f"record file {path} does not exist")
        loaded = read_trajectories(path)
        if loaded.problems:
            bad = loaded.problems[0]
            raise TrajectoryError(f"{path}:{bad.line_no}: {bad.error}")
        records.extend(loaded.records)
    if not records:
        raise TrajectoryError("the record files hold no episodes")
    env_id = env_id or records[0].env_id
    if split is not None:
        allowed: dict[str, set[str] | None] = {}
        for record in records:
            kwargs = {**record.env_kwargs, **(env_kwargs or {})}
            kwargs.pop("split", None)
            key = json.dumps([record.env_id, kwargs], sort_keys=True, default=str)
            if key not in allowed:
                ids = list_task_ids(record.env_id, kwargs, split)
                allowed[key] = set(ids) if ids is not None else None
            ids = allowed[key]
            if ids is not None and record.task_id not in ids:
                raise TaskError(f"episode {record.episode_id} is of task {record.task_id!r}, which is not in the "
                                 f"{split!r} split of {record.env_id}: held-out tasks must not be trained on")
    kept = [r for r in records if not r.reward_invalid and r.steps and (not successful_only or success_of(r) is True)]
    return kept


# ---------------------------------------------------------------------------------- the trainer
@dataclass
class SFTConfig:
    records: list[str] = field(default_factory=list)
    model: str = "smollm2"  # smollm2 | hf:PATH | PATH | tiny[:TOKENIZER]
    out_dir: str = "runs/sft"
    split: str | None = "train"  # only episodes of this split are accepted
    successful_only: bool = True  # rejection sampling: keep successful episodes
    system_prompt: str | None = None  # replaces the recorded system prompt (as the policy would)
    steps: int = 50
    batch_episodes: int = 4
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    lora_rank: int | None = None  # LoRA via peft (merged into the weights at save)
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    trainable_layers: int | None = None  # frozen trunk: train only the top N blocks (+ final norm)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    # held-out evaluation (0: none)
    eval_every: int = 0
    eval_env: str | None = None
    eval_env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_split: str = "test"
    eval_episodes: int | None = None  # None: every task of the split once
    eval_max_new_tokens: int = 96
    eval_temperature: float = 0.0  # 0: greedy

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SFTTrainer:
    """Cross-entropy on the assistant tokens of selected episodes (see the module docstring)."""

    def __init__(self, config: SFTConfig, *, model: Any | None = None, tokenizer: Any | None = None,
                 records: list[EpisodeRecord] | None = None) -> None:
        from agentgym.baselines.train.grpo import freeze_all_but_top, load_model

        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        random.seed(config.seed)
        np.random.seed(config.seed % (2**32))
        torch.manual_seed(config.seed)
        if model is None or tokenizer is None:
            model, tokenizer = load_model(config.model, seed=config.seed)
        self.tokenizer = tokenizer
        self.device = torch.device(config.device)
        model = model.to(self.device)
        self.lora = config.lora_rank is not None
        if self.lora:
            from peft import LoraConfig, get_peft_model

            present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
            targets = [t for t in LORA_TARGETS if t in present]
            model = get_peft_model(model, LoraConfig(r=int(config.lora_rank), lora_alpha=config.lora_alpha,
                                                     lora_dropout=config.lora_dropout, target_modules=targets,
                                                     task_type="CAUSAL_LM"))
        else:
            freeze_all_but_top(model, config.trainable_layers)
        self.model = model
        # frozen trunk: the inputs of the first trainable block never change, so they are computed
        # once per segment (the leading tokens every episode shares, once in all) and only the top
        # blocks run in each step
        self.first_layer = (None if self.lora or config.trainable_layers is None
                            else len(model.get_decoder().layers) - config.trainable_layers)
        self._features: dict[int, torch.Tensor] = {}
        self._root: tuple[list[int], Any, torch.Tensor] | None = None
        self.model.train()
        self.chat = ChatFormat(tokenizer)
        if records is None:
            records = select_records(config.records, split=config.split, successful_only=config.successful_only)
        if not records:
            raise TrajectoryError("no episodes left to train on (none successful in the record files?)")
        self.records = records
        self.examples = [episode_tokens(r, self.chat, system_prompt=config.system_prompt) for r in records]
        self.n_loss_tokens = sum(s.n_loss_tokens for e in self.examples for s in e.segments)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.n_trainable = sum(p.numel() for p in params)
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.step = 0
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2))
        self.metrics_path = self.out_dir / "metrics.jsonl"
        self.eval_path = self.out_dir / "eval.jsonl"
        self._order: list[int] = []
        self._rng = np.random.default_rng(config.seed)

    # ------------------------------------------------------------------ loss
    @torch.no_grad()
    def _trunk_run(self, ids: list[int], cache: Any) -> tuple[torch.Tensor, Any]:
        """Inputs of block `first_layer` for `ids` (after what `cache` holds), and the extended cache."""
        captured: list[torch.Tensor] = []

        def hook(module: Any, args: tuple, kwargs: dict) -> None:
            captured.append((args[0] if args else kwargs["hidden_states"])[0].detach())

        block = self.model.get_decoder().layers[self.first_layer]
        handle = block.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            out = self.model(input_ids=torch.tensor([ids], dtype=torch.long, device=self.device),
                             past_key_values=cache, use_cache=True, logits_to_keep=1)
        finally:
            handle.remove()
        return captured[0], out.past_key_values

    def trunk_features(self, ids: list[int]) -> torch.Tensor:
        """Block-`first_layer` inputs of every position of `ids` (exact: the blocks below are frozen)."""
        import copy

        key = hash(tuple(ids))
        if key in self._features:
            return self._features[key]
        if self._root is None:
            features, cache = self._trunk_run(ids, None)
            self._root = (list(ids), cache, features)
            self._features[key] = features
            return features
        root_ids, root_cache, root_features = self._root
        shared = 0
        for a, b in zip(root_ids, ids, strict=False):
            if a != b:
                break
            shared += 1
        shared = min(shared, len(ids) - 1)
        if shared < 1:
            features, _ = self._trunk_run(ids, None)
        else:
            cache = copy.deepcopy(root_cache)
            if cache.get_seq_length() > shared:
                cache.crop(shared - cache.get_seq_length())
            rest, _ = self._trunk_run(ids[shared:], cache)
            features = torch.cat([root_features[:shared], rest], dim=0)
        self._features[key] = features
        return features

    def episode_loss(self, sequences: EpisodeSequences) -> tuple[torch.Tensor, int]:
        """Summed negative log-likelihood of an episode's assistant tokens and how many there are."""
        from agentgym.baselines.train.grpo import top_forward

        total = torch.zeros((), device=self.device)
        count = 0
        for segment in sequences.segments:
            positions = [i for i, m in enumerate(segment.loss_mask) if m]
            if not positions:
                continue
            ids = torch.tensor([segment.input_ids], dtype=torch.long, device=self.device)
            base = self.model.get_base_model() if self.lora else self.model
            if self.first_layer is not None:
                hidden = top_forward(base, self.trunk_features(segment.input_ids), self.first_layer)
            else:
                hidden = base.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state[0]
            index = torch.tensor(positions, dtype=torch.long, device=self.device)
            logits = base.get_output_embeddings()(hidden[index - 1]).float()
            total = total + torch.nn.functional.cross_entropy(logits, ids[0, index], reduction="sum")
            count += len(positions)
        return total, count

    @torch.no_grad()
    def mean_loss(self, examples: Sequence[EpisodeSequences] | None = None) -> float:
        """Mean per-token loss over `examples` (default: the whole training set), without updating."""
        was = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        for sequences in examples if examples is not None else self.examples:
            loss, n = self.episode_loss(sequences)
            total += float(loss)
            count += n
        self.model.train(was)
        return total / max(count, 1)

    def _batch(self) -> list[EpisodeSequences]:
        size = min(self.config.batch_episodes, len(self.examples))
        while len(self._order) < size:
            self._order.extend(self._rng.permutation(len(self.examples)).tolist())
        chosen, self._order = self._order[:size], self._order[size:]
        return [self.examples[i] for i in chosen]

    def _lr(self) -> float:
        cfg = self.config
        if cfg.warmup_steps and self.step < cfg.warmup_steps:
            return cfg.learning_rate * (self.step + 1) / cfg.warmup_steps
        return cfg.learning_rate

    def train_step(self) -> dict[str, Any]:
        started = time.perf_counter()
        batch = self._batch()
        tokens = sum(s.n_loss_tokens for e in batch for s in e.segments)
        summed = 0.0
        for sequences in batch:  # gradient accumulation, one episode per forward
            loss, _ = self.episode_loss(sequences)
            (loss / max(tokens, 1)).backward()
            summed += float(loss.detach())
        norm = torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                              self.config.max_grad_norm)
        lr = self._lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        row = {"step": self.step, "loss": summed / max(tokens, 1), "tokens": tokens, "grad_norm": float(norm),
               "lr": lr, "step_s": time.perf_counter() - started}
        with self.metrics_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        return row

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, tag: str) -> dict[str, Any] | None:
        cfg = self.config
        if not cfg.eval_env:
            return None
        from agentgym.baselines.train.heldout import HeldoutConfig, evaluate_model

        base = self.model.get_base_model() if self.lora else self.model
        result = evaluate_model(base, self.tokenizer, HeldoutConfig(
            env_id=cfg.eval_env, env_kwargs=dict(cfg.eval_env_kwargs), split=cfg.eval_split,
            episodes=cfg.eval_episodes, max_new_tokens=cfg.eval_max_new_tokens, temperature=cfg.eval_temperature,
            seed=cfg.seed, system_prompt=cfg.system_prompt,
        ), out=self.out_dir / f"eval_{tag}.jsonl")
        row = {"stage": "sft", "tag": tag, "step": self.step, **result}
        with self.eval_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        return row

    def train(self, *, on_step: Callable[[dict[str, Any]], None] | None = None,
              on_eval: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        cfg = self.config
        rows = []
        if cfg.eval_every:
            row = self.evaluate("before")
            if row is not None and on_eval is not None:
                on_eval(row)
        while self.step < cfg.steps:
            row = self.train_step()
            rows.append(row)
            if on_step is not None:
                on_step(row)
            if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                evaluated = self.evaluate(f"step{self.step}")
                if evaluated is not None and on_eval is not None:
                    on_eval(evaluated)
        if cfg.eval_every:
            row = self.evaluate("after")
            if row is not None and on_eval is not None:
                on_eval(row)
        return rows

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | Path | None = None) -> Path:
        """A plain transformers checkpoint (LoRA merged in): loadable by every policy backend."""
        path = Path(path) if path is not None else self.out_dir / "checkpoint-last"
        tmp = path.with_name(path.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        model = self.model
        if self.lora:
            import copy

            model = copy.deepcopy(self.model).merge_and_unload()
        model.to("cpu").save_pretrained(tmp, safe_serialization=True)
        if model is self.model:
            self.model.to(self.device)
        self.tokenizer.save_pretrained(tmp)
        (tmp / CONFIG_FILE).write_text(json.dumps({**self.config.to_json(), "step": self.step}, indent=2))
        if path.exists():
            import shutil

            shutil.rmtree(path)
        tmp.rename(path)
        return path


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sensible at 0 and n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
