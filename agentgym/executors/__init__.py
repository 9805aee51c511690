"""Executors that play a plan of episodes somewhere other than the calling thread.

`agentgym.rollout` holds the direct loop and the asyncio engine; `process` plays whole episodes in
worker processes (one core each, no Ray); `agentgym.ray_executor` puts envs in Ray actors.
"""
