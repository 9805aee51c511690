"""Rewrite a task's template problem statement as a user-style issue with any policy backend.

Why: the template statement (observed failure, test lines, assertion lines) is precise but reads
like a tool's output; a model trained only on it may not transfer to issues people write. A policy
(any policy string: the local vLLM server, an OpenAI-compatible endpoint, a test double) rewrites
it; the rewrite is stored beside the template in `problem_statement_rewrite`, so both stay
available (`SWE-v0` uses the template unless asked for `statement="rewrite"`).

A rewrite that quotes a line the gold patch adds is refused (it would leak the fix), as is an
empty or very short one: the record then keeps no rewrite.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from .records import SWEInstance

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "You rewrite bug reports. Below is an automatically generated report of failing tests in the "
    "Python package {repo} (version {version}). Rewrite it as a short GitHub issue written by a user "
    "of the library: what they tried, what they expected, what happened instead (keep the concrete "
    "values, error messages and code lines from the report). Do not guess the cause or suggest a "
    "fix, do not mention tests being hidden. Answer with the issue text only.\n\n"
    "<report>\n{statement}</report>"
)
MIN_CHARS = 80


def fix_lines(patch: str) -> list[str]:
    """The substantial lines the gold patch adds (what a statement must not quote)."""
    out = []
    for line in patch.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            text = line[1:].strip()
            if len(text) >= 8:
                out.append(text)
    return out


def leaks_fix(text: str, patch: str) -> bool:
    return any(line in text for line in fix_lines(patch))


def rewrite_statement(inst: SWEInstance, policy: Any) -> str:
    """The policy's user-style rewrite of `inst`'s template statement ("" when it is refused)."""
    messages = [
        {
            "role": "user",
            "content": INSTRUCTIONS.format(
                repo=inst.repo, version=inst.version, statement=inst.problem_statement
            ),
        }
    ]
    out = policy.act(messages, [])
    message = out.message if hasattr(out, "message") else out
    text = (message.get("content") if isinstance(message, dict) else str(message)) or ""
    text = text.strip()
    if len(text) < MIN_CHARS:
        log.info("%s: rewrite refused (too short)", inst.instance_id)
        return ""
    if leaks_fix(text, inst.patch):
        log.info("%s: rewrite refused (quotes the fix)", inst.instance_id)
        return ""
    return text + "\n"


def rewrite_all(instances: Iterable[SWEInstance], policy: Any, *, overwrite: bool = False) -> tuple[int, int]:
    """Fill `problem_statement_rewrite` in place; (rewritten, refused)."""
    if isinstance(policy, str):
        from agentgym.policy import make_policy

        policy = make_policy(policy)
    done = refused = 0
    for inst in instances:
        if inst.problem_statement_rewrite and not overwrite:
            continue
        text = rewrite_statement(inst, policy)
        inst.problem_statement_rewrite = text
        done += bool(text)
        refused += not text
    return done, refused
