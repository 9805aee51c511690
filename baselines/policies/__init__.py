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
`tools_mode` (openai: auto | native | prompt), `api_key_env` (openai), `tool_parser` and
`reasoning_parser` (hf, vllm, vllm-engine: the model's reply format by vLLM's server flag names,
`NAME`, `vllm:NAME` or `builtin:NAME`, see `agentgym.formats`; the policy's `describe()` names the
implementation used). Example:
`vllm:http://127.0.0.1:8000#smollm2?temperature=0.7&max_tokens=128&tool_parser=hermes`.
Backends are imported lazily (torch, vllm and transformers load only when used).

`make_policy` is the factory the `agentgym.policies` entry points (pyproject) name for these kinds;
callers go through `agentgym.policy.make_policy`, which picks the factory by kind. The same strings
name judge models (`agentgym.policy.make_judge_model`): the vLLM-server and OpenAI policies give a
batched chat-completions judge model (`as_judge_model()`), the others are wrapped as they are.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MODEL_KINDS = ("hf", "vllm", "vllm-engine", "openai")
SCRIPTED_KINDS = ("random", "oracle", "scripted")
SMOLLM2_NAMES = ("smollm2", "smollm2-135m", "smollm2-135m-instruct")

_FLOAT = {"temperature", "top_p", "timeout"}
_INT = {"max_tokens", "seed", "max_model_len", "min_completion_tokens", "threads", "retries"}
_BOOL = {"logprobs", "token_ids", "enforce_eager"}
_CHOICES = {"drift": ("warn", "retokenize", "error"), "context": ("truncate", "stop"),
            "tools_mode": ("auto", "native", "prompt")}
_SAMPLING = {"temperature", "top_p", "max_tokens", "seed", "stop"}
_TOKEN = _SAMPLING | {"drift", "chat_template", "max_model_len", "context", "min_completion_tokens", "system_prompt",
                      "tool_parser", "reasoning_parser"}
#: the `?` options each kind takes (a typo is refused, naming the close one)
OPTIONS: dict[str, frozenset[str]] = {
    "hf": frozenset(_TOKEN | {"device", "dtype", "threads"}),
    "vllm": frozenset(_TOKEN | {"tokenizer", "api_key", "timeout", "retries"}),
    "vllm-engine": frozenset(_TOKEN | {"dtype", "enforce_eager"}),
    "openai": frozenset(_SAMPLING | {"api_key", "api_key_env", "tools_mode", "logprobs", "token_ids", "timeout",
                                     "retries"}),
}
_MINIMUM = {"max_tokens": 1, "max_model_len": 1, "min_completion_tokens": 1, "threads": 1, "retries": 0}


