"""agentgym.envs.toy"""
