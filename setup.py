"""Maps the root folders envs/, rewards/, tasks/, baselines/ onto agentgym.* subpackages.

Packages are discovered, so adding a subpackage under any root needs no edit here.
"""

from setuptools import find_packages, setup

MAPPED_ROOTS = ("envs", "rewards", "tasks", "baselines")
DATA_PATTERNS = ["*.yaml", "*.yml", "*.json", "*.jsonl", "*.jsonl.gz", "*.tar.gz", "*.html", "*.js", "*.css", "*.txt", "*.md"]

packages = find_packages(include=["agentgym", "agentgym.*"])
package_dir = {}
for root in MAPPED_ROOTS:
    package_dir[f"agentgym.{root}"] = root
    packages.append(f"agentgym.{root}")
    packages += [f"agentgym.{root}.{sub}" for sub in find_packages(where=root)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={pkg: DATA_PATTERNS for pkg in packages},
)
