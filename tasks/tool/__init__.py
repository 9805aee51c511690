"""Task suites of the tool-use family: the tool worlds' seed data and generated tasks, the BFCL v4
loader, MCP tasks, and the task sources of the family's envs (`source.py`)."""
