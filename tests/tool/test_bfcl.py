"""BFCL-v0: the AST checker against gold answers and against bfcl-eval's own checker; the env."""

import json
import os
import re
import subprocess
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import agentgym  # noqa: F401
from agentgym.envs.tool import bfcl_env
from agentgym.envs.tool.bfcl import checker
from agentgym.envs.tool.bfcl.checker import ERROR_TYPES, check_calls, gold_calls, openai_tools
from agentgym.tasks.tool.bfcl import MULTI_TURN, SINGLE_TURN, load_bfcl, resolve_categories
from agentgym.tools import ToolCall

pytest.importorskip("bfcl_eval", reason="BFCL data needs `pip install --no-deps bfcl-eval` (extra: tool)")

# Entries whose gold answer no prediction can satisfy (BFCL data errors, rejected by bfcl-eval's own
# checker too): a required parameter with no allowed value, or a gold parameter missing from the
# function's schema.
UNSATISFIABLE_GOLD = {
    "parallel_multiple_26",  # gold passes 'type', which the function does not have
    "live_simple_106-63-0", "live_simple_112-68-0",  # required parameters with an empty allowed list
    "live_multiple_507-149-4",  # required 'origin_airport' only allowed to be absent
    "live_multiple_862-181-3",  # gold uses 'journey_start_time', absent from the schema
    "live_multiple_964-207-0",  # gold uses 'question', the schema requires 'statement'
}
REFERENCE_PYTHON = os.environ.get("AGENTGYM_BFCL_PYTHON", "/work/bfclvenv/bin/python")


@pytest.fixture(scope="module")
def single_turn_tasks():
    return load_bfcl(SINGLE_TURN)


def test_categories_and_counts():
    assert resolve_categories("simple") == ["simple_python"]
    assert resolve_categories("live") == ["live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"]
    assert len(load_bfcl("simple")) == 400 and len(load_bfcl("multi_turn_base")) == 200
    with pytest.raises(agentgym.TaskError):
        resolve_categories("nonsense")


def test_checker_accepts_every_gold_answer(single_turn_tasks):
    rejected = [t.id for t in single_turn_tasks
                if not check_calls(t.functions, gold_calls(t.ground_truth, t.functions), t.ground_truth, t.category).valid]
    assert set(rejected) == UNSATISFIABLE_GOLD


def test_checker_rules_on_a_known_entry():
    task = load_bfcl("simple")[0]  # calculate_triangle_area(base=10, height=5, unit optional)
    ok = lambda calls: check_calls(task.functions, calls, task.ground_truth, "simple_python")  # noqa: E731
    name = task.functions[0]["name"]
    assert ok([{"name": name, "arguments": {"base": 10, "height": 5}}]).valid
    assert ok([{"name": name, "arguments": {"base": 10, "height": 5, "unit": "Units"}}]).valid  # case-insensitive
    assert ok([{"name": name, "arguments": {"base": 10}}]).error_type.endswith("missing_required")
    assert ok([{"name": name, "arguments": {"base": "10", "height": 5}}]).error_type == "type_error:simple"
    assert ok([{"name": name, "arguments": {"base": 11, "height": 5}}]).error_type == "value_error:others"
    assert ok([{"name": name, "arguments": {"base": 10, "height": 5, "color": "red"}}]).error_type.endswith("unexpected_param")
    assert not ok([]).valid
    assert not ok([{"name": "other", "arguments": {"base": 10, "height": 5}}]).valid


def test_parallel_calls_match_in_any_order():
    task = next(t for t in load_bfcl("parallel") if len(t.ground_truth) >= 2)
    calls = gold_calls(task.ground_truth, task.functions)
    assert check_calls(task.functions, list(reversed(calls)), task.ground_truth, task.category).valid
    assert not check_calls(task.functions, calls[:-1], task.ground_truth, task.category).valid


