"""agentgym: Gymnasium environments for multi-turn LLM agents, with gated reward accumulation."""

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import InfrastructureError, TaskError, ToolError
from agentgym.policy import Policy, PolicyOutput
from agentgym.registration import register_envs
from agentgym.spaces import AnyText
from agentgym.task import Task, hidden
from agentgym.tools import Tool, ToolCall, ToolResult, Toolset, tool

__version__ = "0.1.0"

register_envs()

__all__ = [
    "AgentEnv",
    "AnyText",
    "EpisodeStart",
    "InfrastructureError",
    "Policy",
    "PolicyOutput",
    "Task",
    "TaskError",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolResult",
    "Toolset",
    "hidden",
    "register_envs",
    "tool",
]
