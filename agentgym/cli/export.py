"""`agentgym export samples RUN.jsonl --format hf|trl|verl|skyrl --out OUT`: records -> training samples;
`agentgym export pairs RUN.jsonl --out PAIRS.jsonl`: preference pairs per task group (`agentgym.pairs`).

See `agentgym.export` for what a sample holds, the advantage estimators and the drift policy
(a turn whose prompt does not extend the previous prompt + completion starts a new sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Export trajectory records to other tools' formats.", no_args_is_help=True)


@app.command("samples")
def samples(
    run: Annotated[
        Path, typer.Argument(help="trajectory file (JSONL) written by `agentgym run` or `run_episodes`")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="file to write: .jsonl (any format) or .parquet (hf)")
    ],
    format_: Annotated[str, typer.Option("--format", "-f", help="hf | trl | verl | skyrl")] = "hf",
    advantage: Annotated[str, typer.Option(help="grpo | rloo | none (the return itself)")] = "grpo",
    mode: Annotated[
        str | None, typer.Option(help="gated | direct | outcome (default: the mode of each record's report)")
    ] = None,
) -> None:
    """Per-episode training samples: token ids, loss mask over the model's own tokens, old logprobs, advantage."""
    from agentgym.cli.common import EXIT_FAILURE, console, fail
    from agentgym.errors import TrajectoryError
    from agentgym.export import ADVANTAGES, FORMATS, MODES, ExportError, export_samples

    if format_ not in FORMATS:
        fail(f"--format {format_!r}: choose one of {', '.join(FORMATS)}")
    if advantage not in ADVANTAGES:
        fail(f"--advantage {advantage!r}: choose one of {', '.join(ADVANTAGES)}")
    if mode is not None and mode not in MODES:
        fail(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    _check_run_and_out(run, out)
    if out.suffix.lower() == ".parquet" and format_ != "hf":
        fail("--out .parquet is for --format hf; write .jsonl for the other formats")
    try:
        summary = export_samples(run, out, format=format_, advantage=advantage, mode=mode)
    except ExportError as exc:
        fail(str(exc), EXIT_FAILURE)
    except TrajectoryError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", EXIT_FAILURE)
    if summary.samples == 0:
        fail(f"no sample to export from {run}: " + "; ".join(summary.lines()[:1]), EXIT_FAILURE)
    console.print(f"wrote {summary.samples} {format_} sample(s) to {out}", highlight=False)
    for line in summary.lines():
        console.print(f"  {line}", highlight=False, soft_wrap=True)


def _check_run_and_out(run: Path, out: Path) -> None:
    """Exit 2 unless RUN is a file and OUT is writable and not RUN itself."""
    from agentgym.cli.common import check_output_path, fail

    if not run.is_file():
        fail(f"trajectory file not found: {run}")
    check_output_path(out, "--out")
    if out.resolve() == run.resolve():
        fail(f"--out {out}: refusing to overwrite the trajectory file")


@app.command("pairs")
def pairs(
    run: Annotated[
        Path, typer.Argument(help="trajectory file (JSONL) with task groups (`--group-size` > 1)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file of preference rows to write")],
    strategy: Annotated[
        str, typer.Option(help="best-worst (one pair per group) | all (every ordered pair with different returns)")
    ] = "best-worst",
    mode: Annotated[
        str | None, typer.Option(help="gated | direct | outcome (default: the mode of each record's report)")
    ] = None,
    margin: Annotated[float, typer.Option(min=0.0, help="the chosen return must exceed the rejected by more")] = 0.0,
) -> None:
    """Preference pairs per task group for DPO (TRL's DPOTrainer format; exact token ids when recorded)."""
    from agentgym.cli.common import EXIT_FAILURE, console, fail
    from agentgym.errors import TrajectoryError
    from agentgym.export import MODES
    from agentgym.pairs import STRATEGIES, export_pairs

    if strategy not in STRATEGIES:
        fail(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if mode is not None and mode not in MODES:
        fail(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    _check_run_and_out(run, out)
    try:
        summary = export_pairs(run, out, strategy=strategy, mode=mode, margin=margin)
    except TrajectoryError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", EXIT_FAILURE)
    if summary.pairs == 0:
        fail(f"no pair in {run}: " + "; ".join(summary.lines()), EXIT_FAILURE)
    console.print(f"wrote {summary.pairs} pair(s) to {out}", highlight=False)
    for line in summary.lines():
        console.print(f"  {line}", highlight=False, soft_wrap=True)
