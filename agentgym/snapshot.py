"""`EnvSnapshot`: the saved state of an episode in progress, and the contract of `snapshot`/`restore`.

Why: progress rewards (the change in a state's estimated success probability), process labels
inferred from rollouts, tree search and sibling-relative advantages all branch from the middle of
an episode. `AgentEnv.snapshot()` captures an episode after some turn and `AgentEnv.restore(snap)`
puts any env of the same class and configuration into that state; restoring N envs from one
snapshot gives N independent episodes that continue from the same point.

A snapshot has two parts:

- the core's own episode state (task, turn, transcript, reward tracker, repeated-action memory,
  emitted component names, the env's RNG state), saved by `AgentEnv` for every family;
- the family's state, by one of two mechanisms (`mechanism`):
  - ``"state"``: the family's `save_state()` returned its world (a copy of the SQLite database,
    the episode's counters, tars of a sandbox's writable places...) and `load_state(state)` puts
    it back;
  - ``"replay"``: the family's `save_state` returns None (the default); the core records the reset seed, options and
    every action since reset, and `restore` replays them on a fresh episode (a web page opened
    anew and driven by the same actions).

`exact` says whether the family declares that a restore reproduces the original continuation
(same observations and components for the same actions); `caveat` says what is not carried when
it does not (e.g. background processes of a shell). The conformance check "restore reproduces"
holds a family to what it declares.

Snapshots are plain Python objects held in memory (they may hold open handles such as an
in-memory SQLite copy); they are not serialised into records. Tree records name their parent
episode and branch turn instead (`agentgym.tree`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Mechanism = Literal["state", "replay"]


@dataclass(frozen=True)
class ReplayPrefix:
    """What the core replays to rebuild an episode: the reset and every action since."""

    seed: int | None
    options: dict[str, Any]
    actions: tuple[Any, ...]


@dataclass(frozen=True)
class EnvSnapshot:
    """One episode's state after `turn` turns (see the module docstring)."""

    env_class: str  # module:qualname of the env that took it; restore refuses another class
    config_key: str  # the env's configuration (max_turns, reward spec, emission); restore refuses another
    turn: int
    mechanism: Mechanism
    exact: bool
    caveat: str
    core: dict[str, Any] = field(repr=False)
    family_state: Any = field(default=None, repr=False)
    replay: ReplayPrefix | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (for records and logs)."""
        return {
            "env_class": self.env_class,
            "turn": self.turn,
            "mechanism": self.mechanism,
            "exact": self.exact,
            "caveat": self.caveat,
        }


class SnapshotError(RuntimeError):
    """A snapshot cannot be taken or restored here (no episode in progress, another env class...)."""


def restore_env(env: Any, snapshot: EnvSnapshot, *, seed: int | None = None) -> tuple[str, dict[str, Any]]:
    """`restore` through Gymnasium wrappers: the env (as `gym.make` returns it) is restored and its
    order-enforcing wrapper told that an episode is in progress, so `step` works without `reset`."""
    result = env.unwrapped.restore(snapshot, seed=seed)
    layer = env
    while layer is not env.unwrapped:
        if hasattr(layer, "_has_reset"):  # OrderEnforcing
            layer._has_reset = True
        if getattr(layer, "checked_step", True) is False and hasattr(layer, "_previous_data"):
            layer._previous_data = result  # PassiveEnvChecker compares the first step with the "reset"
        layer = layer.env
    return result


@dataclass
class RestoreCheck:
    """What `verify_restore` found: the first divergence (None when restores reproduce)."""

    turn: int
    mechanism: str
    exact: bool
    caveat: str
    restores: int
    divergence: str | None = None


def _comparable(step: tuple[Any, ...]) -> tuple[Any, ...]:
    observation, reward, terminated, truncated, info = step
    report = info.get("report")
    return (
        observation, round(float(reward), 9), bool(terminated), bool(truncated),
        {k: v for k, v in (info.get("components") or {}).items()},
        dict(info.get("trajectory_components") or {}),
        None if report is None else round(float(report.return_), 9),
    )


def verify_restore(
    make_env: Any, actions: list[Any], *, seed: int | None = 0, options: dict[str, Any] | None = None,
    turn: int | None = None, restores: int = 2,
) -> RestoreCheck:
    """Play `actions` from `reset(seed, options)` in a fresh env, snapshotting after `turn` turns
    (default: half of them); then restore `restores` fresh envs from the snapshot, interleaving
    their steps (so one restore's actions must not leak into another), replay the same remaining
    actions in each and compare observations, rewards, flags, step and trajectory components and
    the return with the original continuation."""
    if not actions:
        raise ValueError("verify_restore needs at least one action")
    turn = len(actions) // 2 if turn is None else turn
    original = make_env()
    try:
        original.reset(seed=seed, options=dict(options or {}))
        for action in actions[:turn]:
            original.step(action)
        snap = original.unwrapped.snapshot()
        expected = []
        for action in actions[turn:]:
            result = original.step(action)
            expected.append(_comparable(result))
            if result[2] or result[3]:
                break
    finally:
        original.close()
    check = RestoreCheck(turn=turn, mechanism=snap.mechanism, exact=snap.exact, caveat=snap.caveat,
                         restores=restores)
    envs = [make_env() for _ in range(restores)]
    try:
        for env in envs:
            restore_env(env, snap)
        for index, action in enumerate(actions[turn:turn + len(expected)]):
            for which, env in enumerate(envs):
                got = _comparable(env.step(action))
                if got != expected[index]:
                    fields = ("observation", "reward", "terminated", "truncated", "components",
                              "trajectory components", "return")
                    where = next(f for f, a, b in zip(fields, got, expected[index], strict=True) if a != b)
                    check.divergence = (f"restore {which + 1} diverged at turn {turn + index + 1} ({where}): "
                                        f"{str(got[fields.index(where)])[:160]!r} != "
                                        f"{str(expected[index][fields.index(where)])[:160]!r}")
                    return check
    finally:
        for env in envs:
            env.close()
    return check
