"""agentgym.tasks"""
