"""ToolUse-v0: SQLite worlds, seeded tasks, tau-bench outcome, users, rewards, bad actions."""

import json
import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym  # noqa: F401 - registers the envs
from agentgym.envs.tool.env import ToolUseEnv, gold_state_hash
from agentgym.envs.tool.users import STOP, LLMUser, ScriptedUser
from agentgym.envs.tool.worlds import WORLDS, make_world
from agentgym.errors import TaskError
from agentgym.family import task_source
from agentgym.policy import PolicyOutput
from agentgym.tasks.tool.world_data import WORLD_DATA, SeedRows
from agentgym.tasks.tool.worlds import WorldTask, generate_tasks


def call(name, **arguments):
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        ],
    }


def play(env, actions):
    info = {}
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return obs, reward, terminated, truncated, info
    return obs, reward, terminated, truncated, info


@pytest.fixture(scope="module")
def env():
    e = gym.make("agentgym/ToolUse-v0")
    yield e
    e.close()


def test_suite_has_at_least_200_seeded_tasks_and_is_deterministic():
    tasks = generate_tasks()
    assert len(tasks) >= 200
    assert {t.world for t in tasks} == set(WORLDS)
    assert len({t.id for t in tasks}) == len(tasks)
    again = generate_tasks()
    assert [t.model_dump() for t in tasks] == [t.model_dump() for t in again]
    assert all(t.gold_actions for t in tasks)


def test_callers_get_copies_and_envs_share_one_read_only_suite():
    """`generate_tasks()` hands out copies (changing one leaves the suite as it was); the envs' task
    source reads the process-wide instances, so a second env in the process copies nothing."""
    mine = generate_tasks("files")
    mine[0].gold_actions.clear()
    assert generate_tasks("files")[0].gold_actions, "a caller's change leaked into the cached suite"
    shared = generate_tasks("files", shared=True)
    assert all(a is b for a, b in zip(shared, generate_tasks("files", shared=True), strict=True))
    first, second = (task_source("agentgym/ToolUse-v0", {"world": "files"}) for _ in range(2))
    task_id = first.ids()[0]
    assert first.get(task_id) is second.get(task_id) is next(t for t in shared if t.id == task_id)


def test_every_generated_task_replays_its_gold_actions_on_the_world_runtime():
    """The generator only reads seed data; the gold actions must run on the env's tools, and
    change the state exactly when the task has a write."""
    failures = []
    for task in generate_tasks():
        world = make_world(task.world, task.db_seed)
        before = world.state_hash()
        try:
            for action in task.gold_actions:
                world.apply(action["name"], action["arguments"])
        except Exception as exc:  # noqa: BLE001 - collected and reported
            failures.append((task.id, repr(exc)))
            continue
        finally:
            after = world.state_hash()
            world.close()
        writes = [a for a in task.gold_actions if a["name"] not in WORLDS[task.world].READ_ONLY]
        if (after != before) != bool(writes):
            failures.append((task.id, "state change does not match the task's writes"))
    assert not failures, failures[:5]


def test_seed_data_is_shared_by_the_generator_and_the_world_runtime():
    assert set(WORLD_DATA) == set(WORLDS)
    for name in WORLDS:
        for seed in range(4):
            rows, world = SeedRows(name, seed), make_world(name, seed)
            for table in world.tables():
                assert rows.rows(f'SELECT * FROM "{table}"') == world.rows(f'SELECT * FROM "{table}"')
            rows.close()
            world.close()


