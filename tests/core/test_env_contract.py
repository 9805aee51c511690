"""The environment contract (docs/design.md), checked on the toy env and on every registered id."""

import gymnasium as gym
import pytest

import agentgym

TOY = "agentgym/StallOrSubmit-v0"


def make_toy(**kwargs):
    return gym.make(TOY, **kwargs)


def test_reset_info_and_seed_determinism():
    env = make_toy()
    obs, info = env.reset(seed=7)
    assert isinstance(obs, str) and obs == info["task"]["prompt"] if "prompt" in info["task"] else True
    assert {"task", "tools", "system_prompt", "task_id"} <= set(info)
    assert "work_needed" not in info["task"], "hidden fields must not reach the agent"
    assert [t["function"]["name"] for t in info["tools"]] == ["work", "noop", "submit"]
    _, info2 = env.reset(seed=7)
    assert info2["task_id"] == info["task_id"]
    _, info3 = env.reset(seed=7, options={"task_id": "toy-3"})
    assert info3["task_id"] == "toy-3"


def test_all_action_formats_and_bad_actions_never_raise():
    env = make_toy()
    env.reset(seed=0)
    message = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "x", "type": "function", "function": {"name": "work", "arguments": "{}"}}]}
    for action, valid in [
        ("work", True),  # family grammar
        ('<tool_call>{"name": "noop", "arguments": {}}</tool_call>', True),
        (message, True),
        ("I think I should", False),  # no tool call
        ('<tool_call>{"name": "work", "arguments": {"hours": 3}}</tool_call>', False),  # bad argument
        ('<tool_call>{"name": "deploy"}</tool_call>', False),  # unknown tool
        ("<tool_call>{oops</tool_call>", False),  # malformed JSON
        ('<tool_call>{"name": "work", "arguments": {"x": "' + "a" * 200_000 + '"}}</tool_call>', False),  # oversize
    ]:
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["action_valid"] is valid, (action if isinstance(action, dict) else action[:60], obs)
        assert info["components"]["action_valid"] == float(valid)
        if not valid:
            assert obs.startswith("Error"), obs[:200]
        assert not terminated
    assert "oversize" in [r["error_kind"] for r in info["tool_results"]]


def test_repeated_action_component_and_transcript():
    env = make_toy()
    env.reset(seed=0)
    _, _, _, _, first = env.step("work")
    _, _, _, _, second = env.step("work")
    _, _, _, _, third = env.step("noop")
    assert (first["components"]["repeated_action"], second["components"]["repeated_action"]) == (0.0, 1.0)
    assert third["components"]["repeated_action"] == 0.0
    roles = [m["role"] for m in env.unwrapped.transcript]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool"]
    assert "work" in env.unwrapped.render()


def test_terminal_emission_pays_the_report_at_the_end():
    env = make_toy(reward="gated")
    env.reset(seed=1, options={"task_id": "toy-0"})
    rewards = []
    for action in ["work", "noop", "submit"]:
        _, r, terminated, truncated, info = env.step(action)
        rewards.append(r)
    assert terminated and not truncated
    report = info["report"]
    assert rewards[:2] == [0.0, 0.0]
    assert rewards[-1] == pytest.approx(report.return_)
    assert sum(report.step_rewards) == pytest.approx(report.return_)
    assert info["trajectory_components"]["outcome"] in ("tests_pass", "tests_fail")
    # gate open (submitted): both critic rewards count
    assert report.return_gated == pytest.approx(report.return_direct)
    with pytest.raises(gym.error.ResetNeeded):
        env.step("work")


def test_dense_emission_sums_to_the_return_and_truncation_is_no_submit():
    env = make_toy(reward="gated", emission="dense", max_turns=5)
    env.reset(seed=2)
    total = 0.0
    for _ in range(5):
        _, r, terminated, truncated, info = env.step("noop")
        total += r
    assert truncated and not terminated
    assert info["trajectory_components"]["outcome"] == "no_submit"
    report = info["report"]
    assert report.return_gated == pytest.approx(0.0)  # gate closed: stalling earns nothing
    assert report.return_direct == pytest.approx(5.0)  # ungated: stalling farms the critic
    assert total == pytest.approx(report.return_)


@pytest.mark.parametrize("mode", ["gated", "direct", "outcome"])
def test_reward_modes_from_make(mode):
    env = make_toy(reward=mode)
    assert env.unwrapped.reward_spec.mode == mode


def test_make_vec_works():
    envs = gym.make_vec(TOY, num_envs=2, vectorization_mode="sync")
    obs, info = envs.reset(seed=0)
    assert len(obs) == 2 and all(isinstance(o, str) for o in obs)
    obs, rewards, terminated, truncated, info = envs.step(("work", "submit"))
    assert list(terminated) == [False, True]
    envs.close()


def test_unknown_task_id_is_a_clear_error():
    env = make_toy()
    with pytest.raises(agentgym.TaskError, match="unknown task id"):
        env.reset(options={"task_id": "nope"})


def test_family_grammar_can_report_parse_errors():
    from agentgym.envs.toy.stall_or_submit import StallOrSubmitEnv
    from agentgym.errors import ActionParseError

    class Strict(StallOrSubmitEnv):
        def parse_text_action(self, text):
            if text.startswith("work(") and text != "work()":
                raise ActionParseError("work takes no arguments: write work()")
            return super().parse_text_action(text)

    env = Strict()
    env.reset(seed=0)
    obs, _, _, _, info = env.step("work(3)")
    assert not info["action_valid"] and "work takes no arguments" in obs
    obs, _, _, _, info = env.step("work()")
    assert info["action_valid"]
