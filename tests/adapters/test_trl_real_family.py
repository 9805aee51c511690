"""TRL's own `GRPOTrainer` loop on a real family (SearchQA, BM25 search) with SmolLM2-135M, on CPU:
one training step whose rewards are agentgym's returns of the episodes it played."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

MODEL_DIR = Path(os.environ.get("AGENTGYM_HOME", Path.home() / ".cache" / "agentgym")) / "models" / "smollm2"
ENV_ID = "agentgym/SearchQA-v0"


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*dominance.*")
        yield


def test_trl_grpo_trainer_runs_one_step_on_searchqa_with_smollm2(tmp_path):
    pytest.importorskip("trl", reason="trl is not installed (pip install --no-deps trl; pip install datasets)")
    torch = pytest.importorskip("torch", reason="torch is needed to train SmolLM2")
    if not (MODEL_DIR / "model.safetensors").exists():
        pytest.skip(reason=f"no SmolLM2 checkpoint at {MODEL_DIR}: run `agentgym models fetch smollm2`")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentgym.baselines.train.trl_adapter import make_trl_trainer
    from agentgym.family import list_task_ids

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float32)
    task = list_task_ids(ENV_ID)[0]
    trainer = make_trl_trainer(
        model, tokenizer, ENV_ID, reward="gated", env_kwargs={"max_turns": 2}, num_generations=2,
        max_new_tokens=8, output_dir=str(tmp_path / "trl"), dataset=Dataset.from_dict({"prompt": [task]}),
        max_steps=1, use_cpu=True, learning_rate=1e-5, bf16=False, dataloader_num_workers=0,
    )  # fmt: skip
    result = trainer.train()
    assert result.global_step == 1
    records = trainer.rollout_func.last_records
    assert len(records) == 2 and all(r.env_id == ENV_ID and r.task_id == task for r in records)
    assert all(r.report is not None and not r.reward_invalid and r.steps for r in records)
    assert all(r.steps[0].tokens is not None and r.steps[0].tokens.completion_token_ids for r in records)
    logged = next(e for e in trainer.state.log_history if "rewards/agentgym_return/mean" in e)
    returns = [r.report.return_ for r in records]
    assert logged["rewards/agentgym_return/mean"] == pytest.approx(sum(returns) / len(returns), abs=1e-4)
