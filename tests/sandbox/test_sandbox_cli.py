"""`agentgym sandbox doctor | build-base | prune | ls` against the real engine."""

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def engine():
    from agentgym.sandbox.docker_backend import docker_unavailable_reason

    if reason := docker_unavailable_reason():
        pytest.skip(reason)


def test_doctor_reports_every_check(engine):
    from agentgym.cli.sandbox import app

    result = CliRunner().invoke(app, ["doctor"])
    out = result.output
    assert "[ok] docker engine" in out and "[ok] base image" in out
    assert "network isolated" in out
    assert "bubblewrap" in out
    assert result.exit_code == (0 if "[FAIL]" not in out else 1)


def test_build_base_is_idempotent_and_prune_runs(engine):
    from agentgym.cli.sandbox import app

    result = CliRunner().invoke(app, ["build-base"])
    assert result.exit_code == 0 and "image present" in result.output
    result = CliRunner().invoke(app, ["prune"])
    assert result.exit_code == 0 and "removed" in result.output
