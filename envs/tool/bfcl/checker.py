"""A BFCL-style AST checker for single-turn function calls (Python categories), written here.

A prediction is a list of calls `[{"name": str, "arguments": dict}]`; the gold answer is BFCL's
"possible answer": a list of `{function_name: {param: [allowed values...]}}`, where `""` among the
allowed values marks an optional parameter that may be left out.

Rules (the leaderboard's semantics):
- count: simple categories need exactly one call; `multiple` exactly as many as the gold (one);
  `parallel*` as many as the gold, matched in any order (a full bipartite matching here).
- name: the call's name equals the function's (dots may be written as underscores).
- required parameters present; no parameter outside the function's properties or the gold answer;
  every gold parameter without `""` present.
- types (Python JSON-schema names): exact type (a bool is not an integer); an integer is accepted
  for `float`; arrays/tuples check their items' type one level deep. When the gold lists values of
  another type than the schema's (BFCL's "variable" answers), a value of the gold's type is accepted
  and compared exactly.
- values: strings compared after standardization (lowercase; spaces and `,./-_*^` removed; `'` as
  `"`); lists element-wise with the same standardization; dicts key by key (unknown keys rejected,
  missing keys only if optional); lists of dicts dict by dict; other values by equality.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PY_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "boolean": bool, "array": list, "tuple": list,
    "dict": dict, "any": str,
}
NESTED = ("array", "tuple")
OPENAI_TYPES = {"integer": "integer", "number": "number", "float": "number", "string": "string", "boolean": "boolean",
                "bool": "boolean", "array": "array", "list": "array", "dict": "object", "object": "object",
                "tuple": "array", "any": "string"}
_STD = re.compile(r"[ ,./\-_*^]")
#: every `CheckResult.error_type` the checker gives (BFCL's names); the env's `error_type` labels
ERROR_TYPES: tuple[str, ...] = (
    "simple_function_checker:wrong_func_name", "simple_function_checker:missing_required",
    "simple_function_checker:unexpected_param", "simple_function_checker:missing_optional",
    "simple_function_checker:wrong_count", "multiple_function_checker:wrong_count",
    "parallel_function_checker_no_order:wrong_count", "parallel_function_checker_no_order:cannot_find_match",
    "type_error:simple", "type_error:nested", "value_error:string", "value_error:list/tuple",
    "value_error:dict_key", "value_error:dict_value", "value_error:list_dict_count", "value_error:others",
    "dict_checker:unclear", "list_dict_checker:unclear",
)


@dataclass
class CheckResult:
    valid: bool
    error_type: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def fail(cls, error_type: str, message: str) -> CheckResult:
        return cls(False, error_type, [message])


OK = CheckResult(True)


def standardize(text: str) -> str:
    return _STD.sub("", text).lower().replace("'", '"')


def _std_if_str(value: Any) -> Any:
    return standardize(value) if isinstance(value, str) else value


def _gold_type(allowed: list[Any]) -> type | None:
    for value in allowed:
        if value != "":
            return type(value)
    return None


# ---------------------------------------------------------------------- types
def _check_type(param: str, value: Any, allowed: list[Any], type_name: str, expected: type,
                item_type: type | None) -> tuple[CheckResult, bool]:
    """Returns (result, is_variable)."""
    gold_type = _gold_type(allowed)
    is_variable = gold_type is not None and gold_type is not expected
    if type(value) is expected:
        if item_type is None:
            return OK, is_variable
        for candidate in allowed:
            if not isinstance(candidate, list):
                return OK, is_variable  # an optional marker: nothing to compare the items with
            if all(_check_type(param, item, candidate, item_type.__name__, item_type, None)[0].valid for item in value):
                return OK, is_variable
        return CheckResult.fail("type_error:nested", f"{param}: items are not all {item_type.__name__}"), is_variable
    if gold_type is not None and type(value) is gold_type:
        return OK, True
    return CheckResult.fail("type_error:simple", f"{param}: expected {type_name}, got {type(value).__name__}"), is_variable


# ---------------------------------------------------------------------- values
def _check_string(param: str, value: str, allowed: list[Any]) -> CheckResult:
    if standardize(value) in [standardize(a) for a in allowed if isinstance(a, str)]:
        return OK
    return CheckResult.fail("value_error:string", f"{param}: {value!r} not in {allowed}")


def _check_list(param: str, value: list[Any], allowed: list[Any]) -> CheckResult:
    normalized = [_std_if_str(v) for v in value]
    for candidate in allowed:
        if [_std_if_str(v) for v in candidate] == normalized:
            return OK
    return CheckResult.fail("value_error:list/tuple", f"{param}: {value!r} not in {allowed}")


def _check_dict(param: str, value: dict[str, Any], allowed: list[Any]) -> CheckResult:
    result = CheckResult.fail("dict_checker:unclear", f"{param}: no allowed dict")
    for candidate in allowed:
        if candidate == "":
            continue
        result = _dict_against(param, value, candidate)
        if result.valid:
            return OK
    return result


def _dict_against(param: str, value: dict[str, Any], candidate: dict[str, list[Any]]) -> CheckResult:
    for key, item in value.items():
        if key not in candidate:
            return CheckResult.fail("value_error:dict_key", f"{param}: unexpected key {key!r}")
        if _std_if_str(item) not in [_std_if_str(a) for a in candidate[key]]:
            return CheckResult.fail("value_error:dict_value", f"{param}.{key}: {item!r} not in {candidate[key]}")
    for key, options in candidate.items():
        if key not in value and "" not in options:
            return CheckResult.fail("value_error:dict_key", f"{param}: missing key {key!r}")
    return OK


def _check_list_of_dicts(param: str, value: list[Any], allowed: list[Any]) -> CheckResult:
    result = CheckResult.fail("list_dict_checker:unclear", f"{param}: no allowed list")
    for candidate in allowed:
        if len(value) != len(candidate):
            result = CheckResult.fail("value_error:list_dict_count", f"{param}: wrong number of dicts")
            continue
        for item, gold in zip(value, candidate, strict=True):
            result = _check_dict(param, item, [gold])
            if not result.valid:
                break
        else:
            return OK
    return result


# ---------------------------------------------------------------------- one call
def _names_match(predicted: str, expected: str) -> bool:
    return predicted == expected or predicted == expected.replace(".", "_")


def check_one(function: dict[str, Any], call: dict[str, Any], gold: dict[str, dict[str, list[Any]]]) -> CheckResult:
    """One predicted call against one function description and its gold `{name: {param: [values]}}`."""
    allowed_params = next(iter(gold.values()))
    name = function["name"]
    if not _names_match(call.get("name", ""), name):
        return CheckResult.fail("simple_function_checker:wrong_func_name", f"expected {name!r}, got {call.get('name')!r}")
    arguments = call.get("arguments") or {}
    properties = function["parameters"].get("properties", {})
    for param in function["parameters"].get("required", []):
        if param not in arguments:
            return CheckResult.fail("simple_function_checker:missing_required", f"missing required parameter {param!r}")
    for param, value in arguments.items():
        if param not in properties or param not in allowed_params:
            return CheckResult.fail("simple_function_checker:unexpected_param", f"unexpected parameter {param!r}")
        allowed = allowed_params[param]
        type_name = properties[param].get("type", "any")
        expected = PY_TYPES.get(type_name, str)
        item_type = None
        if type_name in NESTED:
            item_type = PY_TYPES.get(properties[param].get("items", {}).get("type", "any"), str)
        if type_name == "float" and type(value) is int:
            try:
                value = float(value)
            except OverflowError:  # an agent's 10**400 is no float any gold answer holds
                return CheckResult.fail("value_error:others", f"{param}: {value} is out of range")
        result, is_variable = _check_type(param, value, allowed, type_name, expected, item_type)
        if not result.valid:
            return result
        if not is_variable:
            if expected is dict:
                result = _check_dict(param, value, allowed)
            elif expected is list and item_type is dict:
                result = _check_list_of_dicts(param, value, allowed)
            elif expected is str:
                result = _check_string(param, value, allowed)
            elif expected is list:
                result = _check_list(param, value, allowed)
            else:
                result = OK if value in allowed else CheckResult.fail("value_error:others", f"{param}: {value!r} not in {allowed}")
            if not result.valid:
                return result
            continue
        if value not in allowed:
            return CheckResult.fail("value_error:others", f"{param}: {value!r} not in {allowed}")
    for param, allowed in allowed_params.items():
        if param not in arguments and "" not in allowed:
            return CheckResult.fail("simple_function_checker:missing_optional", f"parameter {param!r} is not optional")
    return OK


def _find(functions: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((f for f in functions if f["name"] == name), None)


def _matching(n: int, ok: list[list[bool]]) -> bool:
    """Whether a perfect matching exists (gold i -> prediction j with ok[i][j])."""
    owner = [-1] * n

    def augment(i: int, seen: list[bool]) -> bool:
        for j in range(n):
            if ok[i][j] and not seen[j]:
                seen[j] = True
                if owner[j] < 0 or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(augment(i, [False] * n) for i in range(n))


def check_calls(functions: list[dict[str, Any]], calls: list[dict[str, Any]], gold: list[dict[str, Any]],
                category: str) -> CheckResult:
    """Grade a prediction (list of {"name", "arguments"}) for a single-turn BFCL entry. The
    prediction is the agent's: whatever its values, this returns a verdict and never raises."""
    try:
        return _check_calls(functions, calls, gold, category)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
        # a value shaped unlike anything the gold allows (e.g. a string where a dict is nested)
        return CheckResult.fail("value_error:others", f"unusable prediction: {type(exc).__name__}: {exc}")


