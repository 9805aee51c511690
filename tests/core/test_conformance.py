"""Every registered env passes the family conformance check (`agentgym check`), whatever its
family: check_env, declared components emitted, oracle succeeds, random does not, a no-op scores
the minimum (no gate opens), the spec is bound to declared components, success is declared,
re-execution reproduces, a restored snapshot reproduces the continuation."""

from __future__ import annotations

import pytest

from agentgym.conformance import check_conformance
from agentgym.family import env_entries


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(env_entries()))
def test_registered_env_conforms(env_id):
    report = check_conformance(env_id, episodes=2)
    failures = [f"{c.name}: {c.detail}" for c in report.failures()]
    assert report.passed, f"{env_id} fails conformance:\n" + "\n".join(failures)
    names = [c.name for c in report.checks]
    assert names == [
        "agentgym env", "gymnasium check_env", "outcome declared", "spec bound",
        "oracle succeeds", "random fails", "no-op scores the minimum", "components emitted",
        "re-execution reproduces", "restore reproduces",
    ]
