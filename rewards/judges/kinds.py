"""One small class per judge kind, on top of `Judge`'s shared serving discipline.

    pointwise   Score 1-10 -> [0, 1]                      reference  same final answer as the reference?
    principle   share of yes/no principles satisfied     rubric     hard criteria gate, weighted soft ones
    checklist   binary items with verified quotes        step       yes/no per step, earlier steps as history
    pairwise    round-robin win rate within a group      group      ranking of a group, both orders

`make_judge(name, config, model, cache)` builds the class for ``config.kind``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentgym.rewards.judges.cache import JudgeCache
from agentgym.rewards.judges.config import Criterion, JudgeConfig
from agentgym.rewards.judges.judge import (
    RATIONALE_CHARS,
    Judge,
    JudgeInput,
    Judgment,
    Prepared,
    as_config,
    invalid_judgment,
)
from agentgym.rewards.judges.parsing import (
    parse_checklist,
    parse_ranking,
    parse_score,
    parse_winner,
    parse_yes_no,
)
from agentgym.rewards.judges.protocol import JudgeModel, JudgeOutput, ModelResolver


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


# ---------------------------------------------------------------------- one call, one verdict
class _VerdictJudge(Judge):
    """One model call per response; the verdict is parsed from its text (yes/no by default)."""

    def _fields(self, item: JudgeInput, answer: str) -> dict[str, str]:
        return {"question": item.question, "answer": answer}

    def _missing(self, item: JudgeInput) -> str | None:
        """Why an input cannot be judged at all (no model call), or None."""
        return None

    def _parse(self, text: str) -> float | None:
        verdict = parse_yes_no(text)
        return None if verdict is None else float(verdict)

    async def _score(self, live: list[Prepared]) -> list[Judgment]:
        missing = [self._missing(p.item) for p in live]
        asked = [p for p, why in zip(live, missing, strict=True) if why is None]
        outputs = iter(await self.complete([self._request(**self._fields(p.item, p.answer)) for p in asked]))
        return [invalid_judgment(why) if why else self._verdict(next(outputs)) for why in missing]

    def _verdict(self, output: JudgeOutput) -> Judgment:
        if not output.ok:
            return invalid_judgment(output.error or "model error")
        score = self._parse(output.text)
        if score is None:
            return invalid_judgment("unparseable verdict", output.text)
        return Judgment(
            score=score,
            valid=True,
            rationale=output.text[:RATIONALE_CHARS],
            cached=bool(output.meta.get("cached")),
        )


class PointwiseJudge(_VerdictJudge):
    """`Score: N` on the config's `score_range`, normalized to [0, 1]."""

    kind = "pointwise"

    def _parse(self, text: str) -> float | None:
        low, high = self.config.score_range
        return parse_score(text, low, high)


class ReferenceJudge(_VerdictJudge):
    """Does the response give the reference's final answer? (invalid without a reference)"""

    kind = "reference"

    def _fields(self, item: JudgeInput, answer: str) -> dict[str, str]:
        return {"question": item.question, "answer": answer, "reference": item.reference or ""}

    def _missing(self, item: JudgeInput) -> str | None:
        return None if item.reference else "no reference answer for a reference judge"


class StepJudge(_VerdictJudge):
    """Is this step correct and useful, given the earlier steps?"""

    kind = "step"

    def _fields(self, item: JudgeInput, answer: str) -> dict[str, str]:
        history = "\n".join(f"{i + 1}. {h}" for i, h in enumerate(item.history)) or "(none)"
        return {"question": item.question, "answer": answer, "history": history}


# ---------------------------------------------------------------------- yes/no per principle
async def _yes_no(
    judge: Judge, asks: list[tuple[str, str, str]]
) -> list[tuple[bool | None, str, str | None]]:
    """(question, answer, principle) -> (verdict or None, text, error), batched."""
    outputs = await judge.complete([judge._request(question=q, answer=a, principle=p) for q, a, p in asks])
    out = []
    for output in outputs:
        if not output.ok:
            out.append((None, "", output.error))
        else:
            verdict = parse_yes_no(output.text)
            out.append((verdict, output.text, None if verdict is not None else "unparseable verdict"))
    return out