def _check_calls(functions: list[dict[str, Any]], calls: list[dict[str, Any]], gold: list[dict[str, Any]],
                 category: str) -> CheckResult:
    if "parallel" in category:
        if len(calls) != len(gold):
            return CheckResult.fail("parallel_function_checker_no_order:wrong_count", "wrong number of calls")
        table = []
        for answer in gold:
            function = _find(functions, next(iter(answer)))
            table.append([function is not None and check_one(function, c, answer).valid for c in calls])
        if _matching(len(gold), table):
            return OK
        return CheckResult.fail("parallel_function_checker_no_order:cannot_find_match", "no matching of calls to answers")
    if "multiple" in category:
        if len(calls) != len(gold):
            return CheckResult.fail("multiple_function_checker:wrong_count", "wrong number of calls")
    elif len(calls) != 1:
        return CheckResult.fail("simple_function_checker:wrong_count", "wrong number of calls")
    function = _find(functions, next(iter(gold[0])))
    if function is None:
        return CheckResult.fail("simple_function_checker:wrong_func_name", "function not found")
    return check_one(function, calls[0], gold[0])


# ---------------------------------------------------------------------- helpers
def _concrete(allowed: list[Any], schema: dict[str, Any], required: bool) -> tuple[bool, Any]:
    """(present, value): the first allowed value, made concrete where the gold nests allowed lists
    (dicts and lists of dicts); absent when the parameter is optional, `""` comes first and the
    schema does not require it."""
    concrete = [a for a in allowed if a != ""]
    if not concrete or (allowed[0] == "" and not required):
        return False, None
    value = concrete[0]
    kind = schema.get("type")
    item_kind = schema.get("items", {}).get("type") if isinstance(schema.get("items"), dict) else None
    if kind == "dict" and isinstance(value, dict):
        return True, _concrete_dict(value, schema)
    if kind in NESTED and item_kind == "dict" and isinstance(value, list):
        return True, [_concrete_dict(v, schema.get("items", {})) if isinstance(v, dict) else v for v in value]
    return True, value


