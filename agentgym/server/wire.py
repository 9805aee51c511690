"""The env server's wire format: info/report payloads as JSON, and back to the same Python objects.

An env's `info` holds plain data plus pydantic models (the final `RewardReport`). `encode` turns
a value into JSON-safe data, tagging every pydantic model with its class so `decode` on the
client rebuilds the same object (a `RewardReport` arrives as a `RewardReport`, not a dict).
Only models defined inside agentgym are rebuilt; anything else tagged arrives as its data. Tuples
become lists and numpy scalars/arrays become numbers/lists, exactly as a trajectory file stores them.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

from pydantic import BaseModel

MODEL_TAG = "__agentgym_model__"
FLOAT_TAG = "__agentgym_float__"


def encode(value: Any) -> Any:
    """`value` as JSON-safe data (pydantic models tagged with their class)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {FLOAT_TAG: repr(value)}  # nan / inf / -inf survive a strict JSON parser
    if isinstance(value, BaseModel):
        cls = type(value)
        return {MODEL_TAG: f"{cls.__module__}:{cls.__qualname__}", "data": encode(value.model_dump(mode="python", by_alias=True))}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return encode(item())
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return encode(tolist())
    return str(value)


def _model_class(reference: str) -> type[BaseModel] | None:
    module_name, _, qualname = reference.partition(":")
    if not module_name.startswith("agentgym.") or not qualname:
        return None
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    return target if isinstance(target, type) and issubclass(target, BaseModel) else None


def decode(value: Any) -> Any:
    """The inverse of `encode`: tagged models rebuilt, everything else as plain data."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if FLOAT_TAG in value and len(value) == 1:
        return float(value[FLOAT_TAG])
    if MODEL_TAG in value and set(value) == {MODEL_TAG, "data"}:
        data = decode(value["data"])
        cls = _model_class(str(value[MODEL_TAG]))
        return cls.model_validate(data) if cls is not None else data
    return {k: decode(v) for k, v in value.items()}
