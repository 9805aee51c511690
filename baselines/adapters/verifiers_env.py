"""An agentgym env as a `verifiers` environment: verifiers' own rollout and evaluation loop plays
agentgym episodes and scores them with agentgym's rewards.

    from agentgym.baselines.adapters.verifiers_env import load_environment
    vf_env = load_environment("agentgym/StallOrSubmit-v0", episodes=8)
    results = vf_env.evaluate_sync(OpenAI(base_url=URL, api_key="x"), "smollm2",
                                   sampling_args={"max_tokens": 64, "temperature": 0.0})

Written against verifiers 0.1.10 (`vf.MultiTurnEnv`, `Environment.evaluate` / `generate`, the
`@vf.stop` / `@vf.cleanup` hooks); newer releases pin packages agentgym cannot share (see the
`verifiers` extra in pyproject.toml).

- The dataset is agentgym's plan (`agentgym.rollout.prepare_run`: the same (task, seed) pairs as
  `agentgym eval ENV -n EPISODES --seed SEED`). Each row's `prompt` is the env's own opening
  conversation (system prompt, then the task prompt), read by resetting the env once when the
  dataset is built; `info` carries the env id, task id and seed.
- One agentgym env per rollout, reset with the row's seed and task. Each model reply steps the env
  at once (`add_trajectory_step`), so the episode ends with the env: the stop condition
  `agentgym_episode_done` fires when the env terminates or truncates (the env's own `max_turns`;
  verifiers' `max_turns` is off). A rollout verifiers stops first (model error, prompt too long)
  truncates the env, as agentgym's loop does when a policy stops.
- Messages are what agentgym's `openai:URL#MODEL` policy sends for the same episode, so a greedy
  model answers the same: `tools_mode="prompt"` (default; any server) renders the tools into the
  system prompt in the Hermes `<tool_call>` convention and returns each tool result as a user turn
  in `<tool_response>`; `"native"` passes them as the request's `tools` (`oai_tools`) and returns
  `tool` messages.
- The rubric's reward is the episode's return under the env's reward mode (`RewardReport.return_`,
  the sum of agentgym's per-step rewards); metrics `agentgym_success` and `agentgym_reward_invalid`
  (1.0 when agentgym masked the episode: infrastructure failed; its reward is 0, filter on it).
  The per-step rewards and the report are kept in the state (`agentgym_step_rewards`,
  `agentgym_report`: pass them as `state_columns` to keep them in the outputs).
- Env calls run on one thread per rollout (an env stays on the thread that made it), off the
  event loop, so `max_concurrent` rollouts play at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from agentgym.baselines.agent.chat import tools_system_prompt
from agentgym.baselines.agent.toolcalls import assistant_message
from agentgym.parsing import message_text
from agentgym.rollout import prepare_run

logger = logging.getLogger(__name__)

TOOLS_MODES = ("prompt", "native")


def _verifiers() -> Any:
    try:
        import verifiers
    except ImportError as exc:
        raise ImportError("the verifiers adapter needs verifiers: pip install 'agentgym[verifiers]'") from exc
    return verifiers


def opening_messages(
    system_prompt: str, prompt: str, tools: Sequence[dict[str, Any]], tools_mode: str
) -> list[dict[str, str]]:
    """The conversation agentgym's chat policy sends on the first turn of an episode."""
    messages: list[dict[str, str]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": prompt})
    if tools_mode == "prompt" and tools:
        block = tools_system_prompt(list(tools))
        if messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{block}"}
        else:
            messages.insert(0, {"role": "system", "content": block})
    return messages


def reply_messages(observation: str, info: Mapping[str, Any], tools_mode: str) -> list[dict[str, Any]]:
    """The env's answer to one step as the next messages (tool results, else the observation)."""
    results = info.get("tool_results") or []
    calls = info.get("tool_calls") or []
    if results and len(results) == len(calls):
        if tools_mode == "prompt":
            return [
                {
                    "role": "user",
                    "content": f"<tool_response>\n{message_text(r['content'])}\n</tool_response>",
                }
                for r in results
            ]
        return [
            {"role": "tool", "tool_call_id": r["tool_call_id"], "content": message_text(r["content"])}
            for r in results
        ]
    return [{"role": "user", "content": observation}]


def action_message(completion: Mapping[str, Any], tools_mode: str) -> dict[str, Any]:
    """The model's reply as the assistant message agentgym's chat policy would step the env with."""
    text = completion.get("content") or ""
    text = text if isinstance(text, str) else message_text(text)
    native_calls = completion.get("tool_calls") or []
    if tools_mode == "native" and native_calls:
        calls = []
        for call in native_calls:
            function = call.get("function") or {}
            arguments = function.get("arguments")
            calls.append(
                {
                    "id": call.get("id") or "",
                    "type": "function",
                    "function": {
                        "name": function.get("name"),
                        "arguments": arguments
                        if isinstance(arguments, str)
                        else json.dumps(arguments or {}, ensure_ascii=False),
                    },
                }
            )
        message: dict[str, Any] = {"role": "assistant", "content": text, "tool_calls": calls}
    else:
        message = assistant_message(text)
    reasoning = completion.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        message["reasoning_content"] = reasoning
    return message


@dataclass
class EpisodeSession:
    """One rollout's agentgym env, on its own thread."""

    env: Any
    thread: ThreadPoolExecutor
    step_rewards: list[float] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    final_info: dict[str, Any] = field(default_factory=dict)

    async def call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.thread, fn, *args)


