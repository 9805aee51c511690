"""Shared CLI plumbing: one-line errors with trustworthy exit codes, env/policy/spec resolution.

Every bad input is one `error: ...` line on stderr and exit 2; work that fails is one line and
exit 1; nothing prints a traceback unless `--debug` (anywhere on the command line) or
`AGENTGYM_DEBUG=1` asks for it. `AgentGymGroup` is the root command's class: it turns click's
usage errors into one line and any exception a command lets through into one line and exit 1.
Commands check their arguments before they start work (`check_*` below), so a typo fails in
milliseconds rather than after the first episode.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

try:  # recent typer vendors click: usage errors are typer._click's, not click's
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - typer on click
    from click import exceptions as click_errors  # type: ignore[no-redef]
_EXITS = tuple(
    {typer.Exit, typer.Abort, *(getattr(click_errors, n) for n in ("Exit", "Abort") if hasattr(click_errors, n))}
)

console = Console()
err_console = Console(stderr=True)

EXIT_FAILURE = 1  # the command ran and failed (a run that crashed, a check that did not pass)
EXIT_USAGE = 2  # bad input: unknown env id, malformed spec, missing file

DEBUG_FLAG = "--debug"
_debug = False


def debug_enabled() -> bool:
    """Whether tracebacks are wanted (`--debug`, or AGENTGYM_DEBUG=1)."""
    return _debug or os.environ.get("AGENTGYM_DEBUG", "").lower() in ("1", "true", "yes")


def _print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one `error:` line and exit (2: bad input, by default; 1: the work failed)."""
    _print_error(" ".join(message.split()) if "\n" in message else message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def error_message(exc: BaseException) -> str:
    """The one-line text of an exception, without the wrapping some libraries add."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc)
    # gymnasium.make re-raises a constructor's error with the whole kwargs dict appended
    text = re.sub(r" was raised from the environment creator for \S+ with kwargs \(.*\)$", "", text, flags=re.S)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _bad_input_types() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from agentgym.errors import AgentGymError
    from agentgym.rewards import SpecError

    return (SpecError, AgentGymError, FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError,
            KeyError, ValidationError, TypeError)


@contextmanager
def cli_errors(*, work: bool = False) -> Iterator[None]:
    """Turn expected errors into one clear line and a non-zero exit code.

    Around input checks (the default): bad input exits 2, an `InfrastructureError` (a server,
    sandbox or browser that failed) exits 1. With `work=True` (the work itself runs inside),
    every error exits 1."""
    from agentgym.errors import InfrastructureError

    try:
        yield
    except (*_EXITS, KeyboardInterrupt):
        raise
    except Exception as exc:
        if debug_enabled():
            raise
        if work or isinstance(exc, InfrastructureError):
            fail(error_message(exc), EXIT_FAILURE)
        if isinstance(exc, _bad_input_types()):
            fail(error_message(exc))
        if isinstance(exc, PermissionError):
            fail(f"{exc.filename or ''}: permission denied".lstrip(": "))
        raise


class AgentGymGroup(TyperGroup):
    """The root command: one line for every error, exit 2 for usage errors, never a traceback
    (unless `--debug`)."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        global _debug
        args = list(sys.argv[1:] if args is None else args)
        end = args.index("--") if "--" in args else len(args)
        _debug = DEBUG_FLAG in args[:end]
        if _debug:
            args = [a for a in args[:end] if a != DEBUG_FLAG] + args[end:]
        code = self._guarded_main(args, prog_name, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _guarded_main(self, args: list[str], prog_name: str | None, complete_var: str | None, **extra: Any) -> int:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            return result if isinstance(result, int) and not isinstance(result, bool) else 0
        except click_errors.NoArgsIsHelpError as exc:  # the help was printed
            return exc.exit_code
        except click_errors.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _print_error(exc.format_message().rstrip(".") + hint)
            return exc.exit_code
        except click_errors.ClickException as exc:
            _print_error(exc.format_message())
            return exc.exit_code
        except typer.Abort:
            _print_error("aborted")
            return EXIT_FAILURE
        except Exception as exc:
            if debug_enabled():
                raise
            _print_error(f"{type(exc).__name__}: {error_message(exc)} (run with {DEBUG_FLAG} for the traceback)")
            return EXIT_FAILURE


# ---------------------------------------------------------------------- argument checks
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


def env_class(env_id: str) -> Any:
    """The class (or factory) a registered id's entry point names; None when it cannot be loaded
    without making the env. Exits 2 when the entry point's module cannot be imported."""
    import gymnasium

    from agentgym.family import load_object

    entry = gymnasium.registry[env_id.rpartition(":")[2]].entry_point  # "module:id" -> id
    if not isinstance(entry, str):
        return entry
    module = entry.partition(":")[0]
    try:
        target = load_object(entry)
    except ImportError as exc:
        fail(f"{env_id}: cannot import {module!r} ({exc}); is the family's extra installed? (see `agentgym list`)")
    except AttributeError as exc:
        fail(f"{env_id}: bad entry point {entry!r} ({exc})")
    return target


def check_agent_env(env_id: str) -> Any:
    """The env class of `env_id`, or exit 2 when it is a Gymnasium env but not an agentgym one
    (text observations, tool-call actions: an `AgentEnv`)."""
    from agentgym.env import AgentEnv

    target = env_class(env_id)
    stands_in = getattr(target, "stands_in_for_agent_env", False)  # e.g. the env-server client
    if inspect.isclass(target) and not issubclass(target, AgentEnv) and not stands_in:
        fail(
            f"{env_id} is not an agentgym env ({target.__module__}.{target.__qualname__} is not an AgentEnv); "
            "agentgym runs agents in text/tool-call envs: see `agentgym list`"
        )
    return target


# Keyword arguments gymnasium.make itself takes (it passes the others to the env)
_MAKE_KWARGS = {"max_episode_steps": "int | None", "disable_env_checker": "bool | None"}


def env_parameters(target: Any) -> tuple[dict[str, Any], bool]:
    """Keyword parameters an env class (or factory) accepts -> their annotation, and whether it
    takes any keyword besides (`**kwargs` that reach no closed signature).

    A family env usually takes `**kwargs` and passes them to `AgentEnv.__init__`, so the
    parameters are collected along the MRO until an `__init__` without `**kwargs`. A parameter a
    subclass passes to `super().__init__` itself (`tasks=` of most families) is not one the
    caller may pass (it would arrive twice)."""
    params: dict[str, Any] = dict(_MAKE_KWARGS)
    fixed: set[str] = set()
    functions = (
        [c.__dict__["__init__"] for c in target.__mro__ if "__init__" in c.__dict__ and c is not object]
        if inspect.isclass(target)
        else [target]
    )
    for function in functions:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return params, True
        open_ = False
        for name, parameter in signature.parameters.items():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                open_ = True
            elif parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
                if name != "self" and name not in fixed:
                    params.setdefault(name, parameter.annotation)
        if not open_:
            return params, False
        fixed |= _passed_to_super(function) - set(signature.parameters)
    return params, True


def _passed_to_super(function: Any) -> set[str]:
    """Keyword names an `__init__` passes explicitly to `super().__init__(...)` (best effort)."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return set()
    names: set[str] = set()
    for call in re.finditer(r"super\(\)\.__init__\(", source):
        depth, end = 1, call.end()
        while end < len(source) and depth:
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            end += 1
        arguments = source[call.end() : end - 1]
        depth, top = 0, []
        for char in arguments:  # keep only the top level of the call's arguments
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
            top.append(char if depth == 0 or char in "([{" else " ")
        names.update(re.findall(r"(?:^|,)\s*([A-Za-z_]\w*)\s*=(?!=)", "".join(top)))
    return names


def _alternatives(annotation: Any) -> list[Any] | None:
    """An annotation as a list of simple alternatives ('int', 'str', 'None', 'list', a literal
    tuple), or None when it has any other part (then the value is not checked here)."""
    import types
    import typing

    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    if isinstance(annotation, str):
        text = annotation.replace("typing.", "").strip()
        if text.startswith("Optional[") and text.endswith("]"):
            text = f"{text[9:-1]} | None"
        parts, depth, current = [], 0, ""
        for char in text:
            depth += char == "["
            depth -= char == "]"
            if char == "|" and depth == 0:
                parts.append(current.strip())
                current = ""
            else:
                current += char
        parts.append(current.strip())
        out: list[Any] = []
        for part in parts:
            if part in ("int", "float", "bool", "str", "None", "Path"):
                out.append("str" if part == "Path" else part)
            elif part.startswith(("list[", "Sequence[", "tuple[")) or part in ("list", "tuple"):
                out.append("list")
            elif part.startswith("Literal[") and part.endswith("]"):
                import ast

                try:
                    values = ast.literal_eval(f"({part[8:-1]},)")
                except (ValueError, SyntaxError):
                    return None
                out.append(tuple(values))
            else:
                return None
        return out
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        out = []
        for arg in typing.get_args(annotation):
            sub = _alternatives(arg)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if origin is typing.Literal:
        return [tuple(typing.get_args(annotation))]
    if origin in (list, tuple) or annotation in (list, tuple):
        return ["list"]
    simple = {int: "int", float: "float", bool: "bool", str: "str", type(None): "None", Path: "str"}
    return [simple[annotation]] if annotation in simple else None


_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
               "None": "null", "list": "a list ([a, b])"}


def coerce_env_arg(name: str, value: Any, raw: str, annotation: Any) -> Any:
    """`-e name=raw` (parsed as YAML into `value`) checked against the parameter's annotation:
    the value to pass, or exit 2 naming the parameter."""
    alternatives = _alternatives(annotation)
    if alternatives is None:
        return value
    literals = [v for alt in alternatives if isinstance(alt, tuple) for v in alt]
    kinds = {alt for alt in alternatives if isinstance(alt, str)}
    if value is None and "None" in kinds:
        return None
    if isinstance(value, bool):
        if "bool" in kinds or value in literals:
            return value
    elif isinstance(value, int) and ("int" in kinds or "float" in kinds):
        return float(value) if "int" not in kinds else value
    elif isinstance(value, float) and "float" in kinds:
        return value
    elif isinstance(value, list) and "list" in kinds:
        return value
    elif isinstance(value, str) and "str" in kinds:
        return value
    if literals:
        for literal in literals:
            if str(literal) == raw.strip() or literal == value:
                return literal
    if "str" in kinds and not isinstance(value, list | dict):
        return raw.strip()  # YAML read a number or a bool where the env takes text: pass the text
    wanted = [repr(v) for v in literals] + [_KIND_WORDS.get(k, k) for k in sorted(kinds) if k != "None"]
    close = difflib.get_close_matches(raw.strip(), [str(v) for v in literals], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    fail(f"-e {name}={raw}: expected {' or '.join(wanted)}{hint}")


def parse_env_args(pairs: list[str] | None) -> dict[str, Any]:
    """`key=value` pairs; values are parsed as YAML scalars/lists (numbers, booleans, [a, b])."""
    return {key: value for key, (value, _raw) in _parse_env_pairs(pairs).items()}


def _parse_env_pairs(pairs: list[str] | None) -> dict[str, tuple[Any, str]]:
    import yaml

    kwargs: dict[str, tuple[Any, str]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--env-arg expects key=value, got {pair!r}")
        if not key.isidentifier():
            fail(f"-e {pair}: {key!r} is not a parameter name")
        if key in kwargs:
            fail(f"-e {key} is given twice")
        try:
            kwargs[key] = (yaml.safe_load(value), value)
        except yaml.YAMLError as exc:
            fail(f"-e {key}={value}: cannot parse the value ({' '.join(str(exc).split())})")
    return kwargs


def check_env_args(env_id: str, pairs: list[str] | None, target: Any = None) -> dict[str, Any]:
    """`-e key=value` pairs as env keyword arguments: every key a parameter of the env (exit 2
    with a did-you-mean otherwise), every value of the parameter's type when it is a simple one."""
    parsed = _parse_env_pairs(pairs)
    if not parsed:
        return {}
    target = target if target is not None else env_class(env_id)
    params, open_ = env_parameters(target)
    kwargs: dict[str, Any] = {}
    for key, (value, raw) in parsed.items():
        if key not in params:
            if open_:
                kwargs[key] = value
                continue
            known = sorted(p for p in params if p not in _MAKE_KWARGS)
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            what = "sets" if key in _all_parameter_names(target) else "has no parameter"
            fail(f"-e {key}: {env_id} {what} {key!r}{' itself' if what == 'sets' else ''}; {hint}"
                 f"parameters: {', '.join(known)}")
        kwargs[key] = coerce_env_arg(key, value, raw, params[key])
    if "max_turns" in kwargs:
        check_positive("-e max_turns", kwargs["max_turns"])
    return kwargs


def _all_parameter_names(target: Any) -> set[str]:
    classes = target.__mro__ if inspect.isclass(target) else ()
    names: set[str] = set()
    for cls in classes:
        init = cls.__dict__.get("__init__")
        if init is not None and cls is not object:
            try:
                names.update(inspect.signature(init).parameters)
            except (TypeError, ValueError):
                continue
    return names


def check_positive(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        fail(f"{name} must be a positive integer, got {value!r}")


def check_output_path(path: Path | None, option: str, *, directory: bool = False) -> None:
    """Exit 2 unless `path` can be written: not a directory (with `directory`: not a file), its
    folder exists or can be made, and a file can be created there (tried, not guessed: a
    read-only mount or /proc fails here even for root)."""
    import tempfile

    if path is None:
        return
    if directory:
        if path.exists() and not path.is_dir():
            fail(f"{option} {path}: exists and is not a directory")
    elif path.is_dir():
        fail(f"{option} {path}: is a directory; give a file path")
    folder = path if directory else path.parent
    ancestor = folder
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{option} {path}: {ancestor} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if path.exists() and not directory:
            with path.open("ab"):
                pass
        else:
            with tempfile.TemporaryFile(dir=folder):
                pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        fail(f"{option} {path}: cannot write there ({reason})")


def check_input_path(path: Path | None, option: str, *, kind: str = "file") -> None:
    """Exit 2 unless `path` exists (a file, a directory, or either: kind "file" | "dir" | "any")."""
    if path is None:
        return
    if not path.exists():
        fail(f"{option} {path}: not found")
    if kind == "file" and path.is_dir():
        fail(f"{option} {path}: is a directory; give a file")
    if kind == "dir" and not path.is_dir():
        fail(f"{option} {path}: not a directory")
    if not os.access(path, os.R_OK):
        fail(f"{option} {path}: not readable (permission denied)")


def preflight_policy(spec: str) -> None:
    """Check a policy string before anything is built: its kind exists, its options are known and
    well typed, its server answers. Calls `preflight(spec)` of the module that makes the kind,
    when that module has one (agentgym's backends do); raises ValueError naming the problem."""
    import importlib

    from agentgym.policy import policy_factories, policy_kind

    kind = policy_kind(spec.strip())
    factories = policy_factories()
    entry = factories.get(kind) or factories.get(kind.lower())
    if entry is None:
        known = ", ".join(sorted(factories)) or "none (is agentgym installed? pip install -e .)"
        raise ValueError(f"unknown policy kind {kind!r} in {spec!r}; known kinds: {known}")
    module = importlib.import_module(entry.module)
    check = getattr(module, "preflight", None)
    if callable(check):
        check(spec.strip())


def make_policy(spec: str) -> Any:
    """Resolve a policy string (`random`, `oracle`, `scripted:...`, and the model backends) through
    the `agentgym.policies` entry points."""
    from agentgym.policy import make_policy as make_core_policy

    return make_core_policy(spec)


def check_env_options(
    env_id: str, env_args: list[str] | None, reward: str | None, max_turns: int | None
) -> tuple[str, dict[str, Any]]:
    """The env id (checked, an agentgym env) and its keyword arguments from `-e KEY=VALUE`,
    `--reward` and `--max-turns`, with a `--reward` spec file loaded now (exit 2 on bad input)."""
    env_id = check_env_id(env_id)
    kwargs = check_env_args(env_id, env_args, check_agent_env(env_id))
    if reward is not None:
        kwargs["reward"] = reward
    if max_turns is not None:
        kwargs["max_turns"] = max_turns
    check_spec_file(kwargs.get("reward") if isinstance(kwargs.get("reward"), str) else None)
    return env_id, kwargs


def check_port_free(host: str, port: int) -> None:
    """Exit 2 now when HOST:PORT cannot be listened on (in use, not ours), before a server builds
    its envs or loads its model."""
    import socket

    with socket.socket() as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def check_spec_file(reward: str | None) -> None:
    """Load a `--reward` given as a spec file now (size, levels, fields), so a bad one fails before
    the env is made; modes and missing paths are left to the env (it names them)."""
    if reward is None:
        return
    from agentgym.rewards.spec import MODES, load_spec

    if reward in MODES:
        return
    path = Path(reward)
    if path.is_dir():
        fail(f"--reward {reward}: is a directory; give a spec file (.yaml, .yml or .json)")
    if path.is_file():
        load_spec(path)


def is_interactive() -> bool:
    return console.is_terminal and sys.stdin.isatty()
