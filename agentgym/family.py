"""Families as plugins: how envs, their task lists and their CLI commands reach agentgym.

A family is a Python package that exposes one `Family` object through the `agentgym.families`
entry-point group of its distribution's metadata:

    [project.entry-points."agentgym.families"]
    counter = "counter_family.family:FAMILY"

The core never names a family: `import agentgym` registers every env of every installed family
with Gymnasium, the CLI mounts every family's commands, and rollouts list a family's tasks through
its task-source function without building an env. A family module named by an entry point must
stay light to import (data only: env ids, "module:attribute" strings), because it is loaded on
every `import agentgym`. A family that fails to load is reported with a warning and skipped, so
one broken plugin cannot break the others; `agentgym check` fails on it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Any

import gymnasium

from agentgym.task import TaskSource

FAMILY_GROUP = "agentgym.families"


class FamilyWarning(UserWarning):
    """An installed family plugin could not be loaded."""


@dataclass(frozen=True)
class EnvEntry:
    """One env of a family.

    entry_point: "module:Class" of the env (imported only when the env is made).
    tasks: "module:function" returning the env's `TaskSource`; the function is called with the
    env keyword arguments it accepts (e.g. a category or task file), so rollouts and trainers can
    list the tasks without starting a container or a browser. None for envs without a fixed list.
    kwargs: default env keyword arguments of this id. check_kwargs: env keyword arguments under
    which `agentgym check` plays it (e.g. a toy's pass probability set to 1 so the oracle's
    success is certain).
    """

    id: str
    entry_point: str
    description: str = ""
    tasks: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    check_kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    """What a family plugin declares: its envs, its CLI commands, its pip extra.

    commands: mount path -> "module:attribute" of a typer app (or a plain function mounted as
    one command). The mount path is a command name ("sandbox") or a group and a name ("tasks swe":
    mounted as `agentgym tasks swe ...`).
    """

    name: str
    envs: tuple[EnvEntry, ...]
    commands: Mapping[str, str] = field(default_factory=dict)
    extra: str = ""
    description: str = ""


def load_object(reference: str) -> Any:
    """The object named by "module:attribute" (attribute may be dotted)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"expected 'module:attribute', got {reference!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


@cache
def families() -> dict[str, Family]:
    """Every installed family, by name (loaded once per process)."""
    found: dict[str, Family] = {}
    for entry in metadata.entry_points(group=FAMILY_GROUP):
        try:
            family = entry.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not break the others
            warnings.warn(f"family plugin {entry.name!r} ({entry.value}) failed to load: {exc}", FamilyWarning,
                          stacklevel=2)
            continue
        if not isinstance(family, Family):
            warnings.warn(f"family plugin {entry.name!r} ({entry.value}) is a {type(family).__name__}, not a Family",
                          FamilyWarning, stacklevel=2)
            continue
        found[family.name] = family
    return found


def env_entries() -> dict[str, tuple[Family, EnvEntry]]:
    """env id -> (its family, its entry), over every installed family."""
    return {env.id: (family, env) for family in families().values() for env in family.envs}


def register_families() -> None:
    """Register every env of every installed family with Gymnasium (idempotent)."""
    for _family, env in env_entries().values():
        if env.id not in gymnasium.registry:
            gymnasium.register(id=env.id, entry_point=env.entry_point, kwargs=dict(env.kwargs))


def available(env_id: str) -> bool:
    """Whether the module behind an env id can be imported in this installation."""
    entry = env_entries().get(env_id)
    if entry is None:
        return env_id in gymnasium.registry
    module = entry[1].entry_point.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def call_with_accepted(function: Any, kwargs: Mapping[str, Any]) -> Any:
    """Call `function` with the subset of `kwargs` its signature accepts."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return function(**kwargs)
    return function(**{k: v for k, v in kwargs.items() if k in parameters})


def task_source(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> TaskSource | None:
    """The task source of a family env, built without building the env; None when the env is not
    a family env or declares no task function (callers may then ask a built env's `tasks`)."""
    entry = env_entries().get(env_id)
    if entry is None or entry[1].tasks is None:
        return None
    merged = {**dict(entry[1].kwargs), **dict(env_kwargs or {})}
    return call_with_accepted(load_object(entry[1].tasks), merged)


def list_task_ids(env_id: str, env_kwargs: Mapping[str, Any] | None = None, split: str | None = None) -> list[str] | None:
    """Task ids of any env id (of `split` when given): from the family's task source without
    building the env when it declares one, else from a built env's `task_ids`; None when the env
    has no fixed task list."""
    source = task_source(env_id, env_kwargs)
    if source is not None:
        return source.ids(split)
    env = gymnasium.make(env_id, **dict(env_kwargs or {}))
    try:
        lister = getattr(env.unwrapped, "task_ids", None)
        return lister(split) if lister is not None else None
    finally:
        env.close()