def build_rows(
    env_id: str,
    env_kwargs: Mapping[str, Any],
    *,
    episodes: int | None,
    task_ids: Sequence[str] | None,
    seed: int,
    tools_mode: str,
) -> list[dict[str, Any]]:
    """Dataset rows for agentgym's plan: the env's opening conversation per (task, seed).

    The plan and its input checks are `agentgym.rollout.prepare_run`'s, as for `agentgym eval`."""
    import agentgym  # noqa: F401  (registers the env ids)

    run = prepare_run(env_id, episodes=episodes, task_ids=task_ids, seed=seed, env_kwargs=dict(env_kwargs))
    rows = []
    with run:
        env = gym.make(env_id, **dict(env_kwargs))
        try:
            for job in run.jobs:
                options = {"task_id": job.task_id} if job.task_id is not None else None
                observation, info = env.reset(seed=job.seed, options=options)
                tools = list(info.get("tools") or [])
                row_info: dict[str, Any] = {
                    "env_id": env_id,
                    "task_id": info.get("task_id", job.task_id),
                    "seed": job.seed,
                }
                if tools_mode == "native" and tools:
                    row_info["oai_tools"] = tools
                rows.append({
                    "prompt": opening_messages(info.get("system_prompt") or "", str(observation), tools, tools_mode),
                    "answer": "",
                    "task": env_id,
                    "info": json.dumps(row_info),  # a JSON string: tool schemas differ per row, Arrow columns cannot
                })  # fmt: skip
        finally:
            env.close()
    return rows


def _environment_base() -> type:
    return _verifiers().MultiTurnEnv


