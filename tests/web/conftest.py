"""Shared fixtures for the web tests: one real Chromium per module (launching costs ~1 s)."""

import pytest

from agentgym.envs.web.browser import find_chromium


def _have_chromium() -> bool:
    try:
        find_chromium()
    except Exception:
        return False
    return True


@pytest.fixture(scope="module")
def web_env():
    if not _have_chromium():
        pytest.skip(reason="Chromium is not installed (apt-get install chromium)")
    from agentgym.envs.web.env import WebEnv

    env = WebEnv(suite="apps", num_tasks=100)
    yield env
    env.close()


@pytest.fixture(scope="module")
def miniwob_env():
    if not _have_chromium():
        pytest.skip(reason="Chromium is not installed (apt-get install chromium)")
    from agentgym.envs.web.env import WebEnv

    env = WebEnv(suite="miniwob")
    yield env
    env.close()
