"""Adapters that let other trainers' own rollout loops drive agentgym envs.

- `skyrl_gym`: an agentgym env as a SkyRL-Gym text env, registered in `skyrl_gym`'s registry.
- `verifiers_env`: an agentgym env as a verifiers `MultiTurnEnv` (`load_environment(env_id, ...)`),
  scored with agentgym's rewards by verifiers' own evaluation loop.

TRL's adapter lives in `agentgym.baselines.train.trl_adapter`. Each adapter imports its framework
only when used, so agentgym never depends on any of them.
"""
