"""Versioned judge prompt templates.

Each template has a name and a version; ``template.id`` (``name@version``) is part of every cache
key, so editing a template means bumping its version (old cached verdicts are then never reused).
Templates are plain `str.format` strings over named fields; user-supplied text is inserted as a
field value, so braces in answers are safe. A judge config may override the system or user text
(`prompt: {system: ..., user: ..., version: ...}`); the override's version then names it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: str
    user: str
    prefill: str = ""

    @property
    def id(self) -> str:
        digest = hashlib.sha256(f"{self.system}\x00{self.user}\x00{self.prefill}".encode()).hexdigest()[:8]
        return f"{self.name}@{self.version}:{digest}"

    def render(self, **fields: str) -> tuple[dict[str, str], ...]:
        messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": self.user.format(**fields)})
        return tuple(messages)


_SYSTEM = (
    "You are a strict, impartial grader. Judge only the content of the response, never its style or length."
)

TEMPLATES: dict[str, PromptTemplate] = {
    t.name: t
    for t in [
        PromptTemplate(
            "pointwise",
            "1",
            _SYSTEM,
            "Question:\n{question}\n\nResponse:\n{answer}\n\n"
            "Rate how correct and helpful the response is, from 1 (worst) to 10 (best). "
            "Reply first with 'Score:' followed by a whole number from 1 to 10, then one short sentence of reasoning.",
            "Score:",
        ),
        PromptTemplate(
            "reference",
            "1",
            _SYSTEM,
            "Question:\n{question}\n\nReference answer:\n{reference}\n\nResponse:\n{answer}\n\n"
            "Does the response give the same final answer as the reference answer? "
            "Reply with 'Verdict: YES' or 'Verdict: NO' first, then one short sentence of reasoning.",
            "Verdict:",
        ),
        PromptTemplate(
            "principle",
            "1",
            _SYSTEM,
            "Question:\n{question}\n\nResponse:\n{answer}\n\nPrinciple: {principle}\n\n"
            "Does the response satisfy the principle? "
            "Reply with 'Verdict: YES' or 'Verdict: NO' first, then one short sentence of reasoning.",
            "Verdict:",
        ),
        PromptTemplate(
            "rubric",
            "1",
            _SYSTEM,
            "Question:\n{question}\n\nResponse:\n{answer}\n\nCriterion: {principle}\n\n"
            "Does the response meet this criterion? "
            "Reply with 'Verdict: YES' or 'Verdict: NO' first, then one short sentence of reasoning.",
            "Verdict:",
        ),
        PromptTemplate(
            "checklist",
            "1",
            _SYSTEM,
            "Task:\n{question}\n\nTurn to check:\n{answer}\n\nChecklist:\n{items}\n\n"
            "For every item write one line 'N: YES | evidence: \"<exact quote from the turn>\"' or 'N: NO'. "
            "Quote the turn exactly; an item without a quote counts as NO.",
            "1:",
        ),
        PromptTemplate(
            "pairwise",
            "1",
            _SYSTEM,
            "Question:\n{question}\n\nResponse A:\n{answer_a}\n\nResponse B:\n{answer_b}\n\n"
            "Which response answers the question better? "
            "Reply with 'Winner: A' or 'Winner: B' first, then one short sentence of reasoning.",
            "Winner:",
        ),
        PromptTemplate(
            "group",
            "1",
            _SYSTEM,
            "Question:\n{question}\n\n{responses}\n\n"
            "Rank all {n} responses from best to worst. "
            "Reply with 'Ranking: ' followed by the response numbers separated by '>', e.g. "
            "'Ranking: 2 > 1 > 3', then one short sentence of reasoning.",
            "Ranking:",
        ),
        PromptTemplate(
            "step",
            "1",
            _SYSTEM,
            "Task:\n{question}\n\nEarlier steps:\n{history}\n\nStep to judge:\n{answer}\n\n"
            "Is this step correct and useful for solving the task? "
            "Reply with 'Verdict: YES' or 'Verdict: NO' first, then one short sentence of reasoning.",
            "Verdict:",
        ),
    ]
}


def get_template(
    name: str, system: str | None = None, user: str | None = None, version: str | None = None
) -> PromptTemplate:
    """The built-in template `name`, or an override of its system/user text (versioned)."""
    base = TEMPLATES[name]
    if system is None and user is None and version is None:
        return base
    return PromptTemplate(
        name=name,
        version=version or f"{base.version}-custom",
        system=base.system if system is None else system,
        user=base.user if user is None else user,
        prefill=base.prefill,
    )
