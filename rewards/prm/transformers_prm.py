"""`TransformersPRM`: any transformers model as a process reward model.

mode="verdict": a causal LM is asked whether the step is correct (chat template when the
tokenizer has one) and the score is ``P(yes) / (P(yes) + P(no))`` over the first tokens of
`yes_token` / `no_token` at the next position — one forward pass per step, batched, no sampling.
mode="classifier": a sequence-classification head reads question + history + step; the score is
``sigmoid(logit)`` (one label) or the probability of the last label.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STEP_PROMPT = (
    "Task:\n{question}\n\nEarlier steps:\n{history}\n\nStep to check:\n{step}\n\n"
    "Is this step correct and useful? Answer Yes or No."
)


def resolve_model_dir(model: str) -> Path:
    """A checkpoint directory from `DIR`, `hf:DIR`, or a fetched model name ($AGENTGYM_HOME/models/NAME)."""
    name = model.split(":", 1)[1] if model.startswith("hf:") else model
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    home = Path(os.environ.get("AGENTGYM_HOME") or Path.home() / ".cache" / "agentgym").expanduser()
    for candidate in (name, name.lower(), "smollm2" if "smollm2" in name.lower() else name):
        fetched = home / "models" / candidate
        if fetched.is_dir():
            return fetched
    raise FileNotFoundError(
        f"PRM model {model!r}: not a checkpoint directory nor a fetched model under {home / 'models'}"
    )


class TransformersPRM:
    """Step scorer over a local transformers checkpoint (CPU by default)."""

    def __init__(
        self,
        model: str | Path,
        *,
        mode: str = "verdict",
        yes_token: str = "Yes",
        no_token: str = "No",
        prompt: str = STEP_PROMPT,
        max_length: int = 1024,
        batch_size: int = 8,
        device: str = "cpu",
    ) -> None:
        if mode not in ("verdict", "classifier"):
            raise ValueError("mode must be 'verdict' or 'classifier'")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from transformers import AutoTokenizer

        self.path = resolve_model_dir(str(model))
        self.mode = mode
        self.prompt = prompt
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.model_id = f"prm:{mode}:{self.path.name}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if mode == "verdict":
            from transformers import AutoModelForCausalLM

            self.model = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=torch.float32)
            self.yes_id = self._first_id(yes_token)
            self.no_id = self._first_id(no_token)
            if self.yes_id == self.no_id:
                raise ValueError(f"yes_token {yes_token!r} and no_token {no_token!r} share their first token")
        else:
            from transformers import AutoModelForSequenceClassification

            self.model = AutoModelForSequenceClassification.from_pretrained(
                str(self.path), dtype=torch.float32
            )
            if self.model.config.pad_token_id is None:
                self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model.to(device).eval()
        self.forward_passes = 0

    def _first_id(self, token: str) -> int:
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        if not ids:
            raise ValueError(f"token {token!r} encodes to nothing")
        return int(ids[0])

    def _text(self, question: str, history: Sequence[str], step: str) -> str:
        body = self.prompt.format(
            question=question,
            history="\n".join(f"{i + 1}. {h}" for i, h in enumerate(history)) or "(none)",
            step=step,
        )
        if self.mode == "verdict" and getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": body}], tokenize=False, add_generation_prompt=True
            )
        return body

    def _score_texts(self, texts: list[str]) -> list[float]:
        import torch

        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            enc = self.tokenizer(
                batch,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
                add_special_tokens=self.mode == "classifier",
            ).to(self.device)
            with torch.no_grad():
                logits = self.model(**enc).logits
            self.forward_passes += 1
            if self.mode == "verdict":
                last = logits[:, -1, :]  # left padding: the last position is the next token
                pair = torch.stack([last[:, self.yes_id], last[:, self.no_id]], dim=-1)
                scores.extend(torch.softmax(pair.float(), dim=-1)[:, 0].tolist())
            elif logits.shape[-1] == 1:
                scores.extend(torch.sigmoid(logits[:, 0].float()).tolist())
            else:
                scores.extend(torch.softmax(logits.float(), dim=-1)[:, -1].tolist())
        return scores

    def score_steps(self, question: str, steps: Sequence[str]) -> list[float]:
        """One score in [0, 1] per step; step t sees steps < t as history."""
        return self._score_texts([self._text(question, steps[:t], step) for t, step in enumerate(steps)])

    def score_episodes(self, episodes: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """score_steps over many episodes, batched together."""
        texts: list[str] = []
        for question, steps in episodes:
            texts.extend(self._text(question, steps[:t], step) for t, step in enumerate(steps))
        flat = self._score_texts(texts) if texts else []
        out, position = [], 0
        for _, steps in episodes:
            out.append(flat[position : position + len(steps)])
            position += len(steps)
        return out

    def describe(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "path": str(self.path), "mode": self.mode}
