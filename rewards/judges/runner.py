"""`JudgeRunner`: a spec's ``judges:`` turned into components for episodes.

Two ways to use it:

- eager, batched (`ascore` / `score`): all judges over many episodes at once (groups together for
  pairwise and group ranking), returning per episode the trajectory components, the step
  components, the judgments (rationales) and whether any judgment was invalid;
- lazy (`lazy_components`): per episode, zero-argument callables the reward engine calls only when
  the reading level is needed (``lazy: true`` on the level skips it behind a closed gate); an
  invalid judgment raises `ComponentUnavailable`, which makes the report `reward_invalid`.

Episodes are `EpisodeView`s; `episode_view(record)` builds one from a stored trajectory record
(an agentgym `EpisodeRecord` or its dict): the question is the task prompt, the answer the last
action's text, the steps every action's text, the reference read from `task.<reference_field>`
(or `task.metadata.<field>`, or a top-level key).

A judge config with `max_fpr` is refused (`JudgeError`) unless a stored probe result for the same
judge fingerprint shows a false-positive rate within it (`agentgym judge probe --save`).

Model strings in the configs are resolved with `resolve` (``agentgym.policy.make_judge_model``);
without it every judge needs a `JudgeModel` in `models`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentgym.rewards.judges.cache import JudgeCache
from agentgym.rewards.judges.config import JudgeConfig
from agentgym.rewards.judges.judge import Judge, JudgeInput, Judgment, run_sync
from agentgym.rewards.judges.kinds import make_judge
from agentgym.rewards.judges.protocol import JudgeModel, ModelResolver
from agentgym.rewards.spec import ComponentUnavailable, RewardSpec


@dataclass
class EpisodeView:
    """The text of one episode that judges read."""

    question: str
    answer: str
    steps: list[str] = field(default_factory=list)
    reference: str | None = None
    group_id: str | None = None
    id: str = ""


@dataclass
class EpisodeJudgments:
    """Judge results for one episode."""

    trajectory: dict[str, float] = field(default_factory=dict)
    steps: list[dict[str, float]] = field(default_factory=list)
    judgments: dict[str, Any] = field(default_factory=dict)  # name -> Judgment dict or [per-step dicts]
    invalid: bool = False
    errors: list[str] = field(default_factory=list)


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


def episode_view(
    record: Any, reference_field: str = "reference", references: Mapping[str, str] | None = None
) -> EpisodeView:
    """An `EpisodeView` from a trajectory record (object with `model_dump()` or a dict)."""
    data: Mapping[str, Any] = record.model_dump() if hasattr(record, "model_dump") else record
    steps = [
        str(s.get("action") or (s.get("message") or {}).get("content") or "") for s in data.get("steps", [])
    ]
    task = data.get("task") or {}
    reference = None
    if references is not None:
        reference = references.get(str(data.get("task_id")))
    if reference is None:
        for source in (task, task.get("metadata") or {}, data):
            value = _lookup(source, reference_field)
            if value is not None:
                reference = str(value)
                break
    return EpisodeView(
        question=str(data.get("prompt") or task.get("prompt") or ""),
        answer=steps[-1] if steps else "",
        steps=steps,
        reference=reference,
        group_id=data.get("group_id"),
        id=str(data.get("episode_id") or ""),
    )


def message_text(content: Any) -> str:
    """The text of a message's content (a string, or a list of parts with `text`)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(part.get("text") or "") if isinstance(part, Mapping) else str(part) for part in content
        )
    return str(content)


def render_tool_calls(calls: Sequence[Mapping[str, Any]]) -> str:
    """`name(arguments json)` per call, one a line."""
    import json

    lines = []
    for call in calls:
        function = call.get("function") if isinstance(call.get("function"), Mapping) else call
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        lines.append(f"{function.get('name') or '?'}({arguments})")
    return "\n".join(lines)


def step_text(message: Mapping[str, Any]) -> str:
    """An assistant message as a judge reads it: its text, or its tool calls when it has no text."""
    text = message_text(message.get("content"))
    if not text.strip() and message.get("tool_calls"):
        return render_tool_calls(message["tool_calls"])
    return text


