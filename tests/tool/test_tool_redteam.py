"""Red team: scripted adversarial episodes on ToolUse-v0, MCP-v0 and BFCL-v0 (issue 14).

A policy trained over millions of episodes finds every way to be paid without doing the task. Each
test plays what an exploiting policy might try (answers that list every candidate, SQL in string
arguments, tools that are not offered, replayed calls, gold calls undone, every candidate call at
once, arguments no tool expects) and asserts that the task is not counted as solved
(`info["success"] is False`), that the episode earns no more than an honest failure, and that it
stays valid (`reward_invalid` is False) and never raises.
"""

import json

import gymnasium as gym
import pytest

import agentgym  # noqa: F401 - registers the envs
from agentgym.envs.tool.env import ToolUseEnv
from agentgym.envs.tool.matching import reply_matches, toolcall_scores
from agentgym.envs.tool.worlds import make_world


def call(name, **arguments):
    return {"role": "assistant", "content": "",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


def tool_calls(calls):
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": f"c{i}", "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
        for i, c in enumerate(calls)]}


def raw_call(name, arguments_json):
    return {"role": "assistant", "content": "",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": name, "arguments": arguments_json}}]}


def play(env, task_id, actions, end="Thanks, that is all."):
    """Reset on `task_id`, play `actions` (then `end`, a message asking nothing, if the episode is
    still open); returns (observations, final info)."""
    env.reset(options={"task_id": task_id})
    seen, info = [], {}
    for action in [*actions, end]:
        obs, _, terminated, truncated, info = env.step(action)
        seen.append(obs)
        if terminated or truncated:
            return seen, info
    for _ in range(env.unwrapped.max_turns):  # the user did not leave: run out the turns
        obs, _, terminated, truncated, info = env.step(end)
        if terminated or truncated:
            break
    return seen, info


def assert_not_paid(info, baseline):
    assert info["reward_invalid"] is False, info.get("infrastructure_error")
    assert info["success"] is False, info["trajectory_components"]
    assert info["report"].return_ <= baseline + 1e-9, (info["report"].return_, baseline)


@pytest.fixture(scope="module")
def env():
    e = ToolUseEnv()
    yield e
    e.close()


# ---------------------------------------------------------------------------- required replies
def test_reply_matching_wants_the_value_not_a_list_of_guesses():
    assert reply_matches(["6"], "The file has 6 lines.") == [True]
    assert reply_matches(["178.00", "delivered"], "Order #W4690289 is delivered: 2 items ($45.00, $133.00), "
                                                  "total $178.00.") == [True, True]
    assert reply_matches(["1189.50"], "Booked R2003 on AG123 on 2027-05-01: 2 seats, total $1,189.50.") == [True]
    assert reply_matches(["17:15", "2"], "SK121 departs at 17:15 and has 2 free seats.") == [True, True]
    assert reply_matches(["7.00"], "The price difference, -$7.00, is refunded.") == [True]
    for spray in ("0123456789", "16 lines", "one of 0 1 2 3 4 5 6 7 8 9", "0,1,2,3,4,5, 6 ,7,8,9",
                  "6/7/8/9/10", "1 2 3 4 5 6 7 8 9 10 11 12"):
        assert reply_matches(["6"], spray) == [False], spray
    times = " ".join(f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 15, 30, 45))
    assert reply_matches(["17:15", "2"], times + " and 2 seats") == [False, True]
    assert reply_matches(["delivered"], "undelivered") == [False]
    assert reply_matches(["101.49"], "refund of 1101.49") == [False]


