"""The search family's plugin declaration (loaded on every `import agentgym`: data only)."""

from agentgym.family import EnvEntry, Family

FAMILY = Family(
    name="search",
    description="Multi-hop question answering over a document corpus with BM25 / dense / hybrid search",
    envs=(
        EnvEntry(
            id="agentgym/SearchQA-v0",
            entry_point="agentgym.envs.search.env:SearchQAEnv",
            description="Multi-hop QA with BM25/dense search",
            tasks="agentgym.tasks.search.source:search_tasks",
            check_kwargs={},
        ),
    ),
    commands={
        "tasks search": "agentgym.envs.search.cli:tasks_app",
        "search": "agentgym.envs.search.cli:app",
    },
    extra="search",
)
