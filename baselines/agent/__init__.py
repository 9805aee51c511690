"""Agent-loop pieces shared by the token-level policy backends.

- `chat.ChatFormat`: conversation + tools -> prompt via the model's chat template (tools in the
  template when it supports them, else in the system prompt, Hermes `<tool_call>` convention).
- `toolcalls.assistant_message`: model text -> OpenAI assistant message, reasoning separated first
  (never read for calls), then `tool_calls` parsed in the policy's reply format.
- `drift.layout_of` / `drift.loss_mask`: which token layout a turn uses, and the training sequences.
- `drift.DriftGuard`: checks each turn's prompt ids extend the previous prompt + completion.
- `context.ContextPolicy`: truncate oldest observations or stop when the context is full.
- `turns.TurnBuilder`: the above combined for one turn.
"""

from agentgym.baselines.agent.chat import ChatFormat, template_supports_tools, tools_system_prompt
from agentgym.baselines.agent.context import ContextPolicy
from agentgym.baselines.agent.drift import DRIFT_MODES, DriftGuard, TokenDriftError, TurnState
from agentgym.baselines.agent.toolcalls import assistant_message
from agentgym.baselines.agent.turns import PreparedTurn, TurnBuilder

__all__ = [
    "DRIFT_MODES", "ChatFormat", "ContextPolicy", "DriftGuard", "PreparedTurn", "TokenDriftError", "TurnBuilder",
    "TurnState", "assistant_message", "template_supports_tools", "tools_system_prompt",
]
