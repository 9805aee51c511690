"""Search-QA environments: `agentgym/SearchQA-v0` (see `agentgym.envs.search.env`)."""
