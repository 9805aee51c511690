"""The toy family's commands: `agentgym train toy` (tabular REINFORCE through the real env)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from agentgym.cli.common import check_output_path, cli_errors, console, fail


def train_toy(
    reward: Annotated[str, typer.Option("--reward", "-r", help="gated | direct | outcome")] = "gated",
    seeds: Annotated[int, typer.Option(min=1, help="number of seeds")] = 3,
    iterations: Annotated[int, typer.Option(min=1)] = 150,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="step size (> 0)")] = 1.0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write results as JSON")] = None,
) -> None:
    """Tabular REINFORCE on StallOrSubmit: D-RA stalls to the cap, G-RA submits."""
    import math

    from agentgym.envs.toy.learner import ToyTrainConfig
    from agentgym.envs.toy.learner import train_toy as train

    if reward not in ("gated", "direct", "outcome"):
        fail(f"--reward must be gated, direct or outcome, got {reward!r}")
    if not math.isfinite(learning_rate) or learning_rate <= 0:
        fail(f"--learning-rate must be a positive number, got {learning_rate}")
    check_output_path(out, "--out")
    with cli_errors(work=True):
        results = []
        for seed in range(seeds):
            config = ToyTrainConfig(
                reward=reward,
                iterations=iterations,
                batch_size=batch_size,
                learning_rate=learning_rate,
                seed=seed,
            )
            result = train(config)
            results.append(result)
            console.print(
                f"reward={reward} seed={seed}: completion_rate={result.completion_rate:.3f} "
                f"success_rate={result.success_rate:.3f} mean_turns={result.mean_turns:.1f} "
                f"mean_return={result.mean_return:.3f}"
            )
        if out is not None:
            out.write_text(json.dumps([r.to_dict() for r in results], indent=2))