def _option_value(key: str, value: str) -> Any:
    """One `?key=value` option, typed; ValueError naming the option when the value does not fit."""
    where = f"policy option {key}={value!r}"
    if key in _FLOAT:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{where}: expected a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{where}: expected a finite number")
        if key == "temperature" and number < 0:
            raise ValueError(f"{where}: must be >= 0")
        if key == "top_p" and not 0 < number <= 1:
            raise ValueError(f"{where}: must be in (0, 1]")
        if key == "timeout" and number <= 0:
            raise ValueError(f"{where}: must be > 0")
        return number
    if key in _INT:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{where}: expected an integer") from None
        if key in _MINIMUM and number < _MINIMUM[key]:
            raise ValueError(f"{where}: must be >= {_MINIMUM[key]}")
        return number
    if key in _BOOL:
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{where}: expected true or false")
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            close = difflib.get_close_matches(value, _CHOICES[key], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: expected one of {', '.join(_CHOICES[key])}{hint}")
        return value
    if key == "stop":
        return [s for s in value.split(",") if s]
    if key == "chat_template" and not Path(value).is_file():
        raise ValueError(f"{where}: file not found")
    return value


def split_options(spec: str, kind: str | None = None) -> tuple[str, dict[str, Any]]:
    """`BODY?k=v&k=v` -> (BODY, {k: typed v}). A value that does not fit its option, or (with
    `kind`) an option that kind does not take, raises ValueError naming the option."""
    body, sep, query = spec.partition("?")
    options: dict[str, Any] = {}
    if sep:
        for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
            if kind in OPTIONS and key not in OPTIONS[kind]:
                close = difflib.get_close_matches(key, sorted(OPTIONS[kind]), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(
                    f"policy option {key!r}: {kind} policies take no such option; {hint}"
                    f"options: {', '.join(sorted(OPTIONS[kind]))}"
                )
            if key in options:
                raise ValueError(f"policy option {key!r} is given twice")
            options[key] = _option_value(key, value)
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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{kind} policy: {url!r} is not an http(s) URL, e.g. {kind}:http://127.0.0.1:8000#{model}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{kind} policy: {url!r} has a bad port") from None
    return url, model


def _parse(spec: str) -> tuple[str, str, dict[str, Any]]:
    """(kind, body after the kind, options) of a model policy string; ValueError naming the problem."""
    kind, _, rest = spec.partition(":")
    if spec.split("?")[0].lower() in SMOLLM2_NAMES:
        body, options = split_options(spec, "hf")
        return "hf", body, options
    rest, options = split_options(rest, kind)
    return kind, rest, options


def _check_scripted(spec: str) -> None:
    kind, _, rest = spec.partition(":")
    if kind == "random" and rest:
        try:
            int(rest)
        except ValueError:
            raise ValueError(f"policy {spec!r}: random:SEED needs an integer seed, got {rest!r}") from None
    if kind == "oracle" and rest:
        raise ValueError(f"policy {spec!r}: oracle takes no argument")
    if kind == "scripted" and not [a for a in rest.split("|") if a]:
        raise ValueError(f"policy {spec!r}: scripted:A|B|... needs at least one action")


def _scripted(spec: str) -> Any:
    from agentgym.baselines.policies.scripted import make_scripted_policy

    _check_scripted(spec)
    return make_scripted_policy(spec)


def server_url(spec: str) -> str | None:
    """The base URL a server policy string talks to (vllm:, openai:), or None."""
    kind, rest, _ = _parse(spec)
    if kind in ("vllm", "openai"):
        return _url_model(rest, kind)[0]
    return None


def check_reachable(url: str, timeout: float = 5.0) -> None:
    """Raise ValueError ("cannot reach ...") unless an HTTP server answers at `url` (any status:
    a server that answers 401 or 404 is reachable; its answers are the policy's business)."""
    import httpx

    base = url.rstrip("/").removesuffix("/v1")
    try:
        httpx.get(f"{base}/v1/models", timeout=timeout)
    except httpx.HTTPError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"cannot reach the policy server at {url}: {reason}") from None


def preflight(spec: str) -> None:
    """Check a policy string before any policy or env is built (the CLI calls it first): the
    kind, its options, a server's URL and that the server answers; a model path exists.
    Raises ValueError naming the problem."""
    kind, _, rest = spec.partition(":")
    if kind in SCRIPTED_KINDS:
        _check_scripted(spec)
        return
    kind, rest, _options = _parse(spec)  # options typed and known to the kind, else ValueError
    if kind in ("vllm", "openai"):
        url, _ = _url_model(rest, kind)
        check_reachable(url)
    elif kind in ("hf", "vllm-engine"):
        if not rest:
            raise ValueError(f"{kind} policy needs a path: {kind}:PATH")
        if ("/" in rest or rest.startswith(".")) and not Path(rest).expanduser().exists():
            raise ValueError(f"{kind} policy: model path not found: {rest}")


def make_policy(spec: str, **overrides: Any) -> Any:
    """Build a policy from its string form (see module docstring); `overrides` win over `?` options."""
    kind = spec.partition(":")[0]
    if kind in SCRIPTED_KINDS:
        return _scripted(spec)
    kind, rest, options = _parse(spec)
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
        return OpenAIChatPolicy(url, model, sampling=sampling, **options)
    raise ValueError(
        f"unknown policy {spec!r}: expected smollm2, hf:PATH, vllm:URL#MODEL, vllm-engine:PATH, openai:URL#MODEL, "
        "random[:SEED], oracle or scripted:A|B|..."
    )


__all__ = ["MODEL_KINDS", "OPTIONS", "SCRIPTED_KINDS", "check_reachable", "make_policy", "preflight", "server_url",
           "split_options"]
