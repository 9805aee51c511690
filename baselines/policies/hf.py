"""`hf:PATH` / `smollm2`: a transformers model in-process (the embedded default; no server needed).

Generates from the exact prompt ids the turn builder renders and returns the generated ids with
their log-probabilities under the raw model distribution (log-softmax of the unprocessed logits,
the same convention as vLLM's default `logprobs`). One generation runs at a time (a lock), so the
policy is safe to share between concurrent episodes.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from agentgym.baselines.policies.base import Generation, SamplingParams, TokenPolicy, load_tokenizer


def resolve_model(path: str) -> str:
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        return str(candidate)
    from agentgym.baselines.models.fetch import ALIASES, KNOWN_MODELS, model_path

    if path.lower() in KNOWN_MODELS or path in ALIASES:
        return str(model_path(path))
    raise FileNotFoundError(f"{path!r} is neither a checkpoint directory nor a known model ({', '.join(KNOWN_MODELS)})")


class TransformersPolicy(TokenPolicy):
    """A causal LM loaded with transformers, generating on CPU (or `device=`)."""

    name = "hf"

    def __init__(self, path: str, *, device: str = "cpu", dtype: str = "float32", threads: int | None = None,
                 sampling: SamplingParams | None = None, max_model_len: int = 2048, **kwargs: Any) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM

        self.path = resolve_model(path)
        self.device = device
        if threads:
            torch.set_num_threads(threads)
        super().__init__(load_tokenizer(self.path), sampling=sampling, max_model_len=max_model_len, **kwargs)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=getattr(torch, dtype)).to(device)
        self.model.eval()
        self._lock = threading.Lock()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_ids = sorted(eos_ids)

    def backend_info(self) -> dict[str, Any]:
        return {"backend": "transformers", "model": self.path, "device": self.device}

    def load_weights(self, source: str | dict[str, Any]) -> None:
        """Load new weights in place (a state dict, or a checkpoint directory / safetensors file)."""
        state = _load_state(source)
        with self._lock:
            missing, unexpected = self.model.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"unexpected weights: {unexpected[:5]}")

    def _generate(self, prompt_ids: list[int], max_tokens: int) -> Generation:
        import torch

        s = self.sampling
        do_sample = s.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens, "do_sample": do_sample, "eos_token_id": self.eos_ids,
            "pad_token_id": self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0],
            "return_dict_in_generate": True, "output_logits": True,
        }
        if do_sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        started = time.perf_counter()
        with self._lock, torch.no_grad():
            if s.seed is not None:
                torch.manual_seed(s.seed)
            input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.device)
            out = self.model.generate(input_ids, attention_mask=torch.ones_like(input_ids), **kwargs)
        new_ids = out.sequences[0, len(prompt_ids):].tolist()
        logprobs = []
        for step, token in enumerate(new_ids):
            row = torch.log_softmax(out.logits[step][0].float(), dim=-1)
            logprobs.append(float(row[token]))
        finish = "stop" if new_ids and new_ids[-1] in self.eos_ids else "length"
        return Generation(token_ids=new_ids, logprobs=logprobs, finish_reason=finish,
                          meta={"latency_s": round(time.perf_counter() - started, 4)})


def _load_state(source: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    from safetensors.torch import load_file

    path = Path(source)
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    state: dict[str, Any] = {}
    for file in files:
        state.update(load_file(str(file)))
    return state
