"""The toy family's plugin declaration (loaded on every `import agentgym`: data only)."""

from agentgym.family import EnvEntry, Family

FAMILY = Family(
    name="toy",
    description="Toy of the G-RA paper: stalling farms a misaligned step critic",
    envs=(
        EnvEntry(
            id="agentgym/StallOrSubmit-v0",
            entry_point="agentgym.envs.toy.stall_or_submit:StallOrSubmitEnv",
            description="Toy of the G-RA paper: stalling farms a misaligned step critic",
            tasks="agentgym.tasks.toy.source:toy_tasks",
            check_kwargs={"pass_prob": 1.0},
        ),
    ),
    commands={"train toy": "agentgym.envs.toy.cli:train_toy"},
)
