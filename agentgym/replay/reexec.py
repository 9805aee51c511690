"""Re-execution: replay an episode's recorded actions against a fresh env and find where it diverges.

`reexec(record)` makes a fresh env from `record.env_id` / `record.env_kwargs` (with the recorded
reward spec), resets it with the recorded seed and task, steps it with each recorded action (the
assistant message when stored, else the action text) and compares, turn by turn, the observation,
the step components and the episode flags, then at the end the trajectory components, the outcome
and the returns. It returns the first `Divergence` (turn, field, recorded vs replayed), or None
when the replay reproduced the episode. No peer project offers this; it is how a researcher
checks that an env (and therefore a reward) is deterministic given seed and task.

A recorded episode whose task the env drew itself (no task id passed to `reset`) consumed the
env's RNG for that draw; when replaying with the task id forced diverges, `reexec` retries once
without forcing it and accepts that replay if it picks the same task and reproduces the episode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from agentgym.trajectory import EpisodeRecord

EnvFactory = Callable[[EpisodeRecord], gym.Env]

#: fields compared per turn, in this order (the first one that differs is reported)
STEP_FIELDS = ("observation", "components", "action_valid", "reward", "terminated", "truncated")
#: fields compared at the end of the episode
END_FIELDS = (
    "reward_invalid",
    "trajectory_components",
    "outcome",
    "return",
    "return_gated",
    "return_direct",
    "return_outcome",
)


@dataclass
class Divergence:
    """The first place where a replay differs from the record. turn 0 is the reset."""

    turn: int
    field: str
    recorded: Any
    replayed: Any
    episode_id: str = ""
    detail: str = ""

    def describe(self, limit: int = 300) -> str:
        """Human-readable; long texts are shown around their first differing character."""
        where = "reset" if self.turn == 0 else "episode end" if self.turn < 0 else f"turn {self.turn}"
        recorded, replayed = self.recorded, self.replayed
        if isinstance(recorded, str) and isinstance(replayed, str):
            recorded, replayed = _around_difference(recorded, replayed, limit)
        text = f"{where}: {self.field} differs\n  recorded: {_clip(recorded, limit)}\n  replayed: {_clip(replayed, limit)}"
        if self.detail:
            text += f"\n  ({self.detail})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "field": self.field,
            "recorded": self.recorded,
            "replayed": self.replayed,
            "episode_id": self.episode_id,
            "detail": self.detail,
        }


@dataclass
class ReexecResult:
    """Outcome of re-executing one episode (what `reexec_many` yields per record)."""

    record: EpisodeRecord
    divergence: Divergence | None = None
    error: str | None = None
    turns_replayed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.divergence is None and self.error is None


def _clip(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 15] + f"... (+{len(text) - limit + 15} chars)"


def _around_difference(a: str, b: str, limit: int) -> tuple[str, str]:
    """Windows of both texts around their first difference (with ... where cut)."""
    offset = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    if max(len(a), len(b)) <= limit:
        return a, b
    start = max(0, offset - limit // 3)

    def window(text: str) -> str:
        end = start + limit - 10
        return ("..." if start > 0 else "") + text[start:end] + ("..." if end < len(text) else "")

    return window(a), window(b)


def _same(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return (
            bool(a) == bool(b)
            if isinstance(a, bool | int | float) and isinstance(b, bool | int | float)
            else a == b
        )
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b, strict=True))
    return a == b


def _first_line_diff(recorded: str, replayed: str) -> str:
    for offset, (x, y) in enumerate(zip(recorded, replayed, strict=False)):
        if x != y:
            return f"first difference at character {offset}"
    return f"lengths {len(recorded)} vs {len(replayed)}"


def _component_diff(recorded: dict[str, Any], replayed: dict[str, Any], tol: float) -> str:
    missing = sorted(set(recorded) - set(replayed))
    extra = sorted(set(replayed) - set(recorded))
    changed = sorted(k for k in set(recorded) & set(replayed) if not _same(recorded[k], replayed[k], tol))
    parts = []
    if changed:
        parts.append("changed: " + ", ".join(changed))
    if missing:
        parts.append("missing on replay: " + ", ".join(missing))
    if extra:
        parts.append("new on replay: " + ", ".join(extra))
    return "; ".join(parts)


def default_env_factory(record: EpisodeRecord) -> gym.Env:
    """`gymnasium.make(record.env_id, **record.env_kwargs)` with the recorded reward spec."""
    import agentgym  # noqa: F401  (registers the env ids)

    kwargs = dict(record.env_kwargs)
    if record.reward_spec:
        kwargs["reward"] = record.reward_spec
    return gym.make(record.env_id, **kwargs)


def _action_of(step: Any) -> str | dict[str, Any]:
    if step.message:
        return dict(step.message)
    return step.action


def _observation_text(observation: Any) -> str:
    if isinstance(observation, str):
        return observation
    if isinstance(observation, dict):
        return str(observation.get("text", observation))
    return str(observation)


def _returns(report: Any) -> dict[str, float] | None:
    if report is None:
        return None
    if isinstance(report, dict):
        return {
            "return": report.get("return", report.get("return_")),
            "return_gated": report.get("return_gated"),
            "return_direct": report.get("return_direct"),
            "return_outcome": report.get("return_outcome"),
        }
    return {
        "return": report.return_,
        "return_gated": report.return_gated,
        "return_direct": report.return_direct,
        "return_outcome": report.return_outcome,
    }


def _replay_once(
    env: gym.Env,
    record: EpisodeRecord,
    options: dict[str, Any],
    *,
    tol: float,
    ignore: frozenset[str],
    counter: list[int],
) -> Divergence | None:
    def diverge(turn: int, name: str, recorded: Any, replayed: Any, detail: str = "") -> Divergence:
        return Divergence(turn, name, recorded, replayed, record.episode_id, detail)

    observation, info = env.reset(seed=record.seed, options=options)
    task_id = info.get("task_id", options.get("task_id"))
    if "task_id" not in ignore and record.task_id and task_id is not None and task_id != record.task_id:
        return diverge(0, "task_id", record.task_id, task_id)
    prompt = _observation_text(observation)
    if "prompt" not in ignore and record.prompt and prompt != record.prompt:
        return diverge(0, "prompt", record.prompt, prompt, _first_line_diff(record.prompt, prompt))

    final_info: dict[str, Any] = {}
    reseeds = {int(turn): int(seed) for turn, seed in getattr(record, "branch_reseeds", None) or []}
    for index, step in enumerate(record.steps):
        if index in reseeds:  # a tree episode (agentgym.tree): its env RNG was reseeded at this branch
            from agentgym.snapshot import restore_env

            restore_env(env, env.unwrapped.snapshot(), seed=reseeds[index])
        observation, reward, terminated, truncated, info = env.step(_action_of(step))
        counter[0] += 1
        replayed = {
            "observation": _observation_text(observation),
            "components": dict(info.get("components", {})),
            "action_valid": bool(info.get("action_valid", True)),
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        }
        for name in STEP_FIELDS:
            if name in ignore:
                continue
            recorded_value = getattr(step, name)
            if name == "components":
                recorded_value = {k: v for k, v in recorded_value.items() if k not in ignore}
                replayed[name] = {k: v for k, v in replayed[name].items() if k not in ignore}
            if not _same(recorded_value, replayed[name], tol):
                detail = ""
                if name == "observation":
                    detail = _first_line_diff(recorded_value, replayed[name])
                elif name == "components":
                    detail = _component_diff(recorded_value, replayed[name], tol)
                return diverge(step.turn, name, recorded_value, replayed[name], detail)
        if terminated or truncated:
            final_info = info
            break
    else:
        if record.steps and (record.terminated or record.truncated):
            last = record.steps[-1].turn
            return diverge(last, "episode_end", "ended", "still running")
    if not record.steps:
        return None

    end = -1
    checks: list[tuple[str, Any, Any]] = [
        ("reward_invalid", record.reward_invalid, bool(final_info.get("reward_invalid", False))),
        (
            "trajectory_components",
            {k: v for k, v in record.trajectory_components.items() if k not in ignore},
            {k: v for k, v in dict(final_info.get("trajectory_components", {})).items() if k not in ignore},
        ),
    ]
    from agentgym.replay.filters import outcome_label

    replayed_record = EpisodeRecord(
        env_id=record.env_id,
        task_id=record.task_id,
        trajectory_components=dict(final_info.get("trajectory_components", {})),
    )
    checks.append(("outcome", outcome_label(record), outcome_label(replayed_record)))
    recorded_returns = _returns(record.report)
    replayed_returns = _returns(final_info.get("report"))
    if recorded_returns is not None and replayed_returns is not None:
        for key in ("return", "return_gated", "return_direct", "return_outcome"):
            checks.append((key, recorded_returns[key], replayed_returns[key]))
    for name, recorded_value, replayed_value in checks:
        if name in ignore:
            continue
        if not _same(recorded_value, replayed_value, tol):
            detail = ""
            if name == "trajectory_components":
                detail = _component_diff(recorded_value, replayed_value, tol)
            return diverge(end, name, recorded_value, replayed_value, detail)
    return None


def reexec_result(
    record: EpisodeRecord,
    env_factory: EnvFactory | None = None,
    *,
    env: gym.Env | None = None,
    tol: float = 1e-9,
    ignore: Iterable[str] = (),
) -> ReexecResult:
    """Re-execute one episode; `env` (reused, not closed) wins over `env_factory` (made and closed)."""
    ignored = frozenset(ignore)
    result = ReexecResult(record)
    owned = env is None
    counter = [0]
    try:
        if env is None:
            env = (env_factory or default_env_factory)(record)
        # a record may carry the exact reset options (extra field `reset_options`); else force the task
        recorded_options = getattr(record, "reset_options", None)
        options = dict(recorded_options) if isinstance(recorded_options, dict) else {}
        if not isinstance(recorded_options, dict) and record.task_id:
            options["task_id"] = record.task_id
        divergence = _replay_once(env, record, options, tol=tol, ignore=ignored, counter=counter)
        if divergence is not None and not isinstance(recorded_options, dict) and "task_id" in options:
            # the env may have drawn the task itself (consuming its RNG): try that reset path once
            unforced = {k: v for k, v in options.items() if k != "task_id"}
            retry_counter = [0]
            try:
                retry = _replay_once(env, record, unforced, tol=tol, ignore=ignored, counter=retry_counter)
            except Exception:  # an env that needs a task id: keep the first answer
                retry = divergence
            if retry is None:
                result.notes.append(
                    "reproduced with the env drawing the task from the seed (no task_id forced)"
                )
                divergence = None
                counter = retry_counter
        result.divergence = divergence
    except Exception as exc:  # the replay itself crashed: report it, never raise from a batch
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if owned and env is not None:
            env.close()
    result.turns_replayed = counter[0]
    return result


def reexec(
    record: EpisodeRecord,
    env_factory: EnvFactory | None = None,
    *,
    tol: float = 1e-9,
    ignore: Iterable[str] = (),
) -> Divergence | None:
    """Replay `record` against a fresh env; the first divergence, or None when it reproduces.

    Raises the replay's own exception if the env crashed (use `reexec_result` to get it as data).
    `ignore` names fields or component names to leave out of the comparison (e.g. a timing
    component); `tol` is the relative/absolute tolerance for numbers.
    """
    result = reexec_result(record, env_factory, tol=tol, ignore=ignore)
    if result.error is not None:
        raise RuntimeError(f"re-execution of episode {record.episode_id} failed: {result.error}")
    return result.divergence


def reexec_many(
    records: Sequence[EpisodeRecord],
    env_factory: EnvFactory | None = None,
    *,
    tol: float = 1e-9,
    ignore: Iterable[str] = (),
    reuse_envs: bool = True,
    on_result: Callable[[int, ReexecResult], None] | None = None,
) -> list[ReexecResult]:
    """Re-execute many episodes, reusing one env per (env id, kwargs, spec) when `reuse_envs`."""
    factory = env_factory or default_env_factory
    envs: dict[str, gym.Env] = {}
    results = []
    try:
        for index, record in enumerate(records):
            env = None
            if reuse_envs:
                key = json.dumps(
                    [record.env_id, record.env_kwargs, record.reward_spec], sort_keys=True, default=str
                )
                if key not in envs:
                    try:
                        envs[key] = factory(record)
                    except Exception as exc:
                        result = ReexecResult(
                            record, error=f"could not make env: {type(exc).__name__}: {exc}"
                        )
                        results.append(result)
                        if on_result is not None:
                            on_result(index, result)
                        continue
                env = envs[key]
            result = reexec_result(record, factory, env=env, tol=tol, ignore=ignore)
            results.append(result)
            if on_result is not None:
                on_result(index, result)
    finally:
        for env in envs.values():
            env.close()
    return results
