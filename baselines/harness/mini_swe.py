"""mini-swe-agent (PyPI `mini-swe-agent`) as an agentgym harness: its own agent loop and prompts,
its commands run in agentgym's sandbox, its model calls through the token-recording gateway.

`MiniSweAgentRunner.run` builds mini-swe-agent's `DefaultAgent` from one of its YAML configs
(default: its SWE-bench config with backtick actions, `swebench_backticks`), with

- its model: mini-swe-agent's own litellm model classes pointed at the gateway (`openai/<episode>`
  at `<gateway>/v1`, the episode header on every request; cost tracking off: a local model has
  no price). Text-based configs (`litellm_textbased`) parse a fenced command from the reply;
  tool-calling configs get the model's tool calls (the gateway's policy parses them);
- its environment: `AgentgymEnvironment`, a mini-swe-agent environment class whose `execute`
  hands each command to agentgym (the SWE env's `bash` tool in the task's sandbox) and returns
  the output and exit code the env reported; it ends the run on the submission marker, as
  mini-swe-agent's own environments do.

`harness_policy(spec)` is the `agentgym.policies` factory for `mini-swe-agent:BACKEND[?options]`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentgym.baselines.harness.bridge import CommandResult

SUBMIT_MARKER = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
#: the configs shipped with this package (`config=compact`): short prompts for small context windows
SHIPPED_CONFIGS = {"compact": Path(__file__).with_name("configs") / "mini_swe_compact.yaml"}
DEFAULT_CONFIG = "swebench_backticks"
_USER_RETRY_SETTING = os.environ.get("MSWEA_MODEL_RETRY_STOP_AFTER_ATTEMPT")


def quiet_imports() -> None:
    """mini-swe-agent prints a banner on import and litellm fetches a price list and prints provider
    hints: set their documented switches (unless the user set them) before importing either."""
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class AgentgymEnvironment:
    """A mini-swe-agent environment class whose commands run in an agentgym env's sandbox.

    `execute` is the bridge's callback: it blocks until the agentgym rollout loop stepped the env
    with the command and hands back the env's output and exit code.
    """

    def __init__(self, *, execute: Callable[[str], CommandResult], cwd: str = "/testbed", **config: Any) -> None:
        self._execute = execute
        self.config = {"cwd": cwd, **config}

    def execute(self, action: dict[str, Any], cwd: str = "", *, timeout: int | None = None) -> dict[str, Any]:
        from minisweagent.exceptions import Submitted

        command = action.get("command", "") if isinstance(action, dict) else str(action)
        result = self._execute(command)
        output = {"output": result.output, "returncode": result.returncode, "exception_info": ""}
        lines = result.output.lstrip().splitlines(keepends=True)
        if lines and lines[0].strip() == SUBMIT_MARKER and result.returncode == 0:
            submission = "".join(lines[1:])
            raise Submitted({"role": "exit", "content": submission,
                             "extra": {"exit_status": "Submitted", "submission": submission}})
        return output

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        return {**self.config, **kwargs}

    def serialize(self) -> dict[str, Any]:
        return {"info": {"config": {"environment": dict(self.config),
                                    "environment_type": f"{__name__}.{type(self).__name__}"}}}


def config_path(name: str) -> Path:
    """A mini-swe-agent config by name (`compact`, one of mini-swe-agent's own such as
    `swebench_backticks` or `mini_textbased`) or a YAML path; ValueError naming what exists."""
    if name in SHIPPED_CONFIGS:
        return SHIPPED_CONFIGS[name]
    path = Path(name).expanduser()
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ValueError(f"mini-swe-agent config {name!r}: file not found")
        return path
    quiet_imports()
    try:
        from minisweagent import package_dir
    except ImportError:
        raise ValueError("mini-swe-agent is not installed: pip install 'agentgym[harness]'") from None
    found = sorted((package_dir / "config").rglob(f"{name}.yaml"))
    if not found:
        known = sorted({p.stem for p in (package_dir / "config").rglob("*.yaml")} | set(SHIPPED_CONFIGS))
        raise ValueError(f"mini-swe-agent config {name!r} not found; known: {', '.join(known)}")
    return found[0]


class MiniSweAgentRunner:
    """Runs mini-swe-agent's `DefaultAgent` on one task (see the module docstring)."""

    name = "mini-swe-agent"

    def __init__(self, *, config: str = DEFAULT_CONFIG, step_limit: int = 20, command_timeout: int | None = None,
                 retries: int = 2) -> None:
        import yaml

        quiet_imports()
        self.config_name = config
        self.path = config_path(config)
        self.config: dict[str, Any] = yaml.safe_load(self.path.read_text()) or {}
        if "agent" not in self.config:
            raise ValueError(f"mini-swe-agent config {self.path}: no `agent` section")
        self.step_limit = int(step_limit)
        self.command_timeout = command_timeout
        self.retries = int(retries)

    def describe(self) -> dict[str, Any]:
        try:
            from minisweagent import __version__ as version
        except ImportError:  # pragma: no cover - checked at construction by the factory
            version = "?"
        model = self.config.get("model") or {}
        return {"name": self.name, "version": version, "config": self.config_name,
                "model_class": model.get("model_class", "litellm_textbased"), "step_limit": self.step_limit}

    def run(self, task: str, *, base_url: str, model: str, headers: dict[str, str],
            execute: Callable[[str], CommandResult]) -> dict[str, Any]:
        quiet_imports()
        if _USER_RETRY_SETTING is None:  # mini-swe-agent reads its retry count from the environment
            os.environ["MSWEA_MODEL_RETRY_STOP_AFTER_ATTEMPT"] = str(self.retries + 1)
        import litellm
        from minisweagent.agents.default import DefaultAgent
        from minisweagent.models import get_model

        litellm.suppress_debug_info = True  # no "Provider List" lines on stdout

        model_config = dict(self.config.get("model") or {})
        model_config.pop("model_name", None)
        model_kwargs = dict(model_config.pop("model_kwargs", None) or {})
        model_kwargs.update(api_base=f"{base_url}/v1", api_key="agentgym", extra_headers=dict(headers))
        model_kwargs.setdefault("max_retries", 0)  # retries are mini-swe-agent's own (`retries=`), not the client's too
        model_config.setdefault("model_class", "litellm_textbased")
        model_config["cost_tracking"] = "ignore_errors"
        lm = get_model(f"openai/{model}", {**model_config, "model_kwargs": model_kwargs})
        env_config = dict(self.config.get("environment") or {})
        env = AgentgymEnvironment(execute=execute, cwd=str(env_config.get("cwd") or "/testbed"))
        agent_config = dict(self.config["agent"])
        agent_config.update(step_limit=self.step_limit, cost_limit=0.0, output_path=None)
        agent = DefaultAgent(lm, env, **agent_config)
        result = agent.run(task)
        return {"exit_status": result.get("exit_status", ""), "submission": result.get("submission", ""),
                "model_calls": agent.n_calls}
