"""The process executor: whole episodes played in worker processes, for envs that need a core each.

Threads cannot spread CPU-bound envs (retrieval, SQLite worlds, reward code) over cores: the GIL
runs one at a time. Here each of `workers` processes holds its own envs (pooled per env
configuration) and a copy of the policy, and plays whole episodes with the same agent loop as the
direct path (`agentgym.rollout.play_episode`). The parent plans, hands out jobs (a few in flight per
worker, so a worker never waits on the parent), writes each record as it arrives (workers send
them in small batches: fewer wake-ups of the parent) and calls `on_episode`, so grouping, resume and records are those of the local executor for the same seeds.

A worker that dies (killed, out of memory, a segfault in native code) loses no episode: the jobs
it held go back to the queue and a fresh worker takes its place; a job whose worker died
`MAX_DEATHS` times while playing it is recorded as an infrastructure error instead of being retried
forever. Records are written only by the parent, so none is written twice.

Workers start with `fork` where the platform has it (they inherit the imported modules and any
per-process caches such as a built search index, so they start in milliseconds), else `spawn`
(the policy must then be picklable). Policies that keep state across episodes must derive it per
episode (`for_episode(seed)`), as with the local executor's concurrent episodes.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from agentgym.rollout import EpisodeJob, EpisodeRunner, env_key, play_episode
from agentgym.trajectory import EpisodeRecord, TrajectoryWriter

log = logging.getLogger(__name__)

MAX_DEATHS = 2  # a job whose worker died this many times while playing it is recorded, not retried
IN_FLIGHT = 4  # jobs handed to a worker ahead of its results (it never waits on the parent)
FLUSH_S = 0.02  # a busy worker sends its finished records at least this often


def default_start_method() -> str:
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _job_config(
    job: EpisodeJob, env_id: str | None, env_kwargs: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    if job.env_id is not None:
        return job.env_id, dict(job.env_kwargs or {})
    return str(env_id), dict(env_kwargs or {})


def failed_record(
    job: EpisodeJob,
    env_id: str,
    env_kwargs: dict[str, Any],
    run_id: str | None,
    policy: Any,
    error: str,
    end_reason: str,
) -> EpisodeRecord:
    """The record of an episode that could not be played (no env, or its worker kept dying)."""
    described = policy.describe() if hasattr(policy, "describe") else {"name": getattr(policy, "name", "?")}
    return EpisodeRecord(
        run_id=run_id, env_id=env_id, env_kwargs=env_kwargs, task_id=job.task_id or "", seed=job.seed,
        group_id=job.group_id, sample_index=job.sample_index, policy=described, error=error,
        end_reason=end_reason, reward_invalid=True, truncated=True,
    )  # fmt: skip


def _worker_main(
    conn: Connection,
    playing: Any,
    policy: Any,
    env_id: str | None,
    env_kwargs: dict[str, Any] | None,
    run_id: str | None,
) -> None:
    """A worker's loop: receive (index, job), play it, send [(index, record), ...]; None ends it."""
    import gymnasium as gym

    import agentgym  # noqa: F401  (registers the envs under spawn)

    envs: dict[tuple[str, str], Any] = {}
    outbox: list[tuple[int, EpisodeRecord]] = []  # records not sent yet: sent together, fewer wake-ups
    flushed = time.perf_counter()
    try:
        while True:
            if outbox and (not conn.poll() or time.perf_counter() - flushed > FLUSH_S):
                conn.send(outbox)  # before waiting for more work, or every FLUSH_S while busy
                outbox, flushed = [], time.perf_counter()
            message = conn.recv()
            if message is None:
                if outbox:
                    conn.send(outbox)
                break
            index, job = message
            job_env, job_kwargs = _job_config(job, env_id, env_kwargs)
            key = env_key(job_env, job_kwargs)
            env = envs.get(key)
            if env is None:
                try:
                    env = envs[key] = gym.make(job_env, **job_kwargs)
                except Exception as exc:  # noqa: BLE001 - recorded, like any crash of the local executor
                    error = f"crash: could not make {job_env}: {type(exc).__name__}: {exc}"
                    outbox.append(
                        (index, failed_record(job, job_env, job_kwargs, run_id, policy, error, "crash"))
                    )
                    continue
            runner = EpisodeRunner(env, policy, env_id=job_env, env_kwargs=job_kwargs, job=job, run_id=run_id)
            playing.value = index  # read by the parent if this process dies
            record = play_episode(runner)
            playing.value = -1
            if record.error and record.error.startswith("crash"):  # the env may be unusable: replace it
                envs.pop(key).close()
            outbox.append((index, record))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):  # the parent went away or was interrupted
        pass
    finally:
        for env in envs.values():
            try:
                env.close()
            except Exception:  # noqa: BLE001 - closing at exit must not mask the worker's end
                log.debug("closing an env in a worker failed", exc_info=True)


@dataclass
class _Worker:
    process: Any
    conn: Connection
    playing: Any  # shared: index of the job the worker is playing, -1 between episodes
    held: deque[int] = field(default_factory=deque)  # indices of the jobs handed to it, oldest first