def test_task_generation_loads_no_env_module():
    code = ("import sys, agentgym.tasks.tool.source as s; s.world_tasks().ids(); "
            "print(sorted(m for m in sys.modules if m.startswith('agentgym.envs.tool.') and m != 'agentgym.envs.tool.family'))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_env_computes_the_gold_state_and_rejects_a_task_whose_gold_fails():
    task = generate_tasks("retail", 1)[0]
    world = make_world(task.world, task.db_seed)
    for action in task.gold_actions:
        world.apply(action["name"], action["arguments"])
    assert gold_state_hash(task) == world.state_hash()
    broken = WorldTask(id="broken", world="retail", gold_actions=[{"name": "cancel_pending_order",
                       "arguments": {"order_id": "#W0000000", "reason": "no longer needed"}}])
    with pytest.raises(TaskError, match="broken: gold action 0 fails"):
        gold_state_hash(broken)


def test_task_source_lists_tasks_without_an_env():
    source = task_source("agentgym/ToolUse-v0", {"world": "files"})
    assert len(source) == 60 and all(i.startswith("files-") for i in source.ids())
    assert set(source.ids("train")) | set(source.ids("test")) == set(source.ids())
    assert task_source("agentgym/ToolUse-v0", {"task": ["travel-info-003"]}).ids() == ["travel-info-003"]
    with pytest.raises(ValueError, match="unknown world"):
        task_source("agentgym/ToolUse-v0", {"world": "mars"})


def test_oracle_scores_one_on_every_world_task(env):
    u = env.unwrapped
    failures = []
    for task_id in u.task_ids():
        env.reset(options={"task_id": task_id})
        obs, reward, terminated, truncated, info = play(env, u.oracle_actions())
        ok = terminated and not truncated and info["metrics"]["success"] == 1.0
        ok = (
            ok
            and info["trajectory_components"]["outcome"] == "success"
            and info["report"].return_outcome == 1.0
        )
        if not ok:
            failures.append((task_id, info.get("trajectory_components"), obs))
    assert not failures, failures[:3]


def test_state_hash_is_canonical_and_tool_errors_roll_back():
    a, b = make_world("retail", 1), make_world("retail", 1)
    assert a.state_hash() == b.state_hash()
    assert a.state_hash() != make_world("retail", 2).state_hash()
    order = a.rows("SELECT order_id FROM orders WHERE status='pending' ORDER BY order_id")[0]["order_id"]
    a.apply("cancel_pending_order", {"order_id": order, "reason": "no longer needed"})
    assert a.state_hash() != b.state_hash()
    before = b.state_hash()
    # a failing tool (bad payment method after partial checks) leaves no partial write behind
    delivered = b.rows("SELECT order_id FROM orders WHERE status='delivered' ORDER BY order_id")[0][
        "order_id"
    ]
    item = b.rows("SELECT item_id FROM order_items WHERE order_id=?", delivered)[0]["item_id"]
    result = b.toolset().call(
        agentgym.ToolCall(
            name="return_delivered_order_items",
            arguments={"order_id": delivered, "item_ids": [item], "payment_method_id": "credit_card_0000000"},
        )
    )
    assert not result.ok and "payment method" in result.content
    assert b.state_hash() == before


def test_wrong_actions_fail_the_outcome(env):
    u = env.unwrapped
    env.reset(options={"task_id": "retail-cancel-000"})
    task = u.task
    order = task.gold_actions[-1]["arguments"]["order_id"]
    other = (
        "ordered by mistake"
        if task.gold_actions[-1]["arguments"]["reason"] == "no longer needed"
        else "no longer needed"
    )
    obs, reward, terminated, truncated, info = play(
        env,
        [
            call("cancel_pending_order", order_id=order, reason=other),  # wrong reason -> different state
            call("respond", message="Done. Refund: " + ", ".join(task.required_outputs)),
        ],
    )
    assert terminated
    assert info["trajectory_components"]["outcome"] == "reply_only"
    assert info["metrics"]["success"] == 0.0
    assert info["report"].return_ < 0.5  # gate closed: process rewards do not count


def test_bad_actions_give_error_observations_and_never_raise(env):
    env.reset(options={"task_id": "retail-status-004"})
    cases = [
        (call("get_order_details", order_id=12345), "Invalid arguments"),  # wrong type
        (call("get_order_details", order="#W1"), "Invalid arguments"),  # unknown argument
        (call("launch_rocket", target="moon"), "unknown tool"),
        (call("get_order_details", order_id="x" * 200_000), "limit"),  # oversize
        ("<tool_call>{not json</tool_call>", "could not parse"),
        (call("get_order_details", order_id="#W0000000"), "not found"),  # ToolError
        ({"role": "assistant", "content": "", "tool_calls": "nope"}, "must be a list"),
    ]
    for action, expected in cases:
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs.startswith("Error"), obs[:200]
        assert expected in obs, obs[:200]
        assert not terminated
    assert info["turn"] == len(cases)


def test_scripted_user_reveals_facts_confirms_and_stops():
    task = generate_tasks("retail", 5)[0]
    user = ScriptedUser(task)
    assert user.reply("Could you tell me your email?").text == task.user_facts[0].text
    assert "go ahead" in user.reply("Shall I proceed with the cancellation?").text
    assert not user.reply("What is your favourite colour?").done
    assert user.reply("Your order is cancelled.").done


class EchoUser:
    """A scripted Policy playing the user: answers once, then stops."""

    name = "echo-user"

    def __init__(self):
        self.seen = []

    def describe(self):
        return {"name": self.name}

    def act(self, messages, tools):
        self.seen.append(messages)
        if len(self.seen) == 1:
            return PolicyOutput.from_text("My email is ava@example.com.")
        return PolicyOutput.from_text(f"Thanks! {STOP}")


def test_llm_user_through_the_policy_protocol():
    policy = EchoUser()
    env = gym.make("agentgym/ToolUse-v0", world="retail", user=policy)
    env.reset(seed=3)
    obs, *_ = env.step(call("respond", message="What's your email?"))
    assert obs == "User: My email is ava@example.com."
    obs, reward, terminated, truncated, info = env.step("All done.")
    assert terminated and env.unwrapped._user_done
    first = policy.seen[0]
    assert first[0]["role"] == "system" and "goal" in first[0]["content"].lower()
    assert first[-1] == {"role": "user", "content": "What's your email?"}
    assert isinstance(env.unwrapped.user, LLMUser)
    env.close()


def test_user_simulator_failure_is_reward_invalid():
    class Broken(EchoUser):
        def act(self, messages, tools):
            raise ConnectionError("model server down")

    env = gym.make("agentgym/ToolUse-v0", world="files", user=Broken())
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("Hello?")
    assert truncated and info["reward_invalid"] and reward == 0.0
    env.close()


def test_process_components_toolrl_and_checklist(env):
    u = env.unwrapped
    env.reset(
        options={"task_id": "travel-book-060" if "travel-book-060" in u.task_ids() else "travel-book-000"}
    )
    gold = u.task.gold_actions
    _, _, _, _, info = env.step(call(gold[0]["name"], **gold[0]["arguments"]))
    c = info["components"]
    assert c["tool_name_match"] == 1.0 and c["param_value_match"] == 1.0
    assert c["checklist"] == pytest.approx(1 / (len(gold) + len(u.task.required_outputs)))
    wrong = dict(gold[-1]["arguments"], passengers=9)
    _, _, _, _, info = env.step(call(gold[-1]["name"], **wrong))
    c = info["components"]
    assert c["tool_name_match"] == 1.0 and 0.0 < c["param_value_match"] < 1.0
    assert c["checklist"] == 0.0  # a wrong call completes no checklist item


def test_eval_reports_pass_hat_k_over_groups():
    from agentgym.baselines.policies.scripted import OraclePolicy
    from agentgym.metrics import summarize
    from agentgym.rollout import run_episodes

    records = run_episodes(
        "agentgym/ToolUse-v0",
        OraclePolicy(),
        task_ids=["files-move-000", "travel-cancel-001"],
        group_size=2,
        env_kwargs={},
    )
    summary = summarize(records, ks=(1, 2))
    assert summary["success"] == 1.0 and summary["pass^2"] == 1.0


def test_check_env_tooluse_and_hidden_fields():
    env = ToolUseEnv(world="files")
    _, info = env.reset(seed=1)
    assert {"world", "db_seed", "kind", "prompt"} <= set(info["task"])
    assert not {"gold_actions", "required_outputs", "user_facts", "instruction", "ask_first"} & set(info["task"])
    check_env(env, skip_render_check=True)
    env.close()