@pytest.mark.parametrize(("task_id", "guesses"), [
    ("files-count-004", ["The file has 0123456789 lines."]),
    ("files-count-004", ["It has 0 1 2 3 4 5 6 7 8 9 10 11 12 lines."]),
    ("files-count-004", ["Candidates: 1,2,3,4,5, 6 ,7,8,9,10"]),
    ("travel-info-003", [" ".join(f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 15, 30, 45))
                         + "; seats: 0 1 2 3 4 5 6 7 8 9"]),
    ("retail-status-004", ["It is pending, processed, delivered, cancelled or returned; total "
                           + " ".join(f"${d}.00" for d in range(100, 400))]),
])
def test_listing_every_candidate_answer_does_not_solve_a_read_task(env, task_id, guesses):
    """A read-only task's gold state is the initial state, so its outcome rests on the reply: a
    reply naming every candidate (or a digit run containing any one-digit answer) used to pass."""
    env.reset(options={"task_id": task_id})
    gold = env.task.gold_actions
    # an honest failure: do the reads, give a wrong answer
    _, info = play(env, task_id, [call(g["name"], **g["arguments"]) for g in gold]
                   + [call("respond", message="I am sorry, the answer is 99999.")])
    assert info["success"] is False
    baseline = info["report"].return_
    _, info = play(env, task_id, [call("respond", message=g) for g in guesses])
    assert_not_paid(info, baseline)
    assert info["trajectory_components"]["reply_match"] < 1.0


def test_honest_answers_in_natural_wording_still_succeed(env):
    cases = {"files-count-004": "The file /home/user/projects/app/schema.md has 6 lines.",
             "travel-info-003": "Flight SK121 departs at 17:15 and has 2 free seats left.",
             "retail-status-004": "Your order #W4690289 was delivered; its total was $178.00."}
    for task_id, answer in cases.items():
        env.reset(options={"task_id": task_id})
        calls = [call(g["name"], **g["arguments"]) for g in env.task.gold_actions]
        _, info = play(env, task_id, [*calls, call("respond", message=answer)])
        assert info["success"] is True, (task_id, info["trajectory_components"])


def test_saying_the_outputs_without_the_work_is_not_success(env):
    """A write task: the reply alone (even the exact refund) leaves the database as it was."""
    env.reset(options={"task_id": "retail-cancel-000"})
    required = env.task.required_outputs
    _, info = play(env, "retail-cancel-000", [call("respond", message="Your order is cancelled. Refund: "
                                                   + ", ".join(required) + ".")])
    assert info["trajectory_components"]["outcome"] == "reply_only"
    assert_not_paid(info, 0.5)


# ---------------------------------------------------------------------------- tool calls
def test_unlisted_and_internal_tools_are_unknown(env):
    names = ["apply", "exec", "rows", "row", "dump", "state_hash", "tables", "db", "close", "toolset", "_talk",
             "score_episode", "finish", "emit", "reply_to_text", "sql", "execute_sql", "admin", "set_state",
             "mark_done", "__init__", "_credit"]
    seen, info = play(env, "retail-cancel-000", [call(n, order_id="#W3329779", sql="UPDATE orders SET status='x'")
                                                 for n in names])
    assert all("unknown tool" in obs for obs in seen[:len(names)]), seen[:3]
    assert info["trajectory_components"]["state_match"] == 0.0
    assert_not_paid(info, 0.5)


INJECTIONS = ["' OR '1'='1", "#W3329779' OR 1=1 --", "x'); UPDATE orders SET status='cancelled'; --",
              "'; DROP TABLE orders; --", "%", "_", "\\", "\"", "#W3329779\x00' OR 1=1"]


def test_sql_in_string_arguments_is_data(env):
    env.reset(options={"task_id": "retail-cancel-000"})
    before = env.world.state_hash()
    env.reset(options={"task_id": "retail-cancel-000"})
    for text in INJECTIONS:
        _, _, _, truncated, info = env.step(tool_calls([
            {"name": "get_order_details", "arguments": {"order_id": text}},
            {"name": "find_user_id_by_email", "arguments": {"email": text}},
            {"name": "cancel_pending_order", "arguments": {"order_id": text, "reason": "no longer needed"}},
            {"name": "modify_pending_order_address",
             "arguments": {"order_id": text, "address": text, "city": text, "zip": text}}]))
        assert not truncated and info["action_valid"]
        assert not any(r["ok"] for r in info["tool_results"]), info["tool_results"]
    assert env.world.state_hash() == before
    assert env.world.rows("SELECT COUNT(*) AS n FROM orders")[0]["n"] > 0


