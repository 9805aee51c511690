"""Shared CLI plumbing: one-line errors with trustworthy exit codes, env/policy/spec resolution."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

EXIT_FAILURE = 1  # the command ran and failed (a run that crashed, a check that did not pass)
EXIT_USAGE = 2  # bad input: unknown env id, malformed spec, missing file


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn expected errors into one clear line and a non-zero exit code."""
    from pydantic import ValidationError

    from agentgym.errors import AgentGymError
    from agentgym.rewards import SpecError

    try:
        yield
    except typer.Exit:
        raise
    except (SpecError, AgentGymError, FileNotFoundError, ValueError, KeyError) as exc:
        fail(str(exc) or type(exc).__name__)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"{where}: {first['msg']}")


def check_env_id(env_id: str) -> str:
    """A Gymnasium id that `gymnasium.make` accepts, or exit 2 naming close ids.

    `module:id` (Gymnasium's own form) imports `module` first, so an env registered by any
    package runs here as it does under `gymnasium.make("module:id")`; it is returned as given, so
    records keep the module and `agentgym replay --reexec` can import it again."""
    import importlib

    import gymnasium

    import agentgym  # noqa: F401  (registers the installed families)

    module, sep, bare = env_id.partition(":")
    if sep and module and bare:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            fail(f"env id {env_id!r}: cannot import module {module!r} ({exc})")
        if bare in gymnasium.registry:
            return f"{module}:{bare}"
        env_id = bare
    if env_id in gymnasium.registry:
        return env_id
    ids = list(gymnasium.registry)
    close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.4) or difflib.get_close_matches(
        f"agentgym/{env_id}", ids, n=3, cutoff=0.4
    )
    ours = [i for i in ids if i.startswith("agentgym/")]
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Known: {', '.join(ours)}."
    fail(f"unknown env id {env_id!r}.{hint}")


def parse_env_args(pairs: list[str] | None) -> dict[str, Any]:
    """`key=value` pairs; values are parsed as YAML scalars/lists (numbers, booleans, [a, b])."""
    import yaml

    kwargs: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--env-arg expects key=value, got {pair!r}")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs


def make_policy(spec: str) -> Any:
    """Resolve a policy string (`random`, `oracle`, `scripted:...`, and the model backends) through
    the `agentgym.policies` entry points."""
    from agentgym.policy import make_policy as make_core_policy

    return make_core_policy(spec)


def is_interactive() -> bool:
    return console.is_terminal and sys.stdin.isatty()