def episode_view_from_messages(
    messages: Sequence[Mapping[str, Any]], reference: str | None = None
) -> EpisodeView:
    """An `EpisodeView` from an OpenAI-style transcript (an env's `transcript`): the question is
    the first user message, the steps are the assistant messages (their tool calls rendered as
    ``name(arguments)`` when they have no text), the answer the last of them."""
    question = next((message_text(m.get("content")) for m in messages if m.get("role") == "user"), "")
    steps = [step_text(m) for m in messages if m.get("role") == "assistant"]
    return EpisodeView(question=question, answer=steps[-1] if steps else "", steps=steps, reference=reference)


class JudgeRunner:
    """Builds the judges of a spec (or a mapping name -> JudgeConfig) and scores episodes."""

    def __init__(
        self,
        judges: RewardSpec | Mapping[str, JudgeConfig | Mapping[str, Any]],
        *,
        models: JudgeModel | Mapping[str, JudgeModel] | None = None,
        resolve: ModelResolver | None = None,
        cache: JudgeCache | bool | None = None,
        check_probes: bool = True,
        prms: Mapping[str, Any] | None = None,
    ) -> None:
        configs = judges.judges if isinstance(judges, RewardSpec) else judges
        self.configs: dict[str, JudgeConfig] = {
            name: c if isinstance(c, JudgeConfig) else JudgeConfig.model_validate(c)
            for name, c in configs.items()
        }
        self.judges: dict[str, Judge] = {}
        self.prms: dict[str, Any] = dict(prms or {})
        for name, config in self.configs.items():
            if config.kind == "prm":
                if name not in self.prms:
                    from agentgym.rewards.prm import load_prm

                    self.prms[name] = load_prm(config)
                continue
            model = models.get(name) if isinstance(models, Mapping) else models
            judge = make_judge(name, config, model, cache, resolve=resolve)
            if check_probes and config.max_fpr is not None:
                from agentgym.rewards.judges.probe import check_probe

                check_probe(judge, config.max_fpr)
            self.judges[name] = judge

    # ------------------------------------------------------------------ eager
    async def ascore(
        self, episodes: Sequence[EpisodeView], scope: str | None = None
    ) -> list[EpisodeJudgments]:
        """Every judge (of `scope`, when given) over every episode, batched; groups (by group_id)
        for pairwise/group kinds. PRMs count as step scope."""
        out = [EpisodeJudgments(steps=[{} for _ in e.steps]) for e in episodes]
        for name, judge in self.judges.items():
            config = judge.config
            if scope is not None and config.scope != scope:
                continue
            if judge.compares_groups:
                order: dict[str | None, list[int]] = {}
                for index, episode in enumerate(episodes):
                    key = episode.group_id if episode.group_id is not None else f"__single_{index}"
                    order.setdefault(key, []).append(index)
                groups = list(order.values())
                judged_groups = await judge.ajudge_groups(
                    [
                        [
                            JudgeInput(episodes[i].question, episodes[i].answer, episodes[i].reference)
                            for i in g
                        ]
                        for g in groups
                    ]
                )
                for g, judged in zip(groups, judged_groups, strict=True):
                    for index, judgment in zip(g, judged, strict=True):
                        self._put_trajectory(out[index], name, judgment)
            elif config.scope == "step":
                per_episode = await judge.ajudge_steps(
                    [(e.question, e.steps) for e in episodes], [e.reference for e in episodes]
                )
                for index, judged in enumerate(per_episode):
                    self._put_steps(out[index], name, judged)
            else:
                judged = await judge.ajudge([JudgeInput(e.question, e.answer, e.reference) for e in episodes])
                for index, judgment in enumerate(judged):
                    self._put_trajectory(out[index], name, judgment)
        for name, prm in self.prms.items():
            import asyncio

            if scope == "trajectory":
                break
            scores = await asyncio.to_thread(prm.score_episodes, [(e.question, e.steps) for e in episodes])
            for index, values in enumerate(scores):
                for t, value in enumerate(values):
                    out[index].steps[t][name] = float(value)
                out[index].judgments[name] = [{"score": float(v), "valid": True} for v in values]
        return out

    def score(self, episodes: Sequence[EpisodeView], scope: str | None = None) -> list[EpisodeJudgments]:
        return run_sync(self.ascore(episodes, scope))

    @property
    def has_step_judges(self) -> bool:
        return bool(self.prms) or any(j.config.scope == "step" for j in self.judges.values())

    @staticmethod
    def _put_trajectory(target: EpisodeJudgments, name: str, judgment: Judgment) -> None:
        target.judgments[name] = judgment.to_dict()
        if judgment.valid and judgment.score is not None:
            target.trajectory[name] = judgment.score
        else:
            target.invalid = True
            target.errors.append(f"{name}: {judgment.error}")

    @staticmethod
    def _put_steps(target: EpisodeJudgments, name: str, judged: list[Judgment]) -> None:
        target.judgments[name] = [j.to_dict() for j in judged]
        for t, judgment in enumerate(judged):
            if judgment.valid and judgment.score is not None:
                target.steps[t][name] = judgment.score
            else:
                target.invalid = True
                target.errors.append(f"{name} step {t}: {judgment.error}")

    # ------------------------------------------------------------------ lazy
    def lazy_components(self, episode: EpisodeView, record: dict[str, Any] | None = None) -> dict[str, Any]:
        """Trajectory-scope components as callables (judged on first call, memoized); judges with
        `lazy: false` are judged now. Judgments are written into `record` (name -> dict)."""
        out: dict[str, Any] = {}
        sink = record if record is not None else {}
        for name, judge in self.judges.items():
            if judge.config.scope != "trajectory" or judge.compares_groups:
                continue
            component = LazyJudgment(
                judge, JudgeInput(episode.question, episode.answer, episode.reference), name, sink
            )
            out[name] = component if judge.config.lazy else component()
        return out


