"""mini-swe-agent (the real PyPI harness) on a shipped `agentgym/SWE-v0` task: its commands run in the
task's Docker sandbox, its model calls go through the token-recording gateway, the SWE grader scores it.

The SmolLM2 test drives the harness with a real vLLM CPU server (it will not fix the bug: the
plumbing is what is tested); the scripted tests pin down how harness events become env steps.
"""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest
from agentgym_test_vllm_fixtures import Recording, assert_tokens_are_the_servers

import agentgym  # noqa: F401  (registers the envs)
from agentgym.family import task_source
from agentgym.policy import make_policy
from agentgym.rollout import run_episode
from agentgym.trajectory import read_trajectories

pytestmark = [pytest.mark.docker]
ENV_ID = "agentgym/SWE-v0"
LOOK = "I look first.\n```mswea_bash_command\nls && git status --short\n```"
CHAT = "I am not sure what to do."
SUBMIT = "Done.\n```mswea_bash_command\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"


@pytest.fixture(scope="module")
def task_id():
    return task_source(ENV_ID).ids()[0]  # a shipped task (cachetools, idna, ...): its image builds on first use


def _play(spec: str, task_id: str):
    policy = make_policy(spec)
    env = gym.make(ENV_ID, pool_size=0)
    try:
        return policy, run_episode(env, policy, task_id=task_id, seed=0, env_id=ENV_ID), env.unwrapped
    finally:
        env.close()
        policy.close()


def test_harness_events_become_env_steps(docker_or_skip, harness_or_skip, task_id):
    """A command is a `bash` call, a reply without a command is a plain text action, the submission
    command is sent with `submit` in the same step, and the grader scores the episode."""
    _, record, env = _play(f"mini-swe-agent:scripted:{LOOK}|{CHAT}|{SUBMIT}?config=compact&step_limit=5", task_id)
    assert record.error is None and record.end_reason == "terminated" and not record.reward_invalid
    look, chat, submit = record.steps
    assert [c["name"] for c in look.tool_calls] == ["bash"]
    assert look.tool_calls[0]["arguments"] == {"command": "ls && git status --short"}
    assert "setup" in look.observation or "pyproject" in look.observation  # the repository, listed in the sandbox
    assert chat.tool_calls == [] and not chat.action_valid and chat.action == CHAT
    assert [c["name"] for c in submit.tool_calls] == ["bash", "submit"]
    assert [s.policy_meta["harness"]["call"] for s in record.steps] == [0, 1, 2]
    # graded in the clean room: nothing changed, so the grader says empty_patch
    assert env.last_clean_room is not None
    assert record.trajectory_components["outcome"] == "empty_patch" and record.success is False
    assert record.report is not None and record.policy["name"] == "mini-swe-agent"


def test_limit_exit_is_graded_or_truncated(docker_or_skip, harness_or_skip, task_id):
    """The harness stops at its step limit: `submit=always` grades the final state (one more step,
    no model tokens), `submit=agent` truncates the episode (not graded)."""
    _, graded, env = _play(f"mini-swe-agent:scripted:{LOOK}?config=compact&step_limit=2", task_id)
    assert [s.tool_calls[0]["name"] for s in graded.steps] == ["bash", "bash", "submit"]
    assert graded.steps[-1].policy_meta["harness"]["exit_status"] == "LimitsExceeded"
    assert graded.trajectory_components["outcome"] == "empty_patch" and env.last_clean_room is not None
    _, cut, _ = _play(f"mini-swe-agent:scripted:{LOOK}?config=compact&step_limit=1&submit=agent", task_id)
    assert len(cut.steps) == 1 and cut.truncated and cut.end_reason.startswith("truncated_by_caller: policy stopped")
    assert cut.trajectory_components["outcome"] == "no_submit"


