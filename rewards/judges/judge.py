"""`Judge`: one configured judge (kind, model, prompt) with the serving discipline around it.

- rule pre-gates before any model call (non-empty, extractable answer, length): a failing input
  scores `pregate.fail_value` with no call and says why;
- batched asynchronous calls (chunks of `batch_size` sent together; a server batches them);
- an on-disk cache keyed by (model, prompt template id with version, input hash incl. sampling);
- a timeout per chunk; timeouts, backend errors and unparseable verdicts give an *invalid*
  judgment (`valid=False`, `score=None`, `error` set): callers mark the reward invalid, never 0;
- the model's text is returned as the judgment's rationale so trajectories can store it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agentgym.rewards.judges.cache import JudgeCache, cache_key, default_cache_enabled
from agentgym.rewards.judges.config import Criterion, JudgeConfig
from agentgym.rewards.judges.parsing import (
    parse_checklist,
    parse_ranking,
    parse_score,
    parse_winner,
    parse_yes_no,
)
from agentgym.rewards.judges.prompts import PromptTemplate, get_template
from agentgym.rewards.judges.protocol import JudgeModel, JudgeOutput, JudgeRequest, resolve_model

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


def _invalid(error: str, rationale: str = "", **details: Any) -> Judgment:
    return Judgment(
        score=None, valid=False, rationale=rationale[:RATIONALE_CHARS], error=error, details=details
    )


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


class Judge:
    """A configured judge bound to a model (see module docstring)."""

    def __init__(
        self,
        config: JudgeConfig | Mapping[str, Any],
        model: JudgeModel | str | None = None,
        *,
        cache: JudgeCache | bool | None = None,
        name: str = "judge",
    ) -> None:
        self.config = config if isinstance(config, JudgeConfig) else JudgeConfig.model_validate(config)
        if self.config.kind == "prm":
            raise ValueError("kind 'prm' is a process reward model: use agentgym.rewards.prm, not Judge")
        self.name = name
        self.model: JudgeModel = resolve_model(model if model is not None else self.config.model)
        if cache is None:
            cache = self.config.cache and default_cache_enabled()
        self.cache: JudgeCache | None = (
            JudgeCache() if cache is True else cache if isinstance(cache, JudgeCache) else None
        )
        override = self.config.prompt
        kind = self.config.kind
        self.template: PromptTemplate = get_template(
            kind,
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

    def _pregated(self, reason: str) -> Judgment:
        return Judgment(
            score=self.config.pregate.fail_value, valid=True, rationale=f"pre-gate: {reason}", pregate=reason
        )

    # ------------------------------------------------------------------ public API
    async def ajudge(self, inputs: Sequence[JudgeInput]) -> list[Judgment]:
        """One judgment per input (pointwise, reference, principle, rubric, checklist, step kinds)."""
        kind = self.config.kind
        if kind in ("pairwise", "group"):
            return [j for group in await self.ajudge_groups([[x] for x in inputs]) for j in group]
        results: list[Judgment | None] = [None] * len(inputs)
        live: list[tuple[int, JudgeInput, str]] = []
        for index, item in enumerate(inputs):
            answer, reason = self.pregate(item.answer)
            if answer is None:
                results[index] = self._pregated(reason or "pre-gate")
            else:
                live.append((index, item, answer))
        if kind == "rubric":
            judged = await self._rubric(live)
        elif kind == "principle":
            judged = await self._principles(live)
        elif kind == "checklist":
            judged = await self._checklist(live)
        else:
            judged = await self._single(live)
        for (index, _, _), judgment in zip(live, judged, strict=True):
            results[index] = judgment
        return [r for r in results if r is not None]

    def judge(self, inputs: Sequence[JudgeInput]) -> list[Judgment]:
        return run_sync(self.ajudge(inputs))

    def judge_one(self, question: str, answer: str, reference: str | None = None) -> Judgment:
        return self.judge([JudgeInput(question, answer, reference)])[0]

    async def ajudge_steps(self, episodes: Sequence[tuple[str, Sequence[str]]]) -> list[list[Judgment]]:
        """Per-step judgments for each (question, steps) episode; step t sees steps < t as history."""
        flat: list[JudgeInput] = []
        for question, steps in episodes:
            for t, step in enumerate(steps):
                flat.append(JudgeInput(question, step, history=list(steps[:t])))
        judged = await self.ajudge(flat)
        out: list[list[Judgment]] = []
        position = 0
        for _, steps in episodes:
            out.append(judged[position : position + len(steps)])
            position += len(steps)
        return out

    async def ajudge_groups(self, groups: Sequence[Sequence[JudgeInput]]) -> list[list[Judgment]]:
        """Pairwise (round-robin win rate) or group ranking scores within each group, in [0, 1]."""
        results: list[list[Judgment]] = []
        plans = []
        for group in groups:
            prepared = []
            judgments: list[Judgment | None] = [None] * len(group)
            for i, item in enumerate(group):
                answer, reason = self.pregate(item.answer)
                if answer is None:
                    judgments[i] = self._pregated(reason or "pre-gate")
                else:
                    prepared.append((i, answer))
            results.append(judgments)  # type: ignore[arg-type]
            plans.append((group, prepared))
        if self.config.kind == "pairwise":
            await self._pairwise(plans, results)
        else:
            await self._ranking(plans, results)
        return results  # type: ignore[return-value]

    async def acompare(self, question: str, answer_a: str, answer_b: str) -> tuple[str | None, str]:
        """One pairwise verdict ("A", "B" or None) and its rationale (no swap; probes use it)."""
        output = (
            await self.complete([self._request(question=question, answer_a=answer_a, answer_b=answer_b)])
        )[0]
        if not output.ok:
            return None, output.error or ""
        return parse_winner(output.text), output.text

    # ------------------------------------------------------------------ kinds
    async def _single(self, live: list[tuple[int, JudgeInput, str]]) -> list[Judgment]:
        kind = self.config.kind
        requests = []
        for _, item, answer in live:
            if kind == "reference":
                reference = item.reference
                requests.append(
                    self._request(question=item.question, answer=answer, reference=reference or "")
                )
            elif kind == "step":
                history = "\n".join(f"{i + 1}. {h}" for i, h in enumerate(item.history)) or "(none)"
                requests.append(self._request(question=item.question, answer=answer, history=history))
            else:
                requests.append(self._request(question=item.question, answer=answer))
        outputs = await self.complete(requests)
        judged = []
        for (_, item, _), output in zip(live, outputs, strict=True):
            if kind == "reference" and not item.reference:
                judged.append(_invalid("no reference answer for a reference judge"))
                continue
            judged.append(self._verdict(output))
        return judged

    def _verdict(self, output: JudgeOutput) -> Judgment:
        if not output.ok:
            return _invalid(output.error or "model error")
        text = output.text
        if self.config.kind == "pointwise":
            low, high = self.config.score_range
            score = parse_score(text, low, high)
        else:
            verdict = parse_yes_no(text)
            score = None if verdict is None else float(verdict)
        if score is None:
            return _invalid("unparseable verdict", text)
        return Judgment(
            score=score, valid=True, rationale=text[:RATIONALE_CHARS], cached=bool(output.meta.get("cached"))
        )

    async def _yes_no_batch(
        self, asks: list[tuple[str, str, str]]
    ) -> list[tuple[bool | None, str, str | None]]:
        """(question, answer, principle) -> (verdict or None, text, error)."""
        outputs = await self.complete([self._request(question=q, answer=a, principle=p) for q, a, p in asks])
        out = []
        for output in outputs:
            if not output.ok:
                out.append((None, "", output.error))
            else:
                verdict = parse_yes_no(output.text)
                out.append((verdict, output.text, None if verdict is not None else "unparseable verdict"))
        return out

    async def _principles(self, live: list[tuple[int, JudgeInput, str]]) -> list[Judgment]:
        principles = self.config.principles
        asks = [(item.question, answer, p) for _, item, answer in live for p in principles]
        verdicts = await self._yes_no_batch(asks)
        judged = []
        for k in range(len(live)):
            chunk = verdicts[k * len(principles) : (k + 1) * len(principles)]
            details = {
                "principles": [
                    {"principle": p, "verdict": v, "rationale": t[:200]}
                    for p, (v, t, _) in zip(principles, chunk, strict=True)
                ]
            }
            errors = [e for _, _, e in chunk if e]
            if errors:
                judged.append(_invalid(errors[0], chunk[0][1], **details))
                continue
            score = sum(1.0 for v, _, _ in chunk if v) / len(chunk)
            rationale = " | ".join(t.strip()[:200] for _, t, _ in chunk)
            judged.append(
                Judgment(score=score, valid=True, rationale=rationale[:RATIONALE_CHARS], details=details)
            )
        return judged

    async def _rubric(self, live: list[tuple[int, JudgeInput, str]]) -> list[Judgment]:
        """Hard criteria first (regex rules, then model-judged); any failure zeroes the score and
        skips the soft criteria; soft criteria give the weighted share that passes."""
        criteria = self.config.criteria
        hard = [c for c in criteria if c.hard]
        soft = [c for c in criteria if not c.hard]
        state: list[dict[str, Any]] = [{"results": {}, "failed": None, "error": None} for _ in live]

        def check_patterns(group: list[Criterion], k: int, answer: str) -> None:
            for c in group:
                if c.pattern:
                    state[k]["results"][c.name] = bool(re.search(c.pattern, answer, re.DOTALL))

        async def model_stage(group: list[Criterion], active: list[int]) -> None:
            asks, where = [], []
            for k in active:
                _, item, answer = live[k]
                for c in group:
                    if not c.pattern:
                        asks.append((item.question, answer, c.text or c.name))
                        where.append((k, c.name))
            for (k, name), (verdict, _, error) in zip(where, await self._yes_no_batch(asks), strict=True):
                if error and state[k]["error"] is None:
                    state[k]["error"] = f"criterion {name!r}: {error}"
                state[k]["results"][name] = verdict

        for k, (_, _, answer) in enumerate(live):
            check_patterns(hard, k, answer)
            failed = [c.name for c in hard if c.pattern and not state[k]["results"][c.name]]
            if failed:
                state[k]["failed"] = failed[0]
        await model_stage(hard, [k for k in range(len(live)) if state[k]["failed"] is None])
        for k in range(len(live)):
            if state[k]["failed"] is None and state[k]["error"] is None:
                failed = [c.name for c in hard if state[k]["results"].get(c.name) is False]
                if failed:
                    state[k]["failed"] = failed[0]
        survivors = [k for k in range(len(live)) if state[k]["failed"] is None and state[k]["error"] is None]
        for k in survivors:
            check_patterns(soft, k, live[k][2])
        await model_stage(soft, survivors)

        judged = []
        for k in range(len(live)):
            s = state[k]
            details = {"criteria": dict(s["results"])}
            if s["failed"] is not None:
                details["hard_failed"] = s["failed"]
                judged.append(
                    Judgment(
                        score=0.0, valid=True, rationale=f"hard rule failed: {s['failed']}", details=details
                    )
                )
            elif s["error"] is not None:
                judged.append(_invalid(s["error"], **details))
            else:
                total = sum(c.weight for c in soft)
                score = 1.0 if total == 0 else sum(c.weight for c in soft if s["results"].get(c.name)) / total
                judged.append(
                    Judgment(score=score, valid=True, rationale=f"criteria: {s['results']}", details=details)
                )
        return judged

    async def _checklist(self, live: list[tuple[int, JudgeInput, str]]) -> list[Judgment]:
        items = self.config.items
        listing = "\n".join(f"{i + 1}. {text}" for i, text in enumerate(items))
        outputs = await self.complete(
            [self._request(question=item.question, answer=answer, items=listing) for _, item, answer in live]
        )
        judged = []
        for (_, _, answer), output in zip(live, outputs, strict=True):
            if not output.ok:
                judged.append(_invalid(output.error or "model error"))
                continue
            parsed = parse_checklist(output.text, len(items))
            if parsed is None:
                judged.append(_invalid("unparseable checklist", output.text))
                continue
            rows = []
            satisfied = 0
            for text, (said_yes, evidence) in zip(items, parsed, strict=True):
                verified = bool(evidence) and _norm(evidence) in _norm(answer)
                ok = said_yes and (verified or not self.config.require_evidence)
                satisfied += ok
                rows.append(
                    {
                        "item": text,
                        "judge_yes": said_yes,
                        "evidence": evidence,
                        "evidence_found": verified,
                        "satisfied": ok,
                    }
                )
            judged.append(
                Judgment(
                    score=satisfied / len(items),
                    valid=True,
                    rationale=output.text[:RATIONALE_CHARS],
                    details={"items": rows},
                )
            )
        return judged

    async def _pairwise(
        self,
        plans: list[tuple[Sequence[JudgeInput], list[tuple[int, str]]]],
        results: list[list[Judgment | None]],
    ) -> None:
        asks: list[tuple[int, int, int, bool]] = []  # (group, i, j, swapped)
        requests = []
        for g, (group, prepared) in enumerate(plans):
            members = [i for i, _ in prepared]
            answers = dict(prepared)
            question = group[0].question if group else ""
            pairs = [(a, b) for x, a in enumerate(members) for b in members[x + 1 :]]
            if len(members) == 1 and len(group) == 1:
                reference = group[0].reference
                if not reference:
                    results[g][members[0]] = _invalid(
                        "pairwise judge on a single response needs a reference to compare with"
                    )
                    continue
                pairs = [(members[0], -1)]
                answers[-1] = reference
            elif len(members) == 1:
                results[g][members[0]] = Judgment(
                    score=1.0, valid=True, rationale="only response that passed the pre-gates"
                )
                continue
            for a, b in pairs:
                asks.append((g, a, b, False))
                requests.append(self._request(question=question, answer_a=answers[a], answer_b=answers[b]))
                if self.config.swap:
                    asks.append((g, a, b, True))
                    requests.append(
                        self._request(question=question, answer_a=answers[b], answer_b=answers[a])
                    )
        outputs = await self.complete(requests)
        verdicts: dict[tuple[int, int, int], list[str | None]] = {}
        errors: dict[int, str] = {}
        texts: dict[tuple[int, int, int], list[str]] = {}
        for (g, a, b, swapped), output in zip(asks, outputs, strict=True):
            if not output.ok:
                errors.setdefault(g, output.error or "model error")
                continue
            winner = parse_winner(output.text)
            if winner is None:
                errors.setdefault(g, "unparseable verdict: " + output.text[:200])
                continue
            first_wins = winner == "A"
            verdicts.setdefault((g, a, b), []).append("a" if first_wins != swapped else "b")
            texts.setdefault((g, a, b), []).append(output.text[:200])
        for g, (_group, prepared) in enumerate(plans):
            members = [i for i, _ in prepared]
            if not members or any(results[g][i] is not None for i in members):
                continue
            if g in errors:
                for i in members:
                    results[g][i] = _invalid(errors[g])
                continue
            wins = {i: 0.0 for i in members}
            opponents = {i: 0 for i in members}
            consistent = total = 0
            for (gg, a, b), votes in verdicts.items():
                if gg != g:
                    continue
                total += 1
                if len(set(votes)) == 1:
                    consistent += 1
                    share_a = 1.0 if votes[0] == "a" else 0.0
                else:
                    share_a = 0.5  # the two orders disagree: position bias, call it a tie
                for player, share in ((a, share_a), (b, 1.0 - share_a)):
                    if player in wins:
                        wins[player] += share
                        opponents[player] += 1
            for i in members:
                score = wins[i] / opponents[i] if opponents[i] else 0.0
                results[g][i] = Judgment(
                    score=score,
                    valid=True,
                    rationale=" | ".join(
                        t for (gg, a, b), ts in texts.items() if gg == g and i in (a, b) for t in ts
                    )[:RATIONALE_CHARS],
                    details={
                        "comparisons": opponents[i],
                        "position_consistency": consistent / total if total else None,
                    },
                )

    async def _ranking(
        self,
        plans: list[tuple[Sequence[JudgeInput], list[tuple[int, str]]]],
        results: list[list[Judgment | None]],
    ) -> None:
        asks: list[tuple[int, list[int]]] = []
        requests = []
        for g, (group, prepared) in enumerate(plans):
            members = [i for i, _ in prepared]
            if len(members) < 2:
                for i in members:
                    results[g][i] = Judgment(
                        score=1.0, valid=True, rationale="only response that passed the pre-gates"
                    )
                continue
            answers = dict(prepared)
            orders = [members] + ([list(reversed(members))] if self.config.swap else [])
            for order in orders:
                listing = "\n\n".join(f"Response {n + 1}:\n{answers[i]}" for n, i in enumerate(order))
                asks.append((g, order))
                requests.append(
                    self._request(question=group[0].question, responses=listing, n=str(len(order)))
                )
        outputs = await self.complete(requests)
        scores: dict[int, dict[int, list[float]]] = {}
        errors: dict[int, str] = {}
        texts: dict[int, list[str]] = {}
        for (g, order), output in zip(asks, outputs, strict=True):
            if not output.ok:
                errors.setdefault(g, output.error or "model error")
                continue
            ranking = parse_ranking(output.text, len(order))
            if ranking is None:
                errors.setdefault(g, "unparseable ranking: " + output.text[:200])
                continue
            texts.setdefault(g, []).append(output.text[:300])
            n = len(order)
            for position, shown in enumerate(ranking):
                scores.setdefault(g, {}).setdefault(order[shown], []).append((n - 1 - position) / (n - 1))
        for g, (_, prepared) in enumerate(plans):
            members = [i for i, _ in prepared]
            if len(members) < 2:
                continue
            if g in errors:
                for i in members:
                    results[g][i] = _invalid(errors[g])
                continue
            for i in members:
                values = scores[g][i]
                results[g][i] = Judgment(
                    score=sum(values) / len(values),
                    valid=True,
                    rationale=" | ".join(texts[g])[:RATIONALE_CHARS],
                    details={"rank_scores": values},
                )
