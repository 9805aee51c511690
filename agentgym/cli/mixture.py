"""`agentgym run|eval --env ID:WEIGHT --env ID:WEIGHT ...`: one run over an env mixture.

`run` and `eval` hand over here when `--env` is given (see `agentgym.mixture`): every input is
checked first (exit 2 naming the bad one), then each env's share of the groups is played and
appended to `--out`, and the metrics are printed overall and per env (with each env's share).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

MixtureOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        help="ID:WEIGHT, repeatable: play a mixture of envs (each group's env drawn with the weights) "
        "instead of ENV_ID",
    ),
]


def run_mixture_command(
    *,
    entries: list[str],
    policy_spec: str,
    groups: int,
    reward: str | None,
    out: Path | None,
    seed: int,
    group_size: int,
    concurrency: int,
    max_turns: int | None,
    env_args: list[str] | None,
    resume: bool,
    executor: str,
    json_out: Path | None = None,
    title: str = "run",
) -> None:
    """Check the mixture and the run's inputs, play it, print overall and per-env metrics."""
    from agentgym.cli.common import (
        EXIT_FAILURE,
        check_env_options,
        check_output_path,
        cli_errors,
        console,
        fail,
        make_policy,
        preflight_policy,
    )
    from agentgym.mixture import (
        EnvMixture,
        MixtureEntry,
        MixtureError,
        mixture_summary,
        parse_entry,
        run_mixture,
    )

    with cli_errors():
        check_output_path(out, "--out")
        check_output_path(json_out, "--json")
        try:
            parsed = [parse_entry(text) for text in entries]
        except MixtureError as exc:
            fail(str(exc))
        resolved = []
        for entry in parsed:
            env_id, kwargs = check_env_options(entry.env_id, env_args, reward, max_turns)
            resolved.append(MixtureEntry(env_id, entry.weight, kwargs))
        try:
            mixture = EnvMixture(resolved)
        except MixtureError as exc:
            fail(str(exc))
        preflight_policy(policy_spec)
        policy = make_policy(policy_spec)
    with cli_errors(work=True):
        records = run_mixture(
            mixture, policy, groups=groups, group_size=group_size, seed=seed, concurrency=concurrency, out=out,
            resume=resume, executor=executor,
        )  # fmt: skip
    if not records:
        fail("the mixture played no episode", EXIT_FAILURE)
    from rich.table import Table

    from agentgym.metrics import summarize

    per_env = mixture_summary(records)
    overall = summarize(records)
    table = Table(title=f"{title} mixture {mixture.describe()} - {policy_spec}", show_edge=False)
    table.add_column("metric")
    table.add_column("all", justify="right")
    for env_id in per_env:
        table.add_column(env_id, justify="right")
    names = list(dict.fromkeys(["share", *overall, *(k for s in per_env.values() for k in s)]))
    for name in names:
        cells = [
            overall.get(name, 1.0 if name == "share" else None),
            *(s.get(name) for s in per_env.values()),
        ]
        table.add_row(name, *(_cell(c) for c in cells))
    console.print(table)
    if json_out is not None:
        json_out.write_text(
            json.dumps({"overall": overall, "per_env": per_env, "weights": mixture.weights}, indent=2)
        )
    if out is not None:
        console.print(f"wrote {len(records)} episode(s) to {out}\nreplay with: agentgym replay {out}")
    if all(r.reward_invalid for r in records):
        fail(f"all {len(records)} episode(s) were invalid", EXIT_FAILURE)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
