"""Web task suites: generated app tasks (see `agentgym.envs.web.apps`), MiniWoB++ task lists, and
custom tasks from files (`custom.py`, examples in `examples/`)."""

from pathlib import Path

EXAMPLES = Path(__file__).with_name("examples")
