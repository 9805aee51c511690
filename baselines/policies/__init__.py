"""Policies: LLM backends (vLLM, transformers, OpenAI-compatible) and scripted ones for tests.

`make_policy(spec)` builds a policy from a string (CLI `--policy`):

    smollm2                          the fetched SmolLM2-135M-Instruct via transformers (in-process)
    hf:PATH                          transformers in-process (PATH: checkpoint dir or fetched model name)
    vllm:URL#MODEL                   a vLLM server, token-id prompts to /v1/completions (token-faithful)
    vllm-engine:PATH                 vllm.LLM in this process (with load_weights for RL)
    openai:URL#MODEL                 any OpenAI-compatible /v1/chat/completions endpoint
    random | random:SEED | oracle | scripted:A|B|...   model-free policies (tests, demos)

Model specs take options after `?`, joined by `&`: `temperature`, `top_p`, `max_tokens`, `seed`,
`stop` (comma-separated), `drift` (warn | retokenize | error), `max_model_len`, `context`
(truncate | stop), `chat_template` (path to a Jinja file), `tokenizer` (vllm), `device` (hf),
`tools_mode` (openai: auto | native | prompt), `api_key_env` (openai). Example:
`vllm:http://127.0.0.1:8000#smollm2?temperature=0.7&max_tokens=128`.
Backends are imported lazily (torch, vllm and transformers load only when used).

`make_policy` is the factory the `agentgym.policies` entry points (pyproject) name for these kinds;
callers go through `agentgym.policy.make_policy`, which picks the factory by kind. The same strings
name judge models (`agentgym.policy.make_judge_model`): the vLLM-server and OpenAI policies give a
batched chat-completions judge model (`as_judge_model()`), the others are wrapped as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

MODEL_KINDS = ("hf", "vllm", "vllm-engine", "openai")
SCRIPTED_KINDS = ("random", "oracle", "scripted")

_FLOAT = {"temperature", "top_p"}
_INT = {"max_tokens", "seed", "max_model_len", "min_completion_tokens"}
_SAMPLING = {"temperature", "top_p", "max_tokens", "seed", "stop"}


def split_options(spec: str) -> tuple[str, dict[str, Any]]:
    """`BODY?k=v&k=v` -> (BODY, {k: typed v})."""
    body, sep, query = spec.partition("?")
    options: dict[str, Any] = {}
    if sep:
        for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
            if key in _FLOAT:
                options[key] = float(value)
            elif key in _INT:
                options[key] = int(value)
            elif key == "stop":
                options[key] = [s for s in value.split(",") if s]
            else:
                options[key] = value
    return body, options


def _build_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    from agentgym.baselines.policies.base import SamplingParams

    sampling = SamplingParams(**{k: options.pop(k) for k in list(options) if k in _SAMPLING})
    kwargs: dict[str, Any] = {"sampling": sampling}
    if "context" in options:
        kwargs["context_strategy"] = options.pop("context")
    if "chat_template" in options:
        kwargs["chat_template"] = Path(options.pop("chat_template")).read_text()
    kwargs.update(options)
    return kwargs


def _url_model(rest: str, kind: str) -> tuple[str, str]:
    url, sep, model = rest.partition("#")
    if not sep or not url or not model:
        raise ValueError(f"{kind} policy needs URL#MODEL, e.g. {kind}:http://127.0.0.1:8000#smollm2")
    return url, model


def make_policy(spec: str, **overrides: Any) -> Any:
    """Build a policy from its string form (see module docstring); `overrides` win over `?` options."""
    kind, _, rest = spec.partition(":")
    if kind in SCRIPTED_KINDS:
        from agentgym.baselines.policies.scripted import make_scripted_policy

        return make_scripted_policy(spec)
    if spec.split("?")[0].lower() in ("smollm2", "smollm2-135m", "smollm2-135m-instruct"):
        body, options = split_options(spec)
        kind, rest = "hf", body
    else:
        rest, options = split_options(rest)
    options.update(overrides)
    if kind == "hf":
        from agentgym.baselines.policies.hf import TransformersPolicy

        if not rest:
            raise ValueError("hf policy needs a path: hf:PATH (a checkpoint directory or a fetched model name)")
        return TransformersPolicy(rest, **_build_kwargs(options))
    if kind == "vllm-engine":
        from agentgym.baselines.policies.vllm_engine import VLLMEnginePolicy

        if not rest:
            raise ValueError("vllm-engine policy needs a path: vllm-engine:PATH")
        return VLLMEnginePolicy(rest, **_build_kwargs(options))
    if kind == "vllm":
        from agentgym.baselines.policies.vllm_server import VLLMServerPolicy

        url, model = _url_model(rest, kind)
        return VLLMServerPolicy(url, model, **_build_kwargs(options))
    if kind == "openai":
        from agentgym.baselines.policies.openai_chat import OpenAIChatPolicy

        url, model = _url_model(rest, kind)
        sampling = _build_kwargs({k: options.pop(k) for k in list(options) if k in _SAMPLING})["sampling"]
        if "logprobs" in options:
            options["logprobs"] = str(options["logprobs"]).lower() not in ("0", "false", "no")
        if "token_ids" in options:
            options["token_ids"] = str(options["token_ids"]).lower() not in ("0", "false", "no")
        return OpenAIChatPolicy(url, model, sampling=sampling, **options)
    raise ValueError(
        f"unknown policy {spec!r}: expected smollm2, hf:PATH, vllm:URL#MODEL, vllm-engine:PATH, openai:URL#MODEL, "
        "random[:SEED], oracle or scripted:A|B|..."
    )


__all__ = ["MODEL_KINDS", "SCRIPTED_KINDS", "make_policy", "split_options"]
