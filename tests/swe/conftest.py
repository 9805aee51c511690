import pytest


@pytest.fixture(scope="session")
def docker_or_skip():
    from agentgym.sandbox.docker_backend import docker_unavailable_reason

    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def mini_tasks(tmp_path_factory, docker_or_skip):
    """Tasks built by the real pipeline from the tiny minicalc sdist (seed 0)."""
    from agentgym.tasks.swe.build import build_package_tasks
    from agentgym.tasks.swe.minicalc import write_minicalc_sdist
    from agentgym.tasks.swe.records import load_instances, write_instances

    out = tmp_path_factory.mktemp("swe")
    archive = write_minicalc_sdist(out)
    report = build_package_tasks(str(archive), out, seed=0, max_tasks=4, max_tries=30, log=lambda m: None)
    assert not report.error, report.error
    assert len(report.kept) >= 3, report.rejected
    path = out / "tasks.jsonl"
    write_instances(path, report.kept)
    return path, load_instances(path), report
