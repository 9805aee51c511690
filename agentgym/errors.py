"""Errors shared across agentgym.

The split matters for training: a `ToolError` is the agent's fault and becomes an error
observation; an `InfrastructureError` is ours (sandbox died, browser crashed) and ends the episode
with `reward_invalid=True` so trainers mask it instead of scoring it as a policy failure.
"""


class AgentGymError(Exception):
    """Base class for agentgym errors."""


class ToolError(AgentGymError):
    """The agent used a tool wrongly (bad path, failed lookup); shown to the agent as an observation."""


class InfrastructureError(AgentGymError):
    """The environment's machinery failed; the episode ends and its reward is marked invalid."""


class TaskError(AgentGymError):
    """A task file or task id is broken or unknown."""


class TrajectoryError(AgentGymError):
    """A trajectory file or record is malformed."""


class ActionParseError(AgentGymError):
    """Raised by a family's text grammar (`_parse_text_action`) for text it recognizes as an
    attempted action but cannot parse; the message becomes the error observation."""
