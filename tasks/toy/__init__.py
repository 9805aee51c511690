"""agentgym.tasks.toy: the StallOrSubmit toy's generated tasks."""
