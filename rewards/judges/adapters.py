"""`PolicyJudgeModel`: any agent policy as a `JudgeModel` (duck-typed: `act` / `aact`).

`agentgym.policy.make_judge_model` wraps a policy in it when the policy has no `as_judge_model()`
of its own (in-process transformers, vllm-engine, scripted policies).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from agentgym.rewards.judges.protocol import JudgeOutput, JudgeRequest


class PolicyJudgeModel:
    """A policy as a judge: the request's messages in, the reply's text out.

    Requests run one at a time (policies keep per-conversation state); `aact` is used when the
    policy has it. Sampling comes from the policy's own settings; a request's prefill is ignored.
    """

    def __init__(self, policy: Any, model_id: str | None = None) -> None:
        self.policy = policy
        if model_id is None:
            describe = policy.describe() if hasattr(policy, "describe") else {}
            name = describe.get("name", type(policy).__name__)
            model_id = f"policy:{name}:{describe.get('model') or describe.get('path') or ''}"
        self.model_id = model_id
        self.calls = 0

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        outputs = []
        for request in requests:
            started = time.perf_counter()
            self.calls += 1
            messages = [dict(m) for m in request.messages]
            try:
                if hasattr(self.policy, "aact"):
                    out = await self.policy.aact(messages, [])
                else:
                    out = await asyncio.to_thread(self.policy.act, messages, [])
                text = out.message.get("content") or ""
                outputs.append(JudgeOutput(text=str(text), latency_s=time.perf_counter() - started))
            except Exception as exc:  # noqa: BLE001 - reported as an invalid judgment
                outputs.append(
                    JudgeOutput(error=f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - started)
                )
        return outputs
