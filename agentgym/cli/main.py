"""The `agentgym` command line. Heavy imports stay inside commands so `agentgym --help` is fast.

Exit codes: 0 success, 1 the work failed (e.g. a validation did not pass, every episode of a run
was invalid), 2 bad input. Either way the reason is one `error:` line on stderr; `--debug`
(anywhere on the command line) shows the traceback instead. `run` and `eval` check every argument
(counts, env id, env arguments, reward spec, task ids, policy string and server, output paths,
ownership of the output file) before the first episode starts.
"""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from agentgym.cli.common import (
    EXIT_FAILURE,
    AgentGymGroup,
    check_env_args,
    check_env_id,
    check_env_options,
    check_output_path,
    check_positive,
    check_spec_file,
    cli_errors,
    console,
    err_console,
    fail,
    make_policy,
    preflight_policy,
    warn,
)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


warnings.formatwarning = _one_line_warning  # CLI users get the message, not a source line

app = typer.Typer(
    name="agentgym",
    help="Gymnasium environments for multi-turn LLM agents: run, evaluate, replay, re-score, train.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=AgentGymGroup,
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback of an error (accepted anywhere on the line)")
    ] = False,
) -> None:
    """Gymnasium environments for multi-turn LLM agents: run, evaluate, replay, re-score, train."""


tasks_app = typer.Typer(help="Build and validate task suites.", no_args_is_help=True)
train_app = typer.Typer(help="Train agents.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
app.add_typer(train_app, name="train")

#: The core's own sub-apps: (module, attribute, parent, name). Families add theirs by discovery.
SUB_APPS = [
    ("agentgym.cli.sandbox", "app", app, "sandbox"),
    ("agentgym.cli.models", "app", app, "models"),
    ("agentgym.cli.models", "serve_app", app, "serve"),
    ("agentgym.cli.judge", "app", app, "judge"),
    ("agentgym.cli.report", "app", app, "report"),
    ("agentgym.cli.train", "train_command", train_app, "grpo"),
    ("agentgym.cli.train_sft", "sft_command", train_app, "sft"),
    ("agentgym.cli.export", "app", app, "export"),
    ("agentgym.cli.gateway", "gateway_command", app, "gateway"),
    ("agentgym.cli.env_server", "app", app, "env"),
]
GROUPS = {"tasks": tasks_app, "train": train_app}


def _mount(sub: Any, parent: typer.Typer, name: str) -> None:
    if isinstance(sub, typer.Typer):
        parent.add_typer(sub, name=name)
    else:  # a plain function: mount as a single command
        parent.command(name=name)(sub)


def _mount_all() -> None:
    """Mount the core's sub-apps, then every installed family's commands (`Family.commands`)."""
    for module, attr, parent, name in SUB_APPS:
        try:
            _mount(getattr(importlib.import_module(module), attr), parent, name)
        except (ImportError, AttributeError):
            continue
    from agentgym.family import families, load_object

    for family in families().values():
        for path, reference in family.commands.items():
            *group, name = path.split()
            parent = GROUPS.get(group[0]) if group else app
            if parent is None or len(group) > 1:
                warnings.warn(f"family {family.name!r}: cannot mount command at {path!r} (groups: tasks, train)",
                              stacklevel=1)
                continue
            try:
                _mount(load_object(reference), parent, name)
            except (ImportError, AttributeError) as exc:  # its extra is not installed
                warnings.warn(f"family {family.name!r}: command {path!r} unavailable ({exc})", stacklevel=1)


_mount_all()

RewardOpt = Annotated[
    str | None, typer.Option("--reward", "-r", help="gated | direct | outcome | path to a RewardSpec YAML")
]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        help="local | process (--concurrency worker processes play whole episodes: CPU-bound envs) | ray (envs as Ray actors)",
    ),
]
from agentgym.cli.mixture import MixtureOpt  # noqa: E402 - `--env ID:WEIGHT` (env mixtures)

EnvArgOpt = Annotated[
    list[str] | None, typer.Option("--env-arg", "-e", help="env keyword argument key=value")
]


@app.command("list")
def list_envs() -> None:
    """List the registered environments, their family and whether their extras are installed."""
    from rich.table import Table

    from agentgym.family import available, env_entries

    table = Table(show_edge=False)
    table.add_column("env id", no_wrap=True)
    for column in ("family", "available", "extra", "description"):
        table.add_column(column)
    for env_id, (family, entry) in env_entries().items():
        table.add_row(env_id, family.name, "yes" if available(env_id) else "no", family.extra or "-",
                      entry.description)
    console.print(table)