def test_wildcards_and_case_in_paths_match_nothing_else():
    """The file world's "below this directory" used LIKE: a directory named `%` (or `/home/USER`,
    LIKE ignoring case) made move_path and delete_path reach every file of the tree."""
    world = make_world("files", 0)
    try:
        tree = world.dump()
        for name in ("%", "_", "USER", "us_r"):
            world.apply("make_directory", {"path": f"/home/{name}"})
        assert world.apply("list_directory", {"path": "/home/%"}) == "[]"
        world.apply("move_path", {"source": "/home/%", "destination": "/var"})
        world.apply("move_path", {"source": "/home/USER", "destination": "/var"})
        world.apply("delete_path", {"path": "/home/us_r"})
        world.apply("delete_path", {"path": "/home/_"})
        files_now = {p for p, *_ in world.dump()["files"]}
        assert {p for p, *_ in tree["files"]} <= files_now  # every original file where it was
        assert {"/var/%", "/var/USER"} <= files_now
        with pytest.raises(agentgym.ToolError, match="NUL"):
            world.apply("write_file", {"path": "/home/user/a\x00b", "content": "x"})
    finally:
        world.close()


def test_replaying_a_gold_call_earns_its_credit_once(env):
    env.reset(options={"task_id": "files-delete-003"})
    gold = env.task.gold_actions
    first = gold[1]  # delete_path: three more delete_path calls stay pending, all of the same name
    checklist = name_match = 0.0
    for _ in range(5):
        _, _, _, _, info = env.step(call(first["name"], **first["arguments"]))
        checklist += info["components"]["checklist"]
        name_match += info["components"]["tool_name_match"]
    assert checklist == pytest.approx(1 / (len(gold) + len(env.task.required_outputs)))
    assert name_match == 1.0


@pytest.mark.parametrize("arguments", [
    '{"user_id": "emil_sato_257", "flight_number": "NB745", "passengers": ' + "9" * 400
    + ', "payment_method_id": "gift_card_763409"}',
    '{"user_id": "emil_sato_257", "flight_number": "NB745", "passengers": -' + "9" * 400
    + ', "payment_method_id": "gift_card_763409"}',
    '{"user_id": "emil_sato_257", "flight_number": "NB745", "passengers": 1e308, "payment_method_id": "x"}',
    '{"user_id": "' + "\\u0000" * 10 + '", "flight_number": "NB745", "passengers": 2, "payment_method_id": "x"}',
    '{"user_id": ["a"], "flight_number": {"b": 1}, "passengers": [2], "payment_method_id": null}',
])
def test_arguments_no_tool_expects_are_agent_errors(env, arguments):
    """An integer no float holds used to make the ToolRL scoring raise out of `step`."""
    _, info = play(env, "travel-book-000", [raw_call("book_reservation", arguments)])
    assert info["trajectory_components"]["outcome"] != "success"
    assert_not_paid(info, 0.5)


def test_toolcall_scores_take_any_agent_value():
    gold = [{"name": "f", "arguments": {"n": 2, "xs": [1.5]}}]
    for value in (10**400, -(10**400), [10**400], {"k": 10**400}, float("inf"), float("nan"), None, "2"):
        scores = toolcall_scores([{"name": "f", "arguments": {"n": value, "xs": value}}], gold)
        assert all(0.0 <= v <= 1.0 for v in scores.values())


# ---------------------------------------------------------------------------- MCP-v0
@pytest.fixture(scope="module")
def mcp_env():
    pytest.importorskip("mcp", reason="the MCP bridge needs the mcp package (extra: tool)")
    e = gym.make("agentgym/MCP-v0", suite="files")
    yield e
    e.close()


def mcp_call(c):
    return f"<tool_call>{json.dumps({'name': c['name'], 'arguments': c.get('arguments', {})})}</tool_call>"


def mcp_play(env, task_id, actions):
    env.reset(options={"task_id": task_id})
    info = {}
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info
    raise AssertionError("the episode did not end")


@pytest.fixture(scope="module")
def mcp_baseline(mcp_env):
    """An honest failure on MCP-v0's files suite: a wrong move, then the answer."""
    source = mcp_env.unwrapped.tasks.get("mcp-files-move-000").gold_calls[0]["arguments"]["source"]
    wrong = {"name": "move_path", "arguments": {"source": source, "destination": "/var"}}
    info = mcp_play(mcp_env, "mcp-files-move-000", [mcp_call(wrong), "Done."])
    assert info["success"] is False
    return info["report"].return_


