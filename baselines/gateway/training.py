"""Training batches from recorded episodes (`agentgym train grpo --records FILE`).

Why: a harness's episodes (`agentgym eval --policy mini-swe-agent:...`) and the gateway's own
records are ordinary trajectory records with exact token ids and logprobs; a trainer can learn
from them without playing rollouts itself. Each training step uses the whole file: reward-invalid
episodes are kept (the trainer masks them), records without token ids are refused by name.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from agentgym.trajectory import EpisodeRecord, read_trajectories


@cache
def _load(path: str, mtime: float) -> tuple[EpisodeRecord, ...]:
    loaded = read_trajectories(path)
    if loaded.problems:
        first = loaded.problems[0]
        raise ValueError(f"--records {path}: line {first.line_no}: {first.error}")
    return tuple(loaded.records)


def recorded_batch(path: str | Path) -> list[EpisodeRecord]:
    """Every episode of the trajectory file `path`; ValueError naming the file when it holds none,
    or naming the first episode whose steps lack token ids."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--records {file}: file not found")
    records = [r.model_copy(deep=True) for r in _load(str(file), file.stat().st_mtime)]
    if not records:
        raise ValueError(f"--records {file}: no episode records in the file")
    for record in records:
        if record.reward_invalid:
            continue
        for step in record.steps:
            tokens = step.tokens
            if tokens is None or tokens.prompt_token_ids is None or tokens.completion_token_ids is None:
                raise ValueError(
                    f"--records {file}: episode {record.episode_id} turn {step.turn} has no token ids; record with "
                    "a token policy (vllm:URL#MODEL, vllm-engine:PATH, smollm2, hf:PATH) behind the gateway"
                )
    return records
