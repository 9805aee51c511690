"""Held-out evaluation of one checkpoint on the files world's test split (greedy), as one JSON line.

    python docs/experiments/real_family_gra/evaluate.py smollm2 runs/real_family_gra/eval_base.json
    python docs/experiments/real_family_gra/evaluate.py runs/real_family_gra/sft/checkpoint-last OUT.json

The same evaluator `agentgym train sft/grpo --eval-every` runs in-process (heldout.py): every test
task once, greedy, 5 turns at most, 64 new tokens per turn.
"""

from __future__ import annotations

import json
import sys
import warnings

warnings.filterwarnings("ignore")


def main(model_spec: str, out: str, threads: int = 1) -> None:
    import torch

    from agentgym.baselines.train.grpo import load_model
    from agentgym.baselines.train.heldout import HeldoutConfig, evaluate_model

    torch.set_num_threads(threads)
    model, tokenizer = load_model(model_spec)
    config = HeldoutConfig(env_id="agentgym/ToolUse-v0", env_kwargs={"world": "files", "max_turns": 5},
                           split="test", max_new_tokens=64)
    result = evaluate_model(model, tokenizer, config, out=out.replace(".json", "_episodes.jsonl"))
    result["model"] = model_spec
    with open(out, "w") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
