"""Perturbed BFCL answers for checking our AST checker against bfcl-eval's own.

`perturbed_set(tasks)` yields one record per (entry, perturbation): the category, the function
docs, the gold possible answer and a prediction in BFCL's decoded format `[{name: {args}}]`.
Perturbations: gold as is, optional parameters filled, wrong name, missing required parameter,
extra parameter, wrong type, wrong value, string case/spacing variant, int for float, dict key
removed/added, and for parallel entries reordered / dropped / duplicated calls.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from agentgym.envs.tool.bfcl.checker import gold_calls


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else 0
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return ",".join(map(str, value)) or "x"
    if isinstance(value, dict):
        return str(value)
    return "x"


def _wrong_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + " zzz"
    if isinstance(value, list):
        return value + (value[:1] if value else ["extra"])
    if isinstance(value, dict):
        return {**value, "unexpected_key": 1}
    return None


def _variants(call: dict[str, Any], function: dict[str, Any], possible: dict[str, Any], rng: random.Random):
    name, args = call["name"], call["arguments"]
    props = function["parameters"].get("properties", {})
    required = function["parameters"].get("required", [])
    allowed = next(iter(possible.values()))
    yield "gold", {name: dict(args)}
    filled = dict(args)
    for param, options in allowed.items():
        concrete = [o for o in options if o != ""]
        if param not in filled and concrete and not isinstance(concrete[0], dict):
            filled[param] = concrete[0]
    yield "filled", {name: filled}
    yield "wrong_name", {name + "_v2": dict(args)}
    present_required = [p for p in required if p in args]
    if present_required:
        drop = rng.choice(present_required)
        yield "missing_required", {name: {k: v for k, v in args.items() if k != drop}}
    yield "extra_param", {name: {**args, "unrelated_param": 1}}
    if args:
        param = rng.choice(sorted(args))
        yield "wrong_type", {name: {**args, param: _wrong_type(args[param])}}
        yield "wrong_value", {name: {**args, param: _wrong_value(args[param])}}
        strings = [p for p in sorted(args) if isinstance(args[p], str)]
        if strings:
            p = rng.choice(strings)
            yield "string_variant", {name: {**args, p: args[p].upper().replace(" ", "  ")}}
        floats = [
            p
            for p in sorted(args)
            if props.get(p, {}).get("type") == "float" and isinstance(args[p], float) and args[p].is_integer()
        ]
        if floats:
            p = rng.choice(floats)
            yield "int_for_float", {name: {**args, p: int(args[p])}}
        dicts = [p for p in sorted(args) if isinstance(args[p], dict) and args[p]]
        if dicts:
            p = rng.choice(dicts)
            smaller = dict(args[p])
            smaller.pop(sorted(smaller)[0])
            yield "dict_key_removed", {name: {**args, p: smaller}}


def perturbed_set(tasks: list[Any], seed: int = 0) -> list[dict[str, Any]]:
    records = []
    for task in tasks:
        rng = random.Random(f"{seed}:{task.id}")
        calls = gold_calls(task.ground_truth, task.functions)
        functions = {f["name"]: f for f in task.functions}
        base = [{c["name"]: c["arguments"]} for c in calls]

        def add(kind: str, output: list[dict[str, Any]], task=task) -> None:
            records.append(
                {
                    "id": f"{task.id}:{kind}:{len(records)}",
                    "category": task.category,
                    "functions": task.functions,
                    "possible": task.ground_truth,
                    "output": copy.deepcopy(output),
                }
            )

        index = rng.randrange(len(calls))
        for kind, variant in _variants(
            calls[index], functions[calls[index]["name"]], task.ground_truth[index], rng
        ):
            output = list(base)
            output[index] = variant
            add(kind, output)
        if len(base) > 1:
            add("reordered", list(reversed(base)))
            add("dropped_call", base[:-1])
        add("duplicated_call", base + base[:1])
    return records


def to_calls(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": next(iter(o)), "arguments": next(iter(o.values()))} for o in output]


def call_source(call: dict[str, Any]) -> str:
    return f"{call['name']}(" + ", ".join(f"{k}={v!r}" for k, v in call["arguments"].items()) + ")"


def multi_turn_variants(turns: list[list[dict[str, Any]]], seed: str) -> dict[str, list[list[dict[str, Any]]]]:
    """Gold multi-turn trajectory plus: a call dropped, an argument changed, a call repeated."""
    rng = random.Random(seed)
    variants = {"gold": turns}
    nonempty = [i for i, turn in enumerate(turns) if turn]
    ti = rng.choice(nonempty)
    ci = rng.randrange(len(turns[ti]))
    dropped = [list(turn) for turn in turns]
    del dropped[ti][ci]
    variants["drop_call"] = dropped
    with_args = [(i, j) for i, turn in enumerate(turns) for j, c in enumerate(turn) if c["arguments"]]
    if with_args:
        i, j = rng.choice(with_args)
        call = turns[i][j]
        key = rng.choice(sorted(call["arguments"]))
        changed = [list(turn) for turn in turns]
        changed[i][j] = {"name": call["name"], "arguments": {**call["arguments"], key: _wrong_value(call["arguments"][key])}}
        variants["wrong_arg"] = changed
    repeated = [list(turn) for turn in turns]
    repeated[ti].insert(ci, turns[ti][ci])
    variants["repeat_call"] = repeated
    return variants
