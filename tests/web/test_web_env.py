"""WebEnv with a real Chromium: oracles, error observations, crashes, spaces, cleanup."""

import os
import random
import re
import signal
import time

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym  # noqa: F401  (registers agentgym/Web-v0)
from agentgym.envs.web.browser import chromium_pids
from agentgym.envs.web.miniwob import ORACLES
from agentgym.envs.web.oracle import run_oracle
from agentgym.envs.web.spaces import PNG_SIGNATURE
from agentgym.tasks.web.apps import APPS
from agentgym.tasks.web.miniwob import playable_task_names

pytestmark = pytest.mark.browser

SAMPLE = [f"{app}-{i:04d}" for app in APPS for i in (3, 42)] + ["mail-0007"]  # mail-0007 is a question task


# ---------------------------------------------------------------------------- oracles
@pytest.mark.parametrize("task_id", SAMPLE)
def test_oracle_solves_generated_task(web_env, task_id):
    run = run_oracle(web_env, task_id)
    assert run.ok, run
    assert run.outcome == 1.0
    report = web_env.last_report
    assert report is not None and report.return_outcome == 1.0
    assert not report.reward_invalid


@pytest.mark.slow
def test_oracle_solves_every_generated_task(web_env):
    failures = []
    for task_id in web_env.task_ids():
        run = run_oracle(web_env, task_id)
        if not (run.ok and run.outcome == 1.0):
            failures.append((task_id, run.errors, run.outcome))
    assert len(web_env.task_ids()) >= 300
    assert not failures, failures[:5]


@pytest.mark.parametrize("task_id", sorted(ORACLES))
def test_oracle_solves_miniwob_task(miniwob_env, task_id):
    for seed in (0, 1):
        run = run_oracle(miniwob_env, task_id, seed=seed)
        assert run.ok, run
        assert run.terminated


def test_subgoals_are_emitted_along_the_oracle(web_env):
    web_env.reset(seed=0, options={"task_id": "shop-0005"})
    total = 0.0
    for action in web_env.oracle_actions():
        _, _, terminated, _, info = web_env.step(action)
        total += info["components"].get("subgoal", 0.0)
    assert terminated
    assert total == pytest.approx(1.0)  # the whole checklist, each item once


def test_shop_partial_score_for_wrong_option(web_env):
    web_env.reset(seed=0, options={"task_id": "shop-0011"})
    actions = web_env.oracle_actions()
    task = web_env.task
    dims = task.spec["target"]["options"]
    # choose a different value for the first option: the WebShop score drops below 1 but stays > 0
    from agentgym.tasks.web.apps.shop import BY_ID

    pid = int(re.search(r"product-(\d+)", next(a for a in actions if "product-" in a)).group(1))
    dim, wanted = next(iter(dims.items()))
    other = next(v for v in BY_ID[pid].options[dim] if v != wanted)
    actions = [f'select("option-{dim}", "{other}")' if a.startswith(f'select("option-{dim}"') else a for a in actions]
    info = {}
    for action in actions:
        _, _, terminated, truncated, info = web_env.step(action)
        if terminated or truncated:
            break
    outcome = info["trajectory_components"]["outcome"]
    assert 0.0 < outcome < 1.0
    assert info["success"] is False and info["metrics"]["success"] == 0.0


# ---------------------------------------------------------------------------- errors
def test_malformed_actions_give_error_observations(web_env):
    obs, _ = web_env.reset(seed=0, options={"task_id": "booking-0001"})
    assert "Goal:" in obs and "[search]" in obs
    for bad in ['click("search"', '__import__("os").system("true")', "hello there",
                '<tool_call>{"name": "rm", "arguments": {}}</tool_call>', 'scroll("sideways")', 'fill("city")']:
        obs, reward, terminated, truncated, info = web_env.step(bad)
        assert obs.startswith("Error"), (bad, obs[:200])
        assert info["action_valid"] is False and info["components"]["action_valid"] == 0.0
        assert not terminated
    obs, _, _, _, info = web_env.step('click("no-such-element")')
    assert "no element with id" in obs and "Page:" in obs
    obs, _, _, _, info = web_env.step('select("search", "Lisbon")')
    assert "not a select" in obs


def test_goto_outside_allowed_origins_is_refused(web_env):
    web_env.reset(seed=0, options={"task_id": "mail-0001"})
    for url in ("https://example.com/", "file:///etc/passwd", "javascript:alert(1)", "http://127.0.0.1:1/"):
        obs, _, terminated, _, info = web_env.step(f'goto("{url}")')
        assert "outside the task's allowed origins" in obs, obs[:200]
        assert info["tool_results"][0]["ok"] is False
    obs, *_ = web_env.step('goto("/mail/todos")')  # relative, same origin: allowed
    assert "Title: Mail - to-do" in obs


