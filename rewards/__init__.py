"""agentgym.rewards"""
