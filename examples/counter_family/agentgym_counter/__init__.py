"""agentgym_counter: an example agentgym family, installed as its own package.

Kept empty on purpose: the `agentgym.families` entry point imports `agentgym_counter.family` (and
so this package) on every `import agentgym`, so nothing heavy may load here.
"""
