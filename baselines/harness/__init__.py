"""Existing agent programs (harnesses) as agentgym policies, on agentgym tasks and sandboxes.

`mini-swe-agent:BACKEND[?options]` (an `agentgym.policies` kind) runs mini-swe-agent on each
episode: its model calls go through an in-process token-recording gateway in front of the
BACKEND policy string (`vllm:URL#MODEL`, `vllm-engine:PATH`, `smollm2`, `hf:PATH`; any policy
string works, token ids are recorded when the backend has them), its commands run as the env's
`bash` tool in the task's sandbox, and the env grades the result. Harness options, taken out of
the query string before the rest goes to the backend:

    config=NAME|PATH   a mini-swe-agent YAML config (default swebench_backticks; `compact`: short
                       prompts for 2k-token models)
    step_limit=N       model calls before mini-swe-agent stops (default 20)
    submit=always|agent  always: the final state is graded whatever stopped the harness (default);
                       agent: only a harness submission is graded, else the episode is truncated
    retries=N          mini-swe-agent's retries of a failed model call (default 2)
    timeout=S          seconds the harness may stay silent before the episode fails (default 600)

Example: `mini-swe-agent:vllm:http://127.0.0.1:8000#smollm2?max_tokens=64&config=compact&step_limit=4`.
See docs/harness.md for the bridge (`bridge.py`) and how to plug in another harness.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import parse_qsl

from agentgym.baselines.harness.bridge import CommandResult, HarnessPolicy, HarnessRunner, command_result

#: options the harness takes; the rest of the query string belongs to the backend policy
HARNESS_OPTIONS = ("config", "step_limit", "submit", "retries", "timeout")
HARNESS_KINDS = ("mini-swe-agent",)


def split_harness_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """`KIND:BACKEND?a=1&config=x` -> (KIND, `BACKEND?a=1`, {"config": "x"}); ValueError naming
    the problem."""
    kind, sep, rest = spec.strip().partition(":")
    if kind not in HARNESS_KINDS:
        raise ValueError(f"unknown harness {kind!r}; harnesses: {', '.join(HARNESS_KINDS)}")
    if not sep or not rest:
        raise ValueError(f"{kind} policy needs a backend policy: {kind}:BACKEND, e.g. "
                         f"{kind}:vllm:http://127.0.0.1:8000#smollm2?config=compact")
    body, qsep, query = rest.partition("?")
    options: dict[str, str] = {}
    kept: list[str] = []
    for piece in query.split("&") if qsep else []:
        if not piece:
            continue
        pairs = parse_qsl(piece, keep_blank_values=True)
        key = pairs[0][0] if pairs else piece
        if key in HARNESS_OPTIONS:
            if key in options:
                raise ValueError(f"harness option {key!r} is given twice")
            options[key] = pairs[0][1] if pairs else ""
        else:
            kept.append(piece)
    backend = body + ("?" + "&".join(kept) if kept else "")
    if not body:
        raise ValueError(f"{kind} policy needs a backend policy after '{kind}:'")
    return kind, backend, options


def _int_option(options: dict[str, str], key: str, default: int, minimum: int) -> int:
    if key not in options:
        return default
    try:
        value = int(options[key])
    except ValueError:
        raise ValueError(f"harness option {key}={options[key]!r}: expected an integer") from None
    if value < minimum:
        raise ValueError(f"harness option {key}={value}: must be >= {minimum}")
    return value


def _harness_kwargs(options: dict[str, str]) -> dict[str, Any]:
    submit = options.get("submit", "always")
    if submit not in ("always", "agent"):
        raise ValueError(f"harness option submit={submit!r}: expected always or agent")
    timeout = options.get("timeout", "600")
    try:
        seconds = float(timeout)
    except ValueError:
        raise ValueError(f"harness option timeout={timeout!r}: expected seconds") from None
    if not seconds > 0:
        raise ValueError(f"harness option timeout={timeout!r}: must be > 0")
    return {"submit": submit, "timeout": seconds}


def _check_installed(kind: str) -> None:
    if importlib.util.find_spec("minisweagent") is None:
        raise ValueError(f"the {kind} harness needs mini-swe-agent: pip install 'agentgym[harness]'")


def preflight(spec: str) -> None:
    """Check a harness policy string before anything is built (the CLI calls it): the harness is
    installed, its options are valid, the backend policy string passes its own preflight."""
    from agentgym.policy import policy_factories, policy_kind

    kind, backend, options = split_harness_spec(spec)
    _check_installed(kind)
    _int_option(options, "step_limit", 20, 1)
    _int_option(options, "retries", 2, 0)
    _harness_kwargs(options)
    from agentgym.baselines.harness.mini_swe import DEFAULT_CONFIG, config_path

    config_path(options.get("config", DEFAULT_CONFIG))
    entry = policy_factories().get(policy_kind(backend))
    if entry is None:
        raise ValueError(f"{kind}: unknown backend policy kind {policy_kind(backend)!r} in {backend!r}")
    check = getattr(importlib.import_module(entry.module), "preflight", None)
    if callable(check):
        check(backend)


def harness_policy(spec: str, **overrides: Any) -> HarnessPolicy:
    """The `agentgym.policies` factory for harness kinds (`mini-swe-agent:BACKEND?options`)."""
    from agentgym.baselines.harness.mini_swe import DEFAULT_CONFIG, SUBMIT_MARKER, MiniSweAgentRunner
    from agentgym.policy import make_policy

    kind, backend_spec, options = split_harness_spec(spec)
    _check_installed(kind)
    runner = MiniSweAgentRunner(config=options.get("config", DEFAULT_CONFIG),
                                step_limit=_int_option(options, "step_limit", 20, 1),
                                retries=_int_option(options, "retries", 2, 0))
    kwargs = _harness_kwargs(options)
    backend = make_policy(backend_spec, **overrides)
    return HarnessPolicy(runner, backend, submit_marker=SUBMIT_MARKER, **kwargs)


__all__ = ["HARNESS_OPTIONS", "CommandResult", "HarnessPolicy", "HarnessRunner", "command_result", "harness_policy",
           "preflight", "split_harness_spec"]