def run_jobs_in_processes(
    policy: Any,
    jobs: Sequence[EpisodeJob],
    *,
    env_id: str | None,
    env_kwargs: dict[str, Any] | None,
    workers: int,
    writer: TrajectoryWriter | None = None,
    run_id: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    start_method: str | None = None,
) -> list[EpisodeRecord]:
    """Play `jobs` in `workers` processes; returns the records in job order."""
    jobs = list(jobs)
    if not jobs:
        return []
    context = multiprocessing.get_context(start_method or default_start_method())
    queue: deque[int] = deque(range(len(jobs)))
    results: dict[int, EpisodeRecord] = {}
    deaths: Counter[int] = Counter()
    pool: list[_Worker] = []

    def start() -> _Worker:
        parent_conn, child_conn = context.Pipe()
        playing = context.RawValue("q", -1)
        process = context.Process(
            target=_worker_main, args=(child_conn, playing, policy, env_id, env_kwargs, run_id), daemon=True,
            name="agentgym-episode-worker",
        )  # fmt: skip
        process.start()
        child_conn.close()
        worker = _Worker(process, parent_conn, playing)
        pool.append(worker)
        return worker

    def feed(worker: _Worker) -> bool:
        """Hand out jobs until the worker holds IN_FLIGHT; False when its pipe is broken."""
        while len(worker.held) < IN_FLIGHT and queue:
            index = queue.popleft()
            worker.held.append(index)
            try:
                worker.conn.send((index, jobs[index]))
            except (BrokenPipeError, OSError):
                return False
        return True

    def finish(index: int, record: EpisodeRecord) -> None:
        if index in results:  # cannot happen: a job is held by one worker at a time
            return
        results[index] = record
        if writer is not None:
            writer.write(record)
        if on_episode is not None:
            on_episode(record)

    def bury(worker: _Worker) -> None:
        """A dead worker: its jobs go back to the front of the queue, a fresh worker replaces it."""
        pool.remove(worker)
        worker.conn.close()
        worker.process.join(timeout=5)
        held = [i for i in worker.held if i not in results]
        playing = int(worker.playing.value)
        if playing in held:
            deaths[playing] += 1
            log.warning(
                "episode worker %s died (exit %s) playing job %d",
                worker.process.pid,
                worker.process.exitcode,
                playing,
            )
            if deaths[playing] >= MAX_DEATHS:
                job = jobs[playing]
                job_env, job_kwargs = _job_config(job, env_id, env_kwargs)
                error = f"infrastructure: the worker process playing it died {deaths[playing]} times"
                finish(
                    playing,
                    failed_record(job, job_env, job_kwargs, run_id, policy, error, "infrastructure_error"),
                )
                held.remove(playing)
        queue.extendleft(reversed(held))
        if queue:
            replacement = start()
            if not feed(replacement):
                bury(replacement)

    frozen = context.get_start_method() == "fork"
    if frozen:  # workers share the parent's heap copy-on-write: keep their GC from touching (copying) it
        gc.freeze()
    try:
        for _ in range(min(workers, len(jobs))):
            start()
        for worker in list(pool):
            if not feed(worker):
                bury(worker)
        while len(results) < len(jobs):
            if not pool:  # every job handed out was answered and none is left: cannot happen
                raise RuntimeError("process executor: no worker left with jobs pending")
            by_handle: dict[Any, _Worker] = {}
            for worker in pool:
                by_handle[worker.conn] = worker
                by_handle[worker.process.sentinel] = worker
            ready = wait(list(by_handle))
            for worker in {id(by_handle[h]): by_handle[h] for h in ready}.values():
                alive = True
                try:
                    while worker.conn.poll():
                        for index, record in worker.conn.recv():
                            if worker.held and worker.held[0] == index:
                                worker.held.popleft()
                            elif index in worker.held:
                                worker.held.remove(index)
                            finish(index, record)
                except (EOFError, OSError):
                    alive = False
                if alive and worker.process.is_alive() and feed(worker):
                    if not worker.held and not queue:  # nothing left for it: let it go
                        _stop(worker)
                        pool.remove(worker)
                    continue
                if worker in pool:
                    bury(worker)
    except BaseException:  # interrupted (or a callback raised): do not wait for episodes in play
        for worker in pool:
            worker.process.terminate()
        raise
    finally:
        for worker in pool:
            _stop(worker)
        if frozen:
            gc.unfreeze()
    return [results[i] for i in range(len(jobs))]


def _stop(worker: _Worker, timeout: float = 10.0) -> None:
    try:
        worker.conn.send(None)
    except (BrokenPipeError, OSError):
        pass
    worker.process.join(timeout=timeout)
    if worker.process.is_alive():
        worker.process.terminate()
        worker.process.join(timeout=5)
    if worker.process.is_alive():
        os.kill(worker.process.pid, 9)
        worker.process.join()
    worker.conn.close()