class AgentGymVerifiersEnv(_environment_base()):  # type: ignore[misc]
    """agentgym episodes behind verifiers' `MultiTurnEnv` (see the module docstring)."""

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        episodes: int | None = None,
        task_ids: Sequence[str] | None = None,
        seed: int = 0,
        tools_mode: str = "prompt",
        **kwargs: Any,
    ) -> None:
        if tools_mode not in TOOLS_MODES:
            raise ValueError(f"tools_mode must be one of {', '.join(TOOLS_MODES)}, not {tools_mode!r}")
        if episodes is None and task_ids is None:
            raise ValueError("AgentGymVerifiersEnv needs episodes=N or task_ids=[...] to build its dataset")
        vf = _verifiers()
        from datasets import Dataset

        self.agentgym_env_id = env_id
        self.agentgym_env_kwargs = dict(env_kwargs or {})
        self.tools_mode = tools_mode
        rows = build_rows(
            env_id,
            self.agentgym_env_kwargs,
            episodes=episodes,
            task_ids=task_ids,
            seed=seed,
            tools_mode=tools_mode,
        )
        rubric = vf.Rubric(funcs=[agentgym_return], weights=[1.0])
        rubric.add_metric(agentgym_success)
        rubric.add_metric(agentgym_reward_invalid)
        super().__init__(
            eval_dataset=Dataset.from_list(rows), rubric=rubric, max_turns=-1, env_id=env_id,
            env_args={"env_kwargs": self.agentgym_env_kwargs, "episodes": episodes,
                      "task_ids": list(task_ids) if task_ids is not None else None, "seed": seed,
                      "tools_mode": tools_mode},
            **kwargs,
        )  # fmt: skip

    async def setup_state(self, state: Any) -> Any:
        info = state["info"]
        session = EpisodeSession(
            env=None, thread=ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentgym-env")
        )
        state["_agentgym"] = session
        state["agentgym_step_rewards"] = session.step_rewards
        state["agentgym_report"] = None

        def start() -> Any:
            import agentgym  # noqa: F401

            env = gym.make(info.get("env_id") or self.agentgym_env_id, **self.agentgym_env_kwargs)
            options = {"task_id": info["task_id"]} if info.get("task_id") is not None else None
            observation, reset_info = env.reset(seed=int(info["seed"]), options=options)
            return env, observation, reset_info

        try:
            session.env, observation, reset_info = await session.call(start)
        except (
            Exception
        ) as exc:  # the env could not start: masked, as agentgym's loop masks a crashed episode
            raise self._masked(session, "reset", exc) from exc
        opening = opening_messages(
            reset_info.get("system_prompt") or "",
            str(observation),
            reset_info.get("tools") or [],
            self.tools_mode,
        )
        if opening != list(state["prompt"]):
            logger.warning(
                "agentgym env %s reset to a different conversation than the dataset row (seed %s): "
                "the env is not deterministic under reset(seed)",
                self.agentgym_env_id,
                info["seed"],
            )
        return state

    async def add_trajectory_step(self, state: Any, trajectory_step: Any) -> None:
        await super().add_trajectory_step(state, trajectory_step)
        session: EpisodeSession = state["_agentgym"]
        completion = trajectory_step["completion"]
        reply = (
            completion[-1] if isinstance(completion, list) and completion else {"content": str(completion)}
        )
        try:
            observation, reward, terminated, truncated, info = await session.call(
                session.env.step, action_message(reply, self.tools_mode)
            )
        except Exception as exc:
            raise self._masked(session, "step", exc) from exc
        session.step_rewards.append(float(reward))
        trajectory_step["extras"]["agentgym_reward"] = float(reward)
        if terminated or truncated:
            self._finish(state, session, info)
        else:
            if not isinstance(observation, str):
                observation = (
                    str(observation.get("text", observation))
                    if isinstance(observation, dict)
                    else str(observation)
                )
            session.pending = reply_messages(observation, info, self.tools_mode)

    async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> list[dict[str, Any]]:
        session: EpisodeSession = state["_agentgym"]
        pending, session.pending = session.pending, []
        return pending

    def _masked(self, session: EpisodeSession, where: str, exc: Exception) -> Exception:
        """End the episode as `reward_invalid` (what agentgym records for a crash) and name the error."""
        session.done = True
        session.final_info = {"reward_invalid": True, "infrastructure_error": f"{type(exc).__name__}: {exc}"}
        return _verifiers().InfraError(f"agentgym env {where} failed: {type(exc).__name__}: {exc}")

    def _finish(self, state: Any, session: EpisodeSession, info: Mapping[str, Any]) -> None:
        session.done = True
        session.final_info = dict(info)
        report = info.get("report")
        state["agentgym_report"] = report.model_dump(mode="json") if report is not None else None

    @_verifiers().stop
    async def agentgym_episode_done(self, state: Any) -> bool:
        session: EpisodeSession | None = state.get("_agentgym")
        return bool(session is not None and session.done)

    @_verifiers().cleanup
    async def close_agentgym_env(self, state: Any) -> None:
        session: EpisodeSession | None = state.get("_agentgym")
        if session is None:
            return
        try:
            # verifiers stopped first: end the episode as agentgym's loop does for a stopped policy
            if session.env is not None and not session.done:
                truncate = getattr(session.env.unwrapped, "truncate", None)
                if truncate is not None:
                    reason = f"policy stopped: {state.get('stop_condition') or 'verifiers'}"
                    try:
                        _, _, _, _, info = await session.call(truncate, reason)
                        self._finish(state, session, info)
                    except Exception as exc:
                        self._masked(session, "truncate", exc)
            if session.env is not None:
                await session.call(session.env.close)
        except Exception:
            logger.warning("closing agentgym env %s failed", self.agentgym_env_id, exc_info=True)
        finally:
            session.env = None
            session.thread.shutdown(wait=False)


def _final_info(state: Any) -> Mapping[str, Any]:
    session: EpisodeSession | None = state.get("_agentgym")
    return session.final_info if session is not None else {}


def agentgym_return(state: Any, **_: Any) -> float:
    """The episode's return under the env's reward mode (0 for a masked episode)."""
    info = _final_info(state)
    if info.get("reward_invalid"):
        return 0.0
    report = info.get("report")
    if report is not None:
        return float(report.return_)
    session: EpisodeSession | None = state.get("_agentgym")
    return float(sum(session.step_rewards)) if session is not None else 0.0


def agentgym_success(state: Any, **_: Any) -> float:
    return float(bool(_final_info(state).get("success")))


def agentgym_reward_invalid(state: Any, **_: Any) -> float:
    return float(bool(_final_info(state).get("reward_invalid", False)))


def load_environment(env_id: str = "agentgym/StallOrSubmit-v0", **kwargs: Any) -> AgentGymVerifiersEnv:
    """verifiers' entry point (`vf.load_environment` convention): an agentgym env by id."""
    return AgentGymVerifiersEnv(env_id, **kwargs)