def test_mcp_gold_calls_undone_or_beside_other_writes_do_not_pass(mcp_env, mcp_baseline):
    """The outcome checked that the gold calls ran, not the world they left: making the gold call
    and then undoing it passed."""
    move = mcp_env.unwrapped.tasks.get("mcp-files-move-000").gold_calls[0]
    args = move["arguments"]
    undo = {"name": "move_path", "arguments": {"source": args["destination"], "destination": args["source"]}}
    delete = {"name": "delete_path", "arguments": {"path": "/home/user/docs/journal.txt"}}
    for actions in ([mcp_call(move), mcp_call(undo), "Done."], [mcp_call(move), mcp_call(delete), "Done."]):
        info = mcp_play(mcp_env, "mcp-files-move-000", actions)
        assert_not_paid(info, mcp_baseline)


def test_mcp_answer_listing_every_count_is_not_an_answer(mcp_env, mcp_baseline):
    task = mcp_env.unwrapped.tasks.get("mcp-files-count-004")
    read = task.gold_calls[0]
    info = mcp_play(mcp_env, "mcp-files-count-004", [mcp_call(read), "0 1 2 3 4 5 6 7 8 9 10 11 12 (or 0123456789)"])
    assert_not_paid(info, mcp_baseline)
    info = mcp_play(mcp_env, "mcp-files-count-004", [mcp_call(read), mcp_call(read), mcp_call(read),
                                                     f"It has {task.required_outputs[0]} lines."])
    assert info["success"] is True
    assert info["metrics"]["checklist"] == pytest.approx(1.0)  # the replayed read counted once


# ---------------------------------------------------------------------------- BFCL-v0
@pytest.fixture(scope="module")
def bfcl():
    pytest.importorskip("bfcl_eval", reason="BFCL data needs `pip install --no-deps bfcl-eval` (extra: tool)")
    envs = {c: gym.make("agentgym/BFCL-v0", category=c) for c in ("simple", "multiple", "parallel")}
    yield envs
    for e in envs.values():
        e.close()


def bfcl_answer(env, task_id, calls):
    env.reset(options={"task_id": task_id})
    _, _, terminated, truncated, info = env.step(tool_calls(calls))
    assert terminated or truncated
    return info


def test_bfcl_emitting_every_candidate_call_is_wrong(bfcl):
    cases = []
    env = bfcl["simple"]
    env.reset(options={"task_id": "simple_python_0"})
    gold = [{"name": c.name, "arguments": c.arguments} for c in env.unwrapped.oracle_actions()[0]]
    variants = [dict(gold[0], arguments={**gold[0]["arguments"], "base": b}) for b in range(1, 21)]
    cases.append((env, "simple_python_0", gold, gold + variants, [variants[0]]))
    env = bfcl["multiple"]
    env.reset(options={"task_id": "multiple_0"})
    gold = [{"name": c.name, "arguments": c.arguments} for c in env.unwrapped.oracle_actions()[0]]
    every = gold + [{"name": t["function"]["name"], "arguments": {}} for t in env.unwrapped.toolset.schemas()]
    cases.append((env, "multiple_0", gold, every, [dict(gold[0], arguments={**gold[0]["arguments"], "side1": 99})]))
    env = bfcl["parallel"]
    env.reset(options={"task_id": "parallel_0"})
    gold = [{"name": c.name, "arguments": c.arguments} for c in env.unwrapped.oracle_actions()[0]]
    extra = [dict(gold[0], arguments={**gold[0]["arguments"], "duration": d}) for d in range(1, 30)]
    cases.append((env, "parallel_0", gold, gold + extra, [gold[0]]))
    for env, task_id, gold, spray, honest_wrong in cases:
        baseline = bfcl_answer(env, task_id, honest_wrong)
        assert baseline["success"] is False
        info = bfcl_answer(env, task_id, spray)
        assert info["trajectory_components"]["outcome"] == "incorrect"
        assert_not_paid(info, baseline["report"].return_)
        assert bfcl_answer(env, task_id, gold)["success"] is True