class PrincipleJudge(Judge):
    """One yes/no call per principle; the score is the share of yes."""

    kind = "principle"

    async def _score(self, live: list[Prepared]) -> list[Judgment]:
        principles = self.config.principles
        verdicts = await _yes_no(
            self, [(p.item.question, p.answer, text) for p in live for text in principles]
        )
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
                judged.append(invalid_judgment(errors[0], chunk[0][1], **details))
                continue
            score = sum(1.0 for v, _, _ in chunk if v) / len(chunk)
            rationale = " | ".join(t.strip()[:200] for _, t, _ in chunk)
            judged.append(
                Judgment(score=score, valid=True, rationale=rationale[:RATIONALE_CHARS], details=details)
            )
        return judged


class RubricJudge(Judge):
    """Hard criteria first (regex rules, then model-judged); any failure zeroes the score and
    skips the soft criteria; soft criteria give the weighted share that passes."""

    kind = "rubric"

    async def _score(self, live: list[Prepared]) -> list[Judgment]:
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
                for c in group:
                    if not c.pattern:
                        asks.append((live[k].item.question, live[k].answer, c.text or c.name))
                        where.append((k, c.name))
            for (k, name), (verdict, _, error) in zip(where, await _yes_no(self, asks), strict=True):
                if error and state[k]["error"] is None:
                    state[k]["error"] = f"criterion {name!r}: {error}"
                state[k]["results"][name] = verdict

        for k, prepared in enumerate(live):
            check_patterns(hard, k, prepared.answer)
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
            check_patterns(soft, k, live[k].answer)
        await model_stage(soft, survivors)

        judged = []
        for s in state:
            details = {"criteria": dict(s["results"])}
            if s["failed"] is not None:
                details["hard_failed"] = s["failed"]
                judged.append(
                    Judgment(
                        score=0.0, valid=True, rationale=f"hard rule failed: {s['failed']}", details=details
                    )
                )
            elif s["error"] is not None:
                judged.append(invalid_judgment(s["error"], **details))
            else:
                total = sum(c.weight for c in soft)
                score = 1.0 if total == 0 else sum(c.weight for c in soft if s["results"].get(c.name)) / total
                judged.append(
                    Judgment(score=score, valid=True, rationale=f"criteria: {s['results']}", details=details)
                )
        return judged


class ChecklistJudge(Judge):
    """One call lists every item; a YES counts only when its quoted evidence is in the turn
    (`require_evidence`). The score is the share of satisfied items."""

    kind = "checklist"

    async def _score(self, live: list[Prepared]) -> list[Judgment]:
        items = self.config.items
        listing = "\n".join(f"{i + 1}. {text}" for i, text in enumerate(items))
        outputs = await self.complete(
            [self._request(question=p.item.question, answer=p.answer, items=listing) for p in live]
        )
        judged = []
        for prepared, output in zip(live, outputs, strict=True):
            if not output.ok:
                judged.append(invalid_judgment(output.error or "model error"))
                continue
            parsed = parse_checklist(output.text, len(items))
            if parsed is None:
                judged.append(invalid_judgment("unparseable checklist", output.text))
                continue
            rows = []
            satisfied = 0
            for text, (said_yes, evidence) in zip(items, parsed, strict=True):
                verified = bool(evidence) and _norm(evidence) in _norm(prepared.answer)
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


# ---------------------------------------------------------------------- comparisons within a group
Plan = tuple[Sequence[JudgeInput], list[Prepared]]  # a group and its members that passed the pre-gates


class _ComparativeJudge(Judge):
    """Scores each response relative to the others of its group (in [0, 1])."""

    compares_groups = True

    async def ajudge(self, inputs: Sequence[JudgeInput]) -> list[Judgment]:
        """Each input as a group of one (pairwise compares it with its reference)."""
        return [j for group in await self.ajudge_groups([[x] for x in inputs]) for j in group]

    async def ajudge_groups(self, groups: Sequence[Sequence[JudgeInput]]) -> list[list[Judgment]]:
        results: list[list[Judgment | None]] = []
        plans: list[Plan] = []
        for group in groups:
            judgments, live = self.split_pregated(group)
            results.append(judgments)
            plans.append((group, live))
        await self._score_groups(plans, results)
        return [[j if j is not None else invalid_judgment("not judged") for j in group] for group in results]

    async def _score_groups(self, plans: list[Plan], results: list[list[Judgment | None]]) -> None:
        raise NotImplementedError  # abstract: pairwise and group implement it

    async def _score(self, live: list[Prepared]) -> list[Judgment]:
        raise TypeError(f"{type(self).__name__} scores groups: use ajudge_groups")


