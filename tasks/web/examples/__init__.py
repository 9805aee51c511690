"""Example custom web task files (custom_tasks.jsonl, signup.html)."""
