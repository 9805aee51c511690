"""`agentgym judge`: probe a judge's robustness, judge one answer, re-score trajectories with judges.

agentgym judge probe --judge "kind=reference,model=vllm:http://127.0.0.1:8000#smollm2" --items 3
agentgym judge probe --judge reward.yaml#judge_correct --save --max-fpr 0.2
agentgym judge score --judge judge.yaml -q "What is 2+2?" -a "4" --reference 4
agentgym judge rescore runs.jsonl --reward reward_with_judges.yaml --out judged.jsonl
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from agentgym.cli.common import EXIT_FAILURE, cli_errors, console, err_console, fail

app = typer.Typer(
    help="LLM judges: robustness probes, one-off judgments, re-scoring with judges.", no_args_is_help=True
)

JudgeOpt = Annotated[
    str,
    typer.Option(
        "--judge",
        "-j",
        help="judge config: FILE.yaml, SPEC.yaml#NAME, or inline kind=...,model=...",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="override the judge's model: a policy string (vllm:URL#MODEL, openai:URL#MODEL, hf:PATH, scripted:...)",
    ),
]


@contextmanager
def judge_errors() -> Iterator[None]:
    """`cli_errors`, plus a judge that cannot be built or is refused by its probe (one line, exit 2)."""
    from agentgym.rewards.judges import JudgeError

    with cli_errors():
        try:
            yield
        except JudgeError as exc:
            fail(str(exc))


def _build_judge(judge: str, model: str | None, cache: bool, timeout: float | None = None):
    from agentgym.policy import make_judge_model
    from agentgym.rewards.judges import JudgeConfig, load_judge_config, make_judge

    name, config = load_judge_config(judge)
    updates: dict = {}
    if model:
        updates["model"] = model
    if timeout is not None:
        updates["timeout_s"] = timeout
    if not cache:
        updates["cache"] = False
    if updates:
        config = JudgeConfig.model_validate({**config.model_dump(), **updates})
    return make_judge(name, config, resolve=make_judge_model)


@app.command()
def probe(
    judge: JudgeOpt,
    model: ModelOpt = None,
    items: Annotated[int | None, typer.Option(help="probe questions to use (default: all 6)")] = None,
    save: Annotated[bool, typer.Option(help="file the result so specs with max_fpr accept the judge")] = True,
    max_fpr: Annotated[
        float | None, typer.Option(help="exit 1 when the false-positive rate exceeds this")
    ] = None,
    cache: Annotated[bool, typer.Option(help="use the judgment cache")] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the full report (with cases) as JSON")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="seconds per batch of judge calls (overrides timeout_s)")
    ] = None,
) -> None:
    """Run the robustness probe: master-key inputs, length/format perturbations, position swaps."""
    from agentgym.rewards.judges.probe import probe_judge, save_probe_result

    with judge_errors():
        built = _build_judge(judge, model, cache, timeout)
        report = probe_judge(built, n_items=items)
        console.print(report.summary(), highlight=False, soft_wrap=True)
        if save:
            path = save_probe_result(built, report)
            console.print(f"saved probe result: {path}", highlight=False)
        if json_out is not None:
            json_out.write_text(json.dumps(report.to_dict(), indent=1, default=str))
        if max_fpr is not None:
            if report.fpr is None:
                err_console.print("[bold red]refused:[/] no valid verdicts, FPR unknown", highlight=False)
                raise typer.Exit(EXIT_FAILURE)
            if report.fpr > max_fpr:
                err_console.print(
                    f"[bold red]refused:[/] false-positive rate {report.fpr:.3f} > max_fpr {max_fpr:.3f}",
                    highlight=False,
                )
                raise typer.Exit(EXIT_FAILURE)


@app.command()
def score(
    judge: JudgeOpt,
    question: Annotated[str, typer.Option("--question", "-q")],
    answer: Annotated[str, typer.Option("--answer", "-a")],
    reference: Annotated[str | None, typer.Option("--reference", "-r")] = None,
    model: ModelOpt = None,
    cache: Annotated[bool, typer.Option(help="use the judgment cache")] = True,
) -> None:
    """Judge one answer and print the judgment (score, rationale, cache hit) as JSON."""
    with judge_errors():
        built = _build_judge(judge, model, cache)
        judgment = built.judge_one(question, answer, reference)
        console.print_json(json.dumps(judgment.to_dict(), default=str))
        if not judgment.valid:
            raise typer.Exit(EXIT_FAILURE)


@app.command()
def rescore(
    path: Annotated[Path, typer.Argument(help="trajectory file (JSON lines)")],
    reward: Annotated[Path, typer.Option("--reward", "-r", help="reward spec YAML with a judges: section")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write judged episodes (components, judgments, report)")
    ] = None,
    references: Annotated[
        Path | None, typer.Option(help="JSON file task_id -> reference answer (for reference judges)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="gated | direct | outcome (default: the spec's)")] = None,
) -> None:
    """Re-score stored episodes with the spec's judges (batched; cached; invalid judgments mask)."""
    from rich.table import Table

    from agentgym.policy import make_judge_model
    from agentgym.rewards import load_spec
    from agentgym.rewards.judges import rescore_with_judges
    from agentgym.trajectory import TrajectoryWriter, read_trajectories

    with judge_errors():
        if not path.exists():
            fail(f"trajectory file not found: {path}")
        records = read_trajectories(path).records
        if not records:
            fail(f"{path} holds no readable episode")
        spec = load_spec(reward)
        if not spec.judges:
            fail(f"{reward} has no judges: section")
        refs = json.loads(references.read_text()) if references else None
        results = rescore_with_judges(records, spec, resolve=make_judge_model, references=refs, mode=mode)
        table = Table(show_edge=False)
        for column in ("#", "task", "old return", "new return", "invalid", *spec.judges):
            table.add_column(column, justify="right")
        for index, (record, (report, judged)) in enumerate(zip(records, results, strict=True)):
            old = record.report.return_ if record.report is not None else float("nan")
            cells = []
            for name in spec.judges:
                value = judged.trajectory.get(name)
                if value is None and judged.steps and any(name in s for s in judged.steps):
                    value = sum(s.get(name, 0.0) for s in judged.steps) / len(judged.steps)
                cells.append("-" if value is None else f"{value:.2f}")
            table.add_row(
                str(index),
                record.task_id,
                f"{old:g}",
                f"{report.return_:g}",
                str(report.reward_invalid),
                *cells,
            )
        console.print(table)
        if out is not None:
            with TrajectoryWriter(out) as writer:
                for record, (report, judged) in zip(records, results, strict=True):
                    data = record.model_dump(mode="json", by_alias=True)
                    for step, extra in zip(data["steps"], judged.steps, strict=True):
                        step["components"] = {**step["components"], **extra}
                    data["trajectory_components"] = {**data["trajectory_components"], **judged.trajectory}
                    data["reward_spec"] = spec.model_dump(mode="json")
                    data["report"] = report.model_dump(mode="json", by_alias=True)
                    data["reward_invalid"] = report.reward_invalid
                    data["judgments"] = judged.judgments
                    writer.write(data)
            console.print(f"wrote {len(records)} judged episodes to {out}", highlight=False)
