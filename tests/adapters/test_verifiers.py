"""An agentgym env as a verifiers environment, played by verifiers' own evaluation loop
(`Environment.evaluate_sync` -> `generate` -> `run_group` -> `MultiTurnEnv.rollout`): its rewards are
the ones agentgym's own loop (`run_episodes`, what `agentgym eval` runs) gives on the same seeds.

Two models answer: SmolLM2 behind the vLLM CPU server (greedy, the same server for both loops), and
a scripted chat endpoint (an OpenAI client whose transport answers from a fixed plan) so the rewards
compared are not all zero (SmolLM2 rarely submits on this toy)."""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

vf = pytest.importorskip("verifiers", reason="verifiers is not installed (pip install 'agentgym[verifiers]')")

from agentgym.baselines.policies.base import SamplingParams  # noqa: E402
from agentgym.baselines.policies.openai_chat import OpenAIChatPolicy  # noqa: E402
from agentgym.baselines.policies.scripted import ScriptedPolicy  # noqa: E402
from agentgym.rollout import run_episodes  # noqa: E402

_NAME = "agentgym_test_vllm_fixtures"  # the vLLM server shared with tests/gateway and tests/harness
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        _NAME, Path(__file__).parents[1] / "gateway" / "vllm_fixtures.py"
    )
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])