@app.command("check")
def check(
    env_id: Annotated[str, typer.Argument(help="any Gymnasium id: agentgym/NAME-vN, or my_pkg:my/Env-v0 (imports my_pkg)")],
    episodes: Annotated[
        int, typer.Option("--episodes", "-n", min=1, help="oracle episodes (random: twice as many)")
    ] = 3,
    env_arg: EnvArgOpt = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    reexec: Annotated[bool, typer.Option(help="re-execute the first oracle episode")] = True,
) -> None:
    """Family conformance: check_env, declared components emitted, oracle succeeds, random does not,
    re-execution reproduces, spec bound, success declared. Exit 1 naming each failed check."""
    from agentgym.conformance import check_conformance

    with cli_errors():
        env_id = check_env_id(env_id)
        kwargs = check_env_args(env_id, env_arg) if env_arg else None
    with cli_errors(work=True):
        result = check_conformance(env_id, kwargs, episodes=episodes, seed=seed, reexec=reexec)
    for item in result.checks:
        mark = "[green]pass[/]" if item.passed else "[bold red]FAIL[/]"
        console.print(f"{mark} {item.name}" + (f": {item.detail}" if item.detail and not item.passed else ""),
                      highlight=False, soft_wrap=True)
    if not result.passed:
        err_console.print(f"{env_id}: {len(result.failures())} check(s) failed", highlight=False)
        raise typer.Exit(1)
    console.print(f"{env_id}: conforms ({len(result.checks)} checks)")