@pytest.mark.slow
def test_agrees_with_bfcl_eval_checker_on_perturbed_answers(single_turn_tasks, tmp_path):
    if not Path(REFERENCE_PYTHON).exists():
        pytest.skip(reason=f"bfcl-eval with its dependencies is not installed at {REFERENCE_PYTHON} "
                    "(python -m venv /work/bfclvenv && /work/bfclvenv/bin/pip install bfcl-eval soundfile)")
    from bfcl_perturb import perturbed_set, to_calls

    records = perturbed_set(single_turn_tasks)
    assert len(records) > 10_000
    ours = {r["id"]: check_calls(r["functions"], to_calls(r["output"]), r["possible"], r["category"]).valid for r in records}
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with path.open() as stdin:
        proc = subprocess.run([REFERENCE_PYTHON, str(Path(__file__).with_name("bfcl_reference.py"))], stdin=stdin,
                              capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = {v["id"]: v["valid"] for v in map(json.loads, proc.stdout.splitlines())}
    assert set(theirs) == set(ours)
    disagree = [i for i in ours if ours[i] != theirs[i]]
    agreement = 1 - len(disagree) / len(ours)
    print(f"BFCL checker agreement: {agreement:.5f} on {len(ours)} perturbed answers; disagreements: {disagree[:10]}")
    assert agreement >= 0.99
    assert sum(theirs.values()) > 1000 and sum(not v for v in theirs.values()) > 1000  # both verdicts well covered


@pytest.mark.slow
def test_multi_turn_agrees_with_bfcl_eval_checker(tmp_path):
    if not Path(REFERENCE_PYTHON).exists():
        pytest.skip(reason=f"bfcl-eval with its dependencies is not installed at {REFERENCE_PYTHON}")
    from bfcl_perturb import call_source, multi_turn_variants

    env = gym.make("agentgym/BFCL-v0", category="multi_turn_base")
    u = env.unwrapped
    records = []
    for task_id in u.task_ids():
        env.reset(options={"task_id": task_id})
        turns = [u.gold_turn_calls(i) for i in range(len(u.task.turns))]
        for kind, trajectory in multi_turn_variants(turns, task_id).items():
            env.reset(options={"task_id": task_id})
            actions = []
            for turn in trajectory:
                actions += [{"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function", "function": {
                    "name": c["name"], "arguments": json.dumps(c["arguments"])}}]} for c in turn]
                actions.append("Done.")
            *_, info = run(env, actions)
            records.append({"key": f"{task_id}:{kind}", "ours": info["metrics"]["correct"] == 1.0,
                            "entry": {"id": task_id, "initial_config": u.task.initial_config,
                                      "involved_classes": u.task.involved_classes},
                            "ground_truth": u.task.ground_truth,
                            "turns": [[call_source(c) for c in turn] for turn in trajectory]})
    env.close()
    path = tmp_path / "trajectories.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with path.open() as stdin:
        proc = subprocess.run([REFERENCE_PYTHON, str(Path(__file__).with_name("bfcl_multi_turn_reference.py"))],
                              stdin=stdin, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = {v["key"]: v["valid"] for v in map(json.loads, proc.stdout.splitlines())}
    disagree = [r["key"] for r in records if r["ours"] != theirs[r["key"]]]
    agreement = 1 - len(disagree) / len(records)
    print(f"BFCL multi-turn agreement: {agreement:.4f} on {len(records)} trajectories; disagreements: {disagree[:10]}")
    assert agreement >= 0.99
    assert 200 <= sum(theirs.values()) < len(records)  # all gold trajectories valid, perturbations mostly not


def test_openai_tool_schemas_are_valid():
    jsonschema = pytest.importorskip("jsonschema")
    for task in load_bfcl("simple")[:50] + load_bfcl("live_multiple")[:50]:
        for t in openai_tools(task.functions):
            assert t["function"]["parameters"]["type"] == "object"
            assert "." not in t["function"]["name"]
            jsonschema.Draft202012Validator.check_schema(t["function"]["parameters"])


def run(env, actions):
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return obs, reward, terminated, truncated, info
    raise AssertionError("episode did not end")


@pytest.mark.parametrize("category", SINGLE_TURN)
def test_single_turn_oracle_correct_and_wrong_answer_incorrect(category):
    env = gym.make("agentgym/BFCL-v0", category=category)
    u = env.unwrapped
    for task_id in [i for i in u.task_ids() if i not in UNSATISFIABLE_GOLD][:25]:
        env.reset(options={"task_id": task_id})
        *_, info = run(env, u.oracle_actions())
        assert info["metrics"]["correct"] == 1.0, (task_id, info["trajectory_components"])
        assert info["report"].return_outcome == 1.0
    env.reset(options={"task_id": u.task_ids()[0]})
    obs, reward, terminated, truncated, info = env.step("I would rather not call anything.")
    assert terminated and info["metrics"]["correct"] == 0.0 and info["trajectory_components"]["outcome"] == "incorrect"
    env.close()


TOOLRL = ("tool_name_match", "param_name_match", "param_value_match")


def test_single_turn_toolrl_components_reach_the_reward():
    """The oracle's answer scores 1 on each ToolRL component in the answering (last) step, and the
    default spec's levels that read them are non-zero (they reach the tracker before it scores)."""
    env = gym.make("agentgym/BFCL-v0", category="simple")
    u = env.unwrapped
    env.reset(options={"task_id": "simple_python_0"})
    *_, info = run(env, u.oracle_actions())
    assert info["trajectory_components"]["outcome"] == "correct"
    for name in (*TOOLRL, "turn_correct"):
        assert info["components"][name] == 1.0, name
    report = info["report"]
    assert u.default_reward == Path(bfcl_env.__file__).with_name("bfcl_reward.yaml")
    spec = u.reward_spec  # the default: bfcl_reward.yaml
    assert spec.name == "bfcl_default"
    reading = [level.name for level in spec.levels if set(level.components) & {*TOOLRL, "turn_correct"}]
    assert set(reading) == {"toolcall", "turns"}
    for name in reading:
        assert report.level(name).value > 0, name
    assert not [w for w in report.warnings if "never emitted" in w], report.warnings
    assert report.return_gated > 1.0  # the outcome plus the (gated) process levels
    # a wrong answer: the ToolRL scores are partial, the turn is not correct
    env.reset(options={"task_id": "simple_python_0"})
    _, _, _, _, info = env.step(ToolCall(name="calculate_triangle_area", arguments={"base": 11, "height": 5}))
    assert info["components"]["tool_name_match"] == 1.0 and 0.0 < info["components"]["param_value_match"] < 1.0
    assert info["components"]["turn_correct"] == 0.0 and info["trajectory_components"]["outcome"] == "incorrect"
    env.close()


def test_sanitised_names_map_back_to_bfcl_names():
    env = gym.make("agentgym/BFCL-v0", category="simple")
    u = env.unwrapped
    _, info = env.reset(options={"task_id": "simple_python_1"})  # math.factorial
    assert [t["function"]["name"] for t in info["tools"]] == ["math_factorial"]
    (gold,) = gold_calls(u.task.ground_truth, u.task.functions)
    obs, _, terminated, _, info = env.step(ToolCall(name="math_factorial", arguments=gold["arguments"]))
    assert u.calls == [{"name": "math.factorial", "arguments": gold["arguments"]}]
    assert terminated and info["trajectory_components"]["outcome"] == "correct"
    # the BFCL name itself runs the sanitised tool
    env.reset(options={"task_id": "simple_python_1"})
    obs, _, _, _, info = env.step(ToolCall(name="math.factorial", arguments=gold["arguments"]))
    assert "unknown tool" not in obs and info["action_valid"]
    assert info["trajectory_components"]["outcome"] == "correct"
    env.close()


def test_declared_components_follow_the_categories():
    single = gym.make("agentgym/BFCL-v0", category="simple").unwrapped
    multi = gym.make("agentgym/BFCL-v0", category="multi_turn_base").unwrapped
    assert set(single.declared["error_type"].labels) == {"none", *ERROR_TYPES}
    assert "error_type" not in multi.declared
    for env in (single, multi):
        assert {*TOOLRL, "turn_correct", "outcome", "turn_accuracy"} <= set(env.declared)
        env.close()
    source = Path(checker.__file__).read_text()
    assert set(re.findall(r'CheckResult\.fail\("([^"]+)"', source)) == set(ERROR_TYPES)


def test_bad_actions_never_raise_and_are_graded():
    env = gym.make("agentgym/BFCL-v0", category="simple")
    env.reset(options={"task_id": "simple_python_0"})
    obs, reward, terminated, truncated, info = env.step(
        '<tool_call>{"name": "calculate_triangle_area", "arguments": {"base": "ten"}}</tool_call>')
    assert obs.startswith("Error") and not info["action_valid"] and terminated
    assert info["trajectory_components"]["error_type"] in ("simple_function_checker:missing_required",)
    env.reset(options={"task_id": "simple_python_0"})
    obs, reward, terminated, truncated, info = env.step('<tool_call>{"name": "nope", "arguments": {}}</tool_call>')
    assert "unknown tool" in obs and info["metrics"]["correct"] == 0.0
    env.close()


def test_multi_turn_base_oracle_and_state_checks():
    env = gym.make("agentgym/BFCL-v0", category="multi_turn_base")
    u = env.unwrapped
    failures = []
    for task_id in u.task_ids():
        env.reset(options={"task_id": task_id})
        *_, info = run(env, u.oracle_actions())
        if info["metrics"]["correct"] != 1.0:
            failures.append(task_id)
    assert not failures
    # the oracle's calls match the gold calls of their turn (ToolRL components, multi turn)
    env.reset(options={"task_id": "multi_turn_base_0"})
    _, _, _, _, info = env.step(u.oracle_actions()[0])
    assert all(info["components"][name] == 1.0 for name in TOOLRL), info["components"]
    # skipping the first turn's calls: that turn fails the state check, so the episode is incorrect
    env.reset(options={"task_id": "multi_turn_base_0"})
    actions = [a for a in u.oracle_actions()]
    first_done = next(i for i, a in enumerate(actions) if isinstance(a, str))
    obs, reward, terminated, truncated, info = env.step(actions[first_done])
    assert info["components"]["turn_correct"] == 0.0
    assert obs == u.task.turns[1][0]["content"]
    *_, info = run(env, actions[first_done + 1:])
    # later turns build on the missing state, so they fail too (BFCL compares full state per turn)
    assert info["metrics"]["correct"] == 0.0 and info["trajectory_components"]["turn_accuracy"] < 1.0
    env.close()


UNSATISFIABLE_MULTI_TURN = {
    "multi_turn_miss_func_49",  # gold calls `tail` in turn 1, but `tail` is held out until turn 3
}


@pytest.mark.parametrize("category", ["multi_turn_miss_param", "multi_turn_miss_func"])
def test_miss_param_and_miss_func_oracle(category):
    env = gym.make("agentgym/BFCL-v0", category=category)
    u = env.unwrapped
    failures, updates = [], 0
    for task_id in u.task_ids():
        _, first = env.reset(options={"task_id": task_id})
        for action in u.oracle_actions():
            obs, reward, terminated, truncated, info = env.step(action)
            if "tools" in info:  # miss_func: held-out functions arrive with BFCL's prompt
                updates += 1
                assert len(info["tools"]) > len(first["tools"])
                assert obs == "I have updated some more functions you can choose from. What about now?"
            if terminated or truncated:
                break
        if info["metrics"]["correct"] != 1.0:
            failures.append(task_id)
    assert set(failures) <= UNSATISFIABLE_MULTI_TURN
    assert updates == (200 if category == "multi_turn_miss_func" else 0)
    env.close()


def test_held_out_function_is_unknown_until_added():
    env = gym.make("agentgym/BFCL-v0", category="multi_turn_miss_func")
    u = env.unwrapped
    _, info = env.reset(options={"task_id": "multi_turn_miss_func_0"})
    held = [f["name"] for docs in u.task.held_out.values() for f in docs]
    assert held and not set(held) & {t["function"]["name"] for t in info["tools"]}
    obs, *_ = env.step(f'<tool_call>{json.dumps({"name": held[0], "arguments": {}})}</tool_call>')
    assert "unknown tool" in obs
    env.close()


def test_multi_turn_long_context_loads_and_runs():
    env = gym.make("agentgym/BFCL-v0", category="multi_turn_long_context")
    u = env.unwrapped
    env.reset(options={"task_id": u.task_ids()[0]})
    *_, info = run(env, u.oracle_actions())
    assert info["metrics"]["correct"] == 1.0
    assert MULTI_TURN[:2] == ["multi_turn_base", "multi_turn_long_context"]
    env.close()


def test_check_env_bfcl_and_hidden_fields():
    env = gym.make("agentgym/BFCL-v0", category="multi_turn_base")
    _, info = env.reset(seed=0)
    assert "functions" in info["task"]
    assert not {"ground_truth", "initial_config", "turns"} & set(info["task"])
    env.close()
    env = gym.make("agentgym/BFCL-v0", category="simple")
    check_env(env.unwrapped, skip_render_check=True)
    env.close()
