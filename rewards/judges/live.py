"""`LiveJudges`: a spec's ``judges:`` scored on a live episode, for an env to call at its end.

    live = LiveJudges(spec, resolve=agentgym.policy.make_judge_model)   # builds nothing yet
    live.components()            # declared components: one per judge (name, scope, bounds [0, 1])
    judged = live.judge_episode(env.transcript, env.task, n_steps)
    # merge judged.step_components into the step components, judged.trajectory into the
    # trajectory components (lazy judges are LazyJudgment callables the engine calls only when
    # their level is needed), and mark the reward invalid when judged.invalid.

The transcript is OpenAI-style messages: the question is the first user message, the steps are
the assistant messages (tool calls rendered as ``name(arguments)`` when a message has no text),
the answer is the last step; a judge's reference is read from the task's `reference_field`
(an attribute or key, or ``task.metadata[field]``). Step-scope judges and PRMs are scored eagerly
(batched, concurrently); trajectory judges eagerly when their config says ``lazy: false``.

Pairwise and group judges compare the episodes of a group, which one live episode is not:
a spec with one is refused here (`SpecError`); score them offline with `agentgym judge rescore`.
The judges (and their models) are built on first use, so constructing `LiveJudges` calls no
model; a config with `max_fpr` is checked against its saved probe result at that point.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentgym.rewards.components import Component
from agentgym.rewards.judges.cache import JudgeCache
from agentgym.rewards.judges.config import JudgeConfig
from agentgym.rewards.judges.judge import JudgeInput, Judgment, run_sync
from agentgym.rewards.judges.protocol import JudgeError, JudgeModel
from agentgym.rewards.judges.runner import JudgeRunner, LazyJudgment, episode_view_from_messages
from agentgym.rewards.spec import RewardSpec, SpecError

GROUP_KINDS = ("pairwise", "group")


@dataclass
class LiveJudgment:
    """What the judges made of one live episode."""

    step_components: list[dict[str, float]]  # len n_steps; step judges / PRMs (empty dicts if none)
    trajectory: dict[str, Any]  # LazyJudgment callables (lazy configs) or floats
    judgments: dict[str, Any]  # name -> judgment dict (step judges: a list); lazy ones when called
    invalid: bool  # a needed eager judgment failed: the episode's reward is invalid
    errors: list[str]


def task_reference(task: Any, field_name: str) -> str | None:
    """`task.<field>` (dotted paths allowed; pydantic model or mapping), else `task.metadata[field]`."""
    if task is None:
        return None
    data = task.model_dump() if hasattr(task, "model_dump") else task
    if not isinstance(data, Mapping):
        data = {k: getattr(task, k) for k in dir(task) if not k.startswith("_")}
    metadata = data.get("metadata")
    for source in (data, metadata if isinstance(metadata, Mapping) else {}):
        node: Any = source
        for part in field_name.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node is not None:
            return str(node)
    return None


class LiveJudges:
    """The judges of a reward spec, scored on live episodes (see module docstring)."""

    def __init__(
        self,
        spec: RewardSpec,
        *,
        resolve: Callable[[str], JudgeModel] | None = None,
        models: JudgeModel | Mapping[str, JudgeModel] | None = None,
        cache: JudgeCache | bool | None = None,
    ) -> None:
        self.spec = spec
        self.configs: dict[str, JudgeConfig] = dict(spec.judges)
        self.resolve = resolve
        self.models = models
        self.cache = cache
        for name, config in self.configs.items():
            if config.kind in GROUP_KINDS:
                raise SpecError(
                    f"invalid reward spec {spec.name!r}: judges.{name}.kind: a {config.kind!r} judge compares "
                    "episodes of a group, which a live episode is not; use `agentgym judge rescore` offline"
                )
            has_model = models.get(name) is not None if isinstance(models, Mapping) else models is not None
            if config.kind != "prm" and resolve is None and not has_model:
                raise JudgeError(
                    f"judge {name!r}: model {config.model!r} is a model string and no resolver was given; "
                    "pass resolve=agentgym.policy.make_judge_model (or models={name: JudgeModel})"
                )
        self._runner: JudgeRunner | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:  # a copy (another process) rebuilds its judges
        return {**self.__dict__, "_runner": None, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def runner(self) -> JudgeRunner:
        """The judges, built on first use (models resolved, PRMs loaded, probe results checked)."""
        if self._runner is None:
            with self._lock:
                if self._runner is None:
                    self._runner = JudgeRunner(
                        self.configs, models=self.models, resolve=self.resolve, cache=self.cache
                    )
        return self._runner

    def components(self) -> list[Component]:
        """One component per judge: its key, its scope, bounds [0, 1] (widened to a pre-gate's
        `fail_value` outside them)."""
        out = []
        for name, config in self.configs.items():
            fail = config.pregate.fail_value
            out.append(
                Component(
                    name, config.scope, (min(0.0, fail), max(1.0, fail)), description=f"{config.kind} judge"
                )
            )
        return out

    def judge_episode(self, transcript: list[dict], task: Any, n_steps: int) -> LiveJudgment:
        """Score one finished episode: step judges and PRMs now, trajectory judges now or lazily."""
        result = LiveJudgment(
            step_components=[{} for _ in range(n_steps)],
            trajectory={},
            judgments={},
            invalid=False,
            errors=[],
        )
        if not self.configs:
            return result
        runner = self.runner
        view = episode_view_from_messages(transcript)
        references = {
            c.reference_field: task_reference(task, c.reference_field) for c in self.configs.values()
        }
        run_sync(self._eager(runner, view.question, view.steps, view.answer, references, result))
        if result.invalid:
            return result  # the reward is invalid anyway: no lazy judge needs to be called
        for name, judge in runner.judges.items():
            config = judge.config
            if config.scope == "trajectory" and config.lazy:
                item = JudgeInput(view.question, view.answer, references[config.reference_field])
                result.trajectory[name] = LazyJudgment(judge, item, name, result.judgments, result.errors)
        return result

    # ------------------------------------------------------------------ eager judgments
    async def _eager(
        self,
        runner: JudgeRunner,
        question: str,
        steps: list[str],
        answer: str,
        references: Mapping[str, str | None],
        result: LiveJudgment,
    ) -> None:
        names: list[str] = []
        jobs: list[Any] = []
        for name, judge in runner.judges.items():
            config = judge.config
            reference = references[config.reference_field]
            if config.scope == "step":
                names.append(name)
                jobs.append(judge.ajudge_steps([(question, steps)], [reference]))
            elif not config.lazy:
                names.append(name)
                jobs.append(judge.ajudge([JudgeInput(question, answer, reference)]))
        for name, prm in runner.prms.items():
            names.append(name)
            jobs.append(asyncio.to_thread(prm.score_episodes, [(question, steps)]))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self._fail(result, name, f"{type(outcome).__name__}: {outcome}")
            elif name in runner.prms:
                values = [float(v) for v in outcome[0]]
                result.judgments[name] = [{"score": v, "valid": True} for v in values]
                self._put_steps(result, name, [Judgment(score=v, valid=True) for v in values], record=False)
            elif runner.judges[name].config.scope == "step":
                self._put_steps(result, name, outcome[0])
            else:
                judgment: Judgment = outcome[0]
                result.judgments[name] = judgment.to_dict()
                if judgment.valid and judgment.score is not None:
                    result.trajectory[name] = judgment.score
                else:
                    self._fail(result, name, str(judgment.error))

    @staticmethod
    def _fail(result: LiveJudgment, name: str, error: str) -> None:
        result.invalid = True
        result.errors.append(f"{name}: {error}")
        result.judgments.setdefault(name, {"score": None, "valid": False, "error": error})

    @staticmethod
    def _put_steps(result: LiveJudgment, name: str, judged: Sequence[Judgment], record: bool = True) -> None:
        """Step t of the transcript's assistant turns -> env step t, aligned at the episode's end
        (they coincide when every env step recorded one assistant turn)."""
        if record:
            result.judgments[name] = [j.to_dict() for j in judged]
        offset = len(result.step_components) - len(judged)
        for t, judgment in enumerate(judged):
            if not judgment.valid or judgment.score is None:
                result.invalid = True
                result.errors.append(f"{name} step {t}: {judgment.error}")
            elif 0 <= t + offset < len(result.step_components):
                result.step_components[t + offset][name] = judgment.score