def test_noop_component_when_the_page_does_not_change(web_env):
    web_env.reset(seed=0, options={"task_id": "mail-0002"})
    _, _, _, _, info = web_env.step('scroll("up")')  # already at the top
    assert info["components"].get("noop") == 1.0
    _, _, _, _, info = web_env.step('click("nav-todos")')
    assert info["components"]["noop"] == 0.0  # declared step components are zero-filled by the core


def test_random_policy_scores_low(web_env):
    rng = random.Random(0)
    ids_re = re.compile(r"\[([A-Za-z0-9_\-:.]+)\]")
    scores = []
    for task_id in ["shop-0001", "booking-0002", "mail-0003", "mail-0005"]:
        obs, _ = web_env.reset(seed=1, options={"task_id": task_id})
        info = {}
        for _ in range(web_env.max_turns):
            ids = ids_re.findall(obs) or ["1"]
            kind = rng.choice(["click", "click", "fill", "scroll", "go_back"])
            action = {"click": f'click("{rng.choice(ids)}")', "fill": f'fill("{rng.choice(ids)}", "abc")',
                      "scroll": 'scroll("down")', "go_back": "go_back()"}[kind]
            obs, _, terminated, truncated, info = web_env.step(action)
            if terminated or truncated:
                break
        scores.append(info["trajectory_components"]["outcome"])
    assert sum(scores) / len(scores) < 0.3, scores


# ---------------------------------------------------------------------------- infrastructure
def test_killed_browser_marks_reward_invalid_and_next_reset_works(web_env):
    web_env.reset(seed=0, options={"task_id": "booking-0003"})
    pid = web_env.browser.browser_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while web_env.browser.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    obs, reward, terminated, truncated, info = web_env.step('click("search")')
    assert info["reward_invalid"] is True
    assert truncated and reward == 0.0
    assert "Infrastructure error" in obs
    run = run_oracle(web_env, "booking-0003")  # relaunches Chromium
    assert run.ok, run
    assert web_env.browser.launches >= 2


def test_close_leaves_no_chromium_process():
    before = set(chromium_pids())
    env = gym.make("agentgym/Web-v0", suite="miniwob", task="click-button")
    env.reset(seed=0)
    mine = set(env.unwrapped.browser.process_ids())
    assert mine, "Chromium should be running"
    env.close()
    time.sleep(0.2)
    assert not (set(chromium_pids()) - before)
    assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in mine)


# ---------------------------------------------------------------------------- spaces and registration
def test_check_env_text_mode():
    env = gym.make("agentgym/Web-v0", suite="miniwob", task="click-button")
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_check_env_screenshot_mode():
    env = gym.make("agentgym/Web-v0", suite="shop", task="shop-0000", obs_mode="text+screenshot")
    try:
        check_env(env.unwrapped, skip_render_check=True)
        obs, _ = env.reset(seed=0)
        assert set(obs) == {"text", "screenshot"}
        assert obs["screenshot"].startswith(PNG_SIGNATURE) and len(obs["screenshot"]) > 1000
        assert env.observation_space.contains(obs)
    finally:
        env.close()


def test_same_seed_same_episode(miniwob_env):
    first, _ = miniwob_env.reset(seed=11, options={"task_id": "click-checkboxes"})
    second, _ = miniwob_env.reset(seed=11, options={"task_id": "click-checkboxes"})
    third, _ = miniwob_env.reset(seed=12, options={"task_id": "click-checkboxes"})
    assert first == second
    assert first != third


def test_tool_calls_work_like_text(miniwob_env):
    miniwob_env.reset(seed=0, options={"task_id": "click-test"})
    button = miniwob_env.oracle_actions()[0].split('"')[1]
    message = {"role": "assistant", "content": "",
               "tool_calls": [{"id": "c1", "type": "function",
                               "function": {"name": "click", "arguments": f'{{"id": "{button}"}}'}}]}
    _, reward, terminated, _, info = miniwob_env.step(message)
    assert terminated and info["success"] is True and reward > 0


@pytest.mark.slow
def test_every_playable_miniwob_task_starts(miniwob_env):
    names = playable_task_names()
    assert len(names) >= 50
    broken = []
    for name in names:
        obs, info = miniwob_env.reset(seed=0, options={"task_id": name})
        if not info["task"]["prompt"] or obs.count("[") < 2:
            broken.append(name)
    assert not broken, broken


def test_env_can_be_driven_from_other_threads(miniwob_env):
    """Playwright's sync API is thread-bound; the env runs browser calls on its own thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        pool.submit(miniwob_env.reset, seed=3, options={"task_id": "click-test"}).result()
        actions = pool.submit(miniwob_env.oracle_actions).result()
        _, _, terminated, _, info = pool.submit(miniwob_env.step, actions[0]).result()
    assert terminated and info["success"] is True