def _rollout(
    env_id: str,
    policy_spec: str,
    episodes: int | None,
    reward: str | None,
    out: Path | None,
    seed: int,
    group_size: int,
    concurrency: int,
    max_turns: int | None,
    env_args: list[str] | None,
    task: list[str] | None,
    resume: bool,
    executor: str = "local",
    json_out: Path | None = None,
) -> tuple[list[Any], Path | None, Any, dict[str, Any]]:
    """Check every input (exit 2 naming the first bad one), then play the episodes (exit 1 when
    the work fails, or when every episode played is invalid)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agentgym.rollout import prepare_run

    with cli_errors():
        # cheap checks first: counts and paths, ids, env arguments, spec, policy string and server
        for name, value in (("--episodes", episodes), ("--group-size", group_size),
                            ("--concurrency", concurrency), ("--max-turns", max_turns)):
            check_positive(name, value)
        if executor not in ("local", "process", "ray"):
            fail(f"--executor must be local, process or ray, got {executor!r}")
        if task is not None and not all(t.strip() for t in task):
            fail("--task: empty task id")
        check_output_path(out, "--out")
        check_output_path(json_out, "--json")
        if out is not None and json_out is not None and out.resolve() == json_out.resolve():
            fail("--json and --out name the same file")
        env_id, kwargs = check_env_options(env_id, env_args, reward, max_turns)
        preflight_policy(policy_spec)
        # the env is made (env arguments, spec), task ids checked, the output file owned
        run = prepare_run(
            env_id, episodes=None if task else episodes, task_ids=task or None, group_size=group_size, seed=seed,
            concurrency=concurrency, env_kwargs=kwargs, out=out, executor=executor,
        )  # fmt: skip
    with run:
        with cli_errors():
            policy = make_policy(policy_spec)
            skipped = run.skip_done(policy) if resume else 0
        if skipped:
            left = len(run.jobs)
            console.print(
                f"resuming: {skipped} of {run.planned} episode(s) already in {out}; "
                + (f"playing {left}" if left else "nothing left to play (--no-resume plays them again)"),
                highlight=False,
                soft_wrap=True,
            )
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )

        def on_episode(record: Any) -> None:
            progress.advance(bar)
            if not console.is_terminal:
                ret = (
                    "invalid" if record.reward_invalid or record.report is None else f"{record.report.return_:g}"
                )
                print(
                    f"episode task={record.task_id} seed={record.seed} turns={len(record.steps)} return={ret}",
                    flush=True,
                )

        with cli_errors(work=True), progress:
            bar = progress.add_task(f"{env_id} x {policy_spec}", total=len(run.jobs))
            records = run.execute(policy, on_episode=on_episode)
    return records, out, policy, run.env_kwargs


def _check_valid(records: list[Any], out: Path | None) -> None:
    """Exit 1, saying why, when every episode played was invalid; warn when some were."""
    from collections import Counter

    invalid = [r for r in records if r.reward_invalid]
    if not invalid:
        return
    reasons = Counter(
        " ".join((r.error or r.end_reason or "reward_invalid (no error recorded)").split())[:300] for r in invalid
    )
    reason, count = reasons.most_common(1)[0]
    also = f" ({count} of them)" if len(reasons) > 1 else ""
    where = f"; details: agentgym replay {out} --filter invalid" if out is not None else ""
    if len(invalid) == len(records):
        fail(f"all {len(records)} episode(s) were invalid: {reason}{also}{where}", EXIT_FAILURE)
    warn(f"{len(invalid)} of {len(records)} episode(s) were invalid: {reason}{also}")


def _print_summary(records: list[Any], title: str) -> dict[str, Any]:
    from rich.table import Table

    from agentgym.metrics import summarize

    summary = summarize(records)
    table = Table(title=title, show_edge=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    return summary


def _mixture(env_id: str | None, mix: list[str] | None, task: list[str] | None, title: str, *args: Any) -> bool:
    """Hand a `--env ID:WEIGHT` mixture over to `agentgym.cli.mixture` (True when it ran)."""
    if not mix:
        if env_id is None:
            fail("Missing argument 'ENV_ID': give an env id (see `agentgym list`) or a mixture: --env ID:WEIGHT ...")
        return False
    if env_id is not None or task:
        fail("--env plays a mixture: leave out ENV_ID and --task")
    from agentgym.cli.mixture import run_mixture_command

    keys = ("policy_spec", "groups", "reward", "out", "seed", "group_size", "concurrency", "max_turns", "env_args",
            "resume", "executor", "json_out")  # fmt: skip
    run_mixture_command(entries=mix, title=title, **dict(zip(keys, args, strict=True)))
    return True


PolicyOpt = Annotated[
    str, typer.Option("--policy", "-p", help="random | oracle | scripted:A|B | smollm2 | hf:PATH | vllm:URL#MODEL ...")
]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="trajectory file (JSONL) to append to")]
GroupOpt = Annotated[
    int, typer.Option("--group-size", "-G", "-k", min=1, help="samples per task (GRPO groups, pass@k)")
]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", "-c", min=1, help="episodes in flight at once")]
MaxTurnsOpt = Annotated[int | None, typer.Option("--max-turns", min=1, help="override the env's turn limit")]
SeedOpt = Annotated[int, typer.Option(min=0, help="seed of the first episode (episode i: seed + i)")]
TaskOpt = Annotated[list[str] | None, typer.Option("--task", "-t", help="task id (repeatable)")]
ResumeOpt = Annotated[bool, typer.Option(help="skip episodes this configuration already wrote to --out")]


@app.command()
def run(
    env_id: Annotated[str | None, typer.Argument(help="a Gymnasium id (see `agentgym list`), or module:id")] = None,
    policy: PolicyOpt = "random",
    episodes: Annotated[int, typer.Option("--episodes", "-n", min=1, help="number of tasks (groups) to play")] = 1,
    reward: RewardOpt = None,
    out: OutOpt = None,
    seed: SeedOpt = 0,
    group_size: GroupOpt = 1,
    concurrency: ConcurrencyOpt = 1,
    max_turns: MaxTurnsOpt = None,
    env_arg: EnvArgOpt = None,
    task: TaskOpt = None,
    resume: ResumeOpt = True,
    executor: ExecutorOpt = "local",
    mix: MixtureOpt = None,
    branch: Annotated[str | None, typer.Option("--branch", help="K@TURNS: per episode, a tree: K continuations "
                                               "restored from a snapshot after each of TURNS (e.g. 4@1,3)")] = None,
) -> None:
    """Play episodes with a policy and write a replayable trajectory file (owned by this run
    while it plays: a second run writing it fails at once, naming this one)."""
    if branch is not None:  # trees of episodes (agentgym.tree)
        from agentgym.cli.tree import run_branched

        records = run_branched(env_id, policy, branch, episodes=episodes, reward=reward, out=out, seed=seed,
                               max_turns=max_turns, env_args=env_arg, task=task)
        if out is not None:
            console.print(f"wrote {len(records)} episode(s) to {out}\nreplay with: agentgym replay {out}")
        _check_valid(records, out)
        return
    if _mixture(env_id, mix, task, "run", policy, episodes, reward, out, seed, group_size, concurrency, max_turns,
                env_arg, resume, executor, None):  # fmt: skip
        return
    records, out, _, _ = _rollout(
        env_id, policy, episodes, reward, out, seed, group_size, concurrency, max_turns, env_arg, task, resume,
        executor,
    )  # fmt: skip
    if records:
        _print_summary(records, f"{env_id} - {policy}")
    if out is not None:
        console.print(f"wrote {len(records)} episode(s) to {out}\nreplay with: agentgym replay {out}")
    _check_valid(records, out)


@app.command("eval")
def evaluate(
    env_id: Annotated[str | None, typer.Argument(help="a Gymnasium id (see `agentgym list`), or module:id")] = None,
    policy: PolicyOpt = "random",
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="number of tasks")] = 10,
    reward: RewardOpt = None,
    out: OutOpt = None,
    seed: SeedOpt = 0,
    group_size: GroupOpt = 1,
    concurrency: ConcurrencyOpt = 1,
    max_turns: MaxTurnsOpt = None,
    env_arg: EnvArgOpt = None,
    task: TaskOpt = None,
    resume: ResumeOpt = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the metrics as JSON")] = None,
    executor: ExecutorOpt = "local",
    mix: MixtureOpt = None,
) -> None:
    """Evaluate a policy: success/resolve, completion, turns, pass@k, returns under every mode."""
    if _mixture(env_id, mix, task, "eval", policy, n, reward, out, seed, group_size, concurrency, max_turns,
                env_arg, resume, executor, json_out):  # fmt: skip
        return
    played, out, agent, env_kwargs = _rollout(
        env_id, policy, n, reward, out, seed, group_size, concurrency, max_turns, env_arg, task, resume, executor,
        json_out,
    )  # fmt: skip
    records = played
    with cli_errors(work=True):
        if out is not None and resume:  # metrics cover this configuration's episodes, resumed ones included
            from agentgym.rollout import matching_records
            from agentgym.trajectory import read_trajectories

            records = matching_records(
                read_trajectories(out).records,
                env_id=check_env_id(env_id),
                policy=agent.describe(),
                env_kwargs=env_kwargs,
            )
        summary = _print_summary(records, f"eval {env_id} - {policy}")
        if json_out is not None:
            json_out.write_text(json.dumps(summary, indent=2))
    if out is not None:
        console.print(f"trajectories: {out}  (agentgym replay {out})")
    _check_valid(played, out)


@app.command()
def replay(
    path: Annotated[Path, typer.Argument(help="trajectory file (JSONL) or a folder of them")],
    episode: Annotated[int | None, typer.Option("--episode", "-i", min=0, help="episode index (0-based)")] = None,
    filter_: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            "-f",
            help="failed | passed | invalid | stalled | truncated | task=ID | outcome=LABEL | env=ID "
            "(repeatable or comma-separated; a leading ! negates)",
        ),
    ] = None,
    plain: Annotated[
        bool | None,
        typer.Option(
            "--plain/--interactive", help="plain text (the default when not on a TTY) or the viewer"
        ),
    ] = None,
    reexec: Annotated[
        bool,
        typer.Option(
            "--reexec", help="re-run the recorded actions in a fresh env; report the first divergence"
        ),
    ] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="with --reexec: field or component name left out of the comparison"),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="with --reexec: write per-episode results as JSON")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=0, help="plain mode: max characters per action/observation (0 = all)")
    ] = 2000,
) -> None:
    """Browse recorded episodes (interactive on a TTY), print them, or re-execute them (--reexec).

    Viewer keys: left/right turn, up/down scroll, n/p episode, f filter, t tokens, ? help, q quit.
    --reexec exits 1 when any episode diverges from its record (or its replay crashes).
    """
    from agentgym.replay.cli import replay_command

    with cli_errors():
        check_output_path(json_out, "--json")
        if json_out is not None and not reexec:
            fail("--json is written by --reexec; add --reexec")
    code = replay_command(
        path,
        episode=episode,
        filters=filter_,
        plain=plain,
        reexec=reexec,
        ignore=ignore,
        json_out=json_out,
        limit=limit,
        console=console,
        err_console=err_console,
    )
    if code:
        raise typer.Exit(code)


@app.command()
def rescore(
    path: Annotated[Path, typer.Argument(help="trajectory file (JSONL) or a folder of them")],
    reward: Annotated[
        list[str] | None,
        typer.Option(
            "--reward",
            "-r",
            help="gated | direct | outcome | spec YAML (repeatable; default: each episode's recorded spec)",
        ),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            "-s",
            help="PATH=a,b,c over spec fields: gate.threshold=0,0.1,0.5 (the top gate), "
            "levels.1.gate.threshold=..., outcome.weight=..., mode=gated,direct (repeatable: a grid)",
        ),
    ] = None,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", "-f", help="only episodes matching (as in replay)")
    ] = None,
    per_episode: Annotated[
        bool | None,
        typer.Option("--per-episode/--summary", help="a row per episode (default: only for a single spec)"),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the rows, with per-episode returns, as JSON")
    ] = None,
) -> None:
    """Re-score stored episodes under other reward specs and gate thresholds, without running any env."""
    from agentgym.replay.cli import rescore_command

    with cli_errors():
        check_output_path(json_out, "--json")
        for spec in reward or []:
            check_spec_file(spec)
    code = rescore_command(
        path,
        rewards=reward,
        sweeps=sweep,
        filters=filter_,
        per_episode=per_episode,
        json_out=json_out,
        console=console,
        err_console=err_console,
    )
    if code:
        raise typer.Exit(code)


if __name__ == "__main__":  # pragma: no cover
    app()