def _concrete_dict(candidate: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, options in candidate.items():
        if not isinstance(options, list):
            out[key] = options
            continue
        firsts = [o for o in options if o != ""]
        if firsts and options[0] != "":
            out[key] = firsts[0]
    return out


def gold_calls(gold: list[dict[str, Any]], functions: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One concrete correct prediction: each parameter's first allowed value (optional ones left out
    when `""` comes first)."""
    out = []
    for answer in gold:
        name, params = next(iter(answer.items()))
        function = _find(functions or [], name) or {"parameters": {"properties": {}}}
        properties = function["parameters"].get("properties", {})
        required = set(function["parameters"].get("required", []))
        arguments = {}
        for param, allowed in params.items():
            present, value = _concrete(allowed, properties.get(param, {}), param in required)
            if present:
                arguments[param] = value
        out.append({"name": name, "arguments": arguments})
    return out


def _openai_schema(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    kind = out.get("type")
    if kind == "float":
        out["description"] = (out.get("description", "") + " This is a float type value.").strip()
    if kind is not None:
        out["type"] = OPENAI_TYPES.get(kind, "string")
    else:
        out["type"] = "string"
    if "properties" in out and isinstance(out["properties"], dict):
        out["properties"] = {k: _openai_schema(v) for k, v in out["properties"].items()}
    if "items" in out and isinstance(out["items"], dict):
        out["items"] = _openai_schema(out["items"])
    return out


def tool_name(name: str) -> str:
    """An OpenAI-valid tool name (^[a-zA-Z0-9_-]{1,64}$): dots become underscores."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64]


def openai_tools(functions: list[dict[str, Any]], sanitize: bool = True) -> list[dict[str, Any]]:
    """BFCL function docs in the OpenAI tools format (`dict` -> `object`, `float` -> `number`...)."""
    tools = []
    for f in functions:
        parameters = _openai_schema(f.get("parameters", {"type": "dict", "properties": {}}))
        parameters["type"] = "object"
        parameters.setdefault("properties", {})
        tools.append({"type": "function", "function": {
            "name": tool_name(f["name"]) if sanitize else f["name"],
            "description": f.get("description", ""), "parameters": parameters}})
    return tools