def _alone() -> Judgment:
    return Judgment(score=1.0, valid=True, rationale="only response that passed the pre-gates")


class PairwiseJudge(_ComparativeJudge):
    """Round-robin win rate within a group; both orders when `swap` (disagreement = tie). A group
    of one is compared with its reference."""

    kind = "pairwise"

    async def acompare(self, question: str, answer_a: str, answer_b: str) -> tuple[str | None, str]:
        """One verdict ("A", "B" or None) and its rationale (no swap; probes use it)."""
        output = (
            await self.complete([self._request(question=question, answer_a=answer_a, answer_b=answer_b)])
        )[0]
        if not output.ok:
            return None, output.error or ""
        return parse_winner(output.text), output.text

    async def _score_groups(self, plans: list[Plan], results: list[list[Judgment | None]]) -> None:
        asks: list[tuple[int, int, int, bool]] = []  # (group, i, j, swapped)
        requests = []
        for g, (group, live) in enumerate(plans):
            members = [p.index for p in live]
            answers = {p.index: p.answer for p in live}
            question = group[0].question if group else ""
            pairs = [(a, b) for x, a in enumerate(members) for b in members[x + 1 :]]
            if len(members) == 1 and len(group) == 1:
                reference = group[0].reference
                if not reference:
                    results[g][members[0]] = invalid_judgment(
                        "pairwise judge on a single response needs a reference to compare with"
                    )
                    continue
                pairs = [(members[0], -1)]
                answers[-1] = reference
            elif len(members) == 1:
                results[g][members[0]] = _alone()
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
        verdicts: dict[tuple[int, int, int], list[str]] = {}
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
        for g, (_group, live) in enumerate(plans):
            members = [p.index for p in live]
            if not members or any(results[g][i] is not None for i in members):
                continue
            if g in errors:
                for i in members:
                    results[g][i] = invalid_judgment(errors[g])
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


class GroupJudge(_ComparativeJudge):
    """Ranks the responses of a group in one prompt (plus the reversed order when `swap`); a
    response's score is its mean normalized rank (best 1, worst 0)."""

    kind = "group"

    async def _score_groups(self, plans: list[Plan], results: list[list[Judgment | None]]) -> None:
        asks: list[tuple[int, list[int]]] = []
        requests = []
        for g, (group, live) in enumerate(plans):
            members = [p.index for p in live]
            if len(members) < 2:
                for i in members:
                    results[g][i] = _alone()
                continue
            answers = {p.index: p.answer for p in live}
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
        for g, (_, live) in enumerate(plans):
            members = [p.index for p in live]
            if len(members) < 2:
                continue
            if g in errors:
                for i in members:
                    results[g][i] = invalid_judgment(errors[g])
                continue
            for i in members:
                values = scores[g][i]
                results[g][i] = Judgment(
                    score=sum(values) / len(values),
                    valid=True,
                    rationale=" | ".join(texts[g])[:RATIONALE_CHARS],
                    details={"rank_scores": values},
                )


# ---------------------------------------------------------------------- the factory
JUDGE_CLASSES: dict[str, type[Judge]] = {
    cls.kind: cls
    for cls in (
        PointwiseJudge,
        ReferenceJudge,
        PrincipleJudge,
        RubricJudge,
        ChecklistJudge,
        PairwiseJudge,
        GroupJudge,
        StepJudge,
    )
}


def judge_class(kind: str) -> type[Judge]:
    """The `Judge` subclass for a kind (ValueError for 'prm' and unknown kinds)."""
    if kind == "prm":
        raise ValueError("kind 'prm' is a process reward model: use agentgym.rewards.prm, not Judge")
    try:
        return JUDGE_CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown judge kind {kind!r}; known: {', '.join(JUDGE_CLASSES)}") from None


def make_judge(
    name: str,
    config: JudgeConfig | Mapping[str, Any],
    model: JudgeModel | str | None = None,
    cache: JudgeCache | bool | None = None,
    *,
    resolve: ModelResolver | None = None,
) -> Judge:
    """The judge of `config.kind`, named `name`, bound to `model` (default: `config.model`,
    a string resolved with `resolve`)."""
    config = as_config(config)
    return judge_class(config.kind)(config, model, cache=cache, name=name, resolve=resolve)
