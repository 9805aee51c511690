"""Bring your own generator: drive any agentgym env from a custom trainer's rollout loop.

`generate(env_id, model, ...)` plays one episode: reset, build the chat messages from the
observations, call `model(messages, tools) -> assistant message`, step, and collect what a
trainer needs per step. Replace `model` with your sampler (vLLM, SGLang, an HTTP server) and keep
its token ids and logprobs next to each turn. Run as a script for a demo with a scripted model:

    python examples/byo_generator.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

import agentgym  # noqa: F401  (registers the agentgym/* envs)

Model = Callable[[list[dict[str, Any]], list[dict[str, Any]]], dict[str, Any]]


def generate(
    env_id: str, model: Model, *, seed: int = 0, task_id: str | None = None, **env_kwargs: Any
) -> dict[str, Any]:
    env = gym.make(env_id, **env_kwargs)  # emission="dense" for per-step shaped rewards
    try:
        options = {"task_id": task_id} if task_id is not None else None
        observation, info = env.reset(seed=seed, options=options)
        tools = info["tools"]  # OpenAI tool schemas; may change mid-episode (info["tools"])
        messages = [{"role": "system", "content": info["system_prompt"]}] if info["system_prompt"] else []
        messages.append({"role": "user", "content": observation})
        steps, done = [], False
        while not done:
            reply = model(messages, tools)  # {"role": "assistant", "content": ..., "tool_calls"?: [...]}
            observation, reward, terminated, truncated, info = env.step(reply)
            done = terminated or truncated
            steps.append(
                {
                    "reward": reward,
                    "components": info["components"],
                    "valid": info["action_valid"],
                    "information_spans": info.get("information_spans"),
                }
            )  # retrieved text: mask it
            tools = info.get("tools", tools)
            messages.append(reply)  # or: messages = list(env.unwrapped.transcript) (the env's own view)
            results = info["tool_results"]
            if results and len(results) == len(info["tool_calls"]):
                messages += [
                    {"role": "tool", "tool_call_id": r["tool_call_id"], "content": r["content"]}
                    for r in results
                ]
            else:
                messages.append({"role": "user", "content": observation})
        # terminal emission (default): every step's reward is 0 but the last, which is the return
        return {
            "messages": messages,
            "steps": steps,
            "return": info["report"].return_,
            "valid": not info["reward_invalid"],  # False: mask this episode, never score it
            "success": info["success"],
            "report": info["report"],
        }
    finally:
        env.close()


if __name__ == "__main__":
    replies = iter(["work", "work", "submit"])
    episode = generate(
        "agentgym/StallOrSubmit-v0",
        lambda messages, tools: {"role": "assistant", "content": next(replies)},
        seed=0,
        max_turns=3,
    )
    print(
        f"return {episode['return']:.3f} valid {episode['valid']} success {episode['success']}, "
        f"step rewards {[s['reward'] for s in episode['steps']]}"
    )