@pytest.mark.vllm
def test_smollm2_episode_through_the_gateway(docker_or_skip, harness_or_skip, vllm_server, task_id):
    """SmolLM2 (vLLM CPU server) drives mini-swe-agent on a shipped SWE task: the episode completes,
    each model call is a step with the server's exact tokens, the reward is the grader's."""
    url, model, _ = vllm_server
    spec = f"mini-swe-agent:vllm:{url}#{model}?temperature=0&max_tokens=48&config=compact&step_limit=3"
    policy = make_policy(spec)
    recording = Recording(policy.backend)
    env = gym.make(ENV_ID, pool_size=0)
    try:
        record = run_episode(env, policy, task_id=task_id, seed=0, env_id=ENV_ID)
        grader_ran = env.unwrapped.last_clean_room is not None
    finally:
        env.close()
        policy.close()
    assert record.error is None and not record.reward_invalid, record.error
    calls = [s for s in record.steps if "call" in s.policy_meta.get("harness", {})]
    assert 1 <= len(calls) <= 3 and len(calls) == len(recording.raw)
    assert_tokens_are_the_servers([s.tokens for s in calls], recording.raw)
    for step in calls:  # the action is the model's text, decoded from exactly those ids
        assert step.action == policy.backend.tokenizer.decode(step.tokens.completion_token_ids,
                                                               skip_special_tokens=True)
    # after a command the harness keeps its reply: the next prompt extends prompt + completion exactly;
    # after a format error mini-swe-agent drops the reply, so the next prompt starts a new token segment
    for before, after in zip(calls, calls[1:], strict=False):
        history = before.tokens.prompt_token_ids + before.tokens.completion_token_ids
        kept = before.policy_meta["harness"]["action"] == "command"
        assert (after.tokens.prompt_token_ids[: len(history)] == history) == kept
    # graded by the SWE grader (submit=always): the outcome label and the return come from it
    assert grader_ran and record.steps[-1].tool_calls[-1]["name"] == "submit"
    assert record.trajectory_components["outcome"] in ("empty_patch", "tests_fail", "tests_pass")
    assert record.report is not None and record.report.return_ == pytest.approx(sum(s.reward for s in record.steps))
    from agentgym.export import episode_samples

    samples, _ = episode_samples([record], advantage="none")
    assert sum(sum(s.loss_mask) for s in samples) == sum(len(s.tokens.completion_token_ids) for s in calls)


def test_eval_cli_accepts_the_harness_as_a_policy(docker_or_skip, harness_or_skip, task_id, tmp_path):
    out = tmp_path / "eval.jsonl"
    spec = f"mini-swe-agent:scripted:{LOOK}|{SUBMIT}?config=compact&step_limit=3"
    result = subprocess.run(
        [sys.executable, "-m", "agentgym", "eval", ENV_ID, "--policy", spec, "--task", task_id, "-e", "pool_size=0",
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = read_trajectories(out).records
    assert record.policy["name"] == "mini-swe-agent" and record.policy["harness"]["config"] == "compact"
    assert [c["name"] for c in record.steps[-1].tool_calls] == ["bash", "submit"]
    bad = subprocess.run([sys.executable, "-m", "agentgym", "eval", ENV_ID, "--policy",
                          "mini-swe-agent:scripted:x?config=nosuchconfig", "--task", task_id],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "nosuchconfig" in bad.stderr and "Traceback" not in bad.stderr


class _BrokenBackend:
    """A backend whose every call fails, as a dead model server would."""

    name = "broken"

    def describe(self):
        return {"name": self.name}

    def act(self, messages, tools):
        raise ConnectionError("model server unreachable")


def test_a_harness_whose_model_fails_is_reward_invalid_not_scored(docker_or_skip, harness_or_skip, task_id):
    from agentgym.baselines.harness import HarnessPolicy
    from agentgym.baselines.harness.mini_swe import MiniSweAgentRunner

    policy = HarnessPolicy(MiniSweAgentRunner(config="compact", step_limit=3, retries=0), _BrokenBackend())
    env = gym.make(ENV_ID, pool_size=0)
    try:
        record = run_episode(env, policy, task_id=task_id, seed=0, env_id=ENV_ID)
    finally:
        env.close()
        policy.close()
    assert record.reward_invalid and record.end_reason == "infrastructure_error"
    assert record.error.startswith("infrastructure: InfrastructureError: the mini-swe-agent harness failed")
    assert record.steps == []
