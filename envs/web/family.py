"""The Web family's plugin declaration (loaded on every `import agentgym`: data only)."""

from agentgym.family import EnvEntry, Family

FAMILY = Family(
    name="web",
    description="Browser tasks in Chromium: MiniWoB++, shop, booking, mail, custom tasks",
    envs=(
        EnvEntry(
            id="agentgym/Web-v0",
            entry_point="agentgym.envs.web.env:WebEnv",
            description="Browser tasks in Chromium: MiniWoB++, shop, booking, mail",
            tasks="agentgym.tasks.web.source:web_tasks",
            # the shop: every task has an oracle and its outcome is the numeric WebShop score; its
            # components are all emitted whatever the number of episodes (tests/web also checks
            # suite="apps", whose first three tasks are one of each app)
            check_kwargs={"suite": "shop"},
        ),
    ),
    commands={"tasks web": "agentgym.envs.web.cli:tasks_app"},
    extra="web",
)
