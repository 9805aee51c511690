"""agentgym.envs.swe: fix injected bugs in real PyPI packages inside Docker sandboxes (`agentgym/SWE-v0`)."""
