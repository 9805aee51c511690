"""Loader for the Berkeley Function Calling Leaderboard v4 data shipped in the `bfcl-eval` package.

Install it without its (heavy, model-client) dependencies: `pip install --no-deps bfcl-eval`.
Only the JSON data and, for multi-turn categories, BFCL's own API classes are used.

Categories (`CATEGORIES`): single turn `simple` (= simple_python), `multiple`, `parallel`,
`parallel_multiple`, `live_simple`, `live_multiple`, `live_parallel`, `live_parallel_multiple`;
multi turn `multi_turn_base`, `multi_turn_long_context`, `multi_turn_miss_param` (a turn lacks a needed
parameter: the gold there is no call), `multi_turn_miss_func` (a function is held out and added in a
later turn). Groups: `single_turn`, `live`,
`non_live`, `multi_turn`, `all`.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from agentgym.errors import TaskError
from agentgym.task import Task, hidden

SINGLE_TURN = ["simple_python", "multiple", "parallel", "parallel_multiple",
               "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"]
MULTI_TURN = ["multi_turn_base", "multi_turn_long_context", "multi_turn_miss_param", "multi_turn_miss_func"]
CATEGORIES = SINGLE_TURN + MULTI_TURN
ALIASES = {"simple": ["simple_python"]}
GROUPS = {
    "single_turn": SINGLE_TURN,
    "non_live": ["simple_python", "multiple", "parallel", "parallel_multiple"],
    "live": ["live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"],
    "multi_turn": MULTI_TURN,
    "all": CATEGORIES,
}
VERSION_PREFIX = "BFCL_v4"
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."


class BFCLTask(Task):
    category: str
    functions: list[dict[str, Any]]
    turns: list[list[dict[str, Any]]] = hidden(default_factory=list)  # later user turns: not shown up front
    involved_classes: list[str] = Field(default_factory=list)
    ground_truth: Any = hidden(None)
    initial_config: dict[str, Any] = hidden(default_factory=dict)
    held_out: dict[str, list[dict[str, Any]]] = hidden(default_factory=dict)  # miss_func: turn -> docs added then


def data_dir() -> Path:
    try:
        import bfcl_eval
    except ImportError as exc:
        raise TaskError("BFCL data needs the bfcl-eval package: pip install --no-deps bfcl-eval") from exc
    return Path(bfcl_eval.__file__).parent / "data"


def resolve_categories(category: str | list[str]) -> list[str]:
    names = [category] if isinstance(category, str) else list(category)
    out: list[str] = []
    for name in names:
        for part in name.split(","):
            part = part.strip()
            expanded = ALIASES.get(part) or GROUPS.get(part) or [part]
            for c in expanded:
                if c not in CATEGORIES:
                    raise TaskError(f"unknown BFCL category {c!r}; have {', '.join(CATEGORIES)} "
                                    f"and groups {', '.join(GROUPS)}")
                if c not in out:
                    out.append(c)
    return out


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@lru_cache(maxsize=32)
def _load_category(category: str) -> tuple[BFCLTask, ...]:
    root = data_dir()
    entries = _read_jsonl(root / f"{VERSION_PREFIX}_{category}.json")
    answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(root / "possible_answer" / f"{VERSION_PREFIX}_{category}.json")}
    func_docs: dict[str, list[dict[str, Any]]] = {}
    tasks = []
    for entry in entries:
        if entry["id"] not in answers:
            continue
        if category in MULTI_TURN:
            functions: list[dict[str, Any]] = []
            for cls in entry["involved_classes"]:
                if cls not in func_docs:
                    from bfcl_eval.constants.executable_backend_config import MULTI_TURN_FUNC_DOC_FILE_MAPPING

                    func_docs[cls] = _read_jsonl(root / "multi_turn_func_doc" / MULTI_TURN_FUNC_DOC_FILE_MAPPING[cls])
                functions.extend(copy.deepcopy(func_docs[cls]))
            held_out: dict[str, list[dict[str, Any]]] = {}
            for turn, names in (entry.get("missed_function") or {}).items():
                held_out[str(turn)] = [f for f in functions if f["name"] in names]
                functions = [f for f in functions if f["name"] not in names]
        else:
            held_out = {}
            functions = copy.deepcopy(entry["function"])
        for f in functions + [d for docs in held_out.values() for d in docs]:
            f["description"] = f.get("description", "") + PYTHON_HINT
        turns = entry["question"]
        first_user = next((m["content"] for m in turns[0] if m["role"] == "user"), "")
        tasks.append(BFCLTask(
            id=entry["id"], prompt=first_user, category=category, functions=functions, turns=turns,
            involved_classes=entry.get("involved_classes", []), ground_truth=answers[entry["id"]],
            initial_config=entry.get("initial_config", {}), held_out=held_out, metadata={"category": category},
        ))
    return tuple(tasks)


def load_bfcl(category: str | list[str] = "simple") -> list[BFCLTask]:
    """The tasks of one or more categories (aliases and groups allowed), in file order."""
    return [t.model_copy(deep=True) for c in resolve_categories(category) for t in _load_category(c)]
