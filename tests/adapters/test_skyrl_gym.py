"""An agentgym env registered in SkyRL-Gym's registry, driven by SkyRL's own generator loop
(`SkyRLGymGenerator.generate` -> `agent_loop`): the rewards it collects are agentgym's."""

from __future__ import annotations

import asyncio
import os
import warnings
from pathlib import Path

import gymnasium as gym
import pytest
from skyrl_helpers import import_skyrl_generator, make_engine, make_generator

TOY = "agentgym/StallOrSubmit-v0"
MODEL_DIR = Path(os.environ.get("AGENTGYM_HOME", Path.home() / ".cache" / "agentgym")) / "models" / "smollm2"

skyrl_gym = pytest.importorskip("skyrl_gym", reason="skyrl-gym is not installed (pip install skyrl-gym)")


@pytest.fixture(scope="module")
def tokenizer():
    if not (MODEL_DIR / "tokenizer.json").exists():
        pytest.skip(reason=f"no SmolLM2 tokenizer at {MODEL_DIR}: run `agentgym models fetch smollm2`")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL_DIR)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dominance.*")
        yield


def generator_module():
    module = import_skyrl_generator()
    if module is None:
        pytest.skip(reason="skyrl-train's generator is not unpacked (py3.12-only wheel with GPU pins; "
                    "scripts/setup.sh unpacks it without deps into .venv/skyrl-train-src)")
    return module


def local_return(task_id: str, seed: int, texts: list[str], max_turns: int) -> tuple[float, bool | None]:
    env = gym.make(TOY, max_turns=max_turns)
    try:
        env.reset(seed=seed, options={"task_id": task_id})
        total, info = 0.0, {}
        for text in texts:
            _, reward, terminated, truncated, info = env.step(text)
            total += reward
            if terminated or truncated:
                break
        return total, info.get("success")
    finally:
        env.close()


def test_registered_in_skyrl_gym_and_made_by_its_make():
    from agentgym.baselines.adapters.skyrl_gym import AgentGymTextEnv, register_skyrl_env

    name = register_skyrl_env()
    assert name in skyrl_gym.registry
    env = skyrl_gym.make(name, env_config={"env_id": TOY}, extras={"task_id": "toy-1", "seed": 0, "max_turns": 5})
    assert isinstance(env, AgentGymTextEnv)
    conversation, meta = env.init([{"role": "user", "content": "ignored"}])
    assert conversation[0]["role"] == "system" and "<tools>" in conversation[0]["content"]
    assert meta["task_id"] == "toy-1"
    out = env.step("submit")
    assert out["done"] and out["metadata"]["report"]["return"] == pytest.approx(out["reward"])
    env.close()


def test_skyrl_generator_loop_collects_agentgym_rewards_for_scripted_play(tokenizer):
    module = generator_module()
    from agentgym.baselines.adapters.skyrl_gym import register_skyrl_env

    register_skyrl_env()
    rows = [{"task_id": f"toy-{i}", "seed": i} for i in range(4)]
    plan = ["work", "work", "submit"]  # the engine's "model": the same three replies for every row

    def respond(session: str, prompt_ids: list[int]) -> list[int]:
        turn = tokenizer.decode(prompt_ids).count("<|im_start|>assistant") - 1  # assistant turns so far
        return tokenizer.encode(plan[min(turn, len(plan) - 1)], add_special_tokens=False) + [tokenizer.eos_token_id]

    from skyrl_train.generators.base import TrajectoryID

    generator = make_generator(module, tokenizer, make_engine(tokenizer, respond), env_config={"env_id": TOY},
                               max_turns=10, max_generate_length=32)
    output = asyncio.run(generator.generate({
        "prompts": [[{"role": "user", "content": r["task_id"]}] for r in rows],
        "env_classes": ["agentgym"] * len(rows),
        "env_extras": [dict(r) for r in rows],
        "sampling_params": None,
        "trajectory_ids": [TrajectoryID(instance_id=r["task_id"], repetition_id=0) for r in rows],
    }, disable_tqdm=True))  # fmt: skip
    totals = []
    for row, rewards, mask in zip(rows, output["rewards"], output["loss_masks"], strict=True):
        expected, _ = local_return(row["task_id"], row["seed"], plan, 10)
        totals.append(sum(rewards) if isinstance(rewards, list) else rewards)
        assert totals[-1] == pytest.approx(expected)
        assert 0 in mask and 1 in mask  # env tokens masked out of the loss, model tokens in
    assert all(total > 0 for total in totals)  # submitted after working: the outcome level paid


def test_skyrl_generator_loop_with_smollm2_matches_agentgym_on_the_same_text(tokenizer):
    module = generator_module()
    torch = pytest.importorskip("torch", reason="torch is needed to run SmolLM2")
    from transformers import AutoModelForCausalLM

    from agentgym.baselines.adapters.skyrl_gym import register_skyrl_env

    register_skyrl_env()
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float32)
    model.eval()

    def respond(session: str, prompt_ids: list[int]) -> list[int]:
        with torch.no_grad():
            out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=8, do_sample=False,
                                 pad_token_id=tokenizer.eos_token_id)
        return out[0, len(prompt_ids):].tolist()

    rows = [{"task_id": "toy-5", "seed": 1}]
    generator = make_generator(module, tokenizer, make_engine(tokenizer, respond), env_config={"env_id": TOY},
                               max_turns=2, max_generate_length=8)
    output = asyncio.run(generator.generate({
        "prompts": [[{"role": "user", "content": r["task_id"]}] for r in rows],
        "env_classes": ["agentgym"] * len(rows), "env_extras": [dict(r) for r in rows], "sampling_params": None,
    }, disable_tqdm=True))  # fmt: skip
    for row, rewards, ids, mask in zip(rows, output["rewards"], output["response_ids"], output["loss_masks"],
                                       strict=True):
        played = model_turns(tokenizer, ids, mask)  # what the model wrote, read back from SkyRL's output
        assert played
        expected, _ = local_return(row["task_id"], row["seed"], played, 2)
        assert (sum(rewards) if isinstance(rewards, list) else rewards) == pytest.approx(expected)


def model_turns(tokenizer, ids: list[int], mask: list[int]) -> list[str]:
    """The model's turns in a SkyRL response: each run of loss-mask-1 tokens, decoded."""
    turns, current = [], []
    for token, bit in zip(ids, mask, strict=False):
        if bit:
            current.append(token)
        elif current:
            turns.append(current)
            current = []
    if current:
        turns.append(current)
    return [tokenizer.decode(t, skip_special_tokens=True) for t in turns]
