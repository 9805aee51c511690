"""The family conformance check: does an env keep the agentgym contract?

`check_conformance("agentgym/X-v0")` (CLI: `agentgym check ENV_ID`) makes the env and runs, in
order, each check below; every failure names its reason. It needs no model: the oracle plays the
env's own gold solution, and the random policy draws text and tool calls from a seeded RNG.

1. gymnasium: `gymnasium.utils.env_checker.check_env` on the unwrapped env.
2. declared: the env is an `AgentEnv`; it declares an `Outcome` whose component is a declared
   trajectory component (and whose success labels are among its labels); a declared checklist
   component exists.
3. spec bound: the env's reward spec reads only declared components (also checked when the env is
   built) under each mode.
4. oracle: on `episodes` tasks the oracle's episodes end, are valid and succeed.
5. random: the random policy's success rate is below the oracle's (a grader that pays everyone
   fails here).
6. no-op: a policy that does nothing (it replies "I will do nothing." every turn, calling no
   tool) scores the minimum: its episodes are valid and do not succeed, the top gate of the spec
   stays closed (every level below it has multiplier 0), and its gated return, penalties aside,
   is at most that of every oracle and random episode. "Penalties aside" means each episode is
   re-scored with `penalties_bypass` off: the no-op's own penalties (a format error every turn
   where text is no action) can only lower it, and another episode's penalties must not make
   doing nothing look better than trying. The literal gated returns are in the detail.
7. emitted: every declared component was emitted by the family in some oracle or random episode,
   and nothing undeclared was emitted.
8. re-execution: replaying the first oracle episode's actions in a fresh env reproduces it.
9. restore reproduces: a snapshot taken halfway through the first oracle episode, restored into two
   fresh envs, gives the same continuation (observations, rewards, components) for the same
   actions in each. A family that declares `snapshot_exact = False` passes with its caveat and
   any divergence in the detail instead of pretending.
"""

from __future__ import annotations

