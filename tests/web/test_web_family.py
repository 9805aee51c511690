"""The Web family under the closed contract: its plugin declaration, task source, declared
components and outcome, and the oracle / random episodes of every suite through `gym.make`."""

import ast
import random
import string
from pathlib import Path

import gymnasium as gym
import pytest

import agentgym  # noqa: F401  (registers agentgym/Web-v0)
from agentgym.env import CORE_COMPONENTS
from agentgym.errors import TaskError
from agentgym.family import env_entries, task_source
from agentgym.tasks.web import EXAMPLES
from agentgym.tasks.web.source import web_tasks

ENV_ID = "agentgym/Web-v0"
EXAMPLE_FILE = str(EXAMPLES / "custom_tasks.jsonl")
TASKS_WEB = Path(__file__).resolve().parents[2] / "tasks" / "web"

#: (env kwargs, task id) with an oracle, one per suite
SUITE_TASKS = [
    ({"suite": "miniwob"}, "click-button"),
    ({"suite": "miniwob"}, "enter-text"),
    ({"suite": "shop"}, "shop-0004"),
    ({"suite": "booking"}, "booking-0005"),
    ({"suite": "mail"}, "mail-0007"),
    ({"suite": "apps"}, "mail-0002"),
    ({"suite": "custom", "task_file": EXAMPLE_FILE}, "newsletter-deals"),
    ({"suite": "custom", "task_file": EXAMPLE_FILE}, "table-lookup"),
]


# ---------------------------------------------------------------------------- declaration and tasks
def test_tasks_import_nothing_from_the_envs():
    offenders = []
    for path in TASKS_WEB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("agentgym.envs")]
        if "agentgym.envs" in path.read_text(encoding="utf-8"):
            offenders.append(f"{path.name} names agentgym.envs")
    assert not offenders


def test_family_declares_the_env_and_its_task_function():
    family, entry = env_entries()[ENV_ID]
    assert family.name == "web" and family.extra == "web"
    assert entry.entry_point == "agentgym.envs.web.env:WebEnv"
    assert entry.tasks == "agentgym.tasks.web.source:web_tasks"
    assert family.commands == {"tasks web": "agentgym.envs.web.cli:tasks_app"}


def test_tasks_are_listed_without_a_browser():
    miniwob = task_source(ENV_ID).ids()  # the default suite
    assert "click-button" in miniwob and "drag-box" not in miniwob and len(miniwob) >= 50
    apps = task_source(ENV_ID, {"suite": "apps", "num_tasks": 5}).ids()
    assert apps[:3] == ["shop-0000", "booking-0000", "mail-0000"] and len(apps) == 15
    assert task_source(ENV_ID, {"suite": "shop"}).ids() == [f"shop-{i:04d}" for i in range(100)]
    custom = task_source(ENV_ID, {"suite": "custom", "task_file": EXAMPLE_FILE}).ids()
    assert custom == ["counter-to-three", "newsletter-deals", "table-lookup"]
    source = web_tasks("mail")
    assert set(source.splits()) == {"train", "test"}
    assert sorted(source.ids("train") + source.ids("test")) == source.ids()


def test_task_narrows_the_source_to_one_task():
    assert web_tasks("miniwob", task="miniwob/drag-box-v1").ids() == ["drag-box"]  # excluded, but named
    assert web_tasks("shop", task="shop-0150").ids() == ["shop-0150"]  # beyond num_tasks
    with pytest.raises(TaskError, match="unknown MiniWoB task"):
        web_tasks("miniwob", task="no-such-page").ids()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"suite": "nope"}, "unknown web suite"),
        ({"suite": "custom"}, "needs task_file"),
        ({"suite": "miniwob", "num_tasks": 5}, "num_tasks is for the generated app suites"),
        ({"suite": "shop", "task_file": EXAMPLE_FILE}, "task_file is for suite"),
    ],
)
def test_bad_suite_kwargs_name_the_problem(kwargs, message):
    with pytest.raises(TaskError, match=message):
        web_tasks(**kwargs)


def test_generated_tasks_are_deterministic_and_hide_their_answers():
    first, second = web_tasks("apps").get("booking-0003"), web_tasks("apps").get("booking-0003")
    assert first == second
    assert first.oracle and first.spec["target"]
    assert "oracle" not in first.public() and "spec" not in first.public()


