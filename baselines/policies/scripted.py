"""Policies that need no model: scripted, random and oracle. Used by tests, demos and baselines.

- `ScriptedPolicy(actions)`: plays a fixed list of actions (text or assistant-message dicts).
- `RandomPolicy(seed)`: calls a uniformly chosen tool with arguments sampled from its schema.
- `OraclePolicy()`: plays the env's gold solution (`env.unwrapped.oracle_actions()`).
Policy strings for the CLI: `random`, `random:SEED`, `oracle`, `scripted:ACTION|ACTION|...`.
"""

from __future__ import annotations

import copy
import json
import random
import string
from typing import Any

from agentgym.parsing import action_message
from agentgym.policy import PolicyOutput


def _output(action: Any) -> PolicyOutput:
    action = action_message(action)  # an oracle's ToolCall(s) become an assistant message
    if isinstance(action, dict):
        message = {"role": "assistant", "content": "", **action}
        return PolicyOutput(message=message)
    return PolicyOutput.from_text(action)


class ScriptedPolicy:
    """Plays `actions` in order, then repeats the last one (or `fallback`)."""

    name = "scripted"

    def __init__(self, actions: list[str | dict[str, Any]], fallback: str | dict[str, Any] | None = None):
        if not actions and fallback is None:
            raise ValueError("ScriptedPolicy needs at least one action")
        self.actions = list(actions)
        self.fallback = fallback if fallback is not None else self.actions[-1]
        self._index = 0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "actions": self.actions}

    def for_episode(self, seed: int) -> ScriptedPolicy:
        clone = copy.copy(self)
        clone._index = 0
        return clone

    def on_episode_start(self, env: Any, info: dict[str, Any]) -> None:
        self._index = 0

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        action = self.actions[self._index] if self._index < len(self.actions) else self.fallback
        self._index += 1
        return _output(action)


class OraclePolicy:
    """Plays the current task's gold solution, as the env provides it."""

    name = "oracle"

    def __init__(self) -> None:
        self._plan: list[str | dict[str, Any]] = []
        self._index = 0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    def for_episode(self, seed: int) -> OraclePolicy:
        clone = copy.copy(self)
        clone._plan, clone._index = [], 0
        return clone

    def on_episode_start(self, env: Any, info: dict[str, Any]) -> None:
        plan = env.unwrapped.oracle_actions()
        if plan is None:
            raise ValueError(f"{type(env.unwrapped).__name__} has no oracle solution for task {info.get('task_id')!r}")
        self._plan = list(plan)
        self._index = 0

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        if self._index >= len(self._plan):
            return PolicyOutput.from_text("(oracle plan exhausted)")
        action = self._plan[self._index]
        self._index += 1
        return _output(action)


class RandomPolicy:
    """Calls a random tool with random arguments drawn from its JSON schema."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.rng = random.Random(seed)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed}

    def for_episode(self, seed: int) -> RandomPolicy:
        """Draws depend on the policy seed and the episode seed only, not on other episodes."""
        clone = copy.copy(self)
        clone.rng = random.Random(self.seed * 1_000_003 + seed)
        return clone

    def _sample(self, schema: dict[str, Any]) -> Any:
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self._sample(self.rng.choice(schema[key]))
        kind = schema.get("type", "string")
        if isinstance(kind, list):
            kind = self.rng.choice(kind)
        if kind == "integer":
            return self.rng.randint(0, 10)
        if kind == "number":
            return round(self.rng.uniform(0, 10), 2)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "array":
            return [self._sample(schema.get("items", {})) for _ in range(self.rng.randint(0, 2))]
        if kind == "object":
            return {k: self._sample(v) for k, v in schema.get("properties", {}).items()}
        if kind == "null":
            return None
        return "".join(self.rng.choice(string.ascii_lowercase) for _ in range(self.rng.randint(1, 8)))

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        if not tools:
            return PolicyOutput.from_text("".join(self.rng.choice(string.ascii_letters) for _ in range(12)))
        function = self.rng.choice(tools)["function"]
        parameters = function.get("parameters", {})
        required = set(parameters.get("required", []))
        arguments = {
            name: self._sample(prop)
            for name, prop in parameters.get("properties", {}).items()
            if name in required or self.rng.random() < 0.5
        }
        call = f'<tool_call>{json.dumps({"name": function["name"], "arguments": arguments})}</tool_call>'
        return PolicyOutput.from_text(call)


def make_scripted_policy(spec: str) -> ScriptedPolicy | RandomPolicy | OraclePolicy:
    """Parse `random`, `random:SEED`, `oracle`, `scripted:A|B|C`."""
    kind, _, rest = spec.partition(":")
    if kind == "oracle":
        return OraclePolicy()
    if kind == "random":
        return RandomPolicy(int(rest) if rest else 0)
    if kind == "scripted":
        actions: list[str | dict[str, Any]] = [a for a in rest.split("|") if a]
        return ScriptedPolicy(actions)
    raise ValueError(f"unknown policy {spec!r}: expected random[:SEED], oracle or scripted:A|B|...")