import json
import random
import string
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from agentgym.env import CORE_COMPONENTS, AgentEnv
from agentgym.parsing import action_message
from agentgym.policy import PolicyOutput
from agentgym.rewards import MODES, RewardSpec
from agentgym.rewards.components import check_spec_components
from agentgym.trajectory import EpisodeRecord


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class ConformanceReport:
    env_id: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def add(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append(CheckResult(name, passed, detail))
        return passed


class _Oracle:
    """Plays the env's gold solution (read at episode start)."""

    name = "oracle"

    def __init__(self) -> None:
        self.plan: list[Any] = []

    def describe(self) -> dict[str, Any]:
        return {"name": "conformance-oracle"}

    def on_episode_start(self, env: Any, info: dict[str, Any]) -> None:
        plan = env.unwrapped.oracle_actions()
        if plan is None:
            raise ValueError(f"no oracle solution for task {info.get('task_id')!r}")
        self.plan = list(plan)

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        action = action_message(self.plan.pop(0)) if self.plan else "(oracle plan exhausted)"
        if isinstance(action, dict):
            return PolicyOutput(message={"role": "assistant", "content": "", **action})
        return PolicyOutput.from_text(action)


class _Random:
    """Seeded random actions: half plain text, half a random tool with schema-shaped arguments."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def describe(self) -> dict[str, Any]:
        return {"name": "conformance-random"}

    def _word(self) -> str:
        return "".join(self.rng.choice(string.ascii_lowercase) for _ in range(self.rng.randint(1, 8)))

    def _value(self, schema: Mapping[str, Any]) -> Any:
        if "enum" in schema:
            return self.rng.choice(list(schema["enum"]))
        kind = schema.get("type", "string")
        kind = self.rng.choice(kind) if isinstance(kind, list) else kind
        return {
            "integer": lambda: self.rng.randint(0, 10),
            "number": lambda: round(self.rng.uniform(0, 10), 2),
            "boolean": lambda: self.rng.random() < 0.5,
            "array": lambda: [self._value(schema.get("items", {})) for _ in range(self.rng.randint(0, 2))],
            "object": lambda: {},
            "null": lambda: None,
        }.get(kind, self._word)()

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        if not tools or self.rng.random() < 0.5:
            return PolicyOutput.from_text(" ".join(self._word() for _ in range(self.rng.randint(1, 6))))
        function = self.rng.choice(tools)["function"]
        parameters = function.get("parameters", {})
        arguments = {name: self._value(p) for name, p in parameters.get("properties", {}).items()
                     if name in parameters.get("required", []) or self.rng.random() < 0.5}
        return PolicyOutput.from_text(
            f"<tool_call>{json.dumps({'name': function['name'], 'arguments': arguments})}</tool_call>"
        )


class _NoOp:
    """Does nothing: the same plain-text reply, calling no tool, every turn."""

    name = "noop"
    TEXT = "I will do nothing."

    def describe(self) -> dict[str, Any]:
        return {"name": "conformance-noop"}

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> PolicyOutput:
        return PolicyOutput.from_text(self.TEXT)


def _without_bypass(spec: RewardSpec) -> RewardSpec:
    """The spec with every gate's `penalties_bypass` off (penalties count only behind open gates)."""
    levels = [
        lv.model_copy(update={"gate": lv.gate.model_copy(update={"penalties_bypass": False})})
        if lv.gate is not None and lv.gate.penalties_bypass else lv
        for lv in spec.levels
    ]
    return RewardSpec.model_validate({**spec.model_dump(), "levels": [lv.model_dump() for lv in levels]})


def _gated(spec: RewardSpec, record: EpisodeRecord) -> float:
    """The record's gated return under `spec`, re-scored from its stored components."""
    steps = [dict(s.components) for s in record.steps]
    noise_key = record.report.noise_key if record.report is not None else None
    return spec.score(steps, record.trajectory_components, mode="gated", noise_key=noise_key).return_gated


def _check_noop(report: ConformanceReport, spec: RewardSpec, noop_records: list[EpisodeRecord],
                others: list[EpisodeRecord]) -> None:
    problems: list[str] = []
    for r in noop_records:
        where = f"no-op episode on {r.task_id}"
        if r.error or r.reward_invalid or r.report is None:
            problems.append(f"{where}: " + (r.error or "reward invalid"))
            continue
        if r.success:
            problems.append(f"{where} succeeded")
        gates = [lv for lv in r.report.levels if lv.gate_threshold is not None]
        if gates:
            top = r.report.levels.index(gates[0])
            if gates[0].gate_open:
                problems.append(f"{where} opened the gate of level {gates[0].name!r} "
                                f"(value {gates[0].value:g} >= threshold {gates[0].gate_threshold:g})")
            elif any(lv.multiplier > 0.0 for lv in r.report.levels[top + 1:]):
                problems.append(f"{where}: a level below the closed gate of {gates[0].name!r} still counts")
    valid = [r for r in noop_records if not (r.error or r.reward_invalid or r.report is None)]
    scored = [r for r in others if not (r.error or r.reward_invalid)]
    if valid and scored:
        plain = _without_bypass(spec)
        noop_best = max(_gated(plain, r) for r in valid)
        floor = min(_gated(plain, r) for r in scored)
        literal = (max(r.report.return_gated for r in valid),  # type: ignore[union-attr]
                   min(_gated(spec, r) for r in scored))
        if noop_best > floor + 1e-9:
            problems.append(f"the no-op's gated return, penalties aside, is {noop_best:g}, above the lowest "
                            f"oracle/random episode's {floor:g} (with penalties: {literal[0]:g} vs {literal[1]:g})")
        detail = (f"no-op gated return {literal[0]:g} (penalties aside {noop_best:g}); lowest oracle/random "
                  f"{literal[1]:g} (penalties aside {floor:g})")
    else:
        detail = ""
    if not any(lv.gate is not None for lv in spec.levels):
        detail = (detail + "; " if detail else "") + "the spec has no gate"
    report.add("no-op scores the minimum", bool(noop_records) and not problems,
               "; ".join(problems[:3]) if problems else detail)


def _play(make: Callable[[], gym.Env], env: gym.Env, policy: Any, env_id: str, task_id: str | None,
          seed: int, env_kwargs: dict[str, Any]) -> tuple[EpisodeRecord, set[str], set[str]]:
    from agentgym.rollout import run_episode

    record = run_episode(env, policy, seed=seed, task_id=task_id, env_id=env_id, env_kwargs=env_kwargs, catch=True)
    unwrapped = env.unwrapped
    return record, set(unwrapped.emitted_names), set(unwrapped.undeclared_emissions)


def _check_restore(report: ConformanceReport, make: Callable[[], gym.Env], record: EpisodeRecord) -> None:
    from agentgym.snapshot import verify_restore

    actions = [step.message or step.action for step in record.steps]
    try:
        result = verify_restore(make, actions, seed=record.seed, options=record.reset_options)
    except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
        report.add("restore reproduces", False, f"{type(exc).__name__}: {exc}")
        return
    how = f"{result.mechanism}, snapshot after turn {result.turn}, {result.restores} restores"
    if result.exact:
        report.add("restore reproduces", result.divergence is None, result.divergence or how)
    else:
        report.add("restore reproduces", True, f"not exact (declared): {result.caveat}; {how}"
                   + (f"; {result.divergence}" if result.divergence else "; no divergence this time"))


def check_conformance(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    episodes: int = 3,
    random_episodes: int | None = None,
    seed: int = 0,
    reexec: bool = True,
) -> ConformanceReport:
    """Run every check on `env_id` (see the module docstring). `env_kwargs` defaults to the
    family's `check_kwargs` for the id."""
    import agentgym  # noqa: F401  (registers the installed families)
    from agentgym.family import env_entries

    report = ConformanceReport(env_id)
    if env_kwargs is None:
        entry = env_entries().get(env_id.rpartition(":")[2])  # "module:id" names the same entry
        env_kwargs = dict(entry[1].check_kwargs) if entry is not None else {}
    kwargs = dict(env_kwargs)

    def make() -> gym.Env:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gym.make(env_id, **kwargs)

    try:
        env = make()
    except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
        report.add("make", False, f"gym.make({env_id!r}) failed: {type(exc).__name__}: {exc}")
        return report
    try:
        _run_checks(report, env, make, env_id, kwargs, episodes, random_episodes or 2 * episodes, seed, reexec)
    except Exception as exc:  # noqa: BLE001
        report.add("crash", False, f"{type(exc).__name__}: {exc}")
    finally:
        env.close()
    return report


def _run_checks(report: ConformanceReport, env: gym.Env, make: Callable[[], gym.Env], env_id: str,
                kwargs: dict[str, Any], episodes: int, random_episodes: int, seed: int, reexec: bool) -> None:
    unwrapped = env.unwrapped
    if not report.add("agentgym env", isinstance(unwrapped, AgentEnv),
                      f"{type(unwrapped).__name__} is not an agentgym.AgentEnv"):
        return

    # 1. gymnasium's own checker, on a separate instance (it resets with its own seeds)
    from gymnasium.utils.env_checker import check_env

    checked = make()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(checked.unwrapped, skip_render_check=True)
        report.add("gymnasium check_env", True)
    except Exception as exc:  # noqa: BLE001
        report.add("gymnasium check_env", False, f"{type(exc).__name__}: {exc}")
    finally:
        checked.close()

    # 2. declarations
    declared = unwrapped.declared
    outcome = unwrapped.outcome
    if outcome is None:
        report.add("outcome declared", False, f"{type(unwrapped).__name__}.outcome is None: declare an Outcome")
    else:
        component = declared.get(outcome.component)
        problems = []
        if component is None or component.scope != "trajectory":
            problems.append(f"outcome component {outcome.component!r} is not a declared trajectory component")
        elif outcome.success and not set(outcome.success) <= set(component.labels):
            problems.append(f"success labels {sorted(set(outcome.success) - set(component.labels))} are not "
                            f"labels of {outcome.component!r} {list(component.labels)}")
        if outcome.checklist is not None and outcome.checklist not in declared:
            problems.append(f"checklist component {outcome.checklist!r} is not declared")
        report.add("outcome declared", not problems, "; ".join(problems))

    # 3. the spec is bound to declared components, under every mode
    try:
        for mode in MODES:
            check_spec_components(unwrapped.reward_spec.with_mode(mode), declared, owner=type(unwrapped).__name__)
        report.add("spec bound", True)
    except Exception as exc:  # noqa: BLE001
        report.add("spec bound", False, str(exc))

    # 4-5. oracle and random episodes
    source = unwrapped.tasks
    task_ids: list[str | None] = list(source.ids()[:episodes]) if source is not None else [None] * episodes
    emitted: set[str] = set()
    undeclared: set[str] = set()
    oracle_records = []
    for index, task_id in enumerate(task_ids):
        record, names, bad = _play(make, env, _Oracle(), env_id, task_id, seed + index, kwargs)
        oracle_records.append(record)
        emitted |= names
        undeclared |= bad
    failed = [f"{r.task_id}: " + (r.error or ("reward invalid" if r.reward_invalid else
              f"outcome {r.trajectory_components.get(outcome.component) if outcome else None!r}"))
              for r in oracle_records if r.error or r.reward_invalid or not getattr(r, "success", False)]
    oracle_rate = sum(bool(getattr(r, "success", False)) for r in oracle_records) / max(1, len(oracle_records))
    report.add("oracle succeeds", bool(oracle_records) and not failed,
               f"{len(failed)}/{len(oracle_records)} oracle episodes did not succeed: " + "; ".join(failed[:3]))

    random_records = []
    for index in range(random_episodes):
        task_id = task_ids[index % len(task_ids)] if task_ids else None
        record, names, bad = _play(make, env, _Random(seed * 7919 + index), env_id, task_id, seed + index, kwargs)
        random_records.append(record)
        emitted |= names
        undeclared |= bad
    crashed = [r.error for r in random_records if r.error]
    random_rate = sum(bool(getattr(r, "success", False)) for r in random_records) / max(1, len(random_records))
    report.add("random fails", not crashed and random_rate < oracle_rate,
               (f"random episodes crashed: {crashed[0]}" if crashed else
                f"random success rate {random_rate:.2f} is not below the oracle's {oracle_rate:.2f}"))

    # 6. a no-op policy scores the minimum: no gate opens, nothing pays more than trying
    noop_records = []
    for index, task_id in enumerate(task_ids):
        record, _, bad = _play(make, env, _NoOp(), env_id, task_id, seed + index, kwargs)
        noop_records.append(record)
        undeclared |= bad
    _check_noop(report, unwrapped.reward_spec, noop_records, oracle_records + random_records)

    # 7. every declared component emitted; nothing undeclared
    family_declared = set(declared) - {c.name for c in CORE_COMPONENTS}
    if unwrapped.judges is not None:
        family_declared -= {c.name for c in unwrapped.judges.components()}
    missing = sorted(family_declared - emitted)
    problems = []
    if missing:
        problems.append(f"declared but never emitted in {len(oracle_records) + len(random_records)} episodes: "
                        f"{', '.join(missing)}")
    if undeclared:
        problems.append(f"emitted but not declared: {', '.join(sorted(undeclared))}")
    report.add("components emitted", not problems, "; ".join(problems))

    # 8. re-execution of the first oracle episode
    if reexec and oracle_records and not oracle_records[0].error:
        from agentgym.replay.reexec import reexec_result

        result = reexec_result(oracle_records[0], lambda record: make())
        detail = result.error or (result.divergence.describe() if result.divergence else "")
        report.add("re-execution reproduces", result.error is None and result.divergence is None, detail)

    # 9. snapshot / restore of the first oracle episode
    if reexec and oracle_records and not oracle_records[0].error and oracle_records[0].steps:
        _check_restore(report, make, oracle_records[0])
