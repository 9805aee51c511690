"""agentgym.tasks.web: the Web family's tasks. `WebTask` (task.py); MiniWoB++ task lists
(miniwob.py); the generated app suites' worlds and task generators (apps/); custom tasks from
files (custom.py, examples in `examples/`); `web_tasks`, the family's task source (source.py)."""

from pathlib import Path

EXAMPLES = Path(__file__).with_name("examples")