def test_bfcl_values_no_checker_expects_are_wrong_answers_not_crashes(bfcl):
    env = bfcl["simple"]
    env.reset(options={"task_id": "simple_python_0"})
    gold = env.unwrapped.oracle_actions()[0][0]
    for value in (10**400, -(10**400), [10**400], {"x": 10**400}, "10", None, [[[]]]):
        info = bfcl_answer(env, "simple_python_0", [{"name": gold.name, "arguments": {**gold.arguments, "base": value}}])
        assert_not_paid(info, 0.0)
    from agentgym.envs.tool.bfcl.checker import check_calls
    from agentgym.tasks.tool.bfcl import load_bfcl

    for task in load_bfcl("simple")[:60]:
        for name in task.functions[0]["parameters"].get("properties", {}):
            for value in (10**400, ["x"], [{"k": 10**400}], {"k": ["x"]}, None):
                result = check_calls(task.functions, [{"name": task.functions[0]["name"], "arguments": {name: value}}],
                                     task.ground_truth, task.category)
                assert result.valid is False and result.error_type, (task.id, name, value)


# ---------------------------------------------------------------------------- the simulated user
class SmallContextUser:
    """An LLM user whose model fails on long input, as a server does past its context window."""

    name = "small-context-user"

    def describe(self):
        return {"name": self.name}

    def act(self, messages, tools):
        from agentgym.policy import PolicyOutput

        if sum(len(m.get("content") or "") for m in messages) > 20_000:
            raise ValueError("context length exceeded")
        return PolicyOutput.from_text("Thanks! ###STOP###")


def test_a_huge_message_cannot_overflow_the_user_and_void_the_episode():
    env = gym.make("agentgym/ToolUse-v0", task="retail-cancel-000", user=SmallContextUser())
    try:
        env.reset(seed=0)
        for action in (call("respond", message="a" * 50_000), "b" * 50_000):
            obs, _, terminated, truncated, info = env.step(action)
            assert obs.startswith("Error") and "Nothing was sent" in obs and not (terminated or truncated)
        obs, _, terminated, truncated, info = env.step("All done, goodbye.")
        assert terminated and info["reward_invalid"] is False and info["success"] is False
    finally:
        env.close()


def test_bfcl_math_api_cannot_stall_the_process_or_leak_precision():
    """`power(10, 10**9)` or a square root to a billion digits would hang the step; MathAPI also
    sets process-wide precision. Both are bounded by the runtime."""
    import decimal
    import time

    from agentgym.envs.tool.bfcl.multi_turn import BFCLRuntime

    runtime = BFCLRuntime(["MathAPI"], {})
    before = decimal.getcontext().prec
    started = time.perf_counter()
    for name, arguments in [("power", {"base": 10, "exponent": 10**9}),
                            ("square_root", {"number": 2, "precision": 10**9}),
                            ("logarithm", {"value": 2, "base": 10, "precision": 10**9})]:
        text, ok = runtime.execute(name, arguments)
        assert not ok and "must be within" in text
    assert time.perf_counter() - started < 5
    text, ok = runtime.execute("square_root", {"number": 2, "precision": 50})
    assert ok and decimal.getcontext().prec == before


def test_doing_nothing_never_opens_the_tooluse_gate_even_on_read_only_tasks():
    """On an information task the gold state is the start state, so an agent that does nothing
    used to match it (`state_only`, the gate threshold). It must now score `fail`, gate closed."""
    import gymnasium as gym

    env = gym.make("agentgym/ToolUse-v0", max_turns=3)
    read_only = []
    for task_id in env.unwrapped.tasks.ids():
        env.reset(seed=0, options={"task_id": task_id})
        if env.unwrapped.gold_hash == env.unwrapped.start_hash:
            read_only.append(task_id)
        if len(read_only) >= 3:
            break
    assert read_only, "the suite has read-only information tasks"
    for task_id in read_only:
        env.reset(seed=0, options={"task_id": task_id})
        for _ in range(3):
            _, _, terminated, truncated, info = env.step(
                '<tool_call>{"name": "respond", "arguments": {"message": "I will do nothing."}}</tool_call>')
            if terminated or truncated:
                break
        assert info["trajectory_components"]["outcome"] == "fail", (task_id, info["trajectory_components"])
        top = info["report"].levels[0]
        assert not top.gate_open and info["report"].return_gated <= 0.0 and not info["reward_invalid"]
    env.close()
