"""agentgym.baselines"""
