"""agentgym: Gymnasium environments for multi-turn LLM agents, with gated reward accumulation."""

from agentgym.env import AgentEnv, EpisodeStart
from agentgym.errors import InfrastructureError, TaskError, ToolError
from agentgym.family import EnvEntry, Family
from agentgym.outcome import Outcome, success_of
from agentgym.policy import Policy, PolicyOutput
from agentgym.registration import register_envs
from agentgym.rewards.components import Component, step_component, trajectory_component
from agentgym.spaces import AnyText
from agentgym.task import Task, TaskSource, hidden
from agentgym.tools import Tool, ToolCall, ToolResult, Toolset, tool

__version__ = "0.1.0"

register_envs()

__all__ = [
    "AgentEnv",
    "AnyText",
    "Component",
    "EnvEntry",
    "EpisodeStart",
    "Family",
    "InfrastructureError",
    "Outcome",
    "Policy",
    "PolicyOutput",
    "Task",
    "TaskError",
    "TaskSource",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolResult",
    "Toolset",
    "hidden",
    "register_envs",
    "step_component",
    "success_of",
    "tool",
    "trajectory_component",
]
