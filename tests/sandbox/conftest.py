import pytest


@pytest.fixture(params=["docker", "local"])
def sandbox(request):
    from agentgym.sandbox import make_sandbox

    if request.param == "docker":
        from agentgym.sandbox.docker_backend import docker_unavailable_reason

        reason = docker_unavailable_reason()
        if reason:
            pytest.skip(reason)
    else:
        from agentgym.sandbox.local_backend import bwrap_available

        reason = bwrap_available()
        if reason:
            pytest.skip(reason)
    sb = make_sandbox(request.param, default_timeout=30)
    yield sb
    sb.close()