@pytest.mark.parametrize(
    ("suite", "extra"),
    [("miniwob", {"raw_reward"}), ("shop", {"orders"}), ("booking", {"validation_errors"}),
     ("mail", {"sent"}), ("apps", {"orders", "validation_errors", "sent"}), ("custom", set())],
)
def test_declared_components_and_outcome(suite, extra):
    from agentgym.envs.web.env import WebEnv

    kwargs = {"task_file": EXAMPLE_FILE} if suite == "custom" else {}
    env = WebEnv(suite=suite, **kwargs)  # no browser is started before the first reset
    try:
        family = set(env.declared) - {c.name for c in CORE_COMPONENTS}
        assert family == {"subgoal", "noop", "outcome", "subgoal_fraction"} | extra
        assert env.declared["outcome"].scope == "trajectory" and not env.declared["outcome"].categorical
        assert env.outcome.success_threshold == 1.0 and env.outcome.checklist == "subgoal_fraction"
        assert env.outcome.is_success({"outcome": 1.0}) and not env.outcome.is_success({"outcome": 0.99})
    finally:
        env.close()


def test_env_kwargs_errors_come_at_construction():
    from agentgym.envs.web.env import WebEnv

    with pytest.raises(TaskError, match="unknown MiniWoB task"):
        WebEnv(suite="miniwob", task="no-such-page")
    with pytest.raises(TaskError, match="unknown web suite"):
        WebEnv(suite="nope")


# ---------------------------------------------------------------------------- episodes (Chromium)
def _oracle_episode(env, task_id: str, seed: int = 0) -> dict:
    env.reset(seed=seed, options={"task_id": task_id})
    info: dict = {}
    for action in env.unwrapped.oracle_actions():
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return info


def _random_text_episode(env, task_id: str, seed: int = 0) -> dict:
    rng = random.Random(seed)
    env.reset(seed=seed, options={"task_id": task_id})
    info: dict = {}
    for _ in range(env.unwrapped.max_turns):
        words = " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(1, 8)))
                         for _ in range(rng.randint(1, 6)))
        _, _, terminated, truncated, info = env.step(words)
        assert info["action_valid"] is False
        if terminated or truncated:
            break
    return info


@pytest.mark.browser
@pytest.mark.parametrize(("kwargs", "task_id"), SUITE_TASKS, ids=[t for _, t in SUITE_TASKS])
def test_oracle_succeeds_and_random_text_does_not(kwargs, task_id):
    env = gym.make(ENV_ID, **kwargs)
    try:
        info = _oracle_episode(env, task_id)
        assert info["success"] is True and info["reward_invalid"] is False
        assert info["trajectory_components"]["outcome"] == 1.0
        assert info["metrics"]["success"] == 1.0 and "checklist" in info["metrics"]
        assert not env.unwrapped.undeclared_emissions

        info = _random_text_episode(env, task_id)
        assert info["success"] is False and info["reward_invalid"] is False
        assert info["trajectory_components"]["outcome"] == 0.0 and info["metrics"]["success"] == 0.0
        assert not env.unwrapped.undeclared_emissions
    finally:
        env.close()


@pytest.mark.browser
def test_miniwob_aliases_and_the_fixed_task(miniwob_env):
    _, info = miniwob_env.reset(seed=0, options={"task_id": "miniwob/click-button-v1"})
    assert info["task_id"] == "click-button"
    _, info = miniwob_env.reset(seed=0, options={"task_id": "miniwob.click-test"})
    assert info["task_id"] == "click-test"
    env = gym.make(ENV_ID, task="enter-text")
    try:
        for seed in (0, 1, 2):
            assert env.reset(seed=seed)[1]["task_id"] == "enter-text"
    finally:
        env.close()


@pytest.mark.browser
def test_malformed_action_and_prose_get_different_errors(miniwob_env):
    miniwob_env.reset(seed=0, options={"task_id": "click-button"})
    obs, *_, info = miniwob_env.step('click("4"')  # an action, broken
    assert obs.startswith("Error: could not parse your tool call(s)") and "Actions: click(id)" in obs
    assert info["action_valid"] is False
    obs, *_, info = miniwob_env.step("I think I should look around first.")  # prose, no action
    assert obs.startswith("Error: no valid action found in your reply") and info["action_valid"] is False


@pytest.mark.browser
def test_served_pages_show_a_stable_origin(web_env):
    obs, info = web_env.reset(seed=0, options={"task_id": "shop-0002"})
    assert "URL: http://site.test/shop/" in obs
    assert info["task"]["start_url"].startswith("http://127.0.0.1:")  # the real server
    obs, *_ = web_env.step('goto("http://site.test/shop/cart")')
    assert "Title: Shop - cart" in obs and "URL: http://site.test/shop/cart" in obs
    assert "127.0.0.1" not in obs


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("kwargs", [None, {"suite": "apps"}, {"suite": "custom", "task_file": EXAMPLE_FILE}],
                         ids=["check_kwargs", "apps", "custom"])
def test_agentgym_check_passes(kwargs):
    from agentgym.conformance import check_conformance

    report = check_conformance(ENV_ID, kwargs)  # None: the family's check_kwargs (the shop)
    assert report.passed, [(c.name, c.detail) for c in report.failures()]
