"""`Judge`: the serving discipline every judge kind shares. The kinds live in `kinds.py`.

- rule pre-gates before any model call (non-empty, extractable answer, length): a failing input
  scores `pregate.fail_value` with no call and says why;
- batched asynchronous calls (chunks of `batch_size` sent together; a server batches them);
- an on-disk cache keyed by (model, prompt template id with version, input hash incl. sampling);
- a timeout per chunk; timeouts, backend errors and unparseable verdicts give an *invalid*
  judgment (`valid=False`, `score=None`, `error` set): callers mark the reward invalid, never 0;
- the model's text is returned as the judgment's rationale so trajectories can store it.

A kind subclasses `Judge` and implements `_score(live)` (one judgment per input that passed the
pre-gates); kinds that compare the responses of a group implement `ajudge_groups` instead.
``Judge(config, model)`` builds the class of ``config.kind`` (as `make_judge` does).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from agentgym.rewards.judges.cache import JudgeCache, cache_key, default_cache_enabled
from agentgym.rewards.judges.config import JudgeConfig
from agentgym.rewards.judges.prompts import PromptTemplate, get_template
from agentgym.rewards.judges.protocol import (
    JudgeModel,
    JudgeOutput,
    JudgeRequest,
    ModelResolver,
    resolve_model,
)

T = TypeVar("T")
RATIONALE_CHARS = 600


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class JudgeInput:
    """What a judge sees: the task, the response (or step), and optionally a reference and history."""

    question: str
    answer: str
    reference: str | None = None
    history: list[str] = field(default_factory=list)
    id: str = ""


@dataclass
class Judgment:
    """A judge's verdict. `valid=False` means no trustworthy verdict (timeout, error, unparseable)."""

    score: float | None
    valid: bool
    rationale: str = ""
    error: str | None = None
    pregate: str | None = None  # reason when a pre-gate decided without a model call
    cached: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "valid": self.valid}
        for key in ("rationale", "error", "pregate"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.cached:
            out["cached"] = True
        if self.details:
            out["details"] = self.details
        return out


def invalid_judgment(error: str, rationale: str = "", **details: Any) -> Judgment:
    return Judgment(
        score=None, valid=False, rationale=rationale[:RATIONALE_CHARS], error=error, details=details
    )


@dataclass
class Prepared:
    """An input that passed the pre-gates: its position, the input, and the extracted answer."""

    index: int
    item: JudgeInput
    answer: str


def as_config(config: JudgeConfig | Mapping[str, Any]) -> JudgeConfig:
    return config if isinstance(config, JudgeConfig) else JudgeConfig.model_validate(config)


class Judge:
    """A configured judge bound to a model (see module docstring). Subclasses set `kind`."""

    kind: ClassVar[str] = ""
    compares_groups: ClassVar[bool] = False  # scores responses relative to the rest of their group

    def __new__(cls, config: Any = None, *args: Any, **kwargs: Any) -> Judge:
        if cls is Judge and config is not None:
            from agentgym.rewards.judges.kinds import judge_class

            cls = judge_class(as_config(config).kind)
        return super().__new__(cls)

    def __init__(
        self,
        config: JudgeConfig | Mapping[str, Any],
        model: JudgeModel | str | None = None,
        *,
        cache: JudgeCache | bool | None = None,
        name: str = "judge",
        resolve: ModelResolver | None = None,
    ) -> None:
        self.config = as_config(config)
        if self.kind and self.config.kind != self.kind:
            raise ValueError(f"{type(self).__name__} judges kind {self.kind!r}, not {self.config.kind!r}")
        self.name = name
        self.model: JudgeModel = resolve_model(
            model if model is not None else self.config.model, resolve, name=name
        )
        if cache is None:
            cache = self.config.cache and default_cache_enabled()
        self.cache: JudgeCache | None = (
            JudgeCache() if cache is True else cache if isinstance(cache, JudgeCache) else None
        )
        override = self.config.prompt
        self.template: PromptTemplate = get_template(
            self.config.kind,
            system=override.system if override else None,
            user=override.user if override else None,
            version=override.version if override else None,
        )
        self.model_calls = 0  # requests sent to the model (cache hits excluded)
        self.cache_hits = 0
        self.failures = 0

    # ------------------------------------------------------------------ identity
    @property
    def model_id(self) -> str:
        return str(getattr(self.model, "model_id", type(self.model).__name__))

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this judge's behaviour (used to file probe results)."""
        return {
            "kind": self.config.kind,
            "model": self.model_id,
            "prompt": self.template.id,
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
            "pregate": self.config.pregate.model_dump(),
            "criteria": [c.model_dump() for c in self.config.criteria],
            "principles": list(self.config.principles),
            "items": list(self.config.items),
        }

    # ------------------------------------------------------------------ model calls
    def _request(self, **fields: str) -> JudgeRequest:
        return JudgeRequest(
            messages=self.template.render(**fields),
            max_tokens=self.config.max_tokens,
            temperature=self.config.temperature,
            prefill=self.template.prefill,
        )

    async def complete(self, requests: Sequence[JudgeRequest]) -> list[JudgeOutput]:
        """Cached, chunked, timed model calls; one output per request (errors as outputs)."""
        outputs: list[JudgeOutput | None] = [None] * len(requests)
        keys: list[str | None] = [None] * len(requests)
        todo: list[int] = []
        for index, request in enumerate(requests):
            if self.cache is not None:
                key = cache_key(self.model_id, self.template.id, request)
                keys[index] = key
                hit = self.cache.get(key)
                if hit is not None:
                    outputs[index] = hit
                    self.cache_hits += 1
                    continue
            todo.append(index)
        size = self.config.batch_size
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]

        async def run(chunk: list[int]) -> None:
            batch = [requests[i] for i in chunk]
            self.model_calls += len(batch)
            try:
                results = await asyncio.wait_for(self.model.complete(batch), timeout=self.config.timeout_s)
                if len(results) != len(batch):
                    raise RuntimeError(f"backend returned {len(results)} outputs for {len(batch)} requests")
            except TimeoutError:
                results = [JudgeOutput(error=f"timeout after {self.config.timeout_s:g} s") for _ in batch]
            except Exception as exc:  # noqa: BLE001 - any backend failure is an invalid judgment
                results = [JudgeOutput(error=f"{type(exc).__name__}: {exc}") for _ in batch]
            for i, output in zip(chunk, results, strict=True):
                outputs[i] = output
                if not output.ok:
                    self.failures += 1
                elif self.cache is not None and keys[i] is not None:
                    self.cache.put(keys[i], self.model_id, self.template.id, output)  # type: ignore[arg-type]

        await asyncio.gather(*(run(chunk) for chunk in chunks))
        return [o if o is not None else JudgeOutput(error="no output") for o in outputs]

    # ------------------------------------------------------------------ pre-gates
    def pregate(self, answer: str) -> tuple[str | None, str | None]:
        """(extracted answer, None) or (None, reason) when a rule fails before any model call."""
        gate = self.config.pregate
        text = answer or ""
        if gate.answer_pattern:
            match = re.search(gate.answer_pattern, text, re.DOTALL)
            if match is None:
                return None, "no extractable answer"
            text = match.group(1) if match.groups() else match.group(0)
        if gate.non_empty and not text.strip():
            return None, "empty answer"
        if gate.max_chars is not None and len(text) > gate.max_chars:
            return None, f"answer longer than {gate.max_chars} characters"
        return text, None

    def pregated(self, reason: str) -> Judgment:
        return Judgment(
            score=self.config.pregate.fail_value, valid=True, rationale=f"pre-gate: {reason}", pregate=reason
        )

    def split_pregated(self, inputs: Sequence[JudgeInput]) -> tuple[list[Judgment | None], list[Prepared]]:
        """Pre-gate every input: (judgments with the pre-gated ones filled in, the ones to judge)."""
        results: list[Judgment | None] = [None] * len(inputs)
        live: list[Prepared] = []
        for index, item in enumerate(inputs):
            answer, reason = self.pregate(item.answer)
            if answer is None:
                results[index] = self.pregated(reason or "pre-gate")
            else:
                live.append(Prepared(index, item, answer))
        return results, live

    # ------------------------------------------------------------------ public API
    async def ajudge(self, inputs: Sequence[JudgeInput]) -> list[Judgment]:
        """One judgment per input."""
        results, live = self.split_pregated(inputs)
        judged = await self._score(live) if live else []
        for prepared, judgment in zip(live, judged, strict=True):
            results[prepared.index] = judgment
        return [r if r is not None else invalid_judgment("not judged") for r in results]

    async def _score(self, live: list[Prepared]) -> list[Judgment]:
        """One judgment per pre-gated input (the kind's logic)."""
        raise NotImplementedError  # abstract: every kind implements it

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Judgment]:
        return run_sync(self.ajudge(inputs))

    def judge_one(self, question: str, answer: str, reference: str | None = None) -> Judgment:
        return self.judge([JudgeInput(question, answer, reference)])[0]

    async def ajudge_steps(
        self, episodes: Sequence[tuple[str, Sequence[str]]], references: Sequence[str | None] | None = None
    ) -> list[list[Judgment]]:
        """Per-step judgments for each (question, steps) episode; step t sees steps < t as history."""
        flat: list[JudgeInput] = []
        for e, (question, steps) in enumerate(episodes):
            reference = references[e] if references is not None else None
            for t, step in enumerate(steps):
                flat.append(JudgeInput(question, step, reference, history=list(steps[:t])))
        judged = await self.ajudge(flat)
        out: list[list[Judgment]] = []
        position = 0
        for _, steps in episodes:
            out.append(judged[position : position + len(steps)])
            position += len(steps)
        return out

    async def ajudge_groups(self, groups: Sequence[Sequence[JudgeInput]]) -> list[list[Judgment]]:
        """Judgments within each group; a kind that does not compare judges each response alone."""
        judged = await self.ajudge([item for group in groups for item in group])
        out, position = [], 0
        for group in groups:
            out.append(judged[position : position + len(group)])
            position += len(group)
        return out
