"""Simulated users for the tool worlds.

The env sends the user every message the agent addresses to it (the `respond` tool or a plain
text reply) and shows the agent the user's answer. A user ends the conversation by returning
`UserReply(done=True)`.

- `ScriptedUser` (default, deterministic): answers a question (a message with '?') with the task's
  facts whose keywords the question mentions, says "yes" to a confirmation question, and ends the
  conversation when the agent's message asks nothing.
- `LLMUser`: any `agentgym.policy.Policy` plays the user from the task's instruction; it ends the
  conversation by writing `###STOP###`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agentgym.policy import Policy

STOP = "###STOP###"
_CONFIRM = re.compile(r"\b(confirm|proceed|go ahead|shall i|should i|do you want|would you like|is that (ok|right|correct))\b", re.I)


@dataclass
class UserReply:
    text: str
    done: bool = False


class ScriptedUser:
    """A rule-following user: reveals facts when asked, confirms, stops when nothing is asked."""

    name = "scripted"

    def __init__(self, task: Any):
        self.task = task
        self.revealed: set[int] = set()

    def reply(self, message: str) -> UserReply:
        lowered = message.lower()
        if "?" not in message:
            return UserReply("Thank you, that's all I needed.", done=True)
        answers = []
        for index, fact in enumerate(self.task.user_facts):
            if any(k.lower() in lowered for k in fact.keywords):
                answers.append(fact.text)
                self.revealed.add(index)
        if _CONFIRM.search(message):
            answers.append("Yes, please go ahead.")
        if answers:
            return UserReply(" ".join(answers))
        return UserReply(f"I'm not sure what you need from me. My request: {self.task.prompt}")


USER_SYSTEM_PROMPT = """You are a customer talking to a service agent. Your goal: {instruction}
Facts you know (share one only when the agent asks for it): {facts}
Write only your next message to the agent, briefly, in plain text. Never invent facts. When your
goal is done (or the agent cannot help), write {stop} alone."""


class LLMUser:
    """A user played by a `Policy` (e.g. a vLLM-served model) following the task's instruction."""

    name = "llm"

    def __init__(self, task: Any, policy: Policy):
        self.task = task
        self.policy = policy
        facts = "; ".join(f.text for f in task.user_facts) or "(none beyond your request)"
        system = USER_SYSTEM_PROMPT.format(instruction=task.instruction or task.prompt, facts=facts, stop=STOP)
        # roles are mirrored: the agent's messages are the "user" turns of the user model
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": "Hello, how can I help you today?"},
            {"role": "assistant", "content": task.prompt},
        ]

    def reply(self, message: str) -> UserReply:
        self.messages.append({"role": "user", "content": message})
        output = self.policy.act(list(self.messages), [])
        text = output.message.get("content") or ""
        if not isinstance(text, str):
            text = str(text)
        self.messages.append({"role": "assistant", "content": text})
        done = STOP in text
        return UserReply(text.replace(STOP, "").strip() or "Goodbye.", done=done)


def make_user(task: Any, user: str | Policy | None) -> ScriptedUser | LLMUser:
    if user is None or user == "scripted":
        return ScriptedUser(task)
    if isinstance(user, str):
        raise ValueError(f"user must be 'scripted' or a Policy object, got {user!r}")
    return LLMUser(task, user)
