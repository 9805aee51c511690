"""Branching rollouts: `run_tree` grows K continuations from chosen turns of an episode.

Why: Monte-Carlo progress rewards (`agentgym.rewards.progress`), process labels inferred from
rollouts and sibling-relative advantages (`baselines/train/tree_advantage.py`) need several
continuations of one episode prefix. `run_tree` plays a root episode; at each turn in
`branch_turns` it takes a snapshot (`AgentEnv.snapshot`), and once the root has finished it restores
the env K times from each snapshot and lets the policy continue from the same conversation.

Every episode of a tree is an ordinary `EpisodeRecord` holding the whole episode (a child's first
`branch_turn` steps are copies of its parent's, marked `shared_prefix`), so every reader, exporter
and re-scorer works unchanged; extra keys make the tree:

- `tree_id`: the root episode's id (also the records' `group_id`, so plain GRPO groups a tree);
- `parent_episode_id`: the episode it branched from (None for the root);
- `branch_turn`: how many turns it shares with its parent (the snapshot was taken after that turn;
  0 = right after reset); None for the root;
- `branch_index`: 0..K-1 among the siblings of one branch point;
- `branch_seed`: the seed the env's RNG was reseeded with at the branch (siblings draw different
  env randomness);
- `snapshot`: how the env was restored (`mechanism`, `exact`, `caveat`);
- `branch_reseeds`: `[[turn, seed], ...]` every reseed along its lineage, root first, so that
  `agentgym replay --reexec` can replay the whole episode from reset (reseeding after those turns).

With `depth` > 1 a child branches again at the later turns of `branch_turns` (K more each), so the
tree grows K + K^2 + ... episodes per branch turn; the default depth 1 branches the root only.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from agentgym.policy import Policy
from agentgym.rollout import EpisodeJob, EpisodeRunner
from agentgym.snapshot import EnvSnapshot, restore_env
from agentgym.trajectory import EpisodeRecord

#: the extra record keys of a tree episode
TREE_KEYS = ("tree_id", "parent_episode_id", "branch_turn", "branch_index", "branch_seed", "snapshot",
             "branch_reseeds")


@dataclass
class _BranchPoint:
    """What a child needs to continue from a turn of its parent."""

    turn: int
    snapshot: EnvSnapshot
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    parent: EpisodeRecord
    depth: int


def parse_branch(text: str) -> tuple[int, list[int]]:
    """`K@TURNS` (e.g. ``4@1,3``): K continuations from each listed turn. ValueError on bad input."""
    k_text, sep, turns_text = text.partition("@")
    if not sep:
        raise ValueError(f"--branch must be K@TURNS (e.g. 4@1,3), got {text!r}")
    try:
        k = int(k_text)
        turns = sorted({int(t) for t in turns_text.split(",") if t.strip()})
    except ValueError:
        raise ValueError(f"--branch must be K@TURNS with integers (e.g. 4@1,3), got {text!r}") from None
    if k < 1 or not turns or min(turns) < 0:
        raise ValueError(f"--branch K@TURNS needs K >= 1 and turns >= 0 (e.g. 4@1,3), got {text!r}")
    return k, turns


def branch_seed(seed: int, turn: int, index: int, lineage: Sequence[Sequence[int]] = ()) -> int:
    """The env reseed of one continuation: depends on the tree's seed, the turn, the sibling index
    and the parent's own branches (`lineage`, its `branch_reseeds`), so continuations differ and
    reruns repeat."""
    text = json.dumps([seed, turn, index, [list(map(int, pair)) for pair in lineage]])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % (2**31)


class TreeRunner:
    """Plays one tree in one env, sequentially (the env is restored between episodes)."""

    def __init__(
        self,
        env: gym.Env,
        policy: Policy,
        *,
        env_id: str,
        env_kwargs: dict[str, Any] | None,
        branch_turns: Sequence[int],
        k: int,
        depth: int = 1,
        seed: int = 0,
        task_id: str | None = None,
        run_id: str | None = None,
        options: dict[str, Any] | None = None,
        sample_offset: int = 0,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not branch_turns or min(branch_turns) < 0:
            raise ValueError(f"branch_turns must list turns >= 0, got {list(branch_turns)}")
        self.env = env
        self.policy = policy
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.branch_turns = sorted(set(int(t) for t in branch_turns))
        self.k = int(k)
        self.depth = int(depth)
        self.seed = int(seed)
        self.task_id = task_id
        self.run_id = run_id
        self.options = options
        self.sample_offset = sample_offset
        self.records: list[EpisodeRecord] = []

    def run(self) -> list[EpisodeRecord]:
        job = EpisodeJob(task_id=self.task_id, seed=self.seed, sample_index=self.sample_offset)
        runner = self._runner(job)
        runner.begin()
        root = runner.record
        tree_id = root.episode_id
        root.group_id = tree_id
        _mark(root, tree_id=tree_id, parent=None, turn=None, index=None, seed=None, snapshot=None, reseeds=[])
        pending = self._play(runner, depth=0)
        while pending:
            point = pending.pop(0)
            for index in range(self.k):
                pending.extend(self._continue(point, index, tree_id))
        return self.records

    # ------------------------------------------------------------------ internals
    def _runner(self, job: EpisodeJob) -> EpisodeRunner:
        return EpisodeRunner(
            self.env, self.policy, env_id=self.env_id, env_kwargs=self.env_kwargs, job=job,
            run_id=self.run_id, options=self.options,
        )

    def _play(self, runner: EpisodeRunner, depth: int) -> list[_BranchPoint]:
        """Play `runner`'s episode to the end, snapshotting at the branch turns; returns the points."""
        points: list[_BranchPoint] = []
        start_turn = len(runner.record.steps)
        done = False
        try:
            while not done:
                turn = len(runner.record.steps)
                if depth < self.depth and turn in self.branch_turns and turn > start_turn - (depth == 0):
                    points.append(
                        _BranchPoint(
                            turn=turn, snapshot=self.env.unwrapped.snapshot(),
                            messages=copy.deepcopy(runner.messages), tools=copy.deepcopy(runner.tools),
                            parent=runner.record, depth=depth + 1,
                        )
                    )
                started = time.perf_counter()
                output = runner.policy.act(runner.messages, runner.tools)
                done = runner.advance(output, time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - recorded as a crash (masked), as run_episode does
            runner.fail(exc)
            points = []  # a crashed episode is not branched from
        self.records.append(runner.finish())
        return points

    def _continue(self, point: _BranchPoint, index: int, tree_id: str) -> list[_BranchPoint]:
        parent = point.parent
        env_seed = branch_seed(self.seed, point.turn, index, getattr(parent, "branch_reseeds", []))
        # the job's seed forks the policy (siblings sample independently); the record keeps the tree's
        job = EpisodeJob(
            task_id=self.task_id, seed=env_seed, group_id=tree_id,
            sample_index=self.sample_offset + len(self.records),
        )
        runner = self._runner(job)
        record = runner.record
        record.seed = self.seed
        for key in ("task_id", "task", "prompt", "system_prompt", "tools", "reset_options"):
            setattr(record, key, copy.deepcopy(getattr(parent, key)))
        record.steps = [s.model_copy(deep=True) for s in parent.steps[: point.turn]]
        for step in record.steps:
            step.policy_meta = {**step.policy_meta, "shared_prefix": True}
        _mark(record, tree_id=tree_id, parent=parent.episode_id, turn=point.turn, index=index, seed=env_seed,
              snapshot=point.snapshot.describe(),
              reseeds=[*getattr(parent, "branch_reseeds", []), [point.turn, env_seed]])
        runner.messages = copy.deepcopy(point.messages)
        runner.tools = copy.deepcopy(point.tools)
        try:
            _, info = restore_env(self.env, point.snapshot, seed=env_seed)
        except Exception as exc:  # noqa: BLE001 - a failed restore is an infrastructure failure of this child
            self.records.append(runner.fail(exc))
            return []
        hook = getattr(runner.policy, "on_branch", None)
        if hook is not None:
            hook(self.env, info, point.turn)
        runner.started = time.perf_counter()
        return self._play(runner, depth=point.depth)


def _mark(
    record: EpisodeRecord, *, tree_id: str, parent: str | None, turn: int | None, index: int | None,
    seed: int | None, snapshot: dict[str, Any] | None, reseeds: list[list[int]],
) -> None:
    values = {"tree_id": tree_id, "parent_episode_id": parent, "branch_turn": turn, "branch_index": index,
              "branch_seed": seed, "snapshot": snapshot, "branch_reseeds": reseeds}
    for key, value in values.items():
        setattr(record, key, value)


def run_tree(
    env_id: str,
    policy: Policy,
    *,
    branch_turns: Sequence[int],
    k: int,
    depth: int = 1,
    seed: int = 0,
    task_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    env: gym.Env | None = None,
    run_id: str | None = None,
    options: dict[str, Any] | None = None,
) -> list[EpisodeRecord]:
    """Play a root episode and `k` continuations from each of `branch_turns` (see the module
    docstring); returns the tree's records, the root first. `env`: reuse an env made for `env_id`
    with `env_kwargs` (it is not closed); otherwise one is made and closed here."""
    owned = env is None
    env = env if env is not None else gym.make(env_id, **dict(env_kwargs or {}))
    try:
        if not hasattr(env.unwrapped, "snapshot"):
            raise ValueError(f"{env_id} is not an agentgym env: it has no snapshot()")
        return TreeRunner(
            env, policy, env_id=env_id, env_kwargs=env_kwargs, branch_turns=branch_turns, k=k, depth=depth,
            seed=seed, task_id=task_id, run_id=run_id, options=options,
        ).run()
    finally:
        if owned:
            env.close()


def run_trees(
    env_id: str,
    policy: Policy,
    jobs: Sequence[EpisodeJob],
    *,
    branch_turns: Sequence[int],
    k: int,
    depth: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    make_env: Callable[[], gym.Env] | None = None,
    run_id: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """One tree per job (its task and seed), in one env; the trees of one `group_id` share the
    group (so sibling and group statistics meet), every record keeping its `tree_id`."""
    env = make_env() if make_env is not None else gym.make(env_id, **dict(env_kwargs or {}))
    records: list[EpisodeRecord] = []
    try:
        for job in jobs:
            tree = TreeRunner(
                env, policy, env_id=env_id, env_kwargs=env_kwargs, branch_turns=branch_turns, k=k, depth=depth,
                seed=job.seed, task_id=job.task_id, run_id=run_id,
                sample_offset=job.sample_index * 1000,
            ).run()
            if job.group_id is not None:
                for record in tree:
                    record.group_id = job.group_id
            for record in tree:
                if on_episode is not None:
                    on_episode(record)
            records.extend(tree)
    finally:
        env.close()
    return records


def tree_episodes(k: int, branch_turns: Sequence[int], depth: int = 1) -> int:
    """How many episodes one tree holds when no episode ends before a branch turn (an upper bound)."""
    turns = sorted(set(branch_turns))
    total = 1

    def children(after: int, level: int) -> int:
        if level > depth:
            return 0
        count = 0
        for turn in turns:
            if turn >= after:
                count += k * (1 + children(turn + 1, level + 1))
        return count

    return total + children(0, 1)
