"""The token-recording gateway: an OpenAI client talks to it, the records hold the server's exact tokens.

The vLLM tests drive a real vLLM CPU server (SmolLM2) through the gateway with the real `openai`
client, as an outside harness would; the request-checking tests use a scripted policy.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from agentgym_test_vllm_fixtures import Recording, assert_tokens_are_the_servers

from agentgym.baselines.gateway import EPISODE_HEADER, GATEWAY_ENV_ID, Gateway, GatewayServer, make_app
from agentgym.policy import make_policy
from agentgym.trajectory import read_trajectories


def _vllm_policy(vllm_server, **options):
    url, model, _ = vllm_server
    query = "&".join(f"{k}={v}" for k, v in {"temperature": 1.0, "max_tokens": 24, **options}.items())
    return make_policy(f"vllm:{url}#{model}?{query}")


@pytest.mark.vllm
def test_openai_client_episodes_are_recorded_token_exact(vllm_server, tmp_path):
    from openai import OpenAI

    policy = _vllm_policy(vllm_server)
    recording = Recording(policy)
    out = tmp_path / "gateway.jsonl"
    with GatewayServer(Gateway(policy, out=out)) as server:
        client = OpenAI(base_url=f"{server.base_url}/v1", api_key="unused")
        headers = {EPISODE_HEADER: "ep-a"}
        messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a color."}]
        first = client.chat.completions.create(model="smollm2", messages=messages, extra_headers=headers)
        messages += [{"role": "assistant", "content": first.choices[0].message.content},
                     {"role": "user", "content": "Another one."}]
        second = client.chat.completions.create(model="smollm2", messages=messages, extra_headers=headers)
        # no header: the model name is the episode key
        client.chat.completions.create(model="ep-b", messages=[{"role": "user", "content": "Hi"}])
        finished = server.gateway.book.episodes()
        assert finished == {"ep-a": 2, "ep-b": 1}
        import httpx

        answer = httpx.post(f"{server.base_url}/agentgym/episodes/ep-a/finish",
                            json={"reward": 1.0, "success": True, "task_id": "colors", "group_id": "g0"}).json()
        assert answer["steps"] == 2 and not answer["reward_invalid"]
    # closing the gateway wrote the open episode ep-b as reward_invalid: never lost, never scored
    loaded = read_trajectories(out)
    assert not loaded.problems
    by_key = {r.reset_options["episode"]: r for r in loaded.records}
    a, b = by_key["ep-a"], by_key["ep-b"]
    assert a.env_id == GATEWAY_ENV_ID and a.task_id == "colors" and a.group_id == "g0"
    assert a.report is not None and a.report.return_ == 1.0 and a.success is True and not a.reward_invalid
    assert b.reward_invalid and b.report is not None and b.report.reward_invalid and b.error
    # every call's prompt and completion ids and logprobs are what the server saw and returned
    calls = [s.tokens for s in a.steps] + [s.tokens for s in b.steps]
    assert_tokens_are_the_servers(calls, recording.raw[:2] + recording.raw[2:])
    # the answer the client got is the decoded completion; turn 2's prompt extends turn 1's ids
    tok = policy.tokenizer
    assert first.choices[0].message.content == tok.decode(a.steps[0].tokens.completion_token_ids,
                                                          skip_special_tokens=True)
    assert second.usage.completion_tokens == len(a.steps[1].tokens.completion_token_ids)
    t1, t2 = a.steps[0].tokens, a.steps[1].tokens
    assert t2.prompt_token_ids[: len(t1.prompt_token_ids) + len(t1.completion_token_ids)] == (
        t1.prompt_token_ids + t1.completion_token_ids)
    assert a.steps[0].observation == "Another one."
    # ordinary records: the exporter turns them into one training sequence with a loss mask on
    # exactly the sampled tokens
    from agentgym.export import episode_samples

    samples, summary = episode_samples([a], advantage="none")
    assert len(samples) == 1  # no drift: one sequence
    assert sum(samples[0].loss_mask) == len(t1.completion_token_ids) + len(t2.completion_token_ids)
    policy.close()


@pytest.mark.vllm
def test_grpo_trains_on_gateway_records(vllm_server, tmp_path):
    """`agentgym train grpo --records FILE` updates a model from records written through the gateway."""
    from fastapi.testclient import TestClient

    url, model, model_dir = vllm_server
    policy = _vllm_policy(vllm_server, max_tokens=8)
    out = tmp_path / "gateway.jsonl"
    gateway = Gateway(policy, out=out)
    client = TestClient(make_app(gateway))
    for i, reward in enumerate((1.0, 0.0)):
        key = f"ep{i}"
        response = client.post("/v1/chat/completions", headers={EPISODE_HEADER: key},
                               json={"model": model, "messages": [{"role": "user", "content": "Say yes."}]})
        assert response.status_code == 200
        assert client.post(f"/agentgym/episodes/{key}/finish",
                           json={"reward": reward, "task_id": "yes", "group_id": "g0"}).status_code == 200
    gateway.close()
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "agentgym", "train", "grpo", "--env", "agentgym/StallOrSubmit-v0", "--records", str(out),
         "--policy", f"tiny:{model_dir}", "--steps", "1", "--out", str(run), "--quiet", "--lr", "1e-3"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["episodes"] == 2 and row["invalid"] == 0
    assert row["policy_tokens"] > 0 and row["loss"] != 0.0  # one group, rewards 1 and 0: a real gradient
    policy.close()


def test_cli_refuses_records_without_token_ids(tmp_path):
    from fastapi.testclient import TestClient

    gateway = Gateway(make_policy("scripted:hello"), out=tmp_path / "scripted.jsonl")
    client = TestClient(make_app(gateway))
    client.post("/v1/chat/completions", json={"model": "e", "messages": [{"role": "user", "content": "hi"}]})
    client.post("/agentgym/episodes/e/finish", json={"reward": 1.0})
    gateway.close()
    result = subprocess.run(
        [sys.executable, "-m", "agentgym", "train", "grpo", "--env", "agentgym/StallOrSubmit-v0",
         "--records", str(tmp_path / "scripted.jsonl"), "--policy", "tiny", "--steps", "1",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "has no token ids" in result.stderr and "Traceback" not in result.stderr


def test_bad_requests_get_openai_style_errors(tmp_path):
    from fastapi.testclient import TestClient

    gateway = Gateway(make_policy("scripted:hello|world"), out=tmp_path / "g.jsonl")
    client = TestClient(make_app(gateway))
    user = [{"role": "user", "content": "hi"}]
    cases = [
        ({"model": "m", "messages": user, "stream": True}, "stream"),
        ({"model": "m", "messages": user, "n": 2}, "n:"),
        ({"model": "m", "messages": []}, "messages"),
    ]
    for body, fragment in cases:
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 400, body
        assert fragment in response.json()["error"]["message"]
    assert client.post("/v1/chat/completions", content=b"{not json").status_code == 400
    ok = client.post("/v1/chat/completions", json={"model": "m", "messages": user, "temperature": 0.3})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "hello"
    assert client.get("/agentgym/episodes").json() == {"episodes": {"m": 1}}
    steps = client.get("/agentgym/episodes/m").json()["steps"]
    assert steps[0]["policy_meta"]["gateway"]["request"] == {"model": "m", "temperature": 0.3}  # recorded, not applied
    assert client.post("/agentgym/episodes/nope/finish", json={"reward": 1}).status_code == 404
    assert client.post("/agentgym/episodes/m/finish", json={"reward": "high"}).status_code == 400
    assert client.post("/agentgym/episodes/m/finish", json={"reward": 1, "success": "yes"}).status_code == 400
    assert client.post("/agentgym/episodes/m/finish", json={"reward": 0.5}).status_code == 200
    assert client.get("/agentgym/episodes").json() == {"episodes": {}}
    gateway.close()
    (record,) = read_trajectories(tmp_path / "g.jsonl").records
    assert record.report.return_ == 0.5 and record.steps[0].action == "hello"


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    import socket

    bad = subprocess.run([sys.executable, "-m", "agentgym", "gateway", "--policy", "nope:x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown policy kind 'nope'" in bad.stderr and "Traceback" not in bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run([sys.executable, "-m", "agentgym", "gateway", "--policy", "random", "--port", str(port),
                                "--out", str(tmp_path / "g.jsonl")], capture_output=True, text=True, timeout=120)
    assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
