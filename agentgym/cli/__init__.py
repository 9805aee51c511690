"""agentgym.agentgym.cli"""