class LazyJudgment:
    """A zero-argument callable: the judge's score for one input (raises ComponentUnavailable).

    Judged on the first call, then memoized; the judgment's dict goes into `sink[name]` and, when
    it is invalid, a line into `errors`."""

    def __init__(
        self,
        judge: Judge,
        item: JudgeInput,
        name: str,
        sink: dict[str, Any],
        errors: list[str] | None = None,
    ) -> None:
        self.judge = judge
        self.item = item
        self.name = name
        self.sink = sink
        self.errors = errors
        self.judgment: Judgment | None = None

    def __call__(self) -> float:
        if self.judgment is None:
            try:
                self.judgment = self.judge.judge([self.item])[0]
            except Exception as exc:  # noqa: BLE001 - a judge that raises gives no trustworthy value
                from agentgym.rewards.judges.judge import invalid_judgment

                self.judgment = invalid_judgment(f"{type(exc).__name__}: {exc}")
            self.sink[self.name] = self.judgment.to_dict()
            if not self.judgment.valid and self.errors is not None:
                self.errors.append(f"{self.name}: {self.judgment.error}")
        judgment = self.judgment
        if not judgment.valid or judgment.score is None:
            raise ComponentUnavailable(f"judge {self.name!r}: {judgment.error}")
        return judgment.score

    @property
    def called(self) -> bool:
        return self.judgment is not None


def rescore_with_judges(
    records: Sequence[Any],
    spec: RewardSpec,
    *,
    models: JudgeModel | Mapping[str, JudgeModel] | None = None,
    resolve: ModelResolver | None = None,
    references: Mapping[str, str] | None = None,
    mode: str | None = None,
    runner: JudgeRunner | None = None,
) -> list[tuple[Any, EpisodeJudgments]]:
    """Re-score stored episodes under `spec`, computing its judges' components first (batched).

    Returns (RewardReport, EpisodeJudgments) per record. The stored components are kept; judge
    components are added (step judges per step, trajectory judges at the end). An invalid judgment
    (timeout, error, unparseable) makes that episode's report `reward_invalid`.
    """
    runner = runner or JudgeRunner(spec, models=models, resolve=resolve)
    views, dumps = [], []
    for record in records:
        data = record.model_dump() if hasattr(record, "model_dump") else dict(record)
        dumps.append(data)
        reference_field = next((c.reference_field for c in runner.configs.values()), "reference")
        views.append(episode_view(data, reference_field, references))
    results = runner.score(views)
    out = []
    for data, judged in zip(dumps, results, strict=True):
        steps = [dict(s.get("components") or {}) for s in data.get("steps", [])]
        steps = [{**s, **extra} for s, extra in zip(steps, judged.steps, strict=True)]
        trajectory = {**(data.get("trajectory_components") or {}), **judged.trajectory}
        invalid = bool(data.get("reward_invalid")) or judged.invalid
        report = spec.score(steps, trajectory, reward_invalid=invalid, mode=mode)
        if judged.invalid and not data.get("reward_invalid"):
            report.warnings.extend(f"judge invalid: {e}" for e in judged.errors)
        out.append((report, judged))
    return out