TOY = "agentgym/StallOrSubmit-v0"
PLAN = ["work", "work", "submit"]
STATE_COLUMNS = ["agentgym_step_rewards", "agentgym_report"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dominance.*")
        yield


def scripted_client(
    plan: list[str], *, native: bool = False, seen: list[dict[str, Any]] | None = None
) -> Any:
    """An `AsyncOpenAI` whose chat endpoint answers turn k of every conversation with plan[k]."""
    from openai import AsyncOpenAI

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if seen is not None:
            seen.append(body)
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        name = plan[min(turn, len(plan) - 1)]
        if native:
            call = {"id": f"call_{turn}", "type": "function", "function": {"name": name, "arguments": "{}"}}
            message = {"role": "assistant", "content": "", "tool_calls": [call]}
        else:
            message = {"role": "assistant", "content": name}
        return httpx.Response(200, json={
            "id": f"scripted-{turn}", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        })  # fmt: skip

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return AsyncOpenAI(base_url="http://scripted.invalid/v1", api_key="none", http_client=http)


def verifiers_results(vf_env: Any, client: Any, model: str, max_tokens: int) -> dict[tuple[str, int], Any]:
    results = vf_env.evaluate_sync(
        client,
        model,
        sampling_args={"max_tokens": max_tokens, "temperature": 0.0},
        max_concurrent=2,
        state_columns=STATE_COLUMNS,
    )
    outputs = results["outputs"]
    assert len(outputs) == len(vf_env.get_eval_dataset())
    by_episode = {}
    for output in outputs:
        info = output["info"] if isinstance(output["info"], dict) else json.loads(output["info"])
        assert output["error"] is None, output["error"]
        by_episode[(info["task_id"], int(info["seed"]))] = output
    return by_episode


def test_dataset_is_agentgyms_plan_and_bad_options_are_named():
    from agentgym.baselines.adapters.verifiers_env import load_environment

    vf_env = load_environment(TOY, episodes=3, seed=5, env_kwargs={"max_turns": 4})
    assert isinstance(vf_env, vf.MultiTurnEnv)
    rows = vf_env.get_eval_dataset().to_list()
    assert [json.loads(r["info"])["seed"] for r in rows] == [5, 6, 7]
    assert rows[0]["prompt"][0]["role"] == "system" and "<tools>" in rows[0]["prompt"][0]["content"]
    with pytest.raises(ValueError, match="tools_mode"):
        load_environment(TOY, episodes=1, tools_mode="xml")
    with pytest.raises(ValueError, match="episodes"):
        load_environment(TOY)


@pytest.mark.parametrize("tools_mode", ["prompt", "native"])
def test_verifiers_loop_with_scripted_model_gives_agentgyms_rewards(tools_mode):
    from agentgym.baselines.adapters.verifiers_env import load_environment

    seen: list[dict[str, Any]] = []
    vf_env = load_environment(TOY, episodes=4, seed=0, env_kwargs={"max_turns": 6}, tools_mode=tools_mode)
    outputs = verifiers_results(
        vf_env, scripted_client(PLAN, native=tools_mode == "native", seen=seen), "scripted", 16
    )
    # native: the tool schemas travel as the request's `tools`
    assert ("tools" in seen[0]) == (tools_mode == "native")
    if tools_mode == "native":
        assert any(m["role"] == "tool" for body in seen for m in body["messages"])
    records = run_episodes(TOY, ScriptedPolicy(PLAN), episodes=4, seed=0, env_kwargs={"max_turns": 6})
    assert len(records) == 4
    for record in records:
        output = outputs[(record.task_id, record.seed)]
        assert output["reward"] == pytest.approx(record.report.return_)
        assert output["agentgym_step_rewards"] == pytest.approx([s.reward for s in record.steps])
        assert output["agentgym_report"]["return"] == pytest.approx(record.report.return_)
        assert output["metrics"]["agentgym_success"] == float(bool(record.success))
        assert output["stop_condition"] == "agentgym_episode_done"
    assert all(o["reward"] > 0 for o in outputs.values())  # worked, then submitted: the outcome level paid


def test_rollout_verifiers_cuts_short_is_truncated_and_a_crashed_env_is_masked(monkeypatch):
    from openai import AsyncOpenAI

    from agentgym.baselines.adapters import verifiers_env

    def refuse_second_turn(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if any(m["role"] == "assistant" for m in body["messages"]):
            return httpx.Response(400, json={"error": {"message": "bad request", "type": "invalid_request_error"}})
        message = {"role": "assistant", "content": "work"}
        return httpx.Response(200, json={
            "id": "one", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        })  # fmt: skip

    client = AsyncOpenAI(base_url="http://scripted.invalid/v1", api_key="none",
                         http_client=httpx.AsyncClient(transport=httpx.MockTransport(refuse_second_turn)))  # fmt: skip
    vf_env = verifiers_env.load_environment(TOY, episodes=1, env_kwargs={"max_turns": 6})
    results = vf_env.evaluate_sync(client, "scripted", state_columns=STATE_COLUMNS)
    (output,) = results["outputs"]
    assert output["stop_condition"] == "has_error" and len(output["agentgym_step_rewards"]) == 1
    report = output["agentgym_report"]  # the env was truncated, as agentgym's loop does for a stopped policy
    assert report is not None and output["reward"] == pytest.approx(report["return"])
    assert output["metrics"]["agentgym_reward_invalid"] == 0.0

    def broken_make(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no env here")

    monkeypatch.setattr(verifiers_env.gym, "make", broken_make)
    results = vf_env.evaluate_sync(scripted_client(PLAN), "scripted", state_columns=STATE_COLUMNS)
    (output,) = results["outputs"]
    assert output["stop_condition"] == "has_error" and "no env here" in str(output["error"])
    assert output["reward"] == 0.0 and output["metrics"]["agentgym_reward_invalid"] == 1.0


def test_verifiers_eval_against_vllm_matches_agentgym_eval_on_the_same_seeds(vllm_server):
    from openai import AsyncOpenAI

    from agentgym.baselines.adapters.verifiers_env import load_environment

    base_url, model, _ = vllm_server
    max_tokens, env_kwargs = 24, {"max_turns": 2}
    vf_env = load_environment(TOY, episodes=3, seed=0, env_kwargs=env_kwargs)
    client = AsyncOpenAI(base_url=f"{base_url}/v1", api_key="none")
    outputs = verifiers_results(vf_env, client, model, max_tokens)

    policy = OpenAIChatPolicy(
        base_url, model, sampling=SamplingParams(temperature=0.0, max_tokens=max_tokens), tools_mode="prompt"
    )
    records = run_episodes(TOY, policy, episodes=3, seed=0, concurrency=1, env_kwargs=env_kwargs)
    assert len(records) == 3
    for record in records:
        assert not record.reward_invalid, record.error
        output = outputs[(record.task_id, record.seed)]
        said = [m["content"] for m in output["completion"] if m["role"] == "assistant"]
        assert said == [step.action for step in record.steps]  # greedy: the same replies, turn by turn
        assert output["reward"] == pytest.approx(record.report.return_)
        assert output["agentgym_step_rewards"] == pytest.approx([s.reward for s in record.steps])
