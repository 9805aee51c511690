"""Running agents in envs: one episode, or many with grouping and bounded concurrency.

`run_episode` is the agent loop: it keeps the conversation (OpenAI messages), asks the policy for
each turn, steps the env, and returns an `EpisodeRecord` with token ids and logprobs when the
policy provides them. `arun_episodes` / `run_episodes` run a plan of episodes (G samples per task
for GRPO-style training) with at most `concurrency` in flight. Finished episodes are appended to a
trajectory file as they complete, and a rerun skips the episodes the file already holds (resume).

Three ways to run a plan, with the same jobs, records, grouping and resume:
- direct: concurrency 1 with a synchronous policy plays the episodes in a plain loop (no event
  loop, no threads), so the engine costs nothing over calling `run_episode` yourself;
- local (asyncio): many episodes in flight in one process; an env or sync-policy call runs in a
  thread only while it is slow: calls that keep finishing in about a millisecond run inline on
  the event loop, so fast envs pay no thread hop per step;
- process (`executor="process"`): worker processes each hold envs and a copy of the policy and
  play whole episodes, for CPU-bound envs that threads cannot spread over cores
  (`agentgym.executors.process`); `executor="ray"` puts envs in Ray actors (many machines).

Every job may name its own env (`EpisodeJob.env_id` / `env_kwargs`), so one run can mix envs:
`run_jobs(jobs, policy)` plays such a plan; envs are pooled per (env id, env kwargs).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agentgym.errors import InfrastructureError
from agentgym.family import task_source
from agentgym.parsing import action_text
from agentgym.policy import Policy, PolicyOutput
from agentgym.trajectory import (
    EpisodeRecord,
    RunLock,
    StepRecord,
    TrajectoryWriter,
    TurnTokens,
    config_hash,
    end_reason_of,
    package_versions,
    read_trajectories,
)


@dataclass(frozen=True)
class EpisodeJob:
    """One planned episode. `env_id` / `env_kwargs` name its env when the run mixes envs (None:
    the run's env)."""

    task_id: str | None
    seed: int
    group_id: str | None = None
    sample_index: int = 0
    env_id: str | None = None
    env_kwargs: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    def env_key(self, env_id: str, env_kwargs: dict[str, Any] | None) -> EnvKey:
        """(env id, canonical kwargs JSON) of the env this job plays in, given the run's default."""
        if self.env_id is None:
            return env_key(env_id, env_kwargs)
        return env_key(self.env_id, self.env_kwargs)


EnvKey = tuple[str, str]


def env_key(env_id: str, env_kwargs: dict[str, Any] | None) -> EnvKey:
    """A hashable key of an env configuration (envs are pooled and reused per key)."""
    import json

    return env_id, json.dumps(env_kwargs or {}, sort_keys=True, default=repr)


def plan_jobs(
    task_ids: Sequence[str] | None,
    *,
    episodes: int | None = None,
    group_size: int = 1,
    seed: int = 0,
) -> list[EpisodeJob]:
    """Plan `episodes` groups (or one group per listed task) of `group_size` samples each.

    Samples of a group share the task and differ in seed, so env randomness varies within a group.
    With no task list, each group gets its own seed and the env picks the task from it.
    """
    rng = np.random.default_rng(seed)
    if task_ids is not None and episodes is None:
        chosen: list[str | None] = list(task_ids)
    elif task_ids:
        chosen = [task_ids[int(i)] for i in rng.permutation(len(task_ids))[: episodes or 0]]
        while len(chosen) < (episodes or 0):  # more episodes than tasks: draw with replacement
            chosen.append(task_ids[int(rng.integers(len(task_ids)))])
    else:
        chosen = [None] * (episodes or 1)
    jobs = []
    for group, task_id in enumerate(chosen):
        for sample in range(group_size):
            jobs.append(
                EpisodeJob(
                    task_id=task_id,
                    seed=seed + group * group_size + sample,
                    group_id=f"g{group}" if group_size > 1 else None,
                    sample_index=sample,
                )
            )
    return jobs


def _assistant_message(output: PolicyOutput) -> dict[str, Any]:
    """The env's action: the policy's message, with the completion-token count as `usage` when the
    policy reported tokens (the env's `cost_tokens`; recorded, so re-execution sees the same)."""
    message = dict(output.message)
    message.setdefault("role", "assistant")
    message.setdefault("content", "")
    if "usage" not in message:
        usage = output.meta.get("usage") if isinstance(output.meta, dict) else None
        count = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(count, int) and not isinstance(count, bool):
            message["usage"] = {"completion_tokens": count}  # as a server reported it
        elif output.completion_token_ids is not None:
            message["usage"] = {"completion_tokens": len(output.completion_token_ids)}
    return message


def _spans(value: Any) -> list[tuple[int, int]] | None:
    """An env's `information_spans` as (start, end) pairs; None when it gives none."""
    if value is None:
        return None
    try:
        return [(int(start), int(end)) for start, end in value]
    except (TypeError, ValueError):
        return None


def _conversation_update(
    message: dict[str, Any], observation: str, info: dict[str, Any]
) -> list[dict[str, Any]]:
    """Messages to append after a step: the assistant turn, then tool results or the observation."""
    results = info.get("tool_results") or []
    calls = info.get("tool_calls") or []
    assistant = {k: v for k, v in message.items() if k != "usage"}  # bookkeeping, not conversation
    if calls and len(results) == len(calls):
        assistant["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls
        ]
        tool_messages = [
            {"role": "tool", "tool_call_id": r["tool_call_id"], "name": r["name"], "content": r["content"]}
            for r in results
        ]
        return [assistant, *tool_messages]
    return [assistant, {"role": "user", "content": observation}]


class EpisodeRunner:
    """The agent loop for one episode, written once for the sync and async entry points."""

    def __init__(
        self,
        env: gym.Env,
        policy: Policy,
        *,
        env_id: str,
        env_kwargs: dict[str, Any] | None,
        job: EpisodeJob,
        run_id: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.env = env
        fork = getattr(policy, "for_episode", None)
        self.policy = fork(job.seed) if fork is not None else policy
        self.job = job
        self.options = dict(options or {})
        if job.task_id is not None:
            self.options["task_id"] = job.task_id
        unwrapped = env.unwrapped
        spec = getattr(unwrapped, "reward_spec", None)
        policy_info = (
            policy.describe() if hasattr(policy, "describe") else {"name": getattr(policy, "name", "?")}
        )
        self.record = EpisodeRecord(
            run_id=run_id,
            env_id=env_id,
            env_kwargs=dict(env_kwargs or {}),
            task_id=job.task_id or "",
            seed=job.seed,
            reset_options=dict(self.options),
            group_id=job.group_id,
            sample_index=job.sample_index,
            policy=policy_info,
            reward_spec=spec.model_dump(mode="json") if spec is not None else {},
            versions=package_versions(),
        )
        self.record.config_hash = config_hash(
            env_id, self.record.env_kwargs, self.record.reward_spec, policy_info
        )
        self.messages: list[dict[str, Any]] = []
        self.tools: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def begin(self) -> None:
        observation, info = self.env.reset(seed=self.job.seed, options=self.options)
        self.record.task_id = info.get("task_id", self.record.task_id)
        self.record.task = info.get("task", {})
        self.record.prompt = observation if isinstance(observation, str) else str(observation)
        self.record.system_prompt = info.get("system_prompt", "")
        self.record.tools = info.get("tools", [])
        self.tools = self.record.tools
        self.messages = []
        if self.record.system_prompt:
            self.messages.append({"role": "system", "content": self.record.system_prompt})
        self.messages.append({"role": "user", "content": self.record.prompt})
        hook = getattr(self.policy, "on_episode_start", None)
        if hook is not None:
            hook(self.env, info)

    def advance(self, output: PolicyOutput, policy_seconds: float) -> bool:
        """Step the env with the policy's output; returns True when the episode is over."""
        message = _assistant_message(output)
        env_started = time.perf_counter()
        if output.meta.get("stop"):  # the policy cannot continue (its context is full): truncate here
            _, _, _, _, info = self.env.unwrapped.truncate(f"policy stopped: {output.finish_reason or 'stop'}")
            self._finish_record(False, True, info)
            return True
        observation, reward, terminated, truncated, info = self.env.step(message)
        env_seconds = time.perf_counter() - env_started
        if not isinstance(observation, str):
            observation = (
                str(observation.get("text", observation))
                if isinstance(observation, dict)
                else str(observation)
            )
        tokens = None
        if output.completion_token_ids is not None or output.prompt_token_ids is not None:
            tokens = TurnTokens(
                prompt_token_ids=output.prompt_token_ids,
                completion_token_ids=output.completion_token_ids,
                logprobs=output.logprobs,
            )
        self.record.steps.append(
            StepRecord(
                turn=info.get("turn", len(self.record.steps) + 1),
                action=action_text(message),
                message=message,
                tool_calls=info.get("tool_calls", []),
                observation=observation,
                tool_results=info.get("tool_results", []),
                components=info.get("components", {}),
                reward=float(reward),
                action_valid=bool(info.get("action_valid", True)),
                terminated=terminated,
                truncated=truncated,
                timing={"policy_s": policy_seconds, "env_s": env_seconds},
                tokens=tokens,
                policy_meta=output.meta,
                information_spans=_spans(info.get("information_spans")),
            )
        )
        self.messages.extend(_conversation_update(message, observation, info))
        if info.get("tools"):  # an env may change the toolset mid-episode (a tool appears)
            self.tools = info["tools"]
        if terminated or truncated:
            self._finish_record(terminated, truncated, info)
            return True
        return False

    def _finish_record(self, terminated: bool, truncated: bool, info: dict[str, Any]) -> None:
        self.record.terminated = bool(terminated)
        self.record.truncated = bool(truncated)
        self.record.report = info.get("report")
        self.record.trajectory_components = info.get("trajectory_components", {})
        self.record.metrics = info.get("metrics", {})
        self.record.success = info.get("success")
        self.record.judgments = info.get("judgments", {})
        self.record.reward_invalid = bool(info.get("reward_invalid", False))
        if info.get("infrastructure_error"):
            self.record.error = info["infrastructure_error"]
        self.record.end_reason = end_reason_of(
            terminated=self.record.terminated,
            truncated=self.record.truncated,
            infrastructure_error=info.get("infrastructure_error"),
            truncation_reason=info.get("truncation_reason"),
        )

    def fail(self, exc: BaseException) -> EpisodeRecord:
        """Record an episode that crashed outside the env's own handling (masked, never scored)."""
        self.record.reward_invalid = True
        self.record.truncated = True
        kind = "infrastructure" if isinstance(exc, InfrastructureError) else "crash"
        self.record.error = f"{kind}: {type(exc).__name__}: {exc}"
        self.record.end_reason = "infrastructure_error" if kind == "infrastructure" else "crash"
        self.record.metrics = {}
        self.record.policy.setdefault("traceback", traceback.format_exc(limit=5))
        return self.finish()

    def finish(self) -> EpisodeRecord:
        self.record.duration_s = time.perf_counter() - self.started
        return self.record


def play_episode(runner: EpisodeRunner, *, catch: bool = True) -> EpisodeRecord:
    """Play a prepared episode synchronously (the policy's `act`, the env in this thread)."""
    try:
        runner.begin()
        act = runner.policy.act
        advance = runner.advance
        clock = time.perf_counter
        done = False
        while not done:
            started = clock()
            output = act(runner.messages, runner.tools)
            done = advance(output, clock() - started)
    except Exception as exc:
        if not catch:
            raise
        return runner.fail(exc)
    return runner.finish()


def run_episode(
    env: gym.Env,
    policy: Policy,
    *,
    seed: int = 0,
    task_id: str | None = None,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    group_id: str | None = None,
    sample_index: int = 0,
    run_id: str | None = None,
    catch: bool = True,
) -> EpisodeRecord:
    """Play one episode synchronously and return its record."""
    job = EpisodeJob(task_id=task_id, seed=seed, group_id=group_id, sample_index=sample_index)
    runner = EpisodeRunner(
        env,
        policy,
        env_id=env_id or _env_id(env),
        env_kwargs=env_kwargs,
        job=job,
        run_id=run_id,
        options=options,
    )
    return play_episode(runner, catch=catch)


class CallSite:
    """Where the calls of one kind (one env's, one sync policy's) run under asyncio: in a worker
    thread, or inline on the event loop.

    A thread hop costs tens of microseconds, more than a step of a fast env. Calls run in a thread
    until `FAST_CALLS` in a row each took at most `INLINE_S`; from then on they run inline. One
    call slower than `SLOW_S` (inline or not) sends them back to threads for good, so envs that
    block (containers, browsers, network) never stall the loop more than once, and only if they
    were fast `FAST_CALLS` times first.
    """

    INLINE_S = 0.002
    SLOW_S = 0.02
    FAST_CALLS = 4

    def __init__(self) -> None:
        self.inline = False
        self.slow = False
        self._fast = 0

    def _observe(self, seconds: float) -> None:
        if seconds > self.SLOW_S:
            self.slow, self.inline = True, False
        elif seconds <= self.INLINE_S and not self.slow:
            self._fast += 1
            self.inline = self._fast >= self.FAST_CALLS
        else:
            self._fast = 0

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        clock = time.perf_counter
        if self.inline:
            started = clock()
            try:
                return fn(*args)
            finally:
                self._observe(clock() - started)
        elapsed = 0.0

        def timed() -> Any:
            nonlocal elapsed
            started = clock()
            try:
                return fn(*args)
            finally:
                elapsed = clock() - started

        try:
            return await asyncio.to_thread(timed)
        finally:
            self._observe(elapsed)


def _async_act(policy: Any) -> Callable[..., Any] | None:
    aact = getattr(policy, "aact", None)
    return aact if aact is not None and inspect.iscoroutinefunction(aact) else None


async def arun_episode(
    env: gym.Env,
    policy: Policy,
    job: EpisodeJob,
    *,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    run_id: str | None = None,
    options: dict[str, Any] | None = None,
    env_site: CallSite | None = None,
    policy_site: CallSite | None = None,
) -> EpisodeRecord:
    """Play one episode without blocking the event loop: env calls (and a sync policy's) run in a
    thread while they are slow, inline once they prove fast (`CallSite`)."""
    runner = EpisodeRunner(
        env, policy, env_id=env_id, env_kwargs=env_kwargs, job=job, run_id=run_id, options=options
    )
    env_site = env_site or CallSite()
    aact = _async_act(runner.policy)
    policy_site = policy_site or CallSite()
    try:
        await env_site.call(runner.begin)
        done = False
        while not done:
            started = time.perf_counter()
            if aact is not None:
                output = await aact(runner.messages, runner.tools)
            else:
                output = await policy_site.call(runner.policy.act, runner.messages, runner.tools)
            done = await env_site.call(runner.advance, output, time.perf_counter() - started)
    except Exception as exc:
        return runner.fail(exc)
    return runner.finish()


def _env_id(env: gym.Env) -> str:
    spec = getattr(env, "spec", None) or getattr(env.unwrapped, "spec", None)
    return spec.id if spec is not None else type(env.unwrapped).__name__


def matching_records(
    records: Sequence[EpisodeRecord],
    *,
    env_id: str | None = None,
    policy: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> list[EpisodeRecord]:
    """The records made by this env id / policy description / env configuration (None: any)."""
    return [
        r
        for r in records
        if (env_id is None or r.env_id == env_id)
        and (policy is None or _same(r.policy, policy))
        and (env_kwargs is None or _same(r.env_kwargs, env_kwargs))
    ]


def completed_keys(
    path: str | Path, *, policy: dict[str, Any] | None = None, env_kwargs: dict[str, Any] | None = None
) -> set[tuple]:
    """Keys of the episodes already in a trajectory file made by the same policy and env
    configuration (for resuming a run without duplicates)."""
    path = Path(path)
    if not path.exists():
        return set()
    stored = read_trajectories(path).records
    return {r.key for r in matching_records(stored, policy=policy, env_kwargs=env_kwargs)}


def _same(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    return config_hash(recorded) == config_hash(current)


def _describe_policy(policy: Any) -> dict[str, Any]:
    return policy.describe() if hasattr(policy, "describe") else {"name": getattr(policy, "name", "?")}


def pending_jobs(
    jobs: Sequence[EpisodeJob],
    out: str | Path,
    *,
    env_id: str,
    policy: Policy,
    env_kwargs: dict[str, Any] | None = None,
) -> list[EpisodeJob]:
    """The jobs whose episode `out` does not hold yet for this policy and env configuration (a job
    that names its own env is matched against that env's records).

    Exact only while the caller owns the file (an open `TrajectoryWriter`): otherwise another
    writer may add episodes after this read."""
    path = Path(out)
    if not path.exists():
        return list(jobs)
    stored = read_trajectories(path).records
    described = _describe_policy(policy)
    done_by_config: dict[EnvKey, tuple[set[tuple], set[tuple]]] = {}
    pending = []
    for job in jobs:
        job_env = job.env_id or env_id
        job_kwargs = dict(job.env_kwargs or {}) if job.env_id is not None else dict(env_kwargs or {})
        config = env_key(job_env, job_kwargs)
        if config not in done_by_config:
            done = {r.key for r in matching_records(stored, policy=described, env_kwargs=job_kwargs)}
            # episodes whose task the env picked (task_id None) are matched on env/seed/group/sample
            done_by_config[config] = done, {(k[0], k[2], k[3], k[4]) for k in done}
        done, done_untasked = done_by_config[config]
        if job.task_id is not None:
            if (job_env, job.task_id, job.seed, job.group_id, job.sample_index) not in done:
                pending.append(job)
        elif (job_env, job.seed, job.group_id, job.sample_index) not in done_untasked:
            pending.append(job)
    return pending


@dataclass
class PooledEnv:
    """An env in a run's pool: its configuration key and where its calls run (`CallSite`)."""

    env: Any
    key: EnvKey
    env_id: str
    env_kwargs: dict[str, Any]
    site: CallSite = field(default_factory=CallSite)


class EnvPool:
    """The envs of one run, reused between episodes: at most `limit` alive, pooled per
    configuration (env id + kwargs); an idle env of another configuration is closed to make room."""

    def __init__(self, make: Callable[[str, dict[str, Any]], Any], limit: int) -> None:
        self._make = make
        self.limit = limit
        self.idle: dict[EnvKey, list[PooledEnv]] = {}
        self.alive: list[PooledEnv] = []

    def take_idle(self, key: EnvKey) -> PooledEnv | None:
        idle = self.idle.get(key)
        return idle.pop() if idle else None

    def evict(self) -> PooledEnv | None:
        """An idle env to close (removed from the pool) when the pool is full; else None."""
        if len(self.alive) < self.limit:
            return None
        for idle in self.idle.values():
            if idle:
                pooled = idle.pop()
                self.alive.remove(pooled)
                return pooled
        return None

    def reserve(self, key: EnvKey, env_id: str, env_kwargs: dict[str, Any]) -> PooledEnv:
        pooled = PooledEnv(None, key, env_id, env_kwargs)
        self.alive.append(pooled)
        return pooled

    def make(self, pooled: PooledEnv) -> PooledEnv:
        try:
            pooled.env = self._make(pooled.env_id, pooled.env_kwargs)
        except BaseException:
            self.alive.remove(pooled)
            raise
        return pooled

    def put(self, pooled: PooledEnv) -> None:
        self.idle.setdefault(pooled.key, []).append(pooled)

    def discard(self, pooled: PooledEnv) -> None:
        self.alive.remove(pooled)

    def take_all(self) -> list[PooledEnv]:
        """Every env made and not discarded (to close at the end of the run)."""
        alive, self.alive, self.idle = [e for e in self.alive if e.env is not None], [], {}
        return alive


def _job_env(job: EpisodeJob, env_id: str | None, env_kwargs: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if job.env_id is not None:
        return job.env_id, dict(job.env_kwargs or {})
    if env_id is None:
        raise ValueError(f"job {job} names no env and the run has no default env_id")
    return env_id, dict(env_kwargs or {})


def _env_maker(
    default: tuple[str, dict[str, Any]] | None, make_default: Callable[[], Any] | None, executor: str = "local"
) -> Callable[[str, dict[str, Any]], Any]:
    """make(env_id, kwargs): the run's own `make_default` for its default configuration, else
    `gym.make` (a Ray actor with the ray executor)."""
    default_key = env_key(*default) if default is not None else None

    def make(env_id: str, env_kwargs: dict[str, Any]) -> Any:
        if make_default is not None and env_key(env_id, env_kwargs) == default_key:
            return make_default()
        if executor == "ray":
            from agentgym.ray_executor import RayEnv

            return RayEnv(env_id, env_kwargs)
        return gym.make(env_id, **env_kwargs)

    return make


def _crashed(record: EpisodeRecord) -> bool:
    return bool(record.error and record.error.startswith("crash"))


def _order_records(records: list[EpisodeRecord], jobs: Sequence[EpisodeJob], default_env: str | None) -> list[EpisodeRecord]:
    order = {
        (j.env_id or default_env, j.task_id, j.seed, j.group_id, j.sample_index): i for i, j in enumerate(jobs)
    }
    return sorted(
        records, key=lambda r: order.get((r.env_id, r.task_id or None, r.seed, r.group_id, r.sample_index), 1 << 30)
    )


async def arun_episodes(
    make_env: Callable[[], gym.Env],
    policy: Policy,
    jobs: Sequence[EpisodeJob],
    *,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    concurrency: int = 4,
    out: str | Path | None = None,
    resume: bool = True,
    run_id: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Run many episodes, at most `concurrency` at once, each env used by one episode at a time.

    `make_env` makes the env of `env_id`/`env_kwargs`; a job naming another env gets
    `gym.make(job.env_id, **job.env_kwargs)`. With `out`, the run owns the file for its whole length
    (a second writer fails at once with `TrajectoryLockedError`), and `resume` skips the episodes it
    already holds."""
    writer = TrajectoryWriter(out) if out is not None else None
    try:
        if resume and out is not None:
            jobs = pending_jobs(jobs, out, env_id=env_id, policy=policy, env_kwargs=env_kwargs)
        return await _run_jobs(
            _env_maker((env_id, dict(env_kwargs or {})), make_env), policy, jobs, env_id=env_id,
            env_kwargs=env_kwargs, concurrency=concurrency, writer=writer, run_id=run_id, on_episode=on_episode,
        )  # fmt: skip
    finally:
        if writer is not None:
            writer.close()


async def _run_jobs(
    make: Callable[[str, dict[str, Any]], Any],
    policy: Policy,
    jobs: Sequence[EpisodeJob],
    *,
    env_id: str | None,
    env_kwargs: dict[str, Any] | None,
    concurrency: int,
    writer: TrajectoryWriter | None,
    run_id: str | None,
    on_episode: Callable[[EpisodeRecord], None] | None,
) -> list[EpisodeRecord]:
    limit = max(1, min(concurrency, len(jobs) or 1))
    pool = EnvPool(make, limit)
    semaphore = asyncio.Semaphore(limit)
    policy_site = CallSite()
    records: list[EpisodeRecord] = []

    async def take_env(job: EpisodeJob) -> PooledEnv:
        job_env, job_kwargs = _job_env(job, env_id, env_kwargs)
        key = env_key(job_env, job_kwargs)
        pooled = pool.take_idle(key)
        if pooled is not None:
            return pooled
        evicted = pool.evict()
        if evicted is not None:
            await asyncio.to_thread(evicted.env.close)
        return await asyncio.to_thread(pool.make, pool.reserve(key, job_env, job_kwargs))

    async def one(job: EpisodeJob) -> None:
        async with semaphore:
            pooled = await take_env(job)
            record = await arun_episode(
                pooled.env, policy, job, env_id=pooled.env_id, env_kwargs=pooled.env_kwargs, run_id=run_id,
                env_site=pooled.site, policy_site=policy_site,
            )  # fmt: skip
            if _crashed(record):
                # an env that crashed outside its own handling may be unusable: replace it
                pool.discard(pooled)
                await asyncio.to_thread(pooled.env.close)
            else:
                pool.put(pooled)
            _deliver(record, records, writer, on_episode)

    try:
        await asyncio.gather(*(one(job) for job in jobs))
    finally:
        for pooled in pool.take_all():
            await asyncio.to_thread(pooled.env.close)
    return _order_records(records, jobs, env_id)


def _deliver(
    record: EpisodeRecord,
    records: list[EpisodeRecord],
    writer: TrajectoryWriter | None,
    on_episode: Callable[[EpisodeRecord], None] | None,
) -> None:
    """A finished episode: kept, appended to the trajectory file, handed to the caller's callback."""
    records.append(record)
    if writer is not None:
        writer.write(record)
    if on_episode is not None:
        on_episode(record)


def _run_jobs_direct(
    make: Callable[[str, dict[str, Any]], Any],
    policy: Policy,
    jobs: Sequence[EpisodeJob],
    *,
    env_id: str | None,
    env_kwargs: dict[str, Any] | None,
    writer: TrajectoryWriter | None,
    run_id: str | None,
    on_episode: Callable[[EpisodeRecord], None] | None,
) -> list[EpisodeRecord]:
    """One episode at a time in this thread: the plain loop, with the pool, writer and callback."""
    pool = EnvPool(make, 1)
    records: list[EpisodeRecord] = []
    try:
        for job in jobs:
            job_env, job_kwargs = _job_env(job, env_id, env_kwargs)
            key = env_key(job_env, job_kwargs)
            pooled = pool.take_idle(key)
            if pooled is None:
                evicted = pool.evict()
                if evicted is not None:
                    evicted.env.close()
                pooled = pool.make(pool.reserve(key, job_env, job_kwargs))
            runner = EpisodeRunner(
                pooled.env, policy, env_id=job_env, env_kwargs=job_kwargs, job=job, run_id=run_id
            )
            record = play_episode(runner)
            if _crashed(record):
                pool.discard(pooled)
                pooled.env.close()
            else:
                pool.put(pooled)
            _deliver(record, records, writer, on_episode)
    finally:
        for pooled in pool.take_all():
            pooled.env.close()
    return records


EXECUTORS = ("local", "process", "ray")


def execute_jobs(
    make: Callable[[str, dict[str, Any]], Any],
    policy: Policy,
    jobs: Sequence[EpisodeJob],
    *,
    env_id: str | None,
    env_kwargs: dict[str, Any] | None,
    concurrency: int,
    executor: str,
    writer: TrajectoryWriter | None,
    run_id: str | None,
    on_episode: Callable[[EpisodeRecord], None] | None,
) -> list[EpisodeRecord]:
    """Play `jobs` with the chosen executor (direct loop, asyncio, worker processes)."""
    if executor == "process":
        from agentgym.executors.process import run_jobs_in_processes

        if not callable(getattr(policy, "act", None)):
            raise ValueError("executor='process' needs a policy with a synchronous act(); use executor='local'")

        return run_jobs_in_processes(
            policy, jobs, env_id=env_id, env_kwargs=env_kwargs, workers=concurrency, writer=writer,
            run_id=run_id, on_episode=on_episode,
        )  # fmt: skip
    if min(concurrency, len(jobs)) <= 1 and callable(getattr(policy, "act", None)):
        return _run_jobs_direct(
            make, policy, jobs, env_id=env_id, env_kwargs=env_kwargs, writer=writer, run_id=run_id,
            on_episode=on_episode,
        )  # fmt: skip
    return asyncio.run(
        _run_jobs(
            make, policy, jobs, env_id=env_id, env_kwargs=env_kwargs, concurrency=concurrency, writer=writer,
            run_id=run_id, on_episode=on_episode,
        )  # fmt: skip
    )


def _check_executor(executor: str) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")


def run_jobs(
    jobs: Sequence[EpisodeJob],
    policy: Policy,
    *,
    env_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    concurrency: int = 1,
    executor: str = "local",
    out: str | Path | None = None,
    resume: bool = True,
    run_id: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Play a plan whose jobs may each name their env (`EpisodeJob.env_id` / `env_kwargs`; jobs
    that name none play `env_id`/`env_kwargs`): a mixture of envs in one run, with the same
    executors, pooling, records and resume as `run_episodes`."""
    _positive("concurrency", concurrency)
    _check_executor(executor)
    if env_id is None and any(job.env_id is None for job in jobs):
        raise ValueError("every job must name its env (EpisodeJob.env_id) when run_jobs gets no env_id")
    writer = TrajectoryWriter(out) if out is not None else None
    try:
        if resume and out is not None:
            jobs = pending_jobs(jobs, out, env_id=env_id or "", policy=policy, env_kwargs=env_kwargs)
        records = execute_jobs(
            _env_maker(None, None, executor), policy, jobs, env_id=env_id, env_kwargs=env_kwargs,
            concurrency=concurrency, executor=executor, writer=writer, run_id=run_id, on_episode=on_episode,
        )  # fmt: skip
        return _order_records(records, jobs, env_id)
    finally:
        if writer is not None:
            writer.close()


class PreparedRun:
    """A run whose inputs are checked and whose resources are held, before any episode plays.

    `prepare_run` makes the first env (a bad env argument or reward spec fails here), checks
    every requested task id, plans the jobs and takes ownership of the output file (a second
    writer fails here). `skip_done(policy)` drops the episodes the file already holds (exact:
    the file is owned); `execute(policy)` plays the rest. Use it as a context manager, or call
    `close()`, so the spare env and the file are released on every path.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        make_env: Callable[[], Any],
        jobs: list[EpisodeJob],
        *,
        concurrency: int,
        writer: TrajectoryWriter | None,
        spare: list[Any],
        run_id: str | None,
        executor: str = "local",
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = env_kwargs
        self.jobs = jobs
        self.planned = len(jobs)
        self.concurrency = concurrency
        self.writer = writer
        self.out = writer.path if writer is not None else None
        self.run_id = run_id
        self.executor = executor
        self._make_env = make_env
        self._spare = spare

    def skip_done(self, policy: Policy) -> int:
        """Drop the jobs whose episodes the output file holds; returns how many were dropped."""
        if self.out is None:
            return 0
        before = len(self.jobs)
        self.jobs = pending_jobs(self.jobs, self.out, env_id=self.env_id, policy=policy, env_kwargs=self.env_kwargs)
        return before - len(self.jobs)

    def execute(
        self, policy: Policy, *, on_episode: Callable[[EpisodeRecord], None] | None = None
    ) -> list[EpisodeRecord]:
        def pooled_env() -> Any:
            return self._spare.pop() if self._spare else self._make_env()

        try:
            if self.executor == "process":  # the workers make their own envs
                self._close_spare()
            records = execute_jobs(
                _env_maker((self.env_id, self.env_kwargs), pooled_env, self.executor), policy, self.jobs,
                env_id=self.env_id, env_kwargs=self.env_kwargs, concurrency=self.concurrency,
                executor=self.executor, writer=self.writer, run_id=self.run_id, on_episode=on_episode,
            )  # fmt: skip
            return _order_records(records, self.jobs, self.env_id)
        finally:
            self.close()

    def _close_spare(self) -> None:
        while self._spare:  # not taken (e.g. every episode was already done)
            self._spare.pop().close()

    def close(self) -> None:
        self._close_spare()
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> PreparedRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _positive(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_task_ids(env: Any, task_ids: Sequence[str], listed: Sequence[str] | None) -> None:
    """Raise `TaskError` naming the first unknown id (and close ones) unless every id is one the
    env can play: in its task list, or accepted by its `select_task` (which may take aliases)."""
    from agentgym.errors import TaskError

    known = set(listed or ())
    select = getattr(getattr(env, "unwrapped", env), "select_task", None)
    unknown: list[tuple[str, str]] = []
    for task_id in dict.fromkeys(task_ids):
        if task_id in known:
            continue
        if select is not None:
            try:
                select(task_id, {})
                continue
            except (TaskError, KeyError, ValueError) as exc:
                unknown.append((task_id, str(exc.args[0]) if exc.args else repr(task_id)))
        elif listed is not None:
            unknown.append((task_id, f"unknown task id {task_id!r}"))
    if unknown:
        more = f" (and {len(unknown) - 1} more unknown id(s))" if len(unknown) > 1 else ""
        raise TaskError(f"{unknown[0][1]}{more}")


def prepare_run(
    env_id: str,
    *,
    episodes: int | None = None,
    task_ids: Sequence[str] | None = None,
    group_size: int = 1,
    seed: int = 0,
    concurrency: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    out: str | Path | None = None,
    run_id: str | None = None,
    executor: str = "local",
) -> PreparedRun:
    """Check a run's inputs and take its resources before any episode plays (see `PreparedRun`).

    Raises `ValueError` for a non-positive count or an unknown executor, whatever the env's
    constructor raises for bad env arguments, `TaskError` for an unknown task id, and
    `TrajectoryLockedError` when another run writes `out`."""
    _positive("episodes", episodes)
    _positive("group_size", group_size)
    _positive("concurrency", concurrency)
    if task_ids is not None and not list(task_ids):
        raise ValueError("task_ids is empty")
    _check_executor(executor)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    env_kwargs = dict(env_kwargs or {})

    def make_env() -> Any:
        if executor == "ray":
            from agentgym.ray_executor import RayEnv

            return RayEnv(env_id, env_kwargs)
        return gym.make(env_id, **env_kwargs)

    # the output file first: a second run writing it fails at once, before any env is made
    run_lock = RunLock(out).acquire() if out is not None else None
    spare: list[Any] = []
    writer = None
    try:
        spare.append(make_env())  # made now: a bad argument fails before any episode; joins the pool
        split = env_kwargs.get("split")
        source = task_source(env_id, env_kwargs)
        probe = spare[0].unwrapped
        if source is not None:  # listed without asking the env
            listed: list[str] | None = source.ids(split)
        else:
            listed = probe.task_ids(split) if hasattr(probe, "task_ids") else None
        if task_ids is not None:
            check_task_ids(spare[0], task_ids, source.ids() if source is not None else listed)
        jobs = plan_jobs(
            list(task_ids) if task_ids is not None else listed, episodes=episodes, group_size=group_size, seed=seed
        )
        writer = TrajectoryWriter(out, lock=run_lock) if out is not None else None
    except BaseException:
        for env in spare:
            env.close()
        if run_lock is not None:
            run_lock.release()
        raise
    return PreparedRun(
        env_id, env_kwargs, make_env, jobs, concurrency=concurrency, writer=writer, spare=spare, run_id=run_id,
        executor=executor,
    )  # fmt: skip


def run_episodes(
    env_id: str,
    policy: Policy,
    *,
    episodes: int | None = None,
    task_ids: Sequence[str] | None = None,
    group_size: int = 1,
    seed: int = 0,
    concurrency: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    out: str | Path | None = None,
    resume: bool = True,
    run_id: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    executor: str = "local",
) -> list[EpisodeRecord]:
    """Make envs by id and run a plan of episodes (see `plan_jobs`, `prepare_run`).

    Every input is checked before the first episode (`prepare_run`). `out` is owned by this run until it ends; `resume` skips the
    episodes it already holds. `executor="process"` plays whole episodes in `concurrency` worker
    processes (each with its own envs and a copy of the policy; `agentgym.executors.process`), for
    CPU-bound envs. `executor="ray"` runs each env in a Ray actor (`agentgym.ray_executor.RayEnv`),
    on the cluster `ray.init` connects to; the policy stays in this process.
    """
    run = prepare_run(
        env_id, episodes=episodes, task_ids=task_ids, group_size=group_size, seed=seed, concurrency=concurrency,
        env_kwargs=env_kwargs, out=out, run_id=run_id, executor=executor,
    )  # fmt: skip
    with run:
        if resume:
            run.skip_done(policy)
        return run.execute(policy, on_episode=on_episode)
