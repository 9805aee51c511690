"""The drift guard: each turn's prompt token ids must extend the previous prompt + completion ids.

Multi-turn RL breaks silently when the tokens a trainer scores are not the tokens the model saw or
produced: re-tokenizing decoded text can split words differently, and some chat templates rewrite
earlier turns (Qwen3 drops past reasoning). The guard keeps, per conversation, the prompt ids and
completion ids of the last turn exactly as the backend returned them, and checks that the next
turn's freshly rendered prompt starts with them.

On a violation it records a `drift` entry in the turn's `PolicyOutput.meta` (turn index, first
mismatching position, both token windows, decoded) and follows the configured fallback:

- `"warn"` (default): keep the exact ids. The next prompt is `previous prompt + completion + the
  ids the template appends for the new messages` (rendered as a suffix), so the model continues
  from exactly what it produced and trainers see one consistent token stream. Falls back to the
  re-rendered prompt (and says so) when the template has no append-only suffix.
- `"retokenize"`: use the template's fresh rendering of the whole conversation as the prompt (what
  a naive agent loop does); the violation is recorded so a trainer can drop or split the turn.
- `"error"`: raise `TokenDriftError`.

Every turn's `meta["layout"]` says which of the two token layouts its record uses (`layout_of`):

- `"extends"`: the prompt is the previous prompt + completion + the template's suffix (one token
  stream per episode; no drift, or drift in `warn` mode with the exact ids kept). Reasoning the
  model sampled stays in the context exactly as sampled, even when the template would drop it.
- `"restarts"`: the prompt is the template's fresh rendering (drift in `retokenize` mode, a template
  with no append-only suffix, or observations omitted by the context policy). For reasoning models
  this is the rendering the model was trained on (past reasoning dropped); the turn starts a new
  sequence, and trainers must not join it to the previous turn.
- `"start"`: the first turn of a conversation (or one this policy did not produce before).

Either way each turn's `completion_token_ids` are exactly the sampled ids (reasoning included)
and the loss mask covers exactly them (`loss_mask`).

Conversations are matched without any episode id (one policy serves many concurrent episodes):
a turn is keyed by the (role, text) fingerprint of the conversation up to and including the
assistant message it produced, and the next request finds it by the fingerprint of its messages up
to their last assistant message.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentgym.parsing import message_text

DriftMode = Literal["warn", "retokenize", "error"]
DRIFT_MODES = ("warn", "retokenize", "error")


class TokenDriftError(RuntimeError):
    """A turn's prompt does not extend the previous prompt + completion (drift guard in "error" mode)."""

    def __init__(self, violation: dict[str, Any]):
        super().__init__(f"token drift at turn {violation.get('turn')}: prompt diverges from the previous "
                         f"prompt + completion at position {violation.get('position')}")
        self.violation = violation


def fingerprint(messages: Sequence[dict[str, Any]]) -> str:
    """Hash of the (role, text) sequence of `messages`."""
    h = hashlib.sha1()
    for m in messages:
        h.update(json.dumps([m.get("role"), message_text(m.get("content"))], ensure_ascii=False).encode())
        h.update(b"\x00")
    return h.hexdigest()


def last_assistant_index(messages: Sequence[dict[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "assistant":
            return i
    return None


@dataclass
class TurnState:
    """What one turn of a conversation sent and received, as token ids."""

    turn: int  # 1-based index of the turn that produced this state
    n_messages: int  # messages in the conversation before the assistant reply
    prompt_ids: list[int]
    completion_ids: list[int]
    omitted: int = 0  # observations replaced by the context policy in this prompt

    @property
    def history_ids(self) -> list[int]:
        return self.prompt_ids + self.completion_ids


LAYOUTS = ("start", "extends", "restarts")


def layout_of(state: TurnState | None, prompt_ids: Sequence[int]) -> str:
    """The layout of a turn whose prompt is `prompt_ids`, after the turn `state` (module docstring)."""
    if state is None:
        return "start"
    history = state.history_ids
    return "extends" if list(prompt_ids[: len(history)]) == history else "restarts"


def loss_mask(turns: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[tuple[list[int], list[int]]]:
    """Training sequences and their loss masks from one episode's turns, `(prompt_ids,
    completion_ids)` in order: a turn that extends the sequence so far continues it, any other
    starts a new one. Each mask is 1 on exactly the sampled completion ids, 0 elsewhere (prompt,
    env and tool text, template glue)."""
    sequences: list[tuple[list[int], list[int]]] = []
    for prompt, completion in turns:
        prompt, completion = list(prompt), list(completion)
        if sequences and prompt[: len(sequences[-1][0])] == sequences[-1][0]:
            ids, mask = sequences[-1]
            glue = prompt[len(ids):]
            ids.extend(glue + completion)
            mask.extend([0] * len(glue) + [1] * len(completion))
        else:
            sequences.append((prompt + completion, [0] * len(prompt) + [1] * len(completion)))
    return sequences


def first_mismatch(expected: Sequence[int], actual: Sequence[int]) -> int | None:
    """Index of the first position where `actual` does not continue `expected`; None if it extends it."""
    for i, token in enumerate(expected):
        if i >= len(actual) or actual[i] != token:
            return i
    return None


class DriftGuard:
    """Per-conversation token state and the prefix check."""

    def __init__(self, mode: DriftMode = "warn", *, max_conversations: int = 8192) -> None:
        if mode not in DRIFT_MODES:
            raise ValueError(f"drift mode must be one of {DRIFT_MODES}, got {mode!r}")
        self.mode: DriftMode = mode
        self.max_conversations = max_conversations
        self._states: OrderedDict[str, TurnState] = OrderedDict()
        self._lock = threading.Lock()
        self.violations = 0
        self.checks = 0

    def lookup(self, messages: Sequence[dict[str, Any]]) -> TurnState | None:
        """The state of the turn that produced the last assistant message of `messages`.

        States stay stored (least recently used dropped first): identical conversations, e.g. the
        samples of a group that produced the same reply, share one state, which holds for all.
        """
        index = last_assistant_index(messages)
        if index is None:
            return None
        key = fingerprint(messages[: index + 1])
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._states.move_to_end(key)
        return state

    def remember(self, messages: Sequence[dict[str, Any]], assistant_text: str, state: TurnState) -> None:
        key = fingerprint([*messages, {"role": "assistant", "content": assistant_text}])
        with self._lock:
            self._states[key] = state
            while len(self._states) > self.max_conversations:
                self._states.popitem(last=False)

    def check(self, state: TurnState, rendered: Sequence[int], *, decode: Any = None) -> dict[str, Any] | None:
        """None if `rendered` extends the state's prompt + completion, else a violation record."""
        expected = state.history_ids
        position = first_mismatch(expected, rendered)
        with self._lock:
            self.checks += 1
            if position is not None:
                self.violations += 1
        if position is None:
            return None
        lo, hi = max(0, position - 8), position + 8
        violation: dict[str, Any] = {
            "turn": state.turn + 1,
            "position": position,
            "expected_len": len(expected),
            "rendered_len": len(rendered),
            "in_completion": position >= len(state.prompt_ids),
            "expected_window": list(expected[lo:hi]),
            "rendered_window": list(rendered[lo:hi]),
            "mode": self.mode,
        }
        if decode is not None:
            violation["expected_text"] = decode(expected[lo:hi])
            violation["rendered_text"] = decode(rendered[lo:hi])
        return violation

    def stats(self) -> dict[str, int]:
        return {"checks": self.checks, "violations": self.violations}
