"""The counter family's plugin declaration, named by the `agentgym.families` entry point.

Loaded on every `import agentgym`: data only (ids and "module:attribute" strings), no import
but `agentgym.family`. The env module loads when the env is made, the CLI module when the
`agentgym` command starts.
"""

from agentgym.family import EnvEntry, Family

FAMILY = Family(
    name="counter",
    description="Example family: reach a target number with add/multiply within a budget",
    envs=(
        EnvEntry(
            id="counter/ReachTarget-v0",
            entry_point="agentgym_counter.env:CounterEnv",
            description="reach a target number with add(n)/multiply(n), then submit, within a budget",
            tasks="agentgym_counter.tasks:counter_tasks",
        ),
    ),
    commands={"tasks counter": "agentgym_counter.cli:app"},
)
