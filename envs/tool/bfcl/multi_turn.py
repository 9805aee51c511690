"""BFCL multi-turn execution on BFCL's own API classes (GorillaFileSystem, TradingBot, ...).

A `BFCLRuntime` holds one instance per involved class, loaded with the entry's initial config
(`_load_scenario`), and runs calls by method name. The env keeps two runtimes: the agent's and the
gold one; after each user turn the gold calls of that turn run on the gold runtime and the turn is
correct iff (BFCL's rules) the agent made at least one call when the gold has some, every public
attribute of every instance equals the gold instance's, and every gold execution result of the turn
appears among the agent's results so far (unordered, with multiplicity).
"""

from __future__ import annotations

import ast
import copy
import decimal
import importlib
import inspect
import json
from typing import Any

from agentgym.errors import InfrastructureError

try:
    import mpmath
except ImportError:  # the tool extra installs it; BFCL's MathAPI needs it
    mpmath = None

STATELESS = {"MathAPI"}
FORBIDDEN = {"kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run"}
#: numeric arguments an agent could use to stall the process (``power(10, 10**9)``, a square root
#: to a billion digits): a call beyond these bounds is an error observation, not a hung step
ARGUMENT_LIMITS = {"exponent": 10_000.0, "precision": 1_000.0, "decimal_places": 1_000.0}


def _check_limits(arguments: dict[str, Any]) -> None:
    for key, limit in ARGUMENT_LIMITS.items():
        value = arguments.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and not abs(value) <= limit:
            raise ValueError(f"argument {key!r} must be within +-{limit:g}, got {value!r}")


def _class_path(name: str) -> str:
    from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING

    return CLASS_FILE_PATH_MAPPING[name]


def render_result(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


class BFCLRuntime:
    """The API instances of one multi-turn entry."""

    def __init__(self, involved_classes: list[str], initial_config: dict[str, Any], long_context: bool = False):
        self.instances: dict[str, Any] = {}
        self.methods: dict[str, Any] = {}
        self._decimal_prec = decimal.getcontext().prec
        self._mp_dps = mpmath.mp.dps if mpmath is not None else 15
        for class_name in involved_classes:
            try:
                cls = getattr(importlib.import_module(_class_path(class_name)), class_name)
                instance = cls()
                if class_name not in STATELESS:
                    instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
            except Exception as exc:  # the BFCL package is infrastructure here
                raise InfrastructureError(f"cannot load BFCL class {class_name}: {type(exc).__name__}: {exc}") from exc
            self.instances[class_name] = instance
            for name, method in inspect.getmembers(instance, predicate=inspect.ismethod):
                if not name.startswith("_"):
                    self.methods[name] = method

    def execute(self, name: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """Run one call; (result text, ok). Failures come back as BFCL's error text."""
        method = self.methods.get(name)
        try:
            if name in FORBIDDEN:
                raise Exception(f"Function call {name} is not allowed.")
            if method is None:
                raise NameError(f"name '{name}' is not defined")
            _check_limits(arguments)
            return render_result(method(**arguments)), True
        except Exception as exc:
            return f"Error during execution: {exc}", False
        finally:  # MathAPI sets process-wide precision (decimal, mpmath): put it back
            decimal.getcontext().prec = self._decimal_prec
            if mpmath is not None:
                mpmath.mp.dps = self._mp_dps

    def execute_source(self, source: str) -> str:
        """Run a gold call written as Python source, e.g. "mv(source='a', destination='b')"."""
        name, args, kwargs = parse_call_source(source)
        method = self.methods.get(name)
        if method is None:
            return f"Error during execution: name '{name}' is not defined"
        try:
            bound = inspect.signature(method).bind(*args, **kwargs)
        except TypeError as exc:
            return f"Error during execution: {exc}"
        return self.execute(name, dict(bound.arguments))[0]

    def state(self) -> dict[str, dict[str, Any]]:
        return {c: {k: v for k, v in vars(i).items() if not k.startswith("_")} for c, i in self.instances.items()}


def parse_call_source(source: str) -> tuple[str, list[Any], dict[str, Any]]:
    node = ast.parse(source.strip(), mode="eval").body
    if not isinstance(node, ast.Call):
        raise ValueError(f"not a call: {source!r}")
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id  # type: ignore[attr-defined]
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
    return name, args, kwargs


def source_to_call(source: str, runtime: BFCLRuntime) -> dict[str, Any]:
    """A gold source call as {"name", "arguments"} with positional arguments named."""
    name, args, kwargs = parse_call_source(source)
    method = runtime.methods.get(name)
    if method is not None and args:
        try:
            kwargs = dict(inspect.signature(method).bind_partial(*args, **kwargs).arguments)
        except TypeError:
            pass
    return {"name": name, "arguments": kwargs}


def states_equal(model: BFCLRuntime, gold: BFCLRuntime) -> tuple[bool, dict[str, Any]]:
    differences: dict[str, Any] = {}
    for class_name, gold_instance in gold.instances.items():
        model_instance = model.instances[class_name]
        for attr in vars(gold_instance):
            if attr.startswith("_"):
                continue
            if getattr(model_instance, attr, None) != getattr(gold_instance, attr):
                differences[f"{class_name}.{attr}"] = "differs"
    return not differences, differences


def contains_unordered(needles: list[str], haystack: list[str]) -> tuple[bool, list[str]]:
    pool = list(haystack)
    missing = []
    for item in needles:
        if item in pool:
            pool.remove(item)
        else:
            missing.append(item)
    return not missing, missing
