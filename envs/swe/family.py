"""The SWE family's plugin declaration (loaded on every `import agentgym`: data only)."""

from agentgym.family import EnvEntry, Family

FAMILY = Family(
    name="swe",
    description="Fix bugs injected in real Python packages, inside Docker sandboxes, graded SWE-bench style",
    envs=(
        EnvEntry(
            id="agentgym/SWE-v0",
            entry_point="agentgym.envs.swe.env:SWEEnv",
            description="Fix bugs in real Python packages in Docker sandboxes",
            tasks="agentgym.tasks.swe.source:swe_tasks",
        ),
    ),
    commands={"tasks swe": "agentgym.envs.swe.cli:tasks_app"},
    extra="swe",
)
